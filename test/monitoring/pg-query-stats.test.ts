/**
 * pgQueryStats against real pg_stat_statements: the shared server has no shared_preload_libraries, so each
 * describe starts its own throwaway cluster (test/setup/pg-cluster.ts). The "how to enable it" findings are
 * followed as given on a cluster without the library, and the server-wide autovacuum finding too.
 */
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { explainHint, pgChecks, pgQueryStats } from '../../src/monitoring/index.js';
import { fingerprintQuery } from '../../src/query/index.js';
import { usePgCluster } from '../setup/pg-cluster.js';
import { waitFor } from '../setup/processes.js';

describe('pgQueryStats with pg_stat_statements preloaded', () => {
  const cluster = usePgCluster({ shared_preload_libraries: 'pg_stat_statements' });

  it('lists the top statements by total time, mean time and calls, with dbkit fingerprints', {
    timeout: 60_000,
  }, async () => {
    const c = cluster();
    await c.admin('create database app');
    const sql = c.sql('app');
    await sql`create extension pg_stat_statements`;
    await sql`create table items (id int primary key, v text)`;
    await sql`insert into items select g, 'v' || g from generate_series(1, 2000) g`;
    await sql`select pg_stat_statements_reset()`;
    // PgHero's slow_queries: >= 100 calls with a mean >= 20 ms.
    for (let i = 0; i < 105; i++) await sql`select pg_sleep(${0.021})`;
    for (let i = 0; i < 300; i++) await sql`select v from items where id = ${i}`;
    for (let i = 0; i < 5; i++) await sql.unsafe('select count(*) from items');
    // Lists of different lengths are different pg_stat_statements entries, one dbkit fingerprint.
    await sql.unsafe('select v from items where id in (1, 2)');
    await sql.unsafe('select v from items where id in (1, 2, 3)');

    const stats = await pgQueryStats(sql, { limit: 5 });
    expect(stats.available).toBe(true);
    expect(stats.byTotalTime).toHaveLength(5);
    const sleep = fingerprintQuery('select pg_sleep($1)');
    expect(stats.byTotalTime[0]).toMatchObject({ id: sleep.id, fingerprint: sleep.fingerprint, calls: 105 });
    expect(stats.byTotalTime[0]!.meanMs).toBeGreaterThanOrEqual(20);
    expect(stats.byMeanTime[0]!.id).toBe(sleep.id);
    expect(stats.byCalls[0]).toMatchObject({
      id: fingerprintQuery('select v from items where id = $1').id,
      calls: 300,
    });
    const inList = stats.byCalls.find((q) => q.fingerprint === 'select v from items where id in (?)')!;
    expect(inList.queryIds).toHaveLength(2);
    expect(inList.calls).toBe(2);
    const sum = stats.byTotalTime.reduce((n, q) => n + q.percent, 0);
    expect(sum).toBeGreaterThan(90);
    expect(sum).toBeLessThanOrEqual(100.0001);
    expect(stats.since).toBeInstanceOf(Date);
    // dbkit's own catalog statements stay out of the lists.
    for (const q of [...stats.byTotalTime, ...stats.byMeanTime, ...stats.byCalls])
      expect(q.query).not.toMatch(/dbkit:monitoring/);

    // The slow statement is a finding with its numbers; it has a parameter, so on 15 the hint is dbkit explain().
    expect(stats.findings).toHaveLength(1);
    expect(stats.findings[0]).toMatchObject({
      check: 'slow_query',
      severity: 'warning',
      object: `query ${sleep.id}`,
      threshold: 20,
      unit: 'ms',
    });
    expect(stats.findings[0]!.value).toBeGreaterThanOrEqual(20);
    expect(stats.findings[0]!.sql).toBeUndefined();
    expect(stats.findings[0]!.suggestion).toMatch(/dbkit\/query/);
    expect(stats.worst!.stat.id).toBe(sleep.id);

    // A statement without parameters gets an EXPLAIN that runs as given.
    const count = stats.byCalls.find((q) => q.fingerprint === 'select count(*) from items')!;
    const hint = explainHint(count.query, 150000);
    expect(hint.sql).toBe('EXPLAIN select count(*) from items;');
    const plan = await sql.unsafe(hint.sql!);
    expect(JSON.stringify(plan)).toMatch(/Seq Scan on items/);
    expect(explainHint('select v from items where id = $1', 160000).sql).toBe(
      'EXPLAIN (GENERIC_PLAN) select v from items where id = $1;',
    );
    // pg_stat_statements keeps comments: a trailing `--` comment must not swallow the terminating semicolon, so
    // the hint runs as given followed by another statement (a psql script, pasted fixes).
    const commented = explainHint('select count(*) from items -- dashboard', 150000).sql!;
    const [a, b] = await sql.unsafe(`${commented}\nselect 2 as two;`).simple();
    expect(JSON.stringify(a)).toMatch(/Seq Scan on items/);
    expect(b).toEqual([{ two: 2 }]);
  });
});

describe('pgQueryStats keeps secrets of utility statements out', () => {
  const cluster = usePgCluster({ shared_preload_libraries: 'pg_stat_statements' });

  it('gives no statement text with the constants pg_stat_statements keeps for utility statements', {
    timeout: 60_000,
  }, async () => {
    // Postgres 15 normalizes the constants of SELECT/INSERT/UPDATE/DELETE/MERGE only: `ALTER ROLE ... PASSWORD
    // '...'` is kept as typed, and `dbkit doctor --json` printed it.
    const c = cluster();
    await c.admin('create database app');
    const sql = c.sql('app');
    await sql`create extension pg_stat_statements`;
    await sql.unsafe(`create role app_user login password 'Hunter2-create'`);
    for (let i = 0; i < 3; i++) await sql.unsafe(`alter role app_user password 'Hunter2-alter${i}'`);
    await sql.unsafe(`do $$ begin perform 'Hunter2-do'; end $$`);
    await sql.unsafe(`select 'not-a-secret-but-normalized'::text`);
    const stats = await pgQueryStats(sql, { limit: 50 });
    const lists = [...stats.byTotalTime, ...stats.byMeanTime, ...stats.byCalls];
    expect(lists.map((q) => q.fingerprint)).toContain('alter role app_user password ?');
    expect(JSON.stringify(stats)).not.toMatch(/Hunter2|not-a-secret/);
    // DML keeps its text as pg_stat_statements has it (parameters as $n).
    expect(lists.map((q) => q.query)).toContain('select $1::text');
  });
});

describe('pgQueryStats and the autovacuum check on a server without them', () => {
  const cluster = usePgCluster({ autovacuum: 'off' });

  it('says how to enable pg_stat_statements, and the steps work as given', { timeout: 90_000 }, async () => {
    const c = cluster();
    let stats = await pgQueryStats(c.sql());
    expect(stats).toMatchObject({ available: false, reason: 'not_preloaded', byTotalTime: [] });
    const enable = stats.findings[0]!;
    expect(enable).toMatchObject({
      check: 'query_stats',
      severity: 'info',
      sql: "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';",
    });
    expect(enable.suggestion).toMatch(/restart/);
    await c.admin(enable.sql!);
    await c.restart();
    stats = await pgQueryStats(c.sql());
    expect(stats).toMatchObject({ available: false, reason: 'not_created' });
    expect(stats.findings[0]!.sql).toBe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements;');
    await c.sql().unsafe(stats.findings[0]!.sql!);
    stats = await pgQueryStats(c.sql());
    expect(stats.available).toBe(true);
    expect(stats.findings).toEqual([]);
  });

  it('reports what a role without privileges cannot see: failed checks with the cause, no_permission', async () => {
    const c = cluster();
    await c.admin(`create role lowpriv login;
      create table secret (id serial primary key); select setval('secret_id_seq', 2100000000);
      revoke execute on function pg_get_indexdef(oid, integer, boolean) from public;
      revoke select on pg_stat_statements from public`);
    const u = new URL(c.url());
    u.username = 'lowpriv';
    const low = postgres(u.toString(), { max: 1, onnotice: () => {} });
    try {
      const r = await pgChecks(low, { only: ['duplicate_index', 'sequence_overflow'] });
      // pg_sequences hides what the role cannot read (last_value null): absent, not wrong.
      expect(r.ran).toEqual(['sequence_overflow']);
      expect(r.findings).toEqual([]);
      expect(r.failed.map((f) => f.check)).toEqual(['duplicate_index']);
      expect(r.failed[0]!.error).toMatchObject({ code: 'E_CHECK_FAILED' });
      expect((r.failed[0]!.error.cause as { code?: string }).code).toBe('42501');
      const stats = await pgQueryStats(low);
      expect(stats).toMatchObject({ available: false, reason: 'no_permission' });
      expect(stats.findings[0]!.suggestion).toMatch(/pg_read_all_stats/);
      // The superuser still sees the sequence.
      const su = await pgChecks(c.sql(), { only: ['sequence_overflow'] });
      expect(su.findings.map((f) => f.object)).toEqual(['public.secret_id_seq']);
    } finally {
      await low.end({ timeout: 2 });
    }
  });

  it('reports autovacuum = off for the server, and its fix works after a reload', async () => {
    const c = cluster();
    const r = await pgChecks(c.sql(), { only: ['autovacuum_disabled'] });
    const f = r.findings.find((x) => x.object === 'server')!;
    expect(f).toMatchObject({ severity: 'warning', sql: 'ALTER SYSTEM SET autovacuum = on;' });
    expect(f.suggestion).toMatch(/pg_reload_conf/);
    await c.admin(f.sql!);
    await c.admin('select pg_reload_conf()');
    // pg_reload_conf() only signals the postmaster: each session applies the file once the postmaster has
    // re-read it and signalled that backend, so under load the pool's next statement can still see the old value.
    await waitFor(
      'the reload to reach the pool',
      async () => (await c.sql()`select current_setting('autovacuum') as v`)[0]!.v === 'on',
      10_000,
    );
    const after = await pgChecks(c.sql(), { only: ['autovacuum_disabled'] });
    expect(after.findings.filter((x) => x.object === 'server')).toEqual([]);
  });
});
