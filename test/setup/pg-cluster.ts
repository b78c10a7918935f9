/**
 * A throwaway Postgres cluster for tests that need server settings the shared server must not change
 * (shared_preload_libraries = pg_stat_statements, autovacuum = off, ...): initdb into a temp directory, pg_ctl
 * start on a free 127.0.0.1 port, and pg_ctl stop + remove the directory afterwards. Exactly the cluster started
 * here is stopped: by its data directory, falling back to the postmaster pid it wrote.
 *
 * initdb refuses to run as root, so as root every server command runs as the `postgres` OS user (runuser).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll } from 'vitest';
import { freePort, isAlive, sleep } from './processes.js';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A running throwaway cluster. */
export interface PgCluster {
  readonly port: number;
  readonly dataDir: string;
  /** URL of a database on it (default `postgres`), user postgres, trust auth. */
  url(database?: string): string;
  /** A postgres.js client on `database`, created on first use per database and ended by stop(). */
  sql(database?: string): postgres.Sql;
  /** Runs one statement through a short-lived admin connection (CREATE DATABASE, ALTER SYSTEM ...). */
  admin(statement: string): Promise<void>;
  /** pg_ctl restart (for settings that need one). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Settings written to postgresql.conf before the first start. */
export type PgSettings = Record<string, string | number | boolean>;

function osUser(): { prefix: string[]; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // The Debian packages create the postgres user; initdb needs a non-root owner for the data directory.
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

const command = (user: ReturnType<typeof osUser>, cmd: string, args: string[]) =>
  [...(user?.prefix ?? []), join(BIN, cmd), ...args] as [string, ...string[]];

async function asOwner(user: ReturnType<typeof osUser>, cmd: string, args: string[]) {
  const [c, ...rest] = command(user, cmd, args);
  try {
    return await run(c!, rest, { timeout: 120_000, env: { ...process.env, LC_ALL: 'C' } });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} failed: ${(x.stderr || x.stdout || x.message).trim()}`);
  }
}

const quote = (v: string | number | boolean) =>
  typeof v === 'string' ? `'${v.replace(/'/g, "''")}'` : String(v);

/**
 * initdb + pg_ctl start of a fresh cluster with `settings`; resolves once it accepts connections.
 *
 * ```ts
 * const cluster = await startPgCluster({ shared_preload_libraries: 'pg_stat_statements' });
 * try { await cluster.sql()`select 1` } finally { await cluster.stop() }
 * ```
 */
export async function startPgCluster(settings: PgSettings = {}): Promise<PgCluster> {
  if (!existsSync(join(BIN, 'initdb')))
    throw new Error(`Postgres server binaries not found in ${BIN} (set PG_BIN to the bin directory)`);
  const user = osUser();
  const root = mkdtempSync(join(tmpdir(), 'dbkit-pgcluster-'));
  const dataDir = join(root, 'data');
  if (user) chownSync(root, user.uid, user.gid);
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  try {
    await asOwner(user, 'initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
  } catch (e) {
    cleanup();
    throw e;
  }
  const base: PgSettings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: root,
    max_connections: 40,
    shared_buffers: '16MB',
    fsync: false,
    synchronous_commit: false,
    full_page_writes: false,
    ...settings,
  };
  const conf = join(dataDir, 'postgresql.conf');
  const clients = new Map<string, postgres.Sql>();
  let port = 0;
  let stopped = false;

  const pgCtl = (args: string[]) => asOwner(user, 'pg_ctl', ['-D', dataDir, ...args]);
  const postmasterPid = () => {
    try {
      return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const start = async () => {
    await pgCtl(['-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
  };
  // A free port can be taken between the probe and the bind: retry with another one.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const lines = Object.entries({ ...base, port }).map(([k, v]) => `${k} = ${quote(v)}`);
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}\n# dbkit test cluster\n${lines.join('\n')}\n`);
    try {
      await start();
      break;
    } catch (e) {
      const log = existsSync(join(root, 'server.log')) ? readFileSync(join(root, 'server.log'), 'utf8') : '';
      if (attempt < 2 && /could not bind|Address already in use/i.test(log)) continue;
      cleanup();
      throw new Error(`${(e as Error).message}\n${log.slice(-2000)}`);
    }
  }
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const stopSync = () => {
    if (stopped) return;
    try {
      const [c, ...rest] = command(user, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']);
      execFileSync(c, rest, { stdio: 'ignore' });
    } catch {
      // already down
    }
    cleanup();
  };
  // If the test process dies without afterAll, do not leave the server running.
  process.once('exit', stopSync);

  const cluster: PgCluster = {
    port,
    dataDir,
    url,
    sql(database = 'postgres') {
      let c = clients.get(database);
      if (!c) {
        c = postgres(url(database), { max: 4, onnotice: () => {} });
        clients.set(database, c);
      }
      return c;
    },
    async admin(statement) {
      const a = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(statement);
      } finally {
        await a.end({ timeout: 2 });
      }
    },
    async restart() {
      for (const c of clients.values()) await c.end({ timeout: 2 });
      clients.clear();
      await pgCtl(['-m', 'fast', '-w', '-t', '60', 'restart', '-l', join(root, 'server.log')]);
    },
    async stop() {
      if (stopped) return;
      for (const c of clients.values()) await c.end({ timeout: 2 }).catch(() => {});
      clients.clear();
      const pid = postmasterPid();
      try {
        await pgCtl(['-m', 'fast', '-w', '-t', '30', 'stop']);
      } catch {
        // pg_ctl could not stop it: end exactly the postmaster this cluster wrote, nothing else.
        if (pid && isAlive(pid)) process.kill(pid, 'SIGQUIT');
        for (let i = 0; i < 100 && pid && isAlive(pid); i++) await sleep(50);
      }
      stopped = true;
      process.removeListener('exit', stopSync);
      cleanup();
    },
  };
  return cluster;
}

/**
 * beforeAll/afterAll hooks that start a throwaway cluster for this test file and stop it.
 *
 * ```ts
 * const cluster = usePgCluster({ shared_preload_libraries: 'pg_stat_statements' });
 * it('...', async () => { await cluster().sql()`select 1` });
 * ```
 */
export function usePgCluster(settings: PgSettings = {}): () => PgCluster {
  let current: PgCluster | undefined;
  beforeAll(async () => {
    current = await startPgCluster(settings);
  }, 120_000);
  afterAll(async () => {
    await current?.stop();
  }, 60_000);
  return () => {
    if (!current) throw new Error('usePgCluster(): the cluster starts in beforeAll; use it inside tests');
    return current;
  };
}
