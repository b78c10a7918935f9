import { ConfigError } from '../errors.js';

/** A TTL: seconds as a number, or a string like '500ms', '30s', '5m', '1h', '1d'. */
export type CacheTtl = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Converts a {@link CacheTtl} to milliseconds; throws `ConfigError` for anything else.
 *
 * @example
 * ```ts
 * parseCacheTtl('5m') // 300000
 * ```
 */
export function parseCacheTtl(ttl: CacheTtl | string, field = 'ttl'): number {
  let ms: number;
  if (typeof ttl === 'number') ms = ttl * 1000;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(String(ttl));
    if (!m)
      throw new ConfigError(`${field} must be seconds or a string like '5m', got ${JSON.stringify(ttl)}`);
    ms = Number(m[1]) * (UNITS[m[2]!] ?? 1);
  }
  if (!Number.isFinite(ms) || ms < 1) {
    throw new ConfigError(`${field} must be at least 1 ms, got ${JSON.stringify(ttl)}`, {
      context: { field },
    });
  }
  return Math.round(ms);
}
