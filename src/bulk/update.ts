/** bulkUpdate (UPDATE ... FROM unnest) and bulkDelete (DELETE ... USING unnest), single or composite keys. */
import type { SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { ConfigError } from '../errors.js';
import { sql } from '../internal/drizzle-lib.js';
import { assertBulkArgs } from './args.js';
import { type BinaryField, type CellResolver, copyBinaryChunks } from './binary-copy.js';
import { type ColumnInfo, keysToColumns, type TableInfo, tableInfo } from './columns.js';
import type { AnyPgDatabase } from './driver.js';
import {
  type CopyChunk,
  canCopy,
  copyIn,
  dollarQuoted,
  escapeName,
  type QueryOutput,
  run,
} from './driver.js';
import { checkKeys, copyTextColumns, type EncodedColumn, encodeValue } from './encode.js';
import { BulkValidationError } from './errors.js';
import {
  type BulkColumnKey,
  type BulkCopyFormat,
  type CopyFormatState,
  chooseCopyFormat,
  unnestArrays,
} from './insert.js';
import { KeyTracker } from './keys.js';
import { type BulkCommonOptions, resolveBulkOptions } from './options.js';
import { type BatchContext, type RowSource, runBatches } from './runner.js';

type Row = Record<string, unknown>;

/** Options of {@link bulkUpdate}. */
export interface BulkUpdateOptions<T extends PgTable> extends BulkCommonOptions {
  /** Key column(s) that identify the rows to update. */
  key: BulkColumnKey<T> | readonly BulkColumnKey<T>[];
  /** Columns to change; every row must carry them. @default every non-key key of the first row */
  columns?: readonly BulkColumnKey<T>[];
  /** Also report the keys that matched no row. @default false */
  returnUnmatched?: boolean;
  /**
   * 'copy' stages each batch in a temporary table with COPY, then runs one `UPDATE ... FROM` it (postgres-js
   * only); 'unnest' sends the batch as arrays in one `UPDATE ... FROM unnest(...)`.
   * @default 'auto' (COPY for batches of copyThreshold+ rows on postgres-js, else unnest)
   */
  method?: 'auto' | 'copy' | 'unnest';
  /** Batches at least this large use COPY when method is 'auto'. @default 10000 */
  copyThreshold?: number;
  /** COPY data format, as for bulkInsert. @default 'auto' */
  copyFormat?: 'auto' | BulkCopyFormat;
}

/** Result of {@link bulkUpdate}. */
export interface BulkUpdateResult<T extends PgTable> {
  /** Rows updated. */
  rows: number;
  batches: number;
  durationMs: number;
  /** Keys (objects of the key columns) that matched nothing, in input order; [] unless returnUnmatched. */
  unmatched: Array<Partial<T['$inferSelect']>>;
}

interface KeyedBatch {
  rows: Row[];
  start: number;
  keyValues: EncodedColumn[];
  /** Empty when the batch goes by COPY in an atomic call: its values are validated while streaming. */
  setValues: EncodedColumn[];
  copy: boolean;
}

/** Update semantics per cell: keys and updated columns must be present, keys non-null, NOT NULL kept. */
function updateCell(keyCols: readonly ColumnInfo[]): CellResolver {
  return (info, col, v, rowIndex) => {
    const isKey = keyCols.includes(col);
    if (v === undefined || (isKey && v === null))
      throw new BulkValidationError(
        info.name,
        rowIndex,
        col.key,
        isKey ? 'missing key value' : 'missing value for an updated column',
      );
    if (v === null && col.notNull)
      throw new BulkValidationError(info.name, rowIndex, col.key, 'null in a NOT NULL column');
    return v;
  };
}

let tempCounter = 0;

/**
 * work_mem budget per staged row for the UPDATE's hash join (hash entry, tuple and bucket). The default 4MB
 * splits the hash of a 100k-row batch into batches spilled to temp files, which also scatters the updates
 * over the table (batch by batch instead of in one pass): 10-20% of the UPDATE's time.
 */
const WORK_MEM_BYTES_PER_ROW = 256;
/** Upper bound of the raised work_mem (kB): what one hash may take is hash_mem_multiplier times this. */
const WORK_MEM_MAX_KB = 64 * 1024;

/**
 * Results of pipelined statements, in order; the first failure is thrown as soon as it arrives, as when they
 * ran one by one (the statements after it fail on the aborted transaction, or never settle on a connection
 * that postgres.js 3.4.0 keeps writing to after it closed: their outcomes are dropped).
 */
async function inOrder<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  for (const p of ps) p.catch(noop);
  const out: unknown[] = [];
  for (const p of ps) out.push(await p);
  return out as unknown as T;
}

const noop = () => {};

/**
 * One batch through a temporary table: COPY (binary when every column allows it) then `UPDATE ... FROM`.
 * Measured 7-16% faster than unnest on 100k rows: the server reads COPY data without building arrays.
 * CREATE TEMP TABLE, the server-types lookup and the work_mem raise do not depend on each other: they are
 * pipelined on the transaction's connection (one round trip; postgres.js sends them back to back). Only the
 * first carries the abort signal, so an abort sends one cancel request, for the statement that is running.
 */
async function updateViaCopy(
  tx: AnyPgDatabase,
  info: TableInfo,
  keyCols: ColumnInfo[],
  setCols: ColumnInfo[],
  b: KeyedBatch,
  wantUnmatched: boolean,
  fmt: CopyFormatState,
  ctx: BatchContext,
): Promise<{ count: number; matched?: Set<number> }> {
  ctx.method = 'copy';
  const signal = { signal: ctx.signal };
  const cols = [...keyCols, ...setCols];
  const tmp = `dbkit_upd_${process.pid}_${++tempCounter}`;
  const ord = wantUnmatched ? sql`, 0::int8 as dbkit_ord` : sql``;
  const wantKb = Math.min(WORK_MEM_MAX_KB, Math.ceil((b.rows.length * WORK_MEM_BYTES_PER_ROW) / 1024));
  // work_mem: raised with is_local and restored after the UPDATE (inside a caller's transaction a SET LOCAL
  // would outlive the savepoint; a rollback undoes it anyway). Never lowered.
  const [, fields, mem] = await inOrder<[unknown, BinaryField[] | undefined, QueryOutput]>([
    run(
      tx,
      sql`create temp table ${sql.identifier(tmp)} on commit drop as select ${sql.join(
        cols.map((c) => sql.identifier(c.name)),
        sql`, `,
      )}${ord} from ${info.table} with no data`,
      signal,
    ),
    b.setValues.length === setCols.length
      ? Promise.resolve(undefined)
      : chooseCopyFormat(tx, info, cols, fmt),
    run(
      tx,
      sql.raw(
        `select m.old, case when pg_size_bytes(m.old) < ${wantKb * 1024} then set_config('work_mem', '${wantKb}kB', true) is not null else false end as raised from (select current_setting('work_mem') as old offset 0) m`,
      ),
    ),
  ]);
  const names = [...cols.map((c) => escapeName(tx, c.name)), ...(wantUnmatched ? ['dbkit_ord'] : [])].join(
    ', ',
  );
  const statement = `copy ${escapeName(tx, tmp)} (${names}) from stdin${fields ? ' with (format binary)' : ''}`;
  let chunks: Iterable<CopyChunk>;
  if (fields) {
    chunks = copyBinaryChunks({ info, cols, input: b.rows, rows: b.rows.length, start: b.start }, fields, {
      ordinal: wantUnmatched,
      cell: updateCell(keyCols),
    });
  } else {
    if (b.setValues.length !== setCols.length)
      b.setValues = encodeColumns(info, b.rows, b.start, setCols, false);
    chunks = copyTextColumns([...b.keyValues, ...b.setValues], b.rows.length, wantUnmatched);
  }
  await copyIn(tx, statement, chunks, signal);
  const v = (c: ColumnInfo) => sql`v.${sql.identifier(c.name)}`;
  const assignments = sql.join(
    setCols.map((c) => sql`${sql.identifier(c.name)} = ${v(c)}`),
    sql`, `,
  );
  const match = sql.join(
    keyCols.map((c) => sql`${target(c)} = ${v(c)}`),
    sql` and `,
  );
  const res = await run(
    tx,
    sql`update ${info.table} as dbkit_t set ${assignments} from ${sql.identifier(tmp)} as v where ${match}${
      wantUnmatched ? sql` returning v.dbkit_ord` : sql``
    }`,
    signal,
  );
  await run(tx, sql`drop table ${sql.identifier(tmp)}`, signal);
  if (mem.rows[0]?.raised === true)
    await run(tx, sql.raw(`select set_config('work_mem', ${dollarQuoted(String(mem.rows[0]?.old))}, true)`));
  if (!wantUnmatched) return { count: res.count };
  return { count: res.rows.length, matched: new Set(res.rows.map((x) => Number(x.dbkit_ord))) };
}

/** Encodes the listed columns of each row; every value must be present (keys also non-null). */
function encodeColumns(
  info: TableInfo,
  rows: Row[],
  start: number,
  cols: ColumnInfo[],
  isKey: boolean,
): EncodedColumn[] {
  return cols.map((c) => {
    const out: EncodedColumn = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const v = (rows[i] as Row)[c.key];
      if (v === undefined || (isKey && v === null))
        throw new BulkValidationError(
          info.name,
          start + i,
          c.key,
          isKey ? 'missing key value' : 'missing value for an updated column',
        );
      out[i] = encodeValue(info, c, v, start + i);
    }
    return out;
  });
}

function unnestFrom(
  cols: ColumnInfo[],
  values: EncodedColumn[],
  prefix: string,
  ordinality = false,
): { from: SQL; refs: SQL[] } {
  const { arrays, refs } = unnestArrays(cols, values, 'v', prefix);
  const names = cols.map((_, j) => `${prefix}${j}`);
  return {
    from: ordinality
      ? sql`unnest(${arrays}) with ordinality as v(${sql.raw(names.join(', '))}, ord)`
      : sql`unnest(${arrays}) as v(${sql.raw(names.join(', '))})`,
    refs: refs.map((r) => sql.raw(r)),
  };
}

const target = (c: ColumnInfo) => sql`dbkit_t.${sql.identifier(c.name)}`;
const matchKeys = (keyCols: ColumnInfo[], refs: SQL[]) =>
  sql.join(
    keyCols.map((c, j) => sql`${target(c)} = ${refs[j] as SQL}`),
    sql` and `,
  );

/**
 * Updates many rows by key with one `UPDATE ... FROM unnest(...)` per batch; only the listed columns change.
 *
 * @example
 * ```ts
 * const { rows, unmatched } = await bulkUpdate(db, users, [{ id: 1, name: 'x' }], { key: 'id', returnUnmatched: true })
 * ```
 */
export async function bulkUpdate<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  rows: RowSource<Partial<T['$inferInsert']>>,
  opts: BulkUpdateOptions<T>,
): Promise<BulkUpdateResult<T>> {
  assertBulkArgs('bulkUpdate', db, table, rows);
  const { method = 'auto', copyThreshold = 10_000, copyFormat = 'auto', ...common } = opts;
  if (!['auto', 'copy', 'unnest'].includes(method))
    throw new ConfigError(`method must be 'auto', 'copy' or 'unnest', got ${String(method)}`);
  if (!Number.isInteger(copyThreshold) || copyThreshold < 0)
    throw new ConfigError(`copyThreshold must be a non-negative integer, got ${copyThreshold}`);
  if (!['auto', 'binary', 'text'].includes(copyFormat))
    throw new ConfigError(`copyFormat must be 'auto', 'binary' or 'text', got ${String(copyFormat)}`);
  const copyAvailable = canCopy(db);
  if (method === 'copy' && !copyAvailable)
    throw new ConfigError(`method 'copy' needs a postgres-js drizzle database; use 'unnest' or 'auto'`);
  const fmt: CopyFormatState = { requested: copyFormat, used: {}, last: undefined };
  const o = resolveBulkOptions(common);
  const info = tableInfo(table);
  const keyCols = keysToColumns(info, opts.key, 'key');
  let setCols: ColumnInfo[] | undefined = opts.columns
    ? keysToColumns(info, opts.columns, 'columns')
    : undefined;
  if (setCols?.some((c) => keyCols.includes(c))) throw new ConfigError('columns must not include the key');
  const seen = new KeyTracker(keyCols);
  const wantUnmatched = opts.returnUnmatched ?? false;
  const r = await runBatches<Row, KeyedBatch, Row>(
    db,
    info.name,
    'update',
    rows as RowSource<Row>,
    o,
    (batch, start) => {
      checkKeys(info, batch, start);
      setCols ??= Object.keys(batch[0] ?? {})
        .filter((k) => !keyCols.some((c) => c.key === k))
        .map((k) => info.byKey.get(k) as ColumnInfo);
      if (setCols.length === 0) throw new ConfigError('bulkUpdate needs at least one column to set');
      const keyValues = encodeColumns(info, batch, start, keyCols, true);
      const dup = seen.add(batch, keyCols, keyValues);
      if (dup >= 0)
        throw new BulkValidationError(
          info.name,
          start + dup,
          keyCols[0]?.key,
          'duplicate key in one bulkUpdate call',
        );
      const copy =
        copyAvailable && (method === 'copy' || (method === 'auto' && batch.length >= copyThreshold));
      return {
        rows: batch,
        start,
        keyValues,
        // An atomic COPY batch validates its values while streaming (a bad value rolls everything back).
        setValues: copy && o.atomic ? [] : encodeColumns(info, batch, start, setCols, false),
        copy,
      };
    },
    async (tx, b, ctx) => {
      if (b.copy) {
        const r = await updateViaCopy(tx, info, keyCols, setCols as ColumnInfo[], b, wantUnmatched, fmt, ctx);
        if (!r.matched) return { count: r.count, method: 'copy' };
        const out: Row[] = [];
        const matched = r.matched;
        b.rows.forEach((row, i) => {
          if (!matched.has(i + 1)) out.push(Object.fromEntries(keyCols.map((c) => [c.key, row[c.key]])));
        });
        return { count: r.count, method: 'copy', out };
      }
      ctx.method = 'unnest';
      const cols = [...keyCols, ...(setCols as ColumnInfo[])];
      const { from, refs } = unnestFrom(cols, [...b.keyValues, ...b.setValues], 'c', wantUnmatched);
      const assignments = sql.join(
        (setCols as ColumnInfo[]).map(
          (c, j) => sql`${sql.identifier(c.name)} = ${refs[keyCols.length + j] as SQL}`,
        ),
        sql`, `,
      );
      const q = sql`update ${table} as dbkit_t set ${assignments} from ${from} where ${matchKeys(keyCols, refs)}${wantUnmatched ? sql` returning v.ord` : sql``}`;
      const res = await run(tx, q, { signal: ctx.signal });
      if (!wantUnmatched) return { count: res.count, method: 'unnest' };
      const matched = new Set(res.rows.map((x) => Number(x.ord)));
      const out: Row[] = [];
      b.rows.forEach((row, i) => {
        if (!matched.has(i + 1)) out.push(Object.fromEntries(keyCols.map((c) => [c.key, row[c.key]])));
      });
      return { count: res.rows.length, method: 'unnest', out };
    },
  );
  return {
    rows: r.count,
    batches: r.batches,
    durationMs: r.durationMs,
    unmatched: r.out as BulkUpdateResult<T>['unmatched'],
  };
}

/** Options of {@link bulkDelete}. */
export interface BulkDeleteOptions<T extends PgTable> extends BulkCommonOptions {
  /** Key column(s); with one column `keys` may be plain values, otherwise objects of the key columns. */
  key: BulkColumnKey<T> | readonly BulkColumnKey<T>[];
}

/** Result of {@link bulkDelete}. */
export interface BulkDeleteResult {
  /** Rows deleted. */
  rows: number;
  batches: number;
  durationMs: number;
}

/**
 * Deletes rows by key (`DELETE ... USING unnest(...)` per batch), single or composite keys.
 *
 * @example
 * ```ts
 * await bulkDelete(db, users, [1, 2, 3], { key: 'id' })
 * await bulkDelete(db, memberships, [{ orgId: 1, userId: 7 }], { key: ['orgId', 'userId'] })
 * ```
 */
export async function bulkDelete<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  keys: RowSource<unknown>,
  opts: BulkDeleteOptions<T>,
): Promise<BulkDeleteResult> {
  assertBulkArgs('bulkDelete', db, table, keys);
  const o = resolveBulkOptions(opts);
  const info = tableInfo(table);
  const keyCols = keysToColumns(info, opts.key, 'key');
  const single = keyCols.length === 1 ? (keyCols[0] as ColumnInfo) : undefined;
  const r = await runBatches<unknown, EncodedColumn[], never>(
    db,
    info.name,
    'delete',
    keys,
    o,
    (batch, start) => {
      const rows = batch.map((k) =>
        single &&
        (typeof k !== 'object' || k === null || k instanceof Date || Buffer.isBuffer(k) || Array.isArray(k))
          ? { [single.key]: k }
          : (k as Row),
      );
      checkKeys(info, rows, start);
      return encodeColumns(info, rows, start, keyCols, true);
    },
    async (tx, values, ctx) => {
      ctx.method = 'unnest';
      const { from, refs } = unnestFrom(keyCols, values, 'k');
      const res = await run(
        tx,
        sql`delete from ${table} as dbkit_t using ${from} where ${matchKeys(keyCols, refs)}`,
        { signal: ctx.signal },
      );
      return { count: res.count, method: 'unnest' };
    },
  );
  return { rows: r.count, batches: r.batches, durationMs: r.durationMs };
}
