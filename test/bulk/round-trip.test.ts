import { randomUUID } from 'node:crypto';
import { asc, getTableColumns, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkInsert, bulkUpdate, bulkUpsert } from '../../src/bulk/index.js';
import { useTestDatabase } from '../setup/index.js';
import { type Driver, ddl, nodePostgres, pglite, postgresJs } from './helpers.js';
import { everything, everythingDdl, moodDdl } from './schema.js';

type Row = typeof everything.$inferInsert;

/** Every column type with hostile values: escapes, separators, unicode, NaN/Infinity/-0, extremes. */
function sampleRows(base: number): Row[] {
  const full: Row = {
    id: base + 1,
    small: -32768,
    big: Number.MAX_SAFE_INTEGER,
    big64: -(2n ** 63n),
    txt: 'tab\tnew\nline\r\\back "q" ,{}NULL \\N 😀 é\u200b',
    vc: 'abcdefghi😀',
    f8: Number.NaN,
    flag: true,
    at: new Date('2024-02-29T12:34:56.789Z'),
    day: '2024-02-29',
    num: '12345678901234567890.123456789',
    js: { a: [1, 'x', null], 'k"ey': 'v\\', nul: 'a\u0000b' },
    jb: { nested: { deep: [true, false] }, s: 'ünï 😀 "\\' },
    ints: [1, -3, 0, 2147483647],
    texts: ['a,b', '{x}', 'NULL', '"q"', 'back\\slash', '', ' sp '],
    feeling: 'happy, "quoted"',
    uid: randomUUID(),
    bin: Buffer.from([0, 1, 255, 10, 9, 92, 34]),
  };
  const nulls: Row = { id: base + 2 };
  const edge: Row = {
    id: base + 3,
    small: 32767,
    big: Number.MIN_SAFE_INTEGER,
    big64: 2n ** 63n - 1n,
    txt: '',
    vc: '',
    f8: Number.NEGATIVE_INFINITY,
    flag: false,
    at: new Date('1000-01-01T00:00:00.000Z'),
    day: '9999-12-31',
    num: 'NaN',
    js: [],
    jb: {},
    ints: [],
    texts: [],
    feeling: 'sad',
    uid: randomUUID(),
    bin: Buffer.alloc(0),
  };
  const floats = [Number.POSITIVE_INFINITY, -0, 5e-324, 1.7976931348623157e308, 0.1].map(
    (f8, i): Row => ({ id: base + 4 + i, f8, txt: 'x'.repeat(i * 1000) }),
  );
  return [full, nulls, edge, ...floats];
}

function expected(rows: Row[]) {
  const cols = Object.keys(getTableColumns(everything));
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const c of cols) o[c] = (r as Record<string, unknown>)[c] ?? null;
    return o;
  });
}

const tdb = useTestDatabase('bulk_roundtrip');

const drivers: Array<[string, () => Promise<Driver>]> = [
  ['postgres-js', async () => postgresJs(tdb.url)],
  ['node-postgres', async () => nodePostgres(tdb.url)],
  ['pglite', () => pglite()],
];

describe.each(drivers)('round trip on %s', (name, open) => {
  let d: Driver;
  beforeAll(async () => {
    d = await open();
    if (name !== 'node-postgres') await ddl(d.db, moodDdl, everythingDdl);
  });
  afterAll(() => d.close());

  const read = async (from: number, to: number) =>
    (await d.db.select().from(everything).orderBy(asc(everything.id))).filter(
      (r) => r.id > from && r.id <= to,
    );

  const methods =
    name === 'postgres-js' ? (['copy', 'unnest', 'values'] as const) : (['unnest', 'values'] as const);
  it.each(methods)('stores every column type exactly with %s', async (method) => {
    const base = { copy: 100, unnest: 200, values: 300 }[method] + (name === 'node-postgres' ? 1000 : 0);
    const rows = sampleRows(base);
    const r = await bulkInsert(d.db, everything, rows, { method });
    expect(r.method).toBe(method);
    expect(r.rows).toBe(rows.length);
    expect(await read(base, base + 100)).toEqual(expected(rows));
  });

  it('returns rows in input order with unnest', async () => {
    const base = name === 'node-postgres' ? 1400 : 400;
    const rows = sampleRows(base).reverse();
    const r = await bulkInsert(d.db, everything, rows, { returning: true, method: 'unnest' });
    expect(r.method).toBe('unnest');
    expect(r.returned).toEqual(expected(rows));
  });

  it('updates every column type exactly with bulkUpdate', async () => {
    const base = name === 'node-postgres' ? 1500 : 500;
    const rows = sampleRows(base);
    await bulkInsert(
      d.db,
      everything,
      rows.map((r) => ({ id: r.id })),
    );
    const { id: _id, ...first } = rows[0] as Row;
    const columns = Object.keys(first) as Array<keyof typeof first>;
    const updates = rows.map((r) =>
      Object.fromEntries([['id', r.id], ...columns.map((c) => [c, r[c] ?? null])]),
    );
    const u = await bulkUpdate(d.db, everything, updates, { key: 'id', columns });
    expect(u.rows).toBe(rows.length);
    expect(await read(base, base + 100)).toEqual(expected(rows));
  });
});

describe('COPY upsert on postgres-js', () => {
  let pj: Driver;
  beforeAll(async () => {
    pj = postgresJs(tdb.url);
  });
  afterAll(() => pj.close());
  const read = async (from: number, to: number) =>
    (await pj.db.select().from(everything).orderBy(asc(everything.id))).filter(
      (r) => r.id > from && r.id <= to,
    );

  it('upserts through COPY and a temporary table', async () => {
    const rows = sampleRows(600);
    await bulkInsert(
      pj.db,
      everything,
      rows.map((r) => ({ id: r.id, txt: 'old', flag: true })),
    );
    const r = await bulkUpsert(pj.db, everything, rows, { key: 'id', method: 'copy' });
    expect(r.method).toBe('copy');
    expect(r.rows).toBe(rows.length);
    expect(await read(600, 700)).toEqual(expected(rows));
    const count = await pj.db.execute(
      sql`select count(*)::int as n from pg_class where relname like 'dbkit_bulk_%'`,
    );
    expect(JSON.stringify(count)).toContain('"n":0');
  });
});
