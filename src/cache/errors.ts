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
  VALUE_TOO_LARGE: 'E_CACHE_VALUE_TOO_LARGE',
  WARM: 'E_CACHE_WARM',
} as const;

function causeText(cause: unknown): string {
  if (cause instanceof Error) return cause.message || cause.name;
  return String(cause);
}

/**
 * The cache store (Redis) failed or timed out, or was skipped because the circuit is open, and the call could not
 * go on without it (`failOpen: false`, or an invalidation). The message names the cause; the driver error (or the
 * `TimeoutError`) is `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_CACHE_STORE')) console.warn(e.context.operation, e.message) }
 * ```
 */
export class CacheStoreError extends DbkitError {
  static readonly code = CacheErrorCodes.STORE;
  constructor(operation: string, options: DbkitErrorOptions = {}, message?: string) {
    super(
      CacheErrorCodes.STORE,
      message ??
        `cache store operation "${operation}" failed${options.cause === undefined ? '' : `: ${causeText(options.cause)}`}`,
      { ...options, context: { operation, ...options.context } },
    );
  }
}

/**
 * The store was not tried because the circuit breaker is open (Redis failed repeatedly or its connection is
 * down). A `CacheStoreError` (same code, `context.reason === 'circuit-open'`); `cause` is the last store failure.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof CacheCircuitOpenError) return staleFallback() }
 * ```
 */
export class CacheCircuitOpenError extends CacheStoreError {
  constructor(operation: string, options: DbkitErrorOptions = {}) {
    super(
      operation,
      { ...options, context: { ...options.context, reason: 'circuit-open' } },
      `cache store operation "${operation}" skipped: the circuit breaker is open${
        options.cause === undefined ? '' : ` (last failure: ${causeText(options.cause)})`
      }`,
    );
  }
}

/**
 * A value whose serialized size exceeds `maxDecompressedBytes`: it could never be read back, so `set`/`setMany`
 * refuse it and write nothing (`getOrSet` and wrapped functions return the loaded value and count an `oversize`
 * skip instead).
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_CACHE_VALUE_TOO_LARGE')) log.warn(e.context.bytes) }
 * ```
 */
export class CacheValueTooLargeError extends DbkitError {
  static readonly code = CacheErrorCodes.VALUE_TOO_LARGE;
  constructor(key: string, bytes: number, limit: number) {
    super(
      CacheErrorCodes.VALUE_TOO_LARGE,
      `cache value for key "${key}" is ${bytes} bytes serialized, over maxDecompressedBytes (${limit}): not written`,
      { context: { key, bytes, limit } },
    );
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

/** One entry `warm()` could not write. */
export interface CacheWarmFailure {
  key: string;
  /** The error's `code` (`E_CACHE_SERIALIZE`, `E_CACHE_VALUE_TOO_LARGE`, `E_CONFIG` for a bad key). */
  code: string;
}

/**
 * `cache.warm()` did not write everything: some entries were invalid (skipped, the others written; the first 100
 * are in `failures`, `cause` is the first entry error), or the store or the source failed (the warm stopped;
 * `cause` is the `CacheStoreError` or the source's error). `context` has `written`, `failed` and `seen`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof CacheWarmError) log.warn({ written: e.written, failed: e.failures.length }) }
 * ```
 */
export class CacheWarmError extends DbkitError {
  static readonly code = CacheErrorCodes.WARM;
  /** Entries written before the warm ended. */
  readonly written: number;
  /** Invalid entries (at most 100 listed). */
  readonly failures: readonly CacheWarmFailure[];
  /** What stopped the warm: 'entries' (invalid entries, everything else written), 'store' or 'source'. */
  readonly reason: 'entries' | 'store' | 'source';

  constructor(
    reason: 'entries' | 'store' | 'source',
    counts: { written: number; failed: number; seen: number },
    failures: readonly CacheWarmFailure[],
    options: DbkitErrorOptions = {},
  ) {
    const what =
      reason === 'entries'
        ? `${counts.failed} of ${counts.seen} entries could not be written`
        : `the ${reason} failed after ${counts.written} of ${counts.seen} entries${
            options.cause === undefined ? '' : `: ${causeText(options.cause)}`
          }`;
    super(CacheErrorCodes.WARM, `cache warm incomplete: ${what}`, {
      ...options,
      context: { ...options.context, reason, ...counts },
    });
    this.written = counts.written;
    this.failures = failures;
    this.reason = reason;
  }
}
