/** Row validation and encoding into per-column text arrays, plus the COPY / array-literal serializers. */
import type { ColumnInfo, TableInfo } from './columns.js';
import { InvalidValue } from './columns.js';
import { BulkValidationError } from './errors.js';

/** Encoded values of one column: text, null (SQL NULL) or undefined (SQL DEFAULT). */
export type EncodedColumn = Array<string | null | undefined>;

export interface EncodedBatch {
  cols: ColumnInfo[];
  values: EncodedColumn[];
  rows: number;
  /** Some column is DEFAULT in some rows and given in others: only VALUES can express it. */
  mixedDefaults: boolean;
}

type Row = Record<string, unknown>;

/** Encodes one value or throws a BulkValidationError pointing at the row and column. */
export function encodeValue(info: TableInfo, col: ColumnInfo, v: unknown, rowIndex: number): string | null {
  if (v === null) {
    if (col.notNull) throw new BulkValidationError(info.name, rowIndex, col.key, 'null in a NOT NULL column');
    return null;
  }
  try {
    return col.encode(v);
  } catch (e) {
    if (e instanceof InvalidValue) throw new BulkValidationError(info.name, rowIndex, col.key, e.reason);
    throw e;
  }
}

/** Rejects keys that are not columns of the table. */
export function checkKeys(info: TableInfo, rows: readonly Row[], start: number): void {
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Row;
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new BulkValidationError(info.name, start + i, undefined, 'row is not an object');
    for (const k in row)
      if (!info.byKey.has(k)) throw new BulkValidationError(info.name, start + i, k, `unknown column "${k}"`);
  }
}

/**
 * checkKeys, counting per column (in info.columns order) the rows whose enumerable key holds a value other
 * than undefined, in the same walk.
 */
function checkKeysCounting(info: TableInfo, rows: readonly Row[], start: number): Int32Array {
  const index = new Map(info.columns.map((c, j) => [c.key, j]));
  const counts = new Int32Array(info.columns.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Row;
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new BulkValidationError(info.name, start + i, undefined, 'row is not an object');
    for (const k in row) {
      const j = index.get(k);
      if (j === undefined) throw new BulkValidationError(info.name, start + i, k, `unknown column "${k}"`);
      if (row[k] !== undefined) counts[j] = (counts[j] as number) + 1;
    }
  }
  return counts;
}

/** An insert batch whose column set is known; `values` are filled in eagerly or lazily (COPY). */
export interface PlannedBatch extends EncodedBatch {
  info: TableInfo;
  input: readonly Row[];
  start: number;
}

/** Checks keys and NOT NULL presence and picks the column set (given in any row, plus JS defaults). */
export function planInsertBatch(info: TableInfo, rows: readonly Row[], start: number): PlannedBatch {
  const counts = checkKeysCounting(info, rows, start);
  const n = rows.length;
  const cols: ColumnInfo[] = [];
  let mixedDefaults = false;
  for (let j = 0; j < info.columns.length; j++) {
    const col = info.columns[j] as ColumnInfo;
    let present = counts[j] as number;
    let firstMissing = -1;
    // Counted from the enumerable keys: a column some row lacks there is counted again by reading it (a value
    // may also be inherited or non-enumerable), with the first row that lacks it.
    if (present < n) {
      present = 0;
      for (let i = 0; i < n; i++) {
        if ((rows[i] as Row)[col.key] !== undefined) present++;
        else if (firstMissing < 0) firstMissing = i;
      }
    }
    if (col.generated) {
      if (present > 0) {
        const at = rows.findIndex((r) => r[col.key] !== undefined);
        throw new BulkValidationError(info.name, start + at, col.key, 'generated column cannot be written');
      }
      continue;
    }
    if (present < n && !col.defaultFn && !col.hasSqlDefault && col.notNull)
      throw new BulkValidationError(
        info.name,
        start + firstMissing,
        col.key,
        'missing value for NOT NULL column without default',
      );
    if (present === 0 && !col.defaultFn) continue;
    if (present < n && !col.defaultFn && col.hasSqlDefault) mixedDefaults = true;
    cols.push(col);
  }
  if (cols.length === 0 && n > 0)
    throw new BulkValidationError(info.name, start, undefined, 'row has no values to insert');
  return { info, input: rows, start, cols, values: [], rows: n, mixedDefaults };
}

/** One cell: undefined becomes the JS default, SQL DEFAULT (undefined) or NULL. */
function encodeCell(
  info: TableInfo,
  col: ColumnInfo,
  v: unknown,
  rowIndex: number,
): string | null | undefined {
  if (v === undefined) {
    if (col.defaultFn) return encodeValue(info, col, col.defaultFn(), rowIndex);
    return col.hasSqlDefault ? undefined : null;
  }
  return encodeValue(info, col, v, rowIndex);
}

/** Encodes every value of a planned batch (column-major), validating as it goes. */
export function encodePlanned(b: PlannedBatch): PlannedBatch {
  if (b.values.length === b.cols.length) return b;
  b.values = b.cols.map((col) => {
    const out: EncodedColumn = new Array(b.rows);
    for (let i = 0; i < b.rows; i++)
      out[i] = encodeCell(b.info, col, (b.input[i] as Row)[col.key], b.start + i);
    return out;
  });
  return b;
}

/** Plans and encodes an insert batch in one go. */
export function encodeInsertBatch(info: TableInfo, rows: readonly Row[], start: number): PlannedBatch {
  return encodePlanned(planInsertBatch(info, rows, start));
}

const ARRAY_SPECIAL = /[\\"]/g;
/** A text[] literal: every element quoted, so commas, braces, spaces and the word NULL survive. */
export function textArrayLiteral(values: EncodedColumn): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    parts[i] = v === null || v === undefined ? 'NULL' : `"${v.replace(ARRAY_SPECIAL, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_G = /[\\\n\r\t]/g;
const COPY_ESC: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
/** Escapes one COPY text field (backslash, newline, carriage return, tab). */
export const copyEscape = (v: string) =>
  COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIAL_G, (c) => COPY_ESC[c] as string) : v;

/**
 * COPY text-format data for a batch, yielded in ~64 KB chunks. When the batch is not encoded yet, rows are
 * validated and encoded while earlier chunks are on the wire, so JS work overlaps the server's.
 */
export function* copyTextChunks(batch: PlannedBatch): Generator<string> {
  const { values, rows, cols, info, input, start } = batch;
  const ncols = cols.length;
  const eager = values.length === ncols;
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const row = input[i] as Row;
    for (let j = 0; j < ncols; j++) {
      const col = cols[j] as ColumnInfo;
      const v = eager ? (values[j] as EncodedColumn)[i] : encodeCell(info, col, row[col.key], start + i);
      if (j > 0) buf += '\t';
      buf += v === null || v === undefined ? '\\N' : copyEscape(v);
    }
    buf += '\n';
    if (buf.length >= 65_536) {
      yield buf;
      buf = '';
    }
  }
  if (buf.length > 0) yield buf;
}

/**
 * COPY text-format data from already encoded columns (column-major), in ~64 KB chunks; with `ordinal`, each
 * line ends with the 1-based row number (bulkUpdate's unmatched keys).
 */
export function* copyTextColumns(values: EncodedColumn[], rows: number, ordinal: boolean): Generator<string> {
  const ncols = values.length;
  let buf = '';
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < ncols; j++) {
      const v = (values[j] as EncodedColumn)[i];
      if (j > 0) buf += '\t';
      buf += v === null || v === undefined ? '\\N' : copyEscape(v);
    }
    if (ordinal) buf += `\t${i + 1}`;
    buf += '\n';
    if (buf.length >= 65_536) {
      yield buf;
      buf = '';
    }
  }
  if (buf.length > 0) yield buf;
}
