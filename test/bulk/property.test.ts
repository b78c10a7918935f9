import { asc, sql } from 'drizzle-orm';
import { doublePrecision, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulkValidationError, bulkInsert, bulkUpdate } from '../../src/bulk/index.js';
import { useTestDatabase } from '../setup/index.js';
import { type Driver, ddl, postgresJs } from './helpers.js';

const fuzz = pgTable('fuzz', {
  id: integer('id').primaryKey(),
  t: text('t'),
  f: doublePrecision('f'),
  n: integer('n'),
  j: jsonb('j'),
  ts: timestamp('ts', { withTimezone: true }),
});
type FuzzRow = typeof fuzz.$inferInsert;

const tdb = useTestDatabase('bulk_fuzz');
let d: Driver & { sql: postgres.Sql };
beforeAll(async () => {
  d = postgresJs(tdb.url);
  await ddl(
    d.db,
    sql`create table fuzz (id int primary key, t text, f double precision, n int, j jsonb, ts timestamptz)`,
  );
});
afterAll(() => d.close());

// Hostile values: NUL bytes, lone surrogates, COPY/array metacharacters, non-finite numbers, out-of-range
// integers, invalid and far-away dates, JSON with NUL and odd keys.
const hostileText = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }), weight: 8 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
  fc.constantFrom('\\', '\\N', '\t\n\r', '"{,}"', 'NULL', '', '\u0000', '\ud800', 'a\udc00b'),
);
const row = (id: number) =>
  fc.record(
    {
      id: fc.constant(id),
      t: fc.option(hostileText),
      f: fc.option(fc.double()),
      n: fc.option(
        fc.oneof(
          { arbitrary: fc.integer(), weight: 10 },
          fc.double(),
          fc.constantFrom(2 ** 31, -(2 ** 31) - 1, Number.NaN),
        ),
      ),
      j: fc.option(fc.jsonValue({ maxDepth: 2 })),
      ts: fc.option(
        fc.date({
          noInvalidDate: false,
          // years 100..11000: drizzle's timestamp reader (new Date(text)) misreads years below 100 as 19xx/20xx
          min: new Date(Date.UTC(100, 0, 1)),
          max: new Date(Date.UTC(11000, 0, 1)),
        }),
      ),
    },
    { requiredKeys: ['id'] },
  ) as fc.Arbitrary<FuzzRow>;
const rows = fc
  .integer({ min: 1, max: 120 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => row(i + 1))));

/** Drops the rows bulk* rejects (one at a time, by rowIndex) until a call succeeds; returns the accepted rows. */
async function writeAccepted<T>(input: T[], write: (rows: T[]) => Promise<unknown>): Promise<T[]> {
  let current = [...input];
  for (;;) {
    try {
      await write(current);
      return current;
    } catch (e) {
      if (!(e instanceof BulkValidationError)) throw e;
      current = current.filter((_, i) => i !== e.rowIndex);
    }
  }
}

/**
 * Reads the table; jsonb comes from postgres.js directly because drizzle's jsonb reader JSON.parses a second
 * time on postgres-js (a stored JSON string "0" would come back as the number 0).
 */
async function readAll() {
  const rows = await d.db.select().from(fuzz).orderBy(asc(fuzz.id));
  const js = await d.sql<{ id: number; j: unknown }[]>`select id, j from fuzz order by id`;
  return rows.map((r, i) => ({ ...r, j: js[i]?.j ?? null }));
}

const normalize = (r: FuzzRow) => ({
  id: r.id,
  t: r.t ?? null,
  f: r.f ?? null,
  // integers have no negative zero: -0 is the integer 0
  n: r.n === undefined || r.n === null ? null : r.n === 0 ? 0 : r.n,
  // jsonb stores what JSON.stringify produced (-0 -> 0, undefined props dropped)
  j: r.j === undefined || r.j === null ? null : JSON.parse(JSON.stringify(r.j)),
  ts: r.ts ?? null,
});

describe('hostile input property', () => {
  it('leaves exactly the accepted rows in the table after bulkInsert and bulkUpdate', async () => {
    let total = 0;
    await fc.assert(
      fc.asyncProperty(
        rows,
        fc.constantFrom('copy', 'unnest', 'values') as fc.Arbitrary<'copy' | 'unnest' | 'values'>,
        hostileText,
        async (input, method, newText) => {
          await d.sql`truncate fuzz`;
          total += input.length;
          const accepted = await writeAccepted(input, (rs) =>
            bulkInsert(d.db, fuzz, rs, { method, batchSize: 50, atomic: false }),
          );
          const got = await readAll();
          expect(got).toEqual(accepted.map(normalize));
          const updates = accepted.map((r, i) => ({ id: r.id, t: i % 2 ? newText : `${newText}\u0000` }));
          const updated = await writeAccepted(updates, (us) =>
            bulkUpdate(d.db, fuzz, us, { key: 'id', atomic: false }),
          );
          const byId = new Map(updated.map((u) => [u.id, u.t]));
          const after = await readAll();
          expect(after).toEqual(
            accepted.map((r) => ({ ...normalize(r), t: byId.has(r.id) ? byId.get(r.id) : (r.t ?? null) })),
          );
        },
      ),
      { numRuns: 40 },
    );
    expect(total).toBeGreaterThan(1_000);
  }, 120_000);
});
