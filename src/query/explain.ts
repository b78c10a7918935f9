import { importLib } from '../internal/import-lib.js';
import { ExplainError } from './errors.js';
import { type PlanNode, parsePlanNode, walkPlan } from './explain-plan.js';
import { analyzePlan, type ExplainFinding } from './explain-rules.js';
import { resolveQueryOptions } from './options.js';

/** Options of {@link explain}. */
export interface ExplainOptions {
  /** Run EXPLAIN ANALYZE (executes the statement; writes run in a transaction that is rolled back). @default false */
  analyze?: boolean;
  /** Add BUFFERS (shared/temp block counts). @default false */
  buffers?: boolean;
  /** Add SETTINGS (planner settings that differ from the defaults). @default false */
  settings?: boolean;
  /** Settings applied with SET LOCAL around the EXPLAIN (in a rolled-back transaction), e.g. `{ work_mem: '64kB' }`. @default undefined */
  set?: Record<string, string | number | boolean>;
  /** Parameters for a string query with `$1` placeholders. @default [] */
  params?: unknown[];
  /** A table counts as large from this many rows (seq-scan rule). @default 10000 */
  largeTableRows?: number;
  /** A filter is selective when it keeps at most this share of the rows (seq-scan rule). @default 0.1 */
  selectivity?: number;
  /** Estimate/actual ratio above which a node is misestimated; ten times it is critical. @default 10 */
  misestimateRatio?: number;
  /** Ignore misestimates where both counts are below this. @default 50 */
  misestimateMinRows?: number;
  /** Inner-side executions of a nested loop worth reporting. @default 1000 */
  nestedLoopMinLoops?: number;
  /** Share of the execution time one node must take to be reported. @default 0.5 */
  dominantShare?: number;
  /** Ignore the dominant-node rule for queries faster than this (ms). @default 1 */
  dominantMinMs?: number;
}

/** What {@link explain} returns. */
export interface ExplainResult {
  /** The statement explained (without the EXPLAIN prefix) and its parameters. */
  sql: string;
  params: unknown[];
  /** The plan tree. */
  plan: PlanNode;
  planningTimeMs?: number;
  executionTimeMs?: number;
  /** Problems found, worst first. */
  findings: ExplainFinding[];
  /** Whether the statement was executed (ANALYZE) and whether that happened in a rolled-back transaction. */
  analyzed: boolean;
  rolledBack: boolean;
  /** The JSON Postgres returned. */
  raw: unknown;
}

/** Anything explain() accepts as the query. */
export type ExplainQuery =
  | string
  | { sql: string; params?: unknown[] }
  | {
      /** A drizzle query builder (`db.select()...`). */
      toSQL(): { sql: string; params: unknown[] };
    }
  | {
      /** A drizzle `sql` template. */
      getSQL(): unknown;
    }
  | PromiseLike<unknown>;

type Rows = Record<string, unknown>[];
interface Runner {
  run(text: string, params: unknown[]): Promise<Rows>;
  /** Runs fn on one connection inside a transaction that is always rolled back. */
  rolledBack<T>(fn: (run: Runner['run']) => Promise<T>): Promise<T>;
}

type PgJs = ((...a: unknown[]) => unknown) & {
  unsafe(text: string, params?: unknown[]): Promise<Rows>;
  begin?: (fn: (tx: PgJs) => Promise<unknown>) => Promise<unknown>;
  savepoint?: (fn: (tx: PgJs) => Promise<unknown>) => Promise<unknown>;
};
type QueryLike = {
  query(text: string, params?: unknown[]): Promise<{ rows: Rows }>;
  connect?: () => Promise<QueryLike & { release(): void }>;
  totalCount?: number;
};

const ROLLBACK = Symbol('dbkit.explain.rollback');

function pgjsRunner(sql: PgJs): Runner {
  const run = (s: PgJs) => (text: string, params: unknown[]) => s.unsafe(text, params) as Promise<Rows>;
  return {
    run: run(sql),
    async rolledBack(fn) {
      let out: Awaited<ReturnType<typeof fn>> | undefined;
      const scoped = sql.begin ?? sql.savepoint;
      if (!scoped) throw new ExplainError('this postgres.js handle cannot open a transaction', {});
      try {
        await scoped.call(sql, async (tx: PgJs) => {
          out = await fn(run(tx));
          throw ROLLBACK;
        });
      } catch (e) {
        if (e !== ROLLBACK) throw e;
      }
      return out as Awaited<ReturnType<typeof fn>>;
    },
  };
}

function queryLikeRunner(client: QueryLike): Runner {
  const run = (c: QueryLike) => async (text: string, params: unknown[]) => (await c.query(text, params)).rows;
  return {
    run: run(client),
    async rolledBack(fn) {
      // A pg Pool hands out one client for the transaction; PGlite and pg.Client are one connection already.
      const c =
        typeof client.connect === 'function' && typeof client.totalCount === 'number'
          ? await client.connect()
          : client;
      try {
        await c.query('begin');
        try {
          return await fn(run(c));
        } finally {
          await c.query('rollback');
        }
      } finally {
        if (c !== client) (c as unknown as { release(): void }).release();
      }
    },
  };
}

function runnerFor(db: unknown): {
  runner: Runner;
  dialect?: { sqlToQuery(s: unknown): { sql: string; params: unknown[] } };
} {
  const d = db as Record<string, unknown> | undefined;
  if (typeof db === 'function' && typeof (db as PgJs).unsafe === 'function')
    return { runner: pgjsRunner(db as PgJs) };
  if (d && typeof d === 'object') {
    const dialect = d.dialect as { sqlToQuery?: unknown } | undefined;
    const withDialect = typeof dialect?.sqlToQuery === 'function' ? { dialect: dialect as never } : {};
    const session = d.session as { client?: unknown } | undefined;
    const client = session?.client ?? d.$client;
    if (client && client !== db) return { ...runnerFor(client), ...withDialect };
    if (typeof d.query === 'function') return { runner: queryLikeRunner(d as unknown as QueryLike) };
  }
  throw new ExplainError(
    'explain() needs a postgres.js sql, a drizzle database (postgres-js, pglite, node-postgres), a PGlite or a pg client',
    { got: typeof db },
  );
}

async function toStatement(
  query: ExplainQuery,
  params: unknown[] | undefined,
  dialect: { sqlToQuery(s: unknown): { sql: string; params: unknown[] } } | undefined,
): Promise<{ sql: string; params: unknown[] }> {
  if (typeof query === 'string') return { sql: query, params: params ?? [] };
  const q = query as Record<string, unknown>;
  if (typeof q.toSQL === 'function') return (q.toSQL as () => { sql: string; params: unknown[] })();
  if (typeof q.sql === 'string') return { sql: q.sql, params: (q.params as unknown[]) ?? params ?? [] };
  if (Array.isArray(q.queryChunks) && typeof q.getSQL === 'function') {
    const dl =
      dialect ??
      new (importLib<typeof import('drizzle-orm/pg-core')>('drizzle-orm/pg-core', 'explain()').PgDialect)();
    return dl.sqlToQuery(q as never);
  }
  // A postgres.js tagged template that was never awaited: rebuild $n text from its strings and plain values.
  if (Array.isArray(q.strings) && Array.isArray(q.args) && typeof q.handler === 'function') {
    const strings = q.strings as string[];
    const args = q.args as unknown[];
    if (args.some((a) => a !== null && typeof a === 'object' && !(a instanceof Date) && !Array.isArray(a)))
      throw new ExplainError(
        'explain() cannot expand postgres.js fragments/helpers; pass the SQL text and params',
        {},
      );
    return { sql: strings.reduce((s, part, i) => (i === 0 ? part : `${s}$${i}${part}`), ''), params: args };
  }
  throw new ExplainError(
    'explain() got a query it cannot read (string, drizzle query/sql, or { sql, params })',
    {},
  );
}

/** True for statements that cannot change data when executed (EXPLAIN ANALYZE runs them). */
export function isReadOnlyStatement(sql: string): boolean {
  const s = sql
    .replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ')
    .trim()
    .toLowerCase();
  if (/^(select|values|table|show)\b/.test(s))
    return (
      !/\bfor\s+(update|no key update|share|key share)\b/.test(s) &&
      !/\binto\b/.test(s.split(/\bfrom\b/)[0] ?? '')
    );
  if (s.startsWith('with')) return !/\b(insert|update|delete|merge)\b/.test(s);
  return false;
}

const severityRank = { critical: 0, warning: 1, info: 2 } as const;

/**
 * Runs EXPLAIN (FORMAT JSON) on a drizzle query or SQL and returns the typed plan plus findings, each with a
 * severity and a concrete suggestion. With `analyze`, statements that write run inside a rolled-back transaction.
 *
 * @example
 * ```ts
 * const { findings } = await explain(db, db.select().from(orders).where(eq(orders.customerId, 42)), { analyze: true });
 * for (const f of findings) console.log(f.severity, f.message, '->', f.suggestion);
 * ```
 */
export async function explain(
  db: unknown,
  query: ExplainQuery,
  options?: ExplainOptions,
): Promise<ExplainResult> {
  const o = resolveQueryOptions('explain', options);
  const { runner, dialect } = runnerFor(db);
  const stmt = await toStatement(query, o.params, dialect);
  const flags = ['FORMAT JSON'];
  if (o.analyze) flags.push('ANALYZE');
  if (o.buffers) flags.push('BUFFERS');
  if (o.settings) flags.push('SETTINGS');
  const text = `EXPLAIN (${flags.join(', ')}) ${stmt.sql}`;
  const set = Object.entries(o.set ?? {});
  for (const [k] of set)
    if (!/^[a-z_][a-z0-9_.]*$/i.test(k)) throw new ExplainError(`invalid setting name: ${k}`, { setting: k });
  const inTx = set.length > 0 || (o.analyze && !isReadOnlyStatement(stmt.sql));

  const body = async (run: Runner['run']) => {
    for (const [k, v] of set) await run('select set_config($1, $2, true)', [k, String(v)]);
    const rows = await run(text, stmt.params);
    const planRows = walkRoots(rows);
    const rels = [
      ...new Set(planRows.flatMap((p) => walkPlan(parsePlanNode(p.Plan)).map((n) => n.relationName))),
    ].filter((r): r is string => typeof r === 'string');
    const sizes = rels.length
      ? await run(
          'select relname, greatest(reltuples, 0)::float8 as n from pg_class where oid = any(select to_regclass(x) from unnest($1::text[]) x)',
          [rels],
        )
      : [];
    return { planRows, sizes };
  };
  let out: Awaited<ReturnType<typeof body>>;
  try {
    out = inTx ? await runner.rolledBack(body) : await body(runner.run);
  } catch (e) {
    if (e instanceof ExplainError) throw e;
    throw new ExplainError(`EXPLAIN failed: ${(e as Error)?.message ?? String(e)}`, { sql: stmt.sql }, e);
  }
  const top = out.planRows[0]!;
  const plan = parsePlanNode(top.Plan);
  const tableRows = new Map(out.sizes.map((r) => [String(r.relname), Number(r.n)]));
  const executionTimeMs = typeof top['Execution Time'] === 'number' ? top['Execution Time'] : undefined;
  const findings = analyzePlan(plan, o, tableRows, executionTimeMs).sort(
    (a, b) => severityRank[a.severity] - severityRank[b.severity],
  );
  return {
    sql: stmt.sql,
    params: stmt.params,
    plan,
    ...(typeof top['Planning Time'] === 'number' ? { planningTimeMs: top['Planning Time'] } : {}),
    ...(executionTimeMs !== undefined ? { executionTimeMs } : {}),
    findings,
    analyzed: o.analyze,
    rolledBack: inTx,
    raw: out.planRows,
  };
}

interface JsonPlanRoot {
  Plan: Record<string, unknown>;
  'Planning Time'?: number;
  'Execution Time'?: number;
}

function walkRoots(rows: Rows): JsonPlanRoot[] {
  const first = rows[0];
  let v: unknown = first ? (first['QUERY PLAN'] ?? Object.values(first)[0]) : undefined;
  if (typeof v === 'string') v = JSON.parse(v);
  if (!Array.isArray(v) || !v[0] || typeof (v[0] as JsonPlanRoot).Plan !== 'object')
    throw new ExplainError('EXPLAIN returned no JSON plan', {});
  return v as JsonPlanRoot[];
}

/**
 * Renders an explain result as an indented plan with per-node rows/time and the findings below it.
 *
 * @example
 * ```ts
 * console.log(formatExplain(await explain(sql, 'select * from orders where customer_id = 42', { analyze: true })))
 * ```
 */
export function formatExplain(result: ExplainResult): string {
  const lines: string[] = [];
  const visit = (n: PlanNode, depth: number) => {
    const on = n.relationName ? ` on ${n.relationName}` : '';
    const actual =
      n.actualRows !== undefined
        ? ` actual rows=${n.actualRows} loops=${n.actualLoops ?? 1} self=${(n.exclusiveTimeMs ?? 0).toFixed(2)}ms`
        : '';
    lines.push(`${'  '.repeat(depth)}-> ${n.nodeType}${on} (rows=${n.planRows}${actual})`);
    for (const c of n.children) visit(c, depth + 1);
  };
  visit(result.plan, 0);
  if (result.executionTimeMs !== undefined) lines.push(`execution ${result.executionTimeMs.toFixed(2)} ms`);
  if (result.findings.length === 0) lines.push('no findings');
  for (const f of result.findings)
    lines.push(`[${f.severity}] ${f.rule}: ${f.message}`, `    fix: ${f.suggestion}`);
  return lines.join('\n');
}
