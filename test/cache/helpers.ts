import type { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { type CacheStore, memoryStore, redisStore } from '../../src/cache/index.js';
import {
  type IoredisMajor,
  ioredisMajors,
  keyPrefix,
  newClusterClient,
  newRedisClient,
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
