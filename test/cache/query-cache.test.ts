import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_CHANNELS,
  type CacheStore,
  createQueryCache,
  isDbkitError,
  jsonSerializer,
  type QueryCache,
} from '../../src/cache/index.js';
import { sleep } from '../setup/index.js';
import { makeStore, namespace, row, type StoreKind, storeKinds } from './helpers.js';

// Every behaviour also runs with the local tier on (`+ local`): it must change no observable result.
const variants = storeKinds.flatMap((k) => [[k, ''] as const, [k, ' + local'] as const]);

describe.each(variants)('QueryCache on %s%s', (kind: StoreKind, tier) => {
  let store: CacheStore;
  let dispose: () => Promise<void>;
  const caches: QueryCache[] = [];
  const make = (opts: Partial<Parameters<typeof createQueryCache>[0]> = {}) => {
    const c = createQueryCache({
      store,
      namespace: namespace(kind),
      ttl: 60,
      ...(tier ? { local: {} } : {}),
      ...opts,
    });
    caches.push(c);
    return c;
  };
  beforeAll(() => {
    ({ store, dispose } = makeStore(kind));
  });
  afterAll(async () => {
    for (const c of caches) {
      await c.clear();
      await c.close();
    }
    await dispose();
  });

  it('misses, then hits with an equal value', async () => {
    const c = make();
    expect(await c.get('a')).toBeUndefined();
    const value = { rows: [row(1), row(2)], at: new Date(5), m: new Map([[1, 'x']]), s: new Set(['y']) };
    await c.set('a', value);
    expect(await c.get('a')).toEqual(value);
    const s = c.stats();
    expect(s).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5, sets: 1, errors: 0, circuit: 'closed' });
  });

  it("compresses with 'auto': raw below 1 KiB, lz4 below 16 KiB, gzip above; reports bytes and codecs", async () => {
    const c = make();
    const big = Array.from({ length: 200 }, (_, i) => row(i)); // ~50 KB serialized
    const medium = Array.from({ length: 20 }, (_, i) => row(i)); // ~5 KB
    await c.set('big', big);
    await c.set('medium', medium);
    await c.set('small', { id: 1 });
    const s = c.stats();
    expect(s.codecs).toEqual({ gzip: 1, lz4: 1, none: 1 });
    expect(s.bytesStored).toBeLessThan(s.bytesRaw);
    expect(s.compressionRatio).toBeGreaterThan(1.5);
    expect(await c.get('big')).toEqual(big);
    expect(await c.get('medium')).toEqual(medium);
    const lz4 = make({ compression: 'lz4' });
    await lz4.set('big', big);
    expect(lz4.stats().codecs).toEqual({ lz4: 1 });
    const auto = make();
    await auto.set('big', big);
    // gzip (level 3 under 'auto') stores the big one at least 20% smaller than lz4
    expect(lz4.stats().bytesStored).toBeGreaterThan(auto.stats().bytesStored * 1.2);
  });

  it('expires entries after the per-call ttl', async () => {
    const c = make();
    await c.set('t', 1, { ttl: '100ms' });
    expect(await c.get('t')).toBe(1);
    await sleep(200);
    expect(await c.get('t')).toBeUndefined();
  });

  it('caches falsy and undefined values as hits', async () => {
    const c = make();
    let calls = 0;
    const load = async () => {
      calls++;
      return undefined;
    };
    await c.getOrSet('u', load);
    await c.getOrSet('u', load);
    await c.set('zero', 0);
    expect(await c.get('zero')).toBe(0);
    expect(calls).toBe(1);
  });

  it('getMany and setMany round-trip in key order', async () => {
    const c = make();
    const keys = Array.from({ length: 60 }, (_, i) => `many:${i}`);
    await c.setMany(keys.filter((_, i) => i % 2 === 0).map((key, i) => ({ key, value: row(i) })));
    const got = await c.getMany(keys);
    expect(got).toEqual(keys.map((_, i) => (i % 2 === 0 ? row(i / 2) : undefined)));
    // misses are real undefined entries, not holes (map/forEach would skip holes)
    expect(got.map((v) => v === undefined).filter(Boolean)).toHaveLength(30);
    expect(Object.keys(got)).toHaveLength(60);
    expect(c.stats()).toMatchObject({ hits: 30, misses: 30, sets: 30 });
    expect(await c.deleteMany(keys)).toBe(30);
    expect((await c.getMany(keys)).every((v) => v === undefined)).toBe(true);
  });

  it('invalidateTags drops tagged entries only', async () => {
    const c = make();
    await c.set('u1', 'one', { tags: ['users', 'user:1'] });
    await c.set('u2', 'two', { tags: ['users', 'user:2'] });
    await c.set('p1', 'post', { tags: ['posts'] });
    await c.invalidateTags(['user:1']);
    expect(await c.get('u1')).toBeUndefined();
    expect(await c.get('u2')).toBe('two');
    await c.invalidateTags(['users']);
    expect(await c.getMany(['u1', 'u2', 'p1'])).toEqual([undefined, undefined, 'post']);
    // a new write after invalidation is served again
    await c.set('u1', 'one again', { tags: ['users'] });
    expect(await c.get('u1')).toBe('one again');
  });

  it('a load that races an invalidation of its tag is not served afterwards', async () => {
    const c = make();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = c.getOrSet(
      'race',
      async () => {
        await gate;
        return 'stale';
      },
      { tags: ['orders'] },
    );
    await sleep(20);
    await c.invalidateTags(['orders']); // the database changed while the old value was loading
    release();
    expect(await slow).toBe('stale');
    expect(await c.getOrSet('race', async () => 'fresh', { tags: ['orders'] })).toBe('fresh');
    expect(await c.get('race')).toBe('fresh');
  });

  it('single-flight: 50 concurrent misses call the loader once', async () => {
    const c = make();
    let calls = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        c.getOrSet('sf', async () => {
          calls++;
          await sleep(30);
          return { n: 42 };
        }),
      ),
    );
    expect(calls).toBe(1);
    expect(results.every((r) => r.n === 42)).toBe(true);
    expect(c.stats().loaderCalls).toBe(1);
  });

  it('a loader error reaches every waiter and is not cached', async () => {
    const c = make();
    let calls = 0;
    const boom = async () => {
      calls++;
      await sleep(20);
      throw new Error('db down');
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => c.getOrSet('err', boom)));
    expect(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'db down')).toBe(
      true,
    );
    expect(calls).toBe(1);
    expect(await c.getOrSet('err', async () => 'ok')).toBe('ok');
  });

  it('invalidatePattern stays inside the namespace', async () => {
    const a = make();
    const b = make();
    await a.setMany([
      { key: 'user:1', value: 1 },
      { key: 'user:2', value: 2 },
      { key: 'post:1', value: 3 },
    ]);
    await b.set('user:1', 'other namespace');
    expect(await a.invalidatePattern('user:*')).toBe(2);
    expect(await a.getMany(['user:1', 'user:2', 'post:1'])).toEqual([undefined, undefined, 3]);
    expect(await b.get('user:1')).toBe('other namespace');
    // a glob cannot climb out of the namespace
    expect(await a.invalidatePattern('*')).toBe(1);
    expect(await b.get('user:1')).toBe('other namespace');
  });

  it('clear() removes this namespace only', async () => {
    const a = make();
    const b = make();
    await a.invalidateTags(['t']); // creates the tag counter
    await a.set('x', 1, { tags: ['t'] });
    await b.set('x', 2);
    expect(await a.clear()).toBe(2); // entry + tag counter
    expect(await a.get('x')).toBeUndefined();
    expect(await b.get('x')).toBe(2);
  });

  it('treats a corrupt entry as a miss, deletes it and counts it', async () => {
    const c = make();
    await c.set('bad', 'good value');
    const full = c.storeKey('bad');
    await store.set(full, Buffer.from([0xdb, 1, 9, 0, 0, 0, 0, 1, 0]), 60_000); // unknown codec 9
    expect(await c.get('bad')).toBeUndefined();
    expect(c.stats().corruptEntries).toBe(1);
    await sleep(20);
    expect(await store.get(full)).toBeNull();
    await store.set(full, Buffer.from('plain garbage'), 60_000);
    expect(await c.getOrSet('bad', () => 'reloaded')).toBe('reloaded');
    expect(c.stats().corruptEntries).toBe(2);
    expect(await c.get('bad')).toBe('reloaded');
  });

  it('getMany: an entry that does not deserialize is a corrupt miss, deleted; the others are hits in order', async () => {
    const c = make();
    await c.setMany([
      { key: 'a', value: { n: 1 } },
      { key: 'b', value: { n: 2 } },
      { key: 'c', value: { n: 3 } },
    ]);
    // an uncompressed, untagged frame with the JSON marker and a payload that is not JSON
    const payload = Buffer.from([0xc1, ...Buffer.from('{"n":')]);
    const header = Buffer.from([0xdb, 1, 0, 0, 0, 0, 0, 0]);
    header.writeUInt32BE(payload.length, 4);
    await store.set(c.storeKey('b'), Buffer.concat([header, payload]), 60_000);
    const hits: string[] = [];
    const onHit = (m: unknown) => {
      if ((m as { namespace: string }).namespace === c.options.namespace)
        hits.push((m as { key: string }).key);
    };
    subscribe(CACHE_CHANNELS.hit, onHit);
    try {
      expect(await c.getMany(['a', 'b', 'c', 'd'])).toEqual([{ n: 1 }, undefined, { n: 3 }, undefined]);
    } finally {
      unsubscribe(CACHE_CHANNELS.hit, onHit);
    }
    expect(hits).toEqual(['a', 'c']);
    expect(c.stats()).toMatchObject({ hits: 2, misses: 2, corruptEntries: 1 });
    await sleep(20);
    expect(await store.get(c.storeKey('b'))).toBeNull();
    expect(await c.getMany(['a', 'b'])).toEqual([{ n: 1 }, undefined]);
    expect(c.stats()).toMatchObject({ hits: 3, misses: 3, corruptEntries: 1 });
  });

  it('getMany reads JSON and MessagePack payloads, compressed and plain, in key order', async () => {
    // default serializer: small plain objects as JSON, the rest (string values, Dates, Maps, large rows) as
    // MessagePack; 'auto' leaves the small ones uncompressed and compresses the large ones
    const c = make();
    const values: unknown[] = [
      { n: 1 },
      'a string value',
      { at: new Date(7), m: new Map([[1, 'x']]) },
      [1, 'two', null],
      Array.from({ length: 40 }, (_, i) => row(i)),
      { text: '"{not json}"' },
      { name: 'Zoë, 日本, 🎉' },
      42,
    ];
    const keys = values.map((_, i) => `mixed:${i}`);
    await c.setMany(keys.map((key, i) => ({ key, value: values[i] })));
    const got = await c.getMany([...keys, 'mixed:absent', keys[1]!]);
    expect(got).toEqual([...values, undefined, values[1]]);
    expect(c.stats()).toMatchObject({ hits: values.length + 1, misses: 1, corruptEntries: 0 });
    expect(c.stats().codecs).toMatchObject({ none: values.length - 1 });
  });

  it('getMany with the JSON serializer reads its payloads, JSON text values included', async () => {
    const c = make({ serializer: jsonSerializer() });
    const values = [{ n: 1 }, 'text', '{"looks":"like json"}', [{ id: 1, tags: ['a'] }], 'Zoë 🎉', null, 0];
    const keys = values.map((_, i) => `json:${i}`);
    await c.setMany(keys.map((key, i) => ({ key, value: values[i] })));
    expect(await c.getMany(['json:none', ...keys])).toEqual([undefined, ...values]);
    expect(c.stats()).toMatchObject({ hits: values.length, misses: 1 });
  });

  it('publishes hits, misses, sets and invalidations on diagnostics_channel', async () => {
    const c = make();
    const seen: string[] = [];
    const handlers = Object.entries(CACHE_CHANNELS).map(([event, name]) => {
      const h = (m: unknown) => {
        // (the local tier's own events, e.g. invalidations arriving from Redis, are not part of this sequence)
        if ((m as { namespace?: string }).namespace === c.options.namespace && !event.startsWith('local'))
          seen.push(event);
      };
      subscribe(name, h);
      return [name, h] as const;
    });
    try {
      await c.getOrSet('ev', () => 1, { tags: ['e'] });
      await c.get('ev');
      await c.invalidateTags(['e']);
    } finally {
      for (const [name, h] of handlers) unsubscribe(name, h);
    }
    expect(seen).toEqual(['miss', 'loader', 'set', 'hit', 'invalidate']);
  });

  it('rejects bad keys and unserializable values with typed errors, writing nothing', async () => {
    const c = make();
    await expect(c.set('', 1)).rejects.toSatisfy((e) => isDbkitError(e, 'E_CONFIG'));
    await expect(c.set('fn', { f: Symbol('x') })).rejects.toSatisfy((e) =>
      isDbkitError(e, 'E_CACHE_SERIALIZE'),
    );
    expect(await c.get('fn')).toBeUndefined();
  });
});
