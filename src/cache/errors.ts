import { DbkitError, type DbkitErrorOptions } from '../errors.js';

/**
 * Error codes raised by dbkit/cache.
 *
 * @example
 * ```ts
 * if (isDbkitError(e, CacheErrorCodes.STORE)) metrics.cacheDown.inc()
 * ```
 */
export const CacheErrorCodes = {
  STORE: 'E_CACHE_STORE',
  CODEC_UNAVAILABLE: 'E_CACHE_CODEC_UNAVAILABLE',
  CORRUPT_ENTRY: 'E_CACHE_CORRUPT_ENTRY',
  SERIALIZE: 'E_CACHE_SERIALIZE',
  KEY: 'E_CACHE_KEY',
} as const;

/**
 * The cache store (Redis) failed or timed out and `failOpen` is false. The driver error is `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_CACHE_STORE')) console.warn(e.context.operation) }
 * ```
 */
export class CacheStoreError extends DbkitError {
  static readonly code = CacheErrorCodes.STORE;
  constructor(operation: string, options: DbkitErrorOptions = {}) {
    super(CacheErrorCodes.STORE, `cache store operation "${operation}" failed`, {
      ...options,
      context: { operation, ...options.context },
    });
  }
}

/**
 * A codec was requested that this runtime cannot provide (zstd needs Node >= 22.15).
 *
 * @example
 * ```ts
 * createQueryCache({ store, namespace: 'a', ttl: 60, compression: 'zstd' }) // throws on Node 20
 * ```
 */
export class CacheCodecUnavailableError extends DbkitError {
  static readonly code = CacheErrorCodes.CODEC_UNAVAILABLE;
  constructor(codec: string, reason: string) {
    super(CacheErrorCodes.CODEC_UNAVAILABLE, `cache codec "${codec}" is unavailable: ${reason}`, {
      context: { codec },
    });
  }
}

/**
 * A stored entry could not be decoded (bad frame, unknown version or codec, over `maxDecompressedBytes`).
 * The cache never throws it at callers: it turns it into a miss, deletes the key and counts it.
 *
 * @example
 * ```ts
 * try { decodeCacheFrame(buf, 1 << 20) } catch (e) { if (isDbkitError(e, 'E_CACHE_CORRUPT_ENTRY')) ... }
 * ```
 */
export class CacheCorruptEntryError extends DbkitError {
  static readonly code = CacheErrorCodes.CORRUPT_ENTRY;
  constructor(reason: string, options: DbkitErrorOptions = {}) {
    super(CacheErrorCodes.CORRUPT_ENTRY, `corrupt cache entry: ${reason}`, options);
  }
}

/**
 * A value could not be serialized (a function, a symbol, a class the serializer does not know).
 *
 * @example
 * ```ts
 * await cache.set('k', { fn() {} }) // throws CacheSerializeError (E_CACHE_SERIALIZE)
 * ```
 */
export class CacheSerializeError extends DbkitError {
  static readonly code = CacheErrorCodes.SERIALIZE;
  constructor(key: string, options: DbkitErrorOptions = {}) {
    super(CacheErrorCodes.SERIALIZE, `cache value for key "${key}" could not be serialized`, {
      ...options,
      context: { key, ...options.context },
    });
  }
}
