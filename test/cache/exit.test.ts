import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../setup/index.js';
import { ioredisMajors } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures/exit-after-quit.ts');
// Far above what the script needs (about a second): a process that does not exit on its own hits it.
const BOUND_MS = 20_000;

function runChild(
  args: string[],
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fixture, ...args],
      { timeout: BOUND_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

describe.each(ioredisMajors)(
  'a script using the cache exits on its own after quit(), ioredis %i',
  (major) => {
    const cases = [
      ['quit', 'a Redis passed in, then redis.quit()', () => inject('redisUrl')],
      [
        'cluster',
        'a Cluster passed in, then cluster.quit()',
        () => {
          const n = inject('redisClusterNodes')[0]!;
          return `${n.host}:${n.port}`;
        },
      ],
      ['owned', 'redisStore({ url, lib }) owning its client, then store.close()', () => inject('redisUrl')],
      [
        'down',
        'Redis refusing connections: circuit open, then redis.disconnect()',
        async () => `redis://127.0.0.1:${await freePort()}`,
      ],
    ] as const;
    it.each(cases.flatMap((c) => [[...c, ''] as const, [...c, 'local'] as const]))(
      '%s: %s %s',
      async (scenario, _what, target, tier) => {
        const r = await runChild([String(major), scenario, await target(), ...(tier ? [tier] : [])]);
        expect(r.signal, `killed after ${BOUND_MS} ms: the process did not exit on its own`).toBeNull();
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout.trim()).toBe('done');
      },
    );
  },
);
