/**
 * explain() must never change data. A matrix: every hostile input x every driver x ANALYZE on/off. Each cell
 * asserts the outcome (refused before anything is sent / explained / server error), that the victim table is
 * exactly as before, that no session is left in a transaction and that the handle still works.
 */
import { PGlite } from '@electric-sql/pglite';
import { sql as dsql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { integer, pgTable } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePgjs } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExplainError, type ExplainOptions, type ExplainResult, explain } from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('query_explain_safety');

const SCHEMA = `
  create table victim (id int primary key, v int not null);
  insert into victim select g, g * 7 from generate_series(1, 1000) g;
  create table victim_log (id int);
  create function wipe_victim() returns int language sql as $$ delete from victim; select 1 $$;
  -- mislabelled IMMUTABLE: the planner runs it while planning a plain EXPLAIN (constant folding)
  create function sneaky_immutable() returns int language plpgsql immutable as
    $$ begin perform wipe_victim(); return 1; end $$;
  create procedure wipe_proc() language sql as $$ delete from victim $$;
  analyze victim;
`;
const victimTable = pgTable('victim', { id: integer('id').primaryKey(), v: integer('v').notNull() });

type Outcome = 'refused' | 'explained' | 'error';
interface Input {
  name: string;
  sql: string;
  params?: unknown[];
  options?: ExplainOptions;
  /** outcome without and with ANALYZE */
  expect: Outcome | { plain: Outcome; analyze: Outcome };
}

const refused = (name: string, sql: string): Input => ({ name, sql, expect: 'refused' });
const explained = (name: string, sql: string, params?: unknown[]): Input => ({
  name,
  sql,
  expect: 'explained',
  ...(params ? { params } : {}),
});
const failing = (name: string, sql: string): Input => ({ name, sql, expect: 'error' });

const inputs: Input[] = [
  // trailing statements
  refused('trailing delete', 'select 1; delete from victim'),
  refused('trailing delete with semicolon', 'select 1; delete from victim;'),
  refused('trailing delete on a new line', 'select 1\n;\ndelete from victim'),
  refused('trailing truncate', 'select count(*) from victim; truncate victim'),
  refused('writing statement first', 'delete from victim; select 1'),
  refused('three statements', 'select 1; select 2; delete from victim'),
  // semicolons hidden from a naive scanner
  refused('semicolon in a block comment, then a real one', 'select 1 /* ; */ ; delete from victim'),
  refused('nested block comment, then a statement', 'select 1 /* a /* b */ c ; */ ; delete from victim'),
  explained('nested block comment hiding a delete', 'select 1 /* a /* b */ ; delete from victim; */'),
  refused('line comment, then a statement', 'select 1 -- ;\n; delete from victim'),
  refused('line comment ended by CR', 'select 1 -- x\r; delete from victim'),
  refused('dollar quote, then a statement', 'select $$;$$; delete from victim'),
  explained('dollar-quoted body holding a delete', 'select $a$ ; delete from victim; $a$'),
  refused(
    '$x$ inside an identifier is no dollar quote',
    'select 1 as a$x$, 2; delete from victim; select $x$',
  ),
  refused('doubled quote in a string', "select 'it''s;'; delete from victim"),
  refused('backslash ends a standard string', "select 'C:\\'; delete from victim; --'"),
  explained('E string with an escaped quote', "select E'\\'; delete from victim; --'"),
  refused('U& string', "select U&'\\0041;'; delete from victim"),
  refused('semicolon in a quoted identifier', 'select 1 as "a;b"; delete from victim'),
  // transaction control injection
  refused('commit; delete', 'commit; delete from victim'),
  refused('rollback; delete', 'rollback; delete from victim'),
  refused('end; delete', 'end; delete from victim'),
  refused('abort; delete', 'abort; delete from victim'),
  refused('select 1; set transaction read write', 'select 1; set transaction read write'),
  refused('set transaction read write; delete', 'set transaction read write; delete from victim'),
  refused(
    'set session read write; delete',
    'set session characteristics as transaction read write; delete from victim',
  ),
  failing('bare commit', 'commit'),
  failing('bare set transaction read write', 'set transaction read write'),
  failing('nested explain analyze', 'explain analyze delete from victim'),
  failing('do block', 'do $$ begin delete from victim; end $$'),
  failing('call procedure', 'call wipe_proc()'),
  failing('prepare', 'prepare p as delete from victim'),
  // single statements that write
  explained('delete', 'delete from victim'),
  explained('delete with a trailing semicolon and comment', 'delete from victim; -- done'),
  explained('delete with a parameter', 'delete from victim where v > $1', [0]),
  explained('update', 'update victim set v = 0'),
  explained('insert select', 'insert into victim select id + 1000, v from victim'),
  explained('merge', 'merge into victim t using victim s on t.id = s.id when matched then delete'),
  explained('select for update', 'select * from victim for update'),
  explained('create table as', 'create table victim_copy as select * from victim'),
  explained('writing function', 'select wipe_victim()'),
  explained('writing function in a subquery', 'select * from victim where id = (select wipe_victim())'),
  explained('writing function in VALUES', 'values ((select wipe_victim()))'),
  explained('CTE with DELETE', 'with d as (delete from victim returning *) select count(*) from d'),
  explained(
    'CTE with UPDATE after a plain CTE',
    'with a as (select 1), d as (update victim set v = v + 1 returning 1) select * from d',
  ),
  explained(
    'set_config then a writing function',
    "select set_config('transaction_read_only', 'off', false), wipe_victim()",
  ),
  {
    name: 'IMMUTABLE-labelled writing function',
    sql: 'select sneaky_immutable()',
    // plain EXPLAIN folds it at plan time: the READ ONLY transaction refuses the delete
    expect: { plain: 'error', analyze: 'explained' },
  },
  // the set option as an injection vector
  {
    name: 'set option trying to turn read-only off',
    sql: 'select sneaky_immutable()',
    options: { set: { transaction_read_only: 'off' } },
    // read-only: "transaction read-write mode must be set before any query"; ANALYZE: rolled back
    expect: { plain: 'error', analyze: 'explained' },
  },
  {
    name: 'set option value with SQL in it',
    sql: 'delete from victim',
    options: { set: { work_mem: "64kB'); delete from victim; --" } },
    expect: 'error',
  },
  {
    name: 'set option name with SQL in it',
    sql: 'select 1',
    options: { set: { "work_mem = '1MB'; delete from victim; --": 'x' } },
    expect: 'refused',
  },
  // nothing to explain
  refused('empty text', ''),
  refused('only a comment', '/* nothing */ -- here'),
  refused('only semicolons', ' ; ; '),
];

interface Driver {
  name: string;
  /** The handle given to explain(). */
  handle: unknown;
  /** Runs explain inside whatever scope the driver needs (e.g. a caller's transaction). */
  run(sql: string, options: ExplainOptions): Promise<ExplainResult>;
  /** Statements sent while explain() was running (not the caller's own BEGIN/COMMIT). */
  sent(): number;
  /** Checksum of the victim table, read on a separate path. */
  checksum(): Promise<string>;
  /** No connection of this driver is inside a transaction. */
  idle(): Promise<boolean>;
  /** The handle still answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const CHECKSUM = `select count(*)::int || ':' || coalesce(sum(v), 0)::bigint || ':' ||
  md5(coalesce(string_agg(id || '=' || v, ',' order by id), '')) ||
  ':' || (to_regclass('victim_copy') is null)::text as c from victim`;

let admin: postgres.Sql;
const serverIdle = async () => {
  const [row] = await admin<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'`;
  return row!.n === 0;
};
const serverChecksum = async () => (await admin.unsafe(CHECKSUM))[0]!.c as string;

/** Server settings every session of a driver starts with (the startup packet / `-c` options / SET). */
type Settings = Record<string, string>;

function pgjsDriver(
  name: string,
  mode: 'pool' | 'drizzle' | 'transaction' | 'reserved',
  settings: Settings = {},
): () => Promise<Driver> {
  return async () => {
    const sent = counter();
    const sql = postgres(db.url, { max: 2, onnotice: () => {}, debug: sent.hit, connection: settings });
    let reserved: postgres.ReservedSql | undefined;
    if (mode === 'reserved') reserved = await sql.reserve();
    const handle = mode === 'drizzle' ? drizzlePgjs(sql) : (reserved ?? sql);
    return {
      name,
      handle,
      async run(text, options) {
        if (mode !== 'transaction') return sent.during(() => explain(handle, text, options));
        let out: ExplainResult | undefined;
        // the caller's own transaction commits afterwards: whatever explain did inside must be gone
        await sql.begin(async (tx) => {
          await tx`select 1`;
          out = await sent
            .during(() => explain(tx, text, options))
            .catch((e: unknown) => {
              throw { wrapped: e };
            });
        });
        return out!;
      },
      sent: sent.get,
      checksum: serverChecksum,
      idle: serverIdle,
      async ping() {
        const target = reserved ?? sql;
        expect((await target`select 1 as x`)[0]!.x).toBe(1);
      },
      async close() {
        reserved?.release();
        await sql.end({ timeout: 2 });
      },
    };
  };
}

function countQueries<T extends { query: (...a: never[]) => unknown }>(c: T, onQuery: () => void): T {
  const original = c.query.bind(c) as (...a: unknown[]) => unknown;
  (c as { query: unknown }).query = (...a: unknown[]) => {
    onQuery();
    return original(...a);
  };
  return c;
}

function pgDriver(
  name: string,
  mode: 'pool' | 'client' | 'drizzle' | 'transaction',
  settings: Settings = {},
): () => Promise<Driver> {
  return async () => {
    const sent = counter();
    const options = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(' ');
    const pool = new pg.Pool({ connectionString: db.url, max: 2, options });
    const wrapped = new WeakSet<object>();
    pool.on('acquire', (c) => {
      if (!wrapped.has(c)) {
        wrapped.add(c);
        countQueries(c, sent.hit);
      }
    });
    const client = mode === 'client' ? new pg.Client({ connectionString: db.url, options }) : undefined;
    if (client) {
      await client.connect();
      countQueries(client, sent.hit);
    }
    const handle = client ?? (mode === 'drizzle' || mode === 'transaction' ? drizzlePg(pool) : pool);
    return {
      name,
      handle,
      async run(text, options) {
        if (mode !== 'transaction') return sent.during(() => explain(handle, text, options));
        let out: ExplainResult | undefined;
        await drizzlePg(pool).transaction(async (tx) => {
          out = await sent
            .during(() => explain(tx, text, options))
            .catch((e: unknown) => {
              throw { wrapped: e };
            });
        });
        return out!;
      },
      sent: sent.get,
      checksum: serverChecksum,
      async idle() {
        return (client ? client.getTransactionStatus() === 'I' : true) && (await serverIdle());
      },
      async ping() {
        const r = await (client ?? pool).query('select 1 as x');
        expect(r.rows[0].x).toBe(1);
      },
      async close() {
        await client?.end();
        await pool.end();
      },
    };
  };
}

function pgliteDriver(
  name: string,
  mode: 'pglite' | 'drizzle' | 'transaction',
  settings: Settings = {},
): () => Promise<Driver> {
  return async () => {
    const sent = counter();
    const p = new PGlite();
    await p.exec(SCHEMA);
    for (const [k, v] of Object.entries(settings)) await p.query('select set_config($1, $2, false)', [k, v]);
    const checksumNow = async () => String((await p.query<{ c: string }>(CHECKSUM)).rows[0]!.c);
    countQueries(p, sent.hit);
    const origTx = p.transaction.bind(p);
    p.transaction = ((fn: (tx: never) => Promise<unknown>) =>
      origTx((tx) => fn(countQueries(tx, sent.hit) as never))) as typeof p.transaction;
    const handle = mode === 'drizzle' ? drizzlePglite(p) : p;
    return {
      name,
      handle,
      async run(text, options) {
        if (mode !== 'transaction') return sent.during(() => explain(handle, text, options));
        const d = drizzlePglite(p);
        let out: ExplainResult | undefined;
        await d.transaction(async (tx) => {
          out = await sent
            .during(() => explain(tx, text, options))
            .catch((e: unknown) => {
              throw { wrapped: e };
            });
        });
        return out!;
      },
      sent: sent.get,
      checksum: checksumNow,
      idle: async () => !p.isInTransaction(),
      async ping() {
        expect((await p.query<{ x: number }>('select 1 as x')).rows[0]!.x).toBe(1);
      },
      close: () => p.close(),
    };
  };
}

const driversWith = (settings: Settings = {}): Array<[string, () => Promise<Driver>]> =>
  (
    [
      ['postgres.js pool', (n) => pgjsDriver(n, 'pool', settings)],
      ['postgres.js inside sql.begin', (n) => pgjsDriver(n, 'transaction', settings)],
      ['postgres.js sql.reserve()', (n) => pgjsDriver(n, 'reserved', settings)],
      ['drizzle over postgres.js', (n) => pgjsDriver(n, 'drizzle', settings)],
      ['node-postgres Pool', (n) => pgDriver(n, 'pool', settings)],
      ['node-postgres Client', (n) => pgDriver(n, 'client', settings)],
      ['drizzle over node-postgres', (n) => pgDriver(n, 'drizzle', settings)],
      ['drizzle node-postgres transaction', (n) => pgDriver(n, 'transaction', settings)],
      ['PGlite', (n) => pgliteDriver(n, 'pglite', settings)],
      ['drizzle over PGlite', (n) => pgliteDriver(n, 'drizzle', settings)],
      ['drizzle PGlite transaction', (n) => pgliteDriver(n, 'transaction', settings)],
    ] as Array<[string, (name: string) => () => Promise<Driver>]>
  ).map(([name, make]) => [name, make(name)]);
const drivers = driversWith();

/**
 * Text the one-statement check counts as one statement but a session with `standard_conforming_strings = off`
 * (a legacy setting some databases still carry) splits in two: there `\'` escapes the quote, so the first string
 * runs on to the second quote and the `;` after it is a separator. Only the extended protocol (one command per
 * message) stands between these and a committed DELETE: with the simple protocol, `commit` ends explain()'s
 * transaction and the delete commits on its own.
 */
const SCS_OFF_INPUTS: Input[] = [
  failing(
    'commit, then delete, behind a backslash quote',
    "select 'x\\' , ' ; commit; delete from victim; -- '",
  ),
  failing(
    'rollback, then truncate, behind a backslash quote',
    "select 'x\\' , ' ; rollback; truncate victim; -- '",
  ),
  failing('delete behind a backslash quote', "select 'x\\' , ' ; delete from victim; -- '"),
];

beforeAll(async () => {
  admin = postgres(db.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(SCHEMA);
}, 60_000);
afterAll(async () => {
  await admin?.end({ timeout: 2 });
});

/** Counts statements only while explain() runs. */
function counter() {
  let n = 0;
  let active = false;
  return {
    hit: () => {
      if (active) n++;
    },
    get: () => n,
    async during<T>(fn: () => Promise<T>): Promise<T> {
      active = true;
      try {
        return await fn();
      } finally {
        active = false;
      }
    },
  };
}

const unwrap = (e: unknown) => (e && typeof e === 'object' && 'wrapped' in e ? e.wrapped : e);

function matrix(title: string, drivers: Array<[string, () => Promise<Driver>]>, inputs: Input[]) {
  for (const [driverName, makeDriver] of drivers) {
    describe(`${title} on ${driverName}`, () => {
      let d: Driver;
      let before: string;
      beforeAll(async () => {
        d = await makeDriver();
        before = await d.checksum();
        expect(before).toMatch(/^1000:3503500:[0-9a-f]{32}:true$/);
      }, 60_000);
      afterAll(async () => {
        await d?.close();
      });

      for (const input of inputs)
        for (const analyze of [false, true]) {
          const want =
            typeof input.expect === 'string' ? input.expect : input.expect[analyze ? 'analyze' : 'plain'];
          it(`${input.name} | analyze ${analyze ? 'on' : 'off'} -> ${want}`, async () => {
            const sentBefore = d.sent();
            const options: ExplainOptions = {
              ...input.options,
              analyze,
              ...(input.params ? { params: input.params } : {}),
            };
            const res = await d.run(input.sql, options).then(
              (r) => ({ ok: true as const, r }),
              (e: unknown) => ({ ok: false as const, e: unwrap(e) }),
            );
            if (want === 'explained') {
              if (!res.ok) throw res.e;
              expect(res.r.rolledBack).toBe(true);
              expect(res.r.readOnly).toBe(!analyze);
              expect(res.r.analyzed).toBe(analyze);
              expect(res.r.plan.nodeType).toBeTruthy();
            } else {
              expect(res.ok).toBe(false);
              const e = (res as { e: unknown }).e;
              expect(e).toBeInstanceOf(ExplainError);
              if (want === 'refused') {
                expect((e as ExplainError).code).toBe(
                  input.options?.set ? 'E_QUERY_EXPLAIN' : 'E_QUERY_EXPLAIN_STATEMENTS',
                );
                expect(d.sent()).toBe(sentBefore); // refused before anything was sent
              } else {
                expect((e as ExplainError).code).toBe('E_QUERY_EXPLAIN');
                expect((e as ExplainError).cause).toMatchObject({
                  code: expect.stringMatching(/^[0-9A-Z]{5}$/),
                });
              }
            }
            expect(await d.checksum()).toBe(before);
            expect(await d.idle()).toBe(true);
            await d.ping();
          });
        }
    });
  }
}

matrix('explain safety', drivers, inputs);
// The second line of defence, on its own: statements the check cannot see must still be refused by the server.
matrix(
  'explain safety with standard_conforming_strings off',
  driversWith({ standard_conforming_strings: 'off' }),
  SCS_OFF_INPUTS,
);

describe('explain safety with drizzle query objects', () => {
  it('refuses a drizzle sql object holding two statements and explains a drizzle delete rolled back', async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const d = drizzlePgjs(sql);
      const before = await serverChecksum();
      const err = await explain(d, dsql.raw('select 1; delete from victim'), { analyze: true }).catch(
        (e: unknown) => e,
      );
      expect((err as ExplainError).code).toBe('E_QUERY_EXPLAIN_STATEMENTS');
      const r = await explain(d, d.delete(victimTable), { analyze: true });
      expect(r.plan.raw.Operation).toBe('Delete');
      expect(r.rolledBack).toBe(true);
      expect(await serverChecksum()).toBe(before);
    } finally {
      await sql.end({ timeout: 2 });
    }
  });
});
