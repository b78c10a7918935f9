import { createServer, type Server } from 'node:net';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collectMetrics, isDbkitError, monitorPool, type PoolMonitor } from '../../src/monitoring/index.js';
import { spawnRedis, useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('monmetrics');
let mon: PoolMonitor;
let redis: Redis;

// A cache and a client manager as the other modules shape them (read by duck typing).
const cache = {
  stats: () => ({
    hits: 5,
    misses: 1,
    hitRate: 5 / 6,
    errors: 0,
    loaderCalls: 1,
    sets: 1,
    deletes: 0,
    corruptEntries: 0,
    bytesRaw: 4000,
    bytesStored: 1000,
    compressionRatio: 4,
    codecs: { lz4: 1 },
    circuit: 'closed' as const,
    lockWaits: 3,
    lockTimeouts: 1,
    staleServes: 7,
    refreshes: 2,
    refreshErrors: 1,
    warmed: 100,
    oversize: 17,
    localHits: 19,
    localEvictions: 23,
    invalidationsReceived: 29,
    local: { entries: 31, bytes: 500, serving: true, mode: 'tracking' as const },
  }),
};
const clients = { stats: () => ({ created: { postgres: 1, redis: 2 }, closed: false }) };

class TestReader extends MetricReader {
  protected async onShutdown() {}
  protected async onForceFlush() {}
}

beforeAll(async () => {
  mon = monitorPool(postgres(db.url, { max: 3, onnotice: () => {} }), { name: 'metrics' });
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await mon.sql.end({ timeout: 2 });
  redis.disconnect();
});

const line = (text: string, prefix: string) => {
  const l = text.split('\n').find((x) => x.startsWith(prefix));
  return l === undefined ? undefined : Number(l.slice(prefix.length).trim());
};

describe('collectMetrics', () => {
  it('fills prom-client gauges on scrape, with OTel-convention names', async () => {
    const registry = new Registry();
    const handle = collectMetrics({
      registry,
      pools: [mon],
      caches: { users: cache },
      clients,
      sql: db.sql(),
      redis,
    });
    await mon.sql`select 1`;
    await mon.sql`select 2`;
    await mon.sql`select 1/0`.catch(() => {});
    const sleeps = Array.from({ length: 4 }, () => mon.sql`select pg_sleep(0.3)`.execute());
    await new Promise((r) => setTimeout(r, 100));
    const text = await registry.metrics();
    expect(line(text, 'db_client_connection_max{pool_name="metrics"}')).toBe(3);
    expect(line(text, 'db_client_connection_count{pool_name="metrics",state="used"}')).toBe(3);
    expect(line(text, 'db_client_connection_pending_requests{pool_name="metrics"}')).toBe(1);
    expect(line(text, 'dbkit_pool_health_score{pool_name="metrics"}')).toBe(0);
    expect(line(text, 'dbkit_pool_errors_total{pool_name="metrics"}')).toBe(1);
    expect(
      line(
        text,
        'db_client_operation_duration_seconds_count{pool_name="metrics",db_system_name="postgresql",error_type=""}',
      ),
    ).toBe(2);
    expect(
      line(
        text,
        'db_client_operation_duration_seconds_count{pool_name="metrics",db_system_name="postgresql",error_type="22012"}',
      ),
    ).toBe(1);
    expect(line(text, 'db_client_connection_wait_time_seconds_count{pool_name="metrics"}')).toBe(6);
    expect(line(text, 'dbkit_cache_hits_total{cache="users"}')).toBe(5);
    expect(line(text, 'dbkit_cache_bytes_total{cache="users",stage="stored"}')).toBe(1000);
    expect(line(text, 'dbkit_cache_compression_ratio{cache="users"}')).toBe(4);
    expect(line(text, 'dbkit_cache_lock_waits_total{cache="users"}')).toBe(3);
    expect(line(text, 'dbkit_cache_lock_timeouts_total{cache="users"}')).toBe(1);
    expect(line(text, 'dbkit_cache_stale_serves_total{cache="users"}')).toBe(7);
    expect(line(text, 'dbkit_cache_refresh_errors_total{cache="users"}')).toBe(1);
    expect(line(text, 'dbkit_cache_warmed_total{cache="users"}')).toBe(100);
    expect(line(text, 'dbkit_cache_oversize_total{cache="users"}')).toBe(17);
    expect(line(text, 'dbkit_cache_local_hits_total{cache="users"}')).toBe(19);
    expect(line(text, 'dbkit_cache_local_evictions_total{cache="users"}')).toBe(23);
    expect(line(text, 'dbkit_cache_local_invalidations_total{cache="users"}')).toBe(29);
    expect(line(text, 'dbkit_cache_local_entries{cache="users"}')).toBe(31);
    expect(line(text, 'dbkit_cache_local_serving{cache="users"}')).toBe(1);
    expect(text).toContain('# HELP dbkit_cache_compression_ratio bytesRaw / bytesStored');
    expect(line(text, 'dbkit_clients_created_total{kind="redis"}')).toBe(2);
    // Running totals are counters, levels are gauges.
    for (const name of [
      'dbkit_cache_hits_total',
      'dbkit_cache_misses_total',
      'dbkit_cache_errors_total',
      'dbkit_cache_loader_calls_total',
      'dbkit_cache_bytes_total',
      'dbkit_cache_lock_waits_total',
      'dbkit_cache_stale_serves_total',
      'dbkit_cache_oversize_total',
      'dbkit_cache_local_hits_total',
      'dbkit_cache_local_evictions_total',
      'dbkit_cache_local_invalidations_total',
      'db_client_connection_timeouts_total',
      'dbkit_pool_errors_total',
      'dbkit_clients_created_total',
      'dbkit_redis_evicted_keys_total',
    ])
      expect(text, name).toContain(`# TYPE ${name} counter`);
    for (const name of ['db_client_connection_count', 'dbkit_cache_hit_ratio', 'dbkit_pool_health_score'])
      expect(text, name).toContain(`# TYPE ${name} gauge`);
    expect(text).toContain('# TYPE db_client_operation_duration_seconds histogram');
    expect(line(text, 'dbkit_pg_connections{state="active"}')).toBeGreaterThanOrEqual(3);
    expect(line(text, 'dbkit_pg_max_connections')).toBeGreaterThan(0);
    expect(line(text, 'dbkit_redis_used_memory_bytes')).toBeGreaterThan(0);
    await Promise.all(sleeps);
    const after = await registry.metrics();
    expect(line(after, 'db_client_connection_pending_requests{pool_name="metrics"}')).toBe(0);
    expect(line(after, 'db_client_connection_wait_time_seconds_count{pool_name="metrics"}')).toBe(7);
    handle.stop();
    expect(await registry.metrics()).not.toMatch(/db_client_connection_max/);
  });

  it('starts the Prometheus histograms from what the monitor saw before collectMetrics', async () => {
    const early = monitorPool(postgres(db.url, { max: 2, onnotice: () => {} }), { name: 'early' });
    try {
      for (let i = 0; i < 3; i++) await early.sql`select ${i}::int`;
      await early.sql`select 1/0`.catch(() => {});
      const registry = new Registry();
      const handle = collectMetrics({ registry, pools: [early] });
      await early.sql`select 1`;
      const text = await registry.metrics();
      const ok =
        'db_client_operation_duration_seconds_count{pool_name="early",db_system_name="postgresql",error_type=""}';
      // 4 earlier queries (the failed one among them: the monitor keeps one histogram) + 1 after.
      expect(line(text, ok)).toBe(5);
      expect(line(text, 'db_client_connection_wait_time_seconds_count{pool_name="early"}')).toBe(5);
      const st = early.stats();
      const sum = line(
        text,
        'db_client_operation_duration_seconds_sum{pool_name="early",db_system_name="postgresql",error_type=""}',
      )!;
      expect(sum).toBeCloseTo(st.duration.sumMs / 1000, 6);
      const inf = line(
        text,
        'db_client_operation_duration_seconds_bucket{pool_name="early",db_system_name="postgresql",error_type="",le="+Inf"}',
      );
      expect(inf).toBe(5);
      handle.stop();
      // Other bucket bounds cannot take the earlier counts: they start empty instead of inventing values.
      const other = new Registry();
      const h2 = collectMetrics({ registry: other, pools: [early], bucketsMs: [1, 10, 100] });
      expect(await other.metrics()).not.toMatch(
        /db_client_operation_duration_seconds_count\{pool_name="early"/,
      );
      h2.stop();
    } finally {
      await early.sql.end({ timeout: 2 });
    }
  });

  it('reports to an OpenTelemetry meter', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const handle = collectMetrics({
      meter: provider.getMeter('dbkit-test'),
      pools: [mon],
      caches: { users: cache },
    });
    await mon.sql`select 1`;
    await mon.sql`select 1/0`.catch(() => {});
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const get = (name: string) => metrics.find((m) => m.descriptor.name === name);
    const count = get('db.client.connection.count')!;
    expect(count.dataPoints.map((d) => d.attributes['db.client.connection.state']).sort()).toEqual([
      'idle',
      'used',
    ]);
    expect(get('db.client.connection.max')!.dataPoints[0]!.value).toBe(3);
    expect(get('db.client.connection.pending_requests')!.dataPoints[0]!.value).toBe(0);
    const duration = get('db.client.operation.duration')!;
    expect(duration.descriptor.unit).toBe('s');
    const points = duration.dataPoints as Array<{
      attributes: Record<string, unknown>;
      value: { count: number };
    }>;
    expect(points.find((p) => p.attributes['error.type'] === '22012')!.value.count).toBe(1);
    expect(points.find((p) => p.attributes['error.type'] === undefined)!.value.count).toBe(1);
    expect(get('db.client.connection.wait_time')!.dataPoints.length).toBe(1);
    expect(get('dbkit.cache.hit_ratio')!.dataPoints[0]!.value).toBeCloseTo(5 / 6);
    expect(get('dbkit.cache.compression_ratio')!.dataPoints[0]!.value).toBe(4);
    expect(get('dbkit.cache.lock.waits')!.dataPoints[0]!.value).toBe(3);
    expect(get('dbkit.cache.stale_serves')!.dataPoints[0]!.value).toBe(7);
    expect(get('dbkit.cache.local.hits')!.dataPoints[0]!.value).toBe(19);
    expect(get('dbkit.cache.local.invalidations')!.dataPoints[0]!.value).toBe(29);
    expect(get('dbkit.cache.local.serving')!.dataPoints[0]!.value).toBe(1);
    expect(get('dbkit.cache.oversize')!.dataPoints[0]!.value).toBe(17);
    // Running totals are monotonic sums (counters); levels are gauges.
    for (const name of [
      'dbkit.cache.hits',
      'dbkit.cache.misses',
      'dbkit.cache.loader.calls',
      'db.client.connection.timeouts',
      'dbkit.pool.errors',
      'dbkit.cache.bytes_written',
      'dbkit.cache.lock.waits',
      'dbkit.cache.lock.timeouts',
      'dbkit.cache.stale_serves',
      'dbkit.cache.refresh.errors',
      'dbkit.cache.warmed',
      'dbkit.cache.oversize',
      'dbkit.cache.local.hits',
      'dbkit.cache.local.evictions',
      'dbkit.cache.local.invalidations',
    ]) {
      const m = get(name)!;
      expect(m, name).toBeDefined();
      expect(m.dataPointType, name).toBe(DataPointType.SUM);
      expect((m as { isMonotonic?: boolean }).isMonotonic, name).toBe(true);
    }
    expect(get('dbkit.cache.hit_ratio')!.dataPointType).toBe(DataPointType.GAUGE);
    handle.stop();
    await provider.shutdown();
  });

  // Two client managers in one process (multi-tenant hosts, tests) both name their pool 'primary'; so do
  // two monitorPool() calls with the same name. Each registry/meter must count only its own pools.
  it('counts only the pools it was given when another pool has the same name (Prometheus and OTel)', async () => {
    const mine = monitorPool(postgres(db.url, { max: 2, onnotice: () => {} }), { name: 'twin' });
    const other = monitorPool(postgres(db.url, { max: 2, onnotice: () => {} }), { name: 'twin' });
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    try {
      const registry = new Registry();
      const prom = collectMetrics({ registry, pools: [mine] });
      const otel = collectMetrics({ meter: provider.getMeter('dbkit-twin'), pools: [mine] });
      await mine.sql`select 1`;
      for (let i = 0; i < 4; i++) await other.sql`select ${i}::int`;
      await other.sql`select 1/0`.catch(() => {});
      const text = await registry.metrics();
      const ok =
        'db_client_operation_duration_seconds_count{pool_name="twin",db_system_name="postgresql",error_type=""}';
      expect(line(text, ok)).toBe(1);
      expect(text).not.toMatch(/error_type="22012"/);
      expect(line(text, 'db_client_connection_wait_time_seconds_count{pool_name="twin"}')).toBe(1);
      const { resourceMetrics } = await reader.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((x) => x.metrics);
      const duration = metrics.find((m) => m.descriptor.name === 'db.client.operation.duration')!;
      const points = duration.dataPoints as Array<{ value: { count: number } }>;
      expect(points.reduce((n, p) => n + p.value.count, 0)).toBe(1);
      const wait = metrics.find((m) => m.descriptor.name === 'db.client.connection.wait_time')!;
      expect((wait.dataPoints as Array<{ value: { count: number } }>)[0]!.value.count).toBe(1);
      prom.stop();
      otel.stop();
    } finally {
      await provider.shutdown();
      await mine.sql.end({ timeout: 2 });
      await other.sql.end({ timeout: 2 });
    }
  });

  // A second collectMetrics on the same registry, or a registry that already has a metric of one of our
  // names (another exporter), made prom-client throw a plain Error halfway: the metrics registered before
  // the clash stayed on the registry (and a retry clashed on the first of them).
  it('refuses a registry that already has one of its metric names, leaving the registry as it was', async () => {
    const registry = new Registry();
    const { Gauge } = await import('prom-client');
    new Gauge({ name: 'dbkit_pool_health_score', help: 'someone else', registers: [registry] });
    const before = (await registry.getMetricsAsJSON()).map((m) => m.name);
    try {
      collectMetrics({ registry, pools: [mon] });
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
      expect((e as Error).message).toContain('dbkit_pool_health_score');
    }
    expect((await registry.getMetricsAsJSON()).map((m) => m.name)).toEqual(before);
    // Twice on one registry: the second call is refused, the first one keeps working.
    const fresh = new Registry();
    const first = collectMetrics({ registry: fresh, pools: [mon] });
    expect(() => collectMetrics({ registry: fresh, pools: [mon] })).toThrow(/already/);
    await mon.sql`select 1`;
    expect(await fresh.metrics()).toMatch(/db_client_operation_duration_seconds_count\{pool_name="metrics"/);
    first.stop();
    expect((await fresh.getMetricsAsJSON()).length).toBe(0);
  });

  // A scrape reads pg_stat_activity and Redis INFO. With the database or Redis hung (a server that accepts
  // and never answers, a SIGSTOPped redis-server) the scrape waited for them (postgres.js' connect_timeout,
  // ioredis' retries), past Prometheus' scrape timeout: every metric, the pool's too, was lost exactly
  // during the outage. Those two parts are bounded; the rest is reported.
  it('answers a scrape in bounded time when Postgres and Redis hang, with the pool metrics', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const hungSql = postgres(`postgres://postgres@127.0.0.1:${port}/x`, { max: 1, connect_timeout: 30 });
    const hung = await spawnRedis();
    const hungRedis = new Redis(hung.url);
    try {
      await hungRedis.ping();
      hung.pause();
      const registry = new Registry();
      const handle = collectMetrics({ registry, pools: [mon], sql: hungSql, redis: hungRedis });
      const text = await Promise.race([
        registry.metrics(),
        new Promise<string>((r) => setTimeout(() => r('timed out'), 8000)),
      ]);
      expect(text).toMatch(/db_client_connection_max\{pool_name="metrics"\} 3/);
      // The hung parts report nothing.
      expect(text).not.toMatch(/^dbkit_pg_max_connections /m);
      expect(text).not.toMatch(/^dbkit_redis_connected_clients /m);
      handle.stop();
    } finally {
      hung.resume();
      hungRedis.disconnect();
      await hung.dispose();
      for (const s of sockets) s.destroy();
      silent.close();
      await hungSql.end({ timeout: 0 });
    }
  }, 30_000);

  // prom-client prints a label-less gauge or counter that was not set in collect() as 0: a service with
  // no Redis exported dbkit_redis_keyspace_hit_ratio 0 and dbkit_redis_connected_clients 0 on every scrape
  // (an alert on a hit-ratio drop fires for good), and dbkit_pg_max_connections 0 without `sql`.
  it('exports no sample for a source it was not given (or could not read), instead of 0', async () => {
    const registry = new Registry();
    const handle = collectMetrics({ registry, pools: [mon] });
    const text = await registry.metrics();
    for (const name of [
      'dbkit_pg_max_connections',
      'dbkit_redis_used_memory_bytes',
      'dbkit_redis_connected_clients',
      'dbkit_redis_evicted_keys_total',
      'dbkit_redis_keyspace_hit_ratio',
    ])
      expect(text, name).not.toMatch(new RegExp(`^${name} `, 'm'));
    expect(text).toMatch(/db_client_connection_max\{pool_name="metrics"\} 3/);
    handle.stop();
  });

  it('needs a registry or a meter', () => {
    try {
      collectMetrics({ pools: [mon] });
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
    }
  });
});
