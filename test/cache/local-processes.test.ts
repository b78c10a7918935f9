/**
 * The local tier across 4 processes: every invalidating operation, run by each process in turn, makes the other
 * processes' local copies unreadable (the drop is observed in each of them, and a read after it is never
 * stale); writes by redis-cli (and FLUSHALL on a throwaway server) do the same. Against a spawned Redis and the
 * 3-node Cluster, with both ioredis majors. Latencies are printed, not asserted (noisy machine: the bench
 * measures them).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type SpawnedRedis, spawnRedis, waitFor } from '../setup/index.js';
import { ioredisMajors, namespace } from './helpers.js';
import { type LocalWorker, startWorkers } from './local-workers.js';

const run = promisify(execFile);
const ops = ['set', 'delete', 'tags', 'pattern', 'clear'] as const;
const targets = ['redis', 'cluster'] as const;

describe.each(ioredisMajors.flatMap((m) => targets.map((t) => [m, t] as const)))(
  'local tier in 4 processes, ioredis %i on %s',
  (major, target) => {
    let server: SpawnedRedis | undefined;
    let workers: LocalWorker[];
    let ns: string;
    let cli: (args: string[]) => Promise<string>;
    const latencies: number[] = [];

    beforeAll(async () => {
      ns = namespace(`lp${major}${target}`);
      let where: string;
      if (target === 'redis') {
        server = await spawnRedis();
        where = server.url;
        cli = async (args) => (await run('redis-cli', ['-p', String(server!.port), ...args])).stdout.trim();
      } else {
        const n = inject('redisClusterNodes')[0]!;
        where = `cluster:${n.host}:${n.port}`;
        cli = async (args) => (await run('redis-cli', ['-c', '-p', String(n.port), ...args])).stdout.trim();
      }
      workers = await startWorkers(4, major, where, ns);
    });

    afterAll(async () => {
      const codes = await Promise.all(workers.map((w) => w.stop()));
      const stderr = workers.map((w) => w.stderr).join('');
      await server?.dispose();
      const sorted = [...latencies].sort((a, b) => a - b);
      if (sorted.length) {
        const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
        console.log(
          `ioredis ${major} ${target}: invalidation reached ${sorted.length} local copies, p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`,
        );
      }
      expect(codes).toEqual([0, 0, 0, 0]);
      expect(stderr).toBe('');
    });

    it('every process tracks with Redis client tracking', async () => {
      for (const w of workers) expect((await w.call<{ mode: string }>('ready')).mode).toBe('tracking');
    });

    /** Puts `key` = v1 (tagged) through `writer`, and a local copy of it in every other worker. */
    async function seed(writer: LocalWorker, key: string, tag: string) {
      await writer.call('set', { key, value: { v: 1, key }, tag });
      for (const w of workers) {
        if (w === writer) continue;
        await w.call('warm', { key });
        expect(await w.call('read', { key })).toEqual({ value: { v: 1, key }, local: true });
      }
    }

    const cells = ops.flatMap((op) => [0, 1, 2, 3].map((writer) => [op, writer] as const));
    it.each(cells)('%s by process %i reaches the other 3 local copies', async (op, wi) => {
      const writer = workers[wi]!;
      const key = `${op}:${wi}:k`;
      const tag = `${op}:${wi}:t`;
      await seed(writer, key, tag);
      const args =
        op === 'set'
          ? { key, value: { v: 2, key }, tag }
          : op === 'tags'
            ? { tag }
            : op === 'pattern'
              ? { key: `${op}:${wi}:*` }
              : { key };
      const { at } = await writer.call<{ at: number }>(op, args);
      const expected = op === 'set' ? { v: 2, key } : null;
      for (const w of workers) {
        if (w === writer) {
          // the writer's own copy: gone when the call returns (read-your-writes)
          expect((await w.call<{ value: unknown }>('read', { key })).value).toEqual(expected);
          continue;
        }
        await waitFor(
          'the invalidation to reach the process',
          async () => w.dropAfter(at) !== undefined,
          10_000,
        );
        latencies.push(w.dropAfter(at)! - at);
        // after the drop the old value is unreadable: the very next read is current
        expect((await w.call<{ value: unknown }>('read', { key })).value).toEqual(expected);
      }
    });

    it('writes by redis-cli (SET, DEL, EXPIRE) reach every local copy', async () => {
      const writer = workers[0]!;
      for (const [i, cmd] of [['SET', 'garbage'], ['DEL'], ['PEXPIRE', '1']].entries()) {
        const key = `cli:${i}`;
        await seed(writer, key, `cli:${i}:t`);
        const at = performance.timeOrigin + performance.now();
        await cli([cmd[0]!, `${ns}:k:${key}`, ...cmd.slice(1)]);
        for (const w of workers.slice(1)) {
          await waitFor(
            'the redis-cli write to reach the process',
            async () => w.dropAfter(at) !== undefined,
          );
          // PEXPIRE 1: the invalidation comes when the command runs, but Redis still serves the key for up to
          // 1 ms after it (a read in that window is current, not stale): wait until Redis itself has expired it.
          if (cmd[0] === 'PEXPIRE') {
            await waitFor(
              'Redis to expire the key',
              async () => (await cli(['PTTL', `${ns}:k:${key}`])) === '-2',
            );
          }
          // SET garbage: a corrupt entry, read as a miss; DEL and an expired key: a miss
          expect((await w.call<{ value: unknown }>('read', { key })).value).toBeNull();
        }
      }
    });

    // Generated for the standalone server only: this fault on the shared Cluster would disturb other test files.
    if (target === 'redis')
      it('every invalidation connection killed (CLIENT KILL): the tiers stop, resume empty, never serve the old value', async () => {
        await seed(workers[0]!, 'killed', 'killed:t');
        const list = await cli(['CLIENT', 'LIST']);
        const ids = list
          .split('\n')
          .filter((l) => l.includes('name=dbkit-cache-invalidation'))
          .map((l) => l.match(/id=(\d+)/)![1]!);
        expect(ids.length).toBeGreaterThanOrEqual(4);
        for (const id of ids) await cli(['CLIENT', 'KILL', 'ID', id]);
        // written while the tiers may be unable to hear about it
        await cli(['SET', `${ns}:k:killed`, 'garbage']);
        for (const w of workers) {
          await waitFor('the tier to serve again', async () => {
            const s = await w.call<{ local: { serving: boolean } }>('stats');
            return s.local.serving;
          });
          expect((await w.call<{ value: unknown }>('read', { key: 'killed' })).value).toBeNull();
        }
        await workers[1]!.call('set', { key: 'killed', value: 'back' });
        for (const w of workers) {
          await w.call('warm', { key: 'killed' });
          expect(await w.call('read', { key: 'killed' })).toEqual({ value: 'back', local: true });
        }
      });

    // Generated for the standalone server only: this fault on the shared Cluster would disturb other test files.
    if (target === 'redis')
      it('FLUSHALL (a null invalidation) empties every local tier', async () => {
        await seed(workers[0]!, 'flush', 'flush:t');
        const at = performance.timeOrigin + performance.now();
        await cli(['FLUSHALL']);
        for (const w of workers.slice(1)) {
          await waitFor('FLUSHALL to reach the process', async () => w.dropAfter(at) !== undefined);
          expect(await w.call('read', { key: 'flush' })).toEqual({ value: null, local: false });
        }
      });
  },
);
