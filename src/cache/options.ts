import { constants as bufferConstants } from 'node:buffer';
import { ConfigError } from '../errors.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { type CacheCodecName, CODEC_LEVEL_RANGES, requireCodec } from './codecs.js';
import type { CacheStoreError } from './errors.js';
import { AUTO_LARGE_BYTES } from './frame.js';
import { isWellFormedText } from './keys.js';
import type { IoRedisClient } from './redis-client.js';
import { type CacheSerializer, defaultSerializer } from './serializer.js';
import type { CacheStore } from './store.js';
import { type CacheTtl, parseCacheTtl } from './ttl.js';

/** What `onError` receives besides the error. */
export interface CacheErrorContext {
  namespace: string;
  /** 'get', 'set', 'getMany', 'delete', 'invalidateTags', ... */
  operation: string;
  key?: string;
}

/** Options of {@link createQueryCache}. */
export interface QueryCacheOptions {
  /** An ioredis 5 or 6 `Redis` or `Cluster`; wrapped in `redisStore()`. Give this or `store`. */
  redis?: IoRedisClient;
  /** Any {@link CacheStore} (`redisStore()`, `memoryStore()`). Give this or `redis`. */
  store?: CacheStore;
  /**
   * Names this cache's keys: any text of 1-128 characters. Letters, digits and `_.-` appear in Redis keys as they
   * are, anything else (`:`, braces, glob characters, unicode) percent-encoded, so no two namespaces share a key
   * and `clear()` touches only this one.
   */
  namespace: string;
  /** Default time to live: seconds, or a string like '30s', '5m', '1h'. */
  ttl: CacheTtl;
  /**
   * Codec for entries at or above `thresholdBytes`. 'auto': lz4 (fastest to decode) below `largeValueBytes`,
   * gzip level 3 at or above (large results take about 0.6x of lz4's memory, see the README's trade-off table).
   * Every entry names its codec, so readers with any setting read entries written with any other.
   * @default 'auto'
   */
  compression?: CacheCodecName | 'auto';
  /**
   * The codec's level: gzip 1-9, brotli 0-11, zstd 1-22 (lz4 and none have none; with 'auto' it is gzip's).
   * @default CACHE_CODEC_DEFAULT_LEVELS[compression] (gzip 3 under 'auto')
   */
  compressionLevel?: number;
  /**
   * With `compression: 'auto'`, serialized values from this size on are gzipped instead of lz4-compressed.
   * @default 16384
   */
  largeValueBytes?: number;
  /**
   * Entries smaller than this (serialized) are stored uncompressed.
   * @default 1024
   */
  thresholdBytes?: number;
  /**
   * Compressed form is kept only when it saves at least this fraction (0..1).
   * @default 0.2
   */
  minSavings?: number;
  /**
   * Largest serialized value: `set` refuses bigger ones (`CacheValueTooLargeError`, nothing written) and a read
   * treats an entry claiming more as corrupt. Decompression never produces more than an entry's declared length.
   * @default 67108864 (64 MiB)
   */
  maxDecompressedBytes?: number;
  /**
   * Serializer for values.
   * @default defaultSerializer() (JSON for small JSON-exact values, MessagePack for the rest: Date, BigInt, Map,
   * Set, Buffer, undefined round-trip)
   */
  serializer?: CacheSerializer;
  /**
   * When the store fails or is slow, reads are misses and writes are skipped (errors counted, `onError`
   * called). When false, they throw `CacheStoreError`. Invalidation errors always throw.
   * @default true
   */
  failOpen?: boolean;
  /**
   * Called for every store error or timeout.
   * @default undefined
   */
  onError?: (error: CacheStoreError, context: CacheErrorContext) => void;
  /**
   * Longest a cache call waits for the store (ms); past it the call counts an error and goes on without it.
   * @default 250
   */
  operationTimeoutMs?: number;
  /**
   * Circuit breaker settings, or false to always try the store.
   * @default { failureThreshold: 5, resetTimeoutMs: 5000 }
   */
  circuitBreaker?: CircuitBreakerOptions | false;

  // --- stampede protection, grace (issue #14: single-flight.ts, query-cache.ts loader path) ---
  /**
   * How concurrent misses of one key share a single loader call. 'process': per key, per process (callers in
   * other processes load too). 'distributed': a short Redis lock per key (`SET NX PX`, renewed while the loader
   * runs), so one loader call across every process; the others wait for the value at most `lockTimeout`, then
   * load themselves. With Redis down it falls back to 'process'. Needs a Redis store.
   * @default 'process'
   */
  singleFlight?: 'process' | 'distributed';
  /**
   * TTL of a distributed single-flight lock, renewed every third of it while the loader runs: the longest a
   * crashed holder blocks the other processes.
   * @default '3s'
   */
  lockTtl?: CacheTtl;
  /**
   * Longest a caller waits for another process's load of the same key (distributed single-flight) before it
   * calls the loader itself.
   * @default '5s'
   */
  lockTimeout?: CacheTtl;
  /**
   * How long an entry stays usable after its TTL: `getOrSet`, `wrap` and `cached` return it (a "stale serve")
   * at once while one background refresh runs (one per key per process; one across processes with
   * 'distributed'). A failing refresh keeps the stale value and is counted (`refreshErrors`). `get` and
   * `getMany` never return an entry past its TTL. Seconds or a string like '10m'; 0 or false turns it off.
   * @default false
   */
  grace?: CacheTtl | 0 | false;
  // --- end stampede protection, grace ---
  // --- local tier (issue #14, cache14) ---
  /**
   * An in-process tier in front of the store (bounded LRU), kept coherent across processes: see
   * {@link LocalTierOptions}. Off unless given.
   * @default undefined (no local tier)
   */
  local?: LocalTierOptions;
  // --- end local tier ---
}

// --- local tier (issue #14, cache14) ---
/** Options of the in-process tier (`createQueryCache({ local })`). */
export interface LocalTierOptions {
  /**
   * Most entries kept; the least recently used go first.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Most bytes kept (what each copy holds, see `freeze`, plus keys); the least recently used go first.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * Longest a local copy lives (it never outlives its Redis TTL either): seconds or '30s', '5m'.
   * @default the cache's `ttl`
   */
  ttl?: CacheTtl;
  /**
   * How other processes' writes reach this tier: 'tracking' (Redis client tracking, BCAST on the namespace
   * prefix: every write to the namespace's keys, by anyone), 'bus' (a pub/sub channel our own writes publish
   * on), or 'auto' (tracking, and the bus where CLIENT TRACKING is refused: renamed command, ACL).
   * @default 'auto'
   */
  invalidation?: 'auto' | 'tracking' | 'bus';
  /**
   * The invalidation connection is pinged this often; an unanswered ping stops the tier (a silently broken
   * connection is noticed within twice this).
   * @default 1000
   */
  heartbeatMs?: number;
  /**
   * false: every local hit gets its own deep copy (no caller can change what another gets). Values of dbkit's
   * serializers are kept decoded, privately, and copied by a copier compiled for their shape (~0.1 µs for a
   * 0.7 KB row, ~25 µs for a 150 KB result of 220 rows); values holding a Buffer or typed array, and values of a
   * custom serializer, are kept as bytes and decoded per hit (~3 µs and ~200 µs). A decoded copy holds about 2x
   * its MessagePack size in the heap, and is counted that way in `maxBytes`. true: one deep-frozen value is
   * shared by every hit (~0.02 µs; writing to it throws in strict mode). JavaScript cannot freeze the contents of
   * a Map, Set, Date or Buffer, so use true only for plain objects, arrays and primitives.
   * @default false
   */
  freeze?: boolean;
}

/** {@link LocalTierOptions} after resolution. */
export interface ResolvedLocalTierOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  invalidation: 'auto' | 'tracking' | 'bus';
  heartbeatMs: number;
  freeze: boolean;
}

function resolveLocal(
  local: LocalTierOptions | undefined,
  ttlMs: number,
): ResolvedLocalTierOptions | undefined {
  if (local === undefined) return undefined;
  if (typeof local !== 'object' || local === null) {
    throw new ConfigError('local must be an object ({ maxEntries?, maxBytes?, ttl? })');
  }
  const int = (field: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new ConfigError(`local.${field} must be an integer >= ${min}, got ${String(v)}`, {
        context: { field: `local.${field}` },
      });
    }
    return v;
  };
  const invalidation = local.invalidation ?? 'auto';
  if (!['auto', 'tracking', 'bus'].includes(invalidation)) {
    throw new ConfigError(`local.invalidation must be 'auto', 'tracking' or 'bus'`, {
      context: { field: 'local.invalidation' },
    });
  }
  return {
    maxEntries: int('maxEntries', local.maxEntries ?? 10_000, 1),
    maxBytes: int('maxBytes', local.maxBytes ?? 64 * 1024 * 1024, 1),
    ttlMs: local.ttl === undefined ? ttlMs : parseCacheTtl(local.ttl),
    invalidation,
    heartbeatMs: int('heartbeatMs', local.heartbeatMs ?? 1000, 10),
    freeze: local.freeze === true,
  };
}
// --- end local tier ---

/** Per-call options of `set`, `getOrSet`, `wrap` and `cached`. */
export interface CacheSetOptions {
  /** Overrides the cache's default TTL. */
  ttl?: CacheTtl;
  /** Tags to invalidate the entry by (`invalidateTags`). */
  tags?: readonly string[];
}

/** Options after {@link resolveQueryCacheOptions}. */
export interface ResolvedQueryCacheOptions {
  namespace: string;
  ttlMs: number;
  compression: CacheCodecName | 'auto';
  compressionLevel: number | undefined;
  largeValueBytes: number;
  thresholdBytes: number;
  minSavings: number;
  maxDecompressedBytes: number;
  serializer: CacheSerializer;
  failOpen: boolean;
  /** Called with each store error (see QueryCacheOptions.onError). */
  onError: QueryCacheOptions['onError'];
  operationTimeoutMs: number;
  circuitBreaker: { failureThreshold: number; resetTimeoutMs: number } | false;
  // --- stampede protection, grace ---
  singleFlight: 'process' | 'distributed';
  lockTtlMs: number;
  lockTimeoutMs: number;
  /** 0 when grace is off. */
  graceMs: number;
  /** The local tier, or undefined when off (issue #14, cache14). */
  local: ResolvedLocalTierOptions | undefined;
}

const defaults = {
  compression: 'auto',
  largeValueBytes: AUTO_LARGE_BYTES,
  thresholdBytes: 1024,
  minSavings: 0.2,
  maxDecompressedBytes: 64 * 1024 * 1024,
  failOpen: true,
  operationTimeoutMs: 250,
  circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 5000 },
  singleFlight: 'process',
  lockTtl: '3s',
  lockTimeout: '5s',
} as const;

// The frame header stores the length as u32; a Buffer cannot be larger than MAX_LENGTH anyway.
const MAX_DECOMPRESSED = Math.min(2 ** 32 - 1, bufferConstants.MAX_LENGTH);

/**
 * Fills in defaults and validates; throws `ConfigError` (or `CacheCodecUnavailableError` for zstd on Node 20).
 *
 * @example
 * ```ts
 * resolveQueryCacheOptions({ namespace: 'users', ttl: '5m' }).ttlMs // 300000
 * ```
 */
export function resolveQueryCacheOptions(options: QueryCacheOptions): ResolvedQueryCacheOptions {
  const ns = options?.namespace;
  if (typeof ns !== 'string' || ns.length === 0 || [...ns].length > 128 || !isWellFormedText(ns)) {
    throw new ConfigError(
      'namespace must be a string of 1-128 characters (well-formed unicode: no lone surrogate)',
      { context: { namespace: ns } },
    );
  }
  const num = (field: string, v: number, min: number, max = Number.POSITIVE_INFINITY) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new ConfigError(`${field} must be a number in [${min}, ${max}], got ${String(v)}`, {
        context: { field },
      });
    }
    return v;
  };
  const compression = options.compression ?? defaults.compression;
  if (compression !== 'auto') requireCodec(compression);
  const range = CODEC_LEVEL_RANGES[compression === 'auto' ? 'gzip' : compression];
  if (options.compressionLevel !== undefined && !range) {
    throw new ConfigError(`compression '${compression}' has no compressionLevel`, {
      context: { field: 'compressionLevel' },
    });
  }
  const compressionLevel =
    options.compressionLevel === undefined || !range
      ? undefined
      : num('compressionLevel', options.compressionLevel, range[0], range[1]);
  if (compressionLevel !== undefined && !Number.isInteger(compressionLevel)) {
    throw new ConfigError(`compressionLevel must be an integer, got ${compressionLevel}`, {
      context: { field: 'compressionLevel' },
    });
  }
  const cb = options.circuitBreaker ?? defaults.circuitBreaker;
  const singleFlight = options.singleFlight ?? defaults.singleFlight;
  if (singleFlight !== 'process' && singleFlight !== 'distributed') {
    throw new ConfigError(`singleFlight must be 'process' or 'distributed', got ${String(singleFlight)}`, {
      context: { field: 'singleFlight' },
    });
  }
  const grace = options.grace;
  const ttlMs = parseCacheTtl(options.ttl);
  return {
    singleFlight,
    lockTtlMs: parseCacheTtl(options.lockTtl ?? defaults.lockTtl, 'lockTtl'),
    lockTimeoutMs: parseCacheTtl(options.lockTimeout ?? defaults.lockTimeout, 'lockTimeout'),
    graceMs: grace === undefined || grace === false || grace === 0 ? 0 : parseCacheTtl(grace, 'grace'),
    namespace: options.namespace,
    ttlMs,
    local: resolveLocal(options.local, ttlMs),
    compression,
    compressionLevel,
    largeValueBytes: num('largeValueBytes', options.largeValueBytes ?? defaults.largeValueBytes, 0),
    thresholdBytes: num('thresholdBytes', options.thresholdBytes ?? defaults.thresholdBytes, 0),
    minSavings: num('minSavings', options.minSavings ?? defaults.minSavings, 0, 1),
    maxDecompressedBytes: num(
      'maxDecompressedBytes',
      options.maxDecompressedBytes ?? defaults.maxDecompressedBytes,
      1,
      MAX_DECOMPRESSED,
    ),
    serializer: options.serializer ?? defaultSerializer(),
    failOpen: options.failOpen ?? defaults.failOpen,
    onError: options.onError,
    operationTimeoutMs: num(
      'operationTimeoutMs',
      options.operationTimeoutMs ?? defaults.operationTimeoutMs,
      1,
    ),
    circuitBreaker:
      cb === false
        ? false
        : {
            failureThreshold: num(
              'circuitBreaker.failureThreshold',
              cb.failureThreshold ?? defaults.circuitBreaker.failureThreshold,
              1,
            ),
            resetTimeoutMs: num(
              'circuitBreaker.resetTimeoutMs',
              cb.resetTimeoutMs ?? defaults.circuitBreaker.resetTimeoutMs,
              1,
            ),
          },
  };
}
