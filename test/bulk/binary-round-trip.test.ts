/**
 * Binary COPY round trip: generated rows of every covered type go through bulkInsert (auto: binary COPY) and
 * through a plain drizzle insert; every row must read back byte for byte the same (md5 of the row's text cast).
 * Plus the text fallback per table, the one-COPY-per-call rule, and identical validation in both formats.
 */
import {
  bigint,
  boolean,
  char,
  date,
  doublePrecision,
  integer,
  interval,
  json,
  jsonb,
  numeric,
  type PgTable,
  pgTable,
  real,
  smallint,
  text,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkInsert, bulkUpsert } from '../../src/bulk/index.js';
import { ConfigError } from '../../src/errors.js';
import { useTestDatabase } from '../setup/index.js';
import { type Driver, postgresJs } from './helpers.js';
import { bytea, mood } from './schema.js';

const columns = () => ({
  id: integer('id').primaryKey(),
  i2: smallint('i2'),
  i4: integer('i4'),
  i8: bigint('i8', { mode: 'number' }),
  i8b: bigint('i8b', { mode: 'bigint' }),
  f4: real('f4'),
  f8: doublePrecision('f8'),
  b: boolean('b'),
  t: text('t'),
  vc: varchar('vc', { length: 12 }),
  ch: char('ch', { length: 4 }),
  ts: timestamp('ts'),
  tstz: timestamp('tstz', { withTimezone: true }),
  d: date('d', { mode: 'date' }),
  u: uuid('u'),
  by: bytea('by'),
  n: numeric('n'),
  n3: numeric('n3', { precision: 30, scale: 3 }),
  j: json('j'),
  jb: jsonb('jb'),
  e: mood('e'),
  i4a: integer('i4a').array(),
  i8a: bigint('i8a', { mode: 'bigint' }).array(),
  f4a: real('f4a').array(),
  f8a: doublePrecision('f8a').array(),
  ba: boolean('ba').array(),
  ta: text('ta').array(),
  vca: varchar('vca', { length: 5 }).array(),
  tsa: timestamp('tsa', { withTimezone: true }).array(),
  da: date('da', { mode: 'date' }).array(),
  ua: uuid('ua').array(),
  na: numeric('na').array(),
  ja: jsonb('ja').array(),
  ea: mood('ea').array(),
});
const DDL_COLUMNS = `id int primary key, i2 smallint, i4 int, i8 bigint, i8b bigint, f4 real, f8 float8, b bool,
  t text, vc varchar(12), ch char(4), ts timestamp, tstz timestamptz, d date, u uuid, by bytea, n numeric,
  n3 numeric(30,3), j json, jb jsonb, e mood, i4a int[], i8a bigint[], f4a real[], f8a float8[], ba bool[],
  ta text[], vca varchar(5)[], tsa timestamptz[], da date[], ua uuid[], na numeric[], ja jsonb[], ea mood[]`;
const viaCopy = pgTable('bin_copy', columns());
const viaText = pgTable('bin_text', columns());
const viaDrizzle = pgTable('bin_ref', columns());
type Row = typeof viaCopy.$inferInsert;

const tdb = useTestDatabase('bulk_binary');
let d: Driver & { sql: postgres.Sql };
let dz: Driver & { sql: postgres.Sql };
beforeAll(async () => {
  d = postgresJs(tdb.url);
  // Session time zone with DST, so the text casts of timestamptz values cross DST changes.
  await d.sql.unsafe(`
    create type mood as enum ('sad', 'ok', 'happy, "quoted"');
    create table bin_copy (${DDL_COLUMNS});
    create table bin_text (${DDL_COLUMNS});
    create table bin_ref (${DDL_COLUMNS});
    alter database "${tdb.name}" set timezone to 'America/New_York';`);
  await d.close();
  d = postgresJs(tdb.url);
  dz = postgresJs(tdb.url);
});
afterAll(async () => {
  await d.close();
  await dz.close();
});

// --- generators -----------------------------------------------------------------------------------------
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 6 });
const arr = <T>(a: fc.Arbitrary<T>) => opt(fc.array(fc.option(a, { nil: null, freq: 5 }), { maxLength: 4 }));
const noNul = (s: string) => !s.includes('\u0000');
const textArb = fc
  .oneof(
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 5 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
    fc.constantFrom('\\', '\\N', '\t\n\r', '"{,}"', 'NULL', '', ' ', 'é\u0301', '😀👍🏽', 'עברית', '\u200b'),
  )
  .filter(noNul);
const dateArb = fc
  .oneof(
    fc
      .date({ min: new Date(-62135596800000), max: new Date(253402300799999), noInvalidDate: true })
      .map((x) => x.getTime()),
    // DST changes in New York (2024-03-10 07:00Z: 02:00-03:00 local does not exist; 2024-11-03 06:00Z repeats).
    fc.constantFrom(
      Date.UTC(2024, 2, 10, 7, 0, 0) - 1,
      Date.UTC(2024, 2, 10, 7, 0, 0),
      Date.UTC(2024, 2, 10, 7, 30, 0),
      Date.UTC(2024, 10, 3, 5, 30, 0),
      Date.UTC(2024, 10, 3, 6, 30, 0),
      -62135596800000, // 0001-01-01T00:00:00Z
      253402300799999, // 9999-12-31T23:59:59.999Z
      946684800000, // the Postgres epoch
      946684800000 - 1,
      0,
      -1,
    ),
  )
  .map((ms) => new Date(ms));
const numericArb = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('', '-', '+'),
      fc.stringMatching(/^[0-9]{0,30}$/),
      fc.option(fc.stringMatching(/^[0-9]{0,30}$/), { nil: undefined }),
      fc.option(fc.integer({ min: -40, max: 40 }), { nil: undefined }),
    )
    .filter(([, i, f]) => i.length + (f?.length ?? 0) > 0)
    .map(([s, i, f, e]) => `${s}${i}${f !== undefined ? `.${f}` : ''}${e !== undefined ? `e${e}` : ''}`),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '-0',
    '0.000',
    '-0.00',
    '.5',
    '5.',
    ' 12.50 ',
    '1E5',
    '1e-16383',
    '-1e-16383',
    `${'9'.repeat(1000)}.${'9'.repeat(1000)}`,
    '0.00000000000000000000000000000000000001',
    '123456789012345678901234567890.123456789012345678901234567890',
  ),
  fc.double().map((x) => x),
  // postgres.js sends a bigint parameter as int8, so the drizzle reference only takes int8-range bigints.
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);
const float4Arb = fc.oneof(
  fc.float(),
  // Doubles that real can hold (tiny ones underflow to 0, which both formats refuse before writing).
  fc.double({ min: -3.4e38, max: 3.4e38 }).filter((x) => x === 0 || Number.isNaN(x) || Math.fround(x) !== 0),
  fc.constantFrom(
    1 + 2 ** -24, // exactly between two floats: strtof of its shortest decimal rounds up, fround to even
    1 + 3 * 2 ** -24,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e-40,
    1.401298464324817e-45,
    3.4028234663852886e38,
  ),
);
const float8Arb = fc.oneof(
  fc.double(),
  fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE, 5e-324, 0.1),
);
const jsonArb = fc
  .jsonValue()
  .filter((v) => !JSON.stringify(v).includes('\\u0000') && !/\\ud[89a-f]/i.test(JSON.stringify(v)));
const uuidArb = fc
  .tuple(fc.uuid(), fc.constantFrom('lower', 'upper', 'nodash'))
  .map(([u, f]) => (f === 'upper' ? u.toUpperCase() : f === 'nodash' ? u.replace(/-/g, '') : u));
const moodArb = fc.constantFrom('sad', 'ok', 'happy, "quoted"') as fc.Arbitrary<
  'sad' | 'ok' | 'happy, "quoted"'
>;

const rowArb = (id: number): fc.Arbitrary<Row> =>
  fc.record({
    id: fc.constant(id),
    i2: opt(fc.integer({ min: -32768, max: 32767 })),
    i4: opt(fc.integer()),
    i8: opt(fc.maxSafeInteger()),
    i8b: opt(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    f4: opt(float4Arb),
    f8: opt(float8Arb),
    b: opt(fc.boolean()),
    t: opt(textArb),
    vc: opt(fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => [...s].length <= 12 && noNul(s))),
    ch: opt(fc.string({ unit: 'grapheme-ascii', maxLength: 4 }).filter(noNul)),
    ts: opt(dateArb),
    tstz: opt(dateArb),
    d: opt(dateArb),
    u: opt(uuidArb),
    by: opt(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
    n: opt(numericArb),
    n3: opt(fc.double({ min: -1e20, max: 1e20, noNaN: true })),
    j: opt(jsonArb),
    jb: opt(jsonArb),
    e: opt(moodArb),
    i4a: arr(fc.integer()),
    i8a: arr(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    f4a: arr(float4Arb),
    f8a: arr(float8Arb),
    ba: arr(fc.boolean()),
    ta: arr(textArb),
    vca: arr(fc.string({ unit: 'grapheme-ascii', maxLength: 5 }).filter(noNul)),
    tsa: arr(dateArb),
    da: arr(dateArb),
    ua: arr(uuidArb),
    na: arr(numericArb),
    ja: arr(jsonArb),
    ea: arr(moodArb),
  }) as fc.Arbitrary<Row>;

const SEED = Number(process.env.DBKIT_FC_SEED ?? Date.now() % 2 ** 31);
const N = 1_200; // above copyThreshold: the default path (auto -> COPY -> binary)

/** Rows a plain drizzle insert cannot carry exactly: postgres.js sends numbers as String(n), so -0 becomes 0. */
const hasNegZero = (r: Row): boolean =>
  Object.values(r).some((v) =>
    Array.isArray(v) ? v.some((x) => Object.is(x, -0)) : Object.is(v, -0) || v === '-0',
  );

const hashes = async (s: postgres.Sql, table: string) =>
  new Map(
    (await s.unsafe(`select id, md5(x::text) as h, x::text as txt from ${table} x`)).map((r) => [
      r.id as number,
      { h: r.h as string, txt: r.txt as string },
    ]),
  );

function expectSame(
  a: Map<number, { h: string; txt: string }>,
  b: Map<number, { h: string; txt: string }>,
  ids: number[],
) {
  const diff = ids.filter((id) => a.get(id)?.h !== b.get(id)?.h).slice(0, 3);
  expect(
    diff.map((id) => ({ id, ours: a.get(id)?.txt, reference: b.get(id)?.txt })),
    `seed ${SEED}`,
  ).toEqual([]);
}

describe('binary COPY round trip', () => {
  it(`stores ${N} generated rows of every covered type exactly as a plain drizzle insert (seed in name)`, async () => {
    const rows = fc.sample(rowArb(0), { numRuns: N, seed: SEED });
    rows.forEach((r, i) => {
      r.id = i + 1;
    });
    // Fixed edge rows at the end: all NULL, empty arrays, and the values the generators may miss.
    rows.push(
      { id: N + 1 },
      {
        id: N + 2,
        i4a: [],
        ta: [],
        na: [],
        ea: [],
        ja: [],
        f4: 1 + 2 ** -24,
        f8: -0,
        n: '-0',
        t: '',
        ts: new Date(-62135596800000),
        tstz: new Date(253402300799999),
        d: new Date(-62135596800000),
      },
      {
        id: N + 3,
        ta: [null, null],
        i4a: [null],
        ea: [null, 'ok'],
        na: ['NaN', 'Infinity', null],
      } as unknown as Row,
    );

    const r = await bulkInsert(d.db, viaCopy, rows);
    expect(r).toMatchObject({ method: 'copy', copyFormat: 'binary', batches: 1, rows: rows.length });
    const t = await bulkInsert(d.db, viaText, rows, { copyFormat: 'text' });
    expect(t).toMatchObject({ method: 'copy', copyFormat: 'text' });
    const plain = rows.filter((x) => !hasNegZero(x));
    for (let i = 0; i < plain.length; i += 200)
      await dz.db.insert(viaDrizzle).values(plain.slice(i, i + 200));

    const ours = await hashes(d.sql, 'bin_copy');
    expect(ours.size).toBe(rows.length);
    // Byte for byte with a plain drizzle insert (rows with -0 excluded: drizzle cannot send it) ...
    expectSame(
      ours,
      await hashes(d.sql, 'bin_ref'),
      plain.map((x) => x.id),
    );
    // ... and with text COPY for every row, -0 included.
    expectSame(
      ours,
      await hashes(d.sql, 'bin_text'),
      rows.map((x) => x.id),
    );
    const [edge] =
      await d.sql`select f4::text, f8::text, n::text, ts::text, d::text from bin_copy where id = ${N + 2}`;
    expect(edge).toEqual({
      f4: '1.0000001',
      f8: '-0',
      n: '0',
      ts: '0001-01-01 00:00:00',
      d: '0001-01-01',
    });
  });

  it('carries a 10 MB text value and a large array across chunk boundaries', async () => {
    const big = '😀é a\tb\\'.repeat(1_100_000); // ~10.5 MB of UTF-8
    const rows: Row[] = Array.from({ length: 1_000 }, (_, i) => ({
      id: 10_000 + i,
      t: i === 500 ? big : `row ${i}`,
      ta: i === 700 ? Array.from({ length: 20_000 }, (_, k) => `element ${k} ü`) : ['x'],
    }));
    const r = await bulkInsert(d.db, viaCopy, rows);
    expect(r.copyFormat).toBe('binary');
    await dz.db.insert(viaDrizzle).values(rows);
    const sum = async (table: string) =>
      d.sql.unsafe(
        `select md5(string_agg(md5(x::text), ',' order by id)) as h, sum(octet_length(x.t)) as bytes from ${table} x where id >= 10000`,
      );
    const [ours] = await sum('bin_copy');
    const [ref] = await sum('bin_ref');
    expect(ours).toEqual(ref);
    expect(Number(ours?.bytes)).toBeGreaterThan(10_000_000);
  });
});

// --- text fallback per table ------------------------------------------------------------------------------
const withInterval = pgTable('fb_interval', {
  id: integer('id').primaryKey(),
  iv: interval('iv'),
  t: text('t'),
});
const stringTs = pgTable('fb_string_ts', {
  id: integer('id').primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'string' }),
  day: date('day'),
});
const twoD = pgTable('fb_2d', { id: integer('id').primaryKey(), m: integer('m').array().array() });
// The schema says integer where the server has bigint: binary int4 would be refused; text COPY casts.
const mismatch = pgTable('fb_mismatch', { id: integer('id').primaryKey(), v: integer('v') });
const allBinary = pgTable('fb_binary', { id: integer('id').primaryKey(), v: text('v') });

describe('text COPY fallback, per table', () => {
  beforeAll(async () => {
    await d.sql.unsafe(`
      create table fb_interval (id int primary key, iv interval, t text);
      create table fb_string_ts (id int primary key, at timestamptz, day date);
      create table fb_2d (id int primary key, m int[][]);
      create table fb_mismatch (id int primary key, v bigint);
      create table fb_binary (id int primary key, v text unique);`);
  });
  const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  const cases: Array<[string, PgTable, string, Array<Record<string, unknown>>, string]> = [
    [
      'an interval column',
      withInterval,
      'fb_interval',
      ids(1_500).map((id) => ({ id, iv: `${id} days 01:02:03`, t: `t${id}` })),
      "select md5(string_agg(x::text, ',' order by id)) as h from fb_interval x",
    ],
    [
      'string-mode timestamptz and date (infinity included)',
      stringTs,
      'fb_string_ts',
      ids(1_500).map((id) => ({
        id,
        at: id % 3 === 0 ? 'infinity' : id % 3 === 1 ? '-infinity' : '2024-03-10 02:30:00',
        day: id % 2 ? 'infinity' : '0001-01-01 BC',
      })),
      "select md5(string_agg(x::text, ',' order by id)) as h from fb_string_ts x",
    ],
    [
      'a two-dimensional array',
      twoD,
      'fb_2d',
      ids(1_500).map((id) => ({
        id,
        m: [
          [id, null],
          [3, 4],
        ],
      })),
      "select md5(string_agg(x::text, ',' order by id)) as h from fb_2d x",
    ],
    [
      'a column whose server type differs from the schema',
      mismatch,
      'fb_mismatch',
      ids(1_500).map((id) => ({ id, v: -id })),
      "select md5(string_agg(x::text, ',' order by id)) as h from fb_mismatch x",
    ],
  ];
  it.each(cases)(
    'falls back to text COPY for %s, and stores what drizzle stores',
    async (_, table, name, rows, hashSql) => {
      const r = await bulkInsert(d.db, table, rows as never);
      expect(r).toMatchObject({ method: 'copy', copyFormat: 'text', rows: rows.length });
      const [ours] = await d.sql.unsafe(hashSql);
      await d.sql.unsafe(`truncate ${name}`);
      for (let i = 0; i < rows.length; i += 500)
        await dz.db.insert(table).values(rows.slice(i, i + 500) as never);
      const [ref] = await d.sql.unsafe(hashSql);
      expect(ours?.h).toBe(ref?.h);
      await d.sql.unsafe(`truncate ${name}`);
      // Forcing binary names the column instead of sending data the server would refuse.
      const forced = await bulkInsert(d.db, table, rows as never, { copyFormat: 'binary' }).catch((e) => e);
      expect(forced).toBeInstanceOf(ConfigError);
      expect(String(forced.message)).toMatch(/copyFormat 'binary': column "\w+"/);
      const [{ n }] = (await d.sql.unsafe(`select count(*)::int as n from ${name}`)) as unknown as [
        { n: number },
      ];
      expect(n).toBe(0);
    },
  );

  it('uses binary for a covered table, reports it in progress, and text when asked', async () => {
    const rows = ids(1_200).map((id) => ({ id, v: `v${id}` }));
    const seen: unknown[] = [];
    const r = await bulkInsert(d.db, allBinary, rows, { onProgress: (p) => void seen.push(p) });
    expect(r.copyFormat).toBe('binary');
    expect(seen).toEqual([{ done: 1_200, total: 1_200, batch: 0, method: 'copy', copyFormat: 'binary' }]);
    await d.sql`truncate fb_binary`;
    const t = await bulkInsert(d.db, allBinary, rows, {
      copyFormat: 'text',
      batchSize: 600,
      copyThreshold: 500,
    });
    expect(t).toMatchObject({ copyFormat: 'text', batches: 2 });
    const u = await bulkInsert(d.db, allBinary, rows.slice(0, 10), {
      method: 'unnest',
      onConflict: 'doNothing',
    });
    expect(u.copyFormat).toBeUndefined();
  });

  it('upserts through binary COPY into the temporary table', async () => {
    await d.sql`truncate fb_binary`;
    await bulkInsert(
      d.db,
      allBinary,
      ids(1_000).map((id) => ({ id, v: `old${id}` })),
    );
    const r = await bulkUpsert(
      d.db,
      allBinary,
      ids(2_000).map((id) => ({ id, v: `new${id}` })),
      { key: 'id' },
    );
    expect(r).toMatchObject({ method: 'copy', copyFormat: 'binary', rows: 2_000 });
    const [x] =
      await d.sql`select count(*)::int as n, count(*) filter (where v like 'new%')::int as fresh from fb_binary`;
    expect(x).toEqual({ n: 2_000, fresh: 2_000 });
  });

  it('sends one COPY for an atomic array call larger than batchSize, and keeps an explicit batchSize', async () => {
    await d.sql`truncate fb_binary`;
    const rows = ids(60_000).map((id) => ({ id, v: `v${id}` }));
    const r = await bulkInsert(d.db, allBinary, rows);
    expect(r).toMatchObject({ rows: 60_000, batches: 1, methods: { copy: 1 } });
    await d.sql`truncate fb_binary`;
    const e = await bulkInsert(d.db, allBinary, rows, { batchSize: 50_000 });
    expect(e).toMatchObject({ rows: 60_000, batches: 2 });
    await d.sql`truncate fb_binary`;
    const na = await bulkInsert(d.db, allBinary, rows, { atomic: false });
    expect(na).toMatchObject({ rows: 60_000, batches: 2, copyFormat: 'binary' });
  });
});
