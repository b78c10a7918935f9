/**
 * dbkit/cache vs baselines, interleaved in one run against one fresh redis-server:
 * - per-hit latency, ~0.7 KB and ~150 KB JSON-like payloads: ours vs raw ioredis GET + JSON.parse,
 *   bentocache (L2 only, redis driver) and cache-manager 7 with @keyv/redis;
 * - Redis memory per entry (MEMORY USAGE): ours vs the raw JSON string;
 * - getMany(1000) vs 1000 sequential gets;
 * - loader calls for 100 concurrent misses on one key;
 * - getOrSet p99 with Redis stopped vs the loader alone.
 * Run: npx tsx bench/run.ts cache
 */
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache } from 'cache-manager';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { createQueryCache } from '../src/cache/index.js';
import type { BenchReport } from './harness.js';
import { benchRedis } from './services.js';

// Deterministic pseudo-random rows: realistic field mix, some repetition (what query results look like).
let seed = 42;
const rand = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const words =
  'alpha beta gamma delta order shipped pending paid refund customer premium basic north south east west'.split(
    ' ',
  );
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
const text = (n: number) => Array.from({ length: n }, () => pick(words)).join(' ');
function row(i: number) {
  return {
    id: 100_000 + i,
    customerId: Math.floor(rand() * 50_000),
    email: `customer${Math.floor(rand() * 50_000)}@example.com`,
    status: pick(['pending', 'paid', 'shipped', 'refunded']),
    currency: 'EUR',
    totalCents: Math.floor(rand() * 1_000_000),
    createdAt: new Date(Date.UTC(2024, 0, 1) + Math.floor(rand() * 3e10)).toISOString(),
    updatedAt: new Date(Date.UTC(2024, 6, 1) + Math.floor(rand() * 3e10)).toISOString(),
    shippingAddress: {
      street: `${Math.floor(rand() * 200)} ${text(2)} street`,
      city: pick(words),
      zip: String(10_000 + i),
    },
    lines: Array.from({ length: 3 }, (_, j) => ({
      sku: `SKU-${(i * 7 + j) % 999}`,
      qty: 1 + j,
      priceCents: Math.floor(rand() * 10_000),
    })),
    note: text(40),
  };
}
const small = row(0);
const large = Array.from({ length: 220 }, (_, i) => row(i + 1));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default async function (report: BenchReport): Promise<void> {
  const svc = await benchRedis();
  const raw = new Redis(svc.url);
  const bentoRedis = new Redis(svc.url);
  // The last section stops Redis on purpose: connection errors are expected then.
  for (const c of [raw, bentoRedis]) c.on('error', () => {});
  const cache = createQueryCache({ redis: raw, namespace: 'bench', ttl: '1h' });
  const bento = new BentoCache({
    default: 'l2',
    stores: { l2: bentostore().useL2Layer(redisDriver({ connection: bentoRedis })) },
  });
  const keyv = new Keyv({ store: new KeyvRedis(svc.url), namespace: 'cm' });
  const cm = createCache({ stores: [keyv] });
  try {
    console.log(
      `payloads: small ${JSON.stringify(small).length} B JSON, large ${JSON.stringify(large).length} B JSON`,
    );
    for (const [label, value, perSample] of [
      ['~0.7 KB', small, 200],
      ['~150 KB', large, 10],
    ] as const) {
      const k = `hit:${label}`;
      await cache.set(k, value);
      await raw.set(`raw:${k}`, JSON.stringify(value));
      await bento.set({ key: k, value, ttl: '1h' });
      await cm.set(k, value, 3_600_000);
      // sanity: every contender returns the value
      for (const got of [
        await cache.get(k),
        JSON.parse((await raw.get(`raw:${k}`))!),
        await bento.get({ key: k }),
        await cm.get(k),
      ]) {
        if (JSON.stringify(got) !== JSON.stringify(value))
          throw new Error(`bench setup: a contender returned a different ${label} value`);
      }
      await report.group({
        title: `cache hit, ${label} payload (${perSample} sequential gets per sample)`,
        unit: 'gets',
        rounds: 25,
        maxMs: 20_000,
        cases: [
          {
            name: 'dbkit cache.get',
            units: perSample,
            fn: async () => {
              for (let i = 0; i < perSample; i++) await cache.get(k);
            },
          },
          {
            name: 'raw ioredis GET + JSON.parse',
            baseline: true,
            units: perSample,
            fn: async () => {
              for (let i = 0; i < perSample; i++) JSON.parse((await raw.get(`raw:${k}`))!);
            },
          },
          {
            name: 'bentocache (L2 only) get',
            baseline: true,
            units: perSample,
            fn: async () => {
              for (let i = 0; i < perSample; i++) await bento.get({ key: k });
            },
          },
          {
            name: 'cache-manager + @keyv/redis get',
            baseline: true,
            units: perSample,
            fn: async () => {
              for (let i = 0; i < perSample; i++) await cm.get(k);
            },
          },
        ],
      });
    }

    // Memory per entry, measured by Redis itself.
    const memory = async (keys: string[]) => {
      let sum = 0;
      for (const key of keys) sum += Number(await raw.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      return sum / keys.length;
    };
    for (const [label, make, n] of [
      ['~0.7 KB', (i: number) => row(1000 + i), 200],
      ['~150 KB', (i: number) => Array.from({ length: 220 }, (_, j) => row(5000 + i * 220 + j)), 20],
    ] as const) {
      const values = Array.from({ length: n }, (_, i) => make(i));
      await cache.setMany(values.map((value, i) => ({ key: `mem:${label}:${i}`, value })));
      const p = raw.pipeline();
      for (const [i, v] of values.entries()) p.set(`rawmem:${label}:${i}`, JSON.stringify(v));
      await p.exec();
      const ours = await memory(values.map((_, i) => `bench:k:mem:${label}:${i}`));
      const base = await memory(values.map((_, i) => `rawmem:${label}:${i}`));
      report.metric({
        name: `Redis memory per entry, ${label}`,
        ours,
        baseline: base,
        baselineName: 'raw JSON string',
        unit: 'bytes',
        note: 'MEMORY USAGE average',
      });
      // The other codecs, same values: what a host trading CPU for memory gets.
      for (const codec of ['gzip', 'brotli'] as const) {
        const alt = createQueryCache({
          redis: raw,
          namespace: `bench-${codec}`,
          ttl: '1h',
          compression: codec,
        });
        await alt.setMany(values.map((value, i) => ({ key: `mem:${label}:${i}`, value })));
        const mem = await memory(values.map((_, i) => `bench-${codec}:k:mem:${label}:${i}`));
        report.metric({
          name: `Redis memory per entry, ${label}, compression '${codec}'`,
          ours: mem,
          baseline: base,
          baselineName: 'raw JSON string',
          unit: 'bytes',
        });
      }
    }

    // getMany(1000) vs 1000 sequential gets.
    const keys = Array.from({ length: 1000 }, (_, i) => `many:${i}`);
    await cache.setMany(keys.map((key, i) => ({ key, value: row(20_000 + i) })));
    await report.group({
      title: 'getMany(1000) vs 1000 sequential get()',
      unit: 'keys',
      rounds: 10,
      maxMs: 20_000,
      cases: [
        { name: 'dbkit cache.getMany(1000)', units: 1000, fn: () => cache.getMany(keys) },
        {
          name: '1000 sequential cache.get()',
          baseline: true,
          units: 1000,
          fn: async () => {
            for (const key of keys) await cache.get(key);
          },
        },
      ],
    });

    // Loader calls for 100 concurrent misses on one key.
    let round = 0;
    const stampede = async (run: (key: string, loader: () => Promise<unknown>) => Promise<unknown>) => {
      let calls = 0;
      const key = `stampede:${round++}`;
      const loader = async () => {
        calls++;
        await sleep(20);
        return small;
      };
      await Promise.all(Array.from({ length: 100 }, () => run(key, loader)));
      return calls;
    };
    const oursCalls = await stampede((key, loader) => cache.getOrSet(key, loader));
    const naive = await stampede(async (key, loader) => {
      const hit = await raw.get(key);
      if (hit) return JSON.parse(hit);
      const v = await loader();
      await raw.set(key, JSON.stringify(v), 'EX', 3600);
      return v;
    });
    const bentoCalls = await stampede((key, loader) => bento.getOrSet({ key, factory: loader, ttl: '1h' }));
    const cmCalls = await stampede((key, loader) => cm.wrap(key, loader, 3_600_000));
    report.metric({
      name: 'loader calls, 100 concurrent misses',
      ours: oursCalls,
      baseline: naive,
      baselineName: 'ioredis get-then-set',
      unit: 'calls',
      note: `bentocache ${bentoCalls}, cache-manager wrap ${cmCalls}`,
    });

    // getOrSet with Redis stopped vs the loader alone (fail-open + circuit breaker).
    if (svc.server) {
      const downRedis = new Redis(svc.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      downRedis.on('error', () => {});
      const down = createQueryCache({
        redis: downRedis,
        namespace: 'bench-down',
        ttl: '1h',
        onError: () => {},
      });
      await down.set('warm', 1);
      await svc.server.stop();
      const loader = async () => {
        await sleep(1);
        return small;
      };
      let n = 0;
      const g = await report.group({
        title: 'getOrSet with Redis stopped vs the loader alone (loader: 1 ms timer)',
        rounds: 300,
        warmup: 20,
        maxMs: 20_000,
        cases: [
          { name: 'dbkit getOrSet, Redis down', fn: () => down.getOrSet(`k${n++}`, loader) },
          { name: 'loader alone', baseline: true, fn: loader },
        ],
      });
      const [o, b] = g.cases;
      report.metric({
        name: 'p99 getOrSet with Redis down',
        ours: o!.p99Ms,
        baseline: b!.p99Ms,
        baselineName: 'loader alone',
        unit: 'ms',
        note: `difference ${(o!.p99Ms - b!.p99Ms).toFixed(2)} ms; stats.errors=${down.stats().errors}, circuit=${down.stats().circuit}`,
      });
      downRedis.disconnect();
      await svc.server.start();
    }
  } finally {
    await bento.disconnectAll().catch(() => {});
    await keyv.disconnect().catch(() => {});
    raw.disconnect();
    await svc.dispose();
  }
}
