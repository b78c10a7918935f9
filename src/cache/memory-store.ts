import { ConfigError } from '../errors.js';
import { type CacheStore, type CacheStoreEntry, redisGlobMatcher } from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most entries kept; the least recently used go first.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Most bytes of values kept (keys not counted); the least recently used go first.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
}

const memoryDefaults = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 } as const;

interface Slot {
  value: Buffer;
  expiresAt: number;
}

/**
 * An in-process LRU {@link CacheStore} bounded by entries and bytes (tests, demos, single-process hosts).
 *
 * @example
 * ```ts
 * const cache = createQueryCache({ store: memoryStore({ maxEntries: 1000 }), namespace: 'users', ttl: '5m' })
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): CacheStore & {
  /** Entries held now. */
  size(): number;
  /** Bytes held now (keys and values). */
  bytes(): number;
} {
  const maxEntries = options.maxEntries ?? memoryDefaults.maxEntries;
  const maxBytes = options.maxBytes ?? memoryDefaults.maxBytes;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new ConfigError('memoryStore maxEntries must be >= 1');
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new ConfigError('memoryStore maxBytes must be >= 1');
  // Map keeps insertion order: re-inserting on read makes the first key the least recently used.
  const map = new Map<string, Slot>();
  let bytes = 0;
  const drop = (key: string) => {
    const s = map.get(key);
    if (!s) return false;
    map.delete(key);
    bytes -= s.value.length;
    return true;
  };
  const live = (key: string): Slot | undefined => {
    const s = map.get(key);
    if (!s) return undefined;
    if (s.expiresAt <= Date.now()) {
      drop(key);
      return undefined;
    }
    map.delete(key);
    map.set(key, s);
    return s;
  };
  const put = (key: string, value: Buffer, ttlMs: number) => {
    drop(key);
    if (value.length > maxBytes) return;
    map.set(key, { value, expiresAt: ttlMs === Number.POSITIVE_INFINITY ? ttlMs : Date.now() + ttlMs });
    bytes += value.length;
    for (const k of map.keys()) {
      if (map.size <= maxEntries && bytes <= maxBytes) break;
      drop(k);
    }
  };
  const matching = (pattern: string) => {
    const matches = redisGlobMatcher(pattern);
    return [...map.keys()].filter((k) => matches(k) && live(k));
  };
  return {
    kind: 'memory',
    size: () => map.size,
    bytes: () => bytes,
    async get(key) {
      return live(key)?.value ?? null;
    },
    async getMany(keys) {
      return keys.map((k) => live(k)?.value ?? null);
    },
    async set(key, value, ttlMs) {
      put(key, value, ttlMs);
    },
    async setMany(entries: readonly CacheStoreEntry[]) {
      for (const e of entries) put(e.key, e.value, e.ttlMs);
    },
    async delete(keys) {
      let n = 0;
      for (const k of keys) if (live(k) && drop(k)) n++;
      return n;
    },
    async incr(key) {
      const s = live(key);
      const next = (s ? Number(s.value.toString()) : 0) + 1;
      put(key, Buffer.from(String(next)), Number.POSITIVE_INFINITY);
      return next;
    },
    async deleteMatching(pattern) {
      const keys = matching(pattern);
      for (const k of keys) drop(k);
      return keys.length;
    },
    async *scan(pattern, batch = 500) {
      const keys = matching(pattern);
      for (let i = 0; i < keys.length; i += batch) yield keys.slice(i, i + batch);
    },
    async pttl(key) {
      const s = live(key);
      if (!s) return -2;
      return s.expiresAt === Number.POSITIVE_INFINITY ? -1 : Math.max(1, s.expiresAt - Date.now());
    },
    async ping() {},
    async close() {
      map.clear();
      bytes = 0;
    },
  };
}
