import { PGlite } from '@electric-sql/pglite';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentQueryable, type QueryEvent, trackQueries } from '../../src/query/index.js';

const users = pgTable('users', { id: integer('id').primaryKey(), name: text('name').notNull() });
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
