import type { Cluster } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import {
  escapeGlob,
  globToRegExp,
  memoryStore,
  redisGlobMatcher,
  redisKeySlot,
  redisStore,
} from '../../src/cache/index.js';
import { ioredisLib, keyPrefix, newClusterClient, newRedisClient } from '../setup/index.js';
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

  it('memoryStore matches globs exactly as Redis SCAN MATCH does (Redis is the reference)', async () => {
    const r = newRedisClient(5, inject('redisUrl'));
    const p = keyPrefix('glob');
    const keys = [
      'abc',
      'a',
      'ab',
      'ac',
      'bx',
      'cx',
      'xa',
      '*',
      'a*',
      '[',
      ']',
      'a]b',
      'a\\',
      '\\a',
      'aa',
      'ü',
      'üx',
      'xü',
      'ü\u0308',
      '日本',
      '🙂',
      'a?c',
      'a-c',
      '^',
      '^a',
      '{x}',
      '',
    ];
    const patterns = [
      '*',
      'a?c',
      '?',
      '??',
      '????',
      '[abc]',
      '[^a]*',
      '[a-c]x',
      '[c-a]x',
      '\\*',
      'a\\',
      '[',
      '[ab',
      '[]',
      '[^]',
      'ü?',
      '?ü',
      '[ü]',
      '*\\[*',
      'a[\\]]b',
      '\\a',
      '[a-]',
      '[-a]',
      'a*',
      '*a',
      '*ü*',
      '[\\^]*',
      '\\',
      'a[',
      '?\\',
      escapeGlob('a*'),
      escapeGlob('[ü]'),
      escapeGlob('a\\'),
    ];
    try {
      const pipe = r.pipeline();
      for (const k of keys) pipe.set(p + k, '1', 'EX', 60);
      await pipe.exec();
      for (const pattern of patterns) {
        const fromRedis = new Set<string>();
        let cursor = '0';
        do {
          const [next, found] = await r.scan(cursor, 'MATCH', p + pattern, 'COUNT', 1000);
          cursor = next;
          for (const k of found) fromRedis.add(k.slice(p.length));
        } while (cursor !== '0');
        const matches = redisGlobMatcher(p + pattern);
        const ours = new Set(keys.filter((k) => matches(p + k)));
        expect([...ours].sort(), `pattern ${JSON.stringify(pattern)}`).toEqual([...fromRedis].sort());
      }
    } finally {
      await r.unlink(...keys.map((k) => p + k));
      r.disconnect();
    }
  });
});
