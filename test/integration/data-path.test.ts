/**
 * A small service written only against dbkit's public surfaces, as a user would: one manager, its
 * tracked and monitored drizzle db, a query cache from the same manager, dbkit/bulk writes and
 * transactions, expectQueries around a repository, metrics for all of it, and one closeAll.
 */
import { sql as dsql, eq, inArray } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bulkInsert, bulkUpdate, withTransaction } from '../../src/bulk/index.js';
import { type ClientManager, createClientManager } from '../../src/clients/index.js';
import { expectQueries, QueryExpectationError, trackQueries } from '../../src/query/index.js';
import { keyPrefix, useTestDatabase } from '../setup/index.js';

const database = useTestDatabase('integration');
const products = pgTable('products', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  category: integer('category').notNull(),
});

/** The repository a service would write: cached reads, bulk writes, both on the manager. */
function productRepository(manager: ClientManager, namespace: string) {
  const db = manager.db();
  const cache = manager.cache(namespace, { ttl: 60 });
  return {
    db,
    cache,
    byCategory: cache.wrap(
      async (category: number) =>
        db.select().from(products).where(eq(products.category, category)).orderBy(products.id),
      {
        key: (category: number) => `category:${category}`,
        tags: (category: number) => [`category:${category}`],
      },
    ),
    async namesOneByOne(ids: number[]) {
      const out: string[] = [];
      for (const id of ids) {
        const [p] = await db.select().from(products).where(eq(products.id, id)).execute();
        out.push(p!.name);
      }
      return out;
    },
    async names(ids: number[]) {
      const rows = await db.select().from(products).where(inArray(products.id, ids));
      const byId = new Map(rows.map((r) => [r.id, r.name]));
      return ids.map((id) => byId.get(id)!);
    },
  };
}

let manager: ClientManager;
let repo: ReturnType<typeof productRepository>;
const registry = new Registry();

beforeAll(async () => {
  manager = createClientManager({ env: {}, databaseUrl: database.url, redisUrl: inject('redisUrl') });
  manager.metrics({ registry });
  repo = productRepository(manager, keyPrefix('integration').replace(/:$/, ''));
  await manager.sql()`create table products (id int primary key, name text not null, category int not null)`;
});
afterAll(async () => {
  await manager?.closeAll({ timeoutMs: 5000 });
});

describe('one service on one data path', () => {
  it('bulk-loads 2,000 rows by COPY through the tracked, monitored db', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({ id: i + 1, name: `p${i + 1}`, category: i % 10 }));
    const t = await trackQueries(() => bulkInsert(repo.db, products, rows));
    expect(t.result).toMatchObject({ rows: 2000, method: 'copy' });
    const copies = t.queries.filter((q) => q.kind === 'copy');
    expect(copies.length).toBeGreaterThanOrEqual(1);
    expect(copies.every((q) => q.connection === 'transaction' && q.command === 'COPY')).toBe(true);
    expect(copies.reduce((n, q) => n + (q.rows ?? 0), 0)).toBe(2000);
    const h = manager.poolHealth();
    expect(h.stats).toMatchObject({ inFlight: 0, transactions: 0 });
    expect(h.stats.total.queries).toBeGreaterThanOrEqual(t.queries.length);
  });

  it('serves cached reads without queries and invalidates them after a bulk update in a transaction', async () => {
    const cold = await trackQueries(() => repo.byCategory(3));
    expect(cold.result).toHaveLength(200);
    expect(cold.queries).toHaveLength(1);
    const warm = await trackQueries(() => repo.byCategory(3));
    expect(warm.result).toEqual(cold.result);
    expect(warm.queries).toHaveLength(0);

    const tx = await trackQueries(() =>
      withTransaction(repo.db, async (t) => {
        const r = await bulkUpdate(
          t,
          products,
          [
            { id: 4, name: 'renamed' },
            { id: 14, name: 'renamed too' },
          ],
          { key: 'id' },
        );
        await t.execute(dsql`select 1`);
        return r.rows;
      }),
    );
    expect(tx.result).toBe(2);
    expect(tx.queries.every((q) => q.connection === 'transaction')).toBe(true);
    await repo.cache.invalidateTags(['category:3']);
    const fresh = await repo.byCategory(3);
    expect(fresh.find((p) => p.id === 4)?.name).toBe('renamed');
    expect(manager.poolHealth().stats.transactions).toBe(0);
  });

  it('expectQueries passes the batched repository and reports the N+1 one with its call site', async () => {
    const ids = [1, 2, 3, 5, 8, 13];
    const batched = await expectQueries(() => repo.names(ids), { max: 1 });
    expect(batched.result).toEqual(['p1', 'p2', 'p3', 'p5', 'p8', 'p13']);
    const err = await expectQueries(() => repo.namesOneByOne(ids)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryExpectationError);
    expect((err as Error).message).toContain('6x');
    expect((err as Error).message).toContain('data-path.test.ts');
  });

  it('exports the pool, the cache and the clients on one registry', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/db_client_operation_duration_seconds_count\{[^}]*pool_name="primary"[^}]*\} \d+/);
    expect(text).toMatch(/dbkit_pool_health_score\{pool_name="primary"\} \d+/);
    expect(text).toMatch(/dbkit_cache_hits_total\{cache="[^"]+"\} 1/);
    expect(text).toMatch(/dbkit_clients_created_total\{kind="redis"\} 1/);
  });

  it('closes everything once, in order', async () => {
    const r = await manager.closeAll({ timeoutMs: 5000 });
    expect(r.errors).toEqual([]);
    expect(r.closed).toEqual(['postgres', 'caches', 'redis']);
    expect(await manager.closeAll()).toBe(r);
  });
});
