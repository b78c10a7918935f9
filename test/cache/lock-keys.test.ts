import { afterAll, describe, expect, it } from 'vitest';
import {
  CacheKeyspace,
  createQueryCache,
  lockKey,
  memoryStore,
  redisKeySlot,
} from '../../src/cache/index.js';
import { ConfigError } from '../../src/errors.js';
import { waitFor } from '../setup/index.js';
import { makeClient, makeStore, namespace, redisKinds } from './helpers.js';

const disposers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const d of disposers) await d();
});

// Every shape of key Redis Cluster hashes differently: no braces, a hash tag, an empty tag, an unclosed brace,
// a closing brace alone or first, nested braces, unicode.
const keys = ['plain', 'user:{42}:cart', 'a{}b', 'a{b', 'a}b', '}{x}', '{{x}}', '{', 'é{ü}', 'x'.repeat(300)];

describe('lock keys', () => {
  it.each(keys)('%s: the lock is in the entry slot, under the lock prefix, distinct per key', (key) => {
    const ks = new CacheKeyspace('ns:with{braces}');
    const lk = lockKey(ks, key);
    expect(redisKeySlot(lk)).toBe(redisKeySlot(ks.entry(key)));
    expect(lk.startsWith(ks.lockPrefix)).toBe(true);
    expect(lk.endsWith(`}:${key}`)).toBe(true);
    expect(new Set(keys.map((k) => lockKey(ks, k))).size).toBe(keys.length);
  });

  it.each(redisKinds.filter((k) => k.startsWith('cluster')))('%s agrees (CLUSTER KEYSLOT)', async (kind) => {
    const client = makeClient(kind as 'cluster/5');
    disposers.push(async () => void (await client.quit()));
    const ks = new CacheKeyspace(namespace('slots'));
    for (const key of keys) {
      const [a, b] = await Promise.all([
        client.call('CLUSTER', 'KEYSLOT', lockKey(ks, key)),
        client.call('CLUSTER', 'KEYSLOT', ks.entry(key)),
      ]);
      expect(a, key).toBe(b);
    }
  });

  it("'distributed' needs a Redis store", () => {
    expect(() =>
      createQueryCache({ store: memoryStore(), namespace: 'x', ttl: 1, singleFlight: 'distributed' }),
    ).toThrow(ConfigError);
    expect(() =>
      createQueryCache({ store: memoryStore(), namespace: 'x', ttl: 1, singleFlight: 'all' as never }),
    ).toThrow(ConfigError);
  });
});

describe.each(redisKinds)('locks and clear() on %s', (kind) => {
  it('patterns never see locks; clear() deleting a held lock costs at most one extra load', async () => {
    const ns = namespace('lock-clear');
    const s1 = makeStore(kind);
    const s2 = makeStore(kind);
    disposers.push(s1.dispose, s2.dispose);
    const a = createQueryCache({ store: s1.store, namespace: ns, ttl: 60, singleFlight: 'distributed' });
    const b = createQueryCache({ store: s2.store, namespace: ns, ttl: 60, singleFlight: 'distributed' });
    let release!: (v: string) => void;
    let calls = 0;
    const slow = () => {
      calls++;
      return new Promise<string>((r) => {
        release = r;
      });
    };
    const first = a.getOrSet('k', slow);
    await waitFor('a to hold the lock', async () => calls === 1, 10_000);
    const lk = lockKey(a.keyspace, 'k');
    expect(await s1.client!.exists(lk)).toBe(1);
    // invalidatePattern('*') matches entries only: the lock survives it.
    expect(await a.invalidatePattern('*')).toBe(0);
    expect(await s1.client!.exists(lk)).toBe(1);
    expect(await a.clear()).toBe(1);
    const second = b.getOrSet('k', () => {
      calls++;
      return 'from b';
    });
    expect(await second).toBe('from b');
    release('from a');
    expect(await first).toBe('from a');
    expect(calls).toBe(2);
    expect(a.stats().errors + b.stats().errors).toBe(0);
    expect(await a.get('k')).toBe('from a');
  });
});

describe.each(redisKinds)('lock renewal on %s', (kind) => {
  it('a loader slower than lockTtl keeps its lock: the other process waits for its value', async () => {
    const ns = namespace('lock-renew');
    const s1 = makeStore(kind);
    const s2 = makeStore(kind);
    disposers.push(s1.dispose, s2.dispose);
    const opts = {
      namespace: ns,
      ttl: 60,
      singleFlight: 'distributed',
      lockTtl: '300ms',
      lockTimeout: '20s',
    } as const;
    const a = createQueryCache({ store: s1.store, ...opts });
    const b = createQueryCache({ store: s2.store, ...opts });
    let calls = 0;
    const first = a.getOrSet('k', async () => {
      calls++;
      // Several lock TTLs: only renewal keeps the lock this long.
      await new Promise((r) => setTimeout(r, 1500));
      return 'a';
    });
    await waitFor('a to hold the lock', async () => calls === 1, 10_000);
    const second = await b.getOrSet('k', () => {
      calls++;
      return 'b';
    });
    expect(await first).toBe('a');
    expect(second).toBe('a');
    expect(calls).toBe(1);
    expect(b.stats()).toMatchObject({ lockWaits: 1, lockTimeouts: 0 });
    // Released, not left to expire.
    expect(await s1.client!.exists(lockKey(a.keyspace, 'k'))).toBe(0);
  });
});
