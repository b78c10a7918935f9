import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

/**
 * Builds src/cli.ts into a private bundle for this test file (dist/ is shared with other engineers) and returns
 * a runner. The bundle lives under node_modules/.cache so its bare imports (postgres, ioredis) resolve.
 */
export function useDoctorCli(): (
  args: string[],
  env?: NodeJS.ProcessEnv,
) => Promise<{ code: number; stdout: string; stderr: string }> {
  let dir = '';
  let cli = '';
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
  return async (args, env = {}) => {
    try {
      const r = await run(process.execPath, [cli, 'doctor', ...args], {
        timeout: 90_000,
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', ...env },
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
}

/** Where tests write what a person may want to look at (screenshots, pages); gitignored. */
export const TEST_OUTPUT = join(root, 'test-output');
