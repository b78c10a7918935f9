import { queryTracing } from './channels.js';
import { resolveQueryOptions } from './options.js';
import type { QueryEvent } from './query-event.js';

/** One line of the slow-query log. */
export interface SlowQueryLogEntry {
  /** ISO time the query started. */
  at: string;
  client: string;
  /** The statement: its fingerprint (literals stripped) when redacting, else the SQL as sent. */
  sql: string;
  fingerprintId: string;
  /** Parameters: type descriptions like `<string:12>` when redacting, else the values as sent. */
  params: unknown[];
  durationMs: number;
  rows: number | null;
  callSite: string | undefined;
  /** SQLSTATE and message when the query failed. */
  error?: { code?: string; message: string };
  /** Slow queries dropped by the rate limit since the previous entry. */
  suppressed: number;
}

/** Options of {@link createSlowQueryLog}. */
export interface SlowQueryLogOptions {
  /** Receives each entry (your logger). */
  log: (entry: SlowQueryLogEntry) => void;
  /** Queries at or above this many ms are slow. @default 200 */
  thresholdMs?: number;
  /** Share of slow queries logged (0..1), decided per query. @default 1 */
  sampleRate?: number;
  /** Replace parameters with type descriptions and inline literals with `?`. @default true */
  redactParams?: boolean;
  /** Entries per interval at most; the rest are counted in the next entry's `suppressed`. @default 10 */
  maxPerInterval?: number;
  /** Rate-limit window in ms. @default 60000 */
  intervalMs?: number;
  /** Clock (ms), replaceable in tests. @default Date.now */
  now?: () => number;
  /** Random source for sampling, replaceable in tests. @default Math.random */
  random?: () => number;
}

/** Counters of a slow-query log. */
export interface SlowQueryLogStats {
  seen: number;
  slow: number;
  sampledOut: number;
  rateLimited: number;
  logged: number;
}

/** What {@link createSlowQueryLog} returns. */
export interface SlowQueryLog {
  /** Pass as `instrument(sql, { onQuery: log.onQuery })`, or call `subscribe()`. */
  onQuery(event: QueryEvent): void;
  /** Listens to every instrumented client through the `dbkit:query` tracing channel; returns the unsubscribe. */
  subscribe(): () => void;
  /** What the log has seen so far. */
  stats(): SlowQueryLogStats;
}

function describeParam(v: unknown): string {
  if (v === null || v === undefined) return '<null>';
  if (typeof v === 'string') return `<string:${v.length}>`;
  if (Array.isArray(v)) return `<array:${v.length}>`;
  if (v instanceof Date) return '<date>';
  if (Buffer.isBuffer(v)) return `<bytes:${v.length}>`;
  return `<${typeof v}>`;
}

/**
 * A production slow-query log: samples, redacts parameters by default and rate-limits the callback.
 *
 * @example
 * ```ts
 * const slowLog = createSlowQueryLog({ thresholdMs: 250, sampleRate: 0.2, log: (e) => logger.warn(e, 'slow query') });
 * const sql = instrument(postgres(url), { onQuery: slowLog.onQuery });
 * ```
 */
export function createSlowQueryLog(options: SlowQueryLogOptions): SlowQueryLog {
  const o = resolveQueryOptions('slowLog', options);
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const stats: SlowQueryLogStats = { seen: 0, slow: 0, sampledOut: 0, rateLimited: 0, logged: 0 };
  let windowStart = Number.NEGATIVE_INFINITY;
  let inWindow = 0;
  let suppressed = 0;

  const onQuery = (e: QueryEvent) => {
    stats.seen++;
    if (e.durationMs < o.thresholdMs) return;
    stats.slow++;
    if (o.sampleRate < 1 && random() >= o.sampleRate) {
      stats.sampledOut++;
      return;
    }
    const t = now();
    if (t - windowStart >= o.intervalMs) {
      windowStart = t;
      inWindow = 0;
    }
    if (inWindow >= o.maxPerInterval) {
      stats.rateLimited++;
      suppressed++;
      return;
    }
    inWindow++;
    const err = e.error as { code?: unknown; message?: unknown } | undefined;
    const entry: SlowQueryLogEntry = {
      at: new Date(e.startedAt).toISOString(),
      client: e.client,
      sql: o.redactParams ? e.fingerprint : e.sql,
      fingerprintId: e.fingerprintId,
      params: o.redactParams ? e.params.map(describeParam) : [...e.params],
      durationMs: e.durationMs,
      rows: e.rows,
      callSite: e.callSite,
      suppressed,
      ...(e.error === undefined
        ? {}
        : {
            error: {
              ...(typeof err?.code === 'string' ? { code: err.code } : {}),
              message: String(err?.message ?? e.error),
            },
          }),
    };
    suppressed = 0;
    stats.logged++;
    try {
      o.log(entry);
    } catch (error) {
      process.emitWarning(
        `dbkit/query slow-query log callback threw: ${(error as Error)?.message ?? String(error)}`,
      );
    }
  };

  return {
    onQuery,
    subscribe() {
      const handler = (m: unknown) => onQuery(m as QueryEvent);
      queryTracing.asyncEnd.subscribe(handler);
      return () => {
        queryTracing.asyncEnd.unsubscribe(handler);
      };
    },
    stats: () => ({ ...stats }),
  };
}
