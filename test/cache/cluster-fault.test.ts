import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CacheStoreError, createQueryCache, isDbkitError } from '../../src/cache/index.js';
import { newClusterClient, type SpawnedCluster, sleep, spawnRedisCluster, waitFor } from '../setup/index.js';
import { ioredisMajors } from './helpers.js';

const THRESHOLD = 3;

// An own 3-node Cluster: these tests pause and kill its nodes.
describe.each(ioredisMajors)('faults on a Redis Cluster, ioredis %i', (major) => {
  let cluster: SpawnedCluster;
  let client: Cluster;
  let seq = 0;
  beforeAll(async () => {
    cluster = await spawnRedisCluster(3);
    client = newClusterClient(major, cluster.nodes, {
      clusterRetryStrategy: () => 100,
      redisOptions: { maxRetriesPerRequest: 1 },
    });
    client.on('error', () => {});
    await waitFor('cluster client ready', async () => client.status === 'ready', 20_000);
  }, 90_000);
  afterAll(async () => {
    client.disconnect();
    await cluster.dispose();
  });

  const make = () => {
    const errors: CacheStoreError[] = [];
    const cache = createQueryCache({
      redis: client,
      namespace: `cfault-${major}-${seq++}`,
      ttl: 60,
      operationTimeoutMs: 200,
      circuitBreaker: { failureThreshold: THRESHOLD, resetTimeoutMs: 60_000 },
      onError: (e) => errors.push(e),
    });
    return { cache, errors };
  };
  const timeouts = (errors: CacheStoreError[]) =>
    errors.filter((e) => isDbkitError(e.cause, 'E_TIMEOUT')).length;

  it('every node hung: at most failureThreshold calls pay the timeout, loaders answer, invalidation throws', async () => {
    const { cache, errors } = make();
    await cache.set('warm', 1, { tags: ['t'] });
    expect(await cache.get('warm')).toBe(1);
    for (const s of cluster.servers) s.pause();
    try {
      for (let i = 0; i < 8; i++)
        expect(await cache.getOrSet(`k${i}`, async () => i, { tags: ['t'] })).toBe(i);
      await expect(cache.invalidateTags(['t'])).rejects.toThrow(/circuit breaker is open/);
      expect(timeouts(errors)).toBe(THRESHOLD);
      expect(cache.stats().circuit).toBe('open');
    } finally {
      for (const s of cluster.servers) s.resume();
    }
  });

  it('every node killed: at most failureThreshold calls fail before the circuit opens, none after', async () => {
    const { cache, errors } = make();
    await cache.set('warm', 1);
    for (const s of cluster.servers) await s.stop();
    try {
      // ioredis 5 reports the Cluster down ('close'/'reconnecting': the circuit opens at once); ioredis 6 keeps a
      // Cluster 'ready' while its node connections retry, so there the failures of the calls open it.
      if (major === 5)
        await waitFor('cluster client to notice', async () => client.status !== 'ready', 15_000);
      else await sleep(300);
      for (let i = 0; i < 8; i++) expect(await cache.getOrSet(`k${i}`, async () => i)).toBe(i);
      expect(errors.length).toBeLessThanOrEqual(THRESHOLD);
      if (major === 5) expect(timeouts(errors)).toBe(0);
      expect(cache.stats().circuit).toBe('open');
      await expect(cache.clear()).rejects.toSatisfy((e) => isDbkitError(e, 'E_CACHE_STORE'));
    } finally {
      // Nodes come back empty; the cluster itself is not reformed, so this is the last test of the file.
      for (const s of cluster.servers) await s.start();
    }
  });
});
