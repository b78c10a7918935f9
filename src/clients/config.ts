/**
 * Client manager configuration: an object, and for what it leaves out, the environment.
 * Precedence per field: explicit object value > environment variable > default.
 */
import type { BigQueryOptions } from '@google-cloud/bigquery';
import type { Settings as FirestoreSettings } from '@google-cloud/firestore';
import type { ClientConfig as PubSubClientConfig } from '@google-cloud/pubsub';
import type { StorageOptions } from '@google-cloud/storage';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Options as PostgresOptions, PostgresType } from 'postgres';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../internal/redact.js';
import type { PoolMonitorOptions } from '../monitoring/index.js';
import type { InstrumentOptions } from '../query/index.js';

/** Postgres pool options (postgres.js names) the manager sets defaults for. */
export interface ClientsPoolOptions {
  /** Maximum connections in the pool. @default 10 */
  max?: number;
  /**
   * Seconds an idle connection is kept before it is closed; 0 keeps idle connections open until
   * `max_lifetime`. With tracking or monitoring on (the default), dbkit's own reaper closes them (checked
   * every min(5 s, idle_timeout / 4), no per-query cost) and postgres.js' per-query idle timer is off; for
   * TLS, several hosts, a custom `socket` or a plain client, postgres.js' timer does it, with Node's timer
   * list for the duration kept alive (see the README's configuration table for the measured figures).
   * @default 30
   */
  idle_timeout?: number;
  /** Seconds a connection lives before it is replaced (spreads reconnects after failover). @default 1800 */
  max_lifetime?: number;
  /** Seconds to wait for a new connection. @default 10 */
  connect_timeout?: number;
  /** `application_name` shown in pg_stat_activity. @default 'dbkit' */
  application_name?: string;
}

/** A Redis Cluster seed node. */
export interface ClientsClusterNode {
  /** Host name or IP. */
  host: string;
  /** TCP port. */
  port: number;
}

/** Something that can log a warning (console works). */
export interface ClientsLogger {
  /** Logs a warning line (never contains passwords). */
  warn(message: string): void;
}

/** What `createClientManager(config)` accepts. Every field is optional. */
export interface ClientManagerConfig {
  /** Primary Postgres URL. @default process.env.DATABASE_URL */
  databaseUrl?: string;
  /** Read replica URLs (drizzle `withReplicas`). @default process.env.DATABASE_REPLICA_URLS split on commas, else [] */
  replicaUrls?: string[];
  /** Pool options with defaults; env DB_POOL_MAX etc. are not read: pass them here. @default see ClientsPoolOptions */
  pool?: ClientsPoolOptions;
  /** Extra postgres.js options passed through (override `pool`). @default {} */
  postgres?: PostgresOptions<Record<string, PostgresType>>;
  /**
   * Query tracking (dbkit/query) on `sql()`, `db()` and the replicas: `trackQueries`, N+1 detection,
   * `onSlowQuery` and the `dbkit:query` tracing channel see their queries. `false` gives the plain
   * postgres.js client; an object is passed to `instrument()` (its `name` prefixes the pool names).
   * @default true
   */
  track?: boolean | InstrumentOptions;
  /**
   * Pool monitoring (dbkit/monitoring) on the same clients: `poolHealth()` and `metrics()` read it.
   * `false` gives the plain client; an object is passed to `monitorPool()` (its `name` prefixes the pool names).
   * @default true
   */
  monitor?: boolean | Partial<PoolMonitorOptions>;
  /** Standalone Redis URL. @default process.env.REDIS_URL */
  redisUrl?: string;
  /** Redis Cluster seeds (array or "h:p,h:p"); when set, `redis()` returns a Cluster. @default process.env.REDIS_CLUSTER_NODES */
  redisClusterNodes?: ClientsClusterNode[] | string;
  /** Extra ioredis options (RedisOptions, or ClusterOptions in cluster mode). @default {} */
  redis?: RedisOptions & ClusterOptions;
  /** Google Cloud project id for every GCP client. @default process.env.GOOGLE_CLOUD_PROJECT */
  projectId?: string;
  /** Pub/Sub emulator host:port; sets apiEndpoint + emulatorMode. @default process.env.PUBSUB_EMULATOR_HOST */
  pubsubEmulatorHost?: string;
  /** Firestore emulator host:port; sets host + ssl false. @default process.env.FIRESTORE_EMULATOR_HOST */
  firestoreEmulatorHost?: string;
  /** BigQuery API endpoint (a test server or a regional endpoint). @default process.env.BIGQUERY_API_ENDPOINT */
  bigqueryApiEndpoint?: string;
  /** Options passed to `new BigQuery()`. @default {} */
  bigquery?: BigQueryOptions;
  /** Options passed to `new PubSub()`. @default {} */
  pubsub?: PubSubClientConfig;
  /** Options passed to `new Firestore()`. @default {} */
  firestore?: FirestoreSettings;
  /** Options passed to `new Storage()`. @default {} */
  storage?: StorageOptions;
  /** Where warnings go (health failures are returned, not logged). @default console */
  logger?: ClientsLogger;
  /** Environment to read instead of process.env (tests, multi-tenant hosts). @default process.env */
  env?: Record<string, string | undefined>;
}

/** The configuration after env and defaults are applied. */
export interface ResolvedClientManagerConfig {
  databaseUrl: string | undefined;
  replicaUrls: string[];
  pool: Required<ClientsPoolOptions>;
  postgres: PostgresOptions<Record<string, PostgresType>>;
  /** instrument() options, or false for no tracking. */
  track: InstrumentOptions | false;
  /** monitorPool() options, or false for no monitoring. */
  monitor: Partial<PoolMonitorOptions> | false;
  redisUrl: string | undefined;
  redisClusterNodes: ClientsClusterNode[] | undefined;
  redis: RedisOptions & ClusterOptions;
  projectId: string | undefined;
  pubsubEmulatorHost: string | undefined;
  firestoreEmulatorHost: string | undefined;
  bigqueryApiEndpoint: string | undefined;
  bigquery: BigQueryOptions;
  pubsub: PubSubClientConfig;
  firestore: FirestoreSettings;
  storage: StorageOptions;
  logger: ClientsLogger;
  /** Every password found in the URLs, so error text can be scrubbed of them. */
  secrets: string[];
}

const defaults = {
  pool: {
    max: 10,
    idle_timeout: 30,
    max_lifetime: 1800,
    connect_timeout: 10,
    application_name: 'dbkit',
  },
} as const;

const nonEmpty = (v: string | undefined): string | undefined => (v?.trim() ? v.trim() : undefined);

function parseNodes(value: ClientsClusterNode[] | string, source: string): ClientsClusterNode[] {
  if (Array.isArray(value)) return value;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      const port = Number(hp.slice(i + 1));
      if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw new ConfigError(`${source}: "${redactUrl(hp)}" is not host:port`, { context: { source } });
      }
      return { host: hp.slice(0, i), port };
    });
}

// scheme://authority rest: the authority runs to the first / ? or #.
const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is;

/**
 * Parses a URL; with `multiHost`, also postgres.js' several-hosts form (`postgres://u:p@h1:5432,h2:5433/db`),
 * which WHATWG URL cannot parse, by parsing it with its first host only.
 */
function parseUrl(url: string, field: string, multiHost: boolean): URL {
  try {
    return new URL(url);
  } catch (e) {
    const m = multiHost ? URL_PARTS.exec(url) : null;
    const authority = m?.[2] ?? '';
    const at = authority.lastIndexOf('@');
    const hosts = authority.slice(at + 1);
    if (m && hosts.includes(',')) {
      try {
        return new URL(`${m[1]}${authority.slice(0, at + 1)}${hosts.split(',')[0]}${m[3]}`);
      } catch {
        // reported below, as any invalid URL
      }
    }
    throw new ConfigError(`${field} is not a valid URL: ${redactUrl(url)}`, { cause: e, context: { field } });
  }
}

function checkUrl(url: string | undefined, field: string, protocols: string[], secrets: string[]): void {
  if (url === undefined) return;
  const postgresUrl = protocols.includes('postgres:');
  const u = parseUrl(url, field, postgresUrl);
  // postgres.js finds the host list after the *first* `@` of the authority (src/index.js parseUrl()): with
  // several hosts, an unencoded `@` in the password makes the rest of it the first host's name (and part of
  // every DNS error). One host is parsed right (the WHATWG URL takes the last `@`).
  const authority = URL_PARTS.exec(url)?.[2] ?? '';
  if (postgresUrl && authority.includes(',') && authority.indexOf('@') !== authority.lastIndexOf('@')) {
    if (u.password) secrets.push(u.password);
    throw new ConfigError(
      `${field}: with several hosts, an @ in the user name or password must be percent-encoded (write it as %40)`,
      { context: { field } },
    );
  }
  if (!protocols.includes(u.protocol)) {
    throw new ConfigError(`${field} must use ${protocols.join(' or ')} (got ${u.protocol})`, {
      context: { field },
    });
  }
  // postgres.js and ioredis decodeURIComponent the user name and password: a lone `%` would surface as a
  // bare URIError from the first getter (or from this line). Say which URL, never the password.
  let password: string;
  try {
    decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch (e) {
    if (u.password) secrets.push(u.password);
    throw new ConfigError(
      `${field}: the user name or password contains a % that is not percent-encoded (write it as %25)`,
      { cause: e, context: { field } },
    );
  }
  if (u.password) secrets.push(u.password, password);
}

function checkPositive(pool: Required<ClientsPoolOptions>): void {
  for (const k of ['max', 'idle_timeout', 'max_lifetime', 'connect_timeout'] as const) {
    const v = pool[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k === 'max' && v < 1)) {
      throw new ConfigError(`pool.${k} must be a ${k === 'max' ? 'positive' : 'non-negative'} number`, {
        context: { field: `pool.${k}`, value: v },
      });
    }
  }
}

function wrapperOption<T extends object>(v: boolean | T | undefined, field: string): T | false {
  if (v === undefined || v === true) return {} as T;
  if (v === false) return false;
  if (typeof v === 'object' && v !== null) return v;
  throw new ConfigError(`${field} must be true, false or an options object (got ${typeof v})`, {
    context: { field },
  });
}

/**
 * Resolves a client manager config: object values win, then the environment, then defaults.
 *
 * @example
 * ```ts
 * const c = resolveClientManagerConfig({ pool: { max: 20 } }); // DATABASE_URL etc. from the env
 * ```
 */
export function resolveClientManagerConfig(config: ClientManagerConfig = {}): ResolvedClientManagerConfig {
  const env = config.env ?? process.env;
  const secrets: string[] = [];
  const databaseUrl = nonEmpty(config.databaseUrl) ?? nonEmpty(env.DATABASE_URL);
  const replicaUrls =
    config.replicaUrls ??
    (nonEmpty(env.DATABASE_REPLICA_URLS)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ||
      []);
  const pg = ['postgres:', 'postgresql:'];
  checkUrl(databaseUrl, 'databaseUrl', pg, secrets);
  replicaUrls.forEach((u, i) => {
    checkUrl(u, `replicaUrls[${i}]`, pg, secrets);
  });
  // Redis target: if the object names one (URL or cluster), the env's Redis variables are ignored.
  const objectNamesRedis = config.redisUrl !== undefined || config.redisClusterNodes !== undefined;
  const redisUrl = objectNamesRedis ? nonEmpty(config.redisUrl) : nonEmpty(env.REDIS_URL);
  const rawNodes = objectNamesRedis ? config.redisClusterNodes : nonEmpty(env.REDIS_CLUSTER_NODES);
  const redisClusterNodes =
    rawNodes === undefined
      ? undefined
      : parseNodes(rawNodes, objectNamesRedis ? 'redisClusterNodes' : 'REDIS_CLUSTER_NODES');
  checkUrl(redisUrl, 'redisUrl', ['redis:', 'rediss:'], secrets);
  const pool = { ...defaults.pool, ...config.pool };
  checkPositive(pool);
  for (const p of [config.redis?.password, config.postgres?.password]) {
    if (typeof p === 'string' && p) secrets.push(p);
  }
  return {
    databaseUrl,
    replicaUrls,
    pool,
    postgres: config.postgres ?? {},
    track: wrapperOption(config.track, 'track'),
    monitor: wrapperOption(config.monitor, 'monitor'),
    redisUrl,
    redisClusterNodes,
    redis: config.redis ?? {},
    projectId: nonEmpty(config.projectId) ?? nonEmpty(env.GOOGLE_CLOUD_PROJECT),
    pubsubEmulatorHost: nonEmpty(config.pubsubEmulatorHost) ?? nonEmpty(env.PUBSUB_EMULATOR_HOST),
    firestoreEmulatorHost: nonEmpty(config.firestoreEmulatorHost) ?? nonEmpty(env.FIRESTORE_EMULATOR_HOST),
    bigqueryApiEndpoint: nonEmpty(config.bigqueryApiEndpoint) ?? nonEmpty(env.BIGQUERY_API_ENDPOINT),
    bigquery: config.bigquery ?? {},
    pubsub: config.pubsub ?? {},
    firestore: config.firestore ?? {},
    storage: config.storage ?? {},
    logger: config.logger ?? console,
    secrets: [...new Set(secrets.filter((s) => s.length > 0))],
  };
}
