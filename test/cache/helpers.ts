import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { type CacheStore, memoryStore, redisStore } from '../../src/cache/index.js';
import { keyPrefix } from '../setup/index.js';

/** The stores every cache behaviour test runs against. */
export const storeKinds = ['memory', 'redis', 'cluster'] as const;
export type StoreKind = (typeof storeKinds)[number];

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
  const client = kind === 'redis' ? new Redis(inject('redisUrl')) : new Cluster(inject('redisClusterNodes'));
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
  return keyPrefix(label).replace(/:$/, '').replace(/:/g, '-');
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
