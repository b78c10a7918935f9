/**
 * The manager's one data path: its Postgres client is tracked (dbkit/query) and monitored
 * (dbkit/monitoring) by default, poolHealth() reads the monitors, cache() and metrics() hang off the same
 * manager, health() has a terminus form, and both builds share one process-wide manager.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ClientClosedError,
  type ClientManager,
  createClientManager,
  isDbkitError,
  toTerminusResult,
} from '../../src/clients/index.js';
import { isInstrumented, trackQueries } from '../../src/query/index.js';
import {
  createTestDatabase,
  keyPrefix,
  type TestDatabase,
  useTestDatabase,
  waitFor,
} from '../setup/index.js';

const db = useTestDatabase('clients_path');
const authors = pgTable('authors', { id: integer('id').primaryKey(), name: text('name').notNull() });
const managers: ClientManager[] = [];
const make = (config: Parameters<typeof createClientManager>[0] = {}) => {
  const m = createClientManager({ env: {}, databaseUrl: db.url, ...config });
  managers.push(m);
  return m;
};
beforeAll(async () => {
  await db.sql()`create table authors (id int primary key, name text not null)`;
  await db.sql()`insert into authors select g, 'author ' || g from generate_series(1, 20) g`;
});
afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 3000 })));
});

describe('tracked and monitored by default', () => {
  it('trackQueries sees manager.sql() and manager.db() queries and finds an N+1 in drizzle ones', async () => {
    const m = make();
    const d = m.db();
    const t = await trackQueries(async () => {
      await m.sql()`select count(*) from authors`;
      for (const id of [1, 2, 3, 4, 5, 6]) await d.select().from(authors).where(eq(authors.id, id)).execute();
    });
    expect(t.queries).toHaveLength(7);
    expect(t.queries.every((q) => q.client === 'primary')).toBe(true);
    expect(t.nPlusOne).toHaveLength(1);
    expect(t.nPlusOne[0]).toMatchObject({
      count: 6,
      fingerprint: 'select id, name from authors where authors.id = ?',
    });
    expect(t.nPlusOne[0]!.callSite).toContain('data-path.test.ts');
    expect(m.poolHealth().stats.total.queries).toBe(7);
  });

  it('poolHealth() reports the same monitor: score, healthy and stats under load', async () => {
    const m = make({ pool: { max: 2 } });
    const idle = m.poolHealth();
    expect(idle).toMatchObject({ name: 'primary', score: 100, healthy: true, replicas: [], draining: false });
    expect(idle.stats).toMatchObject({ max: 2, inFlight: 0 });
    const running = [1, 2, 3, 4].map(() => m.sql()`select pg_sleep(0.3)`.execute());
    await waitFor('4 in flight', async () => m.poolHealth().stats.inFlight === 4);
    const busy = m.poolHealth();
    expect(busy.stats).toMatchObject({ inUse: 2, pending: 2, utilisation: 1 });
    expect(busy.score).toBe(0);
    expect(busy.healthy).toBe(false);
    expect(m.poolHealth({ minScore: 0 }).healthy).toBe(true);
    await Promise.all(running);
    expect(m.poolHealth().stats).toMatchObject({ inFlight: 0, total: { queries: 4 } });
  });

  it('gives each replica its own monitor under `replicas`', async () => {
    let replica: TestDatabase | undefined;
    try {
      replica = await createTestDatabase('path_replica');
      await replica.sql()`create table authors (id int primary key, name text not null)`;
      const m = make({ replicaUrls: [replica.url] });
      const d = m.db();
      await d.select().from(authors); // a read: the replica
      await d.insert(authors).values({ id: 100, name: 'w' }); // a write: the primary
      const h = m.poolHealth();
      expect(h.replicas.map((r) => r.name)).toEqual(['replica0']);
      expect(h.stats.total.queries).toBe(1);
      expect(h.replicas[0]!.stats.total.queries).toBe(1);
      const t = await trackQueries(() => d.select().from(authors));
      expect(t.queries.map((q) => q.client)).toEqual(['replica0']);
      await m.closeAll();
    } finally {
      await db.sql()`delete from authors where id = 100`;
      await replica?.drop();
    }
  });

  // postgres.js' notify() runs `select pg_notify(...)` on its own raw client: through the view it is an
  // application query like any other (tracked, counted, seen by the idle reaper).
  it('sql.notify() through the manager is tracked and counted', async () => {
    const m = make();
    const sql = m.sql();
    const t = await trackQueries(() => sql.notify('dbkit_path_notify', 'hello'));
    expect(t.queries.map((q) => q.sql)).toEqual(['select pg_notify($1, $2)']);
    expect(m.poolHealth().stats.total.queries).toBe(1);
  });

  it('health() probes are neither tracked nor counted', async () => {
    const m = make();
    await m.sql()`select 1`;
    const t = await trackQueries(() => m.health());
    expect(t.result.status).toBe('pass');
    expect(t.queries).toHaveLength(0);
    expect(m.poolHealth().stats.total.queries).toBe(1);
  });

  it('passes track and monitor options through and prefixes the pool names', async () => {
    const slow: string[] = [];
    const m = make({
      track: { name: 'app', slowQueryMs: 0, onSlowQuery: (e) => slow.push(e.sql) },
      monitor: { name: 'app', slowQueryMs: 0 },
    });
    await m.sql()`select 42`;
    expect(slow).toEqual(['select 42']);
    expect(m.poolHealth()).toMatchObject({ name: 'app:primary', stats: { total: { slow: 1 } } });
  });

  it('track: false / monitor: false give the plain client', async () => {
    const plain = make({ track: false, monitor: false });
    expect(isInstrumented(plain.sql())).toBe(false);
    const t = await trackQueries(() => plain.sql()`select 1`);
    expect(t.queries).toHaveLength(0);
    try {
      plain.poolHealth();
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
      expect((e as Error).message).toContain('monitor: false');
    }
    const untracked = make({ track: false });
    await untracked.sql()`select 1`;
    expect(untracked.poolHealth().stats.total.queries).toBe(1);
    expect((await trackQueries(() => untracked.sql()`select 1`)).queries).toHaveLength(0);
    expect(() => createClientManager({ env: {}, track: 'yes' as unknown as boolean })).toThrow(
      /track must be/,
    );
  });
});

describe('cache() and metrics()', () => {
  it('cache(namespace) is one QueryCache per namespace over redis(), closed with the manager', async () => {
    const m = make({ redisUrl: inject('redisUrl') });
    const ns = keyPrefix('path').replace(/:$/, '');
    const users = m.cache(`${ns}-users`, { ttl: 60 });
    expect(m.cache(`${ns}-users`)).toBe(users);
    const other = m.cache(`${ns}-orders`);
    expect(other).not.toBe(users);
    let loads = 0;
    const load = async () => {
      loads++;
      return { id: 1, at: new Date(0) };
    };
    expect(await users.getOrSet('u1', load)).toEqual({ id: 1, at: new Date(0) });
    expect(await users.getOrSet('u1', load)).toEqual({ id: 1, at: new Date(0) });
    expect(loads).toBe(1);
    expect(await other.get('u1')).toBeUndefined();
    expect(users.options.ttlMs).toBe(60_000);
    expect(other.options.ttlMs).toBe(300_000);
    const r = await m.closeAll();
    expect(r.closed).toEqual(['caches', 'redis']);
    expect(() => m.cache(`${ns}-users`)).toThrow(ClientClosedError);
  });

  it('metrics({ registry }) exports the pools, the caches made later and the client counts; closeAll stops it', async () => {
    const m = make({ redisUrl: inject('redisUrl') });
    const registry = new Registry();
    m.metrics({ registry });
    await m.sql()`select 1`;
    const ns = keyPrefix('metrics').replace(/:$/, '');
    const c = m.cache(ns);
    await c.get('missing');
    const text = await registry.metrics();
    expect(text).toMatch(/db_client_operation_duration_seconds_count\{[^}]*pool_name="primary"[^}]*\} 1/);
    expect(text).toMatch(/dbkit_pool_health_score\{pool_name="primary"\} 100/);
    expect(text).toContain(`dbkit_cache_misses_total{cache="${ns}"} 1`);
    expect(text).toMatch(/dbkit_clients_created_total\{kind="postgres"\} 1/);
    expect(text).toMatch(/dbkit_redis_connected_clients \d+/);
    await m.closeAll();
    expect(await registry.metrics()).toBe('\n');
  });
});

class TestReader extends MetricReader {
  protected async onShutdown() {}
  protected async onForceFlush() {}
}

describe('metrics({ meter })', () => {
  it("reports the manager's pools to an OpenTelemetry meter", async () => {
    const m = make({ pool: { max: 3 } });
    const reader = new TestReader();
    m.metrics({ meter: new MeterProvider({ readers: [reader] }).getMeter('dbkit-test') });
    await m.sql()`select 1`;
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const metrics = resourceMetrics.scopeMetrics.flatMap((x) => x.metrics);
    const get = (name: string) => metrics.find((x) => x.descriptor.name === name);
    expect(get('db.client.connection.max')!.dataPoints[0]).toMatchObject({
      value: 3,
      attributes: { 'db.client.connection.pool.name': 'primary' },
    });
    const duration = get('db.client.operation.duration')!.dataPoints as Array<{ value: { count: number } }>;
    expect(duration.reduce((n, p) => n + p.value.count, 0)).toBe(1);
  });
});

describe('health() and toTerminusResult()', () => {
  it('keeps the health() shape and converts it to the terminus shape', async () => {
    const m = make({
      redisUrl: 'redis://127.0.0.1:1',
      redis: { maxRetriesPerRequest: 0, lazyConnect: true },
    });
    await m.sql()`select 1`;
    m.redis();
    const h = await m.health({ timeoutMs: 1000 });
    expect(h.status).toBe('fail');
    expect(h.checks.postgres).toMatchObject({ status: 'pass' });
    expect(h.checks.redis).toMatchObject({ status: 'fail' });
    const t = toTerminusResult(h);
    expect(t.status).toBe('error');
    expect(t.info).toEqual({ postgres: { status: 'up', latencyMs: h.checks.postgres!.latencyMs } });
    expect(t.error).toEqual({
      redis: { status: 'down', latencyMs: h.checks.redis!.latencyMs, message: h.checks.redis!.error },
    });
    expect(t.details).toEqual({ ...t.info, ...t.error });
    expect(toTerminusResult({ status: 'warn', checks: { pg: { status: 'warn', latencyMs: 5 } } })).toEqual({
      status: 'ok',
      info: { pg: { status: 'up', latencyMs: 5, slow: true } },
      error: {},
      details: { pg: { status: 'up', latencyMs: 5, slow: true } },
    });
  });
});

describe('getClientManager() across builds', () => {
  it('the ESM and the CJS build share one manager, and tracking across them (child process)', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/both-builds.mjs');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [fixture, db.url], {
      timeout: 25_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(stderr).toBe('');
    expect(JSON.parse(stdout.trim())).toEqual({
      sameManager: true,
      samePool: true,
      postgresCreated: 1,
      trackedByOtherBuild: 1,
      countedByOtherBuild: 1,
    });
  });
});
