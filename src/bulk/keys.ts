/** Duplicate-key detection across the batches of one bulkUpdate call. */
import type { ColumnInfo } from './columns.js';
import type { EncodedColumn } from './encode.js';

/** Integer column types whose validated values are exact JS numbers (the text key is String(value)). */
const INTEGER_TYPES = new Set([
  'PgInteger',
  'PgSerial',
  'PgSmallInt',
  'PgSmallSerial',
  'PgBigInt53',
  'PgBigSerial53',
]);

/**
 * Remembers the keys of a call and returns the index of the first key already seen, or -1. With one integer
 * key column, keys that keep increasing (ids in order, the usual input) are checked by comparison alone, and
 * a Set is only built (from every key so far) at the first one that does not; other keys go by their text.
 */
export class KeyTracker {
  private readonly numeric: boolean;
  private seen: Set<unknown> | undefined;
  private last = Number.NEGATIVE_INFINITY;
  /** Numeric keys of earlier batches, kept while they increase, to build the Set from if they stop. */
  private earlier: number[][] = [];

  constructor(keyCols: readonly ColumnInfo[]) {
    const only = keyCols.length === 1 ? keyCols[0] : undefined;
    this.numeric = only !== undefined && INTEGER_TYPES.has(only.column.columnType);
    if (!this.numeric) this.seen = new Set();
  }

  /** `rows` hold validated keys (`keyValues` their text encodings, column-major); returns a duplicate's index. */
  add(
    rows: readonly Record<string, unknown>[],
    keyCols: readonly ColumnInfo[],
    keyValues: EncodedColumn[],
  ): number {
    if (!this.numeric) {
      const seen = this.seen as Set<unknown>;
      const single = keyValues.length === 1 ? (keyValues[0] as EncodedColumn) : undefined;
      for (let i = 0; i < rows.length; i++) {
        // One key column (the usual case): its text is the key, without building an array per row.
        const k = single ? (single[i] as string) : keyValues.map((col) => col[i]).join('\u0000');
        if (seen.has(k)) return i;
        seen.add(k);
      }
      return -1;
    }
    const key = (keyCols[0] as ColumnInfo).key;
    const n = rows.length;
    let i = 0;
    if (this.seen === undefined) {
      const values = new Array<number>(n);
      let last = this.last;
      for (; i < n; i++) {
        const v = (rows[i] as Record<string, unknown>)[key] as number;
        if (!(v > last)) break;
        values[i] = v;
        last = v;
      }
      this.last = last;
      if (i === n) {
        this.earlier.push(values);
        return -1;
      }
      // -0 and 0 are one key, as their text ('0') is: a Set compares them equal too.
      const seen = new Set<unknown>();
      for (const batch of this.earlier) for (const v of batch) seen.add(v);
      for (let j = 0; j < i; j++) seen.add(values[j]);
      this.earlier = [];
      this.seen = seen;
    }
    const seen = this.seen;
    for (; i < n; i++) {
      const v = (rows[i] as Record<string, unknown>)[key];
      if (seen.has(v)) return i;
      seen.add(v);
    }
    return -1;
  }
}
