import { alertChannel } from './channels.js';
import { type AlertOptions, resolveMonitoringOptions } from './options.js';
import type { PoolMonitor } from './pool-monitor.js';
import { readCacheStats } from './stats-contracts.js';

/** The alert rules. */
export type AlertRule = 'slow_queries' | 'pool_usage' | 'cache_hit_rate' | 'error_rate';

/** One alert, passed to `onAlert` and published on `dbkit:monitoring:alert`. */
export interface AlertEvent {
  rule: AlertRule;
  /** Pool or cache name. */
  source: string;
  value: number;
  threshold: number;
  message: string;
  at: Date;
  /** Times this rule fired for this source during the cooldown and was held back. */
  suppressed: number;
}

/** Options of {@link createAlerts}: thresholds plus what to watch and whom to tell. */
export interface CreateAlertsOptions extends Partial<AlertOptions> {
  pools?: PoolMonitor[];
  /** Caches by name (anything with a QueryCache-shaped stats()). */
  caches?: Record<string, unknown>;
  /** Called for every alert that passes the rate limit. Errors it throws are swallowed. */
  onAlert: (event: AlertEvent) => void;
}

/** Handle returned by {@link createAlerts}. */
export interface Alerts {
  /** Evaluates every rule now; returns the alerts that fired (after rate limiting). */
  check(): AlertEvent[];
  /** Evaluates every intervalMs (unref'd timer) until stop(). */
  start(): void;
  /** Stops the timer that start() set. */
  stop(): void;
}

/**
 * Threshold alerts on pools and caches (slow queries per minute, pool usage, cache hit rate, error
 * rate), rate-limited per rule and source by `cooldownMs`.
 *
 * @example
 * ```ts
 * const alerts = createAlerts({ pools: [pool], poolUsage: 0.8, errorRate: 0.05, onAlert: (a) => log.warn(a.message) });
 * alerts.start();
 * ```
 */
export function createAlerts(options: CreateAlertsOptions): Alerts {
  const { pools = [], caches = {}, onAlert, ...rest } = options;
  const o = resolveMonitoringOptions('alerts', rest);
  const last = new Map<string, { at: number; suppressed: number }>();
  let timer: NodeJS.Timeout | undefined;

  const fire = (
    out: AlertEvent[],
    rule: AlertRule,
    source: string,
    value: number,
    threshold: number,
    message: string,
  ) => {
    const key = `${rule}\u0000${source}`;
    const now = Date.now();
    const prev = last.get(key);
    if (prev && now - prev.at < o.cooldownMs) {
      prev.suppressed++;
      return;
    }
    const event: AlertEvent = {
      rule,
      source,
      value,
      threshold,
      message,
      at: new Date(now),
      suppressed: prev?.suppressed ?? 0,
    };
    last.set(key, { at: now, suppressed: 0 });
    out.push(event);
    if (alertChannel.hasSubscribers) alertChannel.publish(event);
    try {
      onAlert(event);
    } catch {
      // An alert sink failing must not break the caller's health loop.
    }
  };

  const check = (): AlertEvent[] => {
    const out: AlertEvent[] = [];
    for (const p of pools) {
      const s = p.stats();
      if (o.slowQueriesPerMinute !== undefined && s.lastMinute.slow >= o.slowQueriesPerMinute)
        fire(
          out,
          'slow_queries',
          p.name,
          s.lastMinute.slow,
          o.slowQueriesPerMinute,
          `${p.name}: ${s.lastMinute.slow} slow queries in the last minute`,
        );
      if (o.poolUsage !== undefined && s.utilisation >= o.poolUsage)
        fire(
          out,
          'pool_usage',
          p.name,
          s.utilisation,
          o.poolUsage,
          `${p.name}: ${s.inUse}/${s.max} connections in use, ${s.pending} waiting`,
        );
      if (o.errorRate !== undefined && s.lastMinute.queries >= o.minSamples) {
        const rate = s.lastMinute.errors / s.lastMinute.queries;
        if (rate >= o.errorRate)
          fire(
            out,
            'error_rate',
            p.name,
            rate,
            o.errorRate,
            `${p.name}: ${(rate * 100).toFixed(1)}% of queries failed in the last minute`,
          );
      }
    }
    if (o.cacheHitRate !== undefined) {
      for (const [name, c] of Object.entries(caches)) {
        const s = readCacheStats(c);
        if (!s || s.hits + s.misses < o.minSamples || s.hitRate >= o.cacheHitRate) continue;
        fire(
          out,
          'cache_hit_rate',
          name,
          s.hitRate,
          o.cacheHitRate,
          `cache ${name}: hit rate ${(s.hitRate * 100).toFixed(1)}%`,
        );
      }
    }
    return out;
  };

  return {
    check,
    start() {
      if (timer) return;
      timer = setInterval(check, o.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
