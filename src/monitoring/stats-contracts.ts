/**
 * Shapes of the stats other dbkit modules expose, read by duck typing at run time (no runtime imports from
 * src/cache or src/clients, so there are no cycles and either module may be absent).
 */
import type { QueryCacheStats } from '../cache/query-cache.js';

/**
 * `QueryCache.stats()` (dbkit/cache). A type-only import: erased at build time, so monitoring never loads the
 * cache module, but the compiler keeps this contract in step with what the cache really returns.
 */
export type QueryCacheStatsLike = QueryCacheStats;

/** Anything with a QueryCache-shaped `stats()`. */
export interface QueryCacheLike {
  /** The cache's counters now. */
  stats(): QueryCacheStatsLike;
}

/** `ClientManager.stats()` (dbkit/clients). */
export interface ClientManagerStatsLike {
  created: Record<string, number>;
  closed: boolean;
}

/** Anything with a ClientManager-shaped `stats()`. */
export interface ClientManagerLike {
  /** The manager's client counts now. */
  stats(): ClientManagerStatsLike;
}

/**
 * Reads a cache's stats when it has the QueryCache shape; undefined otherwise.
 *
 * @example
 * ```ts
 * readCacheStats(cache)?.hitRate
 * ```
 */
export function readCacheStats(cache: unknown): QueryCacheStatsLike | undefined {
  const s = callStats(cache);
  if (!s || typeof s.hits !== 'number' || typeof s.misses !== 'number') return undefined;
  return s as unknown as QueryCacheStatsLike;
}

/**
 * Reads a client manager's stats when it has the ClientManager shape; undefined otherwise.
 *
 * @example
 * ```ts
 * readClientStats(getClientManager())?.created.postgres
 * ```
 */
export function readClientStats(manager: unknown): ClientManagerStatsLike | undefined {
  const s = callStats(manager);
  if (!s || typeof s.created !== 'object' || s.created === null) return undefined;
  return s as unknown as ClientManagerStatsLike;
}

function callStats(x: unknown): Record<string, unknown> | undefined {
  if (!x || typeof (x as { stats?: unknown }).stats !== 'function') return undefined;
  try {
    const s = (x as { stats(): unknown }).stats();
    return s && typeof s === 'object' ? (s as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
