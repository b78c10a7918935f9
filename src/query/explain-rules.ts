import { filterColumns, type PlanNode, walkPlan } from './explain-plan.js';

/** How bad a finding is. */
export type FindingSeverity = 'info' | 'warning' | 'critical';

/** Which rule produced a finding. */
export type FindingRule =
  | 'seq-scan-large-table'
  | 'row-misestimate'
  | 'sort-spill'
  | 'hash-spill'
  | 'nested-loop-many-loops'
  | 'dominant-node'
  | 'lossy-bitmap-scan';

/** One problem found in a plan, with a concrete fix. */
export interface ExplainFinding {
  rule: FindingRule;
  severity: FindingSeverity;
  /** What is wrong, with the figures. */
  message: string;
  /** What to do: the index to create, the work_mem to set, the statistics to gather. */
  suggestion: string;
  /** The plan node it is about. */
  node: PlanNode;
  /** The table involved, when there is one. */
  relation?: string;
  /** Figures behind the finding (rows, ratio, kB, loops, share). */
  details: Record<string, number | string>;
}

/** Thresholds of the rules (see ExplainOptions for their defaults). */
export interface RuleThresholds {
  largeTableRows: number;
  selectivity: number;
  misestimateRatio: number;
  misestimateMinRows: number;
  nestedLoopMinLoops: number;
  dominantShare: number;
  dominantMinMs: number;
}

const kbToSetting = (kb: number) => (kb >= 1024 ? `${Math.ceil(kb / 1024)}MB` : `${Math.ceil(kb)}kB`);
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2));

function indexSuggestion(relation: string, cond: string | undefined): { sql: string; columns: string[] } {
  const { equality, range } = filterColumns(cond);
  const columns = [...equality, ...range.slice(0, 1)];
  if (columns.length === 0)
    return { sql: `an index on ${relation} matching the filter ${cond ?? ''}`.trim(), columns };
  const quoted = columns.map((c) => (/^[a-z_][a-z0-9_]*$/.test(c) ? c : `"${c}"`));
  return { sql: `CREATE INDEX CONCURRENTLY ON ${relation} (${quoted.join(', ')});`, columns };
}

function ratio(a: number, b: number) {
  return Math.max(a, b) / Math.max(Math.min(a, b), 1);
}

/** Runs every rule over a parsed plan. `tableRows` maps relation name to its row count (pg_class.reltuples). */
export function analyzePlan(
  root: PlanNode,
  t: RuleThresholds,
  tableRows: ReadonlyMap<string, number>,
  executionTimeMs: number | undefined,
): ExplainFinding[] {
  const findings: ExplainFinding[] = [];
  const nodes = walkPlan(root);
  const analyzed = root.actualLoops !== undefined;

  for (const n of nodes) {
    const loops = n.actualLoops ?? 1;
    // 1. Sequential scan of a large table keeping few rows.
    if (n.nodeType.endsWith('Seq Scan') && n.filter && n.relationName) {
      const scanned = analyzed && loops > 0 ? (n.actualRows ?? 0) + (n.rowsRemovedByFilter ?? 0) : 0;
      const total = Math.max(tableRows.get(n.relationName) ?? 0, scanned);
      const kept = analyzed ? (n.actualRows ?? 0) : n.planRows;
      if (total >= t.largeTableRows && kept / total <= t.selectivity) {
        const idx = indexSuggestion(n.relationName, n.filter);
        findings.push({
          rule: 'seq-scan-large-table',
          severity: total >= t.largeTableRows * 100 ? 'critical' : 'warning',
          message: `Seq Scan on ${n.relationName} reads ~${fmt(total)} rows to keep ${fmt(kept)} (${((kept / total) * 100).toFixed(2)}%) with filter ${n.filter}`,
          suggestion: `Index the filtered column${idx.columns.length > 1 ? 's' : ''}: ${idx.sql}`,
          node: n,
          relation: n.relationName,
          details: { tableRows: total, keptRows: kept, columns: idx.columns.join(',') },
        });
      }
    }
    // 2. Row estimate off by more than the ratio: report the node where it starts, not every ancestor.
    if (analyzed && loops > 0 && n.actualRows !== undefined) {
      const r = ratio(n.planRows, n.actualRows);
      const big = Math.max(n.planRows, n.actualRows) >= t.misestimateMinRows;
      const childOff = n.children.some(
        (c) =>
          c.actualRows !== undefined &&
          (c.actualLoops ?? 0) > 0 &&
          ratio(c.planRows, c.actualRows) > t.misestimateRatio,
      );
      if (r > t.misestimateRatio && big && !childOff) {
        const rel = n.relationName;
        const cols = filterColumns(n.filter ?? n.indexCond ?? n.recheckCond);
        const all = [...cols.equality, ...cols.range];
        const stats =
          rel && all.length >= 2
            ? ` If the columns are correlated, add extended statistics: CREATE STATISTICS ON ${all.join(', ')} FROM ${rel}; ANALYZE ${rel};`
            : '';
        findings.push({
          rule: 'row-misestimate',
          severity: r > t.misestimateRatio * 10 ? 'critical' : 'warning',
          message: `${n.nodeType}${rel ? ` on ${rel}` : ''}: planner estimated ${fmt(n.planRows)} rows, got ${fmt(n.actualRows)} (${Math.round(r)}x off)`,
          suggestion: rel
            ? `Refresh statistics: ANALYZE ${rel}; (check autovacuum/autoanalyze for it).${stats}`
            : `Fix the estimates of the inputs (ANALYZE the joined tables, extended statistics on the join/filter columns); bad join estimates pick bad join methods.`,
          node: n,
          ...(rel ? { relation: rel } : {}),
          details: { estimatedRows: n.planRows, actualRows: n.actualRows, ratio: r },
        });
      }
    }
    // 3. Sort spilling to disk.
    if (n.nodeType === 'Sort' && (n.sortSpaceType === 'Disk' || /external/i.test(n.sortMethod ?? ''))) {
      const kb = n.sortSpaceUsedKb ?? 0;
      findings.push({
        rule: 'sort-spill',
        severity: 'warning',
        message: `Sort (${n.sortMethod ?? 'external'}) spilled ${fmt(kb)} kB to disk sorting by ${n.sortKey?.join(', ') ?? '?'}`,
        suggestion: `Give the sort enough memory: SET LOCAL work_mem = '${kbToSetting(kb * 2)}' for this query (it needed ~${fmt(kb)} kB on disk, more in memory), or add an index on (${n.sortKey?.join(', ') ?? 'the sort key'}) so no sort is needed.`,
        node: n,
        details: { diskKb: kb, workMemSuggested: kbToSetting(kb * 2) },
      });
    }
    // 4. Hash (join) or HashAggregate in several batches: the hash table did not fit in work_mem.
    const batches = n.hashBatches ?? 0;
    if (n.nodeType === 'Hash' && batches > 1) {
      const needKb = (n.peakMemoryUsageKb ?? 0) * batches;
      findings.push({
        rule: 'hash-spill',
        severity: 'warning',
        message: `Hash ran in ${batches} batches (peak ${fmt(n.peakMemoryUsageKb ?? 0)} kB per batch): the hash table spilled to disk`,
        suggestion: `SET LOCAL work_mem = '${kbToSetting(needKb * 1.5)}' (the whole hash table is ~${fmt(needKb)} kB), or hash the smaller side / filter rows before the join.`,
        node: n,
        details: { batches, peakKb: n.peakMemoryUsageKb ?? 0, workMemSuggested: kbToSetting(needKb * 1.5) },
      });
    }
    if (n.nodeType === 'Aggregate' && ((n.hashAggBatches ?? 0) > 1 || (n.diskUsageKb ?? 0) > 0)) {
      const needKb = (n.peakMemoryUsageKb ?? 0) + (n.diskUsageKb ?? 0);
      findings.push({
        rule: 'hash-spill',
        severity: 'warning',
        message: `HashAggregate spilled ${fmt(n.diskUsageKb ?? 0)} kB to disk in ${n.hashAggBatches ?? '?'} batches`,
        suggestion: `SET LOCAL work_mem = '${kbToSetting(needKb * 1.5)}' (or raise hash_mem_multiplier) so the groups fit in memory.`,
        node: n,
        details: { diskKb: n.diskUsageKb ?? 0, workMemSuggested: kbToSetting(needKb * 1.5) },
      });
    }
    // 5. Nested loop whose inner side runs many times.
    if (n.nodeType === 'Nested Loop' && n.children.length >= 2) {
      const outer = n.children.find((c) => c.parentRelationship === 'Outer') ?? n.children[0]!;
      const inner = n.children.find((c) => c.parentRelationship === 'Inner') ?? n.children[1]!;
      const innerLoops = analyzed ? (inner.actualLoops ?? 0) : outer.planRows;
      if (innerLoops >= t.nestedLoopMinLoops) {
        const innerScans = walkPlan(inner);
        const seq = innerScans.find((c) => c.nodeType.endsWith('Seq Scan'));
        const rel = (seq ?? innerScans.find((c) => c.relationName))?.relationName;
        const cond = seq?.filter ?? n.joinFilter;
        findings.push({
          rule: 'nested-loop-many-loops',
          severity: seq ? 'critical' : 'warning',
          message: `Nested Loop runs its inner side (${inner.nodeType}${rel ? ` on ${rel}` : ''}) ${fmt(innerLoops)} times${seq ? ', each a sequential scan' : ''}`,
          suggestion: seq
            ? `Index the join column so each loop is an index lookup: ${indexSuggestion(rel ?? 'the inner table', cond).sql} or let the planner hash join (ANALYZE both tables so it sees the real row counts).`
            : `${fmt(innerLoops)} index lookups: a Hash Join is usually cheaper at this size. Check the outer estimate (${fmt(outer.planRows)} rows planned) with ANALYZE, and that enable_hashjoin/enable_mergejoin are not off.`,
          node: n,
          ...(rel ? { relation: rel } : {}),
          details: { loops: innerLoops, outerPlanRows: outer.planRows },
        });
      }
    }
    // 6. Lossy bitmap heap scan: the bitmap did not fit in work_mem and every row on lossy pages is rechecked.
    if (n.nodeType === 'Bitmap Heap Scan' && (n.lossyHeapBlocks ?? 0) > 0) {
      const pages = (n.exactHeapBlocks ?? 0) + (n.lossyHeapBlocks ?? 0);
      // ~64 bytes of bitmap per heap page when exact (tidbitmap PagetableEntry plus hash overhead).
      const needKb = Math.max(64, (pages * 64 * 2) / 1024);
      findings.push({
        rule: 'lossy-bitmap-scan',
        severity: 'warning',
        message: `Bitmap Heap Scan on ${n.relationName ?? '?'} went lossy on ${fmt(n.lossyHeapBlocks ?? 0)} of ${fmt(pages)} pages; rows there are rechecked against ${n.recheckCond ?? 'the condition'}`,
        suggestion: `SET LOCAL work_mem = '${kbToSetting(needKb)}' keeps the bitmap exact; or make the condition more selective so fewer pages match.`,
        node: n,
        ...(n.relationName ? { relation: n.relationName } : {}),
        details: {
          lossyBlocks: n.lossyHeapBlocks ?? 0,
          exactBlocks: n.exactHeapBlocks ?? 0,
          workMemSuggested: kbToSetting(needKb),
        },
      });
    }
  }
  // 7. One node taking most of the execution time.
  if (
    analyzed &&
    executionTimeMs !== undefined &&
    executionTimeMs >= t.dominantMinMs &&
    executionTimeMs > 0
  ) {
    let top: PlanNode | undefined;
    for (const n of nodes) if ((n.exclusiveTimeMs ?? 0) > (top?.exclusiveTimeMs ?? 0)) top = n;
    const share = (top?.exclusiveTimeMs ?? 0) / executionTimeMs;
    if (top && share >= t.dominantShare) {
      findings.push({
        rule: 'dominant-node',
        severity: share >= 0.9 ? 'warning' : 'info',
        message: `${top.nodeType}${top.relationName ? ` on ${top.relationName}` : ''} takes ${(share * 100).toFixed(0)}% of the ${fmt(executionTimeMs)} ms`,
        suggestion: dominantAdvice(top),
        node: top,
        ...(top.relationName ? { relation: top.relationName } : {}),
        details: { share, nodeMs: top.exclusiveTimeMs ?? 0, executionMs: executionTimeMs },
      });
    }
  }
  return findings;
}

function dominantAdvice(n: PlanNode): string {
  if (n.nodeType.endsWith('Seq Scan') && n.relationName)
    return n.filter
      ? `Start here: ${indexSuggestion(n.relationName, n.filter).sql}`
      : `Start here: the query reads all of ${n.relationName}; add a selective WHERE, paginate, or pre-aggregate.`;
  if (n.nodeType === 'Sort' || n.nodeType === 'Incremental Sort')
    return `Start here: an index on (${n.sortKey?.join(', ') ?? 'the sort key'}) returns rows already ordered; with LIMIT it avoids the sort.`;
  if (n.nodeType.includes('Hash'))
    return 'Start here: reduce the rows hashed (filter earlier) or give the hash enough work_mem.';
  if (n.nodeType === 'Nested Loop')
    return 'Start here: the loop count; index the inner join key or allow a hash join.';
  if (n.nodeType.includes('Aggregate'))
    return 'Start here: aggregate fewer rows (filter first) or keep the aggregate precomputed (materialized view, summary table).';
  if (n.nodeType.includes('Index'))
    return `Start here: ${n.indexName ?? 'the index'} is read many times or returns many rows; check selectivity and whether a covering (INCLUDE) index avoids heap reads.`;
  return `Start here: this ${n.nodeType} node is where the time goes.`;
}
