/**
 * Starts examples/service.ts as a user would (its own process, configured by the environment) and drives
 * it over HTTP: a tracked, cached db, readiness from the pool monitor, metrics, and a graceful SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { keyPrefix, useTestDatabase, waitFor } from '../setup/index.js';

const db = useTestDatabase('service_example');
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

const request = (port: number, path: string) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>(
    (resolve, reject) => {
      get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      }).on('error', reject);
    },
  );

describe('examples/service.ts', () => {
  it('serves a tracked, cached, monitored db; /ready, /metrics; shuts down cleanly on SIGTERM', async () => {
    const namespace = keyPrefix('svc').replace(/:$/, '');
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../examples/service.ts')],
      {
        env: {
          ...process.env,
          NODE_OPTIONS: '',
          DATABASE_URL: db.url,
          REDIS_URL: inject('redisUrl'),
          PORT: '0',
          CACHE_NAMESPACE: namespace,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    await waitFor('the service to listen', async () => /listening on \d+/.test(stdout), 30_000);
    const port = Number(/listening on (\d+)/.exec(stdout)![1]);

    expect((await request(port, '/live')).status).toBe(200);
    const ready = await request(port, '/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ healthy: true, score: 100, draining: false });

    // Cached: the second read runs no query.
    const first = await request(port, '/users/3');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ id: 3, name: 'customer 3' });
    expect(first.headers['x-db-queries']).toBe('1');
    const second = await request(port, '/users/3');
    expect(second.body).toBe(first.body);
    expect(second.headers['x-db-queries']).toBe('0');

    // Tracked: the N+1 route is caught, the batched one is not.
    const nPlusOne = await request(port, '/orders');
    expect(nPlusOne.headers).toMatchObject({ 'x-db-queries': '7', 'x-n-plus-one': '1' });
    const batched = await request(port, '/orders?batched');
    expect(batched.headers).toMatchObject({ 'x-db-queries': '2', 'x-n-plus-one': '0' });
    expect(JSON.parse(batched.body)).toEqual(JSON.parse(nPlusOne.body));
    expect(stdout).toMatch(/N\+1: 6x select id, name from example_customers where .* at .*service\.ts/);

    // Monitored: the pool's histograms and the cache counters are on /metrics.
    const metrics = await request(port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /db_client_operation_duration_seconds_count\{[^}]*pool_name="primary"[^}]*\} \d+/,
    );
    expect(metrics.body).toContain(`dbkit_cache_hits_total{cache="${namespace}"} 1`);
    expect(metrics.body).toContain(`dbkit_cache_misses_total{cache="${namespace}"} 1`);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/SIGTERM: drained in \d+ ms, closed \[postgres, caches, redis\]/);
    expect(stderr).toBe('');
  });
});
