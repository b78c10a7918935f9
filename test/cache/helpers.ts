import type { Cluster, Redis } from 'ioredis';
import { expect, inject } from 'vitest';
import { type CacheStore, memoryStore, type QueryCache, redisStore } from '../../src/cache/index.js';
import {
  type IoredisMajor,
  ioredisMajors,
  keyPrefix,
  newClusterClient,
  newRedisClient,
  sleep,
} from '../setup/index.js';

export { ioredisMajors };

/**
 * The stores every cache behaviour test runs against: memory, and standalone Redis and the 3-node Cluster with
 * each ioredis major (`redis/5`, `redis/6`, `cluster/5`, `cluster/6`).
 */
export const storeKinds = [
  'memory',
  ...ioredisMajors.flatMap((m) => [`redis/${m}`, `cluster/${m}`] as const),
] as const;
export type StoreKind = 'memory' | `${'redis' | 'cluster'}/${IoredisMajor}`;

/** The Redis client kinds (standalone and Cluster) per ioredis major. */
export const redisKinds = ioredisMajors.flatMap((m) => [`redis/${m}`, `cluster/${m}`] as const);

/** A client of the kind (`redis/6`: ioredis 6 standalone on the shared server; `cluster/5`: ioredis 5 Cluster). */
export function makeClient(kind: Exclude<StoreKind, 'memory'>): Redis | Cluster {
  const [type, major] = kind.split('/') as ['redis' | 'cluster', string];
  const m = Number(major) as IoredisMajor;
  return type === 'redis'
    ? newRedisClient(m, inject('redisUrl'))
    : newClusterClient(m, inject('redisClusterNodes'));
}

/** A store of the given kind plus a cleanup; Redis clients are closed by `dispose`. */
export function makeStore(kind: StoreKind): {
  store: CacheStore;
  client?: Redis | Cluster;
  dispose(): Promise<void>;
} {
  if (kind === 'memory') {
    const store = memoryStore();
    return { store, dispose: () => store.close() };
  }
  const client = makeClient(kind);
  return {
    store: redisStore(client),
    client,
    async dispose() {
      await client.quit();
    },
  };
}

/** A unique cache namespace (letters, digits, dashes). */
export function namespace(label: string): string {
  return keyPrefix(label).replace(/:$/, '').replace(/[:/]/g, '-');
}

/** A row like the ones repositories cache. */
export function row(i: number) {
  return {
    id: i,
    email: `user${i}@example.com`,
    name: `User number ${i}`,
    createdAt: new Date(Date.UTC(2024, 0, 1) + i * 1000),
    balance: BigInt(i) * 1_000_000_000_000n,
    tags: ['alpha', 'beta', 'gamma'],
    bio: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(2),
  };
}

/** The cache methods a damaged entry is read through (wrap and @cached read through getOrSet). */
export const readMethods = ['get', 'getOrSet', 'getMany', 'wrap'] as const;

/**
 * Reads the damaged entry at `key` with `method` and checks what a damaged entry must give: a miss or the
 * loader's value, one more corrupt entry counted, and the entry deleted (get, getMany) or replaced by the
 * loader's value (getOrSet, wrap). `value` is what the cache holds elsewhere (getMany reads it beside the key).
 */
export async function expectDamagedRead(
  cache: QueryCache,
  store: CacheStore,
  key: string,
  method: (typeof readMethods)[number],
  value: unknown,
): Promise<void> {
  const before = cache.stats().corruptEntries;
  if (method === 'get') expect(await cache.get(key)).toBeUndefined();
  else if (method === 'getOrSet') expect(await cache.getOrSet(key, async () => 'loaded')).toBe('loaded');
  else if (method === 'wrap') {
    // wrap and @cached read through getOrSet with a key of their own: point it at the damaged entry
    const load = cache.wrap(async (_k: string) => 'loaded', { name: 'w', key: () => key });
    expect(await load(key)).toBe('loaded');
  } else {
    await cache.set(`${key}:next`, value);
    expect(await cache.getMany([key, `${key}:next`])).toEqual([undefined, value]);
  }
  expect(cache.stats().corruptEntries).toBe(before + 1);
  await sleep(20);
  const after = await store.get(cache.storeKey(key));
  if (method === 'get' || method === 'getMany') expect(after).toBeNull();
  else expect(await cache.get(key)).toBe('loaded'); // the loader's value replaced it
}
