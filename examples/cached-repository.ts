/**
 * A drizzle repository whose reads are cached with `@cache.cached()` and invalidated by tag after writes.
 * Runs on embedded PGlite and the in-memory store by default; set DATABASE_URL / REDIS_URL for real servers.
 *
 *   npx tsx examples/cached-repository.ts
 */
import { desc, eq, sql } from 'drizzle-orm';
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import {
  type CacheStore,
  createQueryCache,
  memoryStore,
  type QueryCache,
  redisStore,
} from '../src/cache/index.js';

export const products = pgTable('cached_example_products', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  category: text('category').notNull(),
  priceCents: integer('price_cents').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type Product = typeof products.$inferSelect;

/** The drizzle calls this repository needs (postgres-js and PGlite databases both fit). */
// biome-ignore lint/suspicious/noExplicitAny: drizzle database flavours differ only in their driver type
type Db = any;

/** Creates the table (idempotent) and seeds `count` products. */
export async function seedProducts(db: Db, count = 500): Promise<void> {
  await db.execute(sql`create table if not exists cached_example_products (
    id serial primary key, name text not null, category text not null,
    price_cents integer not null, updated_at timestamptz not null default now())`);
  await db.execute(sql`truncate cached_example_products restart identity`);
  const categories = ['books', 'games', 'garden', 'kitchen', 'music'];
  await db.insert(products).values(
    Array.from({ length: count }, (_, i) => ({
      name: `Product ${i} ${'deluxe '.repeat(i % 3)}edition`,
      category: categories[i % categories.length]!,
      priceCents: 199 + ((i * 37) % 9000),
    })),
  );
}

/** A repository class whose read methods go through the cache; writes invalidate the tags they affect. */
export function createProductRepository(db: Db, cache: QueryCache) {
  class ProductRepository {
    /** Cached per id; tagged so an update to this product (or any product) drops it (`id` is typed from the method). */
    @cache.cached({ ttl: '10m', tags: (id) => ['products', `product:${id}`] })
    async byId(id: number): Promise<Product | undefined> {
      const rows: Product[] = await db.select().from(products).where(eq(products.id, id));
      return rows[0];
    }

    /** A heavier listing: compressed in the cache (above the 1 KB threshold). */
    @cache.cached({ ttl: '1m', tags: ['products'] })
    async byCategory(category: string, limit = 100): Promise<Product[]> {
      return db
        .select()
        .from(products)
        .where(eq(products.category, category))
        .orderBy(desc(products.priceCents))
        .limit(limit);
    }

    /** Cached by the user's search text, which may contain anything (`*`, `[`, `:` ...). */
    @cache.cached({ ttl: '1m', key: (term, limit = 20) => `search:${term}:${limit}` })
    async search(term: string, limit = 20): Promise<Product[]> {
      return db
        .select()
        .from(products)
        .where(sql`${products.name} ilike ${`%${term}%`}`)
        .limit(limit);
    }

    /** Drops every cached page of one search term: taken literally, even if it contains glob characters. */
    async forgetSearch(term: string): Promise<number> {
      return cache.invalidatePrefix(`search:${term}:`);
    }

    async updatePrice(id: number, priceCents: number): Promise<void> {
      await db.update(products).set({ priceCents, updatedAt: new Date() }).where(eq(products.id, id));
      // After the write commits: every cached read that could include this product is invalidated.
      await cache.invalidateTags([`product:${id}`, 'products']);
    }
  }
  return new ProductRepository();
}

/** A cache on REDIS_URL when set, otherwise in memory. */
export function exampleCache(
  namespace: string,
  redisUrl = process.env.REDIS_URL,
): { cache: QueryCache; close(): Promise<void> } {
  const redis = redisUrl ? new Redis(redisUrl) : undefined;
  const store: CacheStore = redis ? redisStore(redis) : memoryStore({ maxEntries: 10_000 });
  const cache = createQueryCache({ store, namespace, ttl: '5m' });
  return {
    cache,
    async close() {
      await cache.clear();
      await redis?.quit();
    },
  };
}

async function main() {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const client = new PGlite();
  const db = drizzle(client);
  // Any text is a namespace: `:` and the like are encoded in Redis keys, so namespaces never alias.
  const { cache, close } = exampleCache(`shop:products:${process.pid}`);
  try {
    await seedProducts(db);
    const repo = createProductRepository(db, cache);
    const t0 = performance.now();
    const books = await repo.byCategory('books');
    const cold = performance.now() - t0;
    const t1 = performance.now();
    await repo.byCategory('books');
    const warm = performance.now() - t1;
    console.log(
      `byCategory('books'): ${books.length} rows, cold ${cold.toFixed(2)} ms, cached ${warm.toFixed(2)} ms`,
    );
    const first = await repo.byId(1);
    await repo.updatePrice(1, 4242);
    const after = await repo.byId(1);
    console.log(`product 1 price ${first?.priceCents} -> ${after?.priceCents} (invalidated after the write)`);
    await repo.search('deluxe*');
    await repo.search('deluxe');
    console.log(
      `forgetSearch('deluxe*') dropped ${await repo.forgetSearch('deluxe*')} entry ('deluxe' kept)`,
    );
    console.log('stats', cache.stats());
  } finally {
    await close();
    await client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
