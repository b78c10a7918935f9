/**
 * Failure behaviour outside the generated matrix: includeValues opts into row values, wrong argument shapes
 * are typed errors, an abort stops a COPY whose source is stuck, and a COPY source that throws fails the COPY
 * with the source's error.
 */
import { inspect } from 'node:util';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BulkAbortedError, BulkValidationError, BulkWriteError, bulkInsert } from '../../src/bulk/index.js';
import { ConfigError } from '../../src/errors.js';
import { useTestDatabase } from '../setup/index.js';
import { ddl } from './helpers.js';
import { items, itemsDdl } from './schema.js';

const tdb = useTestDatabase('bulk_failures');
let client: postgres.Sql;
let db: ReturnType<typeof drizzle>;
const APP = 'bulk_failures_t';

beforeAll(async () => {
  client = postgres(tdb.url, { max: 1, onnotice: () => {}, connection: { application_name: APP } });
  db = drizzle(client);
  await ddl(db, itemsDdl);
});
afterAll(() => client.end({ timeout: 2 }));
beforeEach(async () => {
  await client`truncate items restart identity`;
});

const make = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `val-${i}`, qty: 1, price: i }));
const inTransaction = async () => {
  const admin = postgres(tdb.url, { max: 1, onnotice: () => {} });
  try {
    const [r] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
      where application_name = ${APP} and state like '%in transaction%'`;
    return r?.n;
  } finally {
    await admin.end({ timeout: 1 });
  }
};

describe('bulk failures', () => {
  it('keeps row values out of the error unless includeValues: true', async () => {
    const rows = make(2_000);
    (rows[1_500] as { sku: string }).sku = 'val-3';
    const hidden = (await bulkInsert(db, items, rows).catch((e) => e)) as BulkWriteError;
    expect(hidden).toBeInstanceOf(BulkWriteError);
    expect(hidden.sqlState).toBe('23505');
    expect(hidden.constraint).toBe('items_sku_key');
    expect(inspect(hidden, { depth: 8 })).not.toContain('val-');
    expect((hidden.cause as { detail?: string }).detail).toBeUndefined();

    const shown = (await bulkInsert(db, items, rows, { includeValues: true }).catch(
      (e) => e,
    )) as BulkWriteError;
    expect(shown.sqlState).toBe('23505');
    expect((shown.cause as { detail?: string }).detail).toContain('val-3');
    expect(shown.message).toContain('val-3');
  });

  it('redacts the quoted input of a rejected value in the message', async () => {
    const err = (await db.execute(sql`select 'not-a-number'::int`).catch((e) => e)) as Error;
    const { exposedCause } = await import('../../src/bulk/errors.js');
    const c = exposedCause(err, false) as Error;
    expect(c.message).toBe('invalid input syntax for type integer: "..."');
    expect(c.stack).not.toContain('not-a-number');
  });

  it('rejects a wrong db, table or rows with a ConfigError, not a TypeError', async () => {
    const wrong = [
      () => bulkInsert({} as never, items, []),
      () => bulkInsert(db, {} as never, []),
      () => bulkInsert(db, items, 42 as never),
      () => bulkInsert(null as never, null as never, []),
    ];
    for (const call of wrong) {
      const e = await call().catch((x) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.code).toBe('E_CONFIG');
    }
  });

  it('aborts a COPY whose source is stuck, promptly, and leaves no session in a transaction', async () => {
    const controller = new AbortController();
    async function* stuck() {
      yield* make(1_500);
      await new Promise(() => {}); // never yields again: the COPY is open, the server waits for data
    }
    const started = bulkInsert(db, items, stuck(), {
      batchSize: 2_000,
      method: 'copy',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('stop')), 300);
    const err = await Promise.race([
      started.catch((e) => e),
      new Promise((r) => setTimeout(() => r('did not settle'), 10_000)),
    ]);
    expect(err).toBeInstanceOf(BulkAbortedError);
    expect((err as BulkAbortedError).cause).toEqual(new Error('stop'));
    expect(await inTransaction()).toBe(0);
    expect((await client`select count(*)::int as n from items`)[0]?.n).toBe(0);
  });

  it('rolls back and reports the source error when the row source throws', async () => {
    async function* failing() {
      yield* make(1_200);
      throw new Error('source broke');
    }
    const err = await bulkInsert(db, items, failing(), { batchSize: 5_000, method: 'copy' }).catch((e) => e);
    expect(err).toBeInstanceOf(BulkWriteError);
    // the first batch was still being read: no method ran yet
    expect((err as BulkWriteError).progress.method).toBe('none');
    expect(((err as BulkWriteError).cause as Error).message).toBe('source broke');
    expect(await inTransaction()).toBe(0);
    expect((await client`select 1 as ok`)[0]?.ok).toBe(1);
  });

  it('reports a validation error found while streaming a COPY as BulkValidationError', async () => {
    const rows = make(3_000) as Array<Record<string, unknown>>;
    rows[2_500] = { sku: 'x', qty: 'not a number', price: 1 };
    const err = await bulkInsert(db, items, rows as never).catch((e) => e);
    expect(err).toBeInstanceOf(BulkValidationError);
    expect(await inTransaction()).toBe(0);
    expect((await client`select count(*)::int as n from items`)[0]?.n).toBe(0);
  });
});
