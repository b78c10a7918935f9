import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelRefusedError, cancelBackend, isDbkitError, pgActivity } from '../../src/monitoring/index.js';
import { sleep, useTestDatabase, waitFor } from '../setup/index.js';

async function poll<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const db = useTestDatabase('monact');
const app = `dbkit-lock-${randomBytes(3).toString('hex')}`;
let holder: postgres.Sql;
let waiter: postgres.Sql;

beforeAll(async () => {
  await db.sql()`create table accounts (id int primary key, balance int)`;
  await db.sql()`insert into accounts values (1, 100)`;
  holder = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: `${app}-holder` },
  });
  waiter = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: `${app}-waiter` },
  });
});
afterAll(async () => {
  await holder.end({ timeout: 1 });
  await waiter.end({ timeout: 1 });
});

describe('pgActivity and cancelBackend on a real lock wait', () => {
  it('shows the blocking tree, cancels the waiter, then terminates the idle-in-transaction holder', async () => {
    const h = await holder.reserve();
    await h`begin`;
    await h`select * from accounts where id = 1 for update`;
    const [{ pid: holderPid }] = (await h`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    const blocked = waiter`update accounts set balance = balance + 1 where id = 1`.execute();
    const waiterDone = blocked.then(
      () => null,
      (e: unknown) => e,
    );

    const a = await poll('the waiter to block', async () => {
      const x = await pgActivity(db.sql(), { longRunningMs: 0, idleInTransactionMs: 0 });
      return x.blocking.some((r) => r.pid === holderPid && r.blocks.length === 1) ? x : undefined;
    });
    const root = a.blocking.find((r) => r.pid === holderPid)!;
    const waiterPid = root.blocks[0]!.pid;
    expect(a.backends.find((b) => b.pid === waiterPid)).toMatchObject({
      state: 'active',
      blockedBy: [holderPid],
      applicationName: `${app}-waiter`,
    });
    expect(a.idleInTransaction.map((b) => b.pid)).toContain(holderPid);
    expect(a.longRunning.map((b) => b.pid)).toContain(waiterPid);
    expect(a.maxConnections).toBeGreaterThan(0);
    expect(a.byState.active).toBeGreaterThanOrEqual(2);

    // Refusals: outside the allow-list, and dry runs leave everything as it is.
    await expect(
      cancelBackend(db.sql(), waiterPid, { allowApplicationNames: ['something-else'] }),
    ).rejects.toMatchObject({ code: 'E_CANCEL_REFUSED', reason: 'not-allowed-application' });
    const dry = await cancelBackend(db.sql(), waiterPid, { dryRun: true });
    expect(dry).toMatchObject({ action: 'none', planned: 'cancel', dryRun: true });

    const r = await cancelBackend(db.sql(), waiterPid, { allowApplicationNames: [`${app}-waiter`] });
    expect(r.action).toBe('cancel');
    expect(await waiterDone).toMatchObject({ code: '57014' });

    // The holder sits idle in transaction: a cancel does nothing, so terminate: true ends the session.
    const t = await cancelBackend(db.sql(), holderPid, { terminate: true, escalateAfterMs: 100 });
    expect(t).toMatchObject({ action: 'terminate', planned: 'terminate' });
    await waitFor('the holder to be gone', async () => {
      const x = await pgActivity(db.sql());
      return !x.backends.some((b) => b.pid === holderPid);
    });
    await expect(db.sql()`update accounts set balance = 0 where id = 1`).resolves.toBeTruthy();
  });

  it('stops at the cancel when the query honours it, even with terminate set', async () => {
    // pg_sleep honours a cancel, so the escalation path is exercised with a cancel that lands first.
    const q = waiter`select pg_sleep(5)`.execute().catch((e: unknown) => e);
    const pid = await poll('the sleep to run', async () => {
      const x = await pgActivity(db.sql());
      return x.backends.find((b) => b.applicationName === `${app}-waiter` && b.state === 'active')?.pid;
    });
    const r = await cancelBackend(db.sql(), pid, { terminate: true, escalateAfterMs: 500 });
    expect(r.action).toBe('cancel');
    expect(await q).toMatchObject({ code: '57014' });
  });

  it('refuses its own backend, autovacuum and unknown pids', async () => {
    const sql = db.sql();
    const reserved = await sql.reserve();
    try {
      const [{ pid }] = (await reserved`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
      const e = await cancelBackend(reserved as unknown as typeof sql, pid).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CancelRefusedError);
      expect((e as CancelRefusedError).reason).toBe('own-backend');
    } finally {
      reserved.release();
    }
    const [av] = await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where backend_type = 'autovacuum launcher'`;
    if (av) {
      await expect(cancelBackend(sql, av.pid, { terminate: true })).rejects.toMatchObject({
        reason: 'autovacuum',
      });
    }
    const [other] = await sql<{ pid: number; backend_type: string }[]>`
      select pid, backend_type from pg_stat_activity where backend_type in ('checkpointer', 'background writer') limit 1`;
    expect(other).toBeDefined();
    await expect(cancelBackend(sql, other!.pid)).rejects.toMatchObject({ reason: 'not-client-backend' });
    const missing = await cancelBackend(sql, 2_000_000_000).catch((x: unknown) => x);
    expect(isDbkitError(missing, 'E_BACKEND_NOT_FOUND')).toBe(true);
  });
});
