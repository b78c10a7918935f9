/**
 * Two processes sharing one Redis, each with a local tier in front of it: reads are served from process
 * memory, and a write in either process (or by redis-cli) makes the other's copy unreadable within
 * milliseconds (Redis client tracking).
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/cache-two-processes.ts
 *
 * The script forks itself: the parent writes, the child reads. They talk over the fork IPC channel only to
 * take turns; every value goes through the cache.
 */
import { fork } from 'node:child_process';
import { Redis } from 'ioredis';
import { createQueryCache } from '../src/cache/index.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const namespace = process.env.CACHE_NAMESPACE ?? 'example-two-processes';
const role = process.argv[2] === 'reader' ? 'reader' : 'writer';
const redis = new Redis(url);
const cache = createQueryCache({ redis, namespace, ttl: '5m', local: { maxEntries: 1000 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`[${role}] ${line}`);

async function ready() {
  while (!cache.stats().local?.serving) await sleep(5);
}

/** Reads until the value comes from this process's memory (the copy lands just after the first read). */
async function readLocal(key: string) {
  for (;;) {
    const before = cache.stats().localHits;
    const value = await cache.get(key);
    if (cache.stats().localHits > before) return value;
    await sleep(2);
  }
}

if (role === 'writer') {
  await ready();
  await cache.set('product:1', { id: 1, name: 'Kettle', priceCents: 2999 }, { tags: ['products'] });
  const reader = fork(new URL(import.meta.url).pathname, ['reader'], {
    execArgv: process.execArgv,
    env: process.env,
  });
  const next = () => new Promise<string>((r) => reader.once('message', (m) => r(String(m))));
  await next(); // the reader holds a local copy of product:1
  log('price change: 2999 -> 2499');
  const at = performance.now();
  await cache.set('product:1', { id: 1, name: 'Kettle', priceCents: 2499 }, { tags: ['products'] });
  reader.send('changed');
  await next();
  log(`the reader saw the new price ${(performance.now() - at).toFixed(1)} ms after the write started`);
  log('invalidate tag "products"');
  await cache.invalidateTags(['products']);
  reader.send('invalidated');
  await next();
  reader.send('exit');
  await new Promise((r) => reader.once('exit', r));
  await cache.clear();
  await cache.close();
  await redis.quit();
  log('done');
} else {
  await ready();
  log(`first read (Redis, then kept locally): ${JSON.stringify(await cache.get('product:1'))}`);
  log(`served from memory: ${JSON.stringify(await readLocal('product:1'))}`);
  process.send!('warm');
  const onMessage = async (m: unknown) => {
    if (m === 'changed') {
      // The writer's write reached us through Redis: the old copy is gone, never served again.
      let v = (await cache.get('product:1')) as { priceCents: number } | undefined;
      while (v?.priceCents !== 2499) {
        await sleep(1);
        v = (await cache.get('product:1')) as { priceCents: number } | undefined;
      }
      log(`after the write: ${JSON.stringify(v)}`);
      log(`served from memory again: ${JSON.stringify(await readLocal('product:1'))}`);
      process.send!('seen');
    } else if (m === 'invalidated') {
      let v = await cache.get('product:1');
      while (v !== undefined) {
        await sleep(1);
        v = await cache.get('product:1');
      }
      log('after invalidateTags: a miss (the loader would run now)');
      const s = cache.stats();
      log(`stats: ${s.localHits} local hits of ${s.hits}, ${s.invalidationsReceived} invalidations received`);
      process.send!('seen');
    } else if (m === 'exit') {
      process.off('message', onMessage);
      await cache.close();
      await redis.quit();
      process.disconnect?.();
    }
  };
  process.on('message', onMessage);
}
