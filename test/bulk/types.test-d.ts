import type { PgDatabase } from 'drizzle-orm/pg-core';
import { describe, expectTypeOf, it } from 'vitest';
import {
  type BulkInsertResult,
  bulkDelete,
  bulkInsert,
  bulkUpdate,
  bulkUpsert,
  processInBatches,
  withTransaction,
} from '../../src/bulk/index.js';
import { items } from './schema.js';

// biome-ignore lint/suspicious/noExplicitAny: any drizzle pg database
declare const db: PgDatabase<any, any, any>;

describe('bulk types', () => {
  it('types rows from typeof table.$inferInsert', () => {
    expectTypeOf(bulkInsert<typeof items>)
      .parameter(2)
      .toEqualTypeOf<
        | readonly (typeof items.$inferInsert)[]
        | Iterable<typeof items.$inferInsert>
        | AsyncIterable<typeof items.$inferInsert>
      >();
    // @ts-expect-error: sku must be a string
    void bulkInsert(db, items, [{ sku: 1, price: 1 }]);
    // @ts-expect-error: price is required (NOT NULL without default)
    void bulkInsert(db, items, [{ sku: 'a' }]);
    // @ts-expect-error: unknown column
    void bulkInsert(db, items, [{ sku: 'a', price: 1, colour: 'red' }]);
    expectTypeOf(bulkInsert(db, items, [{ sku: 'a', price: 1 }])).resolves.toEqualTypeOf<
      BulkInsertResult<typeof items>
    >();
  });

  it('types returned rows, keys, columns and conflict targets by the table', async () => {
    const r = await bulkInsert(db, items, [], {
      returning: true,
      onConflict: { target: 'sku', set: ['qty'] },
    });
    expectTypeOf(r.returned).toEqualTypeOf<(typeof items.$inferSelect)[]>();
    // @ts-expect-error: not a column
    void bulkInsert(db, items, [], { onConflict: { target: 'nope' } });
    void bulkUpsert(db, items, [], { key: 'sku', set: 'all' });
    // @ts-expect-error: not a column
    void bulkUpdate(db, items, [], { key: 'skuu' });
    void bulkUpdate(db, items, [{ sku: 'a', qty: 2 }], { key: 'sku', columns: ['qty'] });
    void bulkDelete(db, items, ['a'], { key: 'sku' });
  });

  it('yields typed select rows and passes through the transaction result', () => {
    expectTypeOf(processInBatches(db, items)).toEqualTypeOf<
      AsyncGenerator<(typeof items.$inferSelect)[], void, undefined>
    >();
    expectTypeOf(withTransaction(db, async () => 42)).resolves.toEqualTypeOf<number>();
  });
});
