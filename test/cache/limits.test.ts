import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_CHANNELS,
  type CacheStore,
  CacheValueTooLargeError,
  createQueryCache,
  isDbkitError,
  type QueryCache,
} from '../../src/cache/index.js';
import { makeStore, namespace, type StoreKind, storeKinds } from './helpers.js';

describe.each(storeKinds)('values too large to read back, on %s', (kind: StoreKind) => {
  let store: CacheStore;
  let dispose: () => Promise<void>;
  const caches: QueryCache[] = [];
  const make = (maxDecompressedBytes?: number, ns = namespace(`limits-${kind}`)) => {
    const c = createQueryCache({
      store,
      namespace: ns,
      ttl: 60,
      ...(maxDecompressedBytes ? { maxDecompressedBytes } : {}),
    });
    caches.push(c);
    return c;
  };
  beforeAll(() => {
    ({ store, dispose } = makeStore(kind));
  });
  afterAll(async () => {
    for (const c of caches) await c.clear();
    await dispose();
  });

  it('set of a 70 MB value with the default 64 MiB limit rejects with a typed error and writes nothing', async () => {
    const c = make();
    const huge = 'x'.repeat(70_000_000); // compresses to ~300 KB of lz4: it would have fit in Redis
    const err = await c.set('huge', huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheValueTooLargeError);
    expect(err).toMatchObject({
      code: 'E_CACHE_VALUE_TOO_LARGE',
      context: { key: 'huge', limit: 64 * 1024 * 1024 },
    });
    expect((err as CacheValueTooLargeError).message).toMatch(
      /over maxDecompressedBytes \(67108864\): not written/,
    );
    expect(await store.get(c.storeKey('huge'))).toBeNull();
    expect(c.stats().sets).toBe(0);
  });

  it('setMany with one oversize entry writes none of them', async () => {
    const c = make(10_000);
    const err = await c
      .setMany([
        { key: 'small1', value: 'a' },
        { key: 'big', value: 'y'.repeat(20_000) },
        { key: 'small2', value: 'b' },
      ])
      .catch((e: unknown) => e);
    expect(isDbkitError(err, 'E_CACHE_VALUE_TOO_LARGE')).toBe(true);
    expect(await store.getMany(['small1', 'big', 'small2'].map((k) => c.storeKey(k)))).toEqual([
      null,
      null,
      null,
    ]);
  });

  it('getOrSet and wrap return the loaded value, skip the write and count an oversize skip', async () => {
    const c = make(10_000);
    const seen: unknown[] = [];
    const onSkip = (m: unknown) => seen.push(m);
    subscribe(CACHE_CHANNELS.skip, onSkip);
    try {
      let loads = 0;
      const big = () => {
        loads++;
        return 'z'.repeat(50_000);
      };
      expect(await c.getOrSet('big', big)).toHaveLength(50_000);
      expect(await c.getOrSet('big', big)).toHaveLength(50_000);
      const wrapped = c.wrap(async (n: number) => 'w'.repeat(n), { name: 'repeat' });
      expect(await wrapped(30_000)).toHaveLength(30_000);
      expect(await wrapped(10)).toBe('w'.repeat(10)); // small results are still cached
      expect(loads).toBe(2); // never cached, so every call loads
      expect(await store.get(c.storeKey('big'))).toBeNull();
      const s = c.stats();
      expect(s.oversize).toBe(3);
      expect(s.corruptEntries).toBe(0); // the old behaviour: written, then a corrupt entry on every read
      expect(s.sets).toBe(1);
      expect(seen).toHaveLength(3);
      expect(seen[0]).toMatchObject({ key: 'big', reason: 'oversize', limit: 10_000 });
    } finally {
      unsubscribe(CACHE_CHANNELS.skip, onSkip);
    }
  });

  it('an entry written under a larger limit is a counted miss for a reader with a smaller one', async () => {
    const writer = make(1_000_000);
    const reader = make(10_000, writer.options.namespace);
    await writer.set('mid', 'm'.repeat(50_000));
    expect(await reader.get('mid')).toBeUndefined();
    expect(reader.stats().corruptEntries).toBe(1);
  });
});
