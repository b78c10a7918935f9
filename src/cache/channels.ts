import { channel } from 'node:diagnostics_channel';

/**
 * diagnostics_channel names dbkit/cache publishes on (subscribe with `diagnostics_channel.subscribe`).
 *
 * @example
 * ```ts
 * diagnostics_channel.subscribe(CACHE_CHANNELS.error, (m) => log.warn(m))
 * ```
 */
export const CACHE_CHANNELS = {
  /** `{ namespace, key, codec, bytes, tier: 'local' | 'store' }` on every hit. */
  hit: 'dbkit:cache:hit',
  /** `{ namespace, key }` on every miss (including corrupt and stale entries). */
  miss: 'dbkit:cache:miss',
  /** `{ namespace, key, codec, bytesRaw, bytesStored }` on every write. */
  set: 'dbkit:cache:set',
  /** `{ namespace, key, durationMs, error? }` after every loader call. */
  loader: 'dbkit:cache:loader',
  /** `{ namespace, operation, error }` when the store fails or times out. */
  error: 'dbkit:cache:error',
  /** `{ namespace, key, reason }` when a corrupt entry is dropped. */
  corrupt: 'dbkit:cache:corrupt',
  /** `{ namespace, kind: 'tags' | 'pattern' | 'clear' | 'delete', target, count? }` on invalidation. */
  invalidate: 'dbkit:cache:invalidate',
  /** `{ namespace, key, reason: 'oversize', bytes, limit }` when a loaded value is not cached. */
  skip: 'dbkit:cache:skip',
  /** `{ namespace, from, to }` when the circuit breaker changes state. */
  circuit: 'dbkit:cache:circuit',
  // --- stampede protection, grace, warm ---
  /**
   * `{ namespace, key, durationMs, outcome }` when a caller waited for another process's load (distributed
   * single-flight). outcome: 'value' (it was written), 'acquired' (the holder failed or died: this caller
   * loaded), 'timeout' (past lockTimeout: loaded itself), 'store-down' (Redis failed: loaded itself).
   */
  lockWait: 'dbkit:cache:lock-wait',
  /** `{ namespace, key, expiredMs }` when getOrSet/wrap/cached returns an entry past its TTL (within grace). */
  stale: 'dbkit:cache:stale',
  /**
   * `{ namespace, key, outcome: 'refreshed' | 'failed' | 'skipped', durationMs, error? }` after a background
   * refresh of a stale entry ('skipped': another process holds the key's lock and refreshes it).
   */
  refresh: 'dbkit:cache:refresh',
  /** `{ namespace, written, failed, seen, done }` after every batch of `warm()` and once at the end (`done`). */
  warm: 'dbkit:cache:warm',
  // --- local tier (issue #14) ---
  /** `{ namespace, key, reason: 'entries' | 'bytes' }` when the local tier evicts an entry to stay in bounds. */
  localEvict: 'dbkit:cache:local:evict',
  /** `{ namespace, keys: number | 'all' }` when an invalidation from Redis (or the bus) reaches the local tier. */
  localInvalidation: 'dbkit:cache:local:invalidation',
  /**
   * `{ namespace, up, mode: 'tracking' | 'bus' | 'process', node?, error? }` when the local tier starts or stops
   * serving (its invalidation connection established or lost).
   */
  localState: 'dbkit:cache:local:state',
  // --- end local tier ---
} as const;

/**
 * The channel name of {@link CACHE_CHANNELS}.hit, exported alone for convenience.
 *
 * @example
 * ```ts
 * diagnostics_channel.subscribe(CACHE_HIT_CHANNEL, () => hits++)
 * ```
 */
export const CACHE_HIT_CHANNEL = CACHE_CHANNELS.hit;

const channels = Object.fromEntries(
  Object.entries(CACHE_CHANNELS).map(([k, name]) => [k, channel(name)]),
) as Record<keyof typeof CACHE_CHANNELS, ReturnType<typeof channel>>;

/** The channel objects (internal): a hot path checks `hasSubscribers` itself and builds no closure. */
export const cacheChannels = channels;

/** Publishes only when someone listens (building the message costs nothing otherwise). */
export function publish(event: keyof typeof CACHE_CHANNELS, message: () => object): void {
  const ch = channels[event];
  if (ch.hasSubscribers) ch.publish(message());
}
