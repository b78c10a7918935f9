/** One node of an EXPLAIN (FORMAT JSON) plan, with the fields dbkit's rules read, in camelCase. */
export interface PlanNode {
  /** 'Seq Scan', 'Index Scan', 'Hash Join', 'Sort', ... */
  nodeType: string;
  /** 'Outer', 'Inner', 'InitPlan', 'SubPlan', ... (absent on the root). */
  parentRelationship?: string;
  relationName?: string;
  alias?: string;
  indexName?: string;
  joinType?: string;
  startupCost: number;
  totalCost: number;
  /** Estimated rows per loop. */
  planRows: number;
  planWidth: number;
  /** Actual rows per loop (ANALYZE only). */
  actualRows?: number;
  /** Times the node ran (ANALYZE only). */
  actualLoops?: number;
  /** Actual total time per loop in ms (ANALYZE only). */
  actualTotalTimeMs?: number;
  /** Time spent in this node alone across all loops, children excluded (ANALYZE only). */
  exclusiveTimeMs?: number;
  /** Time of this node including children across all loops (ANALYZE only). */
  inclusiveTimeMs?: number;
  filter?: string;
  rowsRemovedByFilter?: number;
  indexCond?: string;
  recheckCond?: string;
  hashCond?: string;
  joinFilter?: string;
  sortKey?: string[];
  sortMethod?: string;
  sortSpaceUsedKb?: number;
  sortSpaceType?: string;
  hashBatches?: number;
  originalHashBatches?: number;
  peakMemoryUsageKb?: number;
  diskUsageKb?: number;
  hashAggBatches?: number;
  exactHeapBlocks?: number;
  lossyHeapBlocks?: number;
  sharedHitBlocks?: number;
  sharedReadBlocks?: number;
  tempReadBlocks?: number;
  tempWrittenBlocks?: number;
  children: PlanNode[];
  /** The node as Postgres returned it. */
  raw: Record<string, unknown>;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Converts one JSON plan node (and its subtree) into a {@link PlanNode}.
 *
 * @example
 * ```ts
 * const [row] = await sql.unsafe('explain (format json) select * from orders');
 * const plan = parsePlanNode(row['QUERY PLAN'][0].Plan);
 * ```
 */
export function parsePlanNode(raw: Record<string, unknown>): PlanNode {
  const children = Array.isArray(raw.Plans)
    ? (raw.Plans as Record<string, unknown>[]).map((p) => parsePlanNode(p))
    : [];
  const node: PlanNode = {
    nodeType: str(raw['Node Type']) ?? 'Unknown',
    startupCost: num(raw['Startup Cost']) ?? 0,
    totalCost: num(raw['Total Cost']) ?? 0,
    planRows: num(raw['Plan Rows']) ?? 0,
    planWidth: num(raw['Plan Width']) ?? 0,
    children,
    raw,
  };
  const set = <K extends keyof PlanNode>(k: K, v: PlanNode[K] | undefined) => {
    if (v !== undefined) node[k] = v;
  };
  set('parentRelationship', str(raw['Parent Relationship']));
  set('relationName', str(raw['Relation Name']));
  set('alias', str(raw.Alias));
  set('indexName', str(raw['Index Name']));
  set('joinType', str(raw['Join Type']));
  set('actualRows', num(raw['Actual Rows']));
  set('actualLoops', num(raw['Actual Loops']));
  set('actualTotalTimeMs', num(raw['Actual Total Time']));
  set('filter', str(raw.Filter));
  set('rowsRemovedByFilter', num(raw['Rows Removed by Filter']));
  set('indexCond', str(raw['Index Cond']));
  set('recheckCond', str(raw['Recheck Cond']));
  set('hashCond', str(raw['Hash Cond']));
  set('joinFilter', str(raw['Join Filter']));
  if (Array.isArray(raw['Sort Key'])) node.sortKey = (raw['Sort Key'] as unknown[]).map(String);
  set('sortMethod', str(raw['Sort Method']));
  set('sortSpaceUsedKb', num(raw['Sort Space Used']));
  set('sortSpaceType', str(raw['Sort Space Type']));
  set('hashBatches', num(raw['Hash Batches']));
  set('originalHashBatches', num(raw['Original Hash Batches']));
  set('peakMemoryUsageKb', num(raw['Peak Memory Usage']));
  set('diskUsageKb', num(raw['Disk Usage']));
  set('hashAggBatches', num(raw['HashAgg Batches']));
  set('exactHeapBlocks', num(raw['Exact Heap Blocks']));
  set('lossyHeapBlocks', num(raw['Lossy Heap Blocks']));
  set('sharedHitBlocks', num(raw['Shared Hit Blocks']));
  set('sharedReadBlocks', num(raw['Shared Read Blocks']));
  set('tempReadBlocks', num(raw['Temp Read Blocks']));
  set('tempWrittenBlocks', num(raw['Temp Written Blocks']));
  if (node.actualTotalTimeMs !== undefined) {
    const loops = node.actualLoops ?? 1;
    node.inclusiveTimeMs = node.actualTotalTimeMs * loops;
    const childMs = children.reduce((s, c) => s + (c.inclusiveTimeMs ?? 0), 0);
    node.exclusiveTimeMs = Math.max(0, node.inclusiveTimeMs - childMs);
  }
  return node;
}

/**
 * Every node of the tree, depth first (root first).
 *
 * @example
 * ```ts
 * const seqScans = walkPlan((await explain(sql, query)).plan).filter((n) => n.nodeType === 'Seq Scan');
 * ```
 */
export function walkPlan(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(node);
  for (const c of node.children) walkPlan(c, out);
  return out;
}

/**
 * Column names compared in a filter/condition (`(status = 'x'::text) AND (amount > 10)` -> status, amount).
 *
 * @example
 * ```ts
 * filterColumns("((status = 'paid'::text) AND (amount > 10))") // { equality: ['status'], range: ['amount'] }
 * ```
 */
export function filterColumns(cond: string | undefined): { equality: string[]; range: string[] } {
  const equality: string[] = [];
  const range: string[] = [];
  if (!cond) return { equality, range };
  const text = cond.replace(/'(?:[^']|'')*'/g, "''");
  const re =
    /([a-z_][a-z0-9_$]*|"[^"]+")\)?(?:::[a-z ]+)?\s*(=|<>|!=|<=|>=|<|>|~~\*?|!~~\*?|IS NOT|IS)\s*(?!\()/gi;
  for (const m of text.matchAll(re)) {
    const col = m[1]!;
    const before = text.slice(0, m.index);
    // skip the right-hand side of a comparison between two columns' qualifier (alias.col keeps col)
    if (/[a-z0-9_]$/i.test(before)) continue;
    const op = m[2]!.toUpperCase();
    const target = op === '=' || op.startsWith('IS') ? equality : range;
    const name = col.replace(/^"|"$/g, '');
    if (!equality.includes(name) && !range.includes(name) && !/^(and|or|not|true|false|null)$/i.test(name))
      target.push(name);
  }
  return { equality, range };
}
