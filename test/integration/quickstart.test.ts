/**
 * Runs examples/quickstart.ts (the README's first service, checked to be the same code by
 * test/package/readme-snippets.test.ts) as its own process against the real services: the second request
 * is a cache hit (same value, the entry in Redis), readiness is true, and SIGTERM exits 0 with an empty stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort, newRedisClient, useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('quickstart');
const redis = newRedisClient(5, inject('redisUrl'));
let child: ChildProcess | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await redis.quit();
});

const request = (port: number, path = '/') =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });

describe('examples/quickstart.ts', () => {
  it('answers from the cache on the second request, /ready is 200, and exits 0 on SIGTERM', async () => {
    await redis.del('quickstart:k:now');
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../examples/quickstart.ts')],
      {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          DATABASE_URL: db.url,
          REDIS_URL: inject('redisUrl'),
          PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));

    let first: { status: number; body: string } | undefined;
    await waitFor(
      'the quickstart service to answer',
      async () => {
        first = await request(port).catch(() => undefined);
        return first !== undefined;
      },
      30_000,
    );
    expect(first!.status).toBe(200);
    const body = JSON.parse(first!.body) as { now: string };
    expect(body.now).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+/); // Postgres' now()::text
    // The value now lives in Redis under the cache's key layout, and the next request is served from it
    // (now() has microseconds: a second query would give another value).
    expect(await redis.exists('quickstart:k:now')).toBe(1);
    const second = await request(port);
    expect(JSON.parse(second.body)).toEqual(body);
    expect((await request(port, '/ready')).status).toBe(200);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
