/**
 * Where grace (flight) meets the local tier (cache14): a local copy is only ever a fresh entry and expires at the
 * frame's logical expiry (never ttl + grace), so get()/getMany() never see a stale entry from either tier, and
 * getOrSet's stale serve and its refresh go through the store and the one write path, whose writes (a refresh,
 * warm()) drop every other process's copy. Generated over store kinds x invalidation modes x writers, both
 * ioredis majors, on the shared Redis and Cluster.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createQueryCache, type QueryCache, type QueryCacheOptions } from '../../src/cache/index.js';
import { waitFor } from '../setup/index.js';
import { makeStore, namespace, redisKinds, type StoreKind } from './helpers.js';

const BOUND_MS = 15_000;
const caches: QueryCache[] = [];
const disposers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of caches) await c.close();
  for (const d of disposers) await d();
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((a) => {
    resolve = a;
  });
  return { promise, resolve };
}

type Invalidation = 'tracking' | 'bus';

async function cacheOn(
  kind: StoreKind,
  ns: string,
  invalidation: Invalidation | 'auto',
  options: Partial<QueryCacheOptions> = {},
): Promise<QueryCache> {
  const s = makeStore(kind);
  disposers.push(() => s.dispose());
  const cache = createQueryCache({
    store: s.store,
    namespace: ns,
    ttl: '300ms',
    grace: '60s',
    // local.ttl above the entry's TTL (as with a per-call ttl shorter than the default): only the frame's
    // logical expiry bounds the copy.
    local: { invalidation, ttl: 60 },
    ...options,
  });
  caches.push(cache);
  await waitFor('the local tier to serve', async () => cache.stats().local?.serving === true, BOUND_MS);
  return cache;
}

/** Reads until the value comes from the local tier (the copy lands one PTTL after the store read). */
async function untilLocal(cache: QueryCache, key: string, value: unknown) {
  await waitFor(
    `a local copy of ${key}`,
    async () => {
      const before = cache.stats().localHits;
      const got = await cache.get(key);
      return (
        got !== undefined && cache.stats().localHits > before && JSON.stringify(got) === JSON.stringify(value)
      );
    },
    BOUND_MS,
  );
}

/** Reads (get) until the entry is past its logical TTL; Redis still holds it (ttl + grace). */
async function untilStale(cache: QueryCache, key: string) {
  await waitFor('the entry to go stale', async () => (await cache.get(key)) === undefined, BOUND_MS);
  expect(await cache.store.get(cache.storeKey(key))).not.toBeNull();
}

/** A store round trip on the key's connection: a PTTL sent before it (a pending fill) has been answered. */
async function settled(cache: QueryCache, key: string) {
  await cache.store.get(cache.storeKey(key));
}

const one: Array<[StoreKind, Invalidation | 'auto']> = [
  ['memory', 'auto'],
  ...redisKinds.flatMap((k) =>
    (['tracking', 'bus'] as const).map((i) => [k, i] as [StoreKind, Invalidation]),
  ),
];

describe.each(one)('grace x local tier on %s (%s)', (kind, invalidation) => {
  it('a local copy expires at the logical TTL: get/getMany then miss, from neither tier', async () => {
    const cache = await cacheOn(kind, namespace('gl'), invalidation);
    await cache.set('k', { v: 1 });
    await untilLocal(cache, 'k', { v: 1 });
    // The store keeps it ttl + grace (60 s); the copy must not: get() misses once the 300 ms are up.
    await untilStale(cache, 'k');
    const hits = cache.stats().localHits;
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.getMany(['k', 'k'])).toEqual([undefined, undefined]);
    await settled(cache, 'k');
    expect(cache.stats().localHits).toBe(hits);
    expect(cache.stats().local?.entries).toBe(0);
  });

  it('getOrSet serves the stale value from the store (never copying it), then the refreshed one locally', async () => {
    const cache = await cacheOn(kind, namespace('gl'), invalidation);
    await cache.getOrSet('k', () => 'v1');
    await untilLocal(cache, 'k', 'v1');
    await untilStale(cache, 'k');
    const d = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return d.promise;
    };
    const before = cache.stats();
    expect(await Promise.all([cache.getOrSet('k', loader), cache.getOrSet('k', loader)])).toEqual([
      'v1',
      'v1',
    ]);
    await settled(cache, 'k');
    // The stale serve came from the store, and no copy of a stale entry was kept.
    expect(cache.stats().staleServes - before.staleServes).toBeGreaterThanOrEqual(1);
    expect(cache.stats().localHits).toBe(before.localHits);
    expect(cache.stats().local?.entries).toBe(0);
    // get() does not see the stale entry even while it is being refreshed.
    expect(await cache.get('k')).toBeUndefined();
    d.resolve('v2');
    await waitFor('the refresh to land', async () => (await cache.get('k')) === 'v2', BOUND_MS);
    expect(cache.stats()).toMatchObject({ refreshes: 1, refreshErrors: 0 });
    await untilLocal(cache, 'k', 'v2');
    expect(await cache.getOrSet('k', loader)).toBe('v2');
    expect(calls).toBe(1);
  });
});

type Writer = 'refresh/process' | 'refresh/distributed' | 'warm';
const two: Array<[StoreKind, Invalidation, Writer]> = redisKinds.flatMap((k) =>
  (['tracking', 'bus'] as const).flatMap((i) =>
    (['refresh/process', 'refresh/distributed', 'warm'] as const).map(
      (w) => [k, i, w] as [StoreKind, Invalidation, Writer],
    ),
  ),
);

describe.each(two)(
  'a write in process A drops process B local copy: %s, %s, %s',
  (kind, invalidation, writer) => {
    it("B's next read is the value A wrote", async () => {
      const ns = namespace('gl2');
      const options: Partial<QueryCacheOptions> =
        writer === 'refresh/distributed' ? { singleFlight: 'distributed' } : {};
      const a = await cacheOn(kind, ns, invalidation, options);
      const b = await cacheOn(kind, ns, invalidation, options);
      const d = deferred<string>();
      let calls = 0;
      if (writer !== 'warm') {
        // A serves k stale and starts its refresh; the loader waits until B holds a fresh copy.
        await a.getOrSet('k', () => 'v1');
        await untilStale(a, 'k');
        expect(
          await a.getOrSet(
            'k',
            () => {
              calls++;
              return d.promise;
            },
            { ttl: 60 },
          ),
        ).toBe('v1');
        expect(a.stats().staleServes).toBe(1);
      }
      await b.set('k', 'b1', { ttl: 60 });
      await untilLocal(b, 'k', 'b1');
      const received = b.stats().invalidationsReceived;
      if (writer === 'warm') {
        await a.warm([{ key: 'k', value: 'v2', ttl: 60 }]);
        expect(a.stats().warmed).toBe(1);
      } else {
        d.resolve('v2');
        await waitFor('the refresh to land', async () => a.stats().refreshes === 1, BOUND_MS);
        expect(calls).toBe(1);
        expect(a.stats().refreshErrors).toBe(0);
      }
      // B's copy is dropped by the invalidation; its next read is A's value, then served locally again.
      await waitFor('B to read the new value', async () => (await b.get('k')) === 'v2', BOUND_MS);
      expect(b.stats().invalidationsReceived).toBeGreaterThan(received);
      await untilLocal(b, 'k', 'v2');
      expect(await a.get('k')).toBe('v2');
    });
  },
);

describe.each(redisKinds.filter((k) => k.startsWith('redis/')))(
  'distributed single-flight lock keys and the local tier on %s',
  (kind) => {
    it('lock keys are tracked (same prefix) but never counted as received invalidations', async () => {
      const ns = namespace('gl3');
      const a = await cacheOn(kind, ns, 'tracking', { singleFlight: 'distributed', ttl: 60 });
      const b = await cacheOn(kind, ns, 'tracking', { singleFlight: 'distributed', ttl: 60 });
      await a.set('sentinel', 1);
      await untilLocal(b, 'sentinel', 1);
      const before = b.stats().invalidationsReceived;
      // A miss in A: SET NX of the lock, SET of the entry, DEL of the lock; then the sentinel is written. One
      // server sends B the invalidations in that order, so once B's sentinel copy is gone, all have arrived.
      expect(await a.getOrSet('x', () => 'v')).toBe('v');
      await a.set('sentinel', 2);
      await waitFor('B to drop its sentinel copy', async () => (await b.get('sentinel')) === 2, BOUND_MS);
      // The entry `x` and the sentinel: the lock's two writes are not invalidations of anything B can hold.
      expect(b.stats().invalidationsReceived - before).toBe(2);
    });
  },
);
