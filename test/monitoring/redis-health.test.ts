import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseRedisInfo, redisHealth } from '../../src/monitoring/index.js';
import { keyPrefix, type SpawnedRedis, spawnRedis } from '../setup/index.js';

let server: SpawnedRedis;
let redis: Redis;

beforeAll(async () => {
  server = await spawnRedis({ args: ['--maxmemory', '3mb', '--maxmemory-policy', 'allkeys-lru'] });
  redis = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  redis.disconnect();
  await server.dispose();
});

describe('redisHealth', () => {
  it('parses INFO text', () => {
    expect(parseRedisInfo('# Memory\r\nused_memory:123\r\nmaxmemory_policy:noeviction\r\n')).toEqual({
      used_memory: '123',
      maxmemory_policy: 'noeviction',
    });
  });

  it('computes the hit rate from INFO deltas and reports memory against maxmemory', async () => {
    const first = await redisHealth(redis, { sampleMs: 0 });
    // allkeys-lru is itself a finding (see below), nothing else is.
    expect(first).toMatchObject({ status: 'warn', cluster: false });
    expect(first.findings.map((f) => f.check)).toEqual(['eviction_policy']);
    expect(first.nodes).toHaveLength(1);
    expect(first.nodes[0]!.maxMemory).toBe(3 * 1024 * 1024);
    expect(first.nodes[0]!.maxMemoryPolicy).toBe('allkeys-lru');

    await redis.set('a', '1');
    await redis.set('b', '2');
    await redis.get('a');
    await redis.get('b');
    await redis.get('a');
    await redis.get('missing');
    const second = await redisHealth(redis, { since: first });
    expect(second.nodes[0]!.hitRate).toBe(0.75);
    expect(second.total.hitRate).toBe(0.75);
    expect(second.nodes[0]!.keyspaceHits - first.nodes[0]!.keyspaceHits).toBe(3);
    expect(second.nodes[0]!.evictionsPerSec).toBe(0);
    expect(second.total.connectedClients).toBeGreaterThanOrEqual(1);
    expect(second.nodes[0]!.memoryRatio).toBeGreaterThan(0);
  });

  it('flags maxmemory unset and an allkeys-* policy, and their CONFIG SET fixes work as given', async () => {
    const s = await spawnRedis();
    const r = new Redis(s.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    try {
      await r.connect();
      await r.config('SET', 'maxmemory-policy', 'allkeys-lfu');
      const h = await redisHealth(r, { sampleMs: 0 });
      const by = Object.fromEntries(h.findings.map((f) => [f.check, f]));
      expect(Object.keys(by).sort()).toEqual(['eviction_policy', 'no_maxmemory']);
      expect(by.eviction_policy).toMatchObject({
        severity: 'warning',
        command: 'CONFIG SET maxmemory-policy volatile-lfu',
      });
      expect(by.eviction_policy!.detail).toMatch(/tag counters/);
      expect(by.no_maxmemory!.command).toMatch(/^CONFIG SET maxmemory \d+mb$/);
      for (const f of h.findings) {
        expect(f.object).toBe(f.node);
        const [cmd, ...args] = f.command!.split(' ');
        await r.call(cmd!, ...args);
      }
      const after = await redisHealth(r, { sampleMs: 0 });
      expect(after.findings).toEqual([]);
      expect(after.status).toBe('pass');
      expect(after.nodes[0]!.maxMemoryPolicy).toBe('volatile-lfu');
      expect(after.nodes[0]!.maxMemory).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    } finally {
      r.disconnect();
      await s.dispose();
    }
  });

  it('reports evictions per second and a warning when the cache is full', async () => {
    const before = await redisHealth(redis, { sampleMs: 0 });
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 100; i++) await redis.set(`fill:${i}`, big);
    const after = await redisHealth(redis, { since: before });
    const n = after.nodes[0]!;
    expect(n.evictedKeys).toBeGreaterThan(before.nodes[0]!.evictedKeys);
    expect(n.evictionsPerSec).toBeGreaterThan(0);
    expect(after.findings.map((f) => f.check)).toContain('evictions');
    expect(after.findings.find((f) => f.check === 'evictions')).toMatchObject({
      threshold: 0,
      unit: 'per_second',
    });
    expect(after.status).not.toBe('pass');
  });

  it('takes two samples itself when no previous result is given', async () => {
    const h = await redisHealth(redis, { sampleMs: 50 });
    expect(h.nodes[0]!.windowSec).toBeGreaterThan(0);
  });

  it('reports an unreachable server as a failure', async () => {
    const s = await spawnRedis();
    const r = new Redis(s.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    r.on('error', () => {});
    await r.connect();
    await s.stop();
    try {
      const h = await redisHealth(r, { sampleMs: 0 });
      expect(h.status).toBe('fail');
      expect(h.findings[0]).toMatchObject({ check: 'unreachable', severity: 'critical' });
    } finally {
      r.disconnect();
      await s.dispose();
    }
  });
});

describe('redisHealth on a Redis Cluster', () => {
  it('checks every master and sums them', async () => {
    const cluster = new Cluster(inject('redisClusterNodes'));
    try {
      const before = await redisHealth(cluster, { sampleMs: 0 });
      const p = keyPrefix();
      for (let i = 0; i < 30; i++) await cluster.set(`${p}k${i}`, 'v');
      for (let i = 0; i < 30; i++) await cluster.get(`${p}k${i}`);
      for (let i = 0; i < 10; i++) await cluster.get(`${p}none${i}`);
      const h = await redisHealth(cluster, { since: before });
      expect(h.cluster).toBe(true);
      expect(before.nodes).toHaveLength(3);
      expect(h.nodes).toHaveLength(3);
      expect(h.total.keyspaceHits).toBe(h.nodes.reduce((a, n) => a + n.keyspaceHits, 0));
      expect(h.total.connectedClients).toBe(h.nodes.reduce((a, n) => a + n.connectedClients, 0));
      // Other test files may use the cluster at the same time: at least our 30 hits and 10 misses are in the window.
      expect(h.total.keyspaceHits - before.total.keyspaceHits).toBeGreaterThanOrEqual(30);
      expect(h.total.keyspaceMisses - before.total.keyspaceMisses).toBeGreaterThanOrEqual(10);
      expect(h.total.hitRate).not.toBeNull();
    } finally {
      cluster.disconnect();
    }
  });
});
