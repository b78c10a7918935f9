/**
 * The doctor's "Connections & activity" section on real sessions: a blocking tree where one backend waits on
 * two blockers (F <- G, F+G <- H), a long-running query, an idle-in-transaction session, and sessions on another
 * database. The suggested cancel/terminate statements are run as given.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DoctorTargets, pgActivity, runDoctorChecks } from '../../src/monitoring/index.js';
import { createTestDatabase, type TestDatabase, useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('mondocact');
let other: TestDatabase;
let otherSql: postgres.Sql;
const app = `dbkit-act-${randomBytes(3).toString('hex')}`;
const clients: postgres.Sql[] = [];
const client = (name: string) => {
  const c = postgres(db.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: `${app}-${name}` },
  });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  await db.sql()`create table accounts (id int primary key, balance int)`;
  await db.sql()`insert into accounts values (1, 100), (2, 100)`;
  other = await createTestDatabase('mondocact_other');
  otherSql = postgres(other.url, { max: 1, onnotice: () => {} });
  await otherSql`select 1`;
});
afterAll(async () => {
  for (const c of clients) await c.end({ timeout: 1 });
  await otherSql.end({ timeout: 1 });
  await other.drop();
});

const pidOf = async (name: string) => {
  let pid = 0;
  await waitFor(`${name} to connect`, async () => {
    const [r] = await db.sql()<{ pid: number }[]>`
      select pid from pg_stat_activity where application_name = ${`${app}-${name}`}`;
    pid = r?.pid ?? 0;
    return pid > 0;
  });
  return pid;
};

describe('doctor activity section', () => {
  it('counts a backend once when it waits on two blockers, and shows the sessions of this database', {
    timeout: 60_000,
  }, async () => {
    const f = await client('F').reserve();
    await f`begin`;
    await f`select * from accounts where id = 1 for update`;
    const g = await client('G').reserve();
    await g`begin`;
    const gWait = g`update accounts set balance = 0 where id = 1`.execute().catch((e: unknown) => e);
    const h = client('H');
    const hWait = h`alter table accounts add column note text`.execute().catch((e: unknown) => e);
    const slow = client('slow');
    const slowRun = slow`select pg_sleep(30)`.execute().catch((e: unknown) => e);
    const [F, G, H, S] = [await pidOf('F'), await pidOf('G'), await pidOf('H'), await pidOf('slow')];
    await waitFor('H to wait on F and G', async () => {
      const a = await pgActivity(db.sql());
      return (a.backends.find((b) => b.pid === H)?.blockedBy.length ?? 0) === 2;
    });
    const a = await pgActivity(db.sql());
    expect(a.backends.find((b) => b.pid === H)!.blockedBy.sort()).toEqual([F, G].sort());
    const root = a.blocking.find((r) => r.pid === F)!;
    expect(root.blockedCount).toBe(2);
    expect(root.blocks.map((n) => n.pid)).toEqual([G]);
    expect(root.blocks[0]!.blocks.map((n) => n.pid)).toEqual([H]);

    const report = await runDoctorChecks({
      sql: db.sql(),
      target: 'test',
      activity: { longRunningMs: 0, idleInTransactionMs: 0 },
      checks: { only: [] },
    });
    const sec = report.sections.find((s) => s.id === 'activity')!;
    expect(sec.name).toBe('Connections & activity');
    const blocking = sec.findings.find((x) => x.check === 'blocking' && x.object === `pid ${F}`)!;
    expect(blocking).toMatchObject({ value: 2, unit: 'backends', sql: `SELECT pg_terminate_backend(${F});` });
    expect(blocking.detail).toMatch(/^blocks 2 backend\(s\)/);
    expect(
      sec.findings.find((x) => x.check === 'long_running_query' && x.object === `pid ${S}`),
    ).toMatchObject({
      unit: 'seconds',
      threshold: 0,
      sql: `SELECT pg_cancel_backend(${S});`,
    });
    expect(sec.findings.some((x) => x.check === 'idle_in_transaction' && x.object === `pid ${F}`)).toBe(true);
    const sessions = sec.findings.find((x) => x.check === 'sessions')!;
    expect(sessions.detail).toMatch(new RegExp(`session\\(s\\) on other databases: .*${other.name} \\(1\\)`));
    expect(report.activity!.database).toBe(db.name);
    expect(report.activity!.sessions).toBeGreaterThanOrEqual(4);
    expect(report.activity!.waiting).toBe(2);
    expect(report.activity!.otherDatabases).toContainEqual({ database: other.name, sessions: 1 });
    expect(report.activity!.blocking.map((r) => r.pid)).toEqual([F]);
    // Only this database's sessions are findings: the other database's session is counted, not listed.
    const localPids = new Set(a.backends.filter((b) => b.database === db.name).map((b) => `pid ${b.pid}`));
    for (const x of sec.findings.filter((y) => y.object.startsWith('pid ')))
      expect(localPids.has(x.object), x.object).toBe(true);

    // The fixes, as given: cancel the long query, terminate the idle-in-transaction root.
    await db
      .sql()
      .unsafe(sec.findings.find((x) => x.check === 'long_running_query' && x.object === `pid ${S}`)!.sql!);
    expect(await slowRun).toMatchObject({ code: '57014' });
    await db.sql().unsafe(blocking.sql!);
    expect(await gWait).not.toBeInstanceOf(Error);
    await g`rollback`;
    g.release();
    expect(await hWait).not.toBeInstanceOf(Error);
    f.release();
    const after = await pgActivity(db.sql());
    expect(after.blocking.filter((r) => [F, G, H].includes(r.pid))).toEqual([]);
  });
  it('replaces the literals of the statements it shows by ? unless showQueryText is set', {
    timeout: 60_000,
  }, async () => {
    const secret = `secret-${randomBytes(4).toString('hex')}`;
    const slow = client('literal');
    const run = slow
      .unsafe(`select pg_sleep(30), '${secret}' as token, 4242 as n`)
      .execute()
      .catch((e: unknown) => e);
    const pid = await pidOf('literal');
    const options: DoctorTargets = {
      sql: db.sql(),
      target: 'test',
      activity: { longRunningMs: 0 },
      checks: { only: [] },
    };
    const hidden = await runDoctorChecks(options);
    const shown = await runDoctorChecks({ ...options, showQueryText: true });
    const mine = (r: typeof hidden) => r.activity!.longRunning.find((b) => b.pid === pid)!;
    expect(mine(hidden).query).toBe('select pg_sleep(?), ?, ?');
    expect(JSON.stringify(hidden)).not.toContain(secret);
    expect(JSON.stringify(hidden)).not.toContain('4242');
    expect(mine(shown).query).toContain(secret);
    expect(JSON.stringify(shown)).toContain(secret);
    await db.sql()`select pg_cancel_backend(${pid})`;
    expect(await run).toMatchObject({ code: '57014' });
  });
});
