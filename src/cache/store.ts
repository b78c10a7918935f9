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
  /**
   * Optional: remaining time to live in ms (-1 without expiry, -2 when missing), so a local copy never
   * outlives its store entry (Redis PTTL).
   */
  pttl?(key: string): Promise<number>;
  /** Cheap liveness probe (PING). */
  ping(): Promise<void>;
  /**
   * Optional: reports the connection going down (`up = false`, with the cause when known) and coming back, so
   * the cache stops waiting on a store it knows is unreachable. The listener is held weakly (it lives as long as
   * whatever owns it, typically one cache); `redisStore` implements it from ioredis' connection events.
   */
  onConnectionChange?(listener: (up: boolean, cause?: unknown) => void): void;
  /** Closes a client the store created itself; a client passed in is left open. */
  close(): Promise<void>;
}

/**
 * Converts a Redis glob (`*`, `?`, `[...]` with `^` and ranges, `\` escapes) to a RegExp with Redis's own
 * semantics (a port of `stringmatchlen`), for stores without SCAN. It matches per code point; Redis matches per
 * byte, which differs only for `?`, `[...]` and non-ASCII text: `memoryStore` matches UTF-8 bytes like Redis.
 *
 * @example
 * ```ts
 * globToRegExp('user:*').test('user:42') // true
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(globSource([...glob].map((c) => c.codePointAt(0)!)), 'su');
}

/**
 * A matcher with Redis's byte semantics: pattern and key compared as UTF-8 bytes, exactly as SCAN MATCH does.
 *
 * @example
 * ```ts
 * redisGlobMatcher('ü?')('üx') // true
 * ```
 */
export function redisGlobMatcher(glob: string): (key: string) => boolean {
  const re = new RegExp(globSource([...Buffer.from(glob, 'utf8')]), 'su');
  return (key) => re.test(Buffer.from(key, 'utf8').toString('latin1'));
}

const lit = (c: number) => `\\u{${c.toString(16)}}`;

function globSource(p: readonly number[]): string {
  const BS = 0x5c;
  let re = '^';
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === 0x2a) {
      re += '[\\s\\S]*';
      i++;
    } else if (c === 0x3f) {
      re += '[\\s\\S]';
      i++;
    } else if (c === 0x5b) {
      // [ ... ]: `^` negates, `\x` is x, `a-z` a range (ends swapped when reversed), unterminated = to the end.
      i++;
      const not = p[i] === 0x5e;
      if (not) i++;
      const parts: string[] = [];
      while (i < p.length && p[i] !== 0x5d) {
        if (p[i] === BS && i + 1 < p.length) {
          parts.push(lit(p[i + 1]!));
          i += 2;
        } else if (i + 2 < p.length && p[i + 1] === 0x2d) {
          const [a, b] = [p[i]!, p[i + 2]!].sort((x, y) => x - y);
          parts.push(`${lit(a!)}-${lit(b!)}`);
          i += 3;
        } else {
          parts.push(lit(p[i]!));
          i++;
        }
      }
      i++; // the closing ]
      if (parts.length === 0) re += not ? '[\\s\\S]' : '(?!)';
      else re += `[${not ? '^' : ''}${parts.join('')}]`;
    } else if (c === BS && i + 1 < p.length) {
      re += lit(p[i + 1]!);
      i += 2;
    } else {
      re += lit(c);
      i++;
    }
  }
  return `${re}$`;
}
