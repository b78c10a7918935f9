/**
 * dbkit/cache: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
export { type AnalyzeCacheMemoryOptions, analyzeCacheMemory, type CacheMemoryReport } from './analyze.js';
export { CACHE_CHANNELS, CACHE_HIT_CHANNEL } from './channels.js';
export { CacheCircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';
export {
  CACHE_CODEC_DEFAULT_LEVELS,
  CACHE_CODEC_IDS,
  type CacheCodecName,
  isCacheCodecAvailable,
} from './codecs.js';
export type { CachedMethodDecorator, CachedOptions, WrapOptions } from './decorators.js';
export {
  CacheCircuitOpenError,
  CacheCodecUnavailableError,
  CacheCorruptEntryError,
  CacheErrorCodes,
  CacheSerializeError,
  CacheStoreError,
  CacheValueTooLargeError,
  CacheWarmError,
  type CacheWarmFailure,
} from './errors.js';
export {
  CACHE_FRAME_MAGIC,
  CACHE_FRAME_VERSION,
  type DecodedFrame,
  decodeCacheFrame,
  encodeCacheFrame,
  type FrameCompression,
} from './frame.js';
export { CacheKeyspace, defaultCacheKey, encodeNamespace, escapeGlob, stableStringify } from './keys.js';
export { type MemoryStoreOptions, memoryStore } from './memory-store.js';
export {
  type CacheErrorContext,
  type CacheSetOptions,
  type LocalTierOptions,
  type QueryCacheOptions,
  type ResolvedLocalTierOptions,
  type ResolvedQueryCacheOptions,
  resolveQueryCacheOptions,
} from './options.js';
export {
  type CacheManyEntry,
  createQueryCache,
  type LocalTierState,
  QueryCache,
  type QueryCacheStats,
} from './query-cache.js';
export {
  type IoRedisClient,
  type IoRedisCluster,
  type IoRedisLib,
  type IoRedisStandalone,
  isIoRedisClient,
} from './redis-client.js';
export { type RedisStoreOptions, redisKeySlot, redisStore } from './redis-store.js';
export { type CacheSerializer, defaultSerializer, jsonSerializer, msgpackSerializer } from './serializer.js';
export { type LockWaitOutcome, lockKey } from './single-flight.js';
export { type CacheStore, type CacheStoreEntry, globToRegExp, redisGlobMatcher } from './store.js';
export { type CacheTtl, parseCacheTtl } from './ttl.js';
export type { CacheWarmOptions, CacheWarmProgress, CacheWarmResult, CacheWarmSource } from './warm.js';
