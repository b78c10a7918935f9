import { afterAll, describe, expect, it } from 'vitest';
import { analyzeCacheMemory, createQueryCache } from '../../src/cache/index.js';
import { makeClient, namespace, redisKinds, row } from './helpers.js';

describe.each(redisKinds)('analyzeCacheMemory on %s', (kind) => {
  const client = makeClient(kind);
  const ns = namespace(`mem-${kind}`);
  const cache = createQueryCache({ redis: client, namespace: ns, ttl: 60 });
  afterAll(async () => {
    await cache.clear();
    await client.quit();
  });

  it('reports key count, largest keys, codecs and the compression ratio', async () => {
    const big = Array.from({ length: 300 }, (_, i) => row(i));
    await cache.set('big', big);
    await cache.setMany(Array.from({ length: 30 }, (_, i) => ({ key: `small:${i}`, value: { i } })));
    await cache.invalidateTags(['not-an-entry']); // tag counters are not entries
    const report = await analyzeCacheMemory(client, { namespace: ns, sample: 100 });
    expect(report.keyCount).toBe(31);
    expect(report.sampled).toBe(31);
    expect(report.usedMemoryBytes).toBeGreaterThan(0);
    expect(report.largestKeys[0]?.key).toBe(cache.storeKey('big'));
    expect(report.largestKeys).toHaveLength(10);
    expect(report.codecs).toEqual({ gzip: 1, none: 30 });
    expect(report.averageCompressionRatio).toBeGreaterThan(1);
    const sampled = await analyzeCacheMemory(client, { namespace: ns, sample: 5, top: 2 });
    expect(sampled.keyCount).toBe(31);
    expect(sampled.sampled).toBe(5);
    expect(sampled.largestKeys).toHaveLength(2);
  });
});
