/**
 * The local tier's part of `npm run bench -- cache` (alone: `npm run bench -- cache --local`), on its own
 * fresh redis-server:
 * - hit latency of the same value from the local tier (a fresh deep copy per hit, and `freeze: true`) vs from Redis (dbkit
 *   without a local tier), with bentocache (memory L1 + Redis L2 + its Redis bus) alongside, ~0.7 KB and ~150 KB;
 * - invalidation latency across 4 processes: a write in one process until the copy in each of the 3 others is
 *   dropped (the moment the invalidation reaches it: `dbkit:cache:local:invalidation` for us,
 *   `bus:message:received` for bentocache), for dbkit with Redis client tracking, dbkit with the pub/sub bus
 *   and bentocache with its bus; rounds interleaved over the three.
 */
import { join } from 'node:path';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import { createQueryCache, type QueryCache } from '../src/cache/index.js';
import { type LocalWorker, startWorkers } from '../test/cache/local-workers.js';
import { spawnRedis } from '../test/setup/redis.js';
import type { BenchCase, BenchReport } from './harness.js';

type Ratios = (
  report: BenchReport,
  spec: { title: string; unit: string; rounds: number; maxMs: number; cases: BenchCase[] },
  ours: string,
  baseline: string,
) => Promise<unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
};

async function warm(c: QueryCache, key: string) {
  for (let i = 0; i < 1000; i++) {
    const before = c.stats().localHits;
    await c.get(key);
    if (c.stats().localHits > before) return;
    await sleep(2);
  }
  throw new Error(`bench setup: ${key} never reached the local tier`);
}

export async function localTierBench(
  report: BenchReport,
  ctx: { ratios: Ratios; small: unknown; large: unknown },
): Promise<void> {
  const server = await spawnRedis();
  const plainRedis = new Redis(server.url);
  const localRedis = new Redis(server.url);
  const bentoRedis = new Redis(server.url);
  const plain = createQueryCache({ redis: plainRedis, namespace: 'lb', ttl: '1h' });
  const local = createQueryCache({ redis: localRedis, namespace: 'lb', ttl: '1h', local: {} });
  const frozen = createQueryCache({
    redis: localRedis,
    namespace: 'lb',
    ttl: '1h',
    local: { freeze: true },
  });
  const bento = new BentoCache({
    default: 'c',
    prefix: 'lbb',
    stores: {
      c: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000 }))
        .useL2Layer(redisDriver({ connection: bentoRedis }))
        .useBus(redisBusDriver({ connection: { host: '127.0.0.1', port: server.port } })),
    },
  });
  const workers: LocalWorker[] = [];
  try {
    while (!local.stats().local?.serving || !frozen.stats().local?.serving) await sleep(5);
    for (const [label, value, perSample, rounds] of [
      ['~0.7 KB', ctx.small, 200, 40],
      ['~150 KB', ctx.large, 10, 30],
    ] as const) {
      const k = `hit:${label}`;
      await plain.set(k, value);
      await warm(local, k);
      await warm(frozen, k);
      await bento.set({ key: k, value, ttl: '1h' });
      await bento.get({ key: k });
      for (const got of [await local.get(k), await plain.get(k), await bento.get({ key: k })]) {
        if (JSON.stringify(got) !== JSON.stringify(value))
          throw new Error(`bench setup: a contender returned a different ${label} value`);
      }
      const before = local.stats().localHits;
      await ctx.ratios(
        report,
        {
          title: `hit from the local tier vs from Redis, ${label} (${perSample} sequential gets per sample)`,
          unit: 'gets',
          rounds,
          maxMs: 30_000,
          cases: [
            {
              name: 'dbkit get, local tier',
              units: perSample,
              fn: async () => {
                for (let i = 0; i < perSample; i++) await local.get(k);
              },
            },
            {
              name: 'dbkit get, local tier with freeze: true (shared frozen value)',
              baseline: true,
              units: perSample,
              fn: async () => {
                for (let i = 0; i < perSample; i++) await frozen.get(k);
              },
            },
            {
              name: 'dbkit get from Redis (no local tier)',
              baseline: true,
              units: perSample,
              fn: async () => {
                for (let i = 0; i < perSample; i++) await plain.get(k);
              },
            },
            {
              name: 'bentocache get (memory L1 + bus)',
              baseline: true,
              units: perSample,
              fn: async () => {
                for (let i = 0; i < perSample; i++) await bento.get({ key: k });
              },
            },
          ],
        },
        'dbkit get, local tier',
        'dbkit get from Redis (no local tier)',
      );
      const s = local.stats();
      console.log(
        `  (local hits during the group: ${s.localHits - before}; store reads: ${s.hits - s.localHits})`,
      );
    }

    // Invalidation latency across 4 processes, three contenders, rounds interleaved.
    const variants = [
      { name: 'dbkit, Redis client tracking', invalidation: 'tracking', script: undefined },
      { name: 'dbkit, pub/sub bus', invalidation: 'bus', script: undefined },
      {
        name: 'bentocache, memory L1 + Redis bus',
        invalidation: '',
        script: join(import.meta.dirname, 'fixtures/bento-worker.ts'),
      },
    ];
    const sets: LocalWorker[][] = [];
    for (const [i, v] of variants.entries()) {
      const ws = await startWorkers(4, 5, server.url, `inv${i}`, v.invalidation || 'auto', v.script);
      workers.push(...ws);
      sets.push(ws);
    }
    const latencies = variants.map(() => [] as number[]);
    const rounds = 60;
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < variants.length; j++) {
        const vi = (r + j) % variants.length;
        const ws = sets[vi]!;
        const writer = ws[r % 4]!;
        const others = ws.filter((w) => w !== writer);
        const key = `inv:${r}`;
        await writer.call('set', { key, value: { v: 1, r } });
        await Promise.all(others.map((w) => w.call('warm', { key })));
        await sleep(5); // let the first write's own invalidations land
        const { at } = await writer.call<{ at: number }>('set', { key, value: { v: 2, r } });
        const deadline = Date.now() + 5000;
        while (others.some((w) => w.dropAfter(at) === undefined) && Date.now() < deadline) await sleep(1);
        for (const w of others) {
          const t = w.dropAfter(at);
          latencies[vi]!.push(t === undefined ? Number.POSITIVE_INFINITY : t - at);
        }
      }
    }
    const p = variants.map((_, i) => ({
      p50: quantile(latencies[i]!, 0.5),
      p99: quantile(latencies[i]!, 0.99),
    }));
    for (const [i, v] of variants.entries()) {
      console.log(
        `invalidation latency, 4 processes, ${v.name}: p50 ${p[i]!.p50.toFixed(2)} ms, p99 ${p[i]!.p99.toFixed(2)} ms, max ${Math.max(...latencies[i]!).toFixed(2)} ms (${latencies[i]!.length} copies)`,
      );
    }
    for (const q of ['p50', 'p99'] as const) {
      report.metric({
        name: `invalidation latency ${q}, write in 1 of 4 processes -> copy dropped in the 3 others: tracking / bentocache`,
        ours: p[0]![q],
        baseline: p[2]![q],
        baselineName: variants[2]!.name,
        unit: 'ms',
        note: `dbkit bus ${p[1]![q].toFixed(2)} ms; target p99 <= 50 ms`,
      });
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await local.close();
    await frozen.close();
    await bento.disconnectAll().catch(() => {});
    for (const c of [plainRedis, localRedis, bentoRedis]) c.disconnect();
    await server.dispose();
  }
}
