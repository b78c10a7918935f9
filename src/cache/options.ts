import type { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../errors.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { type CacheCodecName, requireCodec } from './codecs.js';
import type { CacheStoreError } from './errors.js';
import { type CacheSerializer, msgpackSerializer } from './serializer.js';
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
  /** An ioredis `Redis` or `Cluster`; wrapped in `redisStore()`. Give this or `store`. */
  redis?: Redis | Cluster;
  /** Any {@link CacheStore} (`redisStore()`, `memoryStore()`). Give this or `redis`. */
  store?: CacheStore;
  /** Prefix of every key this cache writes: letters, digits and `_.:-`. `clear()` touches only this namespace. */
  namespace: string;
  /** Default time to live: seconds, or a string like '30s', '5m', '1h'. */
  ttl: CacheTtl;
  /**
   * Codec for entries at or above `thresholdBytes`.
   * @default 'lz4'
   */
  compression?: CacheCodecName;
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
   * Entries claiming more uncompressed bytes than this are treated as corrupt (decompression-bomb guard).
   * @default 67108864 (64 MiB)
   */
  maxDecompressedBytes?: number;
  /**
   * Serializer for values.
   * @default msgpackSerializer() (Date, BigInt, Map, Set, Buffer, undefined round-trip)
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
}

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
  compression: CacheCodecName;
  thresholdBytes: number;
  minSavings: number;
  maxDecompressedBytes: number;
  serializer: CacheSerializer;
  failOpen: boolean;
  /** Called with each store error (see QueryCacheOptions.onError). */
  onError: QueryCacheOptions['onError'];
  operationTimeoutMs: number;
  circuitBreaker: { failureThreshold: number; resetTimeoutMs: number } | false;
}

const defaults = {
  compression: 'lz4',
  thresholdBytes: 1024,
  minSavings: 0.2,
  maxDecompressedBytes: 64 * 1024 * 1024,
  failOpen: true,
  operationTimeoutMs: 250,
  circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 5000 },
} as const;

const NAMESPACE = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Fills in defaults and validates; throws `ConfigError` (or `CacheCodecUnavailableError` for zstd on Node 20).
 *
 * @example
 * ```ts
 * resolveQueryCacheOptions({ namespace: 'users', ttl: '5m' }).ttlMs // 300000
 * ```
 */
export function resolveQueryCacheOptions(options: QueryCacheOptions): ResolvedQueryCacheOptions {
  if (typeof options?.namespace !== 'string' || !NAMESPACE.test(options.namespace)) {
    throw new ConfigError('namespace must be 1-128 characters of letters, digits and _.:-', {
      context: { namespace: options?.namespace },
    });
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
  requireCodec(compression);
  const cb = options.circuitBreaker ?? defaults.circuitBreaker;
  return {
    namespace: options.namespace,
    ttlMs: parseCacheTtl(options.ttl),
    compression,
    thresholdBytes: num('thresholdBytes', options.thresholdBytes ?? defaults.thresholdBytes, 0),
    minSavings: num('minSavings', options.minSavings ?? defaults.minSavings, 0, 1),
    maxDecompressedBytes: num(
      'maxDecompressedBytes',
      options.maxDecompressedBytes ?? defaults.maxDecompressedBytes,
      1,
    ),
    serializer: options.serializer ?? msgpackSerializer(),
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
