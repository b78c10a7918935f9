import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
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
    compressionRatio: 0.25,
    codecs: { lz4: 1 },
    circuit: 'closed' as const,
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
    expect(line(text, 'dbkit_cache_bytes{cache="users",stage="stored"}')).toBe(1000);
    expect(line(text, 'dbkit_clients_created{kind="redis"}')).toBe(2);
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
