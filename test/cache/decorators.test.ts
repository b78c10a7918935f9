import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createQueryCache,
  defaultCacheKey,
  isDbkitError,
  type QueryCache,
  redisStore,
} from '../../src/cache/index.js';
import { newRedisClient } from '../setup/index.js';
import type { FakeDb, makeRepository } from './fixtures/decorated-repo.js';
import { ioredisMajors, namespace } from './helpers.js';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'dbkit-cache-decorators-'));
const tsc = join(process.cwd(), 'node_modules/typescript/bin/tsc');
const modules: Record<string, { makeRepository: typeof makeRepository }> = {};
const clients = new Map<number, Redis>();

beforeAll(async () => {
  for (const m of ioredisMajors) clients.set(m, newRedisClient(m, inject('redisUrl')));
  // Both flavours compile (and type-check the decorator against src/cache) in parallel.
  await Promise.all(
    (['standard', 'legacy'] as const).map(async (flavour) => {
      await run(process.execPath, [
        tsc,
        '-p',
        `test/cache/fixtures/tsconfig.${flavour}.json`,
        '--outDir',
        join(out, flavour),
      ]);
      modules[flavour] = await import(
        pathToFileURL(join(out, flavour, 'test/cache/fixtures/decorated-repo.js')).href
      );
    }),
  );
}, 120_000);

afterAll(async () => {
  for (const c of clients.values()) await c.quit();
  rmSync(out, { recursive: true, force: true });
});

const cells = (['standard', 'legacy'] as const).flatMap((flavour) =>
  ioredisMajors.map((m) => [flavour, m] as const),
);

describe.each(cells)('@cache.cached() with %s decorators on ioredis %i', (flavour, major) => {
  let redis: Redis;
  let cache: QueryCache;
  let db: FakeDb;
  let Repo: ReturnType<typeof makeRepository>;
  beforeAll(() => {
    redis = clients.get(major)!;
    cache = createQueryCache({ store: redisStore(redis), namespace: namespace(`deco-${flavour}`), ttl: 60 });
    db = {
      calls: 0,
      rows: new Map(
        [1, 2, 3].map((id) => [id, { id, name: `user${id}`, updatedAt: new Date(Date.UTC(2024, 0, id)) }]),
      ),
    };
    Repo = modules[flavour]!.makeRepository(cache, db);
  });
  afterAll(() => cache.clear());

  it('caches results by arguments; `this` is not part of the key', async () => {
    const a = new Repo('a');
    const b = new Repo('b');
    const u = await a.findById(1);
    expect(u).toEqual({ id: 1, name: 'user1', updatedAt: new Date(Date.UTC(2024, 0, 1)) });
    expect(u?.updatedAt).toBeInstanceOf(Date);
    expect(await b.findById(1)).toEqual(u);
    expect(db.calls).toBe(1);
    await a.findById(2);
    expect(db.calls).toBe(2);
    // the default key: SHA-256 of namespace, Class.method and the arguments
    const key = defaultCacheKey(cache.options.namespace, 'UserRepository.findById', [1]);
    expect(await cache.get(key)).toEqual(u);
  });

  it('invalidation after a write reloads', async () => {
    const repo = new Repo('w');
    await repo.findById(3);
    const calls = db.calls;
    await repo.rename(3, 'renamed');
    expect((await repo.findById(3))?.name).toBe('renamed');
    expect(db.calls).toBe(calls + 1);
  });

  it('uses a custom key function and per-method ttl', async () => {
    const repo = new Repo('k');
    const first = await repo.search({ name: 'user', limit: 2 });
    expect(first).toHaveLength(2);
    const calls = db.calls;
    await repo.search({ limit: 2, name: 'user' });
    expect(db.calls).toBe(calls);
    expect(await cache.get('search:user:2')).toEqual(first);
    const ttl = await redis.pttl(cache.storeKey('search:user:2'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('derives tags from arguments and ignores object key order in default keys', async () => {
    const repo = new Repo('t');
    expect(await repo.countFrom({ minId: 2, note: 'x' })).toBe(2);
    const calls = db.calls;
    expect(await repo.countFrom({ note: 'x', minId: 2 })).toBe(2);
    expect(db.calls).toBe(calls);
    await cache.invalidateTags(['min:2']);
    await repo.countFrom({ minId: 2, note: 'x' });
    expect(db.calls).toBe(calls + 1);
  });

  it('works on static methods and collapses concurrent calls', async () => {
    const before = db.calls;
    const results = await Promise.all(Array.from({ length: 20 }, () => Repo.total()));
    expect(results.every((n) => n === 3)).toBe(true);
    const repo = new Repo('c');
    await Promise.all(Array.from({ length: 20 }, () => repo.findById(99)));
    expect(db.calls).toBe(before + 2);
  });
});

describe.each(ioredisMajors)('cache.wrap() on ioredis %i', (major) => {
  let cache: QueryCache;
  beforeAll(() => {
    cache = createQueryCache({
      store: redisStore(clients.get(major)!),
      namespace: namespace('wrap'),
      ttl: 60,
    });
  });
  afterAll(() => cache.clear());

  it('caches a plain function by name and arguments, passing `this` through', async () => {
    let calls = 0;
    async function loadOrders(
      this: { scale: number } | undefined,
      customerId: number,
      opts: { since: Date },
    ) {
      calls++;
      return { customerId, since: opts.since, total: 10n * BigInt(this?.scale ?? 1) };
    }
    const cached = cache.wrap(loadOrders, { tags: (id) => [`customer:${id}`] });
    const since = new Date(0);
    expect(await cached.call({ scale: 2 }, 7, { since })).toEqual({ customerId: 7, since, total: 20n });
    expect(await cached.call({ scale: 5 }, 7, { since })).toEqual({ customerId: 7, since, total: 20n });
    expect(calls).toBe(1);
    await cache.invalidateTags(['customer:7']);
    await cached.call({ scale: 5 }, 7, { since });
    expect(calls).toBe(2);
  });

  it('two functions with different names never share entries', async () => {
    const f = cache.wrap(async function first(x: number) {
      return `first ${x}`;
    });
    const g = cache.wrap(async function second(x: number) {
      return `second ${x}`;
    });
    expect(await f(1)).toBe('first 1');
    expect(await g(1)).toBe('second 1');
  });

  it('refuses an anonymous function without key or name', () => {
    expect(() => cache.wrap(async (x: number) => x)).toThrow(expect.objectContaining({ code: 'E_CONFIG' }));
    expect(isDbkitError(new Error())).toBe(false);
    expect(() => cache.wrap(async (x: number) => x, { name: 'double' })).not.toThrow();
  });
});
