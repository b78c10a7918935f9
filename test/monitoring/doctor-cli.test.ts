import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, useTestDatabase } from '../setup/index.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const db = useTestDatabase('mondoctor');
const PASSWORD = 'Sup3rS3cretPw';
let dir: string;
let cli: string;

// The test builds its own CLI bundle (dist/ is shared with other engineers). It lives under
// node_modules/.cache so the bundle's bare imports (postgres, ioredis) resolve from the repo.
beforeAll(async () => {
  mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
  dir = mkdtempSync(join(root, 'node_modules/.cache/dbkit-doctor-'));
  cli = join(dir, 'cli.mjs');
  await build({
    entryPoints: [join(root, 'src/cli.ts')],
    outfile: cli,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The test server trusts loopback, so a password in the URL is accepted and never checked. */
const withPassword = (url: string) => {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
};

async function doctor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [cli, 'doctor', ...args], {
      timeout: 60_000,
      env: { ...process.env, DATABASE_URL: '' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('dbkit doctor (built CLI against the test database)', () => {
  it('exits 0 on a healthy database and prints JSON without the password', async () => {
    const r = await doctor([withPassword(db.url), '--json']);
    expect(r.stderr).toMatch(/check duplicate_index/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.exitCode).toBe(0);
    expect(report.sections.map((s: { name: string }) => s.name)).toEqual([
      'Connection',
      'Activity',
      'Postgres checks',
    ]);
    expect(report.target).toContain(':***@');
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('exits 1 with warnings and prints the fix SQL in a readable report, with Redis', async () => {
    await db
      .sql()
      .unsafe(`create table t (a int, b int); create index t_a on t (a); create index t_a_b on t (a, b);`);
    const r = await doctor([withPassword(db.url), '--redis', inject('redisUrl')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/== Postgres checks ==/);
    expect(r.stdout).toMatch(/WARN {2}duplicate_index {2}public\.t_a\n/);
    expect(r.stdout).toContain('fix: DROP INDEX CONCURRENTLY public.t_a;');
    expect(r.stdout).toMatch(/== Redis ==\n {2}ok/);
    expect(r.stdout).toMatch(/WARNINGS: 0 critical, 1 warnings/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('exits 2 when Postgres is unreachable, still without the password', async () => {
    const port = await freePort();
    const r = await doctor([`postgres://app:${PASSWORD}@127.0.0.1:${port}/nope`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/FAIL {2}connection/);
    expect(r.stdout).toContain(`app:***@127.0.0.1:${port}`);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('exits 64 without a URL', async () => {
    const r = await doctor([]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/DATABASE_URL/);
  });
});
