import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CACHE_CHANNELS,
  type CacheManyEntry,
  CacheStoreError,
  CacheWarmError,
  type CacheWarmProgress,
  createQueryCache,
  isDbkitError,
  type QueryCache,
} from '../../src/cache/index.js';
import { ConfigError } from '../../src/errors.js';
import { freePort, newRedisClient } from '../setup/index.js';
import { ioredisMajors, makeStore, namespace, row, type StoreKind, storeKinds } from './helpers.js';

const disposers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const d of disposers) await d();
});

/** A cache whose store counts setMany pipelines in flight (the real store underneath). */
function cacheOn(kind: StoreKind, extra: { maxDecompressedBytes?: number } = {}) {
  const s = makeStore(kind);
  disposers.push(() => s.dispose());
  const store = s.store;
  const inner = store.setMany.bind(store);
  const flight = { now: 0, max: 0, calls: 0 };
  store.setMany = async (entries) => {
    flight.calls++;
    flight.max = Math.max(flight.max, ++flight.now);
    try {
      return await inner(entries);
    } finally {
      flight.now--;
    }
  };
  const cache = createQueryCache({ store, namespace: namespace('warm'), ttl: 60, ...extra });
  return { cache, flight };
}

const N = 2_000;
async function* rows(n: number, pulled: { n: number }): AsyncIterable<CacheManyEntry> {
  for (let i = 0; i < n; i++) {
    pulled.n++;
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    yield { key: `row:${i}`, value: row(i), ...(i % 2 ? { tags: ['rows'] } : {}) };
  }
}

async function readAll(cache: QueryCache, n: number) {
  return cache.getMany(Array.from({ length: n }, (_, i) => `row:${i}`));
}

describe.each(storeKinds)('warm on %s', (kind) => {
  it('preloads an async iterable in pipelined batches, bounded concurrency, with progress', async () => {
    const { cache, flight } = cacheOn(kind);
    const pulled = { n: 0 };
    const progress: CacheWarmProgress[] = [];
    const ahead: number[] = [];
    const channel: unknown[] = [];
    const fn = (m: unknown) => channel.push(m);
    subscribe(CACHE_CHANNELS.warm, fn);
    try {
      const result = await cache.warm(rows(N, pulled), {
        concurrency: 3,
        batchSize: 100,
        onProgress: (p) => {
          progress.push(p);
          ahead.push(pulled.n - p.written);
        },
      });
      expect(result).toMatchObject({ written: N, failed: 0, seen: N });
    } finally {
      unsubscribe(CACHE_CHANNELS.warm, fn);
    }
    expect(flight.calls).toBe(N / 100);
    // (the memory store's writes complete synchronously: nothing overlaps there)
    if (kind !== 'memory') expect(flight.max).toBeGreaterThan(1);
    expect(flight.max).toBeLessThanOrEqual(3);
    // The source is read at most `concurrency` batches (+ the one being filled) ahead of what is written.
    expect(Math.max(...ahead)).toBeLessThanOrEqual(4 * 100);
    expect(progress).toHaveLength(N / 100);
    expect(progress.map((p) => p.written)).toEqual(progress.map((_, i) => (i + 1) * 100));
    expect(channel.at(-1)).toMatchObject({ namespace: cache.options.namespace, written: N, done: true });
    const back = await readAll(cache, N);
    expect(back).toEqual(Array.from({ length: N }, (_, i) => row(i)));
    expect(cache.stats().warmed).toBe(N);
    // Tagged warm entries are invalidated like any other.
    await cache.invalidateTags(['rows']);
    expect((await readAll(cache, 4)).map((v) => v === undefined)).toEqual([false, true, false, true]);
  });

  it('takes arrays and sync iterables', async () => {
    const { cache } = cacheOn(kind);
    const entries = Array.from({ length: 10 }, (_, i) => ({ key: `row:${i}`, value: i }));
    expect(await cache.warm(entries)).toMatchObject({ written: 10 });
    expect(await cache.warm(new Set(entries).values(), { batchSize: 3 })).toMatchObject({ written: 10 });
    expect(await readAll(cache, 10)).toEqual(entries.map((e) => e.value));
  });

  it('writes the valid entries and rejects with every invalid one listed', async () => {
    const { cache } = cacheOn(kind, { maxDecompressedBytes: 1000 });
    const entries: CacheManyEntry[] = [
      { key: 'row:0', value: 0 },
      { key: '', value: 1 },
      { key: 'fn', value: { f: Symbol('x') } },
      { key: 'big', value: 'x'.repeat(2000) },
      { key: 'row:1', value: 1 },
    ];
    const e = await cache.warm(entries, { batchSize: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CacheWarmError);
    const w = e as CacheWarmError;
    expect(isDbkitError(w, 'E_CACHE_WARM')).toBe(true);
    expect(w.reason).toBe('entries');
    expect(w.written).toBe(2);
    expect(w.failures.map((f) => [f.key, f.code])).toEqual([
      ['', 'E_CONFIG'],
      ['fn', 'E_CACHE_SERIALIZE'],
      ['big', 'E_CACHE_VALUE_TOO_LARGE'],
    ]);
    expect(w.context).toMatchObject({ written: 2, failed: 3, seen: 5 });
    expect(w.cause).toBeInstanceOf(ConfigError);
    expect(await cache.getMany(['row:0', 'row:1', 'big'])).toEqual([0, 1, undefined]);
  });

  it('stops when the source throws, keeping what was written', async () => {
    const { cache } = cacheOn(kind);
    const boom = new Error('cursor closed');
    async function* broken() {
      for (let i = 0; i < 250; i++) yield { key: `row:${i}`, value: i };
      throw boom;
    }
    const e = (await cache.warm(broken(), { batchSize: 100 }).catch((x: unknown) => x)) as CacheWarmError;
    expect(e).toBeInstanceOf(CacheWarmError);
    expect(e).toMatchObject({ reason: 'source', cause: boom, written: 200 });
    expect((await readAll(cache, 200)).every((v) => v !== undefined)).toBe(true);
  });

  it('refuses bad options and sources', async () => {
    const { cache } = cacheOn(kind);
    await expect(cache.warm([], { concurrency: 0 })).rejects.toBeInstanceOf(ConfigError);
    await expect(cache.warm([], { batchSize: 1.5 })).rejects.toBeInstanceOf(ConfigError);
    await expect(cache.warm(42 as never)).rejects.toBeInstanceOf(ConfigError);
    expect(await cache.warm([])).toMatchObject({ written: 0, seen: 0 });
  });
});

describe.each(ioredisMajors)('warm with Redis down, ioredis %i', (major) => {
  it('stops at the first failed pipeline with the store error (even with failOpen)', async () => {
    const client = newRedisClient(major, `redis://127.0.0.1:${await freePort()}`, {
      maxRetriesPerRequest: 1,
      retryStrategy: () => 200,
    });
    client.on('error', () => {});
    try {
      const cache = createQueryCache({ redis: client, namespace: namespace('warm-down'), ttl: 60 });
      let pulled = 0;
      async function* many() {
        for (let i = 0; i < 100_000; i++) {
          pulled++;
          yield { key: `k${i}`, value: i };
        }
      }
      const e = (await cache
        .warm(many(), { batchSize: 100, concurrency: 2 })
        .catch((x) => x)) as CacheWarmError;
      expect(e).toBeInstanceOf(CacheWarmError);
      expect(e.reason).toBe('store');
      expect(e.written).toBe(0);
      expect(e.cause).toBeInstanceOf(CacheStoreError);
      expect(pulled).toBeLessThan(1000);
    } finally {
      client.disconnect();
    }
  });
});
