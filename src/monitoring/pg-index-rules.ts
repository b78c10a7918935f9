/**
 * Index and constraint rules of pgChecks, compared with PgHero's (lib/pghero/methods/indexes.rb,
 * constraints.rb): same defaults, plus what PgHero leaves out (sort order, collation and INCLUDE columns in
 * duplicate detection, fixes that account for constraints and foreign keys, evidence for missing indexes).
 */
import { type FindingConfidence, formatBytes } from './finding.js';
import type { PgCheckOptions } from './options.js';
import {
  type ConstraintRow,
  type IndexRow,
  ints,
  type PgFinding,
  type ProbeResults,
  type TableRow,
} from './pg-check-types.js';

/** How old the statistics are: usage-based findings are less certain on young statistics. */
export type StatsAge = 'recent' | 'old' | 'unknown';

const usageConfidence = (age: StatsAge): FindingConfidence =>
  age === 'recent' ? 'low' : age === 'old' ? 'high' : 'medium';
const lowNote = (age: StatsAge) => (age === 'recent' ? ' (statistics are recent: low confidence)' : '');
const concurrently = (r: IndexRow) => (r.index_kind === 'I' ? '' : ' CONCURRENTLY');

interface KeyColumn {
  attnum: number;
  opclass: number;
  collation: number;
  option: number;
}

function keyColumns(r: IndexRow): KeyColumn[] {
  const opclasses = ints(r.opclasses);
  const collations = ints(r.collations);
  const options = ints(r.options);
  return ints(r.keys)
    .slice(0, r.nkeys)
    .map((attnum, i) => ({
      attnum,
      opclass: opclasses[i] ?? 0,
      collation: collations[i] ?? 0,
      option: options[i] ?? 0,
    }));
}

/**
 * Does `b` serve every lookup, ordering and index-only scan that `a` serves, and enforce whatever `a` enforces?
 * - same table, access method, expressions and predicate (as PgHero);
 * - `a`'s key columns are a leading prefix of `b`'s (B-tree) or equal to them (other methods), with the same
 *   operator classes and collations (indclass, indcollation);
 * - the same sort order per column (indoption), or every column reversed: a B-tree scanned backwards gives
 *   `(x DESC NULLS FIRST)` from `(x)`, but `(a, b DESC)` is not `(a, b)` (ORDER BY a, b DESC would sort);
 * - every INCLUDE column of `a` is in `b` (else `a`'s index-only scans become heap fetches);
 * - a unique `a` needs a unique `b` on exactly the same keys, NULLS [NOT] DISTINCT and deferrability.
 */
export function indexCovers(b: IndexRow, a: IndexRow): boolean {
  if (a === b || String(a.table_oid) !== String(b.table_oid) || !b.valid || b.building) return false;
  if (a.method !== b.method || a.exprs !== b.exprs || a.pred !== b.pred) return false;
  const ak = keyColumns(a);
  const bk = keyColumns(b);
  if (a.method === 'btree' ? ak.length > bk.length : ak.length !== bk.length) return false;
  for (const [i, k] of ak.entries()) {
    const o = bk[i]!;
    if (k.attnum !== o.attnum || k.opclass !== o.opclass || k.collation !== o.collation) return false;
  }
  const sameOrder = ak.every((k, i) => k.option === bk[i]!.option);
  const reversed = a.method === 'btree' && ak.every((k, i) => (k.option ^ 3) === bk[i]!.option);
  if (!sameOrder && !reversed) return false;
  const bColumns = new Set(ints(b.keys));
  if (
    !ints(a.keys)
      .slice(a.nkeys)
      .every((c) => bColumns.has(c))
  )
    return false;
  if (a.unique || a.primary) {
    if (!b.unique || bk.length !== ak.length) return false;
    if (a.nulls_not_distinct !== b.nulls_not_distinct || a.immediate !== b.immediate) return false;
  }
  return true;
}

// Of two equivalent indexes, keep the one the schema depends on most; then the first by name (as PgHero).
const keepRank = (x: IndexRow) =>
  (x.primary ? 16 : 0) +
  (x.constraint_name ? 8 : 0) +
  (x.fk_refs > 0 ? 4 : 0) +
  (x.replica_identity ? 2 : 0) +
  (x.unique ? 1 : 0);
const keepsOver = (a: IndexRow, b: IndexRow) =>
  keepRank(a) !== keepRank(b) ? keepRank(a) > keepRank(b) : a.index < b.index;

/** How to get rid of index `x` in favour of `keep`, as a statement that runs (or why there is none). */
function dropFix(x: IndexRow, keep: IndexRow): { sql?: string; suggestion: string } {
  if (x.fk_refs > 0)
    return {
      suggestion: `${x.fk_refs} foreign key(s) reference ${x.table} through ${x.index}, so it cannot be dropped: drop and re-create those foreign keys once ${keep.index} exists, or keep both.`,
    };
  if (x.replica_identity)
    return {
      suggestion: `${x.index} is the REPLICA IDENTITY of ${x.table}: point it at ${keep.index} first (ALTER TABLE ${x.table} REPLICA IDENTITY USING INDEX ...), then drop ${x.index}.`,
    };
  if (x.constraint_type === 'u' && x.constraint_name)
    return {
      sql: `ALTER TABLE ${x.table} DROP CONSTRAINT ${x.constraint_name};`,
      suggestion: `${x.index} backs the UNIQUE constraint ${x.constraint_name} (DROP INDEX would fail): drop the constraint, whose index goes with it; ${keep.index} keeps enforcing uniqueness.`,
    };
  return {
    sql: `DROP INDEX${concurrently(x)} ${x.index};`,
    suggestion: `Drop ${x.index}: ${keep.index} serves the same lookups${x.unique ? ' and enforces the same uniqueness' : ''}. Check replicas and rare jobs first.`,
  };
}

/**
 * Duplicate indexes: an index another valid index {@link indexCovers covers}. Of two equivalent ones the
 * constraint's (or primary key's) index is kept and the other dropped; a primary key is never suggested for
 * dropping. Indexes of partitions attached to a partitioned index are judged through their parent.
 */
export function duplicateIndexes(rows: IndexRow[]): PgFinding[] {
  const live = rows.filter((r) => r.valid && !r.building && !r.attached);
  const drops = new Map<string, { drop: IndexRow; keep: IndexRow }>();
  for (const a of live) {
    if (a.exclusion || a.primary) continue;
    // `a` goes when another index covers it and is not merely equivalent to it and ranked below it.
    const [keep] = live
      .filter((b) => indexCovers(b, a) && !(indexCovers(a, b) && keepsOver(a, b)))
      .sort((x, y) => x.natts - y.natts || (keepsOver(x, y) ? -1 : 1));
    if (keep) drops.set(a.index, { drop: a, keep });
  }
  // Name the index that stays in the end: a chain a < b = c keeps c, so a and b both point at c.
  const finalKeep = (k: IndexRow) => {
    let x = k;
    for (let i = 0; i < 100 && drops.has(x.index); i++) x = drops.get(x.index)!.keep;
    return x;
  };
  return [...drops.values()].map(({ drop, keep }) => {
    const k = finalKeep(keep);
    const fix = dropFix(drop, k);
    return {
      check: 'duplicate_index',
      severity: 'warning',
      object: drop.index,
      detail: `${drop.def} is covered by ${k.index} (${k.def}); ${formatBytes(drop.bytes)}`,
      suggestion: fix.suggestion,
      ...(fix.sql ? { sql: fix.sql } : {}),
      value: drop.bytes,
      unit: 'bytes',
    };
  });
}

/** Unused indexes (PgHero: 0 scans on the overview page): at most unusedIndexMaxScans scans, at least unusedIndexMinBytes. */
export function unusedIndexes(rows: IndexRow[], o: PgCheckOptions, age: StatsAge): PgFinding[] {
  return rows
    .filter(
      (r) =>
        !r.unique &&
        !r.primary &&
        !r.exclusion &&
        !r.constraint_name &&
        !r.replica_identity &&
        r.valid &&
        !r.building &&
        !r.attached &&
        r.scans <= o.unusedIndexMaxScans &&
        r.bytes >= o.unusedIndexMinBytes,
    )
    .map((r) => ({
      check: 'unused_index',
      severity: 'warning',
      object: r.index,
      detail: `${r.scans} scans, ${formatBytes(r.bytes)} on ${r.table}${lowNote(age)}`,
      suggestion:
        'Drop it if no replica or rare job uses it (statistics are per server: check every replica first).',
      sql: `DROP INDEX${concurrently(r)} ${r.index};`,
      value: r.bytes,
      threshold: o.unusedIndexMinBytes,
      unit: 'bytes',
      confidence: usageConfidence(age),
    }));
}

/** The statement that lists the rows breaking an index's uniqueness (what makes its REINDEX fail). */
export function duplicateRowsQuery(r: IndexRow, limit = 100): string {
  const cols = r.columns.slice(0, r.nkeys);
  const where = [
    ...(r.nulls_not_distinct ? [] : cols.map((c) => `${c} IS NOT NULL`)),
    ...(r.pred ? [`(${r.pred})`] : []),
  ];
  const list = cols.join(', ');
  return `SELECT ${list}, count(*) AS copies FROM ${r.table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} GROUP BY ${list} HAVING count(*) > 1 ORDER BY copies DESC LIMIT ${limit};`;
}

/**
 * Invalid indexes (PgHero: indisvalid = false, skipping ones a CREATE INDEX CONCURRENTLY is still building).
 * They slow every write and serve no read. The fix depends on why: leftovers of REINDEX CONCURRENTLY are
 * dropped; a unique index whose table holds duplicates cannot be rebuilt until they are gone, so the finding
 * gives the query that lists them; a partitioned index waits for its partitions' indexes.
 */
export function invalidIndexes(rows: IndexRow[], probes: ProbeResults, version: number): PgFinding[] {
  const reindex = (r: IndexRow) => `REINDEX INDEX${version >= 120000 ? ' CONCURRENTLY' : ''} ${r.index};`;
  return rows
    .filter((r) => !r.valid && !r.building)
    .map((r): PgFinding => {
      const base = {
        check: 'invalid_index' as const,
        severity: 'warning' as const,
        object: r.index,
        detail: `invalid index on ${r.table}: ${r.def}`,
      };
      if (r.index_kind === 'I')
        return {
          ...base,
          detail: `${base.detail} (some partitions have no attached index yet)`,
          suggestion: `Create the index on each partition that lacks one (CREATE INDEX CONCURRENTLY ...) and attach it with ALTER INDEX ${r.index} ATTACH PARTITION ...; the parent becomes valid when every partition has one.`,
        };
      if (/_cc(new|old)\d*$/.test(r.index_name))
        return {
          ...base,
          detail: `${base.detail} (left behind by an interrupted REINDEX CONCURRENTLY)`,
          suggestion: 'Drop it: the original index is still in place.',
          sql: `DROP INDEX CONCURRENTLY ${r.index};`,
        };
      if (r.unique) {
        const dup = probes.duplicates.get(r.index);
        if (dup !== false)
          return {
            ...base,
            detail:
              dup === true
                ? `${base.detail}: ${r.table} holds rows with the same key, so REINDEX fails (23505)`
                : `${base.detail}: could not check in time whether ${r.table} holds duplicate keys (REINDEX fails if it does)`,
            suggestion: `Run the query to list the duplicate keys, remove or merge those rows, then ${reindex(r)} (or DROP INDEX CONCURRENTLY ${r.index}; if it is not needed).`,
            sql: duplicateRowsQuery(r),
          };
      }
      return {
        ...base,
        suggestion: `Rebuild it (or DROP INDEX CONCURRENTLY ${r.index}; if it is not needed).`,
        sql: reindex(r),
      };
    });
}

/** The statement that lists the rows a NOT VALID constraint rejects (what makes VALIDATE fail), or undefined. */
export function violatingRowsQuery(c: ConstraintRow, limit = 100): string | undefined {
  if (c.type === 'c' && c.check_expr)
    return `SELECT * FROM ${c.table} WHERE NOT (${c.check_expr}) LIMIT ${limit};`;
  if (c.type !== 'f' || !c.ref_table || c.columns.length !== c.ref_columns.length) return undefined;
  const col = (x: string) => `c.${x}`;
  const match = c.columns.map((x, i) => `p.${c.ref_columns[i]} = ${col(x)}`).join(' AND ');
  const missing = `NOT EXISTS (SELECT 1 FROM ${c.ref_table} AS p WHERE ${match})`;
  // MATCH SIMPLE skips rows with any NULL key column; MATCH FULL rejects a partly NULL key.
  const where =
    c.match_type === 'f'
      ? `(${c.columns.map((x) => `${col(x)} IS NOT NULL`).join(' OR ')}) AND (${[...c.columns.map((x) => `${col(x)} IS NULL`), missing].join(' OR ')})`
      : [...c.columns.map((x) => `${col(x)} IS NOT NULL`), missing].join(' AND ');
  return `SELECT c.* FROM ${c.table} AS c WHERE ${where} LIMIT ${limit};`;
}

/**
 * Constraints added NOT VALID and never validated (PgHero: invalid_constraints): rows written before are
 * unchecked. VALIDATE fails when such rows break the constraint, so then the finding gives the query that lists them.
 */
export function notValidatedConstraints(rows: ConstraintRow[], probes: ProbeResults): PgFinding[] {
  return rows
    .filter((r) => !r.validated && !r.inherited)
    .map((r): PgFinding => {
      const validate = `ALTER TABLE ${r.table} VALIDATE CONSTRAINT ${r.name};`;
      const object = `${r.table}.${r.name}`;
      const violations = probes.violations.get(object);
      const list = violatingRowsQuery(r);
      const base = {
        check: 'not_validated_constraint' as const,
        severity: 'warning' as const,
        object,
      };
      if (list && violations !== false)
        return {
          ...base,
          detail:
            violations === true
              ? 'constraint is NOT VALID and existing rows break it, so VALIDATE CONSTRAINT fails'
              : 'constraint is NOT VALID; could not check in time whether existing rows break it (VALIDATE fails if they do)',
          suggestion: `Run the query to list the rows that break it, fix or delete them, then ${validate}`,
          sql: list,
        };
      return {
        ...base,
        detail: 'constraint is NOT VALID: rows written before it was added are not checked',
        suggestion: 'Validate it (takes a SHARE UPDATE EXCLUSIVE lock only; writes go on).',
        sql: validate,
      };
    });
}

/** Foreign keys whose columns are not the leading columns of any valid B-tree or hash index (slow deletes on the parent). */
export function foreignKeysWithoutIndex(cons: ConstraintRow[], idx: IndexRow[]): PgFinding[] {
  return cons
    .filter((c) => c.type === 'f' && !c.inherited)
    .filter((c) => {
      const fk = ints(c.keys);
      return !idx.some((i) => {
        if (String(i.table_oid) !== String(c.table_oid) || !i.valid || i.pred) return false;
        if (i.method !== 'btree' && i.method !== 'hash') return false;
        const lead = ints(i.keys).slice(0, Math.min(i.nkeys, fk.length));
        return lead.length === fk.length && fk.every((k) => lead.includes(k));
      });
    })
    .map((c) => ({
      check: 'foreign_key_without_index',
      severity: 'warning',
      object: `${c.table}.${c.name}`,
      detail: `foreign key (${c.columns.join(', ')}) has no index: deletes and key updates on ${c.ref_table ?? 'the referenced table'} scan ${c.table}`,
      suggestion:
        c.table_kind === 'p'
          ? 'Index the foreign key columns (on a partitioned table CREATE INDEX locks every partition: to avoid that, create the index ON ONLY the parent, then CONCURRENTLY on each partition and ATTACH it).'
          : 'Index the foreign key columns.',
      sql: `CREATE INDEX${c.table_kind === 'p' ? '' : ' CONCURRENTLY'} ON ${c.table} (${c.columns.join(', ')});`,
    }));
}

/**
 * Missing indexes. PgHero flags tables of >= 10,000 rows with < 95% index scans, and only where idx_scan > 0
 * ("insufficient data" otherwise). dbkit asks for evidence: at least missingIndexMinSeqScans sequential scans
 * reading at least missingIndexMinRowsPerScan rows each on average. With index scans below 95% that is high
 * confidence; with no index scans at all (no usable index) medium; on statistics younger than statsMinAgeMs low.
 */
export function missingIndexes(rows: TableRow[], o: PgCheckOptions, age: StatsAge): PgFinding[] {
  const out: PgFinding[] = [];
  for (const r of rows) {
    if (r.live < o.missingIndexMinRows || r.seq_scans < o.missingIndexMinSeqScans) continue;
    const perScan = r.seq_rows / r.seq_scans;
    if (perScan < o.missingIndexMinRowsPerScan) continue;
    const pct = (100 * r.idx_scans) / (r.seq_scans + r.idx_scans);
    if (r.idx_scans > 0 && pct >= o.missingIndexMaxPercent) continue;
    const confidence: FindingConfidence = age === 'recent' ? 'low' : r.idx_scans > 0 ? 'high' : 'medium';
    out.push({
      check: 'missing_index',
      severity: 'warning',
      object: r.table,
      detail: `${r.seq_scans} sequential scans read ${Math.round(perScan)} rows each on average (~${r.live} rows); ${
        r.idx_scans > 0 ? `an index is used in ${pct.toFixed(1)}% of scans` : 'no index scans at all'
      } (${confidence} confidence${lowNote(age)})`,
      suggestion:
        'Find the statements that scan it (Queries section / pg_stat_statements, then dbkit/query explain()) and index the columns they filter on.',
      value: perScan,
      threshold: o.missingIndexMinRowsPerScan,
      unit: 'rows_per_scan',
      confidence,
    });
  }
  return out;
}
