/**
 * instrument() (dbkit/query) and monitorPool() (dbkit/monitoring) ride one hook layer: every stack of the two
 * wrappers, in any order and repeated, and the client manager's client (both, by default), works on every
 * kind of query postgres.js (and drizzle, and dbkit/bulk on top of it) can run. The matrix is generated: wrapper stacks x query kinds; each cell checks the result,
 * the events tracking saw, the monitor's counters, that it settled in bounded time and that the pool is
 * still usable.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify, types } from 'node:util';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkInsert } from '../../src/bulk/index.js';
import { type ClientManager, createClientManager } from '../../src/clients/index.js';
import { rawSql } from '../../src/internal/pg-hooks.js';
import { monitorPool, type PoolMonitor } from '../../src/monitoring/index.js';
import { instrument, isInstrumented, type QueryEvent, trackQueries } from '../../src/query/index.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('compose');
const items = pgTable('items', { id: integer('id').primaryKey(), name: text('name').notNull() });
const bulkRows = pgTable('bulk_rows', { id: integer('id').primaryKey(), name: text('name').notNull() });

let raw: postgres.Sql;
let sqlFile: string;
const managers: ClientManager[] = [];

beforeAll(async () => {
  raw = postgres(db.url, { max: 4, onnotice: () => {} });
  await raw`create table items (id int primary key, name text not null)`;
  await raw`insert into items select g, 'item ' || g from generate_series(1, 50) g`;
  await raw`create table scratch (id int, name text)`;
  await raw`create table bulk_rows (id int primary key, name text not null)`;
  sqlFile = join(tmpdir(), `dbkit-compose-${process.pid}.sql`);
  writeFileSync(sqlFile, 'select 41 + 1 as answer');
});
afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 3000 })));
  await raw.end({ timeout: 2 });
});

type Op = 'I' | 'M';

/** Every sequence of 1 to 3 wrappings: I, M, IM, MI, II, MM, IMI, ... (applied left to right). */
const stacks: Op[][] = [];
for (let len = 1; len <= 3; len++) {
  for (let bits = 0; bits < 2 ** len; bits++)
    stacks.push(Array.from({ length: len }, (_, i) => ((bits >> i) & 1 ? 'M' : 'I')));
}

interface Built {
  sql: postgres.Sql;
  events: QueryEvent[];
  monitor: Pick<PoolMonitor, 'stats'> | undefined;
  tracked: boolean;
}

/** The client manager's client with its defaults (tracked and monitored), a pool of its own. */
function buildManager(): Built {
  const events: QueryEvent[] = [];
  const m = createClientManager({
    env: {},
    databaseUrl: db.url,
    pool: { max: 4 },
    track: { onQuery: (e) => events.push(e) },
  });
  managers.push(m);
  return {
    sql: m.sql() as unknown as postgres.Sql,
    events,
    monitor: { stats: () => m.poolHealth().stats },
    tracked: true,
  };
}

function build(ops: Op[]): Built {
  const events: QueryEvent[] = [];
  let sql = raw;
  const monitors: PoolMonitor[] = [];
  for (const op of ops) {
    if (op === 'I') sql = instrument(sql, { onQuery: (e) => events.push(e) });
    else {
      const m = monitorPool(sql);
      monitors.push(m);
      sql = m.sql;
    }
  }
  // Wrapping again with the same kind returns the same wrapper: one monitor, one tracker, no double counts.
  expect(new Set(monitors.map((m) => m.stats)).size).toBeLessThanOrEqual(1);
  return { sql, events, monitor: monitors[0], tracked: ops.includes('I') };
}

/** What a query kind must produce, checked against both wrappers (and the client manager's client). */
interface Expected {
  /** [kind, connection, command] of each tracked query, in completion order (undefined: not checked exactly). */
  events?: Array<[QueryEvent['kind'], QueryEvent['connection'], string | null]>;
  /** At least this many queries (when the exact list depends on dbkit/bulk's plan). */
  minEvents?: number;
  errors?: number;
  rows?: number[];
}

interface Kind {
  name: string;
  run(sql: postgres.Sql, b: Built): Promise<void>;
  expect: Expected;
}

const kinds: Kind[] = [
  {
    name: 'tagged template',
    async run(sql) {
      const rows = await sql`select id from items where id <= ${3} order by id`;
      expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    },
    expect: { events: [['query', 'pool', 'SELECT']], rows: [3] },
  },
  {
    name: 'tagged template .values() with a nested fragment',
    async run(sql) {
      const rows = await sql`select ${sql('name')} from items where id = ${1}`.values();
      expect(rows).toEqual([['item 1']]);
    },
    expect: { events: [['query', 'pool', 'SELECT']], rows: [1] },
  },
  {
    name: 'unsafe',
    async run(sql) {
      expect(await sql.unsafe('select count(*)::int as n from items')).toEqual([{ n: 50 }]);
      expect(await sql.unsafe('select name from items where id = $1', [2])).toEqual([{ name: 'item 2' }]);
    },
    expect: {
      events: [
        ['query', 'pool', 'SELECT'],
        ['query', 'pool', 'SELECT'],
      ],
    },
  },
  {
    name: 'file',
    async run(sql) {
      expect(await sql.file(sqlFile)).toEqual([{ answer: 42 }]);
    },
    expect: { events: [['query', 'pool', 'SELECT']] },
  },
  {
    name: 'drizzle select and transaction',
    async run(sql) {
      const d = drizzle(sql);
      expect(await d.select().from(items).where(eq(items.id, 4))).toEqual([{ id: 4, name: 'item 4' }]);
      await d.transaction(async (tx) => {
        await tx.update(items).set({ name: 'item 5' }).where(eq(items.id, 5));
      });
    },
    expect: {
      events: [
        ['query', 'pool', 'SELECT'],
        ['query', 'transaction', 'UPDATE'],
      ],
    },
  },
  {
    name: 'begin',
    async run(sql) {
      const r = await sql.begin(async (tx) => {
        await tx`insert into scratch values (1, 'a')`;
        return tx`select count(*)::int as n from scratch where id = 1`;
      });
      expect(r[0]!.n).toBeGreaterThanOrEqual(1);
    },
    expect: {
      events: [
        ['query', 'transaction', 'INSERT'],
        ['query', 'transaction', 'SELECT'],
      ],
    },
  },
  {
    name: 'begin with a failing query (rolled back)',
    async run(sql) {
      await expect(
        sql.begin(async (tx) => {
          await tx`insert into scratch values (2, 'b')`;
          await tx`select * from no_such_table`;
        }),
      ).rejects.toMatchObject({ code: '42P01' });
    },
    expect: {
      events: [
        ['query', 'transaction', 'INSERT'],
        ['query', 'transaction', null],
      ],
      errors: 1,
    },
  },
  {
    name: 'savepoint',
    async run(sql) {
      await sql.begin(async (tx) => {
        await tx`insert into scratch values (3, 'c')`;
        await tx.savepoint(async (sp) => {
          await sp`update scratch set name = 'sp' where id = 3`;
        });
      });
    },
    expect: {
      events: [
        ['query', 'transaction', 'INSERT'],
        ['query', 'transaction', 'UPDATE'],
      ],
    },
  },
  {
    name: 'reserve',
    async run(sql, b) {
      const r = await sql.reserve();
      try {
        if (b.monitor) expect(b.monitor.stats().reserved).toBe(1);
        await r`select 1`;
        await r.unsafe('select 2');
      } finally {
        r.release();
      }
      if (b.monitor) expect(b.monitor.stats().reserved).toBe(0);
    },
    expect: {
      events: [
        ['query', 'reserved', 'SELECT'],
        ['query', 'reserved', 'SELECT'],
      ],
    },
  },
  {
    name: 'cursor (async iterator)',
    async run(sql) {
      const sizes: number[] = [];
      for await (const rows of sql`select id from items order by id`.cursor(20)) sizes.push(rows.length);
      expect(sizes).toEqual([20, 20, 10]);
    },
    expect: { events: [['cursor', 'pool', 'SELECT']] },
  },
  {
    name: 'cursor left early (break)',
    async run(sql, b) {
      for await (const rows of sql`select id from items order by id`.cursor(5)) {
        expect(rows).toHaveLength(5);
        break;
      }
      // postgres.js closes the portal after the loop has moved on: the query ends one round trip later.
      await waitFor('the cursor to close', async () =>
        b.tracked ? b.events.length === 1 : b.monitor!.stats().inFlight === 0,
      );
    },
    expect: { events: [['cursor', 'pool', null]] },
  },
  {
    name: 'cursor with a callback',
    async run(sql) {
      let n = 0;
      await sql`select id from items`.cursor(16, (rows) => {
        n += rows.length;
      });
      expect(n).toBe(50);
    },
    expect: { events: [['cursor', 'pool', 'SELECT']] },
  },
  {
    name: 'forEach',
    async run(sql) {
      let n = 0;
      const r = await sql`select id from items`.forEach(() => {
        n++;
      });
      expect(n).toBe(50);
      expect(r.count).toBe(50);
    },
    expect: { events: [['query', 'pool', 'SELECT']], rows: [50] },
  },
  {
    name: 'COPY from stdin and to stdout',
    async run(sql) {
      await sql`delete from scratch where id >= 100`;
      const w = await sql`copy scratch (id, name) from stdin`.writable();
      await pipeline(Readable.from(['100\tx\n', '101\ty\n', '102\tz\n']), w);
      const r = await sql`copy (select * from scratch where id >= 100 order by id) to stdout`.readable();
      let out = '';
      for await (const chunk of r) out += chunk.toString();
      expect(out).toBe('100\tx\n101\ty\n102\tz\n');
      // The readable's command result follows its last chunk.
      await new Promise((res) => setTimeout(res, 20));
    },
    expect: {
      events: [
        ['query', 'pool', 'DELETE'],
        ['copy', 'pool', 'COPY'],
        ['copy', 'pool', 'COPY'],
      ],
      rows: [-1, 3, 3],
    },
  },
  {
    name: 'failing query',
    async run(sql) {
      await expect(sql`select * from no_such_table`).rejects.toMatchObject({ code: '42P01' });
      await expect(sql.unsafe('select 1/0')).rejects.toMatchObject({ code: '22012' });
    },
    expect: {
      events: [
        ['query', 'pool', null],
        ['query', 'pool', null],
      ],
      errors: 2,
    },
  },
  {
    name: 'cancel while running',
    async run(sql) {
      const q = sql`select pg_sleep(10)`;
      q.execute();
      setTimeout(() => void q.cancel(), 100);
      await expect(q).rejects.toMatchObject({ code: '57014' });
      // A CancelRequest can reach the backend a second time (the postmaster signals the backend and its
      // process group) and cancel whatever runs next on that connection; reproduced with plain postgres.js.
      // Let it land while the connection is idle, where Postgres ignores it, before the next cell runs.
      await new Promise((r) => setTimeout(r, 300));
    },
    expect: { events: [['query', 'pool', null]], errors: 1 },
  },
  {
    name: 'cancel before it ran',
    async run(sql) {
      const q = sql`select 1`;
      await q.cancel();
      await expect(q).rejects.toMatchObject({ code: '57014' });
    },
    expect: { events: [] },
  },
  {
    name: 'dbkit/bulk bulkInsert (COPY, 1,500 rows, atomic)',
    async run(sql) {
      const d = drizzle(sql);
      await sql`truncate bulk_rows`;
      const rows = Array.from({ length: 1500 }, (_, i) => ({ id: i + 1, name: `r${i}` }));
      const r = await bulkInsert(d, bulkRows, rows);
      expect(r.method).toBe('copy');
      expect(r.rows).toBe(1500);
      const [{ n }] = (await sql`select count(*)::int as n from bulk_rows`) as unknown as [{ n: number }];
      expect(n).toBe(1500);
    },
    expect: { minEvents: 3 },
  },
];

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: not settled in ${ms} ms`)), ms),
    ),
  ]);

describe('instrument x monitorPool: every wrapper stack on every query kind', () => {
  for (const ops of [...stacks, 'manager' as const]) {
    for (const kind of kinds) {
      it(`${ops === 'manager' ? 'manager.sql()' : ops.join('∘')} / ${kind.name}`, async () => {
        const b = ops === 'manager' ? buildManager() : build(ops);
        const before = b.monitor?.stats().total;
        const tracked = await withTimeout(
          trackQueries(() => kind.run(b.sql, b)),
          15_000,
          kind.name,
        );
        const e = kind.expect;
        // Tracking: onQuery and trackQueries saw each query exactly once.
        if (b.tracked) {
          expect(tracked.queries).toEqual(b.events);
          if (e.events) {
            expect(b.events.map((x) => [x.kind, x.connection, x.command])).toEqual(e.events);
            expect(b.events.filter((x) => x.error !== undefined)).toHaveLength(e.errors ?? 0);
            if (e.rows)
              e.rows.forEach((n, i) => {
                if (n >= 0) expect(b.events[i]!.rows).toBe(n);
              });
          } else expect(b.events.length).toBeGreaterThanOrEqual(e.minEvents ?? 1);
          for (const x of b.events) {
            expect(x.durationMs).toBeGreaterThanOrEqual(0);
            expect(x.sql.length).toBeGreaterThan(0);
          }
        } else {
          expect(tracked.queries).toHaveLength(0);
          expect(isInstrumented(b.sql)).toBe(false);
        }
        // Monitoring: one count per query, nothing left in flight, no open transaction or reservation.
        if (b.monitor) {
          const s = b.monitor.stats();
          const queries = s.total.queries - before!.queries;
          if (e.events) expect(queries).toBe(e.events.length);
          else expect(queries).toBeGreaterThanOrEqual(e.minEvents ?? 1);
          if (b.tracked) expect(queries).toBe(b.events.length);
          expect(s.total.errors - before!.errors).toBe(e.errors ?? 0);
          expect(s).toMatchObject({ inFlight: 0, pending: 0, transactions: 0, reserved: 0 });
        }
        // The pool is still usable through the stack.
        expect(await withTimeout(b.sql`select 1 as ok`, 5000, 'select after')).toEqual([{ ok: 1 }]);
      });
    }
  }

  it('keeps a one-connection pool usable after queries cancelled before they ran (postgres.js leaks it)', async () => {
    const one = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const sql = instrument(monitorPool(one).sql);
      for (let i = 0; i < 3; i++) {
        const q = sql`select ${i}::int as i`;
        await q.cancel();
        await expect(q).rejects.toMatchObject({ code: '57014' });
      }
      expect(await withTimeout(sql`select 7 as n`, 5000, 'query after cancels')).toEqual([{ n: 7 }]);
    } finally {
      await one.end({ timeout: 1 });
    }
  });

  it('runs both orders and doubled wrappers in a child process: exit 0, nothing uncaught on stderr', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/compose-child.ts');
    const child = promisify(execFile)(process.execPath, ['--import', 'tsx', fixture, db.url], {
      timeout: 25_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const { stdout, stderr } = await child;
    expect(stderr).toBe('');
    const counts = JSON.parse(stdout.trim()) as Record<string, { tracked: number; counted: number }>;
    expect(Object.values(counts)).toEqual([
      { tracked: 4, counted: 4 },
      { tracked: 4, counted: 4 },
      { tracked: 4, counted: 4 },
    ]);
  });

  it('does not see queries of the raw client or of another view', async () => {
    const a = build(['I', 'M']);
    const other = build(['M', 'I']);
    const t = await trackQueries(async () => {
      await raw`select 1`;
      await a.sql`select 2`;
    });
    expect(t.queries.map((q) => q.sql)).toEqual(['select 2']);
    expect(a.events).toHaveLength(1);
    expect(other.events).toHaveLength(0);
    expect(other.monitor!.stats().total.queries).toBe(0);
    expect(a.monitor!.stats().total.queries).toBe(1);
  });
});

/** Every own property's attributes, and its value where the view does not replace it. */
function shape(o: object, replaced: ReadonlyArray<string>): unknown[] {
  return Reflect.ownKeys(o).map((key) => {
    const d = Object.getOwnPropertyDescriptor(o, key)!;
    const kept = typeof key === 'string' && replaced.includes(key) ? 'replaced' : d.value;
    return [key, d.writable, d.enumerable, d.configurable, 'value' in d ? kept : [d.get, d.set]];
  });
}
const HOOKED = ['unsafe', 'file', 'begin', 'savepoint', 'reserve', 'notify', 'release'];

describe('a view stays an ordinary object to reflection', () => {
  // postgres.js' CJS build (what require('postgres') loads) is sloppy-mode code: its `sql` function has own
  // non-configurable `arguments` and `caller`. A view whose Proxy target is not the raw client breaks the Proxy
  // invariants there, and spreading or cloning the client throws.
  const require = createRequire(import.meta.url);
  const builds = {
    esm: postgres,
    cjs: require('postgres') as typeof postgres,
  };
  for (const [build, make] of Object.entries(builds))
    it(`${build} build: spread, descriptors and keys of instrument(monitorPool(sql)) match the raw client's`, async () => {
      const raw = make('postgres://127.0.0.1:1/none', { max: 1 });
      try {
        const view = instrument(monitorPool(raw).sql);
        expect(Object.keys({ ...view }).sort()).toEqual(Object.keys({ ...raw }).sort());
        expect(Object.keys(Object.getOwnPropertyDescriptors(view)).sort()).toEqual(
          Object.keys(Object.getOwnPropertyDescriptors(raw)).sort(),
        );
        expect(Reflect.ownKeys(view)).toEqual(Reflect.ownKeys(raw));
        expect(shape(view, HOOKED)).toEqual(shape(raw, HOOKED));
        expect(typeof view).toBe('function');
        // Not a Proxy: calling one (even without traps) made every query's objects survive V8's young-generation
        // collections (see makeView in src/internal/pg-hooks.ts).
        expect(types.isProxy(view)).toBe(false);
        // The hooked entry points are the view's; everything else is the raw client's own value.
        for (const key of ['unsafe', 'file', 'begin', 'reserve', 'notify'] as const)
          expect(view[key], key).not.toBe(raw[key]);
        expect(view.options).toBe(raw.options);
        expect(view.array).toBe(raw.array);
        expect(view.name).toBe(raw.name);
        expect(view.length).toBe(raw.length);
        // A property put on the raw client after wrapping is still read through the view.
        (raw as unknown as Record<string, unknown>).addedLater = 42;
        expect((view as unknown as Record<string, unknown>).addedLater).toBe(42);
      } finally {
        await raw.end({ timeout: 0 });
      }
    });

  for (const [build, make] of Object.entries(builds))
    it(`${build} build: transaction, savepoint and reserved views mirror their raw objects' keys`, async () => {
      const client = make(db.url, { max: 2, onnotice: () => {} });
      try {
        const view = instrument(monitorPool(client).sql);
        const seen: string[] = [];
        await view.begin(async (tx) => {
          expect(types.isProxy(tx)).toBe(false);
          expect(rawSql(tx)).not.toBe(tx);
          expect(Reflect.ownKeys(tx)).toEqual(Reflect.ownKeys(rawSql(tx)));
          expect(shape(tx, HOOKED)).toEqual(shape(rawSql(tx), HOOKED));
          for (const key of ['unsafe', 'file', 'savepoint', 'notify'] as const)
            expect(tx[key], key).not.toBe(rawSql(tx)[key]);
          const [a] = await tx`select 1 as a`;
          seen.push(`tx ${a!.a}`);
          await tx.savepoint(async (sp) => {
            expect(rawSql(sp)).not.toBe(sp);
            expect(Reflect.ownKeys(sp)).toEqual(Reflect.ownKeys(rawSql(sp)));
            expect(shape(sp, HOOKED)).toEqual(shape(rawSql(sp), HOOKED));
            const [b] = await sp.unsafe('select 2 as b');
            seen.push(`sp ${b!.b}`);
          });
        });
        const reserved = await view.reserve();
        try {
          expect(rawSql(reserved)).not.toBe(reserved);
          expect(reserved.release).not.toBe(rawSql(reserved).release);
          expect(Reflect.ownKeys(reserved)).toEqual(Reflect.ownKeys(rawSql(reserved)));
          expect(shape(reserved, HOOKED)).toEqual(shape(rawSql(reserved), HOOKED));
          const [c] = await reserved`select 3 as c`;
          seen.push(`reserved ${c!.c}`);
        } finally {
          reserved.release();
        }
        expect(seen).toEqual(['tx 1', 'sp 2', 'reserved 3']);
        // Every query above went through the views' hooks.
        expect(monitorPool(view).stats().total.queries).toBe(3);
      } finally {
        await client.end({ timeout: 1 });
      }
    });

  it('hooks a lazy client whose methods come from a Proxy (drizzle on it: execute and a transaction)', async () => {
    let real: postgres.Sql | undefined;
    const client = () => {
      real ??= postgres(db.url, { max: 1, onnotice: () => {} });
      return real;
    };
    // Connect on first use: nothing is an own property of the object drizzle gets.
    const lazy = new Proxy({} as postgres.Sql, { get: (_t, key) => Reflect.get(client(), key) });
    const events: string[] = [];
    try {
      const monitored = monitorPool(lazy);
      const view = instrument(monitored.sql, { onQuery: (e) => events.push(e.sql) });
      const d = drizzle(view);
      await d.execute('select 1 as a');
      await d.transaction(async (tx) => {
        await tx.execute('select 2 as b');
      });
      expect(events).toContain('select 1 as a');
      expect(events).toContain('select 2 as b');
      expect(monitored.stats().total.queries).toBeGreaterThanOrEqual(2);
    } finally {
      await real?.end({ timeout: 1 });
    }
  });
});
