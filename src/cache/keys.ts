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
