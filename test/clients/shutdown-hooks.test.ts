import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../setup/index.js';

const run = promisify(execFile);
const db = useTestDatabase('clients_hooks');

describe('installShutdownHooks()', () => {
  it('closes every client once on SIGTERM (a second signal is ignored) and exits 0', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/shutdown-child.ts');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture, db.url, inject('redisUrl')], {
      timeout: 25_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('ready');
    expect(lines).toHaveLength(2);
    const report = JSON.parse(lines[1]!) as {
      signal: string;
      closed: string[];
      errors: unknown[];
      closeCalls: number;
      stats: { closed: boolean; created: Record<string, number> };
    };
    expect(report.signal).toBe('SIGTERM');
    expect(report.closed).toEqual(['postgres', 'redis']);
    expect(report.errors).toEqual([]);
    expect(report.closeCalls).toBe(1);
    expect(report.stats.closed).toBe(true);
    expect(report.stats.created.postgres).toBe(1);
  });
});
