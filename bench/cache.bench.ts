/**
 * dbkit/cache vs baselines, interleaved in one run against one fresh redis-server:
 * - per-hit latency, ~0.7 KB and ~150 KB JSON-like payloads: ours vs raw ioredis GET + JSON.parse,
 *   bentocache (L2 only, redis driver) and cache-manager 7 with @keyv/redis (median and min over rounds);
 * - getMany(1000) vs raw MGET + JSON.parse of each value (and 1000 sequential gets);
 * - the 150 KB codec trade-off: Redis memory (MEMORY USAGE) vs the raw JSON string, hit time vs raw, write
 *   time, for the default ('auto') and the other codecs and levels;
 * - a decompression bomb under a forged header: decode time and memory, bounded by the declared length (ours)
 *   vs inflating up to maxDecompressedBytes (what the cache did before);
 * - loader calls for 100 concurrent misses on one key;
 * - Redis stopped: getOrSet p99 vs the loader alone; Redis hung (SIGSTOP): how many calls paid the timeout;
 * - the local tier (bench/cache-local.ts): local hit vs Redis hit vs bentocache's memory tier, and invalidation
 *   latency across 4 processes (tracking, bus, bentocache's bus).
 * Run: npm run bench -- cache
 */
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache } from 'cache-manager';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { Packr } from 'msgpackr';
import { AUTO_GZIP_LEVEL } from '../src/cache/frame.js';
import {
  type CacheCodecName,
  createQueryCache,
  decodeCacheFrame,
  encodeCacheFrame,
  type QueryCache,
} from '../src/cache/index.js';
import { localTierBench } from './cache-local.js';
import { large, row, small } from './fixtures/cache-data.js';
import { type BenchCase, type BenchReport, type GroupResult, reportedMs } from './harness.js';
import { benchRedis } from './services.js';
import { WorkerProcess } from './worker-process.js';

const hitWorker = join(import.meta.dirname, 'fixtures/hit-worker.ts');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The harness reports medians; the targets are also stated on minimums (the least disturbed round).
 * Each case records its own sample times (the harness's warmup rounds dropped) so min ratios come from the
 * same interleaved run.
 */
function withMin(cases: BenchCase[], warmup: number) {
  const samples = new Map<string, number[]>();
  const wrapped = cases.map((c) => ({
    ...c,
    fn: async () => {
      const t0 = performance.now();
      const out = await c.fn();
      const dt = c.reported ? reportedMs(c, out) : performance.now() - t0;
      const list = samples.get(c.name) ?? [];
      list.push(dt);
      samples.set(c.name, list);
      return dt;
    },
  }));
  const timed = (name: string) => (samples.get(name) ?? []).slice(warmup);
  const min = (name: string) => Math.min(...timed(name));
  /**
   * Median of the per-round ratios a[r] / b[r]: every round runs each case once, back to back, so the two
   * samples of a round share the machine's state at that moment (a paired estimate; the ratio of two
   * medians or two minimums mixes different moments and moves with the load of the shared machine).
   */
  const paired = (a: string, b: string) => {
    const x = timed(a);
    const y = timed(b);
    const r = x.slice(0, Math.min(x.length, y.length)).map((v, i) => v / y[i]!);
    return r.sort((p, q) => p - q)[Math.floor((r.length - 1) / 2)] ?? Number.NaN;
  };
  return { cases: wrapped, min, paired };
}

async function ratios(
  report: BenchReport,
  spec: { title: string; unit: string; rounds: number; maxMs: number; cases: BenchCase[] },
  ours: string,
  baseline: string,
): Promise<GroupResult> {
  const warmup = 3;
  const m = withMin(spec.cases, warmup);
  const g = await report.group({ ...spec, warmup, cases: m.cases });
  const o = g.cases.find((c) => c.name === ours)!;
  const b = g.cases.find((c) => c.name === baseline)!;
  report.metric({
    name: `${spec.title}: ours / ${baseline}`,
    ours: o.medianMs,
    baseline: b.medianMs,
    baselineName: baseline,
    unit: 'ms (median)',
    note: `min ${m.min(ours).toPrecision(3)} vs ${m.min(baseline).toPrecision(3)} ms -> min ratio ${(m.min(ours) / m.min(baseline)).toFixed(3)}x; median of per-round ratios ${m.paired(ours, baseline).toFixed(3)}x over ${g.cases.find((c) => c.name === ours)!.samples} rounds`,
  });
  return g;
}

export default async function (report: BenchReport): Promise<void> {
  // The local tier (issue #14) on its own redis-server; `npm run bench -- cache --local` runs only this part.
  await localTierBench(report, { ratios, small, large });
  if (process.argv.includes('--local')) return;
  const svc = await benchRedis();
  const raw = new Redis(svc.url);
  const bentoRedis = new Redis(svc.url);
  // The last sections stop and pause Redis on purpose: connection errors are expected then.
  for (const c of [raw, bentoRedis]) c.on('error', () => {});
  // Same connection as the raw baseline: the comparison is our code path, not a second socket.
  const cache = createQueryCache({ redis: raw, namespace: 'bench', ttl: '1h' });
  const bento = new BentoCache({
    default: 'l2',
    stores: { l2: bentostore().useL2Layer(redisDriver({ connection: bentoRedis })) },
  });
  const keyv = new Keyv({ store: new KeyvRedis(svc.url), namespace: 'cm' });
  const cm = createCache({ stores: [keyv] });
  // What dbkit's serializer wrote before record tables: msgpackr records defined inline in each entry.
  const inlinePacker = new Packr({
    useRecords: true,
    moreTypes: true,
    mapsAsObjects: false,
    useBigIntExtension: true,
  });
  const memory = async (keys: string[]) => {
    let sum = 0;
    for (const key of keys) sum += Number(await raw.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    return sum / keys.length;
  };
  try {
    console.log(
      `payloads: small ${JSON.stringify(small).length} B JSON, large ${JSON.stringify(large).length} B JSON`,
    );
    // Many short samples (50 gets, ~1 ms) rather than a few long ones: the minimum of 160 rounds is a steadier
    // estimate of the undisturbed cost on a shared machine than that of 40, and a GC pause or another process's
    // burst spoils one short sample instead of a quarter of the run's long ones.
    for (const [label, value, perSample, rounds] of [
      ['~0.7 KB', small, 50, 160],
      ['~150 KB', large, 10, 30],
    ] as const) {
      const k = `hit:${label}`;
      await cache.set(k, value);
      await raw.set(`raw:${k}`, JSON.stringify(value));
      await bento.set({ key: k, value, ttl: '1h' });
      await cm.set(k, value, 3_600_000);
      // sanity: every contender returns the value
      // The same value as dbkit wrote it before record tables (msgpackr records inline), read by the same cache.
      const inline = `inline:${k}`;
      if (value === large) {
        const { frame } = encodeCacheFrame(inlinePacker.pack(value), {
          codec: 'gzip',
          level: AUTO_GZIP_LEVEL,
          thresholdBytes: 0,
          minSavings: 0,
        });
        await raw.set(cache.storeKey(inline), frame, 'EX', 3600);
        if (JSON.stringify(await cache.get(inline)) !== JSON.stringify(value))
          throw new Error('bench setup: the inline-records entry reads differently');
      }
      for (const got of [
        await cache.get(k),
        JSON.parse((await raw.get(`raw:${k}`))!),
        await bento.get({ key: k }),
        await cm.get(k),
      ]) {
        if (JSON.stringify(got) !== JSON.stringify(value))
          throw new Error(`bench setup: a contender returned a different ${label} value`);
      }
      await ratios(
        report,
        {
          title: `cache hit, ${label} payload (${perSample} sequential gets per sample)`,
          unit: 'gets',
          rounds,
          maxMs: 30_000,
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
            ...(value === large
              ? [
                  {
                    name: 'dbkit cache.get, records inline (before tables)',
                    baseline: true,
                    units: perSample,
                    fn: async () => {
                      for (let i = 0; i < perSample; i++) await cache.get(inline);
                    },
                  },
                ]
              : []),
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
        },
        'dbkit cache.get',
        'raw ioredis GET + JSON.parse',
      );
    }

    // The same hits with every contender in a process of its own (bench/fixtures/hit-worker.ts): own heap, so
    // each pays for its own garbage. In one process, a 150 KB JSON.parse leaves major-GC work (large-object
    // space) that the next case to allocate pays, under bench:pinned on the same CPU; the cases above share it.
    for (const [label, payload, perSample, rounds] of [
      ['~0.7 KB', 'small', 50, 160],
      ['~150 KB', 'large', 10, 60],
    ] as const) {
      const kinds = [
        ['dbkit', 'dbkit cache.get'],
        ['raw', 'raw ioredis GET + JSON.parse'],
        ['bentocache', 'bentocache (L2 only) get'],
        ['cache-manager', 'cache-manager + @keyv/redis get'],
      ] as const;
      const procs = kinds.map(
        ([kind]) => new WorkerProcess<{ id: number; ms: number }>(hitWorker, [kind, svc.url, payload]),
      );
      try {
        await Promise.all(procs.map((w) => w.ready));
        await ratios(
          report,
          {
            title: `cache hit, ${label} payload, each contender in its own process (${perSample} sequential gets per sample)`,
            unit: 'gets',
            rounds,
            maxMs: 30_000,
            cases: kinds.map(([kind, name], i) => ({
              name,
              baseline: kind !== 'dbkit',
              units: perSample,
              reported: true,
              fn: async () => (await procs[i]!.run({ n: perSample })).ms,
            })),
          },
          'dbkit cache.get',
          'raw ioredis GET + JSON.parse',
        );
      } finally {
        await Promise.all(procs.map((w) => w.quit()));
      }
    }

    // getMany(1000) vs one raw MGET + JSON.parse of each value (and vs 1000 sequential gets).
    const keys = Array.from({ length: 1000 }, (_, i) => `many:${i}`);
    const manyValues = keys.map((_, i) => row(20_000 + i));
    await cache.setMany(keys.map((key, i) => ({ key, value: manyValues[i] })));
    const rawKeys = keys.map((k) => `rawmany:${k}`);
    const mp = raw.pipeline();
    for (const [i, k] of rawKeys.entries()) mp.set(k, JSON.stringify(manyValues[i]));
    await mp.exec();
    await ratios(
      report,
      {
        title: 'getMany(1000)',
        unit: 'keys',
        rounds: 100,
        maxMs: 30_000,
        cases: [
          { name: 'dbkit cache.getMany(1000)', units: 1000, fn: () => cache.getMany(keys) },
          {
            name: 'raw MGET + JSON.parse each',
            baseline: true,
            units: 1000,
            fn: async () => {
              const got = await raw.mget(...rawKeys);
              return got.map((v) => (v === null ? undefined : JSON.parse(v)));
            },
          },
          {
            name: '1000 sequential cache.get()',
            baseline: true,
            units: 1000,
            fn: async () => {
              for (const key of keys) await cache.get(key);
            },
          },
        ],
      },
      'dbkit cache.getMany(1000)',
      'raw MGET + JSON.parse each',
    );

    // The 150 KB trade-off: memory, hit time and write time per codec setting, same values, same run.
    const n = 20;
    const values = Array.from({ length: n }, (_, i) =>
      Array.from({ length: 220 }, (_, j) => row(5000 + i * 220 + j)),
    );
    const rp = raw.pipeline();
    for (const [i, v] of values.entries()) rp.set(`rawmem:${i}`, JSON.stringify(v));
    await rp.exec();
    const base = await memory(values.map((_, i) => `rawmem:${i}`));
    const options: Array<{ label: string; compression: CacheCodecName | 'auto'; level?: number }> = [
      { label: `default ('auto': gzip ${AUTO_GZIP_LEVEL} at this size)`, compression: 'auto' },
      { label: 'lz4', compression: 'lz4' },
      ...[1, 2, 3, 6]
        .filter((level) => level !== AUTO_GZIP_LEVEL)
        .map((level) => ({ label: `gzip ${level}`, compression: 'gzip' as const, level })),
      { label: 'brotli 2', compression: 'brotli', level: 2 },
      { label: 'brotli 4', compression: 'brotli', level: 4 },
      { label: 'brotli 6', compression: 'brotli', level: 6 },
      { label: 'none', compression: 'none' },
    ];
    const caches = options.map((o, ci) =>
      createQueryCache({
        redis: raw,
        namespace: `bench-codec-${ci}`,
        ttl: '1h',
        compression: o.compression,
        ...(o.level === undefined ? {} : { compressionLevel: o.level }),
      }),
    );
    // Writes interleaved value by value (each setting writes value i before any writes i + 1), after one
    // untimed write per setting: the first setting does not pay the serializer's warm-up for the others.
    for (const c of caches) await c.set('warm', values[0]);
    const writes = caches.map((): number[] => []);
    for (const [i, value] of values.entries()) {
      for (const [ci, c] of caches.entries()) {
        const t0 = performance.now();
        await c.set(`mem:${i}`, value);
        writes[ci]!.push(performance.now() - t0);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const contenders: Array<{
      label: string;
      cache: QueryCache;
      mem: number;
      writeMs: number;
      prefix: string;
    }> = [];
    for (const [ci, o] of options.entries()) {
      const c = caches[ci]!;
      const mem = await memory(values.map((_, i) => c.storeKey(`mem:${i}`)));
      contenders.push({ label: o.label, cache: c, mem, writeMs: median(writes[ci]!), prefix: 'mem' });
    }
    // The default codec's entries as dbkit wrote them before record tables (msgpackr records defined inline),
    // read by the same cache: what the tables change, in the same run.
    const defaultCache = caches[0]!;
    for (const [i, v] of values.entries()) {
      const { frame } = encodeCacheFrame(inlinePacker.pack(v), {
        codec: 'gzip',
        level: AUTO_GZIP_LEVEL,
        thresholdBytes: 0,
        minSavings: 0,
      });
      await raw.set(defaultCache.storeKey(`inline:${i}`), frame, 'EX', 3600);
    }
    contenders.push({
      label: 'default, records inline (before tables)',
      cache: defaultCache,
      mem: await memory(values.map((_, i) => defaultCache.storeKey(`inline:${i}`))),
      writeMs: Number.NaN,
      prefix: 'inline',
    });
    const tradeCases: BenchCase[] = contenders.map((c, ci) => ({
      name: c.label,
      baseline: ci !== 0,
      units: 10,
      fn: async () => {
        for (let i = 0; i < 10; i++) await c.cache.get(`${c.prefix}:${i}`);
      },
    }));
    tradeCases.push({
      name: 'raw ioredis GET + JSON.parse',
      baseline: true,
      units: 10,
      fn: async () => {
        for (let i = 0; i < 10; i++) JSON.parse((await raw.get(`rawmem:${i}`))!);
      },
    });
    const warm = 3;
    const tm = withMin(tradeCases, warm);
    const tg = await report.group({
      title: '150 KB hit per codec setting (10 gets per sample)',
      unit: 'gets',
      // 40 rounds of 11 cases: ~5 s, and a steadier median than 20 on a shared VM (one sample is ~6-14 ms)
      rounds: 40,
      warmup: warm,
      maxMs: 60_000,
      cases: tm.cases,
    });
    const rawCase = tg.cases.find((c) => c.name === 'raw ioredis GET + JSON.parse')!;
    console.log(
      '\n150 KB entry trade-off (same values, same run; memory = MEMORY USAGE average over 20 entries)',
    );
    console.log(
      'setting                                memory   vs JSON   hit vs raw (median/min/per round)   write ms (median)',
    );
    for (const c of contenders) {
      const g = tg.cases.find((x) => x.name === c.label)!;
      console.log(
        `${c.label.padEnd(38)} ${String(Math.round(c.mem)).padStart(7)}   ${(c.mem / base).toFixed(3)}x   ${(g.medianMs / rawCase.medianMs).toFixed(3)}x / ${(tm.min(c.label) / tm.min(rawCase.name)).toFixed(3)}x / ${tm.paired(c.label, rawCase.name).toFixed(3)}x   ${Number.isNaN(c.writeMs) ? '-' : c.writeMs.toFixed(2)}`,
      );
    }
    console.log(
      `raw JSON string                        ${String(Math.round(base)).padStart(7)}   1.000x   1x`,
    );
    const def = contenders[0]!;
    report.metric({
      name: 'Redis memory per 150 KB entry, default codec',
      ours: def.mem,
      baseline: base,
      baselineName: 'raw JSON string',
      unit: 'bytes',
      note: 'MEMORY USAGE average',
    });
    const defCase = tg.cases.find((x) => x.name === def.label)!;
    report.metric({
      name: '150 KB hit, default codec',
      ours: defCase.medianMs,
      baseline: rawCase.medianMs,
      baselineName: 'raw GET + JSON.parse',
      unit: 'ms (median)',
      note: `min ratio ${(tm.min(def.label) / tm.min(rawCase.name)).toFixed(3)}x; median of per-round ratios ${tm.paired(def.label, rawCase.name).toFixed(3)}x`,
    });
    const inlineCase = tg.cases.find((x) => x.name === contenders.at(-1)!.label)!;
    report.metric({
      name: '150 KB hit, default codec: record tables vs records inline',
      ours: defCase.medianMs,
      baseline: inlineCase.medianMs,
      baselineName: 'records inline (before tables)',
      unit: 'ms (median)',
      note: `min ratio ${(tm.min(def.label) / tm.min(inlineCase.name)).toFixed(3)}x; median of per-round ratios ${tm.paired(def.label, inlineCase.name).toFixed(3)}x`,
    });
    for (const c of caches) await c.clear();

    // A decompression bomb: 200 MB of zeros gzipped (~200 KB) under a header that declares 10 bytes.
    const bombRaw = Buffer.alloc(200_000_000);
    const { frame: bomb } = encodeCacheFrame(bombRaw, { codec: 'gzip', thresholdBytes: 0, minSavings: 0 });
    bomb.writeUInt32BE(10, 4);
    const payload = bomb.subarray(8);
    const limit = 64 * 1024 * 1024;
    const tryDecode = (f: () => unknown) => {
      try {
        f();
      } catch {
        // both refuse it: the cost is what differs
      }
    };
    const rss = (f: () => void) => {
      const before = process.memoryUsage().rss;
      f();
      return (process.memoryUsage().rss - before) / 1e6;
    };
    const oldRss = rss(() => tryDecode(() => zlib.gunzipSync(payload, { maxOutputLength: limit })));
    const newRss = rss(() => tryDecode(() => decodeCacheFrame(bomb, limit)));
    const bg = await report.group({
      title: 'gzip bomb (200 MB of zeros) under a header declaring 10 bytes: one read',
      rounds: 15,
      warmup: 2,
      maxMs: 30_000,
      cases: [
        {
          name: 'dbkit decode (stops at the declared length)',
          fn: () => tryDecode(() => decodeCacheFrame(bomb, limit)),
        },
        {
          name: 'inflate up to maxDecompressedBytes (before)',
          baseline: true,
          fn: () => tryDecode(() => zlib.gunzipSync(payload, { maxOutputLength: limit })),
        },
      ],
    });
    report.metric({
      name: 'gzip bomb read: time',
      ours: bg.cases[0]!.medianMs,
      baseline: bg.cases[1]!.medianMs,
      baselineName: 'before',
      unit: 'ms',
      note: `RSS growth of one read: ours ${newRss.toFixed(1)} MB, before ${oldRss.toFixed(1)} MB`,
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

    if (svc.server) {
      const loader = async () => {
        await sleep(1);
        return small;
      };
      // Redis hung (SIGSTOP): sequential getOrSet calls; only failureThreshold of them may pay the timeout.
      const hungRedis = new Redis(svc.url, { maxRetriesPerRequest: 1 });
      hungRedis.on('error', () => {});
      let timeouts = 0;
      const hung = createQueryCache({
        redis: hungRedis,
        namespace: 'bench-hung',
        ttl: '1h',
        onError: (e) => {
          if ((e.cause as { code?: string } | undefined)?.code === 'E_TIMEOUT') timeouts++;
        },
      });
      await hung.set('warm', 1);
      svc.server.pause();
      const th = performance.now();
      for (let i = 0; i < 50; i++) await hung.getOrSet(`h${i}`, loader);
      const hungMs = performance.now() - th;
      svc.server.resume();
      report.metric({
        name: 'Redis hung: getOrSet calls that paid the 250 ms timeout, of 50',
        ours: timeouts,
        baseline: 5,
        baselineName: 'failureThreshold',
        unit: 'calls',
        note: `50 calls took ${hungMs.toFixed(0)} ms`,
      });
      hungRedis.disconnect();

      // Redis stopped: getOrSet vs the loader alone (the connection events open the circuit at once).
      const downRedis = new Redis(svc.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      downRedis.on('error', () => {});
      let waited = 0;
      const down = createQueryCache({
        redis: downRedis,
        namespace: 'bench-down',
        ttl: '1h',
        onError: (e) => {
          if ((e.cause as { code?: string } | undefined)?.code === 'E_TIMEOUT') waited++;
        },
      });
      await down.set('warm', 1);
      await svc.server.stop();
      let i = 0;
      const g = await report.group({
        title: 'getOrSet with Redis stopped vs the loader alone (loader: 1 ms timer)',
        rounds: 300,
        warmup: 20,
        maxMs: 20_000,
        cases: [
          { name: 'dbkit getOrSet, Redis down', fn: () => down.getOrSet(`k${i++}`, loader) },
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
        note: `difference ${(o!.p99Ms - b!.p99Ms).toFixed(2)} ms; calls that waited for a timeout: ${waited}; circuit=${down.stats().circuit}`,
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
