import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collectMetrics, isDbkitError, monitorPool, type PoolMonitor } from '../../src/monitoring/index.js';
import { useTestDatabase } from '../setup/index.js';

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
    oversize: 2,
    localHits: 3,
    localEvictions: 7,
    invalidationsReceived: 11,
    local: { entries: 13, bytes: 500, serving: true, mode: 'tracking' as const },
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
    expect(line(text, 'dbkit_cache_oversize_total{cache="users"}')).toBe(2);
    expect(line(text, 'dbkit_cache_local_hits_total{cache="users"}')).toBe(3);
    expect(line(text, 'dbkit_cache_local_evictions_total{cache="users"}')).toBe(7);
    expect(line(text, 'dbkit_cache_local_invalidations_total{cache="users"}')).toBe(11);
    expect(line(text, 'dbkit_cache_local_entries{cache="users"}')).toBe(13);
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
    expect(get('dbkit.cache.local.hits')!.dataPoints[0]!.value).toBe(3);
    expect(get('dbkit.cache.local.invalidations')!.dataPoints[0]!.value).toBe(11);
    expect(get('dbkit.cache.local.serving')!.dataPoints[0]!.value).toBe(1);
    expect(get('dbkit.cache.oversize')!.dataPoints[0]!.value).toBe(2);
    // Running totals are monotonic sums (counters); levels are gauges.
    for (const name of [
      'dbkit.cache.hits',
      'dbkit.cache.misses',
      'dbkit.cache.loader.calls',
      'db.client.connection.timeouts',
      'dbkit.pool.errors',
      'dbkit.cache.bytes_written',
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

  it('needs a registry or a meter', () => {
    try {
      collectMetrics({ pools: [mon] });
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
    }
  });
});
