import { importLib } from '../internal/import-lib.js';
import { ExplainError, QueryErrorCodes } from './errors.js';
import { type PlanNode, parsePlanNode, walkPlan } from './explain-plan.js';
import { analyzePlan, type ExplainFinding } from './explain-rules.js';
import { resolveQueryOptions } from './options.js';
import { splitStatements } from './sql-lexer.js';

/** Options of {@link explain}. */
export interface ExplainOptions {
  /**
   * Run EXPLAIN ANALYZE: executes the statement inside a transaction that is always rolled back, whatever the
   * statement is. Without it the plan is made in a READ ONLY transaction (also rolled back). @default false
   */
  analyze?: boolean;
  /** Add BUFFERS (shared/temp block counts). @default false */
  buffers?: boolean;
  /** Add SETTINGS (planner settings that differ from the defaults). @default false */
  settings?: boolean;
  /** Settings applied with `set_config(name, value, true)` (SET LOCAL) inside the rolled-back transaction, e.g. `{ work_mem: '64kB' }`. @default undefined */
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
  /** Whether the statement was executed (ANALYZE). */
  analyzed: boolean;
  /** Always true: every EXPLAIN runs in a transaction (or savepoint) that is rolled back. */
  rolledBack: boolean;
  /** True for plain EXPLAIN, which runs in a READ ONLY transaction. */
  readOnly: boolean;
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
type Run = (text: string, params: unknown[]) => Promise<Rows>;
interface Runner {
  /**
   * Runs fn on one connection inside a transaction (a savepoint when the handle already is in one) that is
   * always rolled back; READ ONLY when asked.
   */
  rolledBack<T>(readOnly: boolean, fn: (run: Run) => Promise<T>): Promise<T>;
}

type PgJs = ((...a: unknown[]) => unknown) & {
  unsafe(text: string, params?: unknown[], options?: Record<string, unknown>): Promise<Rows>;
  begin?: (options: string, fn: (tx: PgJs) => Promise<unknown>) => Promise<unknown>;
  savepoint?: (fn: (tx: PgJs) => Promise<unknown>) => Promise<unknown>;
};
type QueryLike = {
  query(text: unknown, params?: unknown[]): Promise<{ rows: Rows }>;
  connect?: () => Promise<QueryLike & { release(err?: unknown): void }>;
  totalCount?: number;
  getTransactionStatus?: () => string | null;
  // PGlite
  exec?: unknown;
  transaction?: <T>(fn: (tx: QueryLike & { rollback(): Promise<void> }) => Promise<T>) => Promise<T>;
  isInTransaction?: () => boolean;
  rollback?: () => Promise<void>;
};

const ROLLBACK = Symbol('dbkit.explain.rollback');
const SAVEPOINT = 'dbkit_explain';

/** Runs `scoped` (a begin/savepoint/transaction helper) with a body that always ends in a rollback. */
async function throwAway<H, T>(
  scoped: (cb: (h: H) => Promise<never>) => Promise<unknown>,
  body: (h: H) => Promise<T>,
): Promise<T> {
  let out: { value: T } | undefined;
  try {
    await scoped(async (h) => {
      out = { value: await body(h) };
      throw ROLLBACK;
    });
  } catch (e) {
    if (e !== ROLLBACK) throw e;
  }
  if (!out) throw new ExplainError('the transaction ended without running the EXPLAIN', {});
  return out.value;
}

const sqlState = (e: unknown) => (e as { code?: unknown } | null)?.code;

/**
 * Transaction by hand on one connection: a savepoint when already in a transaction (`inTx` true, or unknown
 * and SAVEPOINT succeeds), else BEGIN; always rolled back. `onRollbackFailed` lets a pool discard the client.
 */
async function manual<T>(
  run: Run,
  readOnly: boolean,
  inTx: boolean | undefined,
  fn: (run: Run) => Promise<T>,
  onRollbackFailed?: (e: unknown) => void,
): Promise<T> {
  let sp = inTx === true;
  if (inTx === undefined) {
    try {
      await run(`savepoint ${SAVEPOINT}`, []);
      sp = true;
    } catch (e) {
      if (sqlState(e) !== '25P01') throw e; // 25P01: not in a transaction block
    }
  } else if (sp) await run(`savepoint ${SAVEPOINT}`, []);
  if (!sp) await run(readOnly ? 'begin read only' : 'begin', []);
  let failed = false;
  try {
    if (sp && readOnly) await run('set transaction read only', []);
    return await fn(run);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    try {
      if (sp) {
        await run(`rollback to savepoint ${SAVEPOINT}`, []);
        await run(`release savepoint ${SAVEPOINT}`, []);
      } else await run('rollback', []);
    } catch (e) {
      onRollbackFailed?.(e);
      // The server rolls back a transaction whose connection is gone; report the first failure.
      // biome-ignore lint/correctness/noUnsafeFinally: a failed rollback must not pass for success
      if (!failed) throw e;
    }
  }
}

function pgjsRunner(sql: PgJs): Runner {
  // simple: false forces the extended protocol even without parameters: postgres.js sends a parameterless
  // unsafe() as a simple Query, which runs every statement in the string (porsager/postgres#541).
  const run =
    (s: PgJs): Run =>
    (text, params) =>
      s.unsafe(text, params, { prepare: false, simple: false }) as Promise<Rows>;
  return {
    rolledBack<T>(readOnly: boolean, fn: (run: Run) => Promise<T>): Promise<T> {
      if (typeof sql.begin === 'function') {
        const begin = sql.begin;
        return throwAway<PgJs, T>(
          (cb) => begin.call(sql, readOnly ? 'read only' : 'read write', cb),
          (tx) => fn(run(tx)),
        );
      }
      if (typeof sql.savepoint === 'function') {
        const savepoint = sql.savepoint;
        return throwAway<PgJs, T>(
          (cb) => savepoint.call(sql, cb),
          async (sp) => {
            if (readOnly) await run(sp)('set transaction read only', []);
            return fn(run(sp));
          },
        );
      }
      // sql.reserve(): one connection, maybe inside a transaction the caller began.
      return manual(run(sql), readOnly, undefined, fn);
    },
  };
}

const isPglite = (c: QueryLike) =>
  typeof c.exec === 'function' && (typeof c.transaction === 'function' || typeof c.rollback === 'function');

function queryLikeRunner(client: QueryLike): Runner {
  const pglite = isPglite(client);
  // node-postgres sends a query without values as a simple Query (every statement runs); queryMode 'extended'
  // (pg >= 8.12, brianc/node-postgres#3214) makes the server refuse a second statement. PGlite's query() is
  // always extended.
  const run =
    (c: QueryLike): Run =>
    async (text, params) =>
      (pglite ? await c.query(text, params) : await c.query({ text, values: params, queryMode: 'extended' }))
        .rows;
  return {
    async rolledBack<T>(readOnly: boolean, fn: (run: Run) => Promise<T>): Promise<T> {
      if (pglite) {
        if (typeof client.transaction === 'function' && !client.isInTransaction?.()) {
          // PGlite's transaction() holds its lock, so concurrent queries on the same PGlite wait outside it.
          return throwAway<QueryLike, T>(
            (cb) => client.transaction!(cb),
            async (tx) => {
              if (readOnly) await run(tx)('set transaction read only', []);
              return fn(run(tx));
            },
          );
        }
        return manual(run(client), readOnly, true, fn);
      }
      if (typeof client.connect === 'function' && typeof client.totalCount === 'number') {
        // a pg Pool: one client for the transaction, discarded if the rollback fails
        const c = await client.connect();
        let broken: unknown;
        try {
          return await manual(run(c), readOnly, false, fn, (e) => {
            broken = e ?? new Error('rollback failed');
          });
        } finally {
          c.release(broken);
        }
      }
      const status = typeof client.getTransactionStatus === 'function' ? client.getTransactionStatus() : null;
      const inTx = status === 'I' ? false : status === 'T' || status === 'E' ? true : undefined;
      return manual(run(client), readOnly, inTx, fn);
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

const severityRank = { critical: 0, warning: 1, info: 2 } as const;

/**
 * Runs EXPLAIN (FORMAT JSON) on exactly one statement and returns the typed plan plus findings, each with a
 * severity and a concrete suggestion. It cannot change data: text with more than one statement is refused
 * before anything is sent (`E_QUERY_EXPLAIN_STATEMENTS`), the statement goes through the extended protocol
 * (the server refuses a second command too), EXPLAIN ANALYZE runs in a transaction that is always rolled back,
 * and plain EXPLAIN in a READ ONLY one.
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
  const split = splitStatements(stmt.sql);
  if (split.statements.length !== 1) {
    const count = split.statements.length;
    throw new ExplainError(
      count === 0
        ? 'explain() got no statement (the text is empty or only comments); nothing was sent'
        : `explain() explains exactly one statement; the text holds ${count} (separated by the ";" at offset ${split.separators.join(', ')}); nothing was sent`,
      { statements: count, separatorOffsets: split.separators },
      undefined,
      QueryErrorCodes.EXPLAIN_STATEMENTS,
    );
  }
  const statement = split.statements[0]!;
  const flags = ['FORMAT JSON'];
  if (o.analyze) flags.push('ANALYZE');
  if (o.buffers) flags.push('BUFFERS');
  if (o.settings) flags.push('SETTINGS');
  // A newline, not a space: a statement that ends in a -- comment must not comment out anything after it.
  const text = `EXPLAIN (${flags.join(', ')}) ${statement}\n`;
  const set = Object.entries(o.set ?? {});
  for (const [k] of set)
    if (!/^[a-z_][a-z0-9_.]*$/i.test(k)) throw new ExplainError(`invalid setting name: ${k}`, { setting: k });

  const body = async (run: Run) => {
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
    // Always rolled back, whatever the statement looks like: no guess decides what is safe to run.
    out = await runner.rolledBack(!o.analyze, body);
  } catch (e) {
    if (e instanceof ExplainError) throw e;
    throw new ExplainError(`EXPLAIN failed: ${(e as Error)?.message ?? String(e)}`, { sql: statement }, e);
  }
  const top = out.planRows[0]!;
  const plan = parsePlanNode(top.Plan);
  const tableRows = new Map(out.sizes.map((r) => [String(r.relname), Number(r.n)]));
  const executionTimeMs = typeof top['Execution Time'] === 'number' ? top['Execution Time'] : undefined;
  const findings = analyzePlan(plan, o, tableRows, executionTimeMs).sort(
    (a, b) => severityRank[a.severity] - severityRank[b.severity],
  );
  return {
    sql: statement,
    params: stmt.params,
    plan,
    ...(typeof top['Planning Time'] === 'number' ? { planningTimeMs: top['Planning Time'] } : {}),
    ...(executionTimeMs !== undefined ? { executionTimeMs } : {}),
    findings,
    analyzed: o.analyze,
    rolledBack: true,
    readOnly: !o.analyze,
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
