import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sqlStateOf } from '../../src/bulk/errors.js';
import {
  TransactionOutcomeUnknownError,
  TransactionRetriesExhaustedError,
  withTransaction,
} from '../../src/bulk/index.js';
import { sleep, terminateBackend, useTestDatabase } from '../setup/index.js';
import { type Driver, ddl, postgresJs } from './helpers.js';

const tdb = useTestDatabase('bulk_tx');
let d: Driver & { sql: postgres.Sql };

beforeAll(async () => {
  d = postgresJs(tdb.url);
  await ddl(
    d.db,
    sql`create table accounts (id int primary key, balance int not null)`,
    sql`create table slow_commit (id int primary key)`,
    // A deferred constraint trigger runs inside COMMIT: it keeps COMMIT in flight long enough to kill it.
    sql`create function sleep_at_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(1.5); return null; end $$`,
    sql`create constraint trigger slow after insert on slow_commit deferrable initially deferred
        for each row execute function sleep_at_commit()`,
  );
});
afterAll(() => d.close());
beforeEach(async () => {
  await d.sql`truncate accounts`;
  await d.sql`insert into accounts values (1, 0), (2, 0)`;
});

/** Resolves when `n` parties have arrived: forces two transactions to read before either writes. */
function barrier(n: number) {
  let arrived = 0;
  let open!: () => void;
  const done = new Promise<void>((r) => {
    open = r;
  });
  return () => {
    if (++arrived >= n) open();
    return Promise.race([done, sleep(2_000)]);
  };
}

const balance = async (id: number) =>
  (await d.sql<{ balance: number }[]>`select balance from accounts where id = ${id}`)[0]?.balance;

describe('withTransaction', () => {
  it('retries serialization failures of concurrent SERIALIZABLE transactions; totals exact, onCommit once', async () => {
    const wait = barrier(2);
    let commits = 0;
    const retries: string[] = [];
    const transfer = (id: number) =>
      withTransaction(
        d.db,
        async (tx, { onCommit, attempt }) => {
          const rows = await tx.execute<{ s: number }>(sql`select sum(balance)::int as s from accounts`);
          if (attempt === 1) await wait();
          const s = (rows as unknown as Array<{ s: number }>)[0]?.s ?? 0;
          // write skew: each transaction writes a different row based on the sum of both
          await tx.execute(sql`update accounts set balance = ${s + 1} where id = ${id}`);
          onCommit(() => {
            commits++;
          });
          return attempt;
        },
        {
          isolationLevel: 'serializable',
          backoff: { baseMs: 1, maxMs: 20 },
          onRetry: (r) => void retries.push(r.sqlState),
        },
      );
    const attempts = await Promise.all([transfer(1), transfer(2)]);
    expect(commits).toBe(2);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries.every((s) => s === '40001')).toBe(true);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    // serial execution: one sees 0 and writes 1, the other sees 1 and writes 2
    expect([await balance(1), await balance(2)].sort()).toEqual([1, 2]);
  });

  it('gives up after maxRetries with a typed error and runs no hooks', async () => {
    const wait = barrier(2);
    let hooks = 0;
    const run = (id: number) =>
      withTransaction(
        d.db,
        async (tx, { onCommit }) => {
          const rows = await tx.execute(sql`select sum(balance)::int as s from accounts`);
          await wait();
          await tx.execute(
            sql`update accounts set balance = ${(rows as unknown as Array<{ s: number }>)[0]?.s ?? 0} + 1 where id = ${id}`,
          );
          onCommit(() => {
            hooks++;
          });
        },
        { isolationLevel: 'serializable', maxRetries: 0 },
      );
    const results = await Promise.allSettled([run(1), run(2)]);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0]?.reason).toBeInstanceOf(TransactionRetriesExhaustedError);
    expect(sqlStateOf(failed[0]?.reason)).toBe('40001');
    expect(hooks).toBe(1);
  });

  it('passes other errors through without retrying and rolls back', async () => {
    let calls = 0;
    const err = await withTransaction(d.db, async (tx) => {
      calls++;
      await tx.execute(sql`update accounts set balance = 5 where id = 1`);
      await tx.execute(sql`insert into accounts values (1, 0)`);
    }).catch((e) => e);
    expect(sqlStateOf(err)).toBe('23505');
    expect(calls).toBe(1);
    expect(await balance(1)).toBe(0);
  });

  it('raises TransactionOutcomeUnknownError when the connection drops at COMMIT', async () => {
    const one = postgres(tdb.url, { max: 1, onnotice: () => {} });
    try {
      let hooks = 0;
      const err = await withTransaction(drizzle(one), async (tx, { onCommit }) => {
        await tx.execute(sql`insert into slow_commit values (1)`);
        const [row] = (await tx.execute(sql`select pg_backend_pid() as pid`)) as unknown as [{ pid: number }];
        onCommit(() => {
          hooks++;
        });
        setTimeout(() => void terminateBackend(row.pid), 500);
      }).catch((e) => e);
      expect(err).toBeInstanceOf(TransactionOutcomeUnknownError);
      expect(err.code).toBe('E_TX_OUTCOME_UNKNOWN');
      expect(hooks).toBe(0);
      await sleep(100);
    } finally {
      await one.end({ timeout: 1 });
    }
  });

  it('finds SQLSTATEs through drizzle-style cause chains', () => {
    const pgErr = Object.assign(new Error('could not serialize'), { code: '40001' });
    const wrapped = new Error('Failed query: update ...', { cause: new Error('outer', { cause: pgErr }) });
    expect(sqlStateOf(wrapped)).toBe('40001');
    expect(sqlStateOf(new Error('x'))).toBeUndefined();
  });
});
