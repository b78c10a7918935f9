import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSlowQueryLog,
  instrument,
  QueryOptionsError,
  type SlowQueryLogEntry,
} from '../../src/query/index.js';
import { useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('query_slowlog');
let raw: postgres.Sql;
beforeAll(() => {
  raw = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await raw.end({ timeout: 2 });
});

describe('createSlowQueryLog', () => {
  it('logs slow queries with literals and parameters redacted by default', async () => {
    const entries: SlowQueryLogEntry[] = [];
    const log = createSlowQueryLog({ thresholdMs: 0, log: (e) => entries.push(e) });
    const sql = instrument(raw, { onQuery: log.onQuery });
    await sql`select ${'secret@example.com'}::text as email, ${42}::int as n`;
    await sql.unsafe("select 'inline-secret' as s");
    expect(entries).toHaveLength(2);
    expect(entries[0]!.sql).toBe('select ?::text, ?::int4');
    expect(entries[0]!.params).toEqual(['<string:18>', '<string:2>']);
    expect(JSON.stringify(entries)).not.toContain('secret');
    expect(entries[0]!.callSite).toContain('slow-query-log.test.ts');
    expect(entries[0]!.rows).toBe(1);
  });

  it('redacts every kind of literal, including after a string that ends in a backslash', async () => {
    const entries: SlowQueryLogEntry[] = [];
    const log = createSlowQueryLog({ thresholdMs: 0, log: (e) => entries.push(e) });
    const sql = instrument(raw, { onQuery: log.onQuery });
    // the previous scanner read \' as an escape, so the string ran on and 'secret-1' stayed in the log
    await sql.unsafe("select 'C:\\' as p, 'secret-1' as s");
    await sql.unsafe(
      "select E'secret-2\\'' as s, $q$secret-3$q$ as t, U&'secret-4' as u, x'ff' as v /* secret-5 */",
    );
    await sql.unsafe("select date '2024-01-01' as d, interval '5 minutes' as i, 42::int as n");
    expect(entries.map((e) => e.sql)).toEqual([
      'select ?, ?',
      'select ?, ?, ?, ?',
      'select ?::date, ?::interval, ?::int4',
    ]);
    expect(JSON.stringify(entries.map((e) => [e.sql, e.params]))).not.toMatch(/secret|2024|minutes|42/);
  });

  it('keeps raw SQL and parameters when redaction is off, and reports errors', async () => {
    const entries: SlowQueryLogEntry[] = [];
    const log = createSlowQueryLog({ thresholdMs: 0, redactParams: false, log: (e) => entries.push(e) });
    const sql = instrument(raw, { onQuery: log.onQuery });
    await sql`select ${'abc'}::text`;
    await sql`select * from nope`.catch(() => {});
    expect(entries[0]!.sql).toBe('select $1::text');
    expect(entries[0]!.params).toEqual(['abc']);
    expect(entries[1]!.error).toMatchObject({ code: '42P01' });
  });

  it('ignores fast queries, samples, and rate-limits with a suppressed count', async () => {
    let t = 0;
    let r = 0;
    const rolls = [0.1, 0.9]; // below 0.5 logs, above is sampled out
    const entries: SlowQueryLogEntry[] = [];
    const log = createSlowQueryLog({
      thresholdMs: 0,
      sampleRate: 0.5,
      maxPerInterval: 2,
      intervalMs: 1000,
      now: () => t,
      random: () => rolls[r++ % 2]!,
      log: (e) => entries.push(e),
    });
    const sql = instrument(raw, { onQuery: log.onQuery });
    for (let i = 0; i < 10; i++) await sql`select ${i}::int`; // 5 sampled in, 2 logged, 3 rate-limited
    t = 1000; // next window
    await sql`select 99`; // roll 0.1 -> logged with suppressed = 3
    expect(entries.map((e) => e.suppressed)).toEqual([0, 0, 3]);
    expect(log.stats()).toEqual({ seen: 11, slow: 11, sampledOut: 5, rateLimited: 3, logged: 3 });

    const never = createSlowQueryLog({ thresholdMs: 60_000, log: (e) => entries.push(e) });
    never.onQuery({ durationMs: 1 } as never);
    expect(never.stats()).toMatchObject({ seen: 1, slow: 0, logged: 0 });
  });

  it('subscribes to every instrumented client through the tracing channel', async () => {
    const entries: SlowQueryLogEntry[] = [];
    const log = createSlowQueryLog({ thresholdMs: 0, log: (e) => entries.push(e) });
    const stop = log.subscribe();
    try {
      await instrument(raw, { name: 'replica' })`select 1`;
    } finally {
      stop();
    }
    await instrument(raw)`select 2`;
    expect(entries.map((e) => e.client)).toEqual(['replica']);
  });

  it('validates its options', () => {
    expect(() => createSlowQueryLog({ log: () => {}, sampleRate: 2 })).toThrow(QueryOptionsError);
    expect(() => createSlowQueryLog({ log: () => {}, maxPerInterval: 0 })).toThrow(/maxPerInterval/);
  });
});
