import { createHash } from 'node:crypto';

/**
 * Deterministic JSON-like text of a value: object keys sorted, Date/BigInt/Map/Set/Buffer typed,
 * undefined kept distinct from null. Used for default cache keys.
 *
 * @example
 * ```ts
 * stableStringify({ b: 1, a: 2 }) === stableStringify({ a: 2, b: 1 }) // true
 * ```
 */
export function stableStringify(value: unknown): string {
  return write(value, new Set());
}

function write(v: unknown, seen: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : `#n:${String(v)}`;
    case 'bigint':
      return `#b:${v.toString()}`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return '#u';
    case 'symbol':
    case 'function':
      throw new TypeError(`cannot derive a cache key from a ${typeof v}`);
  }
  if (v === null) return 'null';
  const o = v as object;
  if (seen.has(o)) throw new TypeError('cannot derive a cache key from a circular structure');
  seen.add(o);
  try {
    if (o instanceof Date) return `#d:${Number.isNaN(o.getTime()) ? 'NaN' : o.toISOString()}`;
    if (ArrayBuffer.isView(o))
      return `#x:${Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('base64')}`;
    if (Array.isArray(o)) return `[${o.map((x) => write(x, seen)).join(',')}]`;
    if (o instanceof Map) {
      const entries = [...o].map(([k, x]) => `${write(k, seen)}:${write(x, seen)}`).sort();
      return `#m{${entries.join(',')}}`;
    }
    if (o instanceof Set)
      return `#s[${[...o]
        .map((x) => write(x, seen))
        .sort()
        .join(',')}]`;
    const keys = Object.keys(o).sort();
    const rec = o as Record<string, unknown>;
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(rec[k], seen)}`).join(',')}}`;
  } finally {
    seen.delete(o);
  }
}

/**
 * The default key of a wrapped function call: SHA-256 (hex) of namespace, function name and arguments.
 * `this` is never part of it.
 *
 * @example
 * ```ts
 * defaultCacheKey('users', 'findById', [42])
 * ```
 */
export function defaultCacheKey(namespace: string, name: string, args: readonly unknown[]): string {
  const h = createHash('sha256');
  h.update(namespace);
  h.update('\0');
  h.update(name);
  h.update('\0');
  h.update(stableStringify(args));
  return `${name}:${h.digest('hex')}`;
}

/** True when `s` has no lone UTF-16 surrogate (Redis stores keys as UTF-8, where lone surrogates collapse to U+FFFD). */
export function isWellFormedText(s: string): boolean {
  return (s as { isWellFormed?: () => boolean }).isWellFormed?.() ?? !LONE_SURROGATE.test(s);
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Characters a namespace keeps as they are in Redis keys: none of them is a key separator (`:`), a Cluster
// hash-tag brace or a glob metacharacter (`*?[]\`), so the encoded namespace can be put in a key and in a SCAN
// pattern without escaping, and the first `:` of a key always ends the namespace.
const NAMESPACE_SAFE = /^[A-Za-z0-9_.-]$/;

/**
 * The Redis-key form of a namespace: letters, digits and `_.-` kept, every other character written as `%XX` per
 * UTF-8 byte (`%` itself included). Injective, so two namespaces never share a key prefix.
 *
 * @example
 * ```ts
 * encodeNamespace('app:users') // 'app%3Ausers'
 * ```
 */
export function encodeNamespace(namespace: string): string {
  let out = '';
  for (const ch of namespace) {
    if (NAMESPACE_SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Where one cache namespace keeps its data in Redis. Every key kind has its own one-letter segment after the
 * encoded namespace, so kinds never collide; new kinds (locks, local-tier invalidation channels) add a letter.
 *
 *   `<ns>:k:<key>`            entries (the user key verbatim: a `{...}` in it is the user's own hash tag)
 *   `<ns>:t:{<ns>}:<tag>`     tag version counters, all in one hash slot per namespace (one MGET on a Cluster)
 *   `<ns>:l:{<slot>}:<key>`   distributed single-flight locks; `<slot>` puts the lock in its entry's hash slot
 *                             (see `lockKey` in single-flight.ts). Never matched by entry patterns; `clear()`
 *                             deletes them, which costs at most one extra loader call.
 *   channel `<ns>:c:flight`   pub/sub: "this key's load finished" (not a key)
 *
 * @example
 * ```ts
 * new CacheKeyspace('shop').entry('product:1') // 'shop:k:product:1'
 * ```
 */
export class CacheKeyspace {
  /** The encoded namespace (see {@link encodeNamespace}). */
  readonly prefix: string;
  /** Prefix of every entry key. */
  readonly entryPrefix: string;
  /** Prefix of every tag counter key. */
  readonly tagPrefix: string;
  /** Prefix of every distributed single-flight lock key. */
  readonly lockPrefix: string;
  /** Pub/sub channel where a lock holder announces the end of a load. */
  readonly flightChannel: string;

  constructor(readonly namespace: string) {
    this.prefix = encodeNamespace(namespace);
    this.entryPrefix = `${this.prefix}:k:`;
    this.tagPrefix = `${this.prefix}:t:{${this.prefix}}:`;
    this.lockPrefix = `${this.prefix}:l:`;
    this.flightChannel = `${this.prefix}:c:flight`;
  }

  /** Store key of the entry for a user key. */
  entry(key: string): string {
    return this.entryPrefix + key;
  }

  /** Store key of a tag's version counter. */
  tag(tag: string): string {
    return this.tagPrefix + tag;
  }

  /** SCAN pattern of the entries matching a glob applied to user keys. */
  entryPattern(glob: string): string {
    return this.entryPrefix + glob;
  }

  /** SCAN pattern of every key of the namespace (entries and tag counters). */
  allPattern(): string {
    return `${this.prefix}:*`;
  }
}

/**
 * Escapes Redis glob metacharacters (`*`, `?`, `[`, `]`, `\`) so `text` matches only itself: use it for
 * user-supplied parts of a pattern.
 *
 * @example
 * ```ts
 * await cache.invalidatePattern(`user:${escapeGlob(userId)}:*`)
 * ```
 */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
