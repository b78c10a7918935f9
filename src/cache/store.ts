/** One write of {@link CacheStore.setMany}. */
export interface CacheStoreEntry {
  key: string;
  value: Buffer;
  /** Time to live in milliseconds. */
  ttlMs: number;
}

/**
 * The small interface the query cache talks to. Keys are full keys (namespace included); values are Buffers.
 * `redisStore()` and `memoryStore()` implement it; the conformance suite in test/cache runs against both.
 *
 * @example
 * ```ts
 * const store: CacheStore = memoryStore({ maxEntries: 10_000 })
 * ```
 */
export interface CacheStore {
  /** 'redis', 'redis-cluster' or 'memory'. */
  readonly kind: string;
  /** The stored bytes, or null on a miss. */
  get(key: string): Promise<Buffer | null>;
  /** One round trip (per cluster node); results in key order. */
  getMany(keys: readonly string[]): Promise<Array<Buffer | null>>;
  /** Stores bytes with a time to live in milliseconds. */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  /** One round trip (per cluster node). */
  setMany(entries: readonly CacheStoreEntry[]): Promise<void>;
  /** Returns how many keys existed. */
  delete(keys: readonly string[]): Promise<number>;
  /** Atomically increments an integer key (no TTL) and returns the new value. */
  incr(key: string): Promise<number>;
  /** Deletes every key matching the Redis glob (SCAN + UNLINK on every master); returns how many. */
  deleteMatching(pattern: string): Promise<number>;
  /** Iterates keys matching the Redis glob, in batches. */
  scan(pattern: string, batch?: number): AsyncIterable<string[]>;
  /** Cheap liveness probe (PING). */
  ping(): Promise<void>;
  /** Closes a client the store created itself; a client passed in is left open. */
  close(): Promise<void>;
}

/**
 * Converts a Redis glob (`*`, `?`, `[...]`, `\` escapes) to a RegExp, for stores without SCAN.
 *
 * @example
 * ```ts
 * globToRegExp('user:*').test('user:42') // true
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('^')) body = `^${body.slice(1).replace(/[\\\]]/g, '\\$&')}`;
        else body = body.replace(/[\\\]^]/g, '\\$&');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}
