import { nPlusOneChannel } from './channels.js';
import { QueryExpectationError } from './errors.js';
import { detectNPlusOne, type NPlusOneReport } from './n-plus-one.js';
import { type ExpectQueriesOptions, resolveQueryOptions, type TrackQueriesOptions } from './options.js';
import type { QueryEvent } from './query-event.js';
import { scopeStorage, TrackingScope } from './scope-store.js';

/** What {@link trackQueries} returns. */
export interface TrackedQueries<T> {
  /** fn's return value. */
  result: T;
  /** Every query of instrumented clients that settled inside the scope, in completion order. */
  queries: QueryEvent[];
  /** The slow ones. */
  slow: QueryEvent[];
  /** N+1 patterns found. */
  nPlusOne: NPlusOneReport[];
  /** Sum of query durations (ms). */
  totalQueryMs: number;
}

function safe<A>(fn: ((a: A) => void) | undefined, arg: A): void {
  try {
    fn?.(arg);
  } catch (error) {
    process.emitWarning(`dbkit/query onNPlusOne threw: ${(error as Error)?.message ?? String(error)}`);
  }
}

/**
 * Runs `fn` in its own AsyncLocalStorage scope and reports every query instrumented clients ran in it.
 * Nested scopes and concurrent scopes (two requests on one pool) each see only their own queries.
 *
 * @example
 * ```ts
 * const { result, queries, nPlusOne } = await trackQueries(() => listPostsWithAuthors(sql));
 * for (const n of nPlusOne) console.warn(`${n.count}x ${n.fingerprint} at ${n.callSite}: ${n.suggestion}`);
 * ```
 */
export async function trackQueries<T>(
  fn: () => T | Promise<T>,
  options?: TrackQueriesOptions,
): Promise<TrackedQueries<T>> {
  const o = resolveQueryOptions('track', options);
  const scope = new TrackingScope();
  let result: T;
  try {
    // Await inside the scope: fn may return a lazy thenable (a drizzle query) that only starts when awaited.
    result = await scopeStorage.run(scope, async () => await fn());
  } finally {
    scope.closed = true;
  }
  const queries = [...scope.queries];
  const slow = queries.filter((q) => (o.slowQueryMs === undefined ? q.slow : q.durationMs >= o.slowQueryMs));
  const nPlusOne = detectNPlusOne(queries, o);
  for (const report of nPlusOne) {
    safe(o.onNPlusOne, report);
    safe(scope.clients.get(report.fingerprintId)?.onNPlusOne, report);
    if (nPlusOneChannel.hasSubscribers) nPlusOneChannel.publish(report);
  }
  return { result, queries, slow, nPlusOne, totalQueryMs: queries.reduce((s, q) => s + q.durationMs, 0) };
}

const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;

/**
 * A readable report of a tracked scope: totals, each distinct statement with count, time and call site, then N+1s.
 *
 * @example
 * ```ts
 * console.log(formatQueryReport(await trackQueries(handler)))
 * ```
 */
export function formatQueryReport(tracked: Omit<TrackedQueries<unknown>, 'result'>): string {
  const { queries, nPlusOne } = tracked;
  const groups = new Map<
    string,
    { fingerprint: string; count: number; ms: number; site: string | undefined }
  >();
  for (const q of queries) {
    const g = groups.get(q.fingerprintId);
    if (g) {
      g.count++;
      g.ms += q.durationMs;
    } else
      groups.set(q.fingerprintId, {
        fingerprint: q.fingerprint,
        count: 1,
        ms: q.durationMs,
        site: q.callSite,
      });
  }
  const lines = [
    `${queries.length} ${queries.length === 1 ? 'query' : 'queries'} (${groups.size} distinct) in ${ms(tracked.totalQueryMs)}:`,
  ];
  for (const g of [...groups.values()].sort((a, b) => b.count - a.count)) {
    lines.push(`  ${String(g.count).padStart(4)}x ${ms(g.ms).padStart(10)}  ${g.fingerprint}`);
    if (g.site) lines.push(`${' '.repeat(19)}at ${g.site}`);
  }
  for (const n of nPlusOne) {
    lines.push(
      `N+1: ${n.count}x ${n.fingerprint} (${ms(n.totalMs)} total)${n.callSite ? ` at ${n.callSite}` : ''}`,
      `  fix: ${n.suggestion}`,
    );
  }
  return lines.join('\n');
}

/**
 * Test helper: runs `fn` tracked and throws a {@link QueryExpectationError} with a readable report when it ran
 * more than `max` queries or (by default) contains an N+1.
 *
 * @example
 * ```ts
 * await expectQueries(() => getOrderPage(sql, 1), { max: 3 });
 * ```
 */
export async function expectQueries<T>(
  fn: () => T | Promise<T>,
  options?: ExpectQueriesOptions,
): Promise<TrackedQueries<T>> {
  const o = resolveQueryOptions('expect', options);
  const tracked = await trackQueries(fn, {
    threshold: o.threshold,
    minTotalDurationMs: o.minTotalDurationMs,
    ...(o.slowQueryMs === undefined ? {} : { slowQueryMs: o.slowQueryMs }),
    ...(o.onNPlusOne ? { onNPlusOne: o.onNPlusOne } : {}),
  });
  const problems: string[] = [];
  if (tracked.queries.length > o.max)
    problems.push(`expected at most ${o.max} queries, ran ${tracked.queries.length}`);
  if (o.noNPlusOne && tracked.nPlusOne.length > 0)
    problems.push(`expected no N+1 queries, found ${tracked.nPlusOne.length}`);
  if (problems.length > 0) {
    throw new QueryExpectationError(`${problems.join('; ')}\n${formatQueryReport(tracked)}`, {
      count: tracked.queries.length,
      max: o.max,
      nPlusOne: tracked.nPlusOne.map((n) => ({ fingerprint: n.fingerprint, count: n.count })),
    });
  }
  return tracked;
}
