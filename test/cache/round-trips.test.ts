import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryCache, type QueryCache } from '../../src/cache/index.js';
import { newRedisClient, type SpawnedRedis, spawnRedis } from '../setup/index.js';
import { ioredisMajors } from './helpers.js';

// An own server, so INFO commandstats counts only this file's commands.
describe.each(ioredisMajors)('round trips on standalone Redis, ioredis %i', (major) => {
  let server: SpawnedRedis;
  let redis: Redis;
  let cache: QueryCache;
  const calls = async () => {
    const info = await redis.info('commandstats');
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[m[1]!] = Number(m[2]);
    return out;
  };
  const delta = async (fn: () => Promise<unknown>) => {
    await redis.config('RESETSTAT');
    await fn();
    const c = await calls();
    delete c.config;
    delete c.info;
    return c;
  };
  beforeAll(async () => {
    server = await spawnRedis();
    redis = newRedisClient(major, server.url);
    cache = createQueryCache({ redis, namespace: 'rt', ttl: 60 });
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  it('getMany is one MGET, setMany one pipeline of SETs, deleteMany one UNLINK', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    expect(await delta(() => cache.setMany(keys.map((key) => ({ key, value: key }))))).toEqual({ set: 100 });
    expect(await delta(() => cache.getMany(keys))).toEqual({ mget: 1 });
    expect(await delta(() => cache.deleteMany(keys))).toEqual({ unlink: 1 });
  });

  it('an untagged get is one GET; a tagged getOrSet reads entry and tag versions together', async () => {
    expect(await delta(() => cache.get('nope'))).toEqual({ get: 1 });
    expect(await delta(() => cache.getOrSet('t', async () => 1, { tags: ['a', 'b'] }))).toEqual({
      get: 1,
      mget: 1,
      set: 1,
    });
  });

  it('invalidatePattern uses SCAN and UNLINK, never KEYS', async () => {
    await cache.setMany(Array.from({ length: 30 }, (_, i) => ({ key: `p:${i}`, value: i })));
    const c = await delta(() => cache.invalidatePattern('p:*'));
    expect(c.keys).toBeUndefined();
    expect(c.scan).toBeGreaterThanOrEqual(1);
    expect(c.unlink).toBe(30);
  });
});
