import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type * as Prom from 'prom-client';
import { ConfigError } from '../errors.js';
import { importLib } from '../internal/import-lib.js';
import { MONITORING_CHANNELS } from './channels.js';
import { SeededHistogram } from './metrics-histogram.js';
import { idleConnections, type MetricSnapshot } from './metrics-snapshot.js';
import { type PoolMonitor, poolMessageFilter } from './pool-monitor.js';

type Lbl = Record<string, string>;
type Fill = (s: MetricSnapshot, set: (labels: Lbl, v: number) => void) => void;

/**
 * Registers the Prometheus metrics on `registry`; returns an unregister function. Gauges and counters are
 * filled from one snapshot per scrape; cumulative figures (hits, errors, timeouts...) are counters. The two
 * histograms start from what each pool monitor recorded before this call (same bucket bounds only) and go on
 * from the diagnostics channels.
 */
export function registerPromMetrics(
  registry: Prom.Registry,
  snapshot: () => Promise<MetricSnapshot>,
  pools: PoolMonitor[],
  bucketsMs: number[],
): () => void {
  const prom = importLib<typeof Prom>('prom-client', 'collectMetrics (Prometheus)');
  const mine = poolMessageFilter(pools);
  const names: string[] = [];
  const gauge = (name: string, help: string, labelNames: string[], fill: Fill) => {
    new prom.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        let set = false;
        fill(s, (labels, v) => {
          if (Number.isFinite(v)) {
            this.set(labels, v);
            set = true;
          }
        });
        // reset() gives a label-less metric the value 0: a source that is absent (no Redis) or could not be
        // read this scrape must show no sample, not 0.
        if (!set && labelNames.length === 0) this.remove();
      },
    });
    names.push(name);
  };
  // A counter whose value is a running total kept elsewhere (the pool monitor, the cache): reset and
  // re-add it on each scrape. It only goes down when its source restarts, which Prometheus reads as a reset.
  const counter = (name: string, help: string, labelNames: string[], fill: Fill) => {
    new prom.Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const s = await snapshot();
        this.reset();
        let set = false;
        fill(s, (labels, v) => {
          if (Number.isFinite(v) && v >= 0) {
            this.inc(labels, v);
            set = true;
          }
        });
        if (!set && labelNames.length === 0) this.remove();
      },
    });
    names.push(name);
  };
  // All or nothing: a registry that already has one of these names (a second collectMetrics, another
  // exporter) gets none of them, and a typed error instead of prom-client's plain one halfway through.
  const unregister = () => {
    for (const n of names) registry.removeSingleMetric(n);
  };
  let wait: SeededHistogram;
  let duration: SeededHistogram;
  try {
    const pool = (p: { name: string }) => ({ pool_name: p.name });

    gauge(
      'db_client_connection_count',
      'Connections by state (OTel db.client.connection.count)',
      ['pool_name', 'state'],
      (s, set) => {
        for (const p of s.pools) {
          set({ ...pool(p), state: 'used' }, p.inUse);
          set({ ...pool(p), state: 'idle' }, idleConnections(p));
        }
      },
    );
    gauge('db_client_connection_max', 'Pool size', ['pool_name'], (s, set) => {
      for (const p of s.pools) set(pool(p), p.max);
    });
    gauge(
      'db_client_connection_pending_requests',
      'Work waiting for a connection',
      ['pool_name'],
      (s, set) => {
        for (const p of s.pools) set(pool(p), p.pending);
      },
    );
    counter(
      'db_client_connection_timeouts_total',
      'Timeouts (connect timeout, statement timeout, cancel)',
      ['pool_name'],
      (s, set) => {
        for (const p of s.pools) set(pool(p), p.total.timeouts);
      },
    );
    counter('dbkit_pool_errors_total', 'Failed queries', ['pool_name'], (s, set) => {
      for (const p of s.pools) set(pool(p), p.total.errors);
    });
    gauge('dbkit_pool_health_score', 'Pool health score 0-100 (poolHealthScore)', ['pool_name'], (s, set) => {
      for (const p of s.pools) set(pool(p), p.score);
    });
    type CacheStats = MetricSnapshot['caches'][number][1];
    const cache = (kind: 'gauge' | 'counter', name: string, help: string, pick: (c: CacheStats) => number) =>
      (kind === 'gauge' ? gauge : counter)(name, help, ['cache'], (s, set) => {
        for (const [n, c] of s.caches) set({ cache: n }, pick(c));
      });
    cache('counter', 'dbkit_cache_hits_total', 'Cache hits', (c) => c.hits);
    cache('counter', 'dbkit_cache_misses_total', 'Cache misses', (c) => c.misses);
    cache('counter', 'dbkit_cache_errors_total', 'Cache store errors', (c) => c.errors);
    cache('counter', 'dbkit_cache_loader_calls_total', 'Loader calls', (c) => c.loaderCalls);
    cache('gauge', 'dbkit_cache_hit_ratio', 'Hit rate 0..1', (c) => c.hitRate);
    cache(
      'gauge',
      'dbkit_cache_compression_ratio',
      'bytesRaw / bytesStored: above 1 means compression saved space (1 before any write)',
      (c) => c.compressionRatio,
    );
    cache('gauge', 'dbkit_cache_circuit_open', '1 while the circuit breaker is open', (c) =>
      c.circuit === 'open' ? 1 : 0,
    );
    // Stampede protection and grace (caches of older dbkit builds lack these counters: 0).
    cache(
      'counter',
      'dbkit_cache_lock_waits_total',
      'Loads that waited for another process (distributed single-flight)',
      (c) => c.lockWaits ?? 0,
    );
    cache(
      'counter',
      'dbkit_cache_lock_timeouts_total',
      'Lock waits that reached lockTimeout',
      (c) => c.lockTimeouts ?? 0,
    );
    cache(
      'counter',
      'dbkit_cache_stale_serves_total',
      'Entries served past their TTL, within grace',
      (c) => c.staleServes ?? 0,
    );
    cache(
      'counter',
      'dbkit_cache_refresh_errors_total',
      'Background refreshes that failed (the stale value stayed)',
      (c) => c.refreshErrors ?? 0,
    );
    cache('counter', 'dbkit_cache_warmed_total', 'Entries written by warm()', (c) => c.warmed ?? 0);
    const num = (v: number | undefined) => (typeof v === 'number' ? v : 0);
    // --- oversize and the local tier (issue #14); `?? 0`: caches from before these fields (duck-typed) ---
    cache(
      'counter',
      'dbkit_cache_oversize_total',
      'Loaded values not cached: over maxDecompressedBytes',
      (c) => num(c.oversize),
    );
    cache('counter', 'dbkit_cache_local_hits_total', 'Hits served by the local tier (part of hits)', (c) =>
      num(c.localHits),
    );
    cache(
      'counter',
      'dbkit_cache_local_evictions_total',
      'Local-tier entries evicted to stay within maxEntries/maxBytes',
      (c) => num(c.localEvictions),
    );
    cache(
      'counter',
      'dbkit_cache_local_invalidations_total',
      'Invalidated keys (and flushes) the local tier received from Redis tracking or the bus',
      (c) => num(c.invalidationsReceived),
    );
    cache('gauge', 'dbkit_cache_local_entries', 'Entries held by the local tier', (c) =>
      num(c.local?.entries),
    );
    cache(
      'gauge',
      'dbkit_cache_local_serving',
      '1 while the local tier serves (its invalidation connection is up), 0 otherwise or without one',
      (c) => (c.local?.serving ? 1 : 0),
    );
    // --- end local tier ---
    counter(
      'dbkit_cache_bytes_total',
      'Bytes written, before and after compression',
      ['cache', 'stage'],
      (s, set) => {
        for (const [n, c] of s.caches) {
          set({ cache: n, stage: 'raw' }, c.bytesRaw);
          set({ cache: n, stage: 'stored' }, c.bytesStored);
        }
      },
    );
    counter('dbkit_clients_created_total', 'Clients created by the client manager', ['kind'], (s, set) => {
      for (const [k, v] of Object.entries(s.clients?.created ?? {})) set({ kind: k }, v);
    });
    gauge('dbkit_pg_connections', 'Server connections by state (pg_stat_activity)', ['state'], (s, set) => {
      for (const [k, v] of Object.entries(s.pg?.byState ?? {})) set({ state: k }, v);
    });
    gauge('dbkit_pg_max_connections', 'max_connections', [], (s, set) => {
      if (s.pg) set({}, s.pg.max);
    });
    gauge('dbkit_redis_used_memory_bytes', 'Redis used_memory (sum over masters)', [], (s, set) => {
      if (s.redis) set({}, s.redis.total.usedMemory);
    });
    gauge('dbkit_redis_connected_clients', 'Redis connected clients', [], (s, set) => {
      if (s.redis) set({}, s.redis.total.connectedClients);
    });
    counter(
      'dbkit_redis_evicted_keys_total',
      'Redis evicted keys (sum over masters since they started)',
      [],
      (s, set) => {
        if (s.redis) set({}, s.redis.total.evictedKeys);
      },
    );
    gauge('dbkit_redis_keyspace_hit_ratio', 'Redis lifetime hit ratio', [], (s, set) => {
      if (s.redis?.total.lifetimeHitRate != null) set({}, s.redis.total.lifetimeHitRate);
    });

    const buckets = bucketsMs.map((b) => b / 1000);
    wait = new SeededHistogram(
      'db_client_connection_wait_time_seconds',
      'Time to obtain a connection (OTel db.client.connection.wait_time)',
      buckets,
    );
    duration = new SeededHistogram(
      'db_client_operation_duration_seconds',
      'Query duration (OTel db.client.operation.duration)',
      buckets,
    );
    // What the monitors saw before this call. The monitor keeps one duration histogram for all queries, so
    // those earlier durations carry error_type="" (their errors are in dbkit_pool_errors_total).
    for (const p of pools) {
      const st = p.stats();
      if (st.wait) wait.seed({ pool_name: p.name }, st.wait);
      if (st.duration)
        duration.seed({ pool_name: p.name, db_system_name: 'postgresql', error_type: '' }, st.duration);
    }
    for (const h of [wait, duration]) {
      registry.registerMetric(h as unknown as Prom.Metric);
      names.push(h.name);
    }
  } catch (e) {
    unregister();
    throw new ConfigError(
      `collectMetrics: the registry already has a metric named like one of dbkit's (${(e as Error).message}); call collectMetrics once per registry, or stop() the earlier handle first`,
      { cause: e },
    );
  }
  const onAcquire = (m: unknown) => {
    const e = m as { pool: string; waitMs: number };
    if (mine(m)) wait.observe({ pool_name: e.pool }, e.waitMs / 1000);
  };
  const onQuery = (m: unknown) => {
    const e = m as { pool: string; kind: string; durationMs: number; error?: { code?: unknown } };
    if (e.kind !== 'query' || !mine(m)) return;
    duration.observe(
      {
        pool_name: e.pool,
        db_system_name: 'postgresql',
        error_type: e.error ? String(e.error.code ?? 'error') : '',
      },
      e.durationMs / 1000,
    );
  };
  subscribe(MONITORING_CHANNELS.acquire, onAcquire);
  subscribe(MONITORING_CHANNELS.query, onQuery);
  return () => {
    unsubscribe(MONITORING_CHANNELS.acquire, onAcquire);
    unsubscribe(MONITORING_CHANNELS.query, onQuery);
    unregister();
  };
}
