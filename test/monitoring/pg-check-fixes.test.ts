/**
 * Every pgChecks rule on a schema built to trigger it, and its suggested `sql` RUN as given: through the simple
 * query protocol on a fresh connection with the default search_path (as `psql -c` would send it), after which
 * the finding must be gone. Where a fix cannot work yet (duplicate keys behind an invalid unique index, rows that
 * break a NOT VALID constraint), the finding's sql is the query that lists those rows: the test runs it, checks
 * it returns them, repairs the data, and then runs the follow-up fix.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PgCheckName,
  type PgCheckOptions,
  type PgFinding,
  pgChecks,
} from '../../src/monitoring/index.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('monfixes');
let fresh: postgres.Sql;

beforeAll(() => {
  fresh = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await fresh.end({ timeout: 2 });
});

interface Scenario {
  name: string;
  check: PgCheckName;
  /** Runs with search_path = the scenario's schema (`$s` is replaced by it). */
  setup: string;
  /** Extra setup that needs several sessions (an interrupted CREATE INDEX CONCURRENTLY, ...). */
  setupFn?: (schema: string) => Promise<void>;
  options?: Partial<PgCheckOptions>;
  /** The finding's object (`$s.` prefixed), or undefined when the rule must find nothing in the schema. */
  object?: string;
  sql?: string | RegExp;
  /** The finding lists rows first: how many, and the repair that makes the real fix possible. */
  rows?: { count: number; repair: string; fix: string };
  /** No sql (the fix needs a decision); what the suggestion must say. */
  noSql?: RegExp;
  expect?: (f: PgFinding) => void;
}

const big = (n: number) => `generate_series(1, ${n})`;

const scenarios: Scenario[] = [
  {
    name: 'prefix duplicate (a) of (a, b)',
    check: 'duplicate_index',
    setup: 'create table t (a int, b int); create index t_a on t (a); create index t_a_b on t (a, b);',
    object: 't_a',
    sql: 'DROP INDEX CONCURRENTLY $s.t_a;',
  },
  {
    name: 'identical plain indexes keep the first by name',
    check: 'duplicate_index',
    setup: 'create table t (b int); create index t_b1 on t (b); create index t_b2 on t (b);',
    object: 't_b2',
    sql: 'DROP INDEX CONCURRENTLY $s.t_b2;',
  },
  {
    name: 'unique index identical to the primary key',
    check: 'duplicate_index',
    setup: 'create table t (id int primary key); create unique index t_id_again on t (id);',
    object: 't_id_again',
    sql: 'DROP INDEX CONCURRENTLY $s.t_id_again;',
  },
  {
    name: 'UNIQUE constraint and an identical unique index: the constraint stays',
    check: 'duplicate_index',
    setup: 'create table t (e text, constraint t_e_key unique (e)); create unique index t_e_idx on t (e);',
    object: 't_e_idx',
    sql: 'DROP INDEX CONCURRENTLY $s.t_e_idx;',
  },
  {
    name: 'UNIQUE constraint covered by a unique index with INCLUDE: DROP CONSTRAINT',
    check: 'duplicate_index',
    setup:
      'create table t (e text, n int, constraint t_e_key unique (e)); create unique index t_e_incl on t (e) include (n);',
    object: 't_e_key',
    sql: 'ALTER TABLE $s.t DROP CONSTRAINT t_e_key;',
  },
  {
    name: 'UNIQUE constraint a foreign key references: no DROP that would fail',
    check: 'duplicate_index',
    // The foreign key is made first, so it references the constraint's index.
    setup: `create table t (e text, n int, constraint t_e_key unique (e)); create table child (e text references t (e));
      create unique index t_e_incl on t (e) include (n);`,
    object: 't_e_key',
    noSql: /foreign key\(s\) reference/,
  },
  {
    name: '(b) INCLUDE (c) covers (b): the plain one goes',
    check: 'duplicate_index',
    setup:
      'create table t (b int, c int); create index t_b on t (b); create index t_b_incl on t (b) include (c);',
    object: 't_b',
    sql: 'DROP INDEX CONCURRENTLY $s.t_b;',
  },
  {
    name: 'every column reversed is the same B-tree scanned backwards',
    check: 'duplicate_index',
    setup:
      'create table t (a int, b int); create index t_rev on t (a desc, b desc); create index t_fwd on t (a, b);',
    object: 't_rev',
    sql: 'DROP INDEX CONCURRENTLY $s.t_rev;',
  },
  {
    name: '(a, b DESC) is not a duplicate of (a, b)',
    check: 'duplicate_index',
    setup:
      'create table t (a int, b int); create index t_ab on t (a, b); create index t_ab_desc on t (a, b desc);',
  },
  {
    name: 'another collation is not a duplicate',
    check: 'duplicate_index',
    setup: `create table t (s text); create index t_s on t (s); create index t_s_c on t (s collate "C");`,
  },
  {
    name: 'another predicate or method is not a duplicate',
    check: 'duplicate_index',
    setup:
      'create table t (a int); create index t_p on t (a) where a > 0; create index t_q on t (a) where a < 0; create index t_h on t using hash (a);',
  },
  {
    name: 'identical indexes on a partitioned table: plain DROP INDEX (CONCURRENTLY is refused there)',
    check: 'duplicate_index',
    setup: `create table m (a int, k int) partition by range (k); create table m1 partition of m for values from (0) to (10);
      create index m_a1 on m (a); create index m_a2 on m (a);`,
    object: 'm_a2',
    sql: 'DROP INDEX $s.m_a2;',
  },
  {
    name: 'unused index on a partitioned table: judged on its partitions, dropped through the parent',
    check: 'unused_index',
    options: { unusedIndexMinBytes: 1 },
    setup: `create table m (a int, k int) partition by range (k); create table m1 partition of m for values from (0) to (10);
      create table m2 partition of m for values from (10) to (20); create index m_a on m (a);
      insert into m select g, g % 20 from generate_series(1, 1000) g;`,
    object: 'm_a',
    sql: 'DROP INDEX $s.m_a;',
  },
  {
    name: 'partitioned index left invalid by CREATE INDEX ON ONLY: no blind fix',
    check: 'invalid_index',
    setup: `create table m (a int, k int) partition by range (k); create table m1 partition of m for values from (0) to (10);
      create index m_only on only m (a);`,
    object: 'm_only',
    noSql: /ATTACH PARTITION/,
  },
  {
    name: 'invalid index from an interrupted CREATE INDEX CONCURRENTLY: REINDEX',
    check: 'invalid_index',
    setup: `create table t (a int); insert into t select ${big(1000)};`,
    setupFn: (s) => interruptedConcurrently(s, `create index concurrently t_a on ${s}.t (a)`),
    object: 't_a',
    sql: 'REINDEX INDEX CONCURRENTLY $s.t_a;',
  },
  {
    name: 'invalid unique index over duplicate keys: list them, dedupe, then REINDEX',
    check: 'invalid_index',
    setup: `create table t (id int, email text); insert into t select g, 'u' || (g % 500) from ${big(1000)} g;
      insert into t values (2000, null), (2001, null);`,
    setupFn: async (s) => {
      await expect(
        fresh.unsafe(`create unique index concurrently t_email on ${s}.t (lower(email))`),
      ).rejects.toMatchObject({
        code: '23505',
      });
    },
    object: 't_email',
    sql: 'SELECT lower(email), count(*) AS copies FROM $s.t WHERE lower(email) IS NOT NULL GROUP BY lower(email) HAVING count(*) > 1 ORDER BY copies DESC LIMIT 100;',
    rows: {
      count: 100,
      repair: 'delete from $s.t where id > 500 and id < 2000',
      fix: 'REINDEX INDEX CONCURRENTLY $s.t_email;',
    },
  },
  {
    name: 'leftover _ccnew of an interrupted REINDEX CONCURRENTLY: DROP',
    check: 'invalid_index',
    setup: `create table t (a int); insert into t select ${big(1000)}; create unique index t_u on t (a);`,
    setupFn: (s) => interruptedConcurrently(s, `reindex index concurrently ${s}.t_u`),
    object: 't_u_ccnew',
    sql: 'DROP INDEX CONCURRENTLY $s.t_u_ccnew;',
  },
  {
    name: 'NOT VALID check that existing rows satisfy: VALIDATE',
    check: 'not_validated_constraint',
    setup:
      'create table t (x int); insert into t values (1), (2); alter table t add constraint x_pos check (x > 0) not valid;',
    object: 't.x_pos',
    sql: 'ALTER TABLE $s.t VALIDATE CONSTRAINT x_pos;',
  },
  {
    name: 'NOT VALID check that rows break: list them, fix, VALIDATE',
    check: 'not_validated_constraint',
    setup: `create table t (x int); insert into t values (1), (-1), (-2), (null);
      alter table t add constraint x_pos check (x > 0) not valid;`,
    object: 't.x_pos',
    sql: 'SELECT * FROM $s.t WHERE NOT ((x > 0)) LIMIT 100;',
    rows: {
      count: 2,
      repair: 'update $s.t set x = -x where x < 0',
      fix: 'ALTER TABLE $s.t VALIDATE CONSTRAINT x_pos;',
    },
  },
  {
    name: 'NOT VALID foreign key with orphans: list them, delete, VALIDATE',
    check: 'not_validated_constraint',
    setup: `create table p (id int primary key); insert into p values (1);
      create table c (id int primary key, pid int); insert into c values (1, 1), (2, 7), (3, null);
      create index c_pid on c (pid);
      alter table c add constraint c_pid_fkey foreign key (pid) references p (id) not valid;`,
    object: 'c.c_pid_fkey',
    sql: 'SELECT c.* FROM $s.c AS c WHERE c.pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM $s.p AS p WHERE p.id = c.pid) LIMIT 100;',
    rows: {
      count: 1,
      repair: 'delete from $s.c where id = 2',
      fix: 'ALTER TABLE $s.c VALIDATE CONSTRAINT c_pid_fkey;',
    },
  },
  {
    name: 'foreign key without an index: CREATE INDEX CONCURRENTLY',
    check: 'foreign_key_without_index',
    setup:
      'create table p (id int primary key); create table c (id int primary key, pid int references p (id));',
    object: 'c.c_pid_fkey',
    sql: 'CREATE INDEX CONCURRENTLY ON $s.c (pid);',
  },
  {
    name: 'foreign key without an index on a partitioned table: plain CREATE INDEX',
    check: 'foreign_key_without_index',
    setup: `create table p (id int primary key);
      create table m (pid int references p (id), k int) partition by range (k);
      create table m1 partition of m for values from (0) to (100);`,
    object: 'm.m_pid_fkey',
    sql: 'CREATE INDEX ON $s.m (pid);',
  },
  {
    name: 'unused index of 10+ MB (default threshold)',
    check: 'unused_index',
    setup: `create table t (id int primary key, a int); insert into t select g, g from ${big(500_000)} g;
      create index t_a on t (a);`,
    object: 't_a',
    sql: 'DROP INDEX CONCURRENTLY $s.t_a;',
    expect: (f) => {
      expect(f).toMatchObject({ unit: 'bytes', threshold: 10 * 1024 * 1024 });
      expect(f.value).toBeGreaterThanOrEqual(10 * 1024 * 1024);
      expect(['medium', 'high']).toContain(f.confidence);
    },
  },
  {
    name: 'table without primary key, with a unique NOT NULL index: promote it',
    check: 'no_primary_key',
    setup:
      "create table t (code text not null, n int); create unique index t_code on t (code); insert into t values ('a', 1);",
    object: 't',
    sql: 'ALTER TABLE $s.t ADD PRIMARY KEY USING INDEX t_code;',
  },
  {
    name: 'table without primary key or candidate: identity column',
    check: 'no_primary_key',
    setup: "create table t (id text, n int); insert into t values ('x', 1), ('x', 1);",
    object: 't',
    sql: 'ALTER TABLE $s.t ADD COLUMN row_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;',
  },
  {
    name: 'partitioned table without primary key: no blind fix',
    check: 'no_primary_key',
    setup:
      'create table m (k int, v text) partition by range (k); create table m1 partition of m for values from (0) to (10);',
    object: 'm',
    noSql: /partition key/,
  },
  {
    name: 'autovacuum disabled on a table and its TOAST table',
    check: 'autovacuum_disabled',
    setup: 'create table t (x text) with (autovacuum_enabled = false, toast.autovacuum_enabled = off);',
    object: 't',
    sql: 'ALTER TABLE $s.t RESET (autovacuum_enabled, toast.autovacuum_enabled);',
  },
  {
    name: 'serial near the int maximum',
    check: 'sequence_overflow',
    setup: "create table t (id serial primary key); select setval('t_id_seq', 2000000000);",
    object: 't_id_seq',
    sql: 'ALTER TABLE $s.t ALTER COLUMN id TYPE bigint; ALTER SEQUENCE $s.t_id_seq AS bigint;',
    expect: (f) => expect(f).toMatchObject({ severity: 'warning', unit: 'ratio', threshold: 0.9 }),
  },
  {
    name: 'DEFAULT nextval() without OWNED BY at 99.97% of int (PgHero parses defaults too)',
    check: 'sequence_overflow',
    setup: `create sequence shared_seq; create table t (id int default nextval('shared_seq'), v text);
      select setval('shared_seq', 2146839000);`,
    object: 'shared_seq',
    sql: 'ALTER TABLE $s.t ALTER COLUMN id TYPE bigint;',
    expect: (f) => {
      expect(f.severity).toBe('critical');
      expect(f.detail).toMatch(/without OWNED BY/);
      expect(f.value).toBeCloseTo(2146839000 / 2147483647, 6);
    },
  },
  {
    name: 'old-style text default nextval((...)::text) is parsed as well',
    check: 'sequence_overflow',
    // Text-form defaults are resolved on the inserter's search_path: matched by name, as PgHero does.
    setup: `create sequence "Odd seq"; create table t (id smallint default nextval(('"Odd seq"'::text)::regclass));
      select setval('"Odd seq"', 32000);`,
    object: '"Odd seq"',
    sql: 'ALTER TABLE $s.t ALTER COLUMN id TYPE bigint;',
  },
  {
    name: 'identity column near the int maximum',
    check: 'sequence_overflow',
    setup:
      "create table t (id int generated always as identity); select setval(pg_get_serial_sequence('t', 'id'), 2100000000);",
    object: 't_id_seq',
    sql: 'ALTER TABLE $s.t ALTER COLUMN id TYPE bigint; ALTER SEQUENCE $s.t_id_seq AS bigint;',
  },
  {
    name: "a sequence's own MAXVALUE",
    check: 'sequence_overflow',
    setup:
      "create sequence capped maxvalue 1000; create table t (id bigint default nextval('capped')); select setval('capped', 950);",
    object: 'capped',
    sql: 'ALTER SEQUENCE $s.capped NO MAXVALUE;',
  },
  {
    name: 'dead tuples: VACUUM',
    check: 'table_bloat',
    options: { tableBloatMinDeadTuples: 100 },
    setup: `create table t (id int) with (autovacuum_enabled = false); insert into t select ${big(1000)}; delete from t where id <= 600;`,
    object: 't',
    sql: 'VACUUM (ANALYZE) $s.t;',
  },
  {
    name: 'bloated B-tree: REINDEX CONCURRENTLY',
    check: 'index_bloat',
    options: { indexBloatMinBytes: 100_000 },
    setup: `create table t (id int) with (autovacuum_enabled = false); insert into t select ${big(20000)};
      create index t_id on t (id); delete from t where id % 10 <> 0; vacuum t; analyze t;`,
    object: 't_id',
    sql: 'REINDEX INDEX CONCURRENTLY $s.t_id;',
  },
];

/** Starts `statement` (a CONCURRENTLY build) while a snapshot is held open, and cancels it while it waits. */
async function interruptedConcurrently(schema: string, statement: string): Promise<void> {
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  const builder = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: `cic-${schema}` },
  });
  try {
    const r = await holder.reserve();
    await r`begin isolation level repeatable read`;
    await r`select 1`;
    const done = builder.unsafe(statement).then(
      () => null,
      (e: unknown) => e,
    );
    await waitFor('the concurrent build to wait', async () => {
      const [w] = await fresh`select count(*)::int as n from pg_stat_activity
        where application_name = ${`cic-${schema}`} and wait_event_type is not null and state = 'active'`;
      return (w?.n ?? 0) > 0;
    });
    await fresh`select pg_cancel_backend(pid) from pg_stat_activity where application_name = ${`cic-${schema}`}`;
    expect(await done).toMatchObject({ code: '57014' });
    await r`rollback`;
    r.release();
  } finally {
    await holder.end({ timeout: 2 });
    await builder.end({ timeout: 2 });
  }
}

/** Runs setup statements one by one (VACUUM and CONCURRENTLY cannot share an implicit transaction). */
async function runSetup(schema: string, script: string): Promise<void> {
  const r = await db.sql().reserve();
  try {
    await r.unsafe(`create schema ${schema}`);
    await r.unsafe(`set search_path = ${schema}`);
    for (const stmt of script
      .split(/;(?=\s|$)/)
      .map((x) => x.trim())
      .filter(Boolean))
      await r.unsafe(stmt);
  } finally {
    await r.unsafe('reset search_path').catch(() => {});
    r.release();
  }
}

const inSchema = (fs: PgFinding[], schema: string) =>
  fs.filter((f) => f.object.startsWith(`${schema}.`) || f.object.startsWith(`"${schema}".`));
const sub = (x: string, s: string) => x.replaceAll('$s', s);

async function findingsOf(check: PgCheckName, schema: string, options: Partial<PgCheckOptions> = {}) {
  const r = await pgChecks(db.sql(), { ...options, only: [check] });
  expect(r.failed).toEqual([]);
  return inSchema(r.findings, schema).filter((f) => f.check === check);
}

describe('every rule on a schema built to trigger it, and its fix run as given', () => {
  for (const [i, sc] of scenarios.entries()) {
    it(`${sc.check}: ${sc.name}`, async () => {
      const schema = `fx${i}`;
      await runSetup(schema, sub(sc.setup, schema));
      await sc.setupFn?.(schema);
      if (!sc.object) {
        expect(await findingsOf(sc.check, schema, sc.options)).toEqual([]);
        return;
      }
      const object = `${schema}.${sc.object}`;
      // Usage statistics reach the views within about a second (Postgres 15 flushes them asynchronously).
      let found: PgFinding[] = [];
      await waitFor(`${sc.check} to report ${object}`, async () => {
        found = await findingsOf(sc.check, schema, sc.options);
        return found.length > 0;
      });
      expect(found.map((f) => f.object)).toEqual([object]);
      const f = found[0]!;
      sc.expect?.(f);
      if (sc.noSql) {
        expect(f.sql).toBeUndefined();
        expect(f.suggestion).toMatch(sc.noSql);
        return;
      }
      const want = typeof sc.sql === 'string' ? sub(sc.sql, schema) : sc.sql;
      if (typeof want === 'string') expect(f.sql).toBe(want);
      else expect(f.sql).toMatch(want!);
      // Run the suggested sql exactly as given, then (for row-listing findings) repair and run the follow-up.
      const out = await fresh.unsafe(f.sql!);
      if (sc.rows) {
        expect(out.length).toBe(sc.rows.count);
        await db.sql().unsafe(sub(sc.rows.repair, schema));
        found = await findingsOf(sc.check, schema, sc.options);
        expect(found.map((x) => x.object)).toEqual([object]);
        expect(found[0]!.sql).toBe(sub(sc.rows.fix, schema));
        await fresh.unsafe(found[0]!.sql!);
      }
      await waitFor(`${sc.check} on ${object} to be fixed`, async () => {
        return (await findingsOf(sc.check, schema, sc.options)).length === 0;
      });
    });
  }
});
