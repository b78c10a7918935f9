/**
 * Runs examples/cache-two-processes.ts as a user would (its own process, which forks a second one) against the
 * test Redis: both processes exit on their own, nothing on stderr, and the reader sees each change.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { namespace } from './helpers.js';

describe('examples/cache-two-processes.ts', () => {
  it('the reader serves from memory and sees the writer’s change and invalidation', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, '../../examples/cache-two-processes.ts')],
        {
          timeout: 30_000,
          killSignal: 'SIGKILL',
          env: {
            ...process.env,
            NODE_OPTIONS: '',
            REDIS_URL: inject('redisUrl'),
            CACHE_NAMESPACE: namespace('ex2'),
          },
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain('[reader] served from memory: {"id":1,"name":"Kettle","priceCents":2999}');
    expect(lines).toContain('[reader] after the write: {"id":1,"name":"Kettle","priceCents":2499}');
    expect(lines).toContain('[reader] served from memory again: {"id":1,"name":"Kettle","priceCents":2499}');
    expect(lines).toContain('[reader] after invalidateTags: a miss (the loader would run now)');
    expect(lines.at(-1)).toBe('[writer] done');
  });
});
