import { describe, expect, it } from 'vitest';
import {
  type CacheStore,
  type CacheStoreError,
  createQueryCache,
  isDbkitError,
  memoryStore,
} from '../../src/cache/index.js';
import { sleep } from '../setup/index.js';

/** A memory store whose reads take `delayMs` (or never answer, with Infinity): a slow or hung backend. */
function slowStore(delayMs: () => number): CacheStore {
  const inner = memoryStore();
  return {
    ...inner,
    kind: 'slow',
    get: (key) =>
      new Promise((resolve) => {
        const ms = delayMs();
        if (Number.isFinite(ms)) setTimeout(() => resolve(inner.get(key)), ms);
      }),
  };
}

describe('the operation timeout (one shared deadline sweeper)', () => {
  it('fires for every one of many concurrent calls to a store that never answers', async () => {
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      store: slowStore(() => Number.POSITIVE_INFINITY),
      namespace: 'sweep-all',
      ttl: 60,
      operationTimeoutMs: 50,
      circuitBreaker: false,
      onError: (e) => errors.push(e),
    });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => cache.get(`k${i}`)));
    expect(results.every((r) => r === undefined)).toBe(true);
    expect(errors).toHaveLength(200);
    expect(errors.every((e) => isDbkitError(e.cause, 'E_TIMEOUT'))).toBe(true);
    expect(errors[0]!.message).toBe(
      'cache store operation "get" failed: cache get did not finish within 50 ms',
    );
    // never early (a lower bound is safe on a loaded machine); the upper bound is only "it settled"
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
  });

  it('gives each call its own deadline, counted from when it started', async () => {
    const cache = createQueryCache({
      store: slowStore(() => Number.POSITIVE_INFINITY),
      namespace: 'sweep-staggered',
      ttl: 60,
      operationTimeoutMs: 80,
      circuitBreaker: false,
      onError: () => {},
    });
    const settledAfter: number[] = [];
    const start = async (delay: number) => {
      await sleep(delay);
      const t = performance.now();
      await cache.get('k');
      settledAfter.push(performance.now() - t);
    };
    await Promise.all([start(0), start(30), start(60), start(200)]);
    expect(settledAfter).toHaveLength(4);
    for (const ms of settledAfter) expect(ms).toBeGreaterThanOrEqual(79);
  });

  it('after a burst of concurrent calls has settled, a hung call still times out and a fast one is served', async () => {
    let delay = 0;
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      store: slowStore(() => delay),
      namespace: 'sweep-after-burst',
      ttl: 60,
      operationTimeoutMs: 40,
      circuitBreaker: false,
      onError: (e) => errors.push(e),
    });
    await cache.set('k', 'v');
    // more calls in flight at once than the queue keeps slots for, settled out of order
    let n = 0;
    const store = slowStore(() => (n++ % 7) * 2);
    const burst = createQueryCache({ store, namespace: 'sweep-burst', ttl: 60, operationTimeoutMs: 40 });
    await burst.set('k', 'v');
    expect(await Promise.all(Array.from({ length: 300 }, () => burst.get('k')))).toEqual(
      Array.from({ length: 300 }, () => 'v'),
    );
    expect(
      (await Promise.all(Array.from({ length: 300 }, () => cache.get('k')))).every((v) => v === 'v'),
    ).toBe(true);
    for (let i = 0; i < 5; i++) expect(await cache.get('k')).toBe('v');
    delay = Number.POSITIVE_INFINITY;
    const t0 = performance.now();
    expect(await cache.get('k')).toBeUndefined();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    expect(errors).toHaveLength(1);
    expect(isDbkitError(errors[0]!.cause, 'E_TIMEOUT')).toBe(true);
    delay = 0;
    expect(await cache.get('k')).toBe('v');
    expect(burst.stats()).toMatchObject({ hits: 300, errors: 0 });
  });

  it('a reply that arrives after the timeout is ignored; the next fast call is served', async () => {
    let delay = 120;
    const store = slowStore(() => delay);
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      store,
      namespace: 'sweep-late',
      ttl: 60,
      operationTimeoutMs: 40,
      circuitBreaker: false,
      onError: (e) => errors.push(e),
    });
    await cache.set('k', 'v');
    expect(await cache.get('k')).toBeUndefined(); // timed out at 40 ms
    await sleep(150); // the late reply lands now: no double settle, no unhandled rejection
    delay = 0;
    expect(await cache.get('k')).toBe('v');
    expect(errors).toHaveLength(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, errors: 1 });
  });

  it('opens the circuit after failureThreshold timeouts: later calls do not wait', async () => {
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      store: slowStore(() => Number.POSITIVE_INFINITY),
      namespace: 'sweep-breaker',
      ttl: 60,
      operationTimeoutMs: 40,
      circuitBreaker: { failureThreshold: 3, resetTimeoutMs: 60_000 },
      onError: (e) => errors.push(e),
    });
    let loads = 0;
    for (let i = 0; i < 20; i++) expect(await cache.getOrSet(`k${i}`, async () => ++loads)).toBe(loads);
    expect(loads).toBe(20);
    // 3 lookups paid the timeout; none of their write-backs was attempted, later calls skipped the store
    expect(errors).toHaveLength(3);
    expect(cache.stats().circuit).toBe('open');
  });
});
