import { describe, expect, it } from 'vitest';
import { type PgFinding, pgChecks, resolveMonitoringOptions } from '../../src/monitoring/index.js';
import {
  cacheHitRatio,
  duplicateIndexes,
  type IndexRow,
  missingIndexes,
  sequenceOverflow,
  tableBloat,
  unusedIndexes,
  wraparound,
} from '../../src/monitoring/pg-check-rules.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('monchecks');
const objects = (fs: PgFinding[], check: string) => fs.filter((f) => f.check === check).map((f) => f.object);

describe('pgChecks on schemas built to trigger each check', () => {
  it('finds duplicate, unused, invalid indexes, unvalidated constraints and unindexed foreign keys', async () => {
    const sql = db.sql();
    await sql.unsafe(`
      create table big (id serial primary key, a int, b int, c text);
      create index big_a on big (a);
      create index big_a_b on big (a, b);
      create index big_b1 on big (b);
      create index big_b2 on big (b);
      create index big_c on big (c);
      create unique index big_id_again on big (id);
      create table dupes (x int);
      insert into dupes values (1), (1);
      create table parent (id int primary key);
      create table child (id int primary key, parent_id int references parent (id));
      create table child_ok (id int primary key, parent_id int references parent (id));
      create index child_ok_parent on child_ok (parent_id);`);
    await expect(sql.unsafe('create unique index concurrently dupes_x on dupes (x)')).rejects.toMatchObject({
      code: '23505',
    });
    await sql.unsafe('alter table dupes add constraint x_positive check (x > 0) not valid');

    const { findings, failed } = await pgChecks(sql, { unusedIndexMinBytes: 0 });
    expect(failed).toEqual([]);
    expect(objects(findings, 'duplicate_index').sort()).toEqual([
      'public.big_a',
      'public.big_b2',
      'public.big_id_again',
    ]);
    expect(findings.find((f) => f.object === 'public.big_a')!.sql).toBe(
      'DROP INDEX CONCURRENTLY public.big_a;',
    );
    expect(findings.find((f) => f.object === 'public.big_a')!.detail).toMatch(/big_a_b/);
    expect(objects(findings, 'unused_index')).toEqual(
      expect.arrayContaining(['public.big_c', 'public.big_a']),
    );
    expect(objects(findings, 'unused_index')).not.toContain('public.big_pkey');
    expect(objects(findings, 'invalid_index')).toEqual(['public.dupes_x']);
    expect(findings.find((f) => f.check === 'invalid_index')!.sql).toMatch(
      /REINDEX INDEX CONCURRENTLY public.dupes_x/,
    );
    expect(findings.find((f) => f.check === 'not_validated_constraint')).toMatchObject({
      object: 'public.dupes.x_positive',
      sql: 'ALTER TABLE public.dupes VALIDATE CONSTRAINT x_positive;',
    });
    expect(findings.filter((f) => f.check === 'foreign_key_without_index')).toEqual([
      expect.objectContaining({
        object: 'public.child.child_parent_id_fkey',
        sql: 'CREATE INDEX CONCURRENTLY ON public.child (parent_id);',
      }),
    ]);
    // The default threshold (10 MB) leaves these small unused indexes alone.
    expect(objects((await pgChecks(sql)).findings, 'unused_index')).toEqual([]);
  });

  it('finds a missing index from real sequential scans on >= 10k rows', async () => {
    const sql = db.sql();
    await sql`insert into big (a, b, c) select g, g, 'v' || g from generate_series(1, 10000) g`;
    await sql`analyze big`;
    for (let i = 0; i < 5; i++) await sql`select count(*) from big where c = 'nope'`;
    await sql`select * from big where id = 1`;
    await waitFor('statistics to show the scans', async () => {
      const { findings } = await pgChecks(sql, { only: ['missing_index'] });
      return objects(findings, 'missing_index').includes('public.big');
    });
    const { findings, ran } = await pgChecks(sql, { only: ['missing_index', 'relation_size'] });
    expect(ran).toEqual(['missing_index', 'relation_size']);
    expect(findings.find((f) => f.check === 'missing_index')!.detail).toMatch(/% of scans/);
    expect(objects(findings, 'relation_size')).toContain('public.big');
    // Above the row threshold only: raising it hides the table.
    const none = await pgChecks(sql, { only: ['missing_index'], missingIndexMinRows: 1_000_000 });
    expect(none.findings).toEqual([]);
  });

  it('estimates table and index bloat, sequences near overflow, wraparound and cache hit ratio', async () => {
    const sql = db.sql();
    await sql.unsafe(`
      create table bloaty (id int) with (autovacuum_enabled = false);
      insert into bloaty select generate_series(1, 1000);
      delete from bloaty where id <= 600;
      create table ib (id int) with (autovacuum_enabled = false);
      insert into ib select generate_series(1, 20000);
      create index ib_id on ib (id);
      delete from ib where id % 10 <> 0;`);
    await sql.unsafe('vacuum ib');
    await sql.unsafe('analyze ib');
    await sql.unsafe(`
      create table counter (id serial primary key);
      select setval('counter_id_seq', 2000000000);
      create table big_counter (id bigserial primary key);
      select setval('big_counter_id_seq', 2000000000);`);
    await waitFor('dead tuples to be counted', async () => {
      const r = await pgChecks(sql, { only: ['table_bloat'], tableBloatMinDeadTuples: 100 });
      return objects(r.findings, 'table_bloat').includes('public.bloaty');
    });
    const r = await pgChecks(sql, {
      only: [
        'table_bloat',
        'index_bloat',
        'sequence_overflow',
        'transaction_id_wraparound',
        'cache_hit_ratio',
      ],
      tableBloatMinDeadTuples: 100,
      indexBloatMinBytes: 100_000,
    });
    expect(r.failed).toEqual([]);
    expect(r.findings.find((f) => f.object === 'public.bloaty')!.detail).toBe(
      '600 dead tuples (60% of the table)',
    );
    expect(objects(r.findings, 'index_bloat')).toContain('public.ib_id');
    expect(r.findings.filter((f) => f.check === 'sequence_overflow')).toEqual([
      expect.objectContaining({
        object: 'public.counter_id_seq',
        severity: 'warning',
        sql: 'ALTER TABLE counter ALTER COLUMN id TYPE bigint; ALTER SEQUENCE public.counter_id_seq AS bigint;',
      }),
    ]);
    expect(objects(r.findings, 'transaction_id_wraparound')).toEqual([]);
    const wrap = await pgChecks(sql, { only: ['transaction_id_wraparound'], wraparoundMinLeft: 3e9 });
    expect(objects(wrap.findings, 'transaction_id_wraparound')).toContain('public.counter');
    const hit = await pgChecks(sql, { only: ['cache_hit_ratio'], cacheHitRateMin: 1.0001 });
    expect(objects(hit.findings, 'cache_hit_ratio')).toContain('tables');
  });

  it('reports recent statistics resets and marks usage findings low confidence', async () => {
    const sql = db.sql();
    await sql`select pg_stat_reset()`;
    const r = await pgChecks(sql, { only: ['stats_reset', 'unused_index'], unusedIndexMinBytes: 0 });
    expect(r.statsResetAt).toBeInstanceOf(Date);
    expect(r.findings.find((f) => f.check === 'stats_reset')).toMatchObject({ severity: 'info' });
    expect(r.findings.find((f) => f.check === 'unused_index')!.detail).toMatch(/low confidence/);
  });
});

describe('check thresholds (defaults are PgHero)', () => {
  const o = resolveMonitoringOptions('checks');
  const idx = (p: Partial<IndexRow>): IndexRow => ({
    table: 'public.t',
    index: 'public.i',
    table_oid: 1,
    method: 'btree',
    nkeys: 1,
    keys: '1',
    opclasses: '1978',
    exprs: '',
    pred: '',
    unique: false,
    primary: false,
    valid: true,
    scans: 0,
    bytes: 0,
    def: '',
    relpages: 0,
    reltuples: 0,
    fillfactor: 90,
    avg_width: 4,
    block_size: 8192,
    ...p,
  });
  const MB = 1024 * 1024;

  it('unused index: 0 scans and >= 10 MB, never unique', () => {
    expect(unusedIndexes([idx({ bytes: 10 * MB })], o, false)).toHaveLength(1);
    expect(unusedIndexes([idx({ bytes: 10 * MB - 1 })], o, false)).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB, scans: 1 })], o, false)).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB, unique: true })], o, false)).toHaveLength(0);
  });

  it('duplicate index: same method, expressions and predicate only', () => {
    const a = idx({ index: 'a', keys: '1' });
    const b = idx({ index: 'b', keys: '1 2', nkeys: 2, opclasses: '1978 1978' });
    expect(duplicateIndexes([a, b]).map((f) => f.object)).toEqual(['a']);
    expect(duplicateIndexes([a, { ...b, method: 'hash' }])).toEqual([]);
    expect(duplicateIndexes([a, { ...b, pred: '(x > 0)' }])).toEqual([]);
    expect(duplicateIndexes([{ ...a, unique: true }, b])).toEqual([]);
    expect(duplicateIndexes([b, a])).toHaveLength(1);
  });

  it('missing index: < 95% index use with >= 10k rows', () => {
    const t = { table: 't', seq_scans: 6, idx_scans: 94, live: 10_000, dead: 0, bytes: 0 };
    expect(missingIndexes([t], o, false)).toHaveLength(1);
    expect(missingIndexes([{ ...t, seq_scans: 5, idx_scans: 95 }], o, false)).toHaveLength(0);
    expect(missingIndexes([{ ...t, live: 9_999 }], o, false)).toHaveLength(0);
  });

  it('cache hit ratio < 99%, sequences >= 90%, wraparound < 1.5 B, dead-tuple bloat', () => {
    expect(cacheHitRatio({ table_hit: 98, table_read: 2, index_hit: 99, index_read: 1 }, o)).toHaveLength(1);
    const seq = { sequence: 's', seq_max: 9.2e18, column_type: 'integer', table: 't', column: 'id' };
    expect(sequenceOverflow([{ ...seq, last_value: 0.9 * 2147483647 }], o)).toHaveLength(1);
    expect(sequenceOverflow([{ ...seq, last_value: 0.89 * 2147483647 }], o)).toHaveLength(0);
    expect(sequenceOverflow([{ ...seq, last_value: 2147483000 }], o)[0]!.severity).toBe('critical');
    expect(sequenceOverflow([{ ...seq, column_type: 'bigint', last_value: 2147483000 }], o)).toHaveLength(0);
    expect(wraparound([{ table: 't', left: 1_499_999_999 }], o)).toHaveLength(1);
    expect(wraparound([{ table: 't', left: 1_500_000_000 }], o)).toHaveLength(0);
    const row = { table: 't', seq_scans: 0, idx_scans: 0, bytes: 0 };
    expect(tableBloat([{ ...row, live: 40_000, dead: 10_000 }], o)).toHaveLength(1);
    expect(tableBloat([{ ...row, live: 50_000, dead: 9_999 }], o)).toHaveLength(0);
  });
});
