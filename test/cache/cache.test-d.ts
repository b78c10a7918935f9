import * as ioredis5 from 'ioredis';
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis';
import * as ioredis6 from 'ioredis6';
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6';
import { describe, expectTypeOf, it } from 'vitest';
import {
  analyzeCacheMemory,
  type CacheMemoryReport,
  type CacheStore,
  createQueryCache,
  type IoRedisClient,
  memoryStore,
  type QueryCache,
  type QueryCacheStats,
  redisStore,
} from '../../src/cache/index.js';

const cache = createQueryCache({ store: memoryStore(), namespace: 'types', ttl: '5m' });

interface Order {
  id: number;
  placedAt: Date;
}

describe('wrap()', () => {
  it('keeps parameters and resolves to the awaited return type', () => {
    const find = cache.wrap(
      async (id: number, opts?: { withLines: boolean }): Promise<Order | null> =>
        opts?.withLines ? { id, placedAt: new Date() } : null,
      {
        name: 'find',
        key: (id) => `order:${id}`,
        tags: (id, opts) => [`order:${id}`, opts?.withLines ? 'lines' : 'plain'],
      },
    );
    expectTypeOf(find).parameters.toEqualTypeOf<[id: number, opts?: { withLines: boolean }]>();
    expectTypeOf(find).returns.toEqualTypeOf<Promise<Order | null>>();
    const sync = cache.wrap((a: string) => a.length, { name: 'len' });
    expectTypeOf(sync).returns.toEqualTypeOf<Promise<number>>();
    // @ts-expect-error key function must accept the wrapped function's arguments
    cache.wrap(async (id: number) => id, { key: (id: string) => id });
  });

  it('getOrSet and get are typed by the loader / caller', () => {
    expectTypeOf(cache.getOrSet('k', async () => ({ id: 1 }))).toEqualTypeOf<Promise<{ id: number }>>();
    expectTypeOf(cache.get<Order>('k')).toEqualTypeOf<Promise<Order | undefined>>();
    expectTypeOf(cache.getMany<Order>(['a'])).toEqualTypeOf<Promise<Array<Order | undefined>>>();
  });
});

describe('@cache.cached()', () => {
  it('leaves the decorated method type unchanged', () => {
    class Repo {
      @cache.cached({ tags: ['orders'], ttl: 30 })
      async byId(id: number): Promise<Order | undefined> {
        return { id, placedAt: new Date() };
      }

      @cache.cached({ key: (customerId: number, limit: number) => `recent:${customerId}:${limit}` })
      async recent(customerId: number, limit = 10): Promise<Order[]> {
        return Array.from({ length: limit }, (_, i) => ({ id: customerId + i, placedAt: new Date() }));
      }
    }
    expectTypeOf<Repo['byId']>().toEqualTypeOf<(id: number) => Promise<Order | undefined>>();
    expectTypeOf<Repo['recent']>().parameters.toEqualTypeOf<[customerId: number, limit?: number]>();
    expectTypeOf(new Repo().recent(1)).toEqualTypeOf<Promise<Order[]>>();
  });

  it('stats() has the monitoring contract shape', () => {
    expectTypeOf(cache.stats()).toEqualTypeOf<QueryCacheStats>();
    expectTypeOf<QueryCacheStats['circuit']>().toEqualTypeOf<'closed' | 'open' | 'half-open'>();
    expectTypeOf<QueryCacheStats['codecs']>().toEqualTypeOf<Record<string, number>>();
    expectTypeOf(memoryStore()).toMatchTypeOf<CacheStore>();
  });
});

describe('ioredis 5 and 6 clients', () => {
  it('createQueryCache, redisStore and analyzeCacheMemory accept Redis and Cluster of either major', () => {
    const v5 = new Redis5();
    const v5c = new Cluster5([{ host: '127.0.0.1', port: 7000 }]);
    const v6 = new Redis6();
    const v6c = new Cluster6([{ host: '127.0.0.1', port: 7000 }]);
    const v6resp3 = new Redis6({ protocol: 3, replyMapping: 'resp3' });
    for (const redis of [v5, v5c, v6, v6c, v6resp3]) {
      expectTypeOf(createQueryCache({ redis, namespace: 'n', ttl: 1 })).toEqualTypeOf<QueryCache>();
      expectTypeOf(redisStore(redis).client).toEqualTypeOf<IoRedisClient>();
      expectTypeOf(analyzeCacheMemory(redis, { namespace: 'n' })).toEqualTypeOf<Promise<CacheMemoryReport>>();
    }
    expectTypeOf(v6resp3).toMatchTypeOf<IoRedisClient>();
    redisStore({ url: 'redis://x', lib: ioredis6 });
    redisStore({ clusterNodes: [{ host: 'h', port: 1 }], lib: ioredis5 });
    // @ts-expect-error something that is not an ioredis client (a node-redis-like object) is refused
    createQueryCache({ redis: { get: async (_k: string) => null }, namespace: 'n', ttl: 1 });
  });
});

describe('@cache.cached() parameter typing (standard decorators; the fixture checks experimentalDecorators)', () => {
  it('types key and tags callbacks from the decorated method', () => {
    class Repo {
      @cache.cached({
        key: (id, opts) => {
          expectTypeOf(id).toEqualTypeOf<number>();
          expectTypeOf(opts).toEqualTypeOf<{ withLines: boolean } | undefined>();
          return `o:${id}`;
        },
        tags: (id) => [`order:${id.toFixed(0)}`],
      })
      async byId(id: number, opts?: { withLines: boolean }): Promise<Order | undefined> {
        return opts ? { id, placedAt: new Date() } : undefined;
      }

      // @ts-expect-error a synchronous method is a type error (it would silently return a Promise)
      @cache.cached()
      sync(id: number): number {
        return id;
      }

      // @ts-expect-error the key callback must accept the method's parameters
      @cache.cached({ key: (id: string) => id })
      async wrong(id: number): Promise<number> {
        return id;
      }
    }
    expectTypeOf<Repo['byId']>().toEqualTypeOf<
      (id: number, opts?: { withLines: boolean }) => Promise<Order | undefined>
    >();
  });
});
