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

/** Validates and encodes an insert batch; column set = columns given in any row plus JS defaults. */
export function encodeInsertBatch(info: TableInfo, rows: readonly Row[], start: number): EncodedBatch {
  checkKeys(info, rows, start);
  const n = rows.length;
  const cols: ColumnInfo[] = [];
  const values: EncodedColumn[] = [];
  let mixedDefaults = false;
  for (const col of info.columns) {
    let present = 0;
    let firstMissing = -1;
    for (let i = 0; i < n; i++) {
      if ((rows[i] as Row)[col.key] !== undefined) present++;
      else if (firstMissing < 0) firstMissing = i;
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
    const out: EncodedColumn = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = (rows[i] as Row)[col.key];
      if (v === undefined) {
        if (col.defaultFn) out[i] = encodeValue(info, col, col.defaultFn(), start + i);
        else out[i] = col.hasSqlDefault ? undefined : null;
      } else out[i] = encodeValue(info, col, v, start + i);
    }
    cols.push(col);
    values.push(out);
  }
  if (cols.length === 0 && n > 0)
    throw new BulkValidationError(info.name, start, undefined, 'row has no values to insert');
  return { cols, values, rows: n, mixedDefaults };
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
const copyEscape = (v: string) =>
  COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIAL_G, (c) => COPY_ESC[c] as string) : v;

/** COPY text-format data for a batch, yielded in ~64 KB chunks. */
export function* copyTextChunks(batch: EncodedBatch): Generator<string> {
  const { values, rows } = batch;
  const ncols = values.length;
  let buf = '';
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < ncols; j++) {
      const v = (values[j] as EncodedColumn)[i];
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
