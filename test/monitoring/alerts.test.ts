import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AlertEvent,
  createAlerts,
  MONITORING_CHANNELS,
  monitorPool,
  type PoolMonitor,
} from '../../src/monitoring/index.js';
import { sleep, useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('monalerts');
let mon: PoolMonitor;

beforeAll(() => {
  mon = monitorPool(postgres(db.url, { max: 2, onnotice: () => {} }), { name: 'alerts', slowQueryMs: 40 });
});
afterAll(async () => {
  await mon.sql.end({ timeout: 2 });
});

describe('createAlerts', () => {
  it('fires on slow queries, error rate and pool usage, rate-limited per rule and source', async () => {
    const seen: AlertEvent[] = [];
    const published: unknown[] = [];
    const onPublish = (m: unknown) => published.push(m);
    subscribe(MONITORING_CHANNELS.alert, onPublish);
    const alerts = createAlerts({
      pools: [mon],
      slowQueriesPerMinute: 2,
      errorRate: 0.5,
      poolUsage: 1,
      minSamples: 4,
      cooldownMs: 150,
      onAlert: (e) => seen.push(e),
    });
    expect(alerts.check()).toEqual([]);

    await Promise.all([mon.sql`select pg_sleep(0.05)`, mon.sql`select pg_sleep(0.05)`]);
    for (let i = 0; i < 3; i++) await mon.sql`select 1/0`.catch(() => {});
    const busy = [mon.sql`select pg_sleep(0.3)`.execute(), mon.sql`select pg_sleep(0.3)`.execute()];
    await sleep(50);
    const fired = alerts.check();
    expect(fired.map((e) => e.rule).sort()).toEqual(['error_rate', 'pool_usage', 'slow_queries']);
    expect(fired.find((e) => e.rule === 'error_rate')).toMatchObject({
      source: 'alerts',
      value: 3 / 5,
      threshold: 0.5,
    });
    expect(seen).toHaveLength(3);
    expect(published).toHaveLength(3);

    // Within the cooldown nothing fires again; after it, the alert carries the suppressed count.
    expect(alerts.check()).toEqual([]);
    await sleep(160);
    const again = alerts.check();
    expect(again.find((e) => e.rule === 'slow_queries')).toMatchObject({ suppressed: 1 });
    await Promise.all(busy);
    unsubscribe(MONITORING_CHANNELS.alert, onPublish);
  });

  it('fires on a low cache hit rate only after enough lookups, and survives a throwing sink', () => {
    let stats = { hits: 1, misses: 9, hitRate: 0.1 };
    const cache = {
      stats: () => ({
        ...stats,
        errors: 0,
        loaderCalls: 0,
        sets: 0,
        deletes: 0,
        corruptEntries: 0,
        bytesRaw: 0,
        bytesStored: 0,
        compressionRatio: 1,
        codecs: {},
        circuit: 'closed',
      }),
    };
    const alerts = createAlerts({
      caches: { users: cache },
      cacheHitRate: 0.5,
      minSamples: 20,
      onAlert: () => {
        throw new Error('sink down');
      },
    });
    expect(alerts.check()).toEqual([]);
    stats = { hits: 10, misses: 30, hitRate: 0.25 };
    expect(alerts.check()).toEqual([
      expect.objectContaining({ rule: 'cache_hit_rate', source: 'users', value: 0.25 }),
    ]);
  });
});
