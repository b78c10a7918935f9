/**
 * JSON text for binary COPY written straight into the chunk, for plain data: objects with Object.prototype
 * (or none) and no toJSON, arrays without holes or undefined, finite numbers, booleans, null and strings
 * without characters JSON escapes. That is the same text as JSON.stringify and values checkJson accepts, in
 * one walk (instead of checkJson's walk, JSON.stringify's and a UTF-8 copy of its string). Anything else
 * (a Date, a class instance, NaN, undefined, an escape, deep nesting, not enough room in the chunk) gives up,
 * and the caller takes the general path, which decides and reports exactly as before.
 */

import { wellFormed } from './columns.js';

/** Gave up: the general path handles the value. */
const FAIL = -1;
/** Deeper than this is left to checkJson (which refuses more than 512 levels). */
const MAX_DEPTH = 256;

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function word(b: Buffer, p: number, end: number, w: readonly number[]): number {
  if (p + w.length > end) return FAIL;
  for (let i = 0; i < w.length; i++) b[p + i] = w[i] as number;
  return p + w.length;
}

/**
 * A quoted string. ASCII is copied by hand; other text is written as UTF-8 when it needs no escape and is
 * well formed (JSON.stringify writes it unchanged then).
 */
function str(s: string, b: Buffer, p: number, end: number): number {
  const n = s.length;
  if (p + n + 2 > end) return FAIL;
  const open = p;
  b[p++] = 0x22;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return FAIL;
    if (c > 0x7f) break;
    b[p++] = c;
  }
  if (i < n) {
    for (let j = i + 1; j < n; j++) {
      const c = s.charCodeAt(j);
      if (c < 0x20 || c === 0x22 || c === 0x5c) return FAIL;
    }
    if (!wellFormed(s) || open + 1 + (i + (n - i) * 3) + 1 > end) return FAIL;
    p += b.write(i === 0 ? s : s.slice(i), p, 'utf8');
  }
  if (p + 1 > end) return FAIL;
  b[p++] = 0x22;
  return p;
}

function num(v: number, b: Buffer, p: number, end: number): number {
  if (v === 0) {
    // -0 too: JSON.stringify(-0) is "0".
    if (p + 1 > end) return FAIL;
    b[p] = 0x30;
    return p + 1;
  }
  if (v > -1e9 && v < 1e9 && (v | 0) === v) {
    // Small integers in int32 arithmetic (the common case: ids, counts).
    if (p + 10 > end) return FAIL;
    let u = v;
    if (u < 0) {
      b[p++] = 0x2d;
      u = -u;
    }
    const digits =
      u < 10
        ? 1
        : u < 100
          ? 2
          : u < 1000
            ? 3
            : u < 10_000
              ? 4
              : u < 100_000
                ? 5
                : u < 1e6
                  ? 6
                  : u < 1e7
                    ? 7
                    : u < 1e8
                      ? 8
                      : 9;
    for (let k = p + digits - 1; k >= p; k--) {
      b[k] = 0x30 + (u % 10);
      u = (u / 10) | 0;
    }
    return p + digits;
  }
  if (Number.isInteger(v) && v > -1e15 && v < 1e15) {
    if (p + 16 > end) return FAIL;
    if (v < 0) {
      b[p++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    for (let k = p + digits - 1; k >= p; k--) {
      b[k] = 0x30 + (v % 10);
      v = Math.floor(v / 10);
    }
    return p + digits;
  }
  if (!Number.isFinite(v)) return FAIL;
  // Number::toString, as JSON.stringify: ASCII only.
  const s = String(v);
  if (p + s.length > end) return FAIL;
  for (let i = 0; i < s.length; i++) b[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/** Writes the JSON text of `v` at b[p..end); returns the end position, or FAIL. */
export function writeJsonFast(v: unknown, b: Buffer, p: number, end: number, depth = 0): number {
  switch (typeof v) {
    case 'string':
      return str(v, b, p, end);
    case 'number':
      return num(v, b, p, end);
    case 'boolean':
      return word(b, p, end, v ? TRUE : FALSE);
    case 'object':
      break;
    default:
      return FAIL;
  }
  if (v === null) return word(b, p, end, NULL);
  if (depth >= MAX_DEPTH) return FAIL;
  if (Array.isArray(v)) {
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return FAIL;
    if (p + 2 > end) return FAIL;
    b[p++] = 0x5b;
    for (let i = 0; i < v.length; i++) {
      if (i > 0) {
        if (p + 1 > end) return FAIL;
        b[p++] = 0x2c;
      }
      const x = v[i];
      // A hole or undefined (null in JSON.stringify, refused by checkJson).
      if (x === undefined) return FAIL;
      p = writeJsonFast(x, b, p, end, depth + 1);
      if (p < 0) return FAIL;
    }
    if (p + 1 > end) return FAIL;
    b[p++] = 0x5d;
    return p;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return FAIL;
  const o = v as Record<string, unknown>;
  if (typeof o.toJSON === 'function') return FAIL;
  const keys = Object.keys(o);
  if (p + 2 > end) return FAIL;
  b[p++] = 0x7b;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const x = o[k];
    // Left out by JSON.stringify, but checkJson still checks the key: the general path does both.
    if (x === undefined) return FAIL;
    if (i > 0) {
      if (p + 1 > end) return FAIL;
      b[p++] = 0x2c;
    }
    p = str(k, b, p, end);
    if (p < 0 || p + 1 > end) return FAIL;
    b[p++] = 0x3a;
    p = writeJsonFast(x, b, p, end, depth + 1);
    if (p < 0) return FAIL;
  }
  if (p + 1 > end) return FAIL;
  b[p++] = 0x7d;
  return p;
}
