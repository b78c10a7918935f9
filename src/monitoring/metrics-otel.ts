import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import { MONITORING_CHANNELS } from './channels.js';
import { idleConnections, type MetricSnapshot } from './metrics-snapshot.js';

const POOL = 'db.client.connection.pool.name';
const STATE = 'db.client.connection.state';

/** Creates the OpenTelemetry instruments on `meter`; returns a function that detaches them. */
export function registerOtelMetrics(
  meter: Meter,
  snapshot: () => Promise<MetricSnapshot>,
  /** True for channel messages of the pools being exported (poolMessageFilter). */
  mine: (message: unknown) => boolean,
  bucketsMs: number[],
): () => void {
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    description: 'The number of connections that are currently in state described by the state attribute',
    unit: '{connection}',
  });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', { unit: '{connection}' });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    description: 'The number of current pending requests for an open connection',
    unit: '{request}',
  });
  const timeouts = meter.createObservableCounter('db.client.connection.timeouts', { unit: '{timeout}' });
  const score = meter.createObservableGauge('dbkit.pool.health_score', { unit: '1' });
  const errors = meter.createObservableCounter('dbkit.pool.errors', { unit: '{error}' });
  const cacheHits = meter.createObservableCounter('dbkit.cache.hits', { unit: '{hit}' });
  const cacheMisses = meter.createObservableCounter('dbkit.cache.misses', { unit: '{miss}' });
  const cacheErrors = meter.createObservableCounter('dbkit.cache.errors', { unit: '{error}' });
  const cacheHitRatio = meter.createObservableGauge('dbkit.cache.hit_ratio', { unit: '1' });
  const cacheLoaderCalls = meter.createObservableCounter('dbkit.cache.loader.calls', { unit: '{call}' });
  // Bytes written since the cache was created: a running total, so a counter (raw vs stored by attribute).
  const cacheBytes = meter.createObservableCounter('dbkit.cache.bytes_written', {
    description: 'Bytes written, before (raw) and after (stored) compression',
    unit: 'By',
  });
  const cacheCompression = meter.createObservableGauge('dbkit.cache.compression_ratio', {
    description: 'bytesRaw / bytesStored: above 1 means compression saved space (1 before any write)',
    unit: '1',
  });
  const cacheCircuit = meter.createObservableGauge('dbkit.cache.circuit.open', { unit: '1' });
  const cacheLockWaits = meter.createObservableCounter('dbkit.cache.lock.waits', { unit: '{wait}' });
  const cacheLockTimeouts = meter.createObservableCounter('dbkit.cache.lock.timeouts', { unit: '{timeout}' });
  const cacheStale = meter.createObservableCounter('dbkit.cache.stale_serves', { unit: '{serve}' });
  const cacheRefreshErrors = meter.createObservableCounter('dbkit.cache.refresh.errors', { unit: '{error}' });
  const cacheWarmed = meter.createObservableCounter('dbkit.cache.warmed', { unit: '{entry}' });
  // --- oversize and the local tier (issue #14) ---
  const cacheOversize = meter.createObservableCounter('dbkit.cache.oversize', { unit: '{value}' });
  const cacheLocalHits = meter.createObservableCounter('dbkit.cache.local.hits', { unit: '{hit}' });
  const cacheLocalEvictions = meter.createObservableCounter('dbkit.cache.local.evictions', {
    unit: '{entry}',
  });
  const cacheLocalInvalidations = meter.createObservableCounter('dbkit.cache.local.invalidations', {
    description: 'Invalidated keys (and flushes) the local tier received from Redis tracking or the bus',
    unit: '{key}',
  });
  const cacheLocalEntries = meter.createObservableGauge('dbkit.cache.local.entries', { unit: '{entry}' });
  const cacheLocalServing = meter.createObservableGauge('dbkit.cache.local.serving', { unit: '1' });
  // --- end local tier ---
  const clients = meter.createObservableCounter('dbkit.clients.created', { unit: '{client}' });
  const pgConns = meter.createObservableUpDownCounter('dbkit.postgres.connections', { unit: '{connection}' });
  const redisMem = meter.createObservableGauge('dbkit.redis.memory.used', { unit: 'By' });
  const redisClients = meter.createObservableUpDownCounter('dbkit.redis.clients.connected', {
    unit: '{client}',
  });
  const redisHit = meter.createObservableGauge('dbkit.redis.keyspace.hit_ratio', { unit: '1' });
  const redisEvicted = meter.createObservableCounter('dbkit.redis.keys.evicted', { unit: '{key}' });
  const observables: Observable[] = [
    count,
    max,
    pending,
    timeouts,
    score,
    errors,
    cacheHits,
    cacheMisses,
    cacheErrors,
    cacheHitRatio,
    cacheLoaderCalls,
    cacheBytes,
    cacheCompression,
    cacheCircuit,
    cacheLockWaits,
    cacheLockTimeouts,
    cacheStale,
    cacheRefreshErrors,
    cacheWarmed,
    cacheOversize,
    cacheLocalHits,
    cacheLocalEvictions,
    cacheLocalInvalidations,
    cacheLocalEntries,
    cacheLocalServing,
    clients,
    pgConns,
    redisMem,
    redisClients,
    redisHit,
    redisEvicted,
  ];

  const callback = async (r: BatchObservableResult) => {
    const s = await snapshot();
    for (const p of s.pools) {
      const a: Attributes = { [POOL]: p.name };
      r.observe(count, p.inUse, { ...a, [STATE]: 'used' });
      r.observe(count, idleConnections(p), { ...a, [STATE]: 'idle' });
      r.observe(max, p.max, a);
      r.observe(pending, p.pending, a);
      r.observe(timeouts, p.total.timeouts, a);
      r.observe(errors, p.total.errors, a);
      r.observe(score, p.score, a);
    }
    for (const [name, c] of s.caches) {
      const a = { 'dbkit.cache.name': name };
      r.observe(cacheHits, c.hits, a);
      r.observe(cacheMisses, c.misses, a);
      r.observe(cacheErrors, c.errors, a);
      r.observe(cacheHitRatio, c.hitRate, a);
      r.observe(cacheLoaderCalls, c.loaderCalls, a);
      r.observe(cacheCompression, c.compressionRatio, a);
      r.observe(cacheBytes, c.bytesRaw, { ...a, 'dbkit.cache.stage': 'raw' });
      r.observe(cacheBytes, c.bytesStored, { ...a, 'dbkit.cache.stage': 'stored' });
      r.observe(cacheCircuit, c.circuit === 'open' ? 1 : 0, a);
      // (caches of older dbkit builds lack these counters: 0)
      r.observe(cacheLockWaits, c.lockWaits ?? 0, a);
      r.observe(cacheLockTimeouts, c.lockTimeouts ?? 0, a);
      r.observe(cacheStale, c.staleServes ?? 0, a);
      r.observe(cacheRefreshErrors, c.refreshErrors ?? 0, a);
      r.observe(cacheWarmed, c.warmed ?? 0, a);
      // (`?? 0`: duck-typed caches from before these fields)
      r.observe(cacheOversize, c.oversize ?? 0, a);
      r.observe(cacheLocalHits, c.localHits ?? 0, a);
      r.observe(cacheLocalEvictions, c.localEvictions ?? 0, a);
      r.observe(cacheLocalInvalidations, c.invalidationsReceived ?? 0, a);
      r.observe(cacheLocalEntries, c.local?.entries ?? 0, a);
      r.observe(cacheLocalServing, c.local?.serving ? 1 : 0, a);
    }
    for (const [kind, v] of Object.entries(s.clients?.created ?? {}))
      r.observe(clients, v, { 'dbkit.client.kind': kind });
    for (const [state, v] of Object.entries(s.pg?.byState ?? {})) r.observe(pgConns, v, { [STATE]: state });
    if (s.redis) {
      r.observe(redisMem, s.redis.total.usedMemory);
      r.observe(redisClients, s.redis.total.connectedClients);
      if (s.redis.total.lifetimeHitRate != null) r.observe(redisHit, s.redis.total.lifetimeHitRate);
      r.observe(redisEvicted, s.redis.total.evictedKeys);
    }
  };
  meter.addBatchObservableCallback(callback, observables);

  const advice = { explicitBucketBoundaries: bucketsMs.map((b) => b / 1000) };
  const wait = meter.createHistogram('db.client.connection.wait_time', {
    description: 'The time it took to obtain an open connection from the pool',
    unit: 's',
    advice,
  });
  const duration = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of database client operations',
    unit: 's',
    advice,
  });
  const onAcquire = (m: unknown) => {
    const e = m as { pool: string; waitMs: number };
    if (mine(m)) wait.record(e.waitMs / 1000, { [POOL]: e.pool });
  };
  const onQuery = (m: unknown) => {
    const e = m as { pool: string; kind: string; durationMs: number; error?: { code?: unknown } };
    if (e.kind !== 'query' || !mine(m)) return;
    const a: Attributes = { 'db.system.name': 'postgresql', [POOL]: e.pool };
    if (e.error) a['error.type'] = String(e.error.code ?? 'error');
    duration.record(e.durationMs / 1000, a);
  };
  subscribe(MONITORING_CHANNELS.acquire, onAcquire);
  subscribe(MONITORING_CHANNELS.query, onQuery);
  return () => {
    meter.removeBatchObservableCallback(callback, observables);
    unsubscribe(MONITORING_CHANNELS.acquire, onAcquire);
    unsubscribe(MONITORING_CHANNELS.query, onQuery);
  };
}
