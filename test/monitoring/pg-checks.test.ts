import { describe, expect, it } from 'vitest';
import { type PgFinding, pgChecks, resolveMonitoringOptions } from '../../src/monitoring/index.js';
import {
  cacheHitRatio,
  sequenceOverflow,
  tableBloat,
  wraparound,
} from '../../src/monitoring/pg-check-rules.js';
import type { IndexRow, SequenceRow, TableRow } from '../../src/monitoring/pg-check-types.js';
import { duplicateIndexes, missingIndexes, unusedIndexes } from '../../src/monitoring/pg-index-rules.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('monchecks');
const objects = (fs: PgFinding[], check: string) => fs.filter((f) => f.check === check).map((f) => f.object);

// Rules decided by a threshold, and the unit their value is in: `--json` consumers alert on these.
const THRESHOLD_UNITS: Record<string, string> = {
  unused_index: 'bytes',
  missing_index: 'rows_per_scan',
  cache_hit_ratio: 'ratio',
  relation_size: 'bytes',
  table_bloat: 'ratio',
  index_bloat: 'bytes',
  sequence_overflow: 'ratio',
  transaction_id_wraparound: 'transactions',
  stats_reset: 'ms',
};

describe('pgChecks on a real database', () => {
  it('finds a missing index from sequential scans with the default thresholds, with a confidence', async () => {
    const sql = db.sql();
    await sql.unsafe(`
      create table scanned (id int, c text);
      insert into scanned select g, 'v' || g from generate_series(1, 10000) g;
      create table indexed (id int primary key, c text);
      insert into indexed select g, 'v' || g from generate_series(1, 10000) g;
      create table few (id int, c text);
      insert into few select g, 'v' || g from generate_series(1, 10000) g;
      analyze scanned; analyze indexed; analyze few;`);
    // 50 full scans (PgHero calls <= 50 scans rare) are the evidence; "few" gets 10, which is not enough.
    for (let i = 0; i < 50; i++) await sql`select count(*) from scanned where c = 'nope'`;
    for (let i = 0; i < 50; i++) await sql`select count(*) from indexed where c = 'nope'`;
    for (let i = 0; i < 10; i++) await sql`select count(*) from indexed where id = ${i}`;
    for (let i = 0; i < 10; i++) await sql`select count(*) from few where c = 'nope'`;
    let found: PgFinding[] = [];
    await waitFor('statistics to show the scans', async () => {
      found = (await pgChecks(sql, { only: ['missing_index'] })).findings;
      return found.length === 2;
    });
    const by = Object.fromEntries(found.map((f) => [f.object, f]));
    expect(Object.keys(by).sort()).toEqual(['public.indexed', 'public.scanned']);
    expect(by['public.scanned']).toMatchObject({
      confidence: 'medium',
      threshold: 5000,
      unit: 'rows_per_scan',
    });
    expect(by['public.scanned']!.value).toBeGreaterThan(9000);
    expect(by['public.scanned']!.detail).toMatch(/no index scans at all/);
    expect(by['public.indexed']!.detail).toMatch(/an index is used in 16\.\d% of scans/);
    expect(['high', 'medium', 'low']).toContain(by['public.indexed']!.confidence);
    // Raising the evidence bar hides both.
    const none = await pgChecks(sql, { only: ['missing_index'], missingIndexMinSeqScans: 1000 });
    expect(none.findings).toEqual([]);
  });

  it('lists only large relations for capacity planning (none of these small tables by default)', async () => {
    const sql = db.sql();
    expect((await pgChecks(sql, { only: ['relation_size'] })).findings).toEqual([]);
    const low = await pgChecks(sql, { only: ['relation_size'], relationSizeMinBytes: 100_000 });
    expect(objects(low.findings, 'relation_size')).toContain('public.scanned');
    for (const f of low.findings) expect(f.value).toBeGreaterThanOrEqual(100_000);
  });

  it('reports recent statistics resets and marks usage findings low confidence', async () => {
    const sql = db.sql();
    await sql.unsafe('create table ix (a int); create index ix_a on ix (a)');
    await sql`select pg_stat_reset()`;
    const r = await pgChecks(sql, { only: ['stats_reset', 'unused_index'], unusedIndexMinBytes: 0 });
    expect(r.statsResetAt).toBeInstanceOf(Date);
    expect(r.findings.find((f) => f.check === 'stats_reset')).toMatchObject({ severity: 'info', unit: 'ms' });
    const unused = r.findings.find((f) => f.object === 'public.ix_a')!;
    expect(unused.detail).toMatch(/low confidence/);
    expect(unused.confidence).toBe('low');
    // The confidence follows the statistics age even when stats_reset itself is not asked for.
    const only = await pgChecks(sql, { only: ['unused_index'], unusedIndexMinBytes: 0 });
    expect(only.findings.find((f) => f.object === 'public.ix_a')!.confidence).toBe('low');
  });

  it('gives the row-listing query instead of a fix it cannot vouch for when the probe cannot run', async () => {
    const sql = db.sql();
    await sql.unsafe(`create table probed (x int); insert into probed values (1), (2);
      alter table probed add constraint probed_pos check (x > 0) not valid;`);
    const blind = await pgChecks(sql, { only: ['not_validated_constraint'], probeTimeoutMs: 0 });
    const f = blind.findings.find((x) => x.object === 'public.probed.probed_pos')!;
    expect(f.detail).toMatch(/could not check in time/);
    expect(f.sql).toBe('SELECT * FROM public.probed WHERE NOT ((x > 0)) LIMIT 100;');
    expect(await sql.unsafe(f.sql!)).toHaveLength(0);
    expect(f.suggestion).toContain('ALTER TABLE public.probed VALIDATE CONSTRAINT probed_pos;');
    // With the probe (default 5 s) the rows are known to be fine: the fix itself.
    const probed = await pgChecks(sql, { only: ['not_validated_constraint'] });
    expect(probed.findings.find((x) => x.object === 'public.probed.probed_pos')!.sql).toBe(
      'ALTER TABLE public.probed VALIDATE CONSTRAINT probed_pos;',
    );
  });

  it('gives value, threshold and unit on every finding a threshold decides', async () => {
    const sql = db.sql();
    await sql.unsafe(`
      create table counter (id serial primary key);
      select setval('counter_id_seq', 2000000000);
      create table dead (id int) with (autovacuum_enabled = false);
      insert into dead select generate_series(1, 1000);
      delete from dead where id <= 600;`);
    let r = await pgChecks(sql, { tableBloatMinDeadTuples: 100, unusedIndexMinBytes: 0 });
    await waitFor('dead tuples to be counted', async () => {
      r = await pgChecks(sql, {
        tableBloatMinDeadTuples: 100,
        unusedIndexMinBytes: 0,
        relationSizeMinBytes: 0,
        wraparoundMinLeft: 3e9,
        cacheHitRateMin: 1.0001,
      });
      return r.findings.some((f) => f.check === 'table_bloat');
    });
    expect(r.failed).toEqual([]);
    const seen = new Set<string>();
    for (const f of r.findings) {
      const unit = THRESHOLD_UNITS[f.check];
      if (!unit) continue;
      seen.add(f.check);
      expect(f, `${f.check} ${f.object}`).toMatchObject({ unit });
      expect(typeof f.value, `${f.check} value`).toBe('number');
      expect(typeof f.threshold, `${f.check} threshold`).toBe('number');
    }
    for (const c of [
      'unused_index',
      'relation_size',
      'table_bloat',
      'sequence_overflow',
      'transaction_id_wraparound',
      'cache_hit_ratio',
    ])
      expect(seen, c).toContain(c);
    expect(r.findings.find((f) => f.object === 'public.dead' && f.check === 'table_bloat')).toMatchObject({
      detail: '600 dead tuples (60% of the table)',
      value: 0.6,
      threshold: 0.2,
    });
    // Most severe first.
    const rank = { critical: 0, warning: 1, info: 2 } as const;
    const ranks = r.findings.map((f) => rank[f.severity]);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  });
});

describe('check thresholds (defaults are PgHero)', () => {
  const o = resolveMonitoringOptions('checks');
  const idx = (p: Partial<IndexRow>): IndexRow => ({
    table: 'public.t',
    index: 'public.i',
    index_name: 'i',
    table_oid: 1,
    table_kind: 'r',
    index_kind: 'i',
    method: 'btree',
    nkeys: 1,
    natts: 1,
    keys: '1',
    opclasses: '1978',
    collations: '0',
    options: '0',
    exprs: '',
    pred: '',
    unique: false,
    primary: false,
    exclusion: false,
    immediate: true,
    replica_identity: false,
    nulls_not_distinct: false,
    valid: true,
    building: false,
    attached: false,
    constraint_name: null,
    constraint_type: null,
    fk_refs: 0,
    scans: 0,
    bytes: 0,
    def: '',
    columns: ['a'],
    relpages: 0,
    reltuples: 0,
    fillfactor: 90,
    avg_width: 4,
    block_size: 8192,
    ...p,
  });
  const MB = 1024 * 1024;

  it('unused index: 0 scans and >= 10 MB, never unique or backing a constraint', () => {
    expect(unusedIndexes([idx({ bytes: 10 * MB })], o, 'old')).toHaveLength(1);
    expect(unusedIndexes([idx({ bytes: 10 * MB - 1 })], o, 'old')).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB, scans: 1 })], o, 'old')).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB, unique: true })], o, 'old')).toHaveLength(0);
    expect(
      unusedIndexes([idx({ bytes: 50 * MB, exclusion: true, constraint_name: 'x' })], o, 'old'),
    ).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB, attached: true })], o, 'old')).toHaveLength(0);
    expect(unusedIndexes([idx({ bytes: 50 * MB })], o, 'old')[0]!.confidence).toBe('high');
  });

  it('duplicate index: order, collation, opclass, INCLUDE and uniqueness decide', () => {
    const a = idx({ index: 'a', keys: '1' });
    const b = idx({
      index: 'b',
      keys: '1 2',
      nkeys: 2,
      natts: 2,
      opclasses: '1978 1978',
      collations: '0 0',
      options: '0 0',
    });
    expect(duplicateIndexes([a, b]).map((f) => f.object)).toEqual(['a']);
    expect(duplicateIndexes([b, a]).map((f) => f.object)).toEqual(['a']);
    expect(duplicateIndexes([a, { ...b, method: 'hash' }])).toEqual([]);
    expect(duplicateIndexes([a, { ...b, pred: '(x > 0)' }])).toEqual([]);
    expect(duplicateIndexes([{ ...a, unique: true }, b])).toEqual([]);
    expect(duplicateIndexes([{ ...a, options: '3' }, b]).map((f) => f.object)).toEqual(['a']); // reversed
    expect(duplicateIndexes([{ ...a, options: '1' }, b])).toEqual([]); // DESC NULLS LAST is not a backward scan
    expect(duplicateIndexes([{ ...a, collations: '950' }, b])).toEqual([]);
    expect(duplicateIndexes([{ ...a, opclasses: '3126' }, b])).toEqual([]);
    // a has INCLUDE (3), b lacks column 3: b cannot serve a's index-only scans.
    expect(duplicateIndexes([{ ...a, keys: '1 3', natts: 2 }, b])).toEqual([]);
    // Partial prefix on a non-btree method is not coverage.
    expect(
      duplicateIndexes([
        { ...a, method: 'gin' },
        { ...b, method: 'gin' },
      ]),
    ).toEqual([]);
  });

  it('missing index: evidence (>= 50 seq scans of >= 5k rows each) on >= 10k rows, < 95% index use', () => {
    const t: TableRow = {
      table: 't',
      seq_scans: 60,
      seq_rows: 600_000,
      idx_scans: 1000,
      live: 10_000,
      dead: 0,
      bytes: 0,
    };
    expect(missingIndexes([t], o, 'old')).toHaveLength(1);
    expect(missingIndexes([t], o, 'old')[0]!.confidence).toBe('high');
    expect(missingIndexes([{ ...t, idx_scans: 60 * 19 }], o, 'old')).toHaveLength(0); // 95% exactly
    expect(missingIndexes([{ ...t, live: 9_999 }], o, 'old')).toHaveLength(0);
    expect(missingIndexes([{ ...t, seq_scans: 49, seq_rows: 49 * 10_000 }], o, 'old')).toHaveLength(0);
    expect(missingIndexes([{ ...t, seq_rows: 60 * 4_999 }], o, 'old')).toHaveLength(0); // LIMITed scans
    expect(missingIndexes([{ ...t, idx_scans: 0 }], o, 'old')[0]!.confidence).toBe('medium');
    expect(missingIndexes([t], o, 'recent')[0]!.confidence).toBe('low');
  });

  it('cache hit ratio < 99%, sequences >= 90%, wraparound < 1.5 B, dead-tuple bloat', () => {
    expect(cacheHitRatio({ table_hit: 98, table_read: 2, index_hit: 99, index_read: 1 }, o)).toHaveLength(1);
    const seq: SequenceRow = {
      oid: 1,
      sequence: 's',
      last_value: 0,
      seq_max: 9.2e18,
      seq_min: 1,
      increment: 1,
      start: 1,
      cycle: false,
      seq_type: 'bigint',
    };
    const col = { seq_oid: 1, table: 't', column: 'id', column_type: 'integer', owned: true, seq_name: null };
    expect(sequenceOverflow([{ ...seq, last_value: 0.9 * 2147483647 }], [col], o)).toHaveLength(1);
    expect(sequenceOverflow([{ ...seq, last_value: 0.89 * 2147483647 }], [col], o)).toHaveLength(0);
    expect(sequenceOverflow([{ ...seq, last_value: 2147483000 }], [col], o)[0]!.severity).toBe('critical');
    expect(
      sequenceOverflow([{ ...seq, last_value: 2147483000 }], [{ ...col, column_type: 'bigint' }], o),
    ).toHaveLength(0);
    // Descending sequences run out at their MINVALUE (or the column type's minimum).
    const down = { ...seq, increment: -1, start: -1, seq_min: -9.2e18, seq_max: -1, last_value: -2147000000 };
    expect(sequenceOverflow([down], [col], o)[0]!.sql).toBe('ALTER TABLE t ALTER COLUMN id TYPE bigint;');
    // A CYCLE sequence at its own bound wraps instead of failing.
    expect(sequenceOverflow([{ ...seq, cycle: true, seq_max: 100, last_value: 99 }], [], o)).toHaveLength(0);
    expect(wraparound([{ table: 't', left: 1_499_999_999 }], o)).toHaveLength(1);
    expect(wraparound([{ table: 't', left: 1_500_000_000 }], o)).toHaveLength(0);
    const row = { table: 't', seq_scans: 0, seq_rows: 0, idx_scans: 0, bytes: 0 };
    expect(tableBloat([{ ...row, live: 40_000, dead: 10_000 }], o)).toHaveLength(1);
    expect(tableBloat([{ ...row, live: 50_000, dead: 9_999 }], o)).toHaveLength(0);
  });
});
