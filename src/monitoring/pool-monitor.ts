import type postgres from 'postgres';
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

/**
 * Wraps a postgres.js client to count in-flight, queued and reserved work, acquire waits, errors and
 * timeouts (postgres.js exposes no pool statistics: porsager/postgres #443, #908, #919).
 *
 * Use `monitor.sql` in place of the original client; the original keeps working but is not counted.
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
  const opts = resolveMonitoringOptions('pool', options);
  const connection = sql.options.connection as Record<string, unknown>;
  if (opts.applicationName) connection.application_name = opts.applicationName;
  const max = Math.max(1, Number(sql.options.max) || 10);
  const ledger = new UnitLedger(max, opts.bucketsMs, opts.slowQueryMs);
  const name = opts.name;
  let openConnections: number | undefined;

  const finish = (u: Unit, err: unknown) => {
    const r = ledger.end(u, err);
    if (r && queryChannel.hasSubscribers)
      queryChannel.publish({ pool: name, kind: u.kind, durationMs: r.durationMs, error: err ?? undefined });
  };
  ledger.onWait = (ms) => {
    if (acquireChannel.hasSubscribers) acquireChannel.publish({ pool: name, waitMs: ms });
  };

  const instrument = (q: unknown, holdsSlot: boolean): void => {
    if (!q || typeof q !== 'object' || typeof (q as { handle?: unknown }).handle !== 'function') return;
    const query = q as { handler: (x: unknown) => void; resolve: unknown; reject: unknown };
    let unit: Unit | undefined;
    const orig = query.handler;
    query.handler = (x) => {
      unit ??= ledger.start('query', holdsSlot);
      orig(x);
    };
    // postgres.js replaces resolve/reject for cursors; accessors keep our hook in front of any of them.
    let res = query.resolve as (x: unknown) => unknown;
    let rej = query.reject as (x: unknown) => unknown;
    Object.defineProperty(query, 'resolve', {
      configurable: true,
      get: () => (x: unknown) => {
        if (unit) finish(unit, null);
        return res(x);
      },
      set: (f) => {
        res = f;
      },
    });
    Object.defineProperty(query, 'reject', {
      configurable: true,
      get: () => (e: unknown) => {
        if (unit) finish(unit, e);
        return rej(e);
      },
      set: (f) => {
        rej = f;
      },
    });
  };

  const isTemplate = (a: unknown) => Array.isArray(a) && Array.isArray((a as { raw?: unknown }).raw);

  const wrap = <S extends object>(target: S, holdsSlot: boolean, overrides: Record<string, unknown>): S => {
    const wrapQueryFactory =
      (fn: (...a: unknown[]) => unknown) =>
      (...a: unknown[]) => {
        const q = fn(...a);
        instrument(q, holdsSlot);
        return q;
      };
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(target, {
      apply(t, thisArg, args: unknown[]) {
        const q = Reflect.apply(t as (...a: unknown[]) => unknown, thisArg, args);
        if (isTemplate(args[0])) instrument(q, holdsSlot);
        return q;
      },
      get(t, prop, receiver) {
        if (typeof prop === 'string' && prop in overrides) return overrides[prop];
        const v = Reflect.get(t, prop, receiver);
        if ((prop === 'unsafe' || prop === 'file') && typeof v === 'function') {
          if (!cache.has(prop)) cache.set(prop, wrapQueryFactory(v as (...a: unknown[]) => unknown));
          return cache.get(prop);
        }
        return v;
      },
    });
  };

  const begin = (...args: unknown[]) => {
    const fnIndex = args.findIndex((a) => typeof a === 'function');
    const unit = ledger.start('transaction', true);
    if (fnIndex >= 0) {
      const fn = args[fnIndex] as (tx: unknown) => unknown;
      args[fnIndex] = (tx: object) => fn(wrap(tx, false, {}));
    }
    const p = (sql.begin as (...a: unknown[]) => Promise<unknown>)(...args);
    return p.then(
      (v) => {
        finish(unit, null);
        return v;
      },
      (e: unknown) => {
        finish(unit, e);
        throw e;
      },
    );
  };

  const reserve = async () => {
    const unit = ledger.start('reservation', true);
    let reserved: AnySql & { release(): void };
    try {
      reserved = (await sql.reserve()) as AnySql & { release(): void };
    } catch (e) {
      finish(unit, e);
      throw e;
    }
    ledger.reservations.add(unit);
    let released = false;
    return wrap(reserved, false, {
      release: () => {
        if (!released) {
          released = true;
          ledger.reservations.delete(unit);
          finish(unit, null);
        }
        reserved.release();
      },
    });
  };

  const wrapped = wrap(sql, true, { begin, reserve });

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

  return {
    sql: wrapped,
    name,
    stats,
    healthScore: () => stats().score,
    isHealthy: (minScore = 50) => stats().score >= minScore,
    async crossCheck() {
      const r = await poolCrossCheck(sql, {
        applicationName: String(connection.application_name ?? ''),
        idleInTransactionMs: opts.idleInTransactionMs,
        leakThresholdMs: opts.leakThresholdMs,
        ledger,
      });
      openConnections = r.connections;
      return r;
    },
  };
}
