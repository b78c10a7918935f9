import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CACHE_CHANNELS,
  createQueryCache,
  lockKey,
  type QueryCache,
  type QueryCacheOptions,
} from '../../src/cache/index.js';
import { freePort, newRedisClient, waitFor } from '../setup/index.js';
import { ioredisMajors, makeStore, namespace, redisKinds, type StoreKind } from './helpers.js';

const BOUND_MS = 15_000;
const disposers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const d of disposers) await d();
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

function cacheOn(kind: StoreKind, options: Partial<QueryCacheOptions> & { namespace: string }): QueryCache {
  const s = makeStore(kind);
  disposers.push(() => s.dispose());
  return createQueryCache({ store: s.store, ttl: '300ms', grace: '60s', ...options });
}

/** Waits until the entry is past its TTL (get() misses it) while Redis still holds it. */
async function untilStale(cache: QueryCache, key: string) {
  await waitFor('the entry to go stale', async () => (await cache.get(key)) === undefined, BOUND_MS);
  expect(await cache.store.get(cache.storeKey(key))).not.toBeNull();
}

function recorder(channel: string) {
  const seen: Array<Record<string, unknown>> = [];
  const fn = (m: unknown) => seen.push(m as Record<string, unknown>);
  subscribe(channel, fn);
  return { seen, stop: () => unsubscribe(channel, fn) };
}

const kinds: StoreKind[] = ['memory', ...redisKinds];

describe.each(kinds)('grace on %s', (kind) => {
  it('serves the stale value at once while one background refresh runs', async () => {
    const ns = namespace('grace');
    const cache = cacheOn(kind, { namespace: ns });
    await cache.getOrSet('k', () => 'v1');
    await untilStale(cache, 'k');
    const d = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return d.promise;
    };
    const stale = recorder(CACHE_CHANNELS.stale);
    try {
      const got = await Promise.all(Array.from({ length: 10 }, () => cache.getOrSet('k', loader)));
      expect(got).toEqual(Array(10).fill('v1'));
      // Later callers while the refresh is still running get the stale value too, without another load.
      expect(await cache.getOrSet('k', loader)).toBe('v1');
      expect(calls).toBe(1);
      expect(cache.stats().staleServes).toBeGreaterThanOrEqual(2);
      expect(stale.seen.filter((m) => m.namespace === ns).length).toBe(cache.stats().staleServes);
    } finally {
      stale.stop();
    }
    d.resolve('v2');
    await waitFor('the refresh to land', async () => (await cache.get('k')) === 'v2', BOUND_MS);
    expect(cache.stats()).toMatchObject({ refreshes: 1, refreshErrors: 0 });
    expect(await cache.getOrSet('k', loader)).toBe('v2');
    expect(calls).toBe(1);
  });

  it('a failing refresh keeps the stale value, is counted and published', async () => {
    const ns = namespace('grace-err');
    const cache = cacheOn(kind, { namespace: ns });
    await cache.getOrSet('k', () => ({ n: 1 }));
    await untilStale(cache, 'k');
    const refresh = recorder(CACHE_CHANNELS.refresh);
    const boom = new Error('db down');
    try {
      expect(
        await cache.getOrSet('k', () => {
          throw boom;
        }),
      ).toEqual({ n: 1 });
      await waitFor('the failed refresh', async () => cache.stats().refreshErrors === 1, BOUND_MS);
      const failed = refresh.seen.find((m) => m.namespace === ns);
      expect(failed).toMatchObject({ key: 'k', outcome: 'failed', error: boom });
      // Still within grace: still the stale value, a new refresh may run.
      expect(await cache.getOrSet('k', () => Promise.reject(boom))).toEqual({ n: 1 });
    } finally {
      refresh.stop();
    }
  });

  it('a hanging refresh does not start a second one in this process', async () => {
    const cache = cacheOn(kind, { namespace: namespace('grace-hang') });
    await cache.getOrSet('k', () => 1);
    await untilStale(cache, 'k');
    let calls = 0;
    const hang = () => {
      calls++;
      return new Promise<number>(() => {});
    };
    for (let i = 0; i < 5; i++) expect(await cache.getOrSet('k', hang)).toBe(1);
    expect(calls).toBe(1);
  });

  it('get and getMany never return an entry past its TTL', async () => {
    const cache = cacheOn(kind, { namespace: namespace('grace-get') });
    await cache.set('a', 1);
    await cache.set('b', 2, { ttl: 60 });
    await untilStale(cache, 'a');
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, 2]);
    expect(cache.stats().staleServes).toBe(0);
  });

  it('past ttl + grace the entry is gone and the caller loads', async () => {
    const cache = cacheOn(kind, { namespace: namespace('grace-gone'), ttl: '100ms', grace: '200ms' });
    await cache.getOrSet('k', () => 'old');
    await waitFor(
      'the entry to leave the store',
      async () => (await cache.store.get(cache.storeKey('k'))) === null,
      BOUND_MS,
    );
    expect(await cache.getOrSet('k', () => 'new')).toBe('new');
    expect(cache.stats().staleServes).toBe(0);
  });

  it('an invalidated entry is never served stale', async () => {
    const cache = cacheOn(kind, { namespace: namespace('grace-tags') });
    await cache.getOrSet('k', () => 'v1', { tags: ['t'] });
    await untilStale(cache, 'k');
    await cache.invalidateTags(['t']);
    expect(await cache.getOrSet('k', () => 'v2', { tags: ['t'] })).toBe('v2');
    expect(cache.stats().staleServes).toBe(0);
  });

  it('entries written without grace stay readable with grace (and the reverse)', async () => {
    const ns = namespace('grace-compat');
    const plain = cacheOn(kind, { namespace: ns, ttl: 60, grace: false });
    const graced = createQueryCache({ store: plain.store, namespace: ns, ttl: 60, grace: '1m' });
    await plain.set('old', { v: 1 });
    await graced.set('new', { v: 2 });
    expect(await graced.get('old')).toEqual({ v: 1 });
    expect(await plain.get('new')).toEqual({ v: 2 });
    expect(await graced.getOrSet('old', () => ({ v: 9 }))).toEqual({ v: 1 });
  });
});

describe.each(redisKinds)('grace on %s', (kind) => {
  it('Redis keeps the entry ttl + grace', async () => {
    const cache = cacheOn(kind, { namespace: namespace('grace-pttl'), ttl: 10, grace: '1m' });
    await cache.set('k', 1);
    const client = (cache.store as unknown as { client: { pttl(k: string): Promise<number> } }).client;
    const pttl = await client.pttl(cache.storeKey('k'));
    expect(pttl).toBeGreaterThan(10_000);
    expect(pttl).toBeLessThanOrEqual(70_000);
  });

  it("with 'distributed', one refresh across processes", async () => {
    const ns = namespace('grace-dist');
    // Two caches on two clients: two processes as far as Redis can tell.
    const a = cacheOn(kind, { namespace: ns, singleFlight: 'distributed' });
    const b = cacheOn(kind, { namespace: ns, singleFlight: 'distributed' });
    await a.getOrSet('k', () => 'v1');
    await untilStale(a, 'k');
    const d = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return d.promise;
    };
    const refresh = recorder(CACHE_CHANNELS.refresh);
    try {
      expect(await a.getOrSet('k', loader)).toBe('v1');
      // a holds the key's lock while its loader runs: b serves stale and skips its refresh.
      await waitFor('a to take the lock', async () => calls === 1, BOUND_MS);
      expect(await b.getOrSet('k', loader)).toBe('v1');
      await waitFor(
        'b to skip',
        async () => refresh.seen.some((m) => m.namespace === ns && m.outcome === 'skipped'),
        BOUND_MS,
      );
      expect(calls).toBe(1);
    } finally {
      refresh.stop();
    }
    d.resolve('v2');
    await waitFor('the refresh to land', async () => (await b.get('k')) === 'v2', BOUND_MS);
    expect(calls).toBe(1);
  });
});

describe.each(redisKinds)('grace refresh and a dead lock holder on %s', (kind) => {
  it('a lock left by a crashed process delays the refresh at most lockTtl; stale is served meanwhile', async () => {
    const ns = namespace('grace-dead');
    const cache = cacheOn(kind, { namespace: ns, singleFlight: 'distributed', lockTtl: '500ms' });
    await cache.getOrSet('k', () => 'v1');
    await untilStale(cache, 'k');
    // What a holder SIGKILLed mid-refresh leaves behind: its lock, with the TTL it last renewed.
    const client = (cache.store as unknown as { client: { set(...a: unknown[]): Promise<unknown> } }).client;
    await client.set(lockKey(cache.keyspace, 'k'), 'dead-token', 'PX', 500);
    let calls = 0;
    const loader = async () => {
      calls++;
      return 'v2';
    };
    const refresh = recorder(CACHE_CHANNELS.refresh);
    try {
      expect(await cache.getOrSet('k', loader)).toBe('v1');
      await waitFor(
        'the skipped refresh',
        async () => refresh.seen.some((m) => m.namespace === ns),
        BOUND_MS,
      );
      expect(refresh.seen.find((m) => m.namespace === ns)).toMatchObject({ outcome: 'skipped' });
      expect(calls).toBe(0);
      // Once the dead lock expires, the next stale serve refreshes.
      await waitFor(
        'a refresh after the lock expired',
        async () => (await cache.getOrSet('k', loader)) === 'v2',
        BOUND_MS,
      );
      expect(calls).toBe(1);
    } finally {
      refresh.stop();
    }
  });
});

describe.each(ioredisMajors)('grace with Redis down, ioredis %i', (major) => {
  // Documented: stale values come only from what this process can read. With Redis unreachable there is none,
  // so the loader runs in the caller (fail-open) and its error reaches the caller.
  for (const mode of ['process', 'distributed'] as const)
    it(`${mode}: the loader runs and its error reaches the caller`, async () => {
      const client = newRedisClient(major, `redis://127.0.0.1:${await freePort()}`, {
        maxRetriesPerRequest: 1,
        retryStrategy: () => 200,
      });
      client.on('error', () => {});
      try {
        const cache = createQueryCache({
          redis: client,
          namespace: namespace('grace-down'),
          ttl: 1,
          grace: '1m',
          singleFlight: mode,
        });
        expect(await cache.getOrSet('k', () => 'loaded')).toBe('loaded');
        const boom = new Error('db down too');
        await expect(cache.getOrSet('k', () => Promise.reject(boom))).rejects.toBe(boom);
        expect(cache.stats().staleServes).toBe(0);
      } finally {
        client.disconnect();
      }
    });
});
