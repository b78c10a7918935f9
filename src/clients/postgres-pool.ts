/** The manager's Postgres pools: one postgres.js client each, tracked and monitored through one hook layer. */
import type postgres from 'postgres';
import { rawSql, withSubscriber } from '../internal/pg-hooks.js';
import { createIdleReaper, type IdleReaper } from '../internal/pg-idle-reaper.js';
import { databaseFromUrl } from '../internal/pg-url.js';
import { keepTimerList } from '../internal/timer-list-keeper.js';
import { monitorPool, type PoolMonitor } from '../monitoring/index.js';
import { instrument } from '../query/index.js';
import type { ResolvedClientManagerConfig } from './config.js';

/** The postgres.js client type the manager hands out. */
export type ClientsSql = postgres.Sql<Record<string, never>>;

/** One pool the manager created. */
export interface ManagedPool {
  /** 'primary', 'replica0', ... (prefixed with the `track`/`monitor` name when one is configured). */
  readonly name: string;
  /** What the manager hands out: the tracked and monitored view (the raw client when both are off). */
  readonly sql: ClientsSql;
  /**
   * The postgres.js client health checks and metrics queries run on, uncounted: the raw client, or with the
   * reaper a view carrying only the reaper's subscriber (so the reaper sees them running).
   */
  readonly raw: ClientsSql;
  /** The pool monitor, when `monitor` is on. */
  readonly monitor: PoolMonitor<ClientsSql> | undefined;
  /** How idle connections are closed: dbkit's reaper, postgres.js' timer (with the list keeper), or not at all. */
  readonly idleReaping: 'reaper' | 'postgres.js timer' | 'off';
  /** The reaper, when it is the one closing idle connections. */
  readonly reaper: IdleReaper | undefined;
  /** Ends the pool: waits for running queries up to `timeoutS`, then closes the sockets. */
  end(timeoutS: number): Promise<void>;
}

const named = (prefix: string | undefined, label: string) => (prefix ? `${prefix}:${label}` : label);

/**
 * Creates one pool: postgres.js with the manager's options, then the monitor and tracking subscribers.
 *
 * @example
 * ```ts
 * const pool = createManagedPool(postgres, url, 'primary', resolveClientManagerConfig({}));
 * await pool.sql`select 1`; pool.monitor?.stats();
 * ```
 */
export function createManagedPool(
  pg: typeof postgres,
  url: string | undefined,
  label: string,
  config: ResolvedClientManagerConfig,
): ManagedPool {
  const { application_name, ...pool } = config.pool;
  const extra = config.postgres;
  // postgres.js takes application_name as a startup parameter under `connection`.
  const options = {
    ...pool,
    onnotice: () => {},
    ...databaseFromUrl(url),
    ...extra,
    connection: { application_name, ...extra.connection },
  };
  const make = (o: typeof options) => (url ? pg(url, o) : pg(o)) as unknown as ClientsSql;
  const idleS = Number(options.idle_timeout ?? 0);
  const hooked = config.track !== false || config.monitor !== false;
  let raw: ClientsSql | undefined;
  let reaper: IdleReaper | undefined;
  // Idle connections are closed by dbkit's reaper when it can watch the sockets (plain TCP or a Unix socket,
  // one host, no socket factory of the caller's) and the view can tell it about reservations: no per-query
  // timer. Otherwise by postgres.js' own timer, with Node's timer list for its duration kept alive.
  if (idleS > 0 && hooked && !('socket' in options && options.socket)) {
    reaper = createIdleReaper({ idleTimeoutMs: idleS * 1000 });
    const candidate = make({ ...options, idle_timeout: 0, socket: reaper.socket } as typeof options);
    const parsed = candidate.options as unknown as { ssl?: unknown; host: string[] };
    if (!parsed.ssl && parsed.host.length === 1) {
      raw = candidate;
      reaper.bind(candidate.options);
    } else {
      // Nothing was connected yet: dropping it costs nothing.
      void candidate.end({ timeout: 0 }).catch(() => {});
      reaper = undefined;
    }
  }
  // See timer-list-keeper.ts: postgres.js restarts each connection's idle timer per query.
  const release = !reaper && idleS > 0 ? keepTimerList(idleS * 1000) : () => {};
  raw ??= make(options);
  let sql = raw;
  let monitor: PoolMonitor<ClientsSql> | undefined;
  if (config.monitor) {
    const { name, ...rest } = config.monitor;
    monitor = monitorPool(raw, { ...rest, name: named(name, label) });
    sql = monitor.sql;
  }
  if (config.track) {
    const { name, ...rest } = config.track;
    sql = instrument(sql, { ...rest, name: named(name, label) });
  }
  if (reaper) sql = withSubscriber(sql, reaper.subscriber);
  const base = raw;
  return {
    name: named(config.monitor ? config.monitor.name : config.track ? config.track.name : undefined, label),
    sql,
    raw: reaper ? withSubscriber(rawSql(base), reaper.subscriber) : rawSql(base),
    monitor,
    idleReaping: reaper ? 'reaper' : idleS > 0 ? 'postgres.js timer' : 'off',
    reaper,
    end(timeoutS) {
      reaper?.stop();
      // postgres.js returns the first end()'s promise to later calls; its timeout destroys what is left.
      return base.end({ timeout: timeoutS }).finally(release);
    },
  };
}
