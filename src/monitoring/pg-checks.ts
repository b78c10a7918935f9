import { CheckFailedError } from './errors.js';
import { type PgCheckOptions, resolveMonitoringOptions } from './options.js';
import { PG_CHECK_QUERIES } from './pg-check-queries.js';
import {
  type ConstraintRow,
  cacheHitRatio,
  duplicateIndexes,
  foreignKeysWithoutIndex,
  type IndexRow,
  indexBloat,
  invalidIndexes,
  missingIndexes,
  notValidatedConstraints,
  type PgCheckName,
  type PgFinding,
  relationSizes,
  type SequenceRow,
  sequenceOverflow,
  statsReset,
  type TableRow,
  tableBloat,
  unusedIndexes,
  wraparound,
} from './pg-check-rules.js';
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
  'cache_hit_ratio',
  'relation_size',
  'table_bloat',
  'index_bloat',
  'sequence_overflow',
  'transaction_id_wraparound',
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

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 } as const;

/**
 * PgHero's checks without PgHero: unused, duplicate, invalid and missing indexes, not-validated
 * constraints, foreign keys without an index, cache hit ratio, sizes, table and index bloat,
 * sequences near overflow, transaction-ID wraparound and statistics age. Thresholds are options.
 *
 * @example
 * ```ts
 * const { findings } = await pgChecks(sql);
 * for (const f of findings) console.log(f.severity, f.check, f.object, f.sql ?? f.suggestion);
 * ```
 */
export async function pgChecks(sql: AnySql, options: Partial<PgCheckOptions> = {}): Promise<PgChecksResult> {
  const o = resolveMonitoringOptions('checks', options);
  const wanted = (c: PgCheckName) => !o.only || o.only.includes(c);
  const failed: PgChecksResult['failed'] = [];
  const ran: PgCheckName[] = [];
  const findings: PgFinding[] = [];
  const cache = new Map<string, Promise<unknown[]>>();
  const q = <T>(key: keyof typeof PG_CHECK_QUERIES) => {
    if (!cache.has(key)) cache.set(key, sql.unsafe(PG_CHECK_QUERIES[key]) as unknown as Promise<unknown[]>);
    return cache.get(key) as Promise<T[]>;
  };

  let statsResetAt: Date | null = null;
  let lowConfidence = false;
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

  const runners: Record<PgCheckName, () => Promise<PgFinding[]>> = {
    stats_reset: async () => {
      const [r] = await q<{ reset: Date | null; age_ms: number | null }>('statsReset');
      statsResetAt = r?.reset ?? null;
      lowConfidence = r?.age_ms != null && r.age_ms < o.statsMinAgeMs;
      return statsReset(r, o);
    },
    invalid_index: async () => invalidIndexes(await q<IndexRow>('indexes')),
    not_validated_constraint: async () => notValidatedConstraints(await q<ConstraintRow>('constraints')),
    duplicate_index: async () => duplicateIndexes(await q<IndexRow>('indexes')),
    unused_index: async () => unusedIndexes(await q<IndexRow>('indexes'), o, lowConfidence),
    foreign_key_without_index: async () =>
      foreignKeysWithoutIndex(await q<ConstraintRow>('constraints'), await q<IndexRow>('indexes')),
    missing_index: async () => missingIndexes(await q<TableRow>('tables'), o, lowConfidence),
    cache_hit_ratio: async () => {
      const [r] = await q<Parameters<typeof cacheHitRatio>[0]>('cacheHit');
      return r ? cacheHitRatio(r, o) : [];
    },
    relation_size: async () => relationSizes(await q<TableRow>('tables'), await q<IndexRow>('indexes'), o),
    table_bloat: async () => tableBloat(await q<TableRow>('tables'), o),
    index_bloat: async () => indexBloat(await q<IndexRow>('indexes'), o),
    sequence_overflow: async () => sequenceOverflow(await q<SequenceRow>('sequences'), o),
    transaction_id_wraparound: async () =>
      wraparound(await q<{ table: string; left: number }>('wraparound'), o),
  };
  for (const c of PG_CHECK_NAMES) await run(c, runners[c]);
  findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  return { findings, failed, ran, statsResetAt };
}
