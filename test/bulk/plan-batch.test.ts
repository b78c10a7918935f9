/** planInsertBatch: the column set and the validation errors, counted from keys in one walk. */
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { tableInfo } from '../../src/bulk/columns.js';
import { planInsertBatch } from '../../src/bulk/encode.js';
import { BulkValidationError } from '../../src/bulk/errors.js';

const t = pgTable('plan_t', {
  id: integer('id').primaryKey(),
  a: text('a').notNull(),
  b: text('b'),
  c: text('c').default('x'),
});
const info = tableInfo(t);
const keys = (rows: Record<string, unknown>[]) => planInsertBatch(info, rows, 0).cols.map((c) => c.key);
const error = (rows: unknown[]) => {
  try {
    planInsertBatch(info, rows as Record<string, unknown>[], 10);
  } catch (e) {
    if (e instanceof BulkValidationError) return { row: e.rowIndex, column: e.column, message: e.message };
    throw e;
  }
  return undefined;
};

describe('planInsertBatch', () => {
  it('takes the columns given in any row, undefined counting as missing', () => {
    expect(
      keys([
        { id: 1, a: 'x' },
        { id: 2, a: 'y', b: null },
      ]),
    ).toEqual(['id', 'a', 'b']);
    expect(keys([{ id: 1, a: 'x', b: undefined }])).toEqual(['id', 'a']);
    const p = planInsertBatch(
      info,
      [
        { id: 1, a: 'x', c: 'y' },
        { id: 2, a: 'y' },
      ],
      0,
    );
    expect(p.mixedDefaults).toBe(true);
  });

  it('counts values that are inherited or not enumerable, as reading the row does', () => {
    const inherited = Object.create({ a: 'from proto' }) as Record<string, unknown>;
    inherited.id = 1;
    const hidden: Record<string, unknown> = { id: 2 };
    Object.defineProperty(hidden, 'a', { value: 'hidden', enumerable: false });
    expect(keys([inherited, hidden])).toEqual(['id', 'a']);
    const hiddenB: Record<string, unknown> = { id: 3, a: 'x' };
    Object.defineProperty(hiddenB, 'b', { value: 'hidden', enumerable: false });
    expect(keys([{ id: 4, a: 'y' }, hiddenB])).toEqual(['id', 'a', 'b']);
  });

  it('reports the first bad row: not an object, an unknown key, then a missing NOT NULL value', () => {
    expect(error([{ id: 1, a: 'x' }, [1], { nope: 1 }])).toMatchObject({ row: 11, column: undefined });
    expect(error([{ id: 1, a: 'x' }, { id: 2, a: 'y', nope: 1 }, null])).toMatchObject({
      row: 11,
      column: 'nope',
    });
    expect(error([{ id: 1, a: 'x' }, { id: 2 }, { id: 3, a: undefined }])).toMatchObject({
      row: 11,
      column: 'a',
    });
    expect(
      error([
        { id: 1, a: 'x' },
        { id: 2, a: 'y' },
      ]),
    ).toBeUndefined();
  });
});
