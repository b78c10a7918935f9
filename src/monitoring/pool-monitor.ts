import type postgres from 'postgres';
import { findSubscriber, type PgHookSubscriber, rawSql, withSubscriber } from '../internal/pg-hooks.js';
import { acquireChannel, queryChannel } from './channels.js';
import { poolHealthScore } from './health-score.js';
import { type PoolMonitorOptions, resolveMonitoringOptions } from './options.js';
import { type PoolCrossCheck, poolCrossCheck, type Unit, UnitLedger } from './pool-ledger.js';

/** Any postgres.js client, whatever its custom types. */
// biome-ignore lint/suspicious/noExplicitAny: any postgres.js instance, whatever its custom types
export type AnySql = postgres.Sql<any>;

/** A histogram snapshot: `counts[i]` observations <= `bucketsMs[i]`, plus the overflow in `counts[last]`. */
export interface MsHistogram {
  bucketsMs: number[];
  /** Per-bucket counts (not cumulative); one more entry than bucketsMs (the +Inf bucket). */
  counts: number[];
  sumMs: number;
  count: number;
}

/** What {@link PoolMonitor.stats} returns. */
export interface PoolStats {
  name: string;
  /** Pool size (postgres.js `options.max`). */
  max: number;
  /** Queries, transactions and reservations started and not finished. */
  inFlight: number;
  /** Connections busy: min(inFlight, max). */
  inUse: number;
  /** Units waiting for a connection (queued, or pipelined behind another query). */
  pending: number;
  /** inUse / max. */
  utilisation: number;
  /** Open `sql.reserve()` connections. */
  reserved: number;
  /** Open `sql.begin()` transactions. */
  transactions: number;
  /** Reservations held longer than leakThresholdMs. */
  possibleLeaks: number;
  /** Longest current reservation in ms (0 when none). */
  longestReservationMs: number;
  /** p99 acquire wait (ms) over the last minute. */
  waitP99Ms: number;
  wait: MsHistogram;
  duration: MsHistogram;
  /** Lifetime counters. */
  total: { queries: number; errors: number; timeouts: number; slow: number; waited: number };
  /** Counts over the last 60 s. */
  lastMinute: { queries: number; errors: number; slow: number };
  /** Sessions with this pool's application_name at the last crossCheck() (undefined before). */
  openConnections: number | undefined;
  applicationName: string;
  /** 0-100, see poolHealthScore. */
  score: number;
}

/** A monitored postgres.js pool. */
export interface PoolMonitor<TSql extends AnySql = AnySql> {
  /** The wrapped client: use it exactly like the original (tagged template, unsafe, begin, reserve, end). */
  readonly sql: TSql;
  readonly name: string;
  /** Counters and timings since the monitor was created. */
  stats(): PoolStats;
  /** The pool's health score now, 0-100 (see poolHealthScore). */
  healthScore(): number;
  /** True when healthScore() >= minScore (default 50). */
  isHealthy(minScore?: number): boolean;
  /** Compares with pg_stat_activity rows carrying this pool's application_name. */
  crossCheck(): Promise<PoolCrossCheck>;
}

// One monitor per view: monitorPool() of a monitored client returns that client's monitor.
const MONITOR = Symbol.for('dbkit.monitoring.pool');
// Which monitor a channel message comes from. Names are not unique (two client managers both have a
// 'primary' pool; monitorPool's default name is shared): metrics adapters match messages by this token.
// Symbol.for and an enumerable property: the ESM and CJS builds agree, and `{ ...monitor }` keeps it.
const SOURCE = Symbol.for('dbkit.monitoring.pool-source');

/** A channel message of the pool monitor, as the metrics adapters read it. */
interface PoolChannelMessage {
  pool: string;
  source?: unknown;
}

/**
 * A test for channel messages: true when the message comes from one of `pools` (by the monitor's token;
 * by name only for pool monitors dbkit did not make).
 *
 * @example
 * ```ts
 * const mine = poolMessageFilter([monitor]);
 * subscribe(MONITORING_CHANNELS.query, (m) => { if (mine(m)) record(m); });
 * ```
 */
export function poolMessageFilter(pools: ReadonlyArray<PoolMonitor>): (message: unknown) => boolean {
  const tokens = new Set<unknown>();
  const names = new Set<string>();
  for (const p of pools) {
    const token = (p as { [SOURCE]?: unknown })[SOURCE];
    if (token !== undefined) tokens.add(token);
    else names.add(p.name);
  }
  return (m) => {
    const e = m as PoolChannelMessage;
    return e.source !== undefined && tokens.has(e.source) ? true : names.has(e.pool);
  };
}

let warnedAlready = false;

/** The hook-layer subscriber of one monitorPool(): units in the ledger, events on the channels. */
interface MonitorSubscriber extends PgHookSubscriber {
  monitor: PoolMonitor;
}

/**
 * Wraps a postgres.js client to count in-flight, queued and reserved work, acquire waits, errors and
 * timeouts (postgres.js exposes no pool statistics: porsager/postgres #443, #908, #919).
 *
 * Use `monitor.sql` in place of the original client; the original keeps working but is not counted.
 * Works with `instrument()` from dbkit/query in either order (both ride one hook layer); monitoring a client
 * that is already monitored returns its existing monitor's counters (`stats()` etc.), nothing is counted twice.
 *
 * @example
 * ```ts
 * const pool = monitorPool(postgres(url, { max: 10 }), { name: 'main' });
 * await pool.sql`select 1`;
 * pool.stats().inUse; pool.healthScore(); pool.isHealthy();
 * ```
 */
export function monitorPool<TSql extends AnySql>(
  sql: TSql,
  options: Partial<PoolMonitorOptions> = {},
): PoolMonitor<TSql> {
  const existing = findSubscriber(sql, MONITOR) as MonitorSubscriber | undefined;
  // Already monitored: the same counters, handed out with the caller's client (which may carry more
  // subscribers than the view the monitor was created on).
  if (existing) {
    if (Object.keys(options).length > 0 && !warnedAlready) {
      warnedAlready = true;
      process.emitWarning(
        'monitorPool() got a client that is already monitored and returned its monitor: these options are ignored (for the client manager, pass them as config.monitor)',
        { code: 'DBKIT_ALREADY_MONITORED' },
      );
    }
    return { ...(existing.monitor as PoolMonitor<TSql>), sql };
  }
  const opts = resolveMonitoringOptions('pool', options);
  const raw = rawSql(sql);
  const connection = raw.options.connection as Record<string, unknown>;
  if (opts.applicationName) connection.application_name = opts.applicationName;
  const max = Math.max(1, Number(raw.options.max) || 10);
  const ledger = new UnitLedger(max, opts.bucketsMs, opts.slowQueryMs);
  const name = opts.name;
  let openConnections: number | undefined;
  const source = {};

  const finish = (u: Unit, err: unknown, now?: number) => {
    const durationMs = ledger.end(u, err, now);
    if (durationMs >= 0 && queryChannel.hasSubscribers)
      queryChannel.publish({ pool: name, kind: u.kind, durationMs, error: err ?? undefined, source });
  };
  ledger.onWait = (ms) => {
    if (acquireChannel.hasSubscribers) acquireChannel.publish({ pool: name, waitMs: ms, source });
  };

  const subscriber: MonitorSubscriber = {
    key: MONITOR,
    monitor: undefined as unknown as PoolMonitor,
    start: (h) => ledger.startQuery(h.view.holdsSlot, h.startMs),
    end(h, token) {
      const durationMs = ledger.endQuery(token as Unit, h.startMs, h.error, h.endMs);
      if (durationMs >= 0 && queryChannel.hasSubscribers)
        queryChannel.publish({ pool: name, kind: 'query', durationMs, error: h.error ?? undefined, source });
    },
    scopeStart(kind) {
      const unit = ledger.start(kind, true);
      if (kind === 'reservation') ledger.reservations.add(unit);
      return unit;
    },
    scopeEnd(kind, token, error) {
      const unit = token as Unit;
      if (kind === 'reservation') ledger.reservations.delete(unit);
      finish(unit, error ?? null);
    },
  };
  const wrapped = withSubscriber(sql, subscriber);

  const stats = (): PoolStats => {
    const s = ledger.snapshot(opts.leakThresholdMs);
    return {
      name,
      max,
      ...s,
      openConnections,
      applicationName: String(connection.application_name ?? ''),
      score: poolHealthScore({
        inUse: s.inUse,
        max,
        pending: s.pending,
        waitP99Ms: s.waitP99Ms,
        waitTargetMs: opts.waitTargetMs,
      }),
    };
  };

  const monitor: PoolMonitor<TSql> = {
    sql: wrapped,
    name,
    stats,
    healthScore: () => stats().score,
    isHealthy: (minScore = 50) => stats().score >= minScore,
    async crossCheck() {
      // On the raw client: the check itself is neither counted nor tracked.
      const r = await poolCrossCheck(raw, {
        applicationName: String(connection.application_name ?? ''),
        idleInTransactionMs: opts.idleInTransactionMs,
        leakThresholdMs: opts.leakThresholdMs,
        ledger,
      });
      openConnections = r.connections;
      return r;
    },
  };
  (monitor as { [SOURCE]?: unknown })[SOURCE] = source;
  subscriber.monitor = monitor;
  return monitor;
}
