/**
 * The idle reaper against what a busy pool does: queries pipelined on one connection (postgres.js sends a
 * second query before the first one's ReadyForQuery arrives), a query handed to a connection in the same
 * event-loop turn as the reaper's check (postgres.js buffers the write until setImmediate), and a backend
 * terminated while the reaper watches its socket. A reaped connection must never take a query with it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type ClientManager, createClientManager } from '../../src/clients/index.js';
import { sleep, terminateBackend, useTestDatabase, waitFor } from '../setup/index.js';
import { usePgCluster } from '../setup/pg-cluster.js';

const db = useTestDatabase('clients_reaper');
// Our own server for the crash: SIGKILLing a backend makes the postmaster restart every backend.
const cluster = usePgCluster();
const admin = () => postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
const pids = async (appName: string) => {
  const a = admin();
  try {
    const rows = await a<{ pid: number }[]>`select pid from pg_stat_activity
      where application_name = ${appName}`;
    return rows.map((r) => r.pid);
  } finally {
    await a.end({ timeout: 1 });
  }
};
const managers: ClientManager[] = [];
const make = (pool: Record<string, unknown>) => {
  const appName = `dbkit-reap-${randomBytes(3).toString('hex')}`;
  const m = createClientManager({
    env: {},
    databaseUrl: db.url,
    pool: { application_name: appName, ...pool },
  });
  managers.push(m);
  return { m, appName };
};
const busyWait = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
};

afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 3000 })));
});

describe('the idle reaper does not close a connection that has work', () => {
  it('keeps a query pipelined behind a finished one (its ReadyForQuery came, the second is running)', async () => {
    const { m } = make({ idle_timeout: 1, max: 1 });
    const sql = m.sql();
    await sql`select 1`;
    // One connection: postgres.js pipelines the second query on it, both go out in one write. The first
    // one's ReadyForQuery('I') ends a chunk, then nothing moves while the second sleeps past idle_timeout.
    const [a, b] = await Promise.allSettled([sql`select 1 as a`, sql`select pg_sleep(2.6)::text as b`]);
    expect(a).toEqual({ status: 'fulfilled', value: [{ a: 1 }] });
    expect(b).toEqual({ status: 'fulfilled', value: [{ b: '' }] });
    expect(m.poolHealth().stats.total.errors).toBe(0);
  });

  // What can take an idle connection in the same event-loop turn as the reaper's check: a query, a
  // transaction (its BEGIN goes through postgres.js' own unsafe()), notify() (its own raw query), a reservation (writes nothing until its
  // first query), and the manager's health check (on the raw client).
  const starters: Record<string, (m: ClientManager) => Promise<unknown>> = {
    query: (m) => m.sql()`select 'landed' as v`,
    transaction: (m) => m.sql().begin(async (tx) => tx`select 'landed' as v`),
    notify: async (m) => {
      await m.sql().notify('dbkit_reap_race', 'x');
      return [{ v: 'landed' }];
    },
    reservation: async (m) => {
      const r = await m.sql().reserve();
      await sleep(1500); // longer than idle_timeout before its first query
      try {
        return await r`select 'landed' as v`;
      } finally {
        r.release();
      }
    },
    health: async (m) => {
      const h = await m.health({ timeoutMs: 5000 });
      return h.checks.postgres?.status === 'fail' ? h.checks : [{ v: 'landed' }];
    },
  };
  it.each(Object.keys(starters))(
    'keeps a connection a %s takes in the same event-loop turn as the check (the write is still buffered)',
    async (kind) => {
      const { m } = make({ idle_timeout: 1, max: 1 });
      const sql = m.sql();
      const results: PromiseSettledResult<unknown>[] = [];
      // Each attempt lets the connection idle until it is about to be reaped, then starts the work from a
      // timer that expires just before the reaper's and blocks the loop so that both run in one turn.
      for (let i = 0; i < 2; i++) {
        await sql`select 1`;
        await sleep(900 + i * 60);
        const settled = new Promise<PromiseSettledResult<unknown>>((resolve) => {
          setTimeout(() => {
            starters[kind]!(m).then(
              (value) => resolve({ status: 'fulfilled', value }),
              (reason: unknown) => resolve({ status: 'rejected', reason }),
            );
          }, 1);
          busyWait(600);
        });
        results.push(await settled);
      }
      for (const r of results) expect(r).toEqual({ status: 'fulfilled', value: [{ v: 'landed' }] });
      // The pool is still usable right away (after a lost race postgres.js' next connect timed out).
      expect(await sql`select 'usable' as v`.execute()).toEqual([{ v: 'usable' }]);
    },
  );

  // The reaper holds off while anything runs: each way work can end must let it go back to reaping
  // (a count left above zero would keep every idle connection open for good).
  const endings: Record<string, (sql: ReturnType<ClientManager['sql']>) => Promise<unknown>> = {
    'cursor left early': async (sql) => {
      for await (const rows of sql`select g from generate_series(1, 100) g`.cursor(10)) {
        if (rows.length > 0) break;
      }
    },
    'forEach that throws': (sql) =>
      sql`select g from generate_series(1, 10) g`
        .forEach(() => {
          throw new Error('stop');
        })
        .catch(() => {}),
    'failed query': (sql) => sql`select 1/0`.catch(() => {}),
    'cancelled query': async (sql) => {
      const q = sql`select pg_sleep(5)`.execute();
      await sleep(100);
      q.cancel();
      await q.catch(() => {});
    },
    'rolled back transaction': (sql) =>
      sql
        .begin(async (tx) => {
          await tx`select 1`;
          throw new Error('rollback');
        })
        .catch(() => {}),
    'failed COPY FROM STDIN': async (sql) => {
      const table = `reap_copy_${randomBytes(3).toString('hex')}`;
      await sql.unsafe(`create table ${table} (n int)`);
      const w = await sql.unsafe(`copy ${table} from stdin`).writable();
      // Not awaited: with postgres.js 3.4 the writable of a failed COPY never finishes
      // (porsager/postgres#1173); the query itself is rejected, which is what the reaper counts.
      void pipeline(Readable.from(['1\n', 'not a number\n']), w).catch(() => {});
    },
    'released reservation': async (sql) => {
      const r = await sql.reserve();
      await r`select 1`;
      r.release();
    },
  };
  it.each(Object.keys(endings))('reaps again after a %s', async (kind) => {
    const { m, appName } = make({ idle_timeout: 1, max: 2 });
    const sql = m.sql();
    await endings[kind]!(sql);
    await waitFor('the pool to be reaped', async () => (await pids(appName)).length === 0, 10_000);
  });

  it('survives a backend terminated while the reaper watches it, and reaps the new connection later', async () => {
    const { m, appName } = make({ idle_timeout: 1, max: 2 });
    const sql = m.sql();
    await Promise.all([sql`select 1`, sql`select 2`]);
    const before = await pids(appName);
    expect(before).toHaveLength(2);
    for (const pid of before) await terminateBackend(pid);
    await sleep(100);
    expect(await sql`select 'after kill' as v`).toEqual([{ v: 'after kill' }]);
    await waitFor('the new connection to be reaped', async () => (await pids(appName)).length === 0, 10_000);
    expect(await sql`select 'again' as v`).toEqual([{ v: 'again' }]);
  });
});

describe('the idle reaper when the server crashes', () => {
  it('a backend SIGKILLed under a watched pool: no uncaught error, the pool reconnects and reaps again', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/reaper-crash-child.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, cluster().url()], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => {
      stdout += c;
    });
    child.stderr!.on('data', (c) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the child to be ready', async () => /ready \d+,\d+/.test(stdout), 20_000);
      const pid = Number(/ready (\d+),/.exec(stdout)![1]);
      process.kill(pid, 'SIGKILL'); // a backend of our throwaway cluster
      await sleep(300);
      child.stdin!.write('go\n');
      const code = await Promise.race([exited, sleep(40_000).then(() => 'timeout' as const)]);
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stderr).not.toMatch(/uncaught|unhandled|TypeError|RangeError/i);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({
      answered: true,
      reapedAfterCrash: true,
      after: [{ v: 'after' }],
      closeErrors: [],
    });
  }, 60_000);
});
