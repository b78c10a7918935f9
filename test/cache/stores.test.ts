import type { Cluster } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { globToRegExp, memoryStore, redisKeySlot, redisStore } from '../../src/cache/index.js';
import { ioredisLib, newClusterClient, newRedisClient } from '../setup/index.js';
import { ioredisMajors } from './helpers.js';
import { registerCacheStoreSuite } from './store-conformance.js';

describe('memoryStore', () => {
  registerCacheStoreSuite(() => memoryStore());

  it('evicts the least recently used entry past maxEntries', async () => {
    const s = memoryStore({ maxEntries: 2 });
    await s.set('a', Buffer.from('1'), 60_000);
    await s.set('b', Buffer.from('2'), 60_000);
    await s.get('a');
    await s.set('c', Buffer.from('3'), 60_000);
    expect(await s.get('b')).toBeNull();
    expect(await s.get('a')).not.toBeNull();
    expect(s.size()).toBe(2);
  });

  it('evicts by bytes', async () => {
    const s = memoryStore({ maxBytes: 10 });
    await s.set('a', Buffer.alloc(6), 60_000);
    await s.set('b', Buffer.alloc(6), 60_000);
    expect(await s.get('a')).toBeNull();
    expect(s.bytes()).toBe(6);
  });
});

describe.each(ioredisMajors)('redisStore on ioredis %i', (major) => {
  describe('standalone client passed in', () => {
    const client = newRedisClient(major, inject('redisUrl'));
    registerCacheStoreSuite(
      () => redisStore(client),
      async () => {
        await client.quit();
      },
    );
  });

  describe('options: owns its client', () => {
    registerCacheStoreSuite(() => redisStore({ url: inject('redisUrl'), lib: ioredisLib(major) }));
  });

  describe('3-node Cluster passed in', () => {
    let cluster: Cluster;
    registerCacheStoreSuite(
      () => {
        cluster = newClusterClient(major, inject('redisClusterNodes'));
        return redisStore(cluster);
      },
      async () => {
        await cluster.quit();
      },
    );
  });

  describe('options: owns its Cluster', () => {
    registerCacheStoreSuite(() =>
      redisStore({ clusterNodes: inject('redisClusterNodes'), lib: ioredisLib(major) }),
    );
  });
});

describe('store helpers', () => {
  it('computes Redis Cluster slots like CLUSTER KEYSLOT', async () => {
    const r = newRedisClient(5, inject('redisClusterNodes')[0]!.port);
    try {
      for (const key of ['foo', 'user:1000', '{ns}:t:a', 'a{b}c', '{}x', 'ü']) {
        expect(redisKeySlot(key)).toBe(Number(await r.cluster('KEYSLOT', key)));
      }
    } finally {
      r.disconnect();
    }
  });

  it('translates Redis globs', () => {
    expect(globToRegExp('a*b?[xy]').test('aZZbQx')).toBe(true);
    expect(globToRegExp('a.b').test('aXb')).toBe(false);
    expect(globToRegExp('a\\*').test('a*')).toBe(true);
  });
});
