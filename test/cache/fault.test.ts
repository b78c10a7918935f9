import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CacheStoreError, createQueryCache, isDbkitError } from '../../src/cache/index.js';
import { type SpawnedRedis, sleep, spawnRedis, waitFor } from '../setup/index.js';

describe('fail-open, timeouts and the circuit breaker', () => {
  let server: SpawnedRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await spawnRedis();
    // Keep retrying quickly so the client is back soon after the server restarts.
    redis = new Redis(server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // connection errors are expected here; the cache reports them itself
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  const make = (label: string, extra: Partial<Parameters<typeof createQueryCache>[0]> = {}) => {
    const errors: Array<{ error: CacheStoreError; operation: string }> = [];
    const cache = createQueryCache({
      redis,
      namespace: `fault-${label}`,
      ttl: 60,
      operationTimeoutMs: 100,
      circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 300 },
      onError: (error, ctx) => errors.push({ error, operation: ctx.operation }),
      ...extra,
    });
    return { cache, errors };
  };

  it('with Redis stopped, getOrSet and wrapped functions return the loader result and the circuit opens', async () => {
    const { cache, errors } = make('stop');
    const find = cache.wrap(async (id: number) => ({ id, at: new Date(id) }), { name: 'find' });
    expect(await find(1)).toEqual({ id: 1, at: new Date(1) });
    await server.stop();
    try {
      let loads = 0;
      const load = async () => ++loads;
      expect(await cache.getOrSet('k', load)).toBe(1);
      expect(await find(2)).toEqual({ id: 2, at: new Date(2) });
      expect(cache.stats().errors).toBeGreaterThanOrEqual(2);
      expect(errors[0]?.error.code).toBe('E_CACHE_STORE');
      expect(errors[0]?.error.cause).toBeInstanceOf(Error);
      expect(cache.stats().circuit).toBe('open');
      // While open, calls do not touch Redis: no new errors, the loader answers.
      const before = cache.stats().errors;
      for (let i = 0; i < 5; i++) expect(await cache.getOrSet(`open${i}`, load)).toBe(loads);
      expect(cache.stats().errors).toBe(before);
      expect(loads).toBe(6);
    } finally {
      await server.start();
    }
    await waitFor('client reconnected', async () => redis.status === 'ready', 10_000);
    await sleep(350); // past resetTimeoutMs
    expect(cache.stats().circuit).toBe('half-open');
    // This call does not wait: it starts a background PING probe and goes to the loader.
    expect(await cache.getOrSet('back', async () => 'v')).toBe('v');
    await waitFor('circuit closed by the probe', async () => cache.stats().circuit === 'closed', 5000);
    expect(await cache.getOrSet('back', async () => 'v2')).toBe('v2');
    expect(await cache.getOrSet('back', async () => 'not called')).toBe('v2');
  });

  it('with Redis paused (SIGSTOP), calls give up after operationTimeoutMs and go to the loader', async () => {
    const { cache, errors } = make('pause');
    await cache.set('warm', 1);
    server.pause();
    try {
      expect(await cache.getOrSet('other', async () => 'loader')).toBe('loader');
      expect(errors[0]?.error.cause).toSatisfy((e) => isDbkitError(e, 'E_TIMEOUT'));
      expect(await cache.get('warm')).toBeUndefined();
      expect(cache.stats().circuit).toBe('open');
    } finally {
      server.resume();
    }
    await sleep(350);
    await cache.get('warm'); // starts the probe
    await waitFor('circuit closed by the probe', async () => cache.stats().circuit === 'closed', 5000);
    expect(await cache.get('warm')).toBe(1);
  });

  it('a failed half-open probe opens the circuit again', async () => {
    const { cache } = make('probe');
    server.pause();
    try {
      await cache.get('a');
      await cache.get('b');
      expect(cache.stats().circuit).toBe('open');
      await sleep(350);
      expect(cache.stats().circuit).toBe('half-open');
      const errorsBefore = cache.stats().errors;
      expect(await cache.get('c')).toBeUndefined(); // skips the store, starts the probe
      await waitFor('probe failed', async () => cache.stats().errors === errorsBefore + 1, 5000);
      expect(cache.stats().circuit).toBe('open');
    } finally {
      server.resume();
    }
  });

  it('with failOpen: false, store failures throw CacheStoreError with the cause', async () => {
    const { cache } = make('strict', { failOpen: false, circuitBreaker: false });
    server.pause();
    try {
      await expect(cache.getOrSet('x', async () => 1)).rejects.toSatisfy(
        (e) => isDbkitError(e, 'E_CACHE_STORE') && isDbkitError((e as Error).cause, 'E_TIMEOUT'),
      );
      // invalidation never fails silently, even with failOpen
      const open = make('strict2').cache;
      await expect(open.invalidateTags(['t'])).rejects.toSatisfy((e) => isDbkitError(e, 'E_CACHE_STORE'));
    } finally {
      server.resume();
    }
  });

  it('a throwing onError does not break a fail-open read', async () => {
    const { cache } = make('onerror', {
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
