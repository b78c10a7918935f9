import { CheckFailedError } from './errors.js';
import { bySeverity } from './finding.js';
import { type PgCheckOptions, resolveMonitoringOptions } from './options.js';
import { DBKIT_QUERY_MARK, PG_CHECK_QUERIES, type PgCheckQuery } from './pg-check-queries.js';
import {
  autovacuumDisabled,
  cacheHitRatio,
  indexBloat,
  noPrimaryKey,
  relationSizes,
  sequenceOverflow,
  statsReset,
  tableBloat,
  wraparound,
} from './pg-check-rules.js';
import type {
  AutovacuumRow,
  ConstraintRow,
  IndexRow,
  NoPrimaryKeyRow,
  PgCheckName,
  PgFinding,
  ProbeResults,
  SequenceColumnRow,
  SequenceRow,
  ServerRow,
  TableRow,
} from './pg-check-types.js';
import {
  duplicateIndexes,
  duplicateRowsQuery,
  foreignKeysWithoutIndex,
  invalidIndexes,
  missingIndexes,
  notValidatedConstraints,
  type StatsAge,
  unusedIndexes,
  violatingRowsQuery,
} from './pg-index-rules.js';
import type { AnySql } from './pool-monitor.js';

/** Every check pgChecks knows, in the order it runs them. */
export const PG_CHECK_NAMES: readonly PgCheckName[] = [
  'stats_reset',
  'invalid_index',
  'not_validated_constraint',
  'duplicate_index',
  'unused_index',
  'foreign_key_without_index',
  'missing_index',
  'no_primary_key',
  'cache_hit_ratio',
  'relation_size',
  'table_bloat',
  'index_bloat',
  'sequence_overflow',
  'transaction_id_wraparound',
  'autovacuum_disabled',
];

/** What {@link pgChecks} returns. */
export interface PgChecksResult {
  /** Findings, most severe first. */
  findings: PgFinding[];
  /** Checks that could not run (permissions, missing views), with a CheckFailedError each. */
  failed: Array<{ check: PgCheckName; error: CheckFailedError }>;
  /** Checks that ran. */
  ran: PgCheckName[];
  /** When the database statistics were last reset (null: never / unknown). */
  statsResetAt: Date | null;
}

/**
 * Runs one read-only probe with a time limit: true when it returns a row, false when none, null when it could
 * not tell (timed out, no permission, or `sql` cannot open a transaction).
 */
async function probe(sql: AnySql, query: string, timeoutMs: number): Promise<boolean | null> {
  if (timeoutMs <= 0 || typeof (sql as { begin?: unknown }).begin !== 'function') return null;
  try {
    const rows = await sql.begin('read only', async (tx) => {
      await tx.unsafe(`set local statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      return tx.unsafe(`${DBKIT_QUERY_MARK} ${query}`);
    });
    return (rows as unknown[]).length > 0;
  } catch {
    return null;
  }
}

/**
 * PgHero's checks without PgHero: unused, duplicate, invalid and missing indexes, not-validated
 * constraints, foreign keys without an index, tables without a primary key, cache hit ratio, sizes, table and
 * index bloat, sequences near overflow, transaction-ID wraparound, autovacuum switched off and statistics age.
 * Thresholds are options; every finding's `sql` runs as given.
 *
 * @example
 * ```ts
 * const { findings } = await pgChecks(sql);
 * for (const f of findings) console.log(f.severity, f.check, f.object, f.value, f.threshold, f.sql ?? f.suggestion);
 * ```
 */
export async function pgChecks(sql: AnySql, options: Partial<PgCheckOptions> = {}): Promise<PgChecksResult> {
  const o = resolveMonitoringOptions('checks', options);
  const wanted = (c: PgCheckName) => !o.only || o.only.includes(c);
  const failed: PgChecksResult['failed'] = [];
  const ran: PgCheckName[] = [];
  const findings: PgFinding[] = [];
  const cache = new Map<string, Promise<unknown[]>>();
  const q = <T>(key: PgCheckQuery) => {
    if (!cache.has(key)) cache.set(key, sql.unsafe(PG_CHECK_QUERIES[key]) as unknown as Promise<unknown[]>);
    return cache.get(key) as Promise<T[]>;
  };
  const server = async () => (await q<ServerRow>('server'))[0];
  const version = async () => (await server())?.version ?? 0;

  let statsResetAt: Date | null = null;
  let statsAge: StatsAge = 'unknown';
  const run = async (check: PgCheckName, fn: () => Promise<PgFinding[]>) => {
    if (!wanted(check)) return;
    o.onProgress?.(check);
    try {
      findings.push(...(await fn()));
      ran.push(check);
    } catch (e) {
      failed.push({ check, error: new CheckFailedError(check, { cause: e }) });
    }
  };
  const probes: ProbeResults = { duplicates: new Map(), violations: new Map() };

  const runners: Record<PgCheckName, () => Promise<PgFinding[]>> = {
    stats_reset: async () => {
      const [r] = await q<{ reset: Date | null; age_ms: number | null }>('statsReset');
      statsResetAt = r?.reset ?? null;
      if (r?.age_ms != null) statsAge = r.age_ms < o.statsMinAgeMs ? 'recent' : 'old';
      return statsReset(r, o);
    },
    invalid_index: async () => {
      const rows = await q<IndexRow>('indexes');
      for (const r of rows.filter((x) => !x.valid && !x.building && x.unique && x.index_kind === 'i'))
        probes.duplicates.set(r.index, await probe(sql, duplicateRowsQuery(r, 1), o.probeTimeoutMs));
      return invalidIndexes(rows, probes, await version());
    },
    not_validated_constraint: async () => {
      const rows = await q<ConstraintRow>('constraints');
      for (const r of rows.filter((x) => !x.validated && !x.inherited)) {
        const list = violatingRowsQuery(r, 1);
        if (list) probes.violations.set(`${r.table}.${r.name}`, await probe(sql, list, o.probeTimeoutMs));
      }
      return notValidatedConstraints(rows, probes);
    },
    duplicate_index: async () => duplicateIndexes(await q<IndexRow>('indexes')),
    unused_index: async () => unusedIndexes(await q<IndexRow>('indexes'), o, statsAge),
    foreign_key_without_index: async () =>
      foreignKeysWithoutIndex(await q<ConstraintRow>('constraints'), await q<IndexRow>('indexes')),
    missing_index: async () => missingIndexes(await q<TableRow>('tables'), o, statsAge),
    no_primary_key: async () => noPrimaryKey(await q<NoPrimaryKeyRow>('noPrimaryKey')),
    cache_hit_ratio: async () => {
      const [r] = await q<Parameters<typeof cacheHitRatio>[0]>('cacheHit');
      return r ? cacheHitRatio(r, o) : [];
    },
    relation_size: async () => relationSizes(await q<TableRow>('tables'), await q<IndexRow>('indexes'), o),
    table_bloat: async () => tableBloat(await q<TableRow>('tables'), o),
    index_bloat: async () => indexBloat(await q<IndexRow>('indexes'), o, await version()),
    sequence_overflow: async () =>
      sequenceOverflow(await q<SequenceRow>('sequences'), await q<SequenceColumnRow>('sequenceColumns'), o),
    transaction_id_wraparound: async () =>
      wraparound(await q<{ table: string; left: number }>('wraparound'), o),
    autovacuum_disabled: async () => autovacuumDisabled(await q<AutovacuumRow>('autovacuum'), await server()),
  };
  // stats_reset feeds the confidence of the usage checks, so it always runs first (its finding only when wanted).
  if (!wanted('stats_reset')) await runners.stats_reset().catch(() => []);
  for (const c of PG_CHECK_NAMES) await run(c, runners[c]);
  return { findings: bySeverity(findings), failed, ran, statsResetAt };
}
