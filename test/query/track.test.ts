import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectQueries,
  instrument,
  isDbkitError,
  type NPlusOneReport,
  QUERY_N_PLUS_ONE_CHANNEL,
  QueryExpectationError,
  trackQueries,
} from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('query_track');
const authors = pgTable('authors', { id: integer('id').primaryKey(), name: text('name').notNull() });

let raw: postgres.Sql;
let sql: postgres.Sql;
const clientReports: NPlusOneReport[] = [];

beforeAll(async () => {
  raw = postgres(db.url, { max: 4, onnotice: () => {} });
  await raw`create table authors (id int primary key, name text not null)`;
  await raw`create table posts (id int primary key, author_id int not null, title text not null)`;
  await raw`insert into authors select g, 'author ' || g from generate_series(1, 20) g`;
  await raw`insert into posts select g, 1 + g % 20, 'post ' || g from generate_series(1, 40) g`;
  sql = instrument(raw, { onNPlusOne: (r) => clientReports.push(r) });
});
afterAll(async () => {
  await raw.end({ timeout: 2 });
});

/** The classic N+1: one query for the list, one per row for its author. */
async function postsWithAuthorsNPlusOne(limit: number) {
  const posts = await sql<
    { id: number; author_id: number }[]
  >`select id, author_id from posts order by id limit ${limit}`;
  const out = [];
  for (const p of posts) {
    const [a] = await sql`select name from authors where id = ${p.author_id}`;
    out.push({ ...p, author: a?.name });
  }
  return out;
}

async function postsWithAuthorsBatched(limit: number) {
  const posts = await sql<
    { id: number; author_id: number }[]
  >`select id, author_id from posts order by id limit ${limit}`;
  const ids = [...new Set(posts.map((p) => p.author_id))];
  const rows = await sql<{ id: number; name: string }[]>`select id, name from authors where id = any(${ids})`;
  const byId = new Map(rows.map((r) => [r.id, r.name]));
  return posts.map((p) => ({ ...p, author: byId.get(p.author_id) }));
}

describe('trackQueries', () => {
  it('reports an N+1 with fingerprint, count, time, call site and a batched rewrite', async () => {
    clientReports.length = 0;
    const published: unknown[] = [];
    const listener = (m: unknown) => published.push(m);
    subscribe(QUERY_N_PLUS_ONE_CHANNEL, listener);
    let t: Awaited<ReturnType<typeof trackQueries>>;
    try {
      t = await trackQueries(() => postsWithAuthorsNPlusOne(8));
    } finally {
      unsubscribe(QUERY_N_PLUS_ONE_CHANNEL, listener);
    }
    expect(t.queries).toHaveLength(9);
    expect(t.nPlusOne).toHaveLength(1);
    const [n] = t.nPlusOne;
    expect(n!.fingerprint).toBe('select name from authors where id = ?');
    expect(n!.count).toBe(8);
    expect(n!.totalMs).toBeGreaterThan(0);
    expect(n!.callSite).toContain('track.test.ts');
    expect(n!.suggestion).toContain('select name from authors where id = any(?)');
    expect(clientReports).toHaveLength(1);
    expect(published).toHaveLength(1);
  });

  it('finds nothing in the batched version of the same page', async () => {
    const t = await trackQueries(() => postsWithAuthorsBatched(8));
    expect(t.result.map((r) => r.author)).toEqual((await postsWithAuthorsNPlusOne(8)).map((r) => r.author));
    expect(t.queries).toHaveLength(2);
    expect(t.nPlusOne).toEqual([]);
  });

  it('stays below the threshold and honours a custom threshold and minimum total time', async () => {
    expect((await trackQueries(() => postsWithAuthorsNPlusOne(4))).nPlusOne).toHaveLength(0);
    expect((await trackQueries(() => postsWithAuthorsNPlusOne(4), { threshold: 3 })).nPlusOne).toHaveLength(
      1,
    );
    const high = await trackQueries(() => postsWithAuthorsNPlusOne(8), { minTotalDurationMs: 60_000 });
    expect(high.nPlusOne).toHaveLength(0);
  });

  it('does not flag one batch of queries issued concurrently', async () => {
    const t = await trackQueries(() =>
      Promise.all([1, 2, 3, 4, 5, 6].map((id) => sql`select name from authors where id = ${id}`)),
    );
    expect(t.queries).toHaveLength(6);
    expect(t.nPlusOne).toHaveLength(0);
  });

  it('keeps concurrent requests on one pool in separate scopes', async () => {
    const [a, b, c] = await Promise.all([
      trackQueries(() => postsWithAuthorsNPlusOne(6)),
      trackQueries(() => postsWithAuthorsBatched(6)),
      trackQueries(() => postsWithAuthorsNPlusOne(3)),
    ]);
    expect(a.queries).toHaveLength(7);
    expect(a.nPlusOne.map((n) => n.count)).toEqual([6]);
    expect(b.queries).toHaveLength(2);
    expect(b.nPlusOne).toHaveLength(0);
    expect(c.queries).toHaveLength(4);
    expect(c.nPlusOne).toHaveLength(0);
  });

  it('records nested scopes only in the innermost one', async () => {
    const outer = await trackQueries(async () => {
      await sql`select 1`;
      const inner = await trackQueries(() => postsWithAuthorsNPlusOne(5));
      await sql`select 2`;
      return inner;
    });
    expect(outer.queries.map((q) => q.sql)).toEqual(['select 1', 'select 2']);
    expect(outer.result.queries).toHaveLength(6);
    expect(outer.result.nPlusOne).toHaveLength(1);
    expect(outer.nPlusOne).toHaveLength(0);
  });

  it('catches an N+1 made of drizzle queries', async () => {
    const d = drizzle(sql);
    const t = await trackQueries(async () => {
      for (const id of [1, 2, 3, 4, 5]) await d.select().from(authors).where(eq(authors.id, id)).execute();
    });
    expect(t.nPlusOne).toHaveLength(1);
    expect(t.nPlusOne[0]!.fingerprint).toBe('select id, name from authors where authors.id = ?');
    expect(t.nPlusOne[0]!.callSite).toContain('track.test.ts');
  });

  it('tracks a lazy drizzle query returned (not awaited) by fn', async () => {
    const d = drizzle(sql);
    const t = await trackQueries(() => d.select().from(authors).where(eq(authors.id, 1)));
    expect(t.result).toEqual([{ id: 1, name: 'author 1' }]);
    expect(t.queries).toHaveLength(1);
  });

  it('lists slow queries by the scope threshold', async () => {
    const t = await trackQueries(() => sql`select pg_sleep(0.02)`, { slowQueryMs: 0 });
    expect(t.slow).toHaveLength(1);
    const none = await trackQueries(() => sql`select 1`, { slowQueryMs: 60_000 });
    expect(none.slow).toHaveLength(0);
  });

  it('does not record queries of uninstrumented clients or outside a scope', async () => {
    const t = await trackQueries(() => raw`select 1`);
    expect(t.queries).toHaveLength(0);
  });
});

describe('expectQueries', () => {
  it('passes within the budget and returns the tracking result', async () => {
    const t = await expectQueries(() => postsWithAuthorsBatched(5), { max: 2 });
    expect(t.queries).toHaveLength(2);
  });

  it('throws a readable report for an N+1', async () => {
    const err = await expectQueries(() => postsWithAuthorsNPlusOne(6)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryExpectationError);
    expect(isDbkitError(err, 'E_QUERY_EXPECTATION')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('expected no N+1 queries, found 1');
    expect(msg).toContain('7 queries (2 distinct)');
    expect(msg).toMatch(/6x .* select name from authors where id = \?/);
    expect(msg).toContain('track.test.ts');
    expect(msg).toContain('fix: Load all 6 at once');
  });

  it('throws when over max, and allows an N+1 when told to', async () => {
    await expect(expectQueries(() => postsWithAuthorsBatched(5), { max: 1 })).rejects.toThrow(
      /expected at most 1 queries, ran 2/,
    );
    const t = await expectQueries(() => postsWithAuthorsNPlusOne(5), { noNPlusOne: false });
    expect(t.nPlusOne).toHaveLength(1);
  });

  it('rethrows the error of fn', async () => {
    await expect(expectQueries(() => sql`select * from missing_table`)).rejects.toMatchObject({
      code: '42P01',
    });
  });
});
