import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql as dsql, eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  instrument,
  isInstrumented,
  QUERY_SLOW_CHANNEL,
  type QueryEvent,
  QueryOptionsError,
} from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('query_instrument');
const items = pgTable('items', { id: integer('id').primaryKey(), name: text('name').notNull() });

let raw: postgres.Sql;
let events: QueryEvent[] = [];
let sql: postgres.Sql;

beforeAll(async () => {
  raw = postgres(db.url, { max: 3, onnotice: () => {} });
  await raw`create table items (id int primary key, name text not null)`;
  await raw`insert into items select g, 'item ' || g from generate_series(1, 50) g`;
  sql = instrument(raw, { name: 'main', onQuery: (e) => events.push(e) });
});
afterAll(async () => {
  await raw.end({ timeout: 2 });
});

const take = () => {
  const e = events;
  events = [];
  return e;
};

describe('instrument', () => {
  it('reports tagged-template queries with duration, rows, fingerprint and call site', async () => {
    take();
    const rows = await sql`select id, name from items where id <= ${3} order by id`;
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
    const [e] = take();
    expect(e).toBeDefined();
    expect(e!.client).toBe('main');
    expect(e!.sql).toBe('select id, name from items where id <= $1 order by id');
    expect(e!.params).toEqual(['3']);
    expect(e!.fingerprint).toBe('select id, name from items where id <= ? order by id');
    expect(e!.rows).toBe(3);
    expect(e!.command).toBe('SELECT');
    expect(e!.durationMs).toBeGreaterThan(0);
    expect(e!.error).toBeUndefined();
    expect(e!.connection).toBe('pool');
    expect(e!.callSite).toContain('instrument.test.ts');
  });

  it('gives literal variants one fingerprint and keeps distinct statements apart', async () => {
    take();
    await sql.unsafe('select * from items where id = 1');
    await sql.unsafe('SELECT *\n  FROM items WHERE id = 2');
    await sql.unsafe('select * from items where name = $1', ['x']);
    const [a, b, c] = take();
    expect(a!.fingerprintId).toBe(b!.fingerprintId);
    expect(c!.fingerprintId).not.toBe(a!.fingerprintId);
    expect(a!.callSite).toContain('instrument.test.ts');
  });

  it('captures the call site once per unsafe() text, not per execution (drizzle path)', async () => {
    take();
    const spy = vi.spyOn(Error, 'captureStackTrace');
    try {
      const text = `select ${Math.random()} as r`; // a text this process has not seen
      for (let i = 0; i < 20; i++) await sql.unsafe(text);
      expect(spy.mock.calls.filter(([, below]) => below !== undefined)).toHaveLength(1);
      const first = take();
      expect(new Set(first.map((e) => e.callSite)).size).toBe(1);
      expect(first[0]!.callSite).toContain('instrument.test.ts');
      // Another text from another line gets its own call site.
      await sql.unsafe(`${text} -- other`);
      const [other] = take();
      expect(other!.callSite).toContain('instrument.test.ts');
      expect(other!.callSite).not.toBe(first[0]!.callSite);
    } finally {
      spy.mockRestore();
    }
  });

  it('captures again when the cached stack of a text has no user frame (an awaited drizzle builder)', async () => {
    take();
    const d = drizzle(sql);
    const q = () => d.select().from(items).where(eq(items.name, 'recapture'));
    await q(); // V8 runs the builder's then() from a microtask: no caller frame in the stack
    await q().execute();
    const [awaited, executed] = take();
    expect(awaited!.callSite).toBeUndefined();
    expect(executed!.callSite).toContain('instrument.test.ts');
  });

  it('reports errors with the driver error and no rows', async () => {
    take();
    await expect(sql`select * from no_such_table`).rejects.toMatchObject({ code: '42P01' });
    const [e] = take();
    expect((e!.error as { code?: string }).code).toBe('42P01');
    expect(e!.rows).toBeNull();
  });

  it('does not run or report a query until it is awaited (lazy)', async () => {
    take();
    const q = sql`select 1 as one`;
    await new Promise((r) => setTimeout(r, 20));
    expect(take()).toHaveLength(0);
    await q;
    expect(take()).toHaveLength(1);
  });

  it('tracks transactions, savepoints and reserved connections', async () => {
    take();
    await sql.begin(async (tx) => {
      await tx`insert into items values (${1000}, 'tx')`;
      await tx.savepoint(async (sp) => {
        await sp`update items set name = 'sp' where id = ${1000}`;
      });
    });
    const reserved = await sql.reserve();
    try {
      await reserved`select count(*) from items`;
    } finally {
      reserved.release();
    }
    const e = take();
    expect(e.map((x) => [x.command, x.connection])).toEqual([
      ['INSERT', 'transaction'],
      ['UPDATE', 'transaction'],
      ['SELECT', 'reserved'],
    ]);
    expect(e[0]!.rows).toBe(1);
  });

  it('tracks drizzle queries built on the wrapped client', async () => {
    take();
    const d = drizzle(sql);
    const rows = await d.select().from(items).where(eq(items.id, 2)).execute();
    expect(rows).toEqual([{ id: 2, name: 'item 2' }]);
    await d.execute(dsql`select count(*) from ${items}`);
    await d.transaction(async (tx) => {
      await tx.update(items).set({ name: 'two' }).where(eq(items.id, 2));
    });
    const e = take();
    expect(e.map((x) => x.fingerprint)).toEqual([
      'select id, name from items where items.id = ?',
      'select count(*) from items',
      'update items set name = ? where items.id = ?',
    ]);
    expect(e[0]!.rows).toBe(1);
    expect(e[0]!.callSite).toContain('instrument.test.ts');
    expect(e[2]!.connection).toBe('transaction');
  });

  it('times COPY from and to streams until the copy completes', async () => {
    take();
    await sql`create table copied (id int, name text)`;
    const writable = await sql`copy copied (id, name) from stdin`.writable();
    await pipeline(Readable.from(['1\ta\n', '2\tb\n', '3\tc\n']), writable);
    const readable = await sql`copy copied to stdout`.readable();
    let text = '';
    for await (const chunk of readable) text += chunk.toString();
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 20));
    const e = take().filter((x) => x.kind === 'copy');
    expect(e.map((x) => [x.command, x.rows])).toEqual([
      ['COPY', 3],
      ['COPY', 3],
    ]);
  });

  it('tracks cursors across batches', async () => {
    take();
    let seen = 0;
    for await (const batch of sql`select * from items order by id`.cursor(20)) seen += batch.length;
    expect(seen).toBeGreaterThanOrEqual(50);
    const [e] = take();
    expect(e!.kind).toBe('cursor');
    expect(e!.error).toBeUndefined();
  });

  it('does not track helper fragments as queries, and nests them into the reported SQL', async () => {
    take();
    await sql`select ${sql('name')} from ${sql('items')} where id in ${sql([1, 2])}`;
    const e = take();
    expect(e).toHaveLength(1);
    expect(e[0]!.sql).toBe('select "name" from "items" where id in ($1,$2)');
    expect(e[0]!.fingerprint).toBe('select name from items where id in (?)');
  });

  it('calls onSlowQuery and publishes on the slow channel at the threshold', async () => {
    const slow: QueryEvent[] = [];
    const published: unknown[] = [];
    const listener = (m: unknown) => published.push(m);
    subscribe(QUERY_SLOW_CHANNEL, listener);
    try {
      const s = instrument(raw, { slowQueryMs: 0, onSlowQuery: (e) => slow.push(e) });
      await s`select 1`;
      const never = instrument(raw, { slowQueryMs: 60_000, onSlowQuery: (e) => slow.push(e) });
      await never`select 2`;
    } finally {
      unsubscribe(QUERY_SLOW_CHANNEL, listener);
    }
    expect(slow.map((e) => e.fingerprint)).toEqual(['select ?']);
    expect(published).toHaveLength(1);
  });

  it('keeps a throwing listener from breaking the query', async () => {
    const s = instrument(raw, {
      onQuery: () => {
        throw new Error('listener bug');
      },
    });
    const [row] = await s`select 41 + 1 as n`;
    expect(row!.n).toBe(42);
  });

  it('publishes start and asyncEnd on the dbkit:query tracing channel', async () => {
    const { tracingChannel } = await import('node:diagnostics_channel');
    const seen: string[] = [];
    const handlers = {
      start: (m: unknown) => seen.push(`start ${(m as QueryEvent).sql}`),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (m: unknown) => seen.push(`end ${(m as QueryEvent).rows}`),
      error: () => seen.push('error'),
    };
    const tc = tracingChannel('dbkit:query');
    tc.subscribe(handlers);
    try {
      await sql`select 7`;
    } finally {
      tc.unsubscribe(handlers);
    }
    expect(seen).toEqual(['start select 7', 'end 1']);
  });

  it('warns once when options are given for a client that is already instrumented', async () => {
    const warnings: Array<{ code?: string }> = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      expect(instrument(sql, { slowQueryMs: 1 })).toBe(sql);
      expect(instrument(sql, { slowQueryMs: 2 })).toBe(sql);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.code === 'DBKIT_ALREADY_INSTRUMENTED')).toHaveLength(1);
  });

  it('is idempotent and validates options', () => {
    expect(isInstrumented(sql)).toBe(true);
    expect(isInstrumented(raw)).toBe(false);
    expect(instrument(sql)).toBe(sql);
    expect(() => instrument(raw, { slowQueryMs: -1 })).toThrow(QueryOptionsError);
    expect(() => instrument(raw, { stackDepth: 0 })).toThrow(/stackDepth/);
  });
});
