/**
 * The data path's overhead: the client manager's Postgres client (tracked by dbkit/query and monitored by
 * dbkit/monitoring through one hook layer, the default) against raw postgres.js on the same server,
 * interleaved in one run, on `select 1` as a tagged template and through `unsafe()` (drizzle's path).
 * First interleaved call by call (bench/per-call.ts: the figure to read; a second identical raw client shows the
 * noise floor), then in batches of sequential round trips on the pool's one busy connection per sample (where
 * the scheduler put that connection's backend shows in those ratios). Besides the harness's median ratios, the
 * min ratios are printed (the fastest sample of each case, least disturbed by noise).
 * Baselines: each wrapper alone, and instrument() without call sites.
 */
import { createRequire } from 'node:module';
import postgres from 'postgres';
import { createClientManager } from '../src/clients/index.js';
import { monitorPool } from '../src/monitoring/index.js';
import { instrument, type QueryEvent, trackQueries } from '../src/query/index.js';
import { cannedSocket } from './fixtures/canned-pg.js';
import type { BenchCase, BenchReport } from './harness.js';
import { perCallGroup, reconnectAll } from './per-call.js';
import { benchDatabase } from './services.js';

/** Wraps the cases so their samples are kept here too: the harness reports medians, we add the minimum. */
function sampled(cases: BenchCase[]) {
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const wrapped = cases.map((c) => ({
    ...c,
    fn: async () => {
      const t0 = performance.now();
      await c.fn();
      samples.get(c.name)!.push(performance.now() - t0);
    },
  }));
  return { cases: wrapped, samples };
}

const min = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Prints ours / baseline for the min and the median sample (per query, in us), and the median of the
 * per-round ratios (each round runs every case once, so a slow stretch of the machine hits both sides).
 */
function ratios(report: BenchReport, title: string, samples: Map<string, number[]>, ours: string, n: number) {
  const o = samples.get(ours)!.slice(3); // the harness's warmup rounds
  for (const [name, xs] of samples) {
    if (name === ours) continue;
    const b = xs.slice(3);
    for (const [stat, f] of [
      ['min', min],
      ['median', median],
    ] as const)
      report.metric({
        name: `${title}: ${stat}, ${ours} vs ${name}`,
        ours: (f(o) * 1000) / n,
        baseline: (f(b) * 1000) / n,
        baselineName: name,
        unit: 'us/query',
      });
    const paired = median(o.map((v, i) => v / b[i]!));
    report.metric({
      name: `${title}: median of per-round ratios, ${ours} vs ${name}`,
      ours: paired,
      baseline: 1,
      baselineName: name,
      unit: 'x',
    });
  }
}

export default async function (report: BenchReport): Promise<void> {
  const database = await benchDatabase('query');
  const raw = postgres(database.url, { onnotice: () => {} });
  const instOnly = instrument(postgres(database.url, { onnotice: () => {} }));
  const monOnly = monitorPool(postgres(database.url, { onnotice: () => {} })).sql;
  const noSite = instrument(monitorPool(postgres(database.url, { onnotice: () => {} })).sql, {
    callSite: false,
  });
  // The manager's client exactly as a service gets it: tracked and monitored (the defaults).
  const manager = createClientManager({ env: {}, databaseUrl: database.url });
  const ours = manager.sql();
  let sink = 0;
  const onQuery = (e: QueryEvent) => {
    sink += e.durationMs;
  };
  const withListener = instrument(monitorPool(postgres(database.url, { onnotice: () => {} })).sql, {
    onQuery,
  });
  // The same raw client twice shows the noise floor; the CJS build is the copy the manager loads (require).
  const raw2 = postgres(database.url, { onnotice: () => {} });
  const rawCjs = (createRequire(import.meta.url)('postgres') as typeof postgres)(database.url, {
    onnotice: () => {},
  });
  // Ends the other sessions between rounds of the per-call groups: every round gets new backends.
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  const clients = [raw, raw2, rawCjs, instOnly, monOnly, noSite, ours, withListener, admin];
  try {
    await raw`create table rows1k (id int primary key, name text not null, n int not null)`;
    await raw`insert into rows1k select g, 'name ' || g, g % 97 from generate_series(1, 1000) g`;
    for (const s of clients) await s`select 1`; // connect them all

    const batch = 200;
    const tagged = (s: postgres.Sql) => async () => {
      for (let i = 0; i < batch; i++) await s`select 1`;
    };
    const unsafe = (s: postgres.Sql) => async () => {
      for (let i = 0; i < batch; i++) await s.unsafe('select 1');
    };
    for (const [label, one] of [
      ['select 1 (tagged template)', (s: postgres.Sql) => () => s`select 1`],
      ["sql.unsafe('select 1') (drizzle's path)", (s: postgres.Sql) => () => s.unsafe('select 1')],
    ] as const)
      await perCallGroup(report, {
        title: `query per call: ${label}`,
        rounds: 20,
        perRound: 400,
        between: reconnectAll(admin),
        cases: [
          { name: 'manager.sql() (tracked + monitored)', fn: one(ours) },
          { name: 'raw postgres.js', baseline: true, fn: one(raw) },
          { name: 'raw postgres.js, a second client', baseline: true, fn: one(raw2) },
          { name: 'raw postgres.js, CJS build', baseline: true, fn: one(rawCjs) },
          { name: 'instrument() only', baseline: true, fn: one(instOnly) },
          { name: 'monitorPool() only', baseline: true, fn: one(monOnly) },
        ],
      });
    // No server in the loop: the client-side cost alone, on a socket that answers every query at once.
    const canned = { socket: cannedSocket, fetch_types: false, idle_timeout: 0, onnotice: () => {} };
    const cjs = createRequire(import.meta.url)('postgres') as typeof postgres;
    const cannedRaw = cjs({ ...canned, host: 'canned' } as postgres.Options<Record<string, never>>);
    const cannedManager = createClientManager({
      env: {},
      databaseUrl: 'postgres://canned@canned/canned',
      pool: { idle_timeout: 0 },
      postgres: canned as never,
    });
    try {
      const cannedOurs = cannedManager.sql();
      const cannedInst = instrument(
        cjs({ ...canned, host: 'canned' } as postgres.Options<Record<string, never>>),
      );
      for (const [label, one] of [
        ['select 1 (tagged template)', (s: postgres.Sql) => () => s`select 1`],
        ["sql.unsafe('select 1')", (s: postgres.Sql) => () => s.unsafe('select 1')],
      ] as const)
        await perCallGroup(report, {
          title: `query, no server in the loop (a canned-reply socket): ${label}`,
          rounds: 20,
          perRound: 1000,
          cases: [
            { name: 'manager.sql() (tracked + monitored)', fn: one(cannedOurs) },
            { name: 'raw postgres.js (CJS build, as the manager)', baseline: true, fn: one(cannedRaw) },
            { name: 'instrument() only', baseline: true, fn: one(cannedInst) },
          ],
        });
      await cannedInst.end({ timeout: 1 });
    } finally {
      await cannedManager.closeAll({ timeoutMs: 2000 });
      await cannedRaw.end({ timeout: 1 });
    }
    for (const [label, loop] of [
      ['select 1 (tagged template)', tagged],
      ["sql.unsafe('select 1') (drizzle's path)", unsafe],
    ] as const) {
      const title = `${label}, ${batch} sequential round trips per sample`;
      const { cases, samples } = sampled([
        { name: 'manager.sql() (tracked + monitored)', fn: loop(ours), units: batch },
        { name: 'raw postgres.js', baseline: true, fn: loop(raw), units: batch },
        { name: 'instrument() only', baseline: true, fn: loop(instOnly), units: batch },
        { name: 'monitorPool() only', baseline: true, fn: loop(monOnly), units: batch },
        { name: 'both, callSite: false', baseline: true, fn: loop(noSite), units: batch },
        { name: 'both + an onQuery listener', baseline: true, fn: loop(withListener), units: batch },
      ]);
      await report.group({ title, unit: 'queries', rounds: 40, maxMs: 90_000, cases });
      ratios(report, label, samples, 'manager.sql() (tracked + monitored)', batch);
    }

    const big = 10;
    const select1k = (s: postgres.Sql) => async () => {
      for (let i = 0; i < big; i++) await s`select id, name, n from rows1k`;
    };
    await report.group({
      title: `select 1,000 rows (${big} per sample)`,
      unit: 'queries',
      rounds: 30,
      cases: [
        { name: 'manager.sql() (tracked + monitored)', fn: select1k(ours), units: big },
        { name: 'raw postgres.js', baseline: true, fn: select1k(raw), units: big },
      ],
    });

    // Last: trackQueries enables AsyncLocalStorage for the rest of the process (every case pays for it).
    await report.group({
      title: `select 1 inside trackQueries (${batch} per sample)`,
      unit: 'queries',
      rounds: 30,
      cases: [
        { name: 'manager.sql() in a trackQueries scope', fn: () => trackQueries(tagged(ours)), units: batch },
        { name: 'raw postgres.js', baseline: true, fn: tagged(raw), units: batch },
      ],
    });
    if (sink < 0) console.log(sink);
  } finally {
    await manager.closeAll({ timeoutMs: 5000 });
    await Promise.all(clients.filter((c) => c !== ours).map((c) => c.end({ timeout: 2 })));
    await database.drop();
  }
}
