import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CacheCircuitOpenError,
  type CacheStoreError,
  createQueryCache,
  isDbkitError,
  type QueryCache,
  type QueryCacheOptions,
} from '../../src/cache/index.js';
import { newRedisClient, type SpawnedRedis, sleep, spawnRedis, waitFor } from '../setup/index.js';
import { ioredisMajors } from './helpers.js';

/** Every cache method a caller uses, with what it must give back when Redis is unusable and failOpen is on. */
type Method = {
  name: string;
  /** Invalidation and deletes throw whatever failOpen says. */
  strict: boolean;
  run(cache: QueryCache, i: number): Promise<unknown>;
  /** The fail-open result of call `i`. */
  expected?: (i: number) => unknown;
};
const methods: Method[] = [
  { name: 'get', strict: false, run: (c, i) => c.get(`g${i}`), expected: () => undefined },
  {
    name: 'getOrSet',
    strict: false,
    run: (c, i) => c.getOrSet(`o${i}`, async () => ({ loaded: i })),
    expected: (i) => ({ loaded: i }),
  },
  {
    name: 'getOrSet tagged',
    strict: false,
    run: (c, i) => c.getOrSet(`t${i}`, async () => `v${i}`, { tags: ['a', `b${i}`] }),
    expected: (i) => `v${i}`,
  },
  {
    name: 'wrap',
    strict: false,
    run: (c, i) => c.wrap(async (n: number) => n * 2, { name: 'double' })(i),
    expected: (i) => i * 2,
  },
  {
    name: 'getMany',
    strict: false,
    run: (c, i) => c.getMany([`m${i}`, `n${i}`]),
    expected: () => [undefined, undefined],
  },
  { name: 'set', strict: false, run: (c, i) => c.set(`s${i}`, i), expected: () => undefined },
  {
    name: 'set tagged',
    strict: false,
    run: (c, i) => c.set(`st${i}`, i, { tags: ['x'] }),
    expected: () => undefined,
  },
  {
    name: 'setMany',
    strict: false,
    run: (c, i) => c.setMany([{ key: `sm${i}`, value: i }]),
    expected: () => undefined,
  },
  { name: 'delete', strict: true, run: (c, i) => c.delete(`d${i}`) },
  { name: 'invalidateTags', strict: true, run: (c, i) => c.invalidateTags([`tag${i}`]) },
  { name: 'invalidatePattern', strict: true, run: (c) => c.invalidatePattern('p:*') },
  { name: 'invalidatePrefix', strict: true, run: (c, i) => c.invalidatePrefix(`user:${i}*:`) },
  { name: 'clear', strict: true, run: (c) => c.clear() },
];
const modes = [{ failOpen: true }, { failOpen: false }] as const;
// With the local tier on, a fault must look exactly the same to the caller (its invalidation connection is down
// too, so it serves nothing).
const tiers = [
  { label: '', options: {} },
  { label: ', local tier on', options: { local: {} } },
] as const;
const faults = ['refused', 'hung'] as const;
const THRESHOLD = 3;
const CALLS = 6;
const TIMEOUT_MS = 150;
// Generous: a settled-in-time bound, not a performance threshold (the machine is shared).
const SETTLE_MS = 10_000;

const isTimeout = (e: CacheStoreError) => isDbkitError(e.cause, 'E_TIMEOUT');

describe.each(ioredisMajors)('faults on ioredis %i', (major) => {
  let server: SpawnedRedis;
  let redis: Redis;
  let seq = 0;
  beforeAll(async () => {
    server = await spawnRedis();
    // Keep retrying quickly so the client is back soon after the server restarts.
    redis = newRedisClient(major, server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // connection errors are expected here; the cache reports them itself
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  const make = (extra: Partial<QueryCacheOptions> = {}) => {
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      redis,
      namespace: `fault-${major}-${seq++}`,
      ttl: 60,
      operationTimeoutMs: TIMEOUT_MS,
      circuitBreaker: { failureThreshold: THRESHOLD, resetTimeoutMs: 60_000 },
      onError: (error) => errors.push(error),
      ...extra,
    });
    return { cache, errors };
  };

  const settle = async (p: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not settle within ${SETTLE_MS} ms`)), SETTLE_MS);
    });
    try {
      return await Promise.race([
        p.then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
        bound,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  describe.each(faults)('Redis %s', (fault) => {
    beforeAll(async () => {
      if (fault === 'refused') {
        await server.stop();
        // The client has seen the refusal (it is reconnecting) before the cells start.
        await waitFor('client to notice', async () => redis.status !== 'ready', 10_000);
      } else server.pause();
    });
    afterAll(async () => {
      if (fault === 'refused') await server.start();
      else server.resume();
      await waitFor('client ready again', async () => redis.status === 'ready', 10_000);
    });

    for (const method of methods) {
      for (const mode of modes) {
        for (const tier of tiers) {
          const throws = method.strict || !mode.failOpen;
          it(`${method.name}, failOpen ${mode.failOpen}${tier.label}: ${throws ? 'throws a typed error' : 'falls back'}; at most ${fault === 'hung' ? THRESHOLD : 0} calls wait`, async () => {
            const { cache, errors } = make({ ...mode, ...tier.options });
            for (let i = 0; i < CALLS; i++) {
              const r = await settle(method.run(cache, i));
              if (throws) {
                expect(r.ok).toBe(false);
                const e = (r as { error: CacheStoreError }).error;
                expect(isDbkitError(e, 'E_CACHE_STORE')).toBe(true);
                expect(e.context.operation).toBeTypeOf('string');
                if (e instanceof CacheCircuitOpenError) {
                  expect(e.message).toMatch(/circuit breaker is open/);
                  expect(e.context.reason).toBe('circuit-open');
                } else {
                  // The message names the cause (timeout or driver error), which is also `cause`.
                  expect(e.cause).toBeInstanceOf(Error);
                  expect(e.message).toContain((e.cause as Error).message);
                }
              } else {
                expect(r).toEqual({ ok: true, value: method.expected!(i) });
              }
            }
            const timeouts = errors.filter(isTimeout).length;
            if (fault === 'refused') {
              // The client already reported the connection down: the circuit is open from the start.
              expect(timeouts).toBe(0);
              expect(cache.stats().circuit).toBe('open');
            } else {
              // Hung: each call pays the timeout until the circuit opens, a lookup and its write-back only once.
              expect(timeouts).toBe(THRESHOLD);
              expect(errors.length).toBe(THRESHOLD);
              expect(cache.stats().circuit).toBe('open');
            }
            if (throws && fault === 'refused') {
              const last = await settle(method.run(cache, 99));
              const e = (last as { error: CacheStoreError }).error;
              expect(e).toBeInstanceOf(CacheCircuitOpenError);
              // The last failure the client reported (connection refused) is named.
              expect(e.message).toMatch(/ECONNREFUSED|connection/i);
            }
            if (tier.label) expect(cache.stats()).toMatchObject({ localHits: 0, local: { serving: false } });
            await cache.close();
          });
        }
      }
    }
  });

  it('calls waiting when the connection drops are released at once, and later calls do not wait', async () => {
    const { cache, errors } = make({ operationTimeoutMs: 20_000 });
    await cache.set('warm', 1);
    expect(await cache.get('warm')).toBe(1);
    // Calls in flight while the server dies: without the connection events they would each wait 20 s.
    const inflight = Array.from({ length: 20 }, (_, i) => cache.getOrSet(`k${i}`, async () => i));
    await server.stop();
    try {
      const t0 = performance.now();
      expect(await Promise.all(inflight)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      for (let i = 0; i < 20; i++) expect(await cache.getOrSet(`after${i}`, async () => -i)).toBe(-i);
      expect(errors.filter(isTimeout)).toHaveLength(0);
      expect(cache.stats().circuit).toBe('open');
      // Bounded, and far below one 20 s timeout (the bound is generous: the machine is shared).
      expect(performance.now() - t0).toBeLessThan(8_000);
    } finally {
      await server.start();
    }
    await waitFor('client ready', async () => redis.status === 'ready', 10_000);
    // 'ready' starts a probe at once: the circuit closes without waiting out resetTimeoutMs (60 s here).
    await waitFor('circuit closed by the probe', async () => cache.stats().circuit === 'closed', 5_000);
    expect(await cache.getOrSet('back', async () => 'v')).toBe('v');
    expect(await cache.getOrSet('back', async () => 'not called')).toBe('v');
  });

  it('the operation timeout fires on a hung server, and the circuit closes once it answers again', async () => {
    const { cache, errors } = make({ circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 300 } });
    await cache.set('warm', 1);
    server.pause();
    try {
      const r = await settle(cache.getOrSet('other', async () => 'loader'));
      expect(r).toEqual({ ok: true, value: 'loader' });
      expect(errors[0]?.cause).toSatisfy((e) => isDbkitError(e, 'E_TIMEOUT'));
      expect(errors[0]?.message).toMatch(/cache get did not finish within 150 ms/);
      expect(await cache.get('warm')).toBeUndefined();
      expect(cache.stats().circuit).toBe('open');
      await sleep(350);
      expect(cache.stats().circuit).toBe('half-open');
      const before = cache.stats().errors;
      expect(await cache.get('c')).toBeUndefined(); // skips the store, starts the probe in the background
      await waitFor('probe to fail', async () => cache.stats().errors > before, 5_000);
      expect(cache.stats().circuit).toBe('open');
    } finally {
      server.resume();
    }
    await sleep(350);
    await cache.get('warm'); // starts the probe
    await waitFor('circuit closed by the probe', async () => cache.stats().circuit === 'closed', 5_000);
    expect(await cache.get('warm')).toBe(1);
  });

  it('a throwing onError does not break a fail-open read', async () => {
    const { cache } = make({
      onError: () => {
        throw new Error('logger exploded');
      },
    });
    server.pause();
    try {
      expect(await cache.getOrSet('x', async () => 'ok')).toBe('ok');
    } finally {
      server.resume();
    }
  });
});
