/**
 * The process-wide client manager: one lazily created, cached client per backend, health checks and an
 * ordered, bounded, idempotent shutdown.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { Firestore } from '@google-cloud/firestore';
import type { BatchPublishOptions, PubSub, Topic } from '@google-cloud/pubsub';
import type { Storage } from '@google-cloud/storage';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { Cluster, Redis } from 'ioredis';
import type postgres from 'postgres';
import { createQueryCache, type QueryCache, type QueryCacheOptions } from '../cache/index.js';
import type { CacheTtl } from '../cache/ttl.js';
import { ClientClosedError, ConfigError } from '../errors.js';
import { importLib } from '../internal/import-lib.js';
import { redactSecrets } from '../internal/redact.js';
import {
  type CollectMetricsOptions,
  collectMetrics,
  type MetricsHandle,
  type PoolStats,
} from '../monitoring/index.js';
import { createChannel } from './channels.js';
import { type ClientsCloseOptions, type ClientsCloseResult, runCloseSteps } from './close-steps.js';
import {
  type ClientManagerConfig,
  type ResolvedClientManagerConfig,
  resolveClientManagerConfig,
} from './config.js';
import { newBigQuery, newFirestore, newPubSub, newStorage } from './gcp-clients.js';
import { type ClientHealthOptions, type ClientHealthReport, runHealthChecks } from './health.js';
import { type ClientsSql, createManagedPool, type ManagedPool } from './postgres-pool.js';
import { installSignalHandlers, type ShutdownHookOptions } from './shutdown-hooks.js';

/** Client kinds counted by `stats().created`. */
export type ClientKind = 'postgres' | 'redis' | 'bigquery' | 'pubsub' | 'firestore' | 'storage' | 'topic';

/** `manager.stats()`: clients created per kind (churn shows up here) and whether the manager is closed. */
export interface ClientManagerStats {
  /** Clients created so far, per kind (Postgres replicas count as postgres; topics count per name). */
  created: Record<ClientKind, number>;
  /** True once closeAll() has started. */
  closed: boolean;
}

export type { ClientsSql } from './postgres-pool.js';

/** Health of one of the manager's pools, from its monitor. */
export interface ClientsPoolHealth {
  /** 'primary', 'replica0', ... */
  name: string;
  /** 0-100 (dbkit/monitoring poolHealthScore). */
  score: number;
  /** score >= minScore, and the manager is not shutting down. */
  healthy: boolean;
  stats: PoolStats;
}

/** What `manager.poolHealth()` returns: the primary pool, and each replica under `replicas`. */
export interface ClientsPoolHealthReport extends ClientsPoolHealth {
  replicas: ClientsPoolHealth[];
  /** True while installShutdownHooks drains (then `healthy` is false everywhere). */
  draining: boolean;
}

/** Options of `manager.poolHealth()`. */
export interface ClientsPoolHealthOptions {
  /** Lowest score that counts as healthy. @default 50 */
  minScore?: number;
}

/** Options of `manager.cache()`: createQueryCache options without the store, with a default TTL. */
export type ClientsCacheOptions = Omit<QueryCacheOptions, 'redis' | 'store' | 'namespace' | 'ttl'> & {
  /** Default time to live. @default '5m' */
  ttl?: CacheTtl;
};

/** Options of `manager.metrics()`: a prom-client registry and/or an OpenTelemetry meter. */
export type ClientsMetricsOptions = Pick<CollectMetricsOptions, 'registry' | 'meter' | 'bucketsMs'>;

/** Something closeAll() must close first (an event bus subscription). */
export interface ClientsClosable {
  /** Stops it; closeAll() awaits this before it closes the clients. */
  close(): Promise<void>;
}

/** Topic options the manager accepts besides batching. */
export interface ClientsTopicOptions {
  /** Enable ordering keys on this topic publisher. @default false */
  messageOrdering?: boolean;
}

type Drizzle = PostgresJsDatabase<Record<string, unknown>>;

/**
 * Holds one client per backend, created on first use. Use {@link getClientManager} for the process-wide one.
 *
 * @example
 * ```ts
 * const m = createClientManager({ databaseUrl: process.env.DATABASE_URL });
 * const rows = await m.sql()`select 1 as one`;
 * await m.closeAll({ timeoutMs: 5000 });
 * ```
 */
export class ClientManager {
  /** The resolved configuration (passwords stay in URLs here; never log this object). */
  readonly config: ResolvedClientManagerConfig;
  #closed = false;
  #closing: Promise<ClientsCloseResult> | undefined;
  #primary: ManagedPool | undefined;
  #replicas: ManagedPool[] | undefined;
  #caches = new Map<string, QueryCache>();
  #metrics: MetricsHandle[] = [];
  #draining = false;
  #db = new Map<unknown, Drizzle>();
  #redis: Redis | Cluster | undefined;
  #bigquery: BigQuery | undefined;
  #pubsub: PubSub | undefined;
  #firestore: Firestore | undefined;
  #storage: Storage | undefined;
  #topics = new Map<string, Topic>();
  #closables = new Set<ClientsClosable>();
  #created: Record<ClientKind, number> = {
    postgres: 0,
    redis: 0,
    bigquery: 0,
    pubsub: 0,
    firestore: 0,
    storage: 0,
    topic: 0,
  };

  constructor(config: ClientManagerConfig = {}) {
    this.config = resolveClientManagerConfig(config);
  }

  #open(kind: string): void {
    if (this.#closed) throw new ClientClosedError(kind);
  }

  #count(kind: ClientKind, name?: string): void {
    this.#created[kind]++;
    if (createChannel.hasSubscribers) createChannel.publish({ kind, ...(name ? { name } : {}) });
  }

  #newPool(url: string | undefined, label: string): ManagedPool {
    const pg = importLib<typeof postgres>('postgres', 'ClientManager.sql()');
    const pool = createManagedPool(pg, url, label, this.config);
    this.#count('postgres', label);
    return pool;
  }

  #primaryPool(): ManagedPool {
    this.#open('postgres');
    if (this.#primary) return this.#primary;
    if (!this.config.databaseUrl && !this.config.postgres.host) {
      throw new ConfigError('No Postgres configured: pass databaseUrl or set DATABASE_URL', {
        context: { client: 'postgres' },
      });
    }
    this.#primary = this.#newPool(this.config.databaseUrl, 'primary');
    return this.#primary;
  }

  #replicaPools(): ManagedPool[] {
    this.#replicas ??= this.config.replicaUrls.map((u, i) => this.#newPool(u, `replica${i}`));
    return this.#replicas;
  }

  /**
   * The postgres.js client (one pool per manager), created on first call. It is tracked (dbkit/query:
   * trackQueries, N+1, onSlowQuery) and monitored (dbkit/monitoring: poolHealth, metrics) unless the config
   * sets `track`/`monitor` to false.
   *
   * @example
   * ```ts
   * const [{ now }] = await manager.sql()`select now()`;
   * ```
   */
  sql(): ClientsSql {
    return this.#primaryPool().sql;
  }

  /**
   * A drizzle database over `sql()` (with read replicas through `withReplicas` when replica URLs are set).
   * One instance per schema object.
   *
   * @example
   * ```ts
   * const db = manager.db(schema); await db.select().from(schema.users);
   * ```
   */
  db<TSchema extends Record<string, unknown> = Record<string, never>>(
    schema?: TSchema,
  ): PostgresJsDatabase<TSchema> {
    this.#open('postgres');
    const cached = this.#db.get(schema);
    if (cached) return cached as unknown as PostgresJsDatabase<TSchema>;
    const { drizzle } = importLib<typeof import('drizzle-orm/postgres-js')>(
      'drizzle-orm/postgres-js',
      'ClientManager.db()',
    );
    const make = (client: ClientsSql): Drizzle =>
      (schema ? drizzle(client, { schema }) : drizzle(client)) as unknown as Drizzle;
    let db = make(this.sql());
    if (this.config.replicaUrls.length > 0) {
      const { withReplicas } = importLib<typeof import('drizzle-orm/pg-core')>(
        'drizzle-orm/pg-core',
        'ClientManager.db() with replicas',
      );
      const replicas = this.#replicaPools().map((p) => make(p.sql));
      db = withReplicas(db, replicas as [Drizzle, ...Drizzle[]]) as unknown as Drizzle;
    }
    this.#db.set(schema, db);
    return db as unknown as PostgresJsDatabase<TSchema>;
  }

  /**
   * The ioredis client: a `Cluster` when cluster nodes are configured, else a `Redis`.
   *
   * @example
   * ```ts
   * await manager.redis().set('k', 'v');
   * ```
   */
  redis(): Redis | Cluster {
    this.#open('redis');
    if (this.#redis) return this.#redis;
    const { redisUrl, redisClusterNodes, redis: options } = this.config;
    if (!redisUrl && !redisClusterNodes && !options.host) {
      throw new ConfigError('No Redis configured: pass redisUrl/redisClusterNodes or set REDIS_URL', {
        context: { client: 'redis' },
      });
    }
    const client = redisClusterNodes
      ? new Cluster(redisClusterNodes, options)
      : redisUrl
        ? new Redis(redisUrl, options)
        : new Redis(options);
    // ioredis emits 'error' on every failed reconnect; log each distinct message once, without secrets.
    let last = '';
    client.on('error', (e: Error) => {
      const msg = redactSecrets(e.message, this.config.secrets);
      if (msg !== last) this.config.logger.warn(`dbkit redis: ${msg}`);
      last = msg;
    });
    client.on('ready', () => {
      last = '';
    });
    this.#redis = client;
    this.#count('redis');
    return client;
  }

  /**
   * The BigQuery client (apiEndpoint from config or BIGQUERY_API_ENDPOINT).
   *
   * @example
   * ```ts
   * const [rows] = await manager.bigquery().query('select 1');
   * ```
   */
  bigquery(): BigQuery {
    this.#open('bigquery');
    if (this.#bigquery) return this.#bigquery;
    this.#bigquery = newBigQuery(this.config);
    this.#count('bigquery');
    return this.#bigquery;
  }

  /**
   * The Pub/Sub client (emulator mode when an emulator host is configured).
   *
   * @example
   * ```ts
   * const [topics] = await manager.pubsub().getTopics();
   * ```
   */
  pubsub(): PubSub {
    this.#open('pubsub');
    if (this.#pubsub) return this.#pubsub;
    this.#pubsub = newPubSub(this.config);
    this.#count('pubsub');
    return this.#pubsub;
  }

  /**
   * A cached publisher for topic `name` (batching and ordering fixed by the first call for that name).
   * closeAll() flushes it so batched messages are sent.
   *
   * @example
   * ```ts
   * manager.topic('orders', { maxMessages: 500, maxMilliseconds: 50 }).publishMessage({ json: order });
   * ```
   */
  topic(name: string, batching?: BatchPublishOptions, options: ClientsTopicOptions = {}): Topic {
    this.#open('topic');
    const cached = this.#topics.get(name);
    if (cached) return cached;
    const topic = this.pubsub().topic(name, {
      ...(batching ? { batching } : {}),
      ...(options.messageOrdering ? { messageOrdering: true } : {}),
    });
    this.#topics.set(name, topic);
    this.#count('topic', name);
    return topic;
  }

  /**
   * The Firestore client (emulator host and ssl:false when an emulator host is configured).
   *
   * @example
   * ```ts
   * await manager.firestore().doc('users/1').set({ name: 'Ada' });
   * ```
   */
  firestore(): Firestore {
    this.#open('firestore');
    if (this.#firestore) return this.#firestore;
    this.#firestore = newFirestore(this.config);
    this.#count('firestore');
    return this.#firestore;
  }

  /**
   * The Cloud Storage client.
   *
   * @example
   * ```ts
   * await manager.storage().bucket('b').file('a.txt').save('hi');
   * ```
   */
  storage(): Storage {
    this.#open('storage');
    if (this.#storage) return this.#storage;
    this.#storage = newStorage(this.config);
    this.#count('storage');
    return this.#storage;
  }

  /**
   * Registers something closeAll() closes first (before topics are flushed); returns an unregister function.
   *
   * @example
   * ```ts
   * const untrack = manager.trackClosable({ close: () => subscription.close() });
   * ```
   */
  trackClosable(c: ClientsClosable): () => void {
    this.#open('subscription');
    this.#closables.add(c);
    return () => this.#closables.delete(c);
  }

  /**
   * Clients created so far per kind, and whether the manager is closed.
   *
   * @example
   * ```ts
   * if (manager.stats().created.postgres > 1) console.warn('client churn');
   * ```
   */
  stats(): ClientManagerStats {
    return { created: { ...this.#created }, closed: this.#closed };
  }

  /** True when closeAll() has started. @example `if (manager.closed) return;` */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Checks every client created so far, each bounded by `timeoutMs`.
   *
   * @example
   * ```ts
   * const { status, checks } = await manager.health({ timeoutMs: 1000 });
   * ```
   */
  async health(options: ClientHealthOptions = {}): Promise<ClientHealthReport> {
    const opts = { timeoutMs: 2000, warnLatencyMs: 1000, ...options };
    const checks: Record<string, () => Promise<unknown>> = {};
    // On the raw clients: a health probe is not an application query (not tracked, not counted).
    const sql = this.#primary?.raw;
    if (sql) checks.postgres = () => sql`select 1`;
    this.#replicas?.forEach((r, i) => {
      checks[`postgres:replica${i}`] = () => r.raw`select 1`;
    });
    const redis = this.#redis;
    if (redis) checks.redis = () => redis.ping();
    const pubsub = this.#pubsub;
    if (pubsub) checks.pubsub = () => pubsub.getTopics({ pageSize: 1, autoPaginate: false });
    const fs = this.#firestore;
    if (fs) checks.firestore = () => fs.listCollections();
    const bq = this.#bigquery;
    if (bq) checks.bigquery = () => bq.getDatasets({ maxResults: 1, autoPaginate: false });
    const st = this.#storage;
    if (st) checks.storage = () => st.getBuckets({ maxResults: 1, autoPaginate: false });
    if (this.#closed)
      for (const k of Object.keys(checks)) checks[k] = () => Promise.reject(new ClientClosedError(k));
    // While installShutdownHooks drains, readiness fails so load balancers stop sending new work.
    if (this.#draining && !this.#closed)
      checks.shutdown = () => Promise.reject(new Error('shutting down: finishing in-flight requests'));
    return runHealthChecks(checks, opts, this.config.secrets);
  }

  /**
   * Health of the Postgres pools from their monitors (the primary, each replica under `replicas`), for a
   * readiness endpoint: `healthy` is `score >= minScore` and false while the manager shuts down. Creates the
   * pools if needed (postgres.js connects on the first query, not here). Needs `monitor` on (the default).
   *
   * @example
   * ```ts
   * const { healthy, score, stats } = manager.poolHealth();
   * res.writeHead(healthy ? 200 : 503).end(JSON.stringify({ score, inUse: stats.inUse, pending: stats.pending }));
   * ```
   */
  poolHealth(options: ClientsPoolHealthOptions = {}): ClientsPoolHealthReport {
    const minScore = options.minScore ?? 50;
    if (!this.config.monitor) {
      throw new ConfigError(
        'poolHealth() needs pool monitoring: the manager was created with monitor: false',
        {
          context: { client: 'postgres' },
        },
      );
    }
    const of = (p: ManagedPool): ClientsPoolHealth => {
      const stats = p.monitor!.stats();
      return { name: p.name, score: stats.score, healthy: !this.#draining && stats.score >= minScore, stats };
    };
    const primary = of(this.#primaryPool());
    return { ...primary, replicas: this.#replicaPools().map(of), draining: this.#draining };
  }

  /**
   * A {@link QueryCache} (dbkit/cache) over `redis()` for `namespace`, one per namespace (the first call's
   * options fix it); closed by closeAll() before Redis quits.
   *
   * @example
   * ```ts
   * const users = manager.cache('users', { ttl: '10m' });
   * const user = await users.getOrSet(`user:${id}`, () => findUser(id), { tags: [`user:${id}`] });
   * ```
   */
  cache(namespace: string, options: ClientsCacheOptions = {}): QueryCache {
    this.#open('cache');
    const cached = this.#caches.get(namespace);
    if (cached) return cached;
    const cache = createQueryCache({ ttl: '5m', ...options, namespace, redis: this.redis() });
    this.#caches.set(namespace, cache);
    return cache;
  }

  /**
   * Exports metrics (dbkit/monitoring collectMetrics) for everything this manager makes: its pools'
   * monitors (the Postgres pools are created here if configured, so their histograms are wired from the
   * start), its caches (also those made later), its client counters, server-side connection counts of the
   * primary, and Redis INFO once `redis()` was created. Stopped by closeAll(); call it once per registry.
   *
   * @example
   * ```ts
   * const registry = new Registry();
   * manager.metrics({ registry });
   * app.get('/metrics', async (_, res) => res.type(registry.contentType).send(await registry.metrics()));
   * ```
   */
  metrics(options: ClientsMetricsOptions): MetricsHandle {
    this.#open('metrics');
    const pools: ManagedPool[] = [];
    if (this.config.databaseUrl || this.config.postgres.host)
      pools.push(this.#primaryPool(), ...this.#replicaPools());
    const monitors = pools.flatMap((p) => (p.monitor ? [p.monitor] : []));
    const caches = this.#caches;
    const self = this;
    // sql and redis are getters (read at each scrape: Redis may be created later); undefined is skipped.
    const handle = collectMetrics({
      ...options,
      pools: monitors,
      // Read at every scrape: caches created after this call are exported too.
      caches: new Proxy({} as Record<string, unknown>, {
        ownKeys: () => [...caches.keys()],
        getOwnPropertyDescriptor: (_, k) =>
          typeof k === 'string' && caches.has(k)
            ? { value: caches.get(k), enumerable: true, configurable: true }
            : undefined,
        get: (_, k) => (typeof k === 'string' ? caches.get(k) : undefined),
      }),
      clients: this,
      get sql() {
        return self.#primary?.raw;
      },
      get redis() {
        return self.#redis;
      },
    } as CollectMetricsOptions);
    this.#metrics.push(handle);
    return handle;
  }

  /**
   * Closes everything in order (subscriptions, flush topics, Pub/Sub, Firestore, Postgres, Redis), within
   * `timeoutMs`. Idempotent: later calls return the first call's result. Getters throw ClientClosedError after.
   *
   * @example
   * ```ts
   * const { errors, timedOut } = await manager.closeAll({ timeoutMs: 10_000 });
   * ```
   */
  closeAll(options: ClientsCloseOptions = {}): Promise<ClientsCloseResult> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    for (const m of this.#metrics) m.stop();
    this.#closing = runCloseSteps(
      {
        closables: [...this.#closables],
        topics: [...this.#topics.values()],
        pubsub: this.#pubsub,
        firestore: this.#firestore,
        sql: [this.#primary, ...(this.#replicas ?? [])].filter((p): p is ManagedPool => p !== undefined),
        caches: [...this.#caches.values()].map((c) => ({
          close: async () => {
            await (c as unknown as { close?: () => Promise<void> }).close?.();
            await c.store.close();
          },
        })),
        redis: this.#redis,
      },
      options,
      this.config.secrets,
    );
    return this.#closing;
  }

  /** True from the moment installShutdownHooks starts draining (readiness fails) until the process exits. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * On SIGTERM/SIGINT: stop accepting on each of `servers` and let in-flight requests finish (closing idle
   * keep-alive connections; `health()` and `poolHealth()` report not ready meanwhile), run `beforeClose`,
   * closeAll() once, then exit; all within `timeoutMs`. Returns a function that removes the handlers.
   *
   * @example
   * ```ts
   * const server = http.createServer(app).listen(3000);
   * getClientManager().installShutdownHooks({ servers: [server], timeoutMs: 10_000 });
   * ```
   */
  installShutdownHooks(options: ShutdownHookOptions = {}): () => void {
    return installSignalHandlers(
      {
        closeAll: (o) => this.closeAll(o),
        beginDrain: () => {
          this.#draining = true;
        },
      },
      options,
    );
  }
}

/**
 * Creates an independent client manager (tests, multi-tenant hosts).
 *
 * @example
 * ```ts
 * const m = createClientManager({ databaseUrl: 'postgres://app@db/app', pool: { max: 5 } });
 * ```
 */
export function createClientManager(config: ClientManagerConfig = {}): ClientManager {
  return new ClientManager(config);
}

// On globalThis under a Symbol.for key: the ESM and CJS builds loaded in one process (an ESM service with a
// CJS dependency that also uses dbkit) share one manager, so one set of pools.
const GLOBAL_MANAGER = Symbol.for('dbkit.clients.manager');
const globals = globalThis as { [GLOBAL_MANAGER]?: ClientManager };

/**
 * The process-wide manager, created on first call (config is used only then; later calls return the same
 * one). One per process, also across dbkit's ESM and CJS builds.
 *
 * @example
 * ```ts
 * const sql = getClientManager().sql();
 * ```
 */
export function getClientManager(config?: ClientManagerConfig): ClientManager {
  globals[GLOBAL_MANAGER] ??= new ClientManager(config);
  return globals[GLOBAL_MANAGER];
}
