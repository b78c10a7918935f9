/** The manager's Postgres pools: one postgres.js client each, tracked and monitored through one hook layer. */
import type postgres from 'postgres';
import { rawSql } from '../internal/pg-hooks.js';
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
  /** The raw postgres.js client (health checks and metrics queries run here, uncounted). */
  readonly raw: ClientsSql;
  /** The pool monitor, when `monitor` is on. */
  readonly monitor: PoolMonitor<ClientsSql> | undefined;
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
    ...extra,
    connection: { application_name, ...extra.connection },
  };
  const raw = (url ? pg(url, options) : pg(options)) as unknown as ClientsSql;
  // See timer-list-keeper.ts: postgres.js restarts each connection's idle timer per query.
  const idle = Number(raw.options.idle_timeout);
  const release = idle > 0 ? keepTimerList(idle * 1000) : () => {};
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
  return {
    name: named(config.monitor ? config.monitor.name : config.track ? config.track.name : undefined, label),
    sql,
    raw: rawSql(raw),
    monitor,
    end(timeoutS) {
      // postgres.js returns the first end()'s promise to later calls; its timeout destroys what is left.
      return raw.end({ timeout: timeoutS }).finally(release);
    },
  };
}
