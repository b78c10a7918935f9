import { describe, expectTypeOf, it } from 'vitest';
import {
  type CacheStore,
  createQueryCache,
  memoryStore,
  type QueryCacheStats,
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
