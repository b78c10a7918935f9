/**
 * dbkit/query instrumentation overhead: instrument(sql) vs the raw postgres.js instance on the same server,
 * interleaved in one run. Each sample runs a batch of sequential queries on a one-connection pool.
 */
import postgres from 'postgres';
import { instrument, type QueryEvent, trackQueries } from '../src/query/index.js';
import type { BenchReport } from './harness.js';
import { benchDatabase } from './services.js';

export default async function (report: BenchReport): Promise<void> {
  const database = await benchDatabase('query');
  const opts = { max: 1, onnotice: () => {} };
  const raw = postgres(database.url, opts);
  const rawForOurs = postgres(database.url, opts);
  const rawNoSite = postgres(database.url, opts);
  let sink = 0;
  const onQuery = (e: QueryEvent) => {
    sink += e.durationMs;
  };
  const ours = instrument(rawForOurs, { onQuery });
  const noSite = instrument(rawNoSite, { onQuery, callSite: false });
  try {
    await raw`create table rows1k (id int primary key, name text not null, n int not null)`;
    await raw`insert into rows1k select g, 'name ' || g, g % 97 from generate_series(1, 1000) g`;
    for (const s of [raw, ours, noSite]) await s`select 1`; // connect all three

    const batch = 200;
    const loop = (s: postgres.Sql, n: number) => async () => {
      for (let i = 0; i < n; i++) await s`select 1`;
    };
    await report.group({
      title: `select 1 (${batch} sequential round trips per sample, loopback)`,
      unit: 'queries',
      rounds: 40,
      cases: [
        { name: 'dbkit instrument (call site + onQuery)', fn: loop(ours, batch), units: batch },
        { name: 'raw postgres.js', baseline: true, fn: loop(raw, batch), units: batch },
        { name: 'dbkit instrument, callSite: false', baseline: true, fn: loop(noSite, batch), units: batch },
        {
          name: 'dbkit instrument inside trackQueries',
          baseline: true,
          fn: () => trackQueries(loop(ours, batch)),
          units: batch,
        },
      ],
    });

    const big = 10;
    const select1k = (s: postgres.Sql) => async () => {
      for (let i = 0; i < big; i++) await s`select id, name, n from rows1k`;
    };
    await report.group({
      title: `select 1,000 rows (${big} per sample)`,
      unit: 'queries',
      rounds: 30,
      cases: [
        { name: 'dbkit instrument (call site + onQuery)', fn: select1k(ours), units: big },
        { name: 'raw postgres.js', baseline: true, fn: select1k(raw), units: big },
      ],
    });

    // Unsafe (drizzle's path) captures a stack per query: measure it separately.
    await report.group({
      title: `sql.unsafe('select 1') (${batch} per sample; drizzle's code path)`,
      unit: 'queries',
      rounds: 30,
      cases: [
        {
          name: 'dbkit instrument unsafe',
          fn: async () => {
            for (let i = 0; i < batch; i++) await ours.unsafe('select 1');
          },
          units: batch,
        },
        {
          name: 'raw postgres.js unsafe',
          baseline: true,
          fn: async () => {
            for (let i = 0; i < batch; i++) await raw.unsafe('select 1');
          },
          units: batch,
        },
      ],
    });
    if (sink < 0) console.log(sink);
  } finally {
    await Promise.all([raw.end(), rawForOurs.end(), rawNoSite.end()]);
    await database.drop();
  }
}
