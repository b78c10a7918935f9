/**
 * dbkit/bulk: bulkInsert / bulkUpdate against the usual ways of loading rows, on one scratch database.
 * 100k rows x 6 columns (int, int, text, float8, bool, timestamptz) and a wider table with jsonb and arrays.
 * Baselines: per-row INSERT/UPDATE loops (5k rows, compared in rows/s), drizzle insert().values() in 1,000-row
 * chunks, postgres.js multi-row insert, a hand-written UPDATE FROM unnest, and `psql \copy` from a file.
 * Memory: peak RSS of a child process streaming 1M rows from an async iterable vs one holding them in an array.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boolean, doublePrecision, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { bulkInsert, bulkUpdate } from '../src/bulk/index.js';
import type { BenchReport } from './harness.js';
import { benchDatabase } from './services.js';

const narrow = pgTable('bench_narrow', {
  a: integer('a').primaryKey(),
  b: integer('b').notNull(),
  c: text('c').notNull(),
  d: doublePrecision('d').notNull(),
  e: boolean('e').notNull(),
  f: timestamp('f', { withTimezone: true }).notNull(),
});
const wide = pgTable('bench_wide', {
  id: integer('id').primaryKey(),
  tags: text('tags').array().notNull(),
  attrs: jsonb('attrs').notNull(),
  scores: doublePrecision('scores').array().notNull(),
  note: text('note'),
  at: timestamp('at', { withTimezone: true }).notNull(),
});
const DDL = `
  create table bench_narrow (a int primary key, b int not null, c text not null, d float8 not null, e bool not null, f timestamptz not null);
  create table bench_wide (id int primary key, tags text[] not null, attrs jsonb not null, scores float8[] not null, note text, at timestamptz not null);`;

const N = 100_000;
const LOOP = 5_000;
const t0 = Date.UTC(2024, 0, 1);
const narrowRow = (i: number) => ({
  a: i,
  b: i % 1000,
  c: `name ${i} "q" \\ tab\t`,
  d: i / 7,
  e: i % 2 === 0,
  f: new Date(t0 + i * 1000),
});
const wideRow = (i: number) => ({
  id: i,
  tags: [`t${i % 10}`, 'a,b', 'x"y'],
  attrs: { i, name: `n${i}`, nested: { ok: i % 3 === 0, list: [1, 2, 3] } },
  scores: [i / 3, -i, 0.5],
  note: i % 4 === 0 ? null : `note ${i}`,
  at: new Date(t0 + i * 1000),
});

async function rssChild(mode: string, url: string, rows: number): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const db = drizzle(sql);
  if (mode === 'stream') {
    async function* gen() {
      for (let i = 0; i < rows; i++) yield narrowRow(i);
    }
    await bulkInsert(db, narrow, gen(), { batchSize: 10_000 });
  } else {
    const all = Array.from({ length: rows }, (_, i) => narrowRow(i));
    await bulkInsert(db, narrow, all, { batchSize: 10_000 });
  }
  await sql.end();
  process.stdout.write(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}

if (process.env.DBKIT_BULK_RSS_CHILD) {
  const [mode, url, rows] = process.env.DBKIT_BULK_RSS_CHILD.split('|') as [string, string, string];
  await rssChild(mode, url, Number(rows));
  process.exit(0);
}

export default async function (report: BenchReport): Promise<void> {
  const bdb = await benchDatabase('bulk');
  // drizzle() makes the timestamp serializers of the client it wraps transparent: raw postgres.js baselines
  // get their own client.
  const sql = postgres(bdb.url, { max: 4, onnotice: () => {} });
  const db = drizzle(postgres(bdb.url, { max: 4, onnotice: () => {} }));
  const dir = mkdtempSync(join(tmpdir(), 'dbkit-bulk-'));
  try {
    await sql.unsafe(DDL);
    const narrowRows = Array.from({ length: N }, (_, i) => narrowRow(i));
    const wideRows = Array.from({ length: N / 2 }, (_, i) => wideRow(i));
    // Files for psql \copy: the same rows, exported in COPY text format.
    await bulkInsert(db, narrow, narrowRows);
    await bulkInsert(db, wide, wideRows);
    const narrowFile = join(dir, 'narrow.tsv');
    const wideFile = join(dir, 'wide.tsv');
    execFileSync('psql', [bdb.url, '-qc', `\\copy bench_narrow to '${narrowFile}'`]);
    execFileSync('psql', [bdb.url, '-qc', `\\copy bench_wide to '${wideFile}'`]);
    const psqlCopy = (table: string, file: string) => () =>
      execFileSync('psql', [bdb.url, '-qc', `\\copy ${table} from '${file}'`]);
    const truncate = (t: string) => () => sql.unsafe(`truncate ${t}`);
    const chunked = async <T>(rows: T[], size: number, f: (c: T[]) => Promise<unknown>) => {
      for (let i = 0; i < rows.length; i += size) await f(rows.slice(i, i + size));
    };

    const ins = await report.group({
      title: `insert ${N.toLocaleString()} rows x 6 columns (int, int, text, float8, bool, timestamptz)`,
      unit: 'rows',
      rounds: 5,
      warmup: 1,
      cases: [
        {
          name: 'dbkit bulkInsert (auto: COPY)',
          units: N,
          before: truncate('bench_narrow'),
          fn: () => bulkInsert(db, narrow, narrowRows),
        },
        {
          name: 'psql \\copy from file',
          baseline: true,
          units: N,
          before: truncate('bench_narrow'),
          fn: psqlCopy('bench_narrow', narrowFile),
        },
        {
          name: 'drizzle insert().values() x1000',
          baseline: true,
          units: N,
          before: truncate('bench_narrow'),
          fn: () => chunked(narrowRows, 1_000, (c) => db.insert(narrow).values(c)),
        },
        {
          name: 'postgres.js multi-row insert x10000',
          baseline: true,
          units: N,
          before: truncate('bench_narrow'),
          fn: () => chunked(narrowRows, 10_000, (c) => sql`insert into bench_narrow ${sql(c as never)}`),
        },
        {
          name: 'dbkit bulkInsert (unnest)',
          baseline: true,
          units: N,
          before: truncate('bench_narrow'),
          fn: () => bulkInsert(db, narrow, narrowRows, { method: 'unnest' }),
        },
      ],
    });

    // Per-row loop: 5k rows, compared in rows/s.
    await sql`truncate bench_narrow`;
    const loopStart = performance.now();
    for (const r of narrowRows.slice(0, LOOP)) await sql`insert into bench_narrow ${sql(r)}`;
    const loopRowsPerSec = (LOOP * 1000) / (performance.now() - loopStart);
    const oursInsert = ins.cases.find((c) => !c.baseline)?.unitsPerSec ?? 0;
    report.metric({
      name: 'insert rows/s vs per-row INSERT loop',
      ours: oursInsert,
      baseline: loopRowsPerSec,
      baselineName: `per-row INSERT (${LOOP} rows)`,
      unit: 'rows/s',
      note: 'target >= 60x',
    });
    const psql = ins.cases.find((c) => c.name.startsWith('psql'))?.unitsPerSec ?? 1;
    report.metric({
      name: 'insert rows/s vs psql \\copy',
      ours: oursInsert,
      baseline: psql,
      baselineName: 'psql \\copy',
      unit: 'rows/s',
      note: 'target >= 0.8x',
    });

    const W = N / 2;
    await report.group({
      title: `insert ${W.toLocaleString()} rows x 6 columns (int, text[], jsonb, float8[], text, timestamptz)`,
      unit: 'rows',
      rounds: 5,
      warmup: 1,
      cases: [
        {
          name: 'dbkit bulkInsert (auto: COPY)',
          units: W,
          before: truncate('bench_wide'),
          fn: () => bulkInsert(db, wide, wideRows),
        },
        {
          name: 'psql \\copy from file',
          baseline: true,
          units: W,
          before: truncate('bench_wide'),
          fn: psqlCopy('bench_wide', wideFile),
        },
        {
          name: 'drizzle insert().values() x1000',
          baseline: true,
          units: W,
          before: truncate('bench_wide'),
          fn: () => chunked(wideRows, 1_000, (c) => db.insert(wide).values(c)),
        },
        {
          name: 'postgres.js multi-row insert x10000',
          baseline: true,
          units: W,
          before: truncate('bench_wide'),
          fn: () =>
            chunked(
              wideRows,
              10_000,
              (c) =>
                sql`insert into bench_wide ${sql(c.map((r) => ({ ...r, attrs: sql.json(r.attrs) })) as never)}`,
            ),
        },
      ],
    });

    await sql`truncate bench_narrow`;
    await bulkInsert(db, narrow, narrowRows);
    let round = 0;
    const updates = () => {
      round++;
      return narrowRows.map((r) => ({ a: r.a, c: `upd ${round} ${r.a}`, d: r.d + round }));
    };
    const upd = await report.group({
      title: `update ${N.toLocaleString()} rows (2 columns) by primary key`,
      unit: 'rows',
      rounds: 5,
      warmup: 1,
      cases: [
        {
          name: 'dbkit bulkUpdate (one 100k batch, like the baseline)',
          units: N,
          fn: () => bulkUpdate(db, narrow, updates(), { key: 'a', batchSize: N }),
        },
        {
          name: 'dbkit bulkUpdate (10k batches)',
          baseline: true,
          units: N,
          fn: () => bulkUpdate(db, narrow, updates(), { key: 'a', batchSize: 10_000 }),
        },
        {
          name: 'hand-written UPDATE FROM unnest (postgres.js)',
          baseline: true,
          units: N,
          fn: () => {
            const u = updates();
            return sql`update bench_narrow t set c = v.c, d = v.d
              from unnest(${sql.array(u.map((x) => x.a))}::int[], ${sql.array(u.map((x) => x.c))}::text[], ${sql.array(u.map((x) => x.d))}::float8[]) as v(a, c, d)
              where t.a = v.a`;
          },
        },
      ],
    });
    const updStart = performance.now();
    for (const r of narrowRows.slice(0, LOOP))
      await sql`update bench_narrow set c = ${'loop'}, d = ${r.d} where a = ${r.a}`;
    const updLoop = (LOOP * 1000) / (performance.now() - updStart);
    report.metric({
      name: 'update rows/s vs per-row UPDATE loop',
      ours: upd.cases[0]?.unitsPerSec ?? 0,
      baseline: updLoop,
      baselineName: `per-row UPDATE (${LOOP} rows)`,
      unit: 'rows/s',
      note: 'target >= 40x',
    });

    // Peak RSS: 1M rows streamed from an async iterable vs the same rows held in an array (child processes).
    const M = 1_000_000;
    const child = (mode: string) => {
      const out = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, DBKIT_BULK_RSS_CHILD: `${mode}|${bdb.url}|${M}` },
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (out.status !== 0) throw new Error(`rss child failed: ${out.stderr}`);
      return (JSON.parse(out.stdout.trim().split('\n').pop() as string) as { maxRssMb: number }).maxRssMb;
    };
    await sql`truncate bench_narrow`;
    const streamMb = child('stream');
    await sql`truncate bench_narrow`;
    const arrayMb = child('array');
    report.metric({
      name: `peak RSS, ${M.toLocaleString()} rows via bulkInsert`,
      ours: streamMb,
      baseline: arrayMb,
      baselineName: 'same rows as an in-memory array',
      unit: 'MB',
      note: 'async iterable, batchSize 10k',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await sql.end({ timeout: 5 });
    await (db.$client as postgres.Sql).end({ timeout: 5 });
    await bdb.drop();
  }
}
