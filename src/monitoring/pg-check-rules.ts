import type { PgCheckOptions } from './options.js';

/** Names of the checks pgChecks runs. */
export type PgCheckName =
  | 'unused_index'
  | 'duplicate_index'
  | 'invalid_index'
  | 'not_validated_constraint'
  | 'missing_index'
  | 'foreign_key_without_index'
  | 'cache_hit_ratio'
  | 'relation_size'
  | 'table_bloat'
  | 'index_bloat'
  | 'sequence_overflow'
  | 'transaction_id_wraparound'
  | 'stats_reset';

/** How bad a finding is: 'critical' makes the doctor exit 2, 'warning' 1. */
export type FindingSeverity = 'info' | 'warning' | 'critical';

/** One problem (or fact) a check found. */
export interface PgFinding {
  check: PgCheckName;
  severity: FindingSeverity;
  /** The table, index, sequence or database concerned. */
  object: string;
  detail: string;
  suggestion: string;
  /** SQL that fixes it, when there is one (CREATE/DROP INDEX CONCURRENTLY, VALIDATE CONSTRAINT, ...). */
  sql?: string;
}

export interface IndexRow {
  table: string;
  index: string;
  table_oid: string | number;
  method: string;
  nkeys: number;
  keys: string;
  opclasses: string;
  exprs: string;
  pred: string;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  scans: number;
  bytes: number;
  def: string;
  relpages: number;
  reltuples: number;
  fillfactor: number;
  avg_width: number | null;
  block_size: number;
}
export interface ConstraintRow {
  table: string;
  name: string;
  type: string;
  validated: boolean;
  keys: string;
  table_oid: string | number;
  columns: string;
}
export interface TableRow {
  table: string;
  seq_scans: number;
  idx_scans: number;
  live: number;
  dead: number;
  bytes: number;
}
export interface SequenceRow {
  sequence: string;
  last_value: number;
  seq_max: number;
  column_type: string | null;
  table: string | null;
  column: string | null;
}

type Opts = PgCheckOptions;
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
const ints = (s: string) => s.replace(/[{}]/g, '').split(/[ ,]+/).filter(Boolean).map(Number);

/** Unused indexes: at most unusedIndexMaxScans scans and at least unusedIndexMinBytes, never unique/primary. */
export function unusedIndexes(rows: IndexRow[], o: Opts, lowConfidence: boolean): PgFinding[] {
  return rows
    .filter(
      (r) =>
        !r.unique &&
        !r.primary &&
        r.valid &&
        r.scans <= o.unusedIndexMaxScans &&
        r.bytes >= o.unusedIndexMinBytes,
    )
    .map((r) => ({
      check: 'unused_index',
      severity: 'warning',
      object: r.index,
      detail: `${r.scans} scans, ${mb(r.bytes)} on ${r.table}${lowConfidence ? ' (statistics are recent: low confidence)' : ''}`,
      suggestion: 'Drop it if no replica or rare job uses it (check every replica first).',
      sql: `DROP INDEX CONCURRENTLY ${r.index};`,
    }));
}

/**
 * Duplicate indexes (PgHero): an index whose key columns are a leading prefix of another valid index
 * on the same table, with the same method, expressions and predicate. A unique index is only a
 * duplicate of a unique index with the same keys.
 */
export function duplicateIndexes(rows: IndexRow[]): PgFinding[] {
  const out: PgFinding[] = [];
  const valid = rows.filter((r) => r.valid);
  for (const a of valid) {
    const ak = ints(a.keys).slice(0, a.nkeys);
    const ac = ints(a.opclasses).slice(0, a.nkeys);
    for (const b of valid) {
      if (a === b || String(a.table_oid) !== String(b.table_oid)) continue;
      if (a.method !== b.method || a.exprs !== b.exprs || a.pred !== b.pred) continue;
      const bk = ints(b.keys).slice(0, b.nkeys);
      const bc = ints(b.opclasses).slice(0, b.nkeys);
      if (ak.length > bk.length || !ak.every((k, i) => k === bk[i] && ac[i] === bc[i])) continue;
      const same = ak.length === bk.length;
      const rank = (x: IndexRow) => (x.primary ? 2 : x.unique ? 1 : 0);
      if (same) {
        // Of two identical indexes report one: keep the primary/unique one, else the first by name.
        if (a.primary || (a.unique && !b.unique)) continue;
        if (rank(b) < rank(a) || (rank(b) === rank(a) && b.index > a.index)) continue;
      } else if (a.unique || a.primary) continue;
      out.push({
        check: 'duplicate_index',
        severity: 'warning',
        object: a.index,
        detail: `covered by ${b.index} (${b.def})`,
        suggestion: `Drop ${a.index}; ${b.index} serves the same lookups.`,
        sql: `DROP INDEX CONCURRENTLY ${a.index};`,
      });
      break;
    }
  }
  return out;
}

/** Invalid indexes (a failed CREATE INDEX CONCURRENTLY): they slow writes and serve no reads. */
export function invalidIndexes(rows: IndexRow[]): PgFinding[] {
  return rows
    .filter((r) => !r.valid)
    .map((r) => ({
      check: 'invalid_index',
      severity: 'warning',
      object: r.index,
      detail: `invalid index on ${r.table}: ${r.def}`,
      suggestion:
        'Rebuild it (after fixing what made the build fail, e.g. duplicates for a unique index) or drop it.',
      sql: `REINDEX INDEX CONCURRENTLY ${r.index};  -- or: DROP INDEX CONCURRENTLY ${r.index};`,
    }));
}

/** Constraints added NOT VALID and never validated: existing rows are unchecked. */
export function notValidatedConstraints(rows: ConstraintRow[]): PgFinding[] {
  return rows
    .filter((r) => !r.validated)
    .map((r) => ({
      check: 'not_validated_constraint',
      severity: 'warning',
      object: `${r.table}.${r.name}`,
      detail: 'constraint is NOT VALID: rows written before it was added are not checked',
      suggestion: 'Validate it (takes a SHARE UPDATE EXCLUSIVE lock only).',
      sql: `ALTER TABLE ${r.table} VALIDATE CONSTRAINT ${r.name};`,
    }));
}

/** Foreign keys whose columns are not the leading columns of any index (slow deletes on the parent). */
export function foreignKeysWithoutIndex(cons: ConstraintRow[], idx: IndexRow[]): PgFinding[] {
  return cons
    .filter((c) => c.type === 'f')
    .filter((c) => {
      const fk = ints(c.keys);
      return !idx.some((i) => {
        if (String(i.table_oid) !== String(c.table_oid) || !i.valid || i.pred) return false;
        const lead = ints(i.keys).slice(0, fk.length);
        return lead.length === fk.length && fk.every((k) => lead.includes(k));
      });
    })
    .map((c) => ({
      check: 'foreign_key_without_index',
      severity: 'warning',
      object: `${c.table}.${c.name}`,
      detail: `foreign key (${c.columns}) has no index: deletes and updates on the referenced table scan ${c.table}`,
      suggestion: 'Index the foreign key columns.',
      sql: `CREATE INDEX CONCURRENTLY ON ${c.table} (${c.columns});`,
    }));
}

/** Missing indexes (PgHero): < missingIndexMaxPercent index scans with >= missingIndexMinRows live rows. */
export function missingIndexes(rows: TableRow[], o: Opts, lowConfidence: boolean): PgFinding[] {
  return rows
    .filter((r) => r.seq_scans + r.idx_scans > 0 && r.live >= o.missingIndexMinRows)
    .map((r) => ({ r, pct: (100 * r.idx_scans) / (r.seq_scans + r.idx_scans) }))
    .filter(({ pct }) => pct < o.missingIndexMaxPercent)
    .map(({ r, pct }) => ({
      check: 'missing_index',
      severity: 'warning',
      object: r.table,
      detail: `index used in ${pct.toFixed(1)}% of scans (${r.seq_scans} sequential) with ~${r.live} rows${lowConfidence ? ' (statistics are recent: low confidence)' : ''}`,
      suggestion:
        'Find the sequential-scan queries (pg_stat_statements, dbkit explain()) and index their filter columns.',
    }));
}

/** Cache hit ratio below cacheHitRateMin for tables or indexes. */
export function cacheHitRatio(
  r: {
    table_hit: number | null;
    table_read: number | null;
    index_hit: number | null;
    index_read: number | null;
  },
  o: Opts,
): PgFinding[] {
  const out: PgFinding[] = [];
  for (const [kind, hit, read] of [
    ['tables', r.table_hit ?? 0, r.table_read ?? 0],
    ['indexes', r.index_hit ?? 0, r.index_read ?? 0],
  ] as const) {
    if (hit + read === 0) continue;
    const ratio = hit / (hit + read);
    if (ratio < o.cacheHitRateMin)
      out.push({
        check: 'cache_hit_ratio',
        severity: 'warning',
        object: kind,
        detail: `${kind} cache hit ratio ${(ratio * 100).toFixed(2)}% (< ${(o.cacheHitRateMin * 100).toFixed(0)}%)`,
        suggestion:
          'The working set does not fit in shared_buffers: add memory, or find the queries reading the most blocks.',
      });
  }
  return out;
}

/** The largest tables and indexes (info). */
export function relationSizes(tables: TableRow[], idx: IndexRow[], o: Opts): PgFinding[] {
  const top = <T>(xs: T[], size: (x: T) => number) =>
    [...xs].sort((a, b) => size(b) - size(a)).slice(0, o.largestRelations);
  return [
    ...top(tables, (t) => t.bytes).map((t) => ({
      object: t.table,
      bytes: t.bytes,
      kind: 'table (with indexes and TOAST)',
    })),
    ...top(idx, (i) => i.bytes).map((i) => ({ object: i.index, bytes: i.bytes, kind: 'index' })),
  ].map((x) => ({
    check: 'relation_size' as const,
    severity: 'info' as const,
    object: x.object,
    detail: `${x.kind}: ${mb(x.bytes)}`,
    suggestion: 'For capacity planning.',
  }));
}

/** Table bloat estimate from dead tuples (n_dead_tup / (live + dead)). */
export function tableBloat(rows: TableRow[], o: Opts): PgFinding[] {
  return rows
    .filter(
      (r) =>
        r.dead >= o.tableBloatMinDeadTuples && r.dead / Math.max(1, r.live + r.dead) >= o.tableBloatMinRatio,
    )
    .map((r) => ({
      check: 'table_bloat',
      severity: 'warning',
      object: r.table,
      detail: `${r.dead} dead tuples (${((100 * r.dead) / (r.live + r.dead)).toFixed(0)}% of the table)`,
      suggestion:
        'Vacuum it and check autovacuum keeps up (or a long transaction holds the xmin horizon back).',
      sql: `VACUUM (ANALYZE) ${r.table};`,
    }));
}

/**
 * B-tree index bloat estimate: expected pages from reltuples x (8-byte tuple header + MAXALIGN'd key
 * width + 4-byte line pointer) over the usable page space at the index's fillfactor; bloat is the rest.
 * Needs ANALYZE statistics (skipped for expression indexes and indexes without pg_stats rows).
 */
export function indexBloat(rows: IndexRow[], o: Opts): PgFinding[] {
  const out: PgFinding[] = [];
  for (const r of rows) {
    if (r.method !== 'btree' || r.exprs || r.avg_width == null || r.relpages < 2) continue;
    const tuple = 8 + Math.ceil(r.avg_width / 8) * 8 + 4;
    const usable = ((r.block_size - 24 - 16) * r.fillfactor) / 100;
    const expectedPages = Math.ceil((Math.max(0, r.reltuples) * tuple) / usable) + 1;
    const bloatBytes = Math.max(0, r.relpages - expectedPages) * r.block_size;
    const ratio = bloatBytes / (r.relpages * r.block_size);
    if (bloatBytes >= o.indexBloatMinBytes && ratio >= o.indexBloatMinRatio)
      out.push({
        check: 'index_bloat',
        severity: 'warning',
        object: r.index,
        detail: `~${mb(bloatBytes)} of ${mb(r.relpages * r.block_size)} is bloat (${(ratio * 100).toFixed(0)}%)`,
        suggestion: 'Rebuild it without blocking writes.',
        sql: `REINDEX INDEX CONCURRENTLY ${r.index};`,
      });
  }
  return out;
}

const TYPE_MAX: Record<string, number> = {
  smallint: 32767,
  integer: 2147483647,
  bigint: 2 ** 63 - 1,
};

/** Sequences above sequenceMaxRatio of the smaller of their own max and their column type's max. */
export function sequenceOverflow(rows: SequenceRow[], o: Opts): PgFinding[] {
  return rows.flatMap((r) => {
    const colMax = r.column_type ? TYPE_MAX[r.column_type] : undefined;
    const limit = Math.min(r.seq_max, colMax ?? Number.POSITIVE_INFINITY);
    const ratio = r.last_value / limit;
    if (ratio < o.sequenceMaxRatio) return [];
    const col = r.table && r.column ? `${r.table}.${r.column}` : undefined;
    return [
      {
        check: 'sequence_overflow' as const,
        severity: (ratio >= 0.99 ? 'critical' : 'warning') as FindingSeverity,
        object: r.sequence,
        detail: `${(ratio * 100).toFixed(1)}% used (${r.last_value} of ${limit}${col ? `, feeds ${col} ${r.column_type}` : ''})`,
        suggestion:
          'Widen the column and the sequence to bigint before inserts start failing (the ALTER rewrites the table).',
        sql: col
          ? `ALTER TABLE ${r.table} ALTER COLUMN ${r.column} TYPE bigint; ALTER SEQUENCE ${r.sequence} AS bigint;`
          : `ALTER SEQUENCE ${r.sequence} AS bigint;`,
      },
    ];
  });
}

/** Tables with fewer than wraparoundMinLeft transaction IDs before wraparound (PgHero: 1.5 billion). */
export function wraparound(rows: Array<{ table: string; left: number }>, o: Opts): PgFinding[] {
  return rows
    .filter((r) => r.left < o.wraparoundMinLeft)
    .map((r) => ({
      check: 'transaction_id_wraparound',
      severity: r.left < 100_000_000 ? 'critical' : 'warning',
      object: r.table,
      detail: `${r.left} transaction IDs left before wraparound`,
      suggestion:
        'Freeze it now and check why autovacuum has not (long transactions, abandoned replication slots).',
      sql: `VACUUM (FREEZE, VERBOSE) ${r.table};`,
    }));
}

/** When the statistics were reset: usage-based checks need time to be meaningful. */
export function statsReset(
  r: { reset: Date | null; age_ms: number | null } | undefined,
  o: Opts,
): PgFinding[] {
  if (!r?.reset || r.age_ms == null || r.age_ms >= o.statsMinAgeMs) return [];
  return [
    {
      check: 'stats_reset',
      severity: 'info',
      object: 'database',
      detail: `statistics were reset ${(r.age_ms / 3600000).toFixed(1)} h ago (${r.reset.toISOString()})`,
      suggestion:
        'Unused- and missing-index findings are low confidence until statistics cover a full week of traffic.',
    },
  ];
}
