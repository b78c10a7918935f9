import { randomBytes } from 'node:crypto';
import { sql as dsql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { monitorPool } from '../../src/monitoring/index.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('monpool');
const appName = `dbkit-mon-${randomBytes(4).toString('hex')}`;
let raw: postgres.Sql;
let admin: postgres.Sql;

beforeAll(() => {
  raw = postgres(db.url, { max: 4, onnotice: () => {}, connection: { application_name: appName } });
  admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await raw.end({ timeout: 2 });
  await admin.end({ timeout: 2 });
});

const activeSleeps = async () => {
  const [r] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
    where application_name = ${appName} and state = 'active' and query like '%pg_sleep%'`;
  return r!.n;
};

describe('monitorPool under real load', () => {
  it('reports utilisation, pending and score for N slow queries against max = M', async () => {
    const mon = monitorPool(raw, { name: 'load' });
    expect(mon.stats()).toMatchObject({ max: 4, inFlight: 0, inUse: 0, pending: 0, score: 100 });

    const two = [mon.sql`select pg_sleep(0.4)`.execute(), mon.sql`select pg_sleep(0.4)`.execute()];
    await waitFor('2 sleeps on the server', async () => (await activeSleeps()) === 2);
    expect(mon.stats()).toMatchObject({ inUse: 2, pending: 0, utilisation: 0.5, score: 100 });
    const three = mon.sql`select pg_sleep(0.4)`.execute();
    await waitFor('3 sleeps on the server', async () => (await activeSleeps()) === 3);
    expect(mon.stats()).toMatchObject({ inUse: 3, pending: 0, utilisation: 0.75, score: 55 });
    await Promise.all([...two, three]);

    const ten = Array.from({ length: 10 }, () => mon.sql`select pg_sleep(0.3)`.execute());
    await waitFor('4 sleeps on the server', async () => (await activeSleeps()) === 4);
    const s = mon.stats();
    expect(s).toMatchObject({ inFlight: 10, inUse: 4, pending: 6, utilisation: 1, score: 0 });
    expect(mon.isHealthy()).toBe(false);
    // The server never runs more than max = 4 at once.
    expect(await activeSleeps()).toBe(4);
    await Promise.all(ten);

    const after = mon.stats();
    expect(after).toMatchObject({ inFlight: 0, inUse: 0, pending: 0 });
    expect(after.total.queries).toBe(13);
    expect(after.total.waited).toBe(6);
    expect(after.wait.count).toBe(13);
    // Six queries waited about one pg_sleep(0.3) or two: the p99 wait is well above 100 ms.
    expect(after.waitP99Ms).toBeGreaterThan(200);
    expect(after.score).toBeLessThan(100);
    expect(after.duration.count).toBe(13);
  });

  it('counts errors and statement timeouts per query, through unsafe and begin', async () => {
    const mon = monitorPool(raw);
    await expect(mon.sql.unsafe('select 1/0')).rejects.toMatchObject({ code: '22012' });
    await expect(
      mon.sql.begin(async (tx) => {
        await tx`set local statement_timeout = 50`;
        await tx`select pg_sleep(2)`;
      }),
    ).rejects.toMatchObject({ code: '57014' });
    const s = mon.stats();
    expect(s.total).toMatchObject({ errors: 2, timeouts: 1, queries: 3 });
    expect(s.lastMinute).toMatchObject({ errors: 2, queries: 3 });
    expect(s).toMatchObject({ inFlight: 0, transactions: 0 });
  });

  it('keeps cursors, values() and drizzle working and counted', async () => {
    const mon = monitorPool(raw);
    const batches: number[] = [];
    for await (const rows of mon.sql`select generate_series(1, 10) as n`.cursor(4)) batches.push(rows.length);
    expect(batches).toEqual([4, 4, 2]);
    expect(await mon.sql`select 1 as a, 2 as b`.values()).toEqual([[1, 2]]);
    const d = drizzle(mon.sql);
    const r = await d.execute(dsql`select 41 + 1 as x`);
    expect(r[0]).toMatchObject({ x: 42 });
    expect(mon.stats()).toMatchObject({ inFlight: 0, total: { queries: 3, errors: 0 } });
  });

  it('holds a slot for a reservation and reports it as a leak and idle in transaction', async () => {
    const mon = monitorPool(raw, { leakThresholdMs: 20, idleInTransactionMs: 0 });
    const r = await mon.sql.reserve();
    await r`begin`;
    const [{ pid }] = (await r`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    await new Promise((res) => setTimeout(res, 30));
    expect(mon.stats()).toMatchObject({ reserved: 1, inUse: 1, possibleLeaks: 1 });
    const check = await mon.crossCheck();
    expect(check.applicationName).toBe(appName);
    expect(check.idleInTransaction.map((s) => s.pid)).toContain(pid);
    expect(check.leakedReservations).toHaveLength(1);
    expect(check.warnings.join('\n')).toMatch(/idle in transaction/);
    expect(mon.stats().openConnections).toBe(check.connections);
    await r`rollback`;
    r.release();
    expect(mon.stats()).toMatchObject({ reserved: 0, inUse: 0, possibleLeaks: 0 });
    expect((await mon.crossCheck()).leakedReservations).toHaveLength(0);
  });

  it('holds a slot for a COPY until the copy completes, and shares its counters when monitored again', async () => {
    await raw`create table if not exists copy_target (n int)`;
    const mon = monitorPool(raw, { name: 'copy' });
    const w = await mon.sql`copy copy_target (n) from stdin`.writable();
    w.write('1\n');
    expect(mon.stats()).toMatchObject({ inFlight: 1, inUse: 1 });
    await new Promise<void>((resolve, reject) => w.end((e?: Error | null) => (e ? reject(e) : resolve())));
    await waitFor('the COPY to complete', async () => mon.stats().inFlight === 0);
    expect(mon.stats().total.queries).toBe(1);
    const again = monitorPool(mon.sql, { name: 'ignored' });
    expect(again.sql).toBe(mon.sql);
    await again.sql`select 1`;
    expect(mon.stats().total.queries).toBe(2);
    expect(again.stats()).toEqual(mon.stats());
    expect(again.name).toBe('copy');
  });

  it('sets a unique application_name for new connections when asked', async () => {
    const name = `dbkit-mon2-${randomBytes(3).toString('hex')}`;
    const mon = monitorPool(postgres(db.url, { max: 2, onnotice: () => {} }), { applicationName: name });
    try {
      const [row] = await mon.sql<{ a: string }[]>`select current_setting('application_name') as a`;
      expect(row!.a).toBe(name);
      expect((await mon.crossCheck()).connections).toBeGreaterThanOrEqual(1);
    } finally {
      await mon.sql.end({ timeout: 2 });
    }
  });
});
