import type { Meter } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import { registerOtelMetrics } from './metrics-otel.js';
import { registerPromMetrics } from './metrics-prom.js';
import { type MetricSources, snapshotter } from './metrics-snapshot.js';
import { resolveMonitoringOptions } from './options.js';
import { poolMessageFilter } from './pool-monitor.js';

/** Options of {@link collectMetrics}: a prom-client registry and/or an OpenTelemetry meter, and the sources. */
export interface CollectMetricsOptions extends MetricSources {
  /**
   * prom-client Registry to register the gauges and histograms on.
   * @default undefined
   */
  registry?: Registry;
  /**
   * OpenTelemetry Meter to create the instruments on.
   * @default undefined
   */
  meter?: Meter;
  /**
   * Histogram bucket bounds in ms (exported in seconds).
   * @default the pool monitor's bucketsMs
   */
  bucketsMs?: number[];
}

/** Handle returned by {@link collectMetrics}. */
export interface MetricsHandle {
  /** Unregisters the Prometheus metrics, detaches the OTel callbacks and the channel subscriptions. */
  stop(): void;
}

/**
 * Exports pool, cache, client, Postgres and Redis figures to Prometheus (prom-client metrics filled in
 * `collect()`) and/or OpenTelemetry, with the OTel database semantic-convention names
 * (db.client.connection.count{state}, .pending_requests, .wait_time, db.client.operation.duration)
 * plus dbkit.* cache metrics. Running totals (cache hits/misses/errors/loader calls/bytes, pool errors and
 * timeouts, clients created, Redis evictions) are counters; levels and ratios are gauges.
 *
 * Wait and duration histograms are fed from the pool monitors' diagnostics channels. Prometheus: they also
 * start from what each monitor recorded before this call when its bucketsMs equal these (those earlier query
 * durations have error_type=""). OpenTelemetry: they start at this call, because the OTel API has no
 * asynchronous histogram and cannot take observations made before the instrument existed.
 *
 * Each scrape reads pg_stat_activity (`sql`) and Redis INFO (`redis`) with a 2 s bound: a hung or
 * unreachable server leaves those figures out of that scrape instead of holding it past the scraper's
 * timeout. Pool, cache and client figures are always reported.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * collectMetrics({ registry, pools: [pool], caches: { users: cache }, redis });
 * app.get('/metrics', async (_, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export function collectMetrics(options: CollectMetricsOptions): MetricsHandle {
  if (!options.registry && !options.meter)
    throw new ConfigError('collectMetrics needs a prom-client `registry` or an OpenTelemetry `meter`');
  const bucketsMs = options.bucketsMs ?? resolveMonitoringOptions('pool').bucketsMs;
  const snapshot = snapshotter(options);
  const pools = options.pools ?? [];
  const stops: Array<() => void> = [];
  if (options.registry) stops.push(registerPromMetrics(options.registry, snapshot, pools, bucketsMs));
  if (options.meter)
    stops.push(registerOtelMetrics(options.meter, snapshot, poolMessageFilter(pools), bucketsMs));
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const s of stops) s();
    },
  };
}
