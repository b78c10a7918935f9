/**
 * The manager's idle-connection defaults: postgres.js still reaps idle connections after `idle_timeout`,
 * and the timer-list keeper that removes most of its per-query cost (src/internal/timer-list-keeper.ts)
 * lives exactly as long as the pools using it and never keeps the process alive.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createClientManager } from '../../src/clients/index.js';
import { keepTimerList, keptTimerLists } from '../../src/internal/timer-list-keeper.js';
import { useTestDatabase, waitFor } from '../setup/index.js';

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

afterAll(() => {
  expect(keptTimerLists()).toEqual([]);
});

describe('idle_timeout with the timer-list keeper', () => {
  it('keeps the list while a pool with that idle_timeout is open, for as many pools as use it', async () => {
    const a = createClientManager({ env: {}, databaseUrl: db.url, pool: { idle_timeout: 17 } });
    const b = createClientManager({ env: {}, databaseUrl: db.url, pool: { idle_timeout: 17 } });
    expect(keptTimerLists()).toEqual([]);
    a.sql();
    b.sql();
    expect(keptTimerLists()).toEqual([17_000]);
    await a.closeAll();
    expect(keptTimerLists()).toEqual([17_000]);
    await b.closeAll();
    expect(keptTimerLists()).toEqual([]);
    const off = createClientManager({ env: {}, databaseUrl: db.url, pool: { idle_timeout: 0 } });
    off.sql();
    expect(keptTimerLists()).toEqual([]);
    await off.closeAll();
  });

  it('still closes an idle connection after idle_timeout (and reopens one on the next query)', async () => {
    const appName = `dbkit-idle-${randomBytes(3).toString('hex')}`;
    const m = createClientManager({
      env: {},
      databaseUrl: db.url,
      pool: { idle_timeout: 1, application_name: appName },
    });
    try {
      await m.sql()`select 1`;
      expect(await sessions(appName)).toBe(1);
      await waitFor('the idle connection to be closed', async () => (await sessions(appName)) === 0, 10_000);
      expect(await m.sql()`select 2 as n`).toEqual([{ n: 2 }]);
      expect(await sessions(appName)).toBe(1);
    } finally {
      await m.closeAll();
    }
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
    const t0 = Date.now();
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      { timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(stdout.trim()).toBe('kept [ 30000 ]');
    expect(stderr).toBe('');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
