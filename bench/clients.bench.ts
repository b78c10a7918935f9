/**
 * The client manager's Postgres client against a plain postgres.js client with the same `max`, per
 * sequential `select 1` (interleaved, min and median): the manager's defaults (tracked and monitored,
 * idle_timeout 30 closed by dbkit's reaper, no postgres.js idle timer) against plain `postgres(url)`, and the
 * figures of the previous defaults (a plain client with postgres.js' idle timer, no keeper), of a plain
 * manager client (postgres.js' timer with the list keeper) and of tracking + monitoring with no idle timeout.
 * First interleaved call by call (bench/per-call.ts: the figure to read; a second identical plain client shows
 * the noise floor), then in batches of 200 sequential queries per sample (each case stays on its one
 * connection for a sample, so where the scheduler put that connection's backend shows in the ratios).
 * Then what a reused client saves: N "requests" each doing one `select 1` (or one Redis GET) on the
 * manager's cached client, against the common mistake of creating (and closing) a client per request.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { createClientManager } from '../src/clients/index.js';
import type { BenchCase, BenchReport } from './harness.js';
import { perCallGroup, reconnectAll } from './per-call.js';
import { benchDatabase, benchRedis } from './services.js';

const REQUESTS = 100;
const BATCH = 200;

const min = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The manager's client against plain postgres.js (same max), and both defaults' figures. */
async function defaultsGroup(report: BenchReport, url: string): Promise<void> {
  const max = 10;
  const managers = [
    createClientManager({ env: {}, databaseUrl: url, pool: { max } }),
    createClientManager({ env: {}, databaseUrl: url, pool: { max }, track: false, monitor: false }),
    createClientManager({ env: {}, databaseUrl: url, pool: { max, idle_timeout: 0 } }),
  ];
  const [ours, plainNew, noIdle] = managers.map((m) => m.sql());
  const plain = postgres(url, { max, onnotice: () => {} });
  // The same plain client twice shows the noise floor; the CJS build is the copy the manager loads (require).
  const plain2 = postgres(url, { max, onnotice: () => {} });
  const pgCjs = createRequire(import.meta.url)('postgres') as typeof postgres;
  const plainCjs = pgCjs(url, { max, onnotice: () => {} });
  // Ends the other sessions between rounds of the per-call group: every round gets new backends.
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  // The previous defaults: a plain client with idle_timeout 30 and no keeper. Measured with 29 s: Node files
  // timers per duration, and the new pool's keeper would otherwise cover a 30 s timer in this process too.
  const oldDefaults = postgres(url, {
    max,
    idle_timeout: 29,
    max_lifetime: 1800,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'dbkit' },
  });
  const loop = (s: postgres.Sql) => async () => {
    for (let i = 0; i < BATCH; i++) await s`select 1`;
  };
  const cases: BenchCase[] = [
    { name: 'manager.sql(), new defaults', fn: loop(ours!) },
    { name: 'plain postgres(url)', baseline: true, fn: loop(plain) },
    { name: 'previous defaults (idle timer, no keeper, untracked)', baseline: true, fn: loop(oldDefaults) },
    { name: 'track/monitor off (postgres.js timer + keeper)', baseline: true, fn: loop(plainNew!) },
    { name: 'tracked + monitored, idle_timeout 0', baseline: true, fn: loop(noIdle!) },
  ];
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) {
    const fn = c.fn;
    c.units = BATCH;
    c.fn = async () => {
      const t0 = performance.now();
      await fn();
      samples.get(c.name)!.push(performance.now() - t0);
    };
  }
  try {
    for (const s of [ours!, plain, plain2, plainCjs, oldDefaults, plainNew!, noIdle!]) await s`select 1`;
    const one = (s: postgres.Sql) => () => s`select 1`;
    await perCallGroup(report, {
      title: `clients per call: select 1, the manager's client vs plain postgres.js (max ${max})`,
      rounds: 20,
      perRound: 500,
      between: reconnectAll(admin),
      cases: [
        { name: 'manager.sql(), new defaults', fn: one(ours!) },
        { name: 'plain postgres(url)', baseline: true, fn: one(plain) },
        { name: 'plain postgres(url), a second client', baseline: true, fn: one(plain2) },
        { name: 'plain postgres(url), CJS build', baseline: true, fn: one(plainCjs) },
        { name: 'previous defaults', baseline: true, fn: one(oldDefaults) },
        { name: 'track/monitor off', baseline: true, fn: one(plainNew!) },
        { name: 'tracked + monitored, idle_timeout 0', baseline: true, fn: one(noIdle!) },
      ],
    });
    await report.group({
      title: `select 1, ${BATCH} sequential per sample: the manager's client vs plain postgres.js (max ${max})`,
      unit: 'queries',
      rounds: 40,
      maxMs: 120_000,
      cases,
    });
    const o = samples.get(cases[0]!.name)!.slice(3);
    for (const c of cases.slice(1)) {
      const b = samples.get(c.name)!.slice(3);
      for (const [stat, f] of [
        ['min', min],
        ['median', median],
      ] as const)
        report.metric({
          name: `clients: ${stat}, manager.sql() vs ${c.name}`,
          ours: (f(o) * 1000) / BATCH,
          baseline: (f(b) * 1000) / BATCH,
          baselineName: c.name,
          unit: 'us/query',
        });
      // Each round runs every case once: the median of the per-round ratios cancels slow stretches.
      report.metric({
        name: `clients: median of per-round ratios, manager.sql() vs ${c.name}`,
        ours: median(o.map((v, i) => v / b[i]!)),
        baseline: 1,
        baselineName: c.name,
        unit: 'x',
      });
    }
    // Both defaults against plain postgres.js, the figures the issue asks for.
    const p = samples.get('plain postgres(url)')!.slice(3);
    const old = samples.get(cases[2]!.name)!.slice(3);
    for (const [stat, f] of [
      ['min', min],
      ['median', median],
    ] as const)
      report.metric({
        name: `clients: ${stat}, previous defaults vs plain postgres(url)`,
        ours: (f(old) * 1000) / BATCH,
        baseline: (f(p) * 1000) / BATCH,
        baselineName: 'plain postgres(url)',
        unit: 'us/query',
      });
    report.metric({
      name: 'clients: median of per-round ratios, previous defaults vs plain postgres(url)',
      ours: median(old.map((v, i) => v / p[i]!)),
      baseline: 1,
      baselineName: 'plain postgres(url)',
      unit: 'x',
    });
  } finally {
    await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 5000 })));
    await Promise.all([plain, plain2, plainCjs, oldDefaults, admin].map((c) => c.end({ timeout: 2 })));
  }
}

export default async function (report: BenchReport): Promise<void> {
  const db = await benchDatabase('clients');
  await defaultsGroup(report, db.url);
  const redis = await benchRedis();
  const manager = createClientManager({ env: {}, databaseUrl: db.url, redisUrl: redis.url });
  let freshPg = 0;
  let freshRedis = 0;
  try {
    await report.group({
      title: `${REQUESTS} requests x select 1: manager.sql() vs a new postgres.js client per request`,
      unit: 'requests',
      rounds: 8,
      warmup: 1,
      cases: [
        {
          name: 'dbkit manager.sql() (reused pool)',
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) await manager.sql()`select 1`;
          },
        },
        {
          name: 'new postgres() per request',
          baseline: true,
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) {
              const sql = postgres(db.url, { max: 1, onnotice: () => {} });
              freshPg++;
              await sql`select 1`;
              await sql.end();
            }
          },
        },
      ],
    });
    await manager.redis().set('bench:k', 'v');
    await report.group({
      title: `${REQUESTS} requests x GET: manager.redis() vs a new ioredis client per request`,
      unit: 'requests',
      rounds: 8,
      warmup: 1,
      cases: [
        {
          name: 'dbkit manager.redis() (reused connection)',
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) await manager.redis().get('bench:k');
          },
        },
        {
          name: 'new Redis() per request',
          baseline: true,
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) {
              const r = new Redis(redis.url);
              freshRedis++;
              await r.get('bench:k');
              await r.quit();
            }
          },
        },
      ],
    });
    const created = manager.stats().created;
    report.metric({
      name: 'postgres clients created',
      ours: created.postgres,
      baseline: freshPg,
      baselineName: 'client per request',
      unit: 'clients',
      note: 'from manager.stats().created',
    });
    report.metric({
      name: 'redis clients created',
      ours: created.redis,
      baseline: freshRedis,
      baselineName: 'client per request',
      unit: 'clients',
    });
  } finally {
    await manager.closeAll({ timeoutMs: 5000 });
    await db.drop();
    await redis.dispose();
  }
}
