import { createProductRepository, exampleCache, seedProducts } from '../cached-repository.js';
import type { DemoContext } from './context.js';

export const order = 20;
export const title = 'Query cache (dbkit/cache): decorated repository, hits, compression, invalidation';

export async function run(ctx: DemoContext): Promise<void> {
  const { cache, close } = exampleCache(`demo-${process.pid}`, ctx.redisUrl);
  try {
    await seedProducts(ctx.db, 500);
    const repo = createProductRepository(ctx.db, cache);
    const categories = ['books', 'games', 'garden', 'kitchen', 'music'];
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const cold = await time(() => Promise.all(categories.map((c) => repo.byCategory(c))));
    let warm = 0;
    for (let i = 0; i < 10; i++)
      warm += await time(() => Promise.all(categories.map((c) => repo.byCategory(c))));
    console.log(
      `   5 category listings: first (database) ${cold.toFixed(1)} ms, cached ${(warm / 10).toFixed(1)} ms avg`,
    );
    const concurrent = await Promise.all(Array.from({ length: 50 }, () => repo.byId(7)));
    console.log(
      `   50 concurrent byId(7) misses -> loader calls so far: ${cache.stats().loaderCalls} (single-flight)`,
    );
    await repo.updatePrice(7, 1);
    const after = await repo.byId(7);
    console.log(
      `   updatePrice(7) then byId(7): price ${concurrent[0]?.priceCents} -> ${after?.priceCents} (tag invalidation)`,
    );
    await repo.search('edition');
    await repo.search('edition*'); // user text with a glob character
    const dropped = await repo.forgetSearch('edition*');
    const kept = (await cache.getMany(['search:edition:20', 'search:edition*:20'])).map(
      (v) => v !== undefined,
    );
    console.log(
      `   invalidatePrefix('search:edition*:') dropped ${dropped} entry; cached [edition, edition*]: ${JSON.stringify(kept)}`,
    );
    const s = cache.stats();
    console.log(
      `   stats: hits ${s.hits}, misses ${s.misses}, hit rate ${(s.hitRate * 100).toFixed(0)}%, loader calls ${s.loaderCalls}, ` +
        `bytes ${s.bytesRaw} -> ${s.bytesStored} (compression ${s.compressionRatio.toFixed(2)}x), codecs ${JSON.stringify(s.codecs)}, circuit ${s.circuit}`,
    );
  } finally {
    await close();
  }
}
