import { gt } from 'drizzle-orm';
import type postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BulkAbortedError,
  BulkValidationError,
  bulkDelete,
  bulkInsert,
  bulkUpdate,
  processInBatches,
} from '../../src/bulk/index.js';
import { useTestDatabase } from '../setup/index.js';
import { type Driver, ddl, nodePostgres, pglite, postgresJs } from './helpers.js';
import { items, itemsDdl, memberships, membershipsDdl } from './schema.js';

const tdb = useTestDatabase('bulk_update');
let d: Driver & { sql: postgres.Sql };

beforeAll(async () => {
  d = postgresJs(tdb.url);
  await ddl(d.db, itemsDdl, membershipsDdl);
});
afterAll(() => d.close());
beforeEach(async () => {
  await d.sql`truncate items, memberships restart identity`;
});

const seed = (n: number) =>
  bulkInsert(
    d.db,
    items,
    Array.from({ length: n }, (_, i) => ({ sku: `s${i}`, qty: 1, price: i, note: 'keep' })),
  );

describe('bulkUpdate', () => {
  it('changes only the given columns and reports unmatched keys', async () => {
    await seed(2_000);
    const rows = Array.from({ length: 2_100 }, (_, i) => ({ sku: `s${i}`, qty: i % 5, note: 'changed' }));
    const r = await bulkUpdate(d.db, items, rows, {
      key: 'sku',
      columns: ['qty'],
      returnUnmatched: true,
      batchSize: 700,
    });
    expect(r.rows).toBe(2_000);
    expect(r.batches).toBe(3);
    expect(r.unmatched).toEqual(Array.from({ length: 100 }, (_, i) => ({ sku: `s${2_000 + i}` })));
    const [s] =
      await d.sql`select sum(qty)::int as q, count(*) filter (where note = 'keep')::int as kept from items`;
    expect(s).toEqual({ q: rows.slice(0, 2_000).reduce((a, x) => a + x.qty, 0), kept: 2_000 });
  });

  it('updates by a composite key', async () => {
    await bulkInsert(
      d.db,
      memberships,
      [1, 2].flatMap((orgId) => [1, 2, 3].map((userId) => ({ orgId, userId, role: 'member' }))),
    );
    const r = await bulkUpdate(
      d.db,
      memberships,
      [
        { orgId: 2, userId: 3, role: 'owner' },
        { orgId: 1, userId: 2, role: 'admin' },
      ],
      { key: ['orgId', 'userId'] },
    );
    expect(r.rows).toBe(2);
    expect(
      await d.sql`select org_id, user_id, role from memberships where role <> 'member' order by 1, 2`,
    ).toEqual([
      { org_id: 1, user_id: 2, role: 'admin' },
      { org_id: 2, user_id: 3, role: 'owner' },
    ]);
  });

  it('rejects a duplicate key before writing', async () => {
    await seed(10);
    const err = await bulkUpdate(
      d.db,
      items,
      [
        { sku: 's1', qty: 9 },
        { sku: 's2', qty: 9 },
        { sku: 's1', qty: 8 },
      ],
      { key: 'sku', atomic: false, batchSize: 2 },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(BulkValidationError);
    expect(err).toMatchObject({ rowIndex: 2, column: 'sku', reason: 'duplicate key in one bulkUpdate call' });
    expect(await d.sql`select count(*)::int as n from items where qty = 9`).toEqual([{ n: 0 }]);
  });
  it('rejects a duplicate integer key in and across batches, whatever the order so far', async () => {
    await seed(10);
    const dup = (ids: number[], batchSize: number) =>
      bulkUpdate(
        d.db,
        items,
        ids.map((id) => ({ id, qty: 9 })),
        { key: 'id', batchSize },
      ).catch((e) => e);
    // Increasing ids, then one already seen in an earlier batch, in the same batch, or after a step back.
    for (const [ids, batchSize, rowIndex] of [
      [[1, 2, 3, 4, 5, 3], 3, 5],
      [[1, 2, 3, 4, 5, 5], 6, 5],
      [[1, 5, 2, 3, 7, 2], 2, 5],
      [[4, 1, 2, 3, 4], 10, 4],
      [[0, -0], 10, 1],
    ] as const) {
      const err = await dup([...ids], batchSize);
      expect(err, JSON.stringify(ids)).toBeInstanceOf(BulkValidationError);
      expect(err).toMatchObject({ rowIndex, column: 'id', reason: 'duplicate key in one bulkUpdate call' });
    }
    expect(await d.sql`select count(*)::int as n from items where qty = 9`).toEqual([{ n: 0 }]);
    const ok = await bulkUpdate(
      d.db,
      items,
      [3, 1, 2, 10, 4].map((id) => ({ id, qty: 9 })),
      { key: 'id', batchSize: 2 },
    );
    expect(ok.rows).toBe(5);
  });
});

describe('bulkDelete', () => {
  it('deletes by single and composite keys', async () => {
    await seed(1_000);
    const r = await bulkDelete(
      d.db,
      items,
      Array.from({ length: 600 }, (_, i) => `s${i * 2}`),
      {
        key: 'sku',
        batchSize: 250,
      },
    );
    expect(r).toMatchObject({ rows: 500, batches: 3 });
    expect(await d.sql`select count(*)::int as n from items`).toEqual([{ n: 500 }]);
    await bulkInsert(d.db, memberships, [
      { orgId: 1, userId: 1, role: 'a' },
      { orgId: 1, userId: 2, role: 'b' },
      { orgId: 2, userId: 1, role: 'c' },
    ]);
    const m = await bulkDelete(
      d.db,
      memberships,
      [
        { orgId: 1, userId: 2 },
        { orgId: 2, userId: 2 },
      ],
      { key: ['orgId', 'userId'] },
    );
    expect(m.rows).toBe(1);
    expect(await d.sql`select role from memberships order by role`).toEqual([{ role: 'a' }, { role: 'c' }]);
  });
});

describe('processInBatches', () => {
  it('visits every matching row once, in key order, batch by batch', async () => {
    await seed(1_050);
    const seen: number[] = [];
    const sizes: number[] = [];
    for await (const batch of processInBatches(d.db, items, { batchSize: 100, where: gt(items.price, 49) })) {
      sizes.push(batch.length);
      for (const r of batch) seen.push(r.id);
    }
    expect(seen).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 51));
    expect(sizes).toEqual(Array(10).fill(100));
  });

  it('pages on a composite key and stops on abort', async () => {
    const rows = [3, 1, 2].flatMap((orgId) => [5, 4, 6, 1].map((userId) => ({ orgId, userId, role: 'r' })));
    await bulkInsert(d.db, memberships, rows);
    const seen: string[] = [];
    for await (const batch of processInBatches(d.db, memberships, { batchSize: 5 }))
      for (const r of batch) seen.push(`${r.orgId}:${r.userId}`);
    expect(seen).toEqual([1, 2, 3].flatMap((o) => [1, 4, 5, 6].map((u) => `${o}:${u}`)));
    const ac = new AbortController();
    const it = processInBatches(d.db, memberships, { batchSize: 5, signal: ac.signal });
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toBeInstanceOf(BulkAbortedError);
  });
});

describe.each([
  ['node-postgres', async () => nodePostgres(tdb.url)],
  ['pglite', () => pglite()],
] as const)('on %s', (name, open) => {
  let o: Driver;
  beforeAll(async () => {
    o = await open();
    if (name === 'pglite') await ddl(o.db, itemsDdl);
  });
  afterAll(() => o.close());

  it('inserts, updates, deletes and pages', async () => {
    if (name === 'node-postgres') await d.sql`truncate items restart identity`;
    const rows = Array.from({ length: 3_000 }, (_, i) => ({ sku: `p${i}`, price: i }));
    const ins = await bulkInsert(o.db, items, rows, { batchSize: 1_000 });
    expect(ins).toMatchObject({ rows: 3_000, method: 'unnest' });
    const up = await bulkUpdate(
      o.db,
      items,
      rows.map((r) => ({ sku: r.sku, qty: 2 })),
      { key: 'sku' },
    );
    expect(up.rows).toBe(3_000);
    const del = await bulkDelete(
      o.db,
      items,
      rows.slice(0, 1_000).map((r) => r.sku),
      { key: 'sku' },
    );
    expect(del.rows).toBe(1_000);
    let n = 0;
    let qty = 0;
    for await (const b of processInBatches(o.db, items, { batchSize: 700 }))
      for (const r of b) {
        n++;
        qty += r.qty;
      }
    expect({ n, qty }).toEqual({ n: 2_000, qty: 4_000 });
  });
});
