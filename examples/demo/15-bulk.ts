import { sql } from 'drizzle-orm';
import { boolean, doublePrecision, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import {
  BulkValidationError,
  bulkInsert,
  bulkUpdate,
  processInBatches,
  withTransaction,
} from '../../src/bulk/index.js';
import type { DemoContext } from './context.js';

export const order = 15;
export const title = 'Bulk writes (dbkit/bulk)';

const orders = pgTable('demo_bulk_orders', {
  id: integer('id').primaryKey(),
  customer: text('customer').notNull(),
  total: doublePrecision('total').notNull(),
  paid: boolean('paid').notNull(),
  meta: jsonb('meta'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

export async function run(ctx: DemoContext): Promise<void> {
  const db = ctx.db;
  await db.execute(sql`drop table if exists demo_bulk_orders`);
  await db.execute(sql`create table demo_bulk_orders (id int primary key, customer text not null,
    total float8 not null, paid bool not null, meta jsonb, created_at timestamptz not null)`);
  const n = ctx.postgresKind === 'pglite' ? 20_000 : 100_000;
  const rows = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    customer: `customer ${i % 997}`,
    total: Math.round(i * 37.5) / 100,
    paid: i % 3 !== 0,
    meta: i % 10 === 0 ? { channel: 'web', tags: ['promo'] } : null,
    createdAt: new Date(Date.UTC(2024, 0, 1) + i * 60_000),
  }));
  const ins = await bulkInsert(db, orders, rows);
  console.log(
    `   bulkInsert: ${n.toLocaleString()} rows in ${Math.round(ins.durationMs)} ms via ${ins.method} -> ${Math.round((n * 1000) / ins.durationMs).toLocaleString()} rows/s`,
  );
  const upd = await bulkUpdate(
    db,
    orders,
    rows.filter((r) => !r.paid).map((r) => ({ id: r.id, paid: true })),
    { key: 'id' },
  );
  console.log(
    `   bulkUpdate: ${upd.rows.toLocaleString()} rows in ${Math.round(upd.durationMs)} ms -> ${Math.round((upd.rows * 1000) / upd.durationMs).toLocaleString()} rows/s`,
  );
  let batches = 0;
  let sum = 0;
  for await (const batch of processInBatches(db, orders, { batchSize: 5_000 })) {
    batches++;
    for (const o of batch) sum += o.total;
  }
  console.log(`   processInBatches: ${batches} keyset pages, total ${sum.toFixed(2)}`);
  try {
    await bulkInsert(db, orders, [
      { id: 1, customer: 'x\u0000', total: 1, paid: true, createdAt: new Date() },
    ]);
  } catch (e) {
    if (e instanceof BulkValidationError)
      console.log(`   rejected before writing: ${e.code} row ${e.rowIndex} ${e.column}: ${e.reason}`);
  }
  let hooks = 0;
  await withTransaction(db, async (tx, { onCommit }) => {
    await tx.execute(sql`update demo_bulk_orders set total = total + 1 where id = 1`);
    onCommit(() => {
      hooks++;
    });
  });
  console.log(`   withTransaction: committed, onCommit hooks run ${hooks} time(s)`);
  await db.execute(sql`drop table demo_bulk_orders`);
}
