import type { QueryEvent } from './query-event.js';

/** One N+1 pattern: the same statement shape executed again and again in one scope. */
export interface NPlusOneReport {
  /** The repeated statement, normalized. */
  fingerprint: string;
  fingerprintId: string;
  /** Executions in the scope. */
  count: number;
  /** Sum of their durations (ms). */
  totalMs: number;
  /** The call site that issued most of them (first frame outside dbkit). */
  callSite: string | undefined;
  /** Every distinct call site with its count. */
  callSites: Array<{ callSite: string | undefined; count: number }>;
  /** One of the executed statements, as sent. */
  exampleSql: string;
  /** The batched rewrite to use instead. */
  suggestion: string;
}

/** Thresholds of {@link detectNPlusOne}. */
export interface DetectNPlusOneOptions {
  /** Executions of one fingerprint that make an N+1. @default 5 */
  threshold?: number;
  /** Only report when the executions add up to at least this many ms. @default 0 */
  minTotalDurationMs?: number;
}

const EQ_PARAM = /((?:"[^"]+"|[a-z_][\w$]*)(?:\.(?:"[^"]+"|[a-z_][\w$]*))?) = \?/;
const IN_LIST = /((?:"[^"]+"|[a-z_][\w$]*)(?:\.(?:"[^"]+"|[a-z_][\w$]*))?) in \(\?\)/;

/**
 * The `col = ?` / `col in (?)` of the WHERE clause (not of UPDATE's SET list), with its offset in `fp`. Works on
 * fingerprints, whose spacing and case are canonical (`where users.id = ?`).
 */
function keyPredicate(fp: string, re: RegExp): { match: string; col: string; at: number } | undefined {
  const where = fp.indexOf(' where ');
  const from = where === -1 ? 0 : where;
  const m = re.exec(fp.slice(from));
  return m ? { match: m[0], col: m[1]!, at: from + m.index } : undefined;
}
const replaceAt = (s: string, at: number, len: number, by: string) => s.slice(0, at) + by + s.slice(at + len);

/**
 * A concrete rewrite for a repeated statement, from its fingerprint.
 *
 * @example
 * ```ts
 * suggestBatch('select * from users where users.id = ?', 12) // 'Load all 12 at once: select * from users where users.id = any(?) ...'
 * ```
 */
export function suggestBatch(fingerprint: string, count: number): string {
  if (fingerprint.startsWith('insert')) {
    return `Insert the ${count} rows in one statement (multi-row VALUES, unnest or COPY; dbkit/bulk bulkInsert does it for you) instead of one INSERT per row.`;
  }
  if (fingerprint.startsWith('update') || fingerprint.startsWith('delete')) {
    const k = keyPredicate(fingerprint, EQ_PARAM);
    const rewritten = k
      ? replaceAt(fingerprint, k.at, k.match.length, `${k.col} = any(?)`)
      : `${fingerprint} (with the key as = any(?))`;
    return `Run one statement for all ${count} keys: ${rewritten} with an array parameter (or dbkit/bulk bulkUpdate/bulkDelete) instead of one per row.`;
  }
  const k = keyPredicate(fingerprint, EQ_PARAM) ?? keyPredicate(fingerprint, IN_LIST);
  if (k) {
    const col = k.col;
    const rewritten = replaceAt(fingerprint, k.at, k.match.length, `${col} = any(?)`);
    return `Load all ${count} at once: ${rewritten} with the ${count} values as one array parameter (postgres.js: \`${col} = any(\${ids})\`; drizzle: inArray(column, ids)), or join them into the query that produced the ids (drizzle relational queries: \`with: { ... }\`).`;
  }
  return `The same statement ran ${count} times; fetch the data in one query (a join, or = any($1) with an array of keys) instead of once per item.`;
}

/**
 * Finds N+1 patterns among a scope's queries, after Sentry's detector: one fingerprint executed at least
 * `threshold` times, not all issued concurrently in one batch, optionally above a total duration.
 *
 * @example
 * ```ts
 * const { queries } = await trackQueries(load); detectNPlusOne(queries, { threshold: 10 })
 * ```
 */
export function detectNPlusOne(
  queries: ReadonlyArray<QueryEvent>,
  options: DetectNPlusOneOptions = {},
): NPlusOneReport[] {
  const threshold = options.threshold ?? 5;
  const minTotal = options.minTotalDurationMs ?? 0;
  const groups = new Map<string, QueryEvent[]>();
  for (const q of queries) {
    const g = groups.get(q.fingerprintId);
    if (g) g.push(q);
    else groups.set(q.fingerprintId, [q]);
  }
  const reports: NPlusOneReport[] = [];
  for (const g of groups.values()) {
    if (g.length < threshold) continue;
    // All issued at once (each started before any finished): one concurrent batch, not a loop of round trips.
    let lastStart = Number.NEGATIVE_INFINITY;
    let firstEnd = Number.POSITIVE_INFINITY;
    let total = 0;
    for (const q of g) {
      if (q.startMs > lastStart) lastStart = q.startMs;
      if (q.endMs < firstEnd) firstEnd = q.endMs;
      total += q.durationMs;
    }
    if (lastStart < firstEnd) continue;
    if (total < minTotal) continue;
    const sites = new Map<string | undefined, number>();
    for (const q of g) sites.set(q.callSite, (sites.get(q.callSite) ?? 0) + 1);
    const callSites = [...sites]
      .map(([callSite, count]) => ({ callSite, count }))
      .sort((a, b) => b.count - a.count);
    const first = g[0]!;
    reports.push({
      fingerprint: first.fingerprint,
      fingerprintId: first.fingerprintId,
      count: g.length,
      totalMs: total,
      callSite: callSites[0]?.callSite,
      callSites,
      exampleSql: first.sql,
      suggestion: suggestBatch(first.fingerprint, g.length),
    });
  }
  return reports.sort((a, b) => b.count - a.count);
}
