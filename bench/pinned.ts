/**
 * `npm run bench:pinned -- <name> ...`: runs `npm run bench -- <name> ...` with the Postgres server and the
 * benchmark on separate CPUs. On a 2-core VM the scheduler otherwise moves the benchmark and its backends
 * between the cores from one call to the next, and two identical postgres.js clients measured call by call
 * differ by up to 5-10% in a run, more than the overheads the per-call groups are there to show. With the
 * postmaster (so every backend forked from it, and `between: reconnectAll` makes new ones every round) on the
 * last CPU and the benchmark on CPU 0, identical clients came out within 0.3% of each other (measured
 * 2026-12-02, 150 rounds x 400 calls).
 *
 * Linux only, for a server on this machine (DATABASE_URL or 127.0.0.1:5432), and `taskset` (util-linux) must be
 * allowed to set the server's affinity (the same user, root, or CAP_SYS_NICE). The server's affinity is put
 * back when the benchmark ends, also on Ctrl-C. A redis-server the benchmark spawns (no REDIS_URL) runs on the
 * server CPUs too (DBKIT_BENCH_SERVER_CPUS); the emulators are not pinned.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import postgres from 'postgres';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const cpus = availableParallelism();
if (process.platform !== 'linux' || cpus < 2) {
  console.error('bench:pinned needs Linux and at least 2 CPUs; run `npm run bench` instead');
  process.exit(2);
}

// The postmaster is the parent of our own backend (/proc/<pid>/stat, field 4).
const sql = postgres(url, { max: 1, onnotice: () => {} });
const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
let postmaster = 0;
try {
  // Read while the backend is alive.
  const stat = readFileSync(`/proc/${row!.pid}/stat`, 'utf8');
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  // A remote server's backend pid can be some other local process: both must be postgres processes here.
  const comm = (p: number) => readFileSync(`/proc/${p}/comm`, 'utf8').trim();
  if (comm(row!.pid).startsWith('postgres') && comm(parent).startsWith('postgres')) postmaster = parent;
} catch {
  // not a process on this machine
}
await sql.end();
if (!(postmaster > 1)) {
  console.error(`bench:pinned: backend ${row!.pid} is not a process on this machine (is the server remote?)`);
  process.exit(2);
}

const affinity = (p: number) =>
  execFileSync('taskset', ['-pc', String(p)], { encoding: 'utf8' })
    .trim()
    .replace(/^.*: /, '');
const before = affinity(postmaster);
const server = cpus >= 4 ? `${cpus / 2}-${cpus - 1}` : String(cpus - 1);
const bench = cpus >= 4 ? `0-${cpus / 2 - 1}` : '0';
execFileSync('taskset', ['-pc', server, String(postmaster)], { stdio: 'ignore' });
const restore = () => {
  try {
    execFileSync('taskset', ['-pc', before, String(postmaster)], { stdio: 'ignore' });
  } catch {
    // the server went away meanwhile
  }
};
console.log(
  `bench:pinned: postmaster ${postmaster} on CPU ${server} (was ${before}), benchmark on CPU ${bench}`,
);
const child = spawn('taskset', ['-c', bench, 'npx', 'tsx', 'bench/run.ts', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, DBKIT_BENCH_SERVER_CPUS: server },
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  restore();
  process.exit(code ?? (signal ? 1 : 0));
});
