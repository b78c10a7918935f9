import { PGlite } from '@electric-sql/pglite';
import { eq } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/pglite';
import pgLib from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentQueryable, type QueryEvent, trackQueries } from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const users = pgTable('users', { id: integer('id').primaryKey(), name: text('name').notNull() });
const testDb = useTestDatabase('queryable_pg');
let pg: PGlite;
const events: QueryEvent[] = [];

beforeAll(async () => {
  pg = new PGlite();
  await pg.exec(`create table users (id int primary key, name text not null);
    insert into users select g, 'user ' || g from generate_series(1, 10) g;`);
});
afterAll(async () => {
  await pg.close();
});

describe('instrumentQueryable (PGlite)', () => {
  it('reports drizzle queries with rows, fingerprint and call site, and catches an N+1', async () => {
    const db = drizzle(instrumentQueryable(pg, { name: 'pglite', onQuery: (e) => events.push(e) }));
    const t = await trackQueries(async () => {
      for (const id of [1, 2, 3, 4, 5, 6]) await db.select().from(users).where(eq(users.id, id)).execute();
    });
    expect(t.queries).toHaveLength(6);
    expect(t.queries[0]!.rows).toBe(1);
    expect(t.queries[0]!.client).toBe('pglite');
    expect(t.nPlusOne[0]!.fingerprint).toBe('select id, name from users where users.id = ?');
    expect(t.nPlusOne[0]!.callSite).toContain('queryable.test.ts');
    expect(events.length).toBeGreaterThanOrEqual(6);
  });

  it('tracks transactions and errors', async () => {
    const db = drizzle(instrumentQueryable(pg));
    const t = await trackQueries(async () => {
      await db.transaction(async (tx) => {
        await tx.update(users).set({ name: 'x' }).where(eq(users.id, 1));
      });
      await db.execute('select * from nope').catch(() => {});
    });
    expect(t.queries.map((q) => [q.connection, q.command, q.rows])).toEqual([
      ['transaction', 'UPDATE', 1],
      ['pool', null, null],
    ]);
    expect((t.queries[1]!.error as Error).message).toContain('nope');
  });
});

// node-postgres (pg.Pool), the other client the docs name: its callback form returns undefined (the
// wrapper called .then on it: a TypeError, the callback never ran), and drizzle's node-postgres
// transactions run on pool.connect()'s client, which the wrapper handed out unwrapped (untracked).
describe('instrumentQueryable (pg.Pool)', () => {
  let pool: pgLib.Pool;
  beforeAll(() => {
    pool = new pgLib.Pool({ connectionString: testDb.url, max: 2 });
  });
  afterAll(async () => {
    await pool.end();
  });

  it('supports the callback form: answers through the callback and reports the query', async () => {
    const seen: QueryEvent[] = [];
    const ipool = instrumentQueryable(pool, { onQuery: (e) => seen.push(e) }) as unknown as pgLib.Pool;
    const rows = await new Promise<unknown[]>((resolve, reject) => {
      const r = ipool.query('select 3 as n', [], (err, res) => (err ? reject(err) : resolve(res.rows)));
      expect(r).toBeUndefined();
    });
    expect(rows).toEqual([{ n: 3 }]);
    const failed = await new Promise<unknown>((resolve) => {
      ipool.query('select * from nope', (err: Error) => resolve(err));
    });
    expect((failed as Error).message).toContain('nope');
    expect(seen.map((e) => [e.sql, e.rows, e.error === undefined])).toEqual([
      ['select 3 as n', 1, true],
      ['select * from nope', null, false],
    ]);
  });

  it('tracks drizzle transactions (pool.connect() clients, promise and callback forms)', async () => {
    const db = drizzlePg(instrumentQueryable(pool) as unknown as pgLib.Pool);
    const t = await trackQueries(async () => {
      await db.execute('select 1');
      await db.transaction(async (tx) => {
        await tx.execute('select 2');
      });
    });
    expect(t.queries.map((q) => [q.connection, q.sql.toLowerCase()])).toEqual([
      ['pool', 'select 1'],
      ['reserved', 'begin'],
      ['reserved', 'select 2'],
      ['reserved', 'commit'],
    ]);
    const ipool = instrumentQueryable(pool) as unknown as pgLib.Pool;
    const t2 = await trackQueries(async () => {
      const client = await new Promise<pgLib.PoolClient>((resolve, reject) =>
        ipool.connect((err, c, _release) => (err || !c ? reject(err) : resolve(c))),
      );
      try {
        await client.query('select 4');
      } finally {
        client.release();
      }
    });
    expect(t2.queries.map((q) => [q.connection, q.sql])).toEqual([['reserved', 'select 4']]);
    expect(pool.waitingCount).toBe(0);
  });
});
