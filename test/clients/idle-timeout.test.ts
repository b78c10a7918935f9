/**
 * The manager's idle-connection defaults. With tracking or monitoring on (the default), dbkit's reaper
 * closes idle connections (src/internal/pg-idle-reaper.ts) and postgres.js runs no per-query idle timer;
 * otherwise postgres.js' own timer does, with the timer-list keeper (src/internal/timer-list-keeper.ts)
 * removing most of its per-query cost. Either way idle connections disappear from the server, and nothing
 * a connection is still needed for (a query, a transaction, a reservation, LISTEN) is cut.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { type ClientManager, createClientManager } from '../../src/clients/index.js';
import { keepTimerList, keptTimerLists } from '../../src/internal/timer-list-keeper.js';
import { sleep, useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('clients_idle');
const admin = () => postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
const sessions = async (appName: string) => {
  const a = admin();
  try {
    const [r] = await a<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
      where application_name = ${appName}`;
    return r!.n;
  } finally {
    await a.end({ timeout: 1 });
  }
};
const managers: ClientManager[] = [];
const make = (pool: Record<string, unknown>, extra: Parameters<typeof createClientManager>[0] = {}) => {
  const appName = `dbkit-idle-${randomBytes(3).toString('hex')}`;
  const m = createClientManager({
    env: {},
    databaseUrl: db.url,
    pool: { application_name: appName, ...pool },
    ...extra,
  });
  managers.push(m);
  return { m, appName };
};
const options = (m: ClientManager) =>
  m.sql().options as unknown as { idle_timeout: number; socket?: unknown };

afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 3000 })));
  expect(keptTimerLists()).toEqual([]);
});

describe('the reaper (tracked or monitored clients, the default)', () => {
  it('closes an idle connection after idle_timeout with no postgres.js idle timer, and reconnects', async () => {
    const { m, appName } = make({ idle_timeout: 1 });
    expect(options(m).idle_timeout).toBe(0);
    expect(typeof options(m).socket).toBe('function');
    expect(keptTimerLists()).toEqual([]);
    await m.sql()`select 1`;
    expect(await sessions(appName)).toBe(1);
    await waitFor('the idle connection to be closed', async () => (await sessions(appName)) === 0, 10_000);
    // Right after the reap the pool reconnects for the next query (no query lands on the closed socket).
    expect(await m.sql()`select 2 as n`).toEqual([{ n: 2 }]);
    expect(await sessions(appName)).toBe(1);
    expect(m.poolHealth().stats.total.errors).toBe(0);
  });

  it('turns off Nagle on the pool sockets it opens (TCP_NODELAY, as libpq), so COPY does not wait on delayed ACKs', async () => {
    const original = Socket.prototype.setNoDelay;
    const seen: (boolean | undefined)[] = [];
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (
      this: Socket,
      on?: boolean,
    ) {
      seen.push(on);
      return original.call(this, on);
    });
    try {
      const { m } = make({ idle_timeout: 30 });
      await m.sql()`select 1`;
      expect(seen).toEqual([true]); // one connection, set before it connects
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps connections that are running a query, in a transaction or listening', async () => {
    const { m, appName } = make({ idle_timeout: 1, max: 4 });
    const sql = m.sql();
    const heard: string[] = [];
    const channel = `dbkit_idle_${randomBytes(3).toString('hex')}`;
    const listener = await sql.listen(channel, (p) => heard.push(p));
    const long = sql`select pg_sleep(2.5) as slept`.execute();
    const tx = sql.begin(async (t) => {
      await t`select 1`;
      await sleep(2500); // idle in transaction, longer than idle_timeout
      return t`select 'tx' as v`;
    });
    expect(await long).toEqual([{ slept: '' }]);
    expect(await tx).toEqual([{ v: 'tx' }]);
    await sql.notify(channel, 'after idle');
    await waitFor('the notification', async () => heard.includes('after idle'), 5000);
    await listener.unlisten();
    // Once nothing needs them, the pool's connections go (LISTEN has its own connection and pool).
    await waitFor('idle connections closed', async () => (await sessions(appName)) <= 1, 10_000);
    expect(m.poolHealth().stats.total.errors).toBe(0);
  });

  it('keeps a reserved connection that idles past idle_timeout, and reaps it after release', async () => {
    const { m, appName } = make({ idle_timeout: 1 });
    const reserved = await m.sql().reserve();
    await reserved`select 1`;
    await sleep(2000);
    // postgres.js would write to a closed socket here (an uncaught TypeError) had it been reaped.
    expect(await reserved`select 'still here' as v`).toEqual([{ v: 'still here' }]);
    reserved.release();
    await waitFor(
      'the released connection to be closed',
      async () => (await sessions(appName)) === 0,
      10_000,
    );
  });

  it('keeps postgres.js timer for TLS pools and for plain clients, with the list keeper', async () => {
    const tls = make({ idle_timeout: 13 }, { postgres: { ssl: 'prefer' } });
    expect(options(tls.m).idle_timeout).toBe(13);
    expect(options(tls.m).socket).toBeUndefined();
    expect(await tls.m.sql()`select 1 as ok`).toEqual([{ ok: 1 }]);
    const plain = make({ idle_timeout: 13 }, { track: false, monitor: false });
    expect(options(plain.m).idle_timeout).toBe(13);
    plain.m.sql();
    expect(keptTimerLists()).toEqual([13_000]);
    await tls.m.closeAll();
    expect(keptTimerLists()).toEqual([13_000]);
    await plain.m.closeAll();
    expect(keptTimerLists()).toEqual([]);
  });
});

describe('a multi-host URL', () => {
  it('connects through the manager (postgres.js timer, several hosts)', async () => {
    const u = new URL(db.url);
    const url = `postgres://${u.username}@${u.hostname}:${u.port},${u.hostname}:${u.port}${u.pathname}`;
    const m = createClientManager({ env: {}, databaseUrl: url, pool: { idle_timeout: 13 } });
    managers.push(m);
    expect(options(m).idle_timeout).toBe(13);
    expect((m.sql().options as unknown as { host: string[] }).host).toHaveLength(2);
    expect(await m.sql()`select 'two hosts' as v`).toEqual([{ v: 'two hosts' }]);
    await m.closeAll();
  });
});

describe('postgres.js timer with the timer-list keeper (plain clients)', () => {
  it('still closes an idle connection after idle_timeout', async () => {
    const { m, appName } = make({ idle_timeout: 1 }, { track: false, monitor: false });
    await m.sql()`select 1`;
    expect(keptTimerLists()).toEqual([1000]);
    expect(await sessions(appName)).toBe(1);
    await waitFor('the idle connection to be closed', async () => (await sessions(appName)) === 0, 10_000);
    expect(await m.sql()`select 2 as n`).toEqual([{ n: 2 }]);
    await m.closeAll();
  });

  it('release is idempotent and ignores durations Node would not list', () => {
    const r1 = keepTimerList(5000);
    const r2 = keepTimerList(5000.7);
    r1();
    r1();
    expect(keptTimerLists()).toEqual([5000]);
    r2();
    expect(keptTimerLists()).toEqual([]);
    keepTimerList(0)();
    keepTimerList(Number.NaN)();
    expect(keptTimerLists()).toEqual([]);
  });

  it('does not keep the process alive (child process exits on its own)', async () => {
    const script = join(import.meta.dirname, '../../src/internal/timer-list-keeper.ts');
    const code = `import('${script}').then((m) => { m.keepTimerList(30000); console.log('kept', m.keptTimerLists()); })`;
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      { timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(stdout.trim()).toBe('kept [ 30000 ]');
    expect(stderr).toBe('');
  });
});
