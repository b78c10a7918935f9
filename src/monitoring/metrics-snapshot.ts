import type { Cluster, Redis } from 'ioredis';
import { pgActivity } from './pg-activity.js';
import type { AnySql, PoolMonitor, PoolStats } from './pool-monitor.js';
import { type RedisHealth, redisHealth } from './redis-health.js';
import {
  type ClientManagerStatsLike,
  type QueryCacheStatsLike,
  readCacheStats,
  readClientStats,
} from './stats-contracts.js';

/** What collectMetrics reads from. */
export interface MetricSources {
  /** Pool monitors (from monitorPool). */
  pools?: PoolMonitor[];
  /** Query caches by name (anything with a QueryCache-shaped stats()). */
  caches?: Record<string, unknown>;
  /** A client manager (anything with a ClientManager-shaped stats()). */
  clients?: unknown;
  /** A postgres.js client: server-side connection counts from pg_stat_activity. */
  sql?: AnySql;
  /** A Redis or Cluster: memory, clients, hit ratio from INFO. */
  redis?: Redis | Cluster;
}

export interface MetricSnapshot {
  pools: PoolStats[];
  caches: Array<[string, QueryCacheStatsLike]>;
  clients: ClientManagerStatsLike | undefined;
  pg: { byState: Record<string, number>; max: number } | undefined;
  redis: RedisHealth | undefined;
}

/**
 * How long a scrape waits for pg_stat_activity and Redis INFO. A hung database or Redis (postgres.js waits
 * connect_timeout, ioredis retries a command up to 20 times) would otherwise hold the scrape past
 * Prometheus' scrape timeout (10 s by default) and lose every metric, the pools' too, during the outage.
 */
const SOURCE_TIMEOUT_MS = 2000;

/** `p`'s value, or undefined when it fails or takes longer than SOURCE_TIMEOUT_MS. */
function bounded<T>(p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.catch(() => undefined),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, SOURCE_TIMEOUT_MS, undefined);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** One snapshot per scrape: collectors asking in the same scrape share the pending promise. */
export function snapshotter(src: MetricSources): () => Promise<MetricSnapshot> {
  let pending: Promise<MetricSnapshot> | undefined;
  const take = async (): Promise<MetricSnapshot> => {
    const [pg, redis] = await Promise.all([
      src.sql
        ? bounded(pgActivity(src.sql).then((a) => ({ byState: a.byState, max: a.maxConnections })))
        : undefined,
      src.redis ? bounded(redisHealth(src.redis, { sampleMs: 0 })) : undefined,
    ]);
    const caches: Array<[string, QueryCacheStatsLike]> = [];
    for (const [name, c] of Object.entries(src.caches ?? {})) {
      const s = readCacheStats(c);
      if (s) caches.push([name, s]);
    }
    return {
      pools: (src.pools ?? []).map((p) => p.stats()),
      caches,
      clients: src.clients === undefined ? undefined : readClientStats(src.clients),
      pg,
      redis,
    };
  };
  return () => {
    pending ??= take().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/** idle = open connections not in use when a crossCheck() counted them, else free slots. */
export function idleConnections(p: PoolStats): number {
  return Math.max(0, (p.openConnections ?? p.max) - p.inUse);
}
