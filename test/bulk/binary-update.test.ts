/**
 * bulkUpdate through COPY into a temporary table then UPDATE ... FROM: the same table contents, counts and
 * unmatched keys as the unnest path, for generated rows, composite keys, both COPY formats, atomic: false and
 * inside a transaction; no temporary table left behind.
 */

import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BulkProgress, bulkInsert, bulkUpdate, withTransaction } from '../../src/bulk/index.js';
import { useTestDatabase } from '../setup/index.js';
import { type Driver, postgresJs } from './helpers.js';
import { mood } from './schema.js';

const cols = () => ({
  id: bigint('id', { mode: 'number' }).primaryKey(),
  u: uuid('u'),
  name: text('name'),
  amount: numeric('amount'),
  tags: text('tags').array(),
  attrs: jsonb('attrs'),
  at: timestamp('at', { withTimezone: true }),
  score: doublePrecision('score'),
  e: mood('e'),
  es: mood('es').array(),
});
const viaCopy = pgTable('upd_copy', cols());
const viaUnnest = pgTable('upd_unnest', cols());
const DDL = `id bigint primary key, u uuid, name text, amount numeric, tags text[], attrs jsonb, at timestamptz,
  score float8, e mood, es mood[]`;
const pairs = (name: string) =>
  pgTable(
    name,
    { org: integer('org').notNull(), usr: integer('usr').notNull(), role: text('role'), n: integer('n') },
    (t) => [primaryKey({ columns: [t.org, t.usr] })],
  );
const pairsCopy = pairs('pairs_copy');
const pairsUnnest = pairs('pairs_unnest');

const tdb = useTestDatabase('bulk_binupd');
let d: Driver & { sql: postgres.Sql };
beforeAll(async () => {
  d = postgresJs(tdb.url);
  await d.sql.unsafe(`
    create type mood as enum ('sad', 'ok', 'happy, "quoted"');
    create table upd_copy (${DDL}); create table upd_unnest (${DDL});
    create table pairs_copy (org int not null, usr int not null, role text, n int, primary key (org, usr));
    create table pairs_unnest (org int not null, usr int not null, role text, n int, primary key (org, usr));`);
});
afterAll(() => d.close());

const N = 12_000; // above the 10,000-row COPY threshold: the default path
const SEED = Number(process.env.DBKIT_FC_SEED ?? Date.now() % 2 ** 31);
const valueArb = fc.record({
  u: fc.option(fc.uuid(), { nil: null }),
  name: fc.option(fc.string({ unit: 'grapheme', maxLength: 20 }), { nil: null }),
  amount: fc.option(
    fc.oneof(fc.double({ noDefaultInfinity: true }).map(String), fc.constantFrom('NaN', '-0.00', '1e-20')),
    { nil: null },
  ),
  tags: fc.option(fc.array(fc.option(fc.string({ maxLength: 6 }), { nil: null }), { maxLength: 3 }), {
    nil: null,
  }),
  attrs: fc.option(
    fc.jsonValue().filter((v) => !/\\u0000|\\ud[89a-f]/i.test(JSON.stringify(v))),
    { nil: null },
  ),
  at: fc.option(
    fc.date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    }),
    { nil: null },
  ),
  score: fc.option(fc.double(), { nil: null }),
  e: fc.option(fc.constantFrom('sad', 'ok', 'happy, "quoted"'), { nil: null }),
  es: fc.option(fc.array(fc.constantFrom('sad', 'ok', 'happy, "quoted"'), { maxLength: 3 }), { nil: null }),
});
const md5 = async (table: string) =>
  (await d.sql.unsafe(`select md5(string_agg(x::text, ',' order by id)) as h from ${table} x`))[0]?.h;
const tempTables = async () =>
  (await d.sql`select count(*)::int as n from pg_class where relname like 'dbkit_upd_%'`)[0]?.n;

describe('bulkUpdate through COPY', () => {
  it(`updates ${N} generated rows exactly as unnest does, with the same counts and unmatched keys`, async () => {
    const base = Array.from({ length: N }, (_, i) => ({ id: i + 1, name: `n${i}` }));
    await bulkInsert(d.db, viaCopy, base);
    await bulkInsert(d.db, viaUnnest, base);
    const values = fc.sample(valueArb, { numRuns: N, seed: SEED });
    // Every 7th key does not exist; the order is shuffled so unmatched keys come out in input order.
    const updates = values.map((v, i) => ({ id: i % 7 === 3 ? N + 100 + i : ((i * 7919) % N) + 1, ...v }));
    const seen: BulkProgress[] = [];
    const a = await bulkUpdate(d.db, viaCopy, updates as never, {
      key: 'id',
      returnUnmatched: true,
      onProgress: (p) => void seen.push(p),
    });
    const b = await bulkUpdate(d.db, viaUnnest, updates as never, {
      key: 'id',
      returnUnmatched: true,
      method: 'unnest',
    });
    expect(seen.map((p) => p.method)).toEqual(['copy']);
    expect(a.rows).toBe(b.rows);
    expect(a.unmatched).toEqual(b.unmatched);
    expect(a.unmatched.length).toBeGreaterThan(0);
    expect(await md5('upd_copy'), `seed ${SEED}`).toBe(await md5('upd_unnest'));
    expect(await tempTables()).toBe(0);
  });

  it('matches unnest with text COPY, atomic: false batches and inside withTransaction', async () => {
    const updates = Array.from({ length: N }, (_, i) => ({
      id: i + 1,
      name: `t\t${i}\\`,
      score: -i,
      tags: ['a', null] as unknown as string[],
    }));
    for (const [opts, label] of [
      [{ copyFormat: 'text' as const }, 'text'],
      [{ atomic: false, batchSize: 11_000, copyThreshold: 1_000 }, 'atomic false'],
    ] as const) {
      const a = await bulkUpdate(d.db, viaCopy, updates, { key: 'id', ...opts });
      const b = await bulkUpdate(d.db, viaUnnest, updates, { key: 'id', method: 'unnest' });
      expect(a.rows, label).toBe(b.rows);
      expect(await md5('upd_copy'), label).toBe(await md5('upd_unnest'));
    }
    const inTx = updates.map((u) => ({ ...u, name: 'tx' }));
    await withTransaction(d.db, async (tx) => {
      const r = await bulkUpdate(tx, viaCopy, inTx, { key: 'id', columns: ['name'] });
      expect(r.rows).toBe(N);
    });
    await bulkUpdate(d.db, viaUnnest, inTx, { key: 'id', columns: ['name'], method: 'unnest' });
    expect(await md5('upd_copy')).toBe(await md5('upd_unnest'));
    expect(await tempTables()).toBe(0);
  });

  it("leaves the caller's work_mem as it was, inside its transaction and after", async () => {
    const updates = Array.from({ length: N }, (_, i) => ({ id: i + 1, name: `wm${i}` }));
    const show = async (q: { execute: typeof d.db.execute }) =>
      ((await q.execute(sql`show work_mem`)) as unknown as Array<{ work_mem: string }>)[0]?.work_mem;
    await d.sql`truncate upd_copy`;
    await bulkInsert(d.db, viaCopy, updates);
    const before = await show(d.db);
    await d.db.transaction(async (tx) => {
      await tx.execute(sql`set local work_mem = '1MB'`);
      const r = await bulkUpdate(tx, viaCopy, updates, { key: 'id' });
      expect(r.rows).toBe(N);
      expect(await show(tx)).toBe('1MB');
    });
    await bulkUpdate(d.db, viaCopy, updates, { key: 'id' });
    expect(await show(d.db)).toBe(before);
  });

  it('updates by a composite key', async () => {
    const rows = Array.from({ length: N }, (_, i) => ({ org: i % 10, usr: i, role: 'member', n: i }));
    await bulkInsert(d.db, pairsCopy, rows);
    await bulkInsert(d.db, pairsUnnest, rows);
    const updates = rows.map((r, i) => ({
      org: r.org,
      usr: i % 5 === 0 ? -r.usr - 1 : r.usr,
      role: 'admin',
      n: null,
    }));
    const a = await bulkUpdate(d.db, pairsCopy, updates, { key: ['org', 'usr'], returnUnmatched: true });
    const b = await bulkUpdate(d.db, pairsUnnest, updates, {
      key: ['org', 'usr'],
      returnUnmatched: true,
      method: 'unnest',
    });
    expect({ rows: a.rows, unmatched: a.unmatched }).toEqual({ rows: b.rows, unmatched: b.unmatched });
    const h = async (t: string) =>
      (await d.sql.unsafe(`select md5(string_agg(x::text, ',' order by org, usr)) as h from ${t} x`))[0]?.h;
    expect(await h('pairs_copy')).toBe(await h('pairs_unnest'));
  });
});
