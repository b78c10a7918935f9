/** bulkInsert and bulkUpsert: planner (COPY / unnest / VALUES) and the statements for each method. */
import type { SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { ConfigError } from '../errors.js';
import { getTableConfig, sql } from '../internal/drizzle-lib.js';
import { assertBulkArgs } from './args.js';
import { type BinaryField, binaryFields, copyBinaryChunks, firstTextOnlyColumn } from './binary-copy.js';
import { type ColumnInfo, fromDriver, keysToColumns, type TableInfo, tableInfo } from './columns.js';
import {
  type AnyPgDatabase,
  type CopyChunk,
  canCopy,
  copyIn,
  dollarQuoted,
  escapeName,
  run,
} from './driver.js';
import {
  copyTextChunks,
  type EncodedBatch,
  encodePlanned,
  type PlannedBatch,
  planInsertBatch,
  textArrayLiteral,
} from './encode.js';
import {
  type BulkCommonOptions,
  type BulkMethod,
  type BulkProgress,
  MAX_PARAMS,
  type ResolvedBulkOptions,
  resolveBulkOptions,
} from './options.js';
import { type BatchContext, type BatchResult, type RowSource, runBatches } from './runner.js';

/** Keys of a drizzle table's columns. */
export type BulkColumnKey<T extends PgTable> = keyof T['_']['columns'] & string;

/** What to do when a row hits a unique constraint. */
export type BulkOnConflict<T extends PgTable> =
  | 'doNothing'
  | {
      /** Conflict target: the column(s) of a unique index or primary key. */
      target: BulkColumnKey<T> | readonly BulkColumnKey<T>[];
      /**
       * Columns to overwrite from `excluded`; 'all' takes every inserted non-target column.
       * @default 'all'
       */
      set?: 'all' | readonly BulkColumnKey<T>[];
      /** Optional `DO UPDATE ... WHERE` condition (drizzle SQL). @default undefined */
      where?: SQL;
    };

/** Data format of a COPY: binary (no text rendering) or text. */
export type BulkCopyFormat = 'binary' | 'text';

/** Progress of {@link bulkInsert}: the common fields plus the COPY format of the batch. */
export interface BulkInsertProgress extends BulkProgress {
  /** Format of the batch's COPY; undefined when the batch did not use COPY. */
  copyFormat: BulkCopyFormat | undefined;
}

/** Options of {@link bulkInsert}. */
export interface BulkInsertOptions<T extends PgTable> extends Omit<BulkCommonOptions, 'onProgress'> {
  /**
   * Called after each batch (with an array input and atomic COPY, once: the call is one COPY); awaited when it
   * returns a promise.
   * @default undefined
   */
  onProgress?: (progress: BulkInsertProgress) => void | Promise<void>;
  /**
   * COPY data format. 'auto': binary when every written column has a binary encoder (integers, floats, bool,
   * text/varchar/char, enums, timestamp(tz)/date in Date mode, uuid, numeric, json/jsonb, custom bytea and
   * one-dimensional arrays of these) and the server's column types match the drizzle schema, else text.
   * 'binary' fails with a ConfigError instead of falling back.
   * @default 'auto'
   */
  copyFormat?: 'auto' | BulkCopyFormat;
  /**
   * Force one method. 'copy' needs postgres-js and no `returning`.
   * @default 'auto' (COPY for batches of copyThreshold+ rows on postgres-js, VALUES for tiny or mixed-default batches, unnest otherwise)
   */
  method?: BulkMethod | 'auto';
  /** Conflict handling (with COPY: through a temporary table). @default undefined (conflicts fail) */
  onConflict?: BulkOnConflict<T>;
  /** Return inserted rows (all columns or the listed ones), in input order. @default undefined */
  returning?: true | readonly BulkColumnKey<T>[];
  /** Batches at least this large use COPY when method is 'auto'. @default 1000 */
  copyThreshold?: number;
}

/** Result of {@link bulkInsert} / {@link bulkUpsert}. */
export interface BulkInsertResult<T extends PgTable> {
  /** Rows written (rows skipped by onConflict doNothing are not counted, except with COPY without conflict handling). */
  rows: number;
  /** Batches run. */
  batches: number;
  /** Method of the batches, or 'mixed' when batches differed, 'none' for empty input. */
  method: BulkMethod | 'mixed' | 'none';
  /** Batches per method. */
  methods: Partial<Record<BulkMethod, number>>;
  /** Format of the COPY batches ('mixed' when they differed), undefined when no batch used COPY. */
  copyFormat: BulkCopyFormat | 'mixed' | undefined;
  durationMs: number;
  /** Inserted rows when `returning` was given (only the listed keys when it is a list), else []. */
  returned: Array<T['$inferSelect']>;
}

type Row = Record<string, unknown>;

/** Picks the method for one batch. */
export function planInsertMethod(p: {
  rows: number;
  mixedDefaults: boolean;
  copyAvailable: boolean;
  returning: boolean;
  forced: BulkMethod | 'auto';
  copyThreshold: number;
  valuesThreshold: number;
}): BulkMethod {
  if (p.forced !== 'auto') {
    if (p.mixedDefaults && p.forced !== 'values')
      throw new ConfigError(
        `method '${p.forced}' cannot leave a column to its SQL default in some rows only; use 'values' or 'auto'`,
      );
    return p.forced;
  }
  if (p.mixedDefaults) return 'values';
  if (p.copyAvailable && !p.returning && p.rows >= p.copyThreshold) return 'copy';
  if (p.rows <= p.valuesThreshold) return 'values';
  return 'unnest';
}

const ident = (c: ColumnInfo) => sql.identifier(c.name);
const identList = (cols: ColumnInfo[]) => sql.join(cols.map(ident), sql`, `);

function conflictSql<T extends PgTable>(
  info: TableInfo,
  oc: BulkOnConflict<T> | undefined,
  cols: ColumnInfo[],
): SQL {
  if (oc === undefined) return sql``;
  if (oc === 'doNothing') return sql` on conflict do nothing`;
  const target = keysToColumns(info, oc.target, 'onConflict.target');
  const set =
    oc.set === undefined || oc.set === 'all'
      ? cols.filter((c) => !target.includes(c))
      : keysToColumns(info, oc.set, 'onConflict.set');
  if (set.length === 0) return sql` on conflict (${identList(target)}) do nothing`;
  const assignments = sql.join(
    set.map((c) => sql`${ident(c)} = excluded.${ident(c)}`),
    sql`, `,
  );
  return sql` on conflict (${identList(target)}) do update set ${assignments}${oc.where ? sql` where ${oc.where}` : sql``}`;
}

function returningSql(cols: ColumnInfo[] | undefined): SQL {
  return cols ? sql` returning ${identList(cols)}` : sql``;
}

function mapReturned(rows: Row[], cols: ColumnInfo[]): Row[] {
  return rows.map((r) => {
    const o: Row = {};
    for (const c of cols) o[c.key] = fromDriver(c.column, r[c.name]);
    return o;
  });
}

/** `select t.c0::type, ... from unnest($1::text[], ...) as t(c0, ...)`: one bind parameter per column. */
export function unnestSelect(
  batch: { cols: ColumnInfo[]; values: EncodedBatch['values'] },
  ordered: boolean,
): SQL {
  const { arrays, refs } = unnestArrays(batch.cols, batch.values, 't', 'c');
  const aliases = batch.cols.map((_, j) => `c${j}`).join(', ');
  const selects = sql.raw(refs.join(', '));
  return ordered
    ? sql`select ${selects} from unnest(${arrays}) with ordinality as t(${sql.raw(aliases)}, ord) order by t.ord`
    : sql`select ${selects} from unnest(${arrays}) as t(${sql.raw(aliases)})`;
}

/**
 * One array parameter per column. Scalar columns are sent as a typed array (`$1::integer[]`, parsed once by
 * the server); array columns as text[] with a per-element cast, since unnest would flatten a 2-D array.
 */
export function unnestArrays(
  cols: ColumnInfo[],
  values: EncodedBatch['values'],
  alias: string,
  prefix: string,
): { arrays: SQL; refs: string[] } {
  const arrays = sql.join(
    cols.map((c, j) => {
      const literal = textArrayLiteral(values[j] ?? []);
      return c.isArray ? sql`${literal}::text[]` : sql`${literal}::${sql.raw(`${c.cast}[]`)}`;
    }),
    sql`, `,
  );
  const refs = cols.map((c, j) =>
    c.isArray ? `${alias}.${prefix}${j}::${c.cast}` : `${alias}.${prefix}${j}`,
  );
  return { arrays, refs };
}

function valuesRows(batch: EncodedBatch, from: number, to: number): SQL {
  const rows: SQL[] = [];
  for (let i = from; i < to; i++) {
    const cells = batch.cols.map((c, j) => {
      const v = batch.values[j]?.[i];
      if (v === undefined) return sql`default`;
      if (v === null) return sql`null`;
      return sql`${v}::text::${sql.raw(c.cast)}`;
    });
    rows.push(sql`(${sql.join(cells, sql`, `)})`);
  }
  return sql.join(rows, sql`, `);
}

let tempCounter = 0;

/** A column's type as the server has it (for checking the drizzle schema before sending binary data). */
interface ServerType {
  oid: number;
  /** pg_type.typtype: 'b' base, 'e' enum, 'd' domain, ... */
  kind: string;
  /** pg_type.typbasetype: the type a domain is over (0 for other kinds). */
  baseOid: number;
  elemOid: number;
  elemKind: string;
}

/** Per-call state of the COPY format choice: the server's column types, read once per call. */
export interface CopyFormatState {
  requested: 'auto' | BulkCopyFormat;
  server?: Map<string, ServerType>;
  /** Batches per format. */
  used: Partial<Record<BulkCopyFormat, number>>;
  last: BulkCopyFormat | undefined;
}

/** Qualified, quoted table name for COPY and regclass. */
export function qualifiedName(tx: AnyPgDatabase, table: PgTable): string {
  const cfg = getTableConfig(table);
  return `${cfg.schema ? `${escapeName(tx, cfg.schema)}.` : ''}${escapeName(tx, cfg.name)}`;
}

async function serverTypes(tx: AnyPgDatabase, table: PgTable): Promise<Map<string, ServerType>> {
  const r = await run(
    tx,
    sql`select a.attname as name, a.atttypid::int as oid, t.typtype as kind, t.typbasetype::int as base_oid,
          coalesce(e.oid::int, 0) as elem_oid, coalesce(e.typtype, '') as elem_kind
        from pg_attribute a join pg_type t on t.oid = a.atttypid
        left join pg_type e on e.oid = t.typelem and t.typcategory = 'A'
        where a.attrelid = ${sql.raw(dollarQuoted(qualifiedName(tx, table)))}::regclass and a.attnum > 0 and not a.attisdropped`,
  );
  return new Map(
    r.rows.map((x) => [
      String(x.name),
      {
        oid: Number(x.oid),
        kind: String(x.kind),
        baseOid: Number(x.base_oid),
        elemOid: Number(x.elem_oid),
        elemKind: String(x.elem_kind),
      },
    ]),
  );
}

/**
 * Binary fields for a COPY of `cols`, or undefined for text COPY: every column needs a binary encoder and the
 * server's type must be the one the encoder writes, or a domain over it (a schema that says integer over a
 * bigint column, or a domain over another type: text COPY, whose input functions cast). Enum arrays take their element OID from the server.
 */
export async function chooseCopyFormat(
  tx: AnyPgDatabase,
  info: TableInfo,
  cols: readonly ColumnInfo[],
  state: CopyFormatState,
): Promise<BinaryField[] | undefined> {
  if (state.requested === 'text') return undefined;
  const forced = state.requested === 'binary';
  const fields = binaryFields(cols);
  if (!fields) {
    if (!forced) return undefined;
    const c = firstTextOnlyColumn(cols) as ColumnInfo;
    throw new ConfigError(
      `copyFormat 'binary': column "${c.key}" of ${info.name} (${c.cast}) has no binary encoder; use 'auto' or 'text'`,
    );
  }
  state.server ??= await serverTypes(tx, info.table);
  for (let j = 0; j < cols.length; j++) {
    const c = cols[j] as ColumnInfo;
    const f = fields[j] as BinaryField;
    const s = state.server.get(c.name);
    let ok: boolean;
    if (!s) ok = false;
    // A domain over the encoder's type takes its binary form: the server's domain_recv runs the base type's
    // receive function, then the domain's constraints (a CHECK failure is the server's 23514, as with text).
    else if (!f.enumType) ok = s.oid === f.oid || (s.kind === 'd' && s.baseOid === f.oid && !c.isArray);
    else if (c.isArray) {
      ok = s.elemKind === 'e';
      f.elemOid = s.elemOid;
    } else ok = s.kind === 'e';
    if (!ok) {
      if (!forced) return undefined;
      throw new ConfigError(
        `copyFormat 'binary': column "${c.key}" of ${info.name} has another type on the server than the schema's ${c.cast}; use 'auto' or 'text'`,
      );
    }
  }
  return fields;
}

/** COPY data of a planned batch in the chosen format. */
function copyChunks(batch: PlannedBatch, fields: BinaryField[] | undefined): Iterable<CopyChunk> {
  return fields ? copyBinaryChunks(batch, fields) : copyTextChunks(batch);
}

async function insertBatch<T extends PgTable>(
  tx: AnyPgDatabase,
  info: TableInfo,
  planned: PlannedBatch,
  o: ResolvedBulkOptions,
  opts: BulkInsertOptions<T>,
  retCols: ColumnInfo[] | undefined,
  fmt: CopyFormatState,
  ctx: BatchContext,
): Promise<BatchResult<Row>> {
  const batch = planned;
  const method = planInsertMethod({
    rows: batch.rows,
    mixedDefaults: batch.mixedDefaults,
    copyAvailable: canCopy(tx),
    returning: retCols !== undefined,
    forced: o.method,
    copyThreshold: o.copyThreshold,
    valuesThreshold: o.valuesThreshold,
  });
  ctx.method = method;
  const signal = { signal: ctx.signal };
  const table = info.table;
  const conflict = conflictSql(info, opts.onConflict, batch.cols);
  const ret = returningSql(retCols);
  fmt.last = undefined;
  if (method === 'copy') {
    const colNames = batch.cols.map((c) => escapeName(tx, c.name)).join(', ');
    const fields = await chooseCopyFormat(tx, info, batch.cols, fmt);
    const format: BulkCopyFormat = fields ? 'binary' : 'text';
    const withFormat = fields ? ' with (format binary)' : '';
    fmt.last = format;
    fmt.used[format] = (fmt.used[format] ?? 0) + 1;
    if (opts.onConflict === undefined) {
      await copyIn(
        tx,
        `copy ${qualifiedName(tx, table)} (${colNames}) from stdin${withFormat}`,
        copyChunks(batch, fields),
        signal,
      );
      return { count: batch.rows, method };
    }
    // COPY cannot resolve conflicts: stage into a temporary table, then INSERT ... SELECT ... ON CONFLICT.
    const tmp = `dbkit_bulk_${process.pid}_${++tempCounter}`;
    await run(
      tx,
      sql`create temp table ${sql.identifier(tmp)} on commit drop as select ${identList(batch.cols)} from ${table} with no data`,
      signal,
    );
    await copyIn(
      tx,
      `copy ${escapeName(tx, tmp)} (${colNames}) from stdin${withFormat}`,
      copyChunks(batch, fields),
      signal,
    );
    const r = await run(
      tx,
      sql`insert into ${table} (${identList(batch.cols)}) select ${identList(batch.cols)} from ${sql.identifier(tmp)}${conflict}`,
      signal,
    );
    await run(tx, sql`drop table ${sql.identifier(tmp)}`, signal);
    return { count: r.count, method };
  }
  encodePlanned(batch);
  if (method === 'unnest') {
    const r = await run(
      tx,
      sql`insert into ${table} (${identList(batch.cols)}) ${unnestSelect(batch, retCols !== undefined)}${conflict}${ret}`,
      signal,
    );
    return { count: r.count, method, ...(retCols ? { out: mapReturned(r.rows, retCols) } : {}) };
  }
  // Drizzle's SQL builder slows down superlinearly with the parameter count: cap statements at 1,000 rows
  // (and, for wide tables, at the 65,534-parameter protocol limit).
  const perStatement = Math.max(1, Math.min(1_000, Math.floor(MAX_PARAMS / Math.max(1, batch.cols.length))));
  let count = 0;
  const out: Row[] = [];
  for (let from = 0; from < batch.rows; from += perStatement) {
    const to = Math.min(batch.rows, from + perStatement);
    const r = await run(
      tx,
      sql`insert into ${table} (${identList(batch.cols)}) values ${valuesRows(batch, from, to)}${conflict}${ret}`,
      signal,
    );
    count += r.count;
    if (retCols) out.push(...mapReturned(r.rows, retCols));
  }
  return { count, method, ...(retCols ? { out } : {}) };
}

function summarize(methods: Partial<Record<BulkMethod, number>>): BulkMethod | 'mixed' | 'none' {
  const used = Object.keys(methods) as BulkMethod[];
  if (used.length === 0) return 'none';
  return used.length === 1 ? (used[0] as BulkMethod) : 'mixed';
}

/**
 * Inserts many rows at COPY speed: validates every row against the drizzle table, then writes batch by batch
 * with COPY (postgres-js), INSERT ... SELECT FROM unnest or multi-row VALUES.
 *
 * @example
 * ```ts
 * const { rows, method } = await bulkInsert(db, users, [{ name: 'a' }, { name: 'b' }], { onConflict: 'doNothing' })
 * ```
 */
export async function bulkInsert<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  rows: RowSource<T['$inferInsert']>,
  opts: BulkInsertOptions<T> = {},
): Promise<BulkInsertResult<T>> {
  assertBulkArgs('bulkInsert', db, table, rows);
  const { onProgress, copyFormat, ...common } = opts;
  if (copyFormat !== undefined && !['auto', 'binary', 'text'].includes(copyFormat))
    throw new ConfigError(`copyFormat must be 'auto', 'binary' or 'text', got ${String(copyFormat)}`);
  const fmt: CopyFormatState = { requested: copyFormat ?? 'auto', used: {}, last: undefined };
  const o = resolveBulkOptions({
    ...common,
    ...(onProgress
      ? {
          onProgress: (p: BulkProgress) =>
            onProgress({ ...p, copyFormat: p.method === 'copy' ? fmt.last : undefined }),
        }
      : {}),
  });
  const info = tableInfo(table);
  const retCols =
    opts.returning === undefined
      ? undefined
      : opts.returning === true
        ? info.columns
        : keysToColumns(info, opts.returning, 'returning');
  if (o.method === 'copy' && !canCopy(db))
    throw new ConfigError(`method 'copy' needs a postgres-js drizzle database; use 'unnest' or 'auto'`);
  if (o.method === 'copy' && retCols) throw new ConfigError(`method 'copy' cannot return rows; use 'unnest'`);
  if (opts.onConflict !== undefined && opts.onConflict !== 'doNothing') {
    keysToColumns(info, opts.onConflict.target, 'onConflict.target');
    if (Array.isArray(opts.onConflict.set)) keysToColumns(info, opts.onConflict.set, 'onConflict.set');
  }
  // An atomic call on an array that will be COPYed is one COPY (one batch): each COPY statement costs a round
  // trip and its final CopyDone can wait on a delayed ACK, and atomic batches gain nothing from splitting.
  // An explicit batchSize is kept (the caller wants progress per batch).
  let whole: PlannedBatch | undefined;
  if (
    Array.isArray(rows) &&
    o.atomic &&
    opts.batchSize === undefined &&
    rows.length > o.batchSize &&
    !retCols &&
    canCopy(db) &&
    (o.method === 'copy' || (o.method === 'auto' && rows.length >= o.copyThreshold))
  ) {
    const planned = planInsertBatch(info, rows as readonly Row[], 0);
    if (!planned.mixedDefaults) {
      whole = planned;
      o.batchSize = rows.length;
    }
  }
  const r = await runBatches<Row, PlannedBatch, Row>(
    db,
    info.name,
    'insert',
    rows as RowSource<Row>,
    o,
    // atomic: COPY batches are validated while streaming (a failure rolls everything back); otherwise
    // every batch is fully validated before anything is written.
    (batch, start) => {
      if (whole && start === 0 && batch.length === whole.rows) return { ...whole, input: batch };
      return o.atomic
        ? planInsertBatch(info, batch, start)
        : encodePlanned(planInsertBatch(info, batch, start));
    },
    (tx, batch, ctx) => insertBatch(tx, info, batch, o, opts, retCols, fmt, ctx),
  );
  const formats = Object.keys(fmt.used) as BulkCopyFormat[];
  return {
    rows: r.count,
    batches: r.batches,
    method: summarize(r.methods),
    methods: r.methods,
    copyFormat: formats.length === 0 ? undefined : formats.length === 1 ? formats[0] : 'mixed',
    durationMs: r.durationMs,
    returned: r.out as Array<T['$inferSelect']>,
  };
}

/** Options of {@link bulkUpsert}. */
export interface BulkUpsertOptions<T extends PgTable> extends Omit<BulkInsertOptions<T>, 'onConflict'> {
  /** Conflict target (unique or primary key columns). */
  key: BulkColumnKey<T> | readonly BulkColumnKey<T>[];
  /** Columns overwritten on conflict. @default 'all' (every inserted non-key column) */
  set?: 'all' | readonly BulkColumnKey<T>[];
  /** Only update when this holds (drizzle SQL). @default undefined */
  where?: SQL;
}

/**
 * Inserts rows, updating the existing ones on a key conflict (INSERT ... ON CONFLICT DO UPDATE, batched).
 *
 * @example
 * ```ts
 * await bulkUpsert(db, prices, rows, { key: 'sku' }) // every non-key column taken from the new row
 * ```
 */
export function bulkUpsert<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  rows: RowSource<T['$inferInsert']>,
  opts: BulkUpsertOptions<T>,
): Promise<BulkInsertResult<T>> {
  const { key, set, where, ...rest } = opts;
  return bulkInsert(db, table, rows, {
    ...rest,
    onConflict: { target: key, set: set ?? 'all', ...(where ? { where } : {}) },
  });
}
