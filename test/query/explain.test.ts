import { PGlite } from '@electric-sql/pglite';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExplainError, type ExplainResult, explain, formatExplain } from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('query_explain');
const events = pgTable('events', {
  id: integer('id').primaryKey(),
  userId: integer('user_id').notNull(),
  kind: text('kind').notNull(),
  payload: text('payload').notNull(),
});

const rules = (r: ExplainResult) => r.findings.map((f) => f.rule);
const finding = (r: ExplainResult, rule: string) => r.findings.find((f) => f.rule === rule);

beforeAll(async () => {
  const sql = db.sql();
  // ~40k rows x ~220 bytes: >1,000 heap pages, enough to spill sorts/hashes and bitmaps at work_mem = 64kB.
  await sql`create table events (id int primary key, user_id int not null, kind text not null, payload text not null)`;
  await sql`insert into events select g, g % 2000, 'k' || (g % 7), repeat(md5(g::text), 7) from generate_series(1, 40000) g`;
  await sql`create table users (id int primary key, name text not null)`;
  await sql`insert into users select g, 'user ' || g from generate_series(1, 2000) g`;
  // Stale statistics: analyzed with 500 'old' rows, then 20k 'new' rows arrive and autovacuum is off.
  await sql`create table tickets (id serial primary key, status text not null) with (autovacuum_enabled = false)`;
  await sql`insert into tickets (status) select 'old' from generate_series(1, 500)`;
  await sql`analyze events, users, tickets`;
  await sql`insert into tickets (status) select 'new' from generate_series(1, 20000)`;
}, 60_000);

describe('explain', () => {
  it('finds a seq scan on a large table with a selective filter and names the column to index', async () => {
    const r = await explain(db.sql(), 'select * from events where user_id = $1', {
      params: [42],
      analyze: true,
      dominantMinMs: 0,
    });
    const f = finding(r, 'seq-scan-large-table');
    expect(f).toBeDefined();
    expect(f!.relation).toBe('events');
    expect(f!.details.columns).toBe('user_id');
    expect(f!.suggestion).toContain('CREATE INDEX CONCURRENTLY ON events (user_id);');
    // the seq scan is the only node doing work
    const d = finding(r, 'dominant-node');
    expect(d?.node.nodeType).toBe('Seq Scan');
    expect(d!.suggestion).toContain('user_id');
    expect(r.plan.relationName).toBe('events');
    expect(r.executionTimeMs).toBeGreaterThan(0);
  });

  it('finds the seq scan without ANALYZE too, from the estimates and pg_class', async () => {
    const r = await explain(db.sql(), "select * from events where kind = 'k1' and user_id = 7");
    expect(r.analyzed).toBe(false);
    expect(r.plan.actualRows).toBeUndefined();
    const f = finding(r, 'seq-scan-large-table');
    expect(f!.details.columns).toBe('kind,user_id');
  });

  it('reports a clean primary-key lookup with no findings', async () => {
    const r = await explain(db.sql(), 'select * from events where id = $1', {
      params: [5],
      analyze: true,
      buffers: true,
    });
    expect(r.plan.nodeType).toBe('Index Scan');
    expect(r.findings).toEqual([]);
    expect(r.plan.sharedHitBlocks! + (r.plan.sharedReadBlocks ?? 0)).toBeGreaterThan(0);
    expect(formatExplain(r)).toContain('no findings');
  });

  it('flags a row estimate off by >100x as critical and suggests ANALYZE', async () => {
    const r = await explain(db.sql(), "select * from tickets where status = 'new'", { analyze: true });
    const f = finding(r, 'row-misestimate');
    expect(f?.severity).toBe('critical');
    expect(f!.details.actualRows).toBe(20000);
    expect(f!.details.ratio).toBeGreaterThan(100);
    expect(f!.suggestion).toContain('ANALYZE tickets');
  });

  it('flags an estimate off by 10-100x as a warning', async () => {
    // `id % 7 = 0` has no statistics: the planner assumes 0.5% of rows match (~100) where 1/7 do (~2,857): ~28x.
    const r = await explain(db.sql(), 'select * from events where user_id < 1000 and id % 7 = 0', {
      analyze: true,
      misestimateRatio: 10,
    });
    const f = finding(r, 'row-misestimate');
    expect(f?.severity).toBe('warning');
    expect(f!.details.ratio).toBeGreaterThan(10);
    expect(f!.details.ratio).toBeLessThanOrEqual(100);
  });

  it('finds a sort spilling to disk and the work_mem it needs', async () => {
    const r = await explain(db.sql(), 'select * from events order by payload', {
      analyze: true,
      set: { work_mem: '64kB' },
    });
    expect(r.rolledBack).toBe(true);
    const f = finding(r, 'sort-spill');
    expect(f).toBeDefined();
    expect(f!.details.diskKb).toBeGreaterThan(64);
    expect(f!.suggestion).toMatch(/SET LOCAL work_mem = '\d+(kB|MB)'/);
  });

  it('finds a hash join spilling into batches', async () => {
    const r = await explain(
      db.sql(),
      'select a.payload, b.payload from events a join events b on a.id = b.id + 0',
      {
        analyze: true,
        set: { work_mem: '64kB', enable_mergejoin: 'off', enable_nestloop: 'off' },
      },
    );
    const f = finding(r, 'hash-spill');
    expect(f).toBeDefined();
    expect(f!.details.batches).toBeGreaterThan(1);
    expect(f!.suggestion).toContain('work_mem');
  });

  it('finds a nested loop running its inner side thousands of times', async () => {
    const r = await explain(db.sql(), 'select count(*) from users u join events e on e.id = u.id', {
      analyze: true,
      set: { enable_hashjoin: 'off', enable_mergejoin: 'off' },
    });
    const f = finding(r, 'nested-loop-many-loops');
    expect(f).toBeDefined();
    expect(f!.details.loops).toBe(2000);
    expect(f!.severity).toBe('warning');
    expect(f!.suggestion).toContain('Hash Join');
  });

  it('finds a lossy bitmap heap scan', async () => {
    const r = await explain(db.sql(), 'select count(*) from events where id < 39000', {
      analyze: true,
      set: { work_mem: '64kB', enable_seqscan: 'off', enable_indexscan: 'off', enable_indexonlyscan: 'off' },
    });
    const f = finding(r, 'lossy-bitmap-scan');
    expect(f).toBeDefined();
    expect(f!.details.lossyBlocks).toBeGreaterThan(0);
    expect(f!.suggestion).toContain('work_mem');
  });

  it('runs ANALYZE of a writing statement in a transaction that is rolled back', async () => {
    const sql = db.sql();
    const r = await explain(sql, 'delete from users where id <= $1', { params: [100], analyze: true });
    expect(r.rolledBack).toBe(true);
    expect(r.readOnly).toBe(false);
    expect(r.plan.nodeType).toBe('ModifyTable');
    expect(r.plan.raw.Operation).toBe('Delete');
    const [row] = await sql`select count(*)::int as n from users`;
    expect(row!.n).toBe(2000);
  });

  it('explains drizzle queries and sql on a drizzle postgres-js database', async () => {
    const d = drizzle(db.sql());
    const r = await explain(d, d.select().from(events).where(eq(events.userId, 3)), { analyze: true });
    expect(rules(r)).toContain('seq-scan-large-table');
    expect(r.sql).toContain('"user_id" = $1');
    const pk = await explain(d, d.select().from(events).where(eq(events.id, 3)));
    expect(pk.findings).toEqual([]);
  });

  it('explains a postgres.js tagged template without running it', async () => {
    const sql = db.sql();
    const r = await explain(sql, sql`select * from events where user_id = ${9}`);
    expect(r.params).toEqual([9]);
    expect(rules(r)).toContain('seq-scan-large-table');
  });

  it('works on PGlite through drizzle', async () => {
    const client = new PGlite();
    try {
      await client.exec(`create table t (id int primary key, v int not null);
        insert into t select g, g % 500 from generate_series(1, 20000) g; analyze t;`);
      const d = drizzlePglite(client);
      const r = await explain(d, 'select * from t where v = $1', { params: [3], analyze: true });
      expect(finding(r, 'seq-scan-large-table')?.details.columns).toBe('v');
      const w = await explain(d, 'delete from t', { analyze: true });
      expect(w.rolledBack).toBe(true);
      expect((await client.query<{ n: number }>('select count(*)::int as n from t')).rows[0]!.n).toBe(20000);
    } finally {
      await client.close();
    }
  });

  it('raises ExplainError with the driver error as cause', async () => {
    const err = await explain(db.sql(), 'select * from missing_table').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExplainError);
    expect((err as ExplainError).cause).toMatchObject({ code: '42P01' });
    await expect(explain({}, 'select 1')).rejects.toThrow(ExplainError);
  });

  it('plans in a READ ONLY transaction: a function the planner folds cannot write', async () => {
    const sql = db.sql();
    await sql`create table ro_probe (v text)`;
    await sql.unsafe(
      `create function ro_probe_insert() returns int language sql as $$ insert into ro_probe values ('x'); select 1 $$`,
    );
    // IMMUTABLE (wrongly): the planner evaluates it while planning a plain EXPLAIN, and it calls a writer
    await sql.unsafe(`create function ro_probe_write() returns int language plpgsql immutable as
      $$ begin perform ro_probe_insert(); return 1; end $$`);
    const err = await explain(sql, 'select ro_probe_write()').catch((e: unknown) => e);
    expect((err as ExplainError).cause).toMatchObject({ code: '25006' }); // read_only_sql_transaction
    const analyzed = await explain(sql, 'select ro_probe_write()', { analyze: true });
    expect(analyzed).toMatchObject({ analyzed: true, readOnly: false, rolledBack: true });
    expect((await sql`select count(*)::int as n from ro_probe`)[0]!.n).toBe(0);
  });
});
