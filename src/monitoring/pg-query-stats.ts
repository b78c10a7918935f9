/**
 * Query statistics from pg_stat_statements, as PgHero's main page shows them (lib/pghero/methods/query_stats.rb:
 * total_plan_time + total_exec_time on Postgres 13+, this database only, calls > 0), grouped by dbkit/query
 * fingerprints so the figures line up with what instrument()/trackQueries() report.
 */
import { fingerprintQuery } from '../query/index.js';
import { type Finding, sqlLiteral } from './finding.js';
import { type PgQueryStatsOptions, resolveMonitoringOptions } from './options.js';
import { DBKIT_QUERY_MARK } from './pg-check-queries.js';
import type { AnySql } from './pool-monitor.js';

/** Checks of {@link pgQueryStats}. */
export type QueryStatsCheckName = 'query_stats' | 'slow_query';

/** A finding of {@link pgQueryStats}. */
export type QueryStatsFinding = Finding<QueryStatsCheckName>;

/** One statement shape: every pg_stat_statements entry with the same dbkit fingerprint, summed. */
export interface PgQueryStat {
  /** dbkit/query fingerprint id (16 hex chars), as instrument() reports it. */
  id: string;
  /** Normalized text (literals and parameters as `?`). */
  fingerprint: string;
  /**
   * The statement as pg_stat_statements keeps it (parameters as $1, $2, ...), first entry seen. For statements
   * other than SELECT/INSERT/UPDATE/DELETE/MERGE/VALUES/TABLE the fingerprint instead: pg_stat_statements keeps
   * their constants as typed (`ALTER ROLE app PASSWORD '...'` on Postgres 15).
   */
  query: string;
  /** pg_stat_statements queryids summed into this row (one per user and per list length, ...). */
  queryIds: string[];
  calls: number;
  /** Planning + execution time over all calls. */
  totalMs: number;
  meanMs: number;
  rows: number;
  /** Share of this database's total statement time (0..100). */
  percent: number;
}

/** Why the statistics are not available. */
export type QueryStatsUnavailable =
  /** The pg_stat_statements files are not installed on the server (contrib package). */
  | 'not_available'
  /** Installed, but not in shared_preload_libraries (needs a restart). */
  | 'not_preloaded'
  /** Preloaded, but CREATE EXTENSION was never run in this database. */
  | 'not_created'
  /** The view exists but this user cannot read it. */
  | 'no_permission';

/** What {@link pgQueryStats} returns. */
export interface PgQueryStats {
  available: boolean;
  reason?: QueryStatsUnavailable;
  /** Top statements by total time, mean time and calls (each `limit` long). */
  byTotalTime: PgQueryStat[];
  byMeanTime: PgQueryStat[];
  byCalls: PgQueryStat[];
  /** Total statement time of this database (ms). */
  totalMs: number;
  /** When pg_stat_statements was last reset (Postgres 14+; null when unknown). */
  since: Date | null;
  /** The statement with the most total time, and how to explain it. */
  worst?: { stat: PgQueryStat; hint: string; sql?: string };
  findings: QueryStatsFinding[];
}

interface StatementRow {
  queryid: string | null;
  query: string;
  calls: number;
  total_ms: number;
  rows: number;
}

const EXPLAINABLE = /^\s*(?:select|with|insert|update|delete|values|table|merge)\b/i;
const QUERY_TEXT_MAX = 10_000;

/**
 * How to look at the plan of `q` (a pg_stat_statements text): an EXPLAIN that runs as given when it can be
 * written blind (no parameters; or Postgres 16+ GENERIC_PLAN), else a dbkit/query explain() hint.
 *
 * @example
 * ```ts
 * explainHint('select count(*) from items', 150000).sql // 'EXPLAIN select count(*) from items;'
 * explainHint('select * from t where id = $1', 150000).sql // undefined: use dbkit/query explain() with values
 * ```
 */
export function explainHint(q: string, version: number): { hint: string; sql?: string } {
  const text = q.trim().replace(/;\s*$/, '');
  if (!EXPLAINABLE.test(text) || text.length >= QUERY_TEXT_MAX)
    return { hint: 'Run it through dbkit/query explain(db, query, { analyze: true }) with real values.' };
  const params = /\$\d+/.test(text);
  // pg_stat_statements keeps comments: after a trailing `--` comment the semicolon must go on a line of its own.
  const end = text.includes('--') ? '\n;' : ';';
  if (!params)
    return {
      hint: 'EXPLAIN shows its plan (add ANALYZE, BUFFERS on a copy of the data).',
      sql: `EXPLAIN ${text}${end}`,
    };
  if (version >= 160000)
    return {
      hint: 'EXPLAIN (GENERIC_PLAN) shows its plan without parameter values; for real row counts run it through dbkit/query explain() with values.',
      sql: `EXPLAIN (GENERIC_PLAN) ${text}${end}`,
    };
  return {
    hint: 'It has parameters ($1 ...), which plain EXPLAIN cannot take before Postgres 16: run it through dbkit/query, e.g. await explain(sql, sql`...with the real values...`, { analyze: true }).',
  };
}

const emptyStats = (
  reason: QueryStatsUnavailable | undefined,
  findings: QueryStatsFinding[],
): PgQueryStats => ({
  available: false,
  ...(reason ? { reason } : {}),
  byTotalTime: [],
  byMeanTime: [],
  byCalls: [],
  totalMs: 0,
  since: null,
  findings,
});

function unavailableFinding(reason: QueryStatsUnavailable, preload: string | null): QueryStatsFinding {
  const base = { check: 'query_stats' as const, severity: 'info' as const, object: 'pg_stat_statements' };
  if (reason === 'not_created')
    return {
      ...base,
      detail: 'pg_stat_statements is preloaded but not created in this database: no query statistics',
      suggestion: 'Create the extension (needs a role allowed to create extensions).',
      sql: 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;',
    };
  if (reason === 'not_preloaded' && preload === null)
    return {
      ...base,
      detail: 'pg_stat_statements is not in shared_preload_libraries: no query statistics',
      suggestion:
        'Ask a superuser to add pg_stat_statements to shared_preload_libraries (keeping what is there) and restart the server (this role cannot read the setting).',
    };
  if (reason === 'not_preloaded') {
    const libs = (preload ?? '')
      .split(',')
      .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
      .filter(Boolean);
    return {
      ...base,
      detail: `pg_stat_statements is not in shared_preload_libraries (${preload ? `'${preload}'` : 'empty'}): no query statistics`,
      suggestion:
        'Add it to shared_preload_libraries, restart the server, then CREATE EXTENSION pg_stat_statements; in this database. (Managed services: set it in the parameter group or database flags instead.)',
      sql: `ALTER SYSTEM SET shared_preload_libraries = ${[...libs, 'pg_stat_statements'].map(sqlLiteral).join(', ')};`,
    };
  }
  if (reason === 'no_permission')
    return {
      ...base,
      detail: 'pg_stat_statements exists but this role cannot read it',
      suggestion:
        'Grant the role pg_read_all_stats (GRANT pg_read_all_stats TO <role>;) to see every statement.',
    };
  return {
    ...base,
    detail: 'pg_stat_statements is not installed on this server: no query statistics',
    suggestion:
      'Install the Postgres contrib modules (Debian/Ubuntu ship them with postgresql-NN), add pg_stat_statements to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements;',
  };
}

/**
 * Top statements of this database from pg_stat_statements, by total time, mean time and calls, summed per
 * dbkit fingerprint; `slow_query` findings for statements with mean >= slowQueryMs over >= slowQueryMinCalls
 * calls (PgHero's defaults), an EXPLAIN hint for the worst one, and a `query_stats` finding saying how to
 * enable the extension when it is missing. dbkit's own catalog queries are left out.
 *
 * @example
 * ```ts
 * const stats = await pgQueryStats(sql, { limit: 5 });
 * if (!stats.available) console.log(stats.findings[0]?.suggestion, stats.findings[0]?.sql);
 * for (const q of stats.byTotalTime) console.log(q.id, q.totalMs.toFixed(0), q.calls, q.fingerprint);
 * ```
 */
export async function pgQueryStats(
  sql: AnySql,
  options: Partial<PgQueryStatsOptions> = {},
): Promise<PgQueryStats> {
  const o = resolveMonitoringOptions('queryStats', options);
  // shared_preload_libraries is superuser-only (current_setting() raises for other roles); pg_settings just
  // leaves it out, so a role without pg_read_all_settings reads null here.
  const [env] = await sql.unsafe<
    { version: number; preload: string | null; available: boolean; schema: string | null }[]
  >(`${DBKIT_QUERY_MARK} select current_setting('server_version_num')::int as version,
      (select setting from pg_settings where name = 'shared_preload_libraries') as preload,
      exists (select 1 from pg_available_extensions where name = 'pg_stat_statements') as available,
      (select quote_ident(n.nspname) from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'pg_stat_statements') as schema`);
  const version = env?.version ?? 0;
  const preload = env?.preload ?? null;
  const preloaded =
    preload === null
      ? undefined
      : preload
          .split(',')
          .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
          .includes('pg_stat_statements');
  const unavailable = (reason: QueryStatsUnavailable) =>
    emptyStats(reason, [unavailableFinding(reason, preload)]);
  if (!env?.available) return unavailable('not_available');
  if (preloaded === false) return unavailable('not_preloaded');
  if (!env.schema) return unavailable('not_created');

  const time = version >= 130000 ? 's.total_plan_time + s.total_exec_time' : 's.total_time';
  let rows: StatementRow[];
  let since: Date | null = null;
  try {
    rows = await sql.unsafe<StatementRow[]>(
      `${DBKIT_QUERY_MARK} select s.queryid::text as queryid, left(s.query, ${QUERY_TEXT_MAX}) as query,
        s.calls::float8 as calls, (${time})::float8 as total_ms, s.rows::float8 as rows
      from ${env.schema}.pg_stat_statements s
      join pg_database d on d.oid = s.dbid
      where d.datname = current_database() and s.calls > 0 and s.query not like '%dbkit:monitoring%'
      order by ${time} desc limit ${Math.max(1, Math.floor(o.maxStatements))}`,
    );
    if (version >= 140000) {
      const [info] = await sql.unsafe<{ since: Date | null }[]>(
        `${DBKIT_QUERY_MARK} select stats_reset as since from ${env.schema}.pg_stat_statements_info`,
      );
      since = info?.since ?? null;
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    // 55000: "pg_stat_statements must be loaded via shared_preload_libraries"; 42501: permission denied.
    if (code === '42501') return unavailable('no_permission');
    if (code === '55000') return unavailable('not_preloaded');
    throw e;
  }

  const groups = new Map<string, PgQueryStat>();
  let totalMs = 0;
  for (const r of rows) {
    totalMs += r.total_ms;
    // Other users' statements read as '<insufficient privilege>' without pg_read_all_stats.
    const fp = fingerprintQuery(r.query);
    const g = groups.get(fp.id);
    if (g) {
      g.calls += r.calls;
      g.totalMs += r.total_ms;
      g.rows += r.rows;
      if (r.queryid) g.queryIds.push(r.queryid);
    } else
      groups.set(fp.id, {
        id: fp.id,
        fingerprint: fp.fingerprint,
        // Only optimizable statements have their constants replaced by $n: never hand out a utility statement's
        // text (a password in ALTER ROLE, a literal in DO or CALL), which would reach `dbkit doctor --json`.
        query: EXPLAINABLE.test(r.query) ? r.query : fp.fingerprint,
        queryIds: r.queryid ? [r.queryid] : [],
        calls: r.calls,
        totalMs: r.total_ms,
        meanMs: 0,
        rows: r.rows,
        percent: 0,
      });
  }
  const all = [...groups.values()];
  for (const g of all) {
    g.meanMs = g.totalMs / g.calls;
    g.percent = totalMs > 0 ? (100 * g.totalMs) / totalMs : 0;
  }
  const top = (key: (s: PgQueryStat) => number) =>
    [...all].sort((a, b) => key(b) - key(a) || a.id.localeCompare(b.id)).slice(0, o.limit);
  const byTotalTime = top((s) => s.totalMs);
  const findings: QueryStatsFinding[] = [];
  const worstStat = byTotalTime[0];
  const worst = worstStat ? { stat: worstStat, ...explainHint(worstStat.query, version) } : undefined;
  const slow = all
    .filter((s) => s.calls >= o.slowQueryMinCalls && s.meanMs >= o.slowQueryMs)
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, o.limit);
  for (const s of slow) {
    const h = s === worstStat && worst ? worst : explainHint(s.query, version);
    findings.push({
      check: 'slow_query',
      severity: 'warning',
      object: `query ${s.id}`,
      detail: `mean ${s.meanMs.toFixed(1)} ms over ${s.calls} calls (${s.percent.toFixed(1)}% of statement time): ${s.fingerprint.slice(0, 300)}`,
      suggestion: h.hint,
      ...(h.sql ? { sql: h.sql } : {}),
      value: s.meanMs,
      threshold: o.slowQueryMs,
      unit: 'ms',
    });
  }
  return {
    available: true,
    byTotalTime,
    byMeanTime: top((s) => s.meanMs),
    byCalls: top((s) => s.calls),
    totalMs,
    since,
    ...(worst ? { worst } : {}),
    findings,
  };
}
