/**
 * Services for benchmarks: DATABASE_URL / REDIS_URL when set, otherwise the local Postgres and a
 * throwaway redis-server spawned for this run (so a benchmark never touches anyone's data).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { type SpawnedRedis, spawnRedis } from '../test/setup/redis.js';

export interface BenchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates a scratch database for one benchmark and drops it afterwards. */
export async function benchDatabase(label: string): Promise<BenchDatabase> {
  const admin = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `dbkit_bench_${label}_${randomBytes(3).toString('hex')}`;
  const a = postgres(admin, { max: 1, onnotice: () => {} });
  await a`create database ${a(name)}`;
  await a.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const b = postgres(admin, { max: 1, onnotice: () => {} });
      await b`drop database if exists ${b(name)} with (force)`;
      await b.end();
    },
  };
}

/** A Redis for one benchmark: REDIS_URL, or a fresh redis-server (disposed by `dispose`). */
export async function benchRedis(): Promise<{
  url: string;
  server?: SpawnedRedis;
  dispose(): Promise<void>;
}> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, dispose: async () => {} };
  const server = await spawnRedis();
  // Under `npm run bench:pinned` the server runs on the server CPUs, away from the benchmark.
  const cpus = process.env.DBKIT_BENCH_SERVER_CPUS;
  const pid = server.pid();
  if (cpus && pid) execFileSync('taskset', ['-pc', cpus, String(pid)], { stdio: 'ignore' });
  return { url: server.url, server, dispose: () => server.dispose() };
}
