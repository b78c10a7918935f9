/**
 * Starts what the suite needs, once per `vitest run`, and stops exactly what it started:
 * - Postgres: DATABASE_URL, or the local server on 127.0.0.1:5432 (started with pg_ctlcluster when installed but down).
 *   Test files create their own randomly named databases (test/setup/postgres.ts); teardown drops any this run left.
 * - Redis: REDIS_URL, or a redis-server spawned on a free port; plus a 3-master Redis Cluster on free ports.
 * - The Pub/Sub and Firestore emulators from the Google Cloud SDK, on free ports (PUBSUB_EMULATOR_HOST /
 *   FIRESTORE_EMULATOR_HOST override them).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { type SpawnedEmulator, startFirestoreEmulator, startPubSubEmulator } from './emulators.js';
import { type SpawnedCluster, type SpawnedRedis, spawnRedis, spawnRedisCluster } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    runId: string;
    pgAdminUrl: string;
    redisUrl: string;
    redisClusterNodes: Array<{ host: string; port: number }>;
    pubsubEmulatorHost: string;
    firestoreEmulatorHost: string;
  }
}

async function canConnect(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function ensurePostgres(): Promise<string> {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (await canConnect(url)) return url;
  if (!process.env.DATABASE_URL) {
    try {
      const versions = execFileSync('ls', ['/etc/postgresql']).toString().trim().split('\n');
      for (const v of versions) {
        execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'start'], { stdio: 'ignore' });
      }
    } catch {
      // not installed here: fall through to the error below
    }
    for (let i = 0; i < 50; i++) {
      if (await canConnect(url)) return url;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(
    'No Postgres reachable: set DATABASE_URL or run a server on 127.0.0.1:5432 (user postgres, trust auth).',
  );
}

export default async function setup(project: TestProject) {
  const runId = randomBytes(4).toString('hex');
  const started: Array<SpawnedRedis | SpawnedCluster | SpawnedEmulator> = [];
  const pgAdminUrl = await ensurePostgres();
  try {
    const [redis, cluster, pubsub, firestore] = await Promise.all([
      process.env.REDIS_URL ? undefined : spawnRedis(),
      spawnRedisCluster(3),
      process.env.PUBSUB_EMULATOR_HOST ? undefined : startPubSubEmulator(),
      process.env.FIRESTORE_EMULATOR_HOST ? undefined : startFirestoreEmulator(),
    ]);
    for (const s of [redis, cluster, pubsub, firestore]) if (s) started.push(s);
    project.provide('runId', runId);
    project.provide('pgAdminUrl', pgAdminUrl);
    project.provide('redisUrl', process.env.REDIS_URL ?? redis!.url);
    project.provide('redisClusterNodes', cluster.nodes);
    project.provide('pubsubEmulatorHost', process.env.PUBSUB_EMULATOR_HOST ?? pubsub!.host);
    project.provide('firestoreEmulatorHost', process.env.FIRESTORE_EMULATOR_HOST ?? firestore!.host);
  } catch (e) {
    await Promise.allSettled(started.map((s) => s.dispose()));
    throw e;
  }

  return async function teardown() {
    await Promise.allSettled(started.map((s) => s.dispose()));
    // Drop whatever databases this run created and a test file failed to drop.
    const sql = postgres(pgAdminUrl, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<{ datname: string }[]>`
        select datname from pg_database where datname like ${`dbkit_t_${runId}_%`}`;
      for (const { datname } of rows) await sql`drop database if exists ${sql(datname)} with (force)`;
    } finally {
      await sql.end({ timeout: 2 });
    }
  };
}
