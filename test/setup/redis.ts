import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ioredis5 from 'ioredis';
import * as ioredis6 from 'ioredis6';
import { freePort, isAlive, signalGroup, sleep, spawnGroup, stopGroup, waitFor } from './processes.js';

const run = promisify(execFile);

/** True when the redis-server answering on `port` is process `pid` (not another run's server that took the port). */
async function answers(port: number, pid: number | undefined): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'INFO', 'server'], {
      timeout: 2000,
    });
    return new RegExp(`^process_id:${pid}\\r?$`, 'm').test(stdout);
  } catch {
    return false;
  }
}

/** A redis-server this test run started, with the fault-injection controls the tests need. */
export interface SpawnedRedis {
  readonly port: number;
  readonly url: string;
  pid(): number | undefined;
  /** Kills the server (SIGKILL: as abrupt as a crash). Data is lost; `start()` brings up an empty one on the same port. */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()`. */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing (a hung server). */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** Stops it for good and removes its directory. */
  dispose(): Promise<void>;
}

export interface SpawnRedisOptions {
  port?: number;
  /** Extra `redis-server` arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
}

/**
 * Starts a throwaway redis-server on a free port (nothing persisted). Tests that stop, pause or
 * crash Redis spawn their own with this, so no other test file is affected.
 */
export async function spawnRedis(options: SpawnRedisOptions = {}): Promise<SpawnedRedis> {
  if (options.port !== undefined) return spawnOn(options.port, options.args ?? []);
  // freePort() cannot reserve the port: another process can bind it before redis-server does (6 test runs
  // share this machine). Such a start fails fast (the server exits), so try another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOn(await freePort(), options.args ?? []);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt === 3) throw e;
    }
  }
}

class PortTaken extends Error {}

async function spawnOn(port: number, args: string[]): Promise<SpawnedRedis> {
  const dir = mkdtempSync(join(tmpdir(), `dbkit-redis-${port}-`));
  let pid: number | undefined;
  const startServer = async () => {
    const child = spawnGroup(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--protected-mode',
        'no',
        ...args,
      ],
      `redis-server:${port}`,
    );
    pid = child.pid;
    let exit: string | undefined;
    child.once('exit', (code, signal) => {
      exit = String(signal ?? code);
    });
    await waitFor(
      `redis-server on port ${port}`,
      async () => exit !== undefined || (await answers(port, child.pid)),
      15_000,
    );
    if (exit !== undefined) {
      pid = undefined;
      const log = (child as typeof child & { logTail: () => string }).logTail();
      const E = log.includes('Address already in use') ? PortTaken : Error;
      throw new E(`redis-server on port ${port} exited (${exit}) before answering: ${log}`);
    }
  };
  try {
    await startServer();
  } catch (e) {
    signalGroup(pid, 'SIGKILL'); // still running when it never answered
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => pid,
    async stop() {
      const p = pid;
      signalGroup(p, 'SIGKILL');
      if (p) await waitFor(`redis-server ${port} to exit`, async () => !isAlive(p), 5000);
      pid = undefined;
    },
    async start() {
      if (pid) return;
      await startServer();
    },
    pause() {
      signalGroup(pid, 'SIGSTOP');
    },
    resume() {
      signalGroup(pid, 'SIGCONT');
    },
    async dispose() {
      signalGroup(pid, 'SIGCONT');
      await stopGroup(pid, 2000);
      pid = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A 3-master Redis Cluster (no replicas) on free ports. */
export interface SpawnedCluster {
  readonly nodes: Array<{ host: string; port: number }>;
  readonly servers: SpawnedRedis[];
  /** SIGKILLs every node at once (the whole Cluster crashes; data is lost, each node keeps its nodes.conf). */
  stop(): Promise<void>;
  /** Restarts every node `stop()` killed, on its port, and waits until each reports `cluster_state:ok`. */
  start(): Promise<void>;
  /** SIGSTOPs every node: the Cluster keeps its sockets and answers nothing. */
  pause(): void;
  /** SIGCONTs every node after `pause()` and waits until each reports `cluster_state:ok`. */
  resume(): Promise<void>;
  dispose(): Promise<void>;
}

/** Waits until every node reports `cluster_state:ok` (slots assigned, no node flagged as failed). */
async function clusterOk(servers: SpawnedRedis[], timeoutMs = 20_000): Promise<void> {
  await Promise.all(
    servers.map((s) =>
      waitFor(
        `cluster_state:ok on ${s.port}`,
        async () => {
          const { stdout } = await run('redis-cli', ['-p', String(s.port), 'CLUSTER', 'INFO'], {
            timeout: 2000,
          });
          return stdout.includes('cluster_state:ok');
        },
        timeoutMs,
      ),
    ),
  );
}

export async function spawnRedisCluster(masters = 3): Promise<SpawnedCluster> {
  const servers: SpawnedRedis[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await spawnRedis({
          // nodes.conf lives in the node's own directory, so it survives stop()/start() and the node rejoins.
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
          ],
        }),
      );
    }
    const addrs = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    await clusterOk(servers);
    // Let the gossip settle so every node knows every slot owner.
    await sleep(200);
  } catch (e) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw e;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
    async start() {
      await Promise.all(servers.map((s) => s.start()));
      await clusterOk(servers);
    },
    pause() {
      for (const s of servers) s.pause();
    },
    async resume() {
      for (const s of servers) s.resume();
      await clusterOk(servers);
    },
    async dispose() {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}

/** A random key prefix, so test files sharing one Redis never collide. */
export function keyPrefix(label = 't'): string {
  return `${label}:${Math.random().toString(36).slice(2, 10)}:`;
}

/** An ioredis major the Redis tests run against (`ioredis` is 5, the `ioredis6` alias devDependency is 6). */
export type IoredisMajor = 5 | 6;

const libs = { 5: ioredis5, 6: ioredis6 } as const;

/**
 * The ioredis majors to test: both, or only the one named by DBKIT_IOREDIS (`DBKIT_IOREDIS=6 npx vitest run test/cache`).
 */
export const ioredisMajors: readonly IoredisMajor[] = (() => {
  const only = process.env.DBKIT_IOREDIS;
  if (only === undefined || only === '') return [5, 6] as const;
  if (only !== '5' && only !== '6') throw new Error(`DBKIT_IOREDIS must be 5 or 6, got ${only}`);
  return [Number(only) as IoredisMajor];
})();

/** The ioredis module of a major (`{ Redis, Cluster }`). */
export function ioredisLib(major: IoredisMajor): typeof ioredis5 {
  // Typed as ioredis 5 so tests call one API; at run time it is the major asked for (the commands tests use
  // have the same shape in both).
  return libs[major] as unknown as typeof ioredis5;
}

/** A standalone client of the given major (`new Redis(...)`). */
export function newRedisClient(
  major: IoredisMajor,
  target: string | number,
  options: ioredis5.RedisOptions = {},
): ioredis5.Redis {
  const { Redis } = ioredisLib(major);
  return typeof target === 'number' ? new Redis(target, options) : new Redis(target, options);
}

/** A Cluster client of the given major (`new Cluster(nodes, options)`). */
export function newClusterClient(
  major: IoredisMajor,
  nodes: Array<{ host: string; port: number }>,
  options: ioredis5.ClusterOptions = {},
): ioredis5.Cluster {
  return new (ioredisLib(major).Cluster)(nodes, options);
}
