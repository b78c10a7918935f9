/**
 * COPY `FORMAT binary` encoder: rows go straight from JS values into preallocated Buffers (header, one tuple per
 * row, trailer), skipping the text rendering and escaping of text COPY. Only built-in types whose binary form is
 * fully determined by the JS value are covered; a table with any other column falls back to text COPY.
 *
 * Every writer validates exactly like the text encoder of columns.ts (same InvalidValue reasons), so a value is
 * refused the same way whichever format carries it.
 */
import type { PgColumn } from 'drizzle-orm/pg-core';
import { is, PgArray } from '../internal/drizzle-lib.js';
import {
  type ColumnInfo,
  checkJson,
  checkReal,
  checkText,
  driverText,
  INT2,
  INT4,
  INT8_MAX,
  INT8_MIN,
  INT53,
  InvalidValue,
  mapDriverValue,
  NUMERIC_RE,
  numericParts,
  type TableInfo,
  typeName,
} from './columns.js';
import { BulkValidationError } from './errors.js';
import { writeJsonFast } from './json-writer.js';

/** Appends one field (length word and bytes) for a non-null value; throws InvalidValue on a bad value. */
export type FieldWriter = (w: ChunkWriter, v: unknown) => void;

/** How one column travels in binary COPY. */
export interface BinaryField {
  /** The type OID the server must have for the column; 0 for an enum (checked by kind instead). */
  oid: number;
  /** Array columns: the element OID (0 for an enum element, resolved from the server). */
  elemOid: number;
  /** An enum (or array of an enum): the OID comes from the server. */
  enumType: boolean;
  write: FieldWriter;
}

const DEFAULT_CHUNK = 256 * 1024;

/** Fills preallocated Buffers; full ones are collected in `done` for the generator to yield. */
export class ChunkWriter {
  buf: Buffer;
  pos = 0;
  done: Buffer[] = [];
  constructor(readonly chunkSize = DEFAULT_CHUNK) {
    this.buf = Buffer.allocUnsafeSlow(chunkSize);
  }
  /** Makes room for n more bytes, closing the current chunk when it is full. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos > 0) this.done.push(this.buf.subarray(0, this.pos));
    // A fresh Buffer per chunk: Readable.from keeps several chunks queued ahead of the socket.
    this.buf = Buffer.allocUnsafeSlow(Math.max(this.chunkSize, n));
    this.pos = 0;
  }
  i16(v: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }
  i32(v: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
  }
  /** A string as UTF-8 with its length word in front. */
  str(s: string, prefix?: number): void {
    const extra = prefix === undefined ? 0 : 1;
    const n = s.length;
    if (n * 3 + 4 + extra > this.chunkSize) this.ensure(Buffer.byteLength(s) + 4 + extra);
    else this.ensure(n * 3 + 4 + extra);
    const b = this.buf;
    const start = this.pos;
    let p = start + 4;
    if (prefix !== undefined) b[p++] = prefix;
    // Short ASCII strings are copied by hand: below ~24 characters that beats the ~80 ns of a buf.write call.
    let i = 0;
    if (n < 24)
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        b[p++] = c;
      }
    if (i < n) p += b.write(i === 0 ? s : s.slice(i), p, 'utf8');
    const len = p - start - 4;
    b[start] = len >>> 24;
    b[start + 1] = len >>> 16;
    b[start + 2] = len >>> 8;
    b[start + 3] = len;
    this.pos = p;
  }
  /**
   * A string of ASCII without NUL (checkText passes such a string) with its length word, copied by hand;
   * false, with nothing kept, for any other string.
   */
  ascii(s: string): boolean {
    const n = s.length;
    this.ensure(n + 4);
    const b = this.buf;
    const start = this.pos;
    let p = start + 4;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c > 127) return false;
      b[p++] = c;
    }
    b[start] = n >>> 24;
    b[start + 1] = n >>> 16;
    b[start + 2] = n >>> 8;
    b[start + 3] = n;
    this.pos = p;
    return true;
  }
  bytes(src: Uint8Array): void {
    this.ensure(src.byteLength + 4);
    this.i32(src.byteLength);
    this.buf.set(src, this.pos);
    this.pos += src.byteLength;
  }
  /** Closes the last chunk. */
  finish(): void {
    if (this.pos > 0) this.done.push(this.buf.subarray(0, this.pos));
    this.pos = 0;
    this.buf = Buffer.alloc(0);
  }
}

const TWO32 = 4294967296;

function writeInt64Number(w: ChunkWriter, v: number): void {
  const hi = Math.floor(v / TWO32);
  w.i32(hi);
  w.i32(v - hi * TWO32);
}

/** 2000-01-01T00:00:00Z, the Postgres epoch, in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
const DAY_MS = 86_400_000;

/** Microseconds since the Postgres epoch from an integral millisecond offset, exact beyond 2^53. */
function writeMicros(w: ChunkWriter, ms: number): void {
  const hiMs = Math.floor(ms / TWO32);
  const loMs = ms - hiMs * TWO32;
  const loUs = loMs * 1000;
  const carry = Math.floor(loUs / TWO32);
  w.i32(hiMs * 1000 + carry);
  w.i32(loUs - carry * TWO32);
}

/** 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in Unix milliseconds: years 1..9999 lie in between. */
const YEAR1_MS = -62_135_596_800_000;
const YEAR10000_MS = 253_402_300_800_000;

/**
 * Same checks as columns.ts dateText: a valid Date in years 1..9999 (compared as milliseconds: the UTC year is
 * monotonic in the time value, and getUTCFullYear is costly per row).
 */
function dateMs(v: unknown): number {
  if (!(v instanceof Date)) throw new InvalidValue(`expected a Date, got ${typeName(v)}`);
  const t = v.getTime();
  if (t >= YEAR1_MS && t < YEAR10000_MS) return t;
  if (Number.isNaN(t)) throw new InvalidValue('invalid Date (NaN time)');
  throw new InvalidValue(`Date year ${v.getUTCFullYear()} is outside the supported range 1..9999`);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * float4 bits of a JS number as Postgres' float4in would parse its text (String(n)): Math.fround rounds ties
 * to even, strtof rounds the shorter decimal, which differs when n lies exactly halfway between two floats.
 */
function float4Bits(n: number): number {
  f32[0] = n;
  const f = f32[0] as number;
  if (f === n || !Number.isFinite(n)) return u32[0] as number;
  const bits = u32[0] as number;
  // The float on the other side of n.
  const other = n > f === f > 0 ? bits + 1 : bits - 1;
  u32[0] = other;
  const g = f32[0] as number;
  if (n - f !== g - n) return bits;
  // n is exactly a midpoint: strtof rounds the decimal text, which lies on one side of it.
  const side = compareDecimalWithDouble(String(n), n);
  const towardG = g > f ? side > 0 : side < 0;
  return towardG ? other : bits;
}

/** Sign of (decimal string s) - (double n), exactly (s is finite, non-exponent-free allowed). */
function compareDecimalWithDouble(s: string, n: number): number {
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  const [mant = '', expPart] = body.split(/e/i);
  const [ip = '', fp = ''] = mant.split('.');
  let num = BigInt(ip + fp);
  let den = 1n;
  const e10 = (expPart ? Number(expPart) : 0) - fp.length;
  if (e10 >= 0) num *= 10n ** BigInt(e10);
  else den *= 10n ** BigInt(-e10);
  // n = m * 2^e exactly.
  const a = Math.abs(n);
  let e2 = 0;
  let m = a;
  while (!Number.isInteger(m)) {
    m *= 2;
    e2--;
  }
  let mb = BigInt(m);
  if (e2 < 0) num *= 2n ** BigInt(-e2);
  else mb *= 2n ** BigInt(e2);
  const lhs = num;
  const rhs = mb * den;
  const c = lhs === rhs ? 0 : lhs > rhs ? 1 : -1;
  return neg ? -c : c;
}

function intWriter([min, max]: [number, number], label: string, bytes: 2 | 4 | 8): FieldWriter {
  return (w, v) => {
    if (typeof v !== 'number') throw new InvalidValue(`expected a number for ${label}, got ${typeName(v)}`);
    if (!Number.isInteger(v)) throw new InvalidValue(`${label} needs an integer, got ${v}`);
    if (v < min || v > max) throw new InvalidValue(`${v} is out of range for ${label} (${min}..${max})`);
    w.ensure(4 + bytes);
    w.i32(bytes);
    if (bytes === 2) w.i16(v);
    else if (bytes === 4) w.i32(v);
    else writeInt64Number(w, v);
  };
}

const writeBigInt64: FieldWriter = (w, v) => {
  if (typeof v !== 'bigint') throw new InvalidValue(`expected a bigint, got ${typeName(v)}`);
  if (v < INT8_MIN || v > INT8_MAX) throw new InvalidValue(`${v} is out of range for bigint`);
  w.ensure(12);
  w.i32(8);
  w.buf.writeBigInt64BE(v, w.pos);
  w.pos += 8;
};

const writeFloat8: FieldWriter = (w, v) => {
  if (typeof v !== 'number') throw new InvalidValue(`expected a number, got ${typeName(v)}`);
  w.ensure(12);
  w.i32(8);
  w.buf.writeDoubleBE(v, w.pos);
  w.pos += 8;
};

const writeFloat4: FieldWriter = (w, v) => {
  if (typeof v !== 'number') throw new InvalidValue(`expected a number, got ${typeName(v)}`);
  checkReal(v);
  w.ensure(8);
  w.i32(4);
  w.i32(float4Bits(v));
};

const writeBool: FieldWriter = (w, v) => {
  if (typeof v !== 'boolean') throw new InvalidValue(`expected a boolean, got ${typeName(v)}`);
  w.ensure(5);
  w.i32(1);
  w.buf[w.pos++] = v ? 1 : 0;
};

const writeTimestamp: FieldWriter = (w, v) => {
  const ms = dateMs(v);
  w.ensure(12);
  w.i32(8);
  writeMicros(w, ms - PG_EPOCH_MS);
};

const writeDate: FieldWriter = (w, v) => {
  const ms = dateMs(v);
  w.ensure(8);
  w.i32(4);
  w.i32(Math.floor((ms - PG_EPOCH_MS) / DAY_MS));
};

/** Hex digit values by char code, -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX[i.toString(16).charCodeAt(0)] = i;
  HEX[i.toString(16).toUpperCase().charCodeAt(0)] = i;
}

/**
 * Parses a UUID into the chunk, accepting exactly what columns.ts's UUID regex accepts (32 hex digits, one
 * optional dash after digits 8, 12, 16 and 20); false (nothing kept) otherwise.
 */
function parseUuidInto(v: string, b: Buffer, p: number): boolean {
  const n = v.length;
  if (n < 32 || n > 36) return false;
  let digits = 0;
  let hi = -1;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 45) {
      if (digits !== 8 && digits !== 12 && digits !== 16 && digits !== 20) return false;
      if (v.charCodeAt(i - 1) === 45) return false;
      continue;
    }
    const d = c < 128 ? (HEX[c] as number) : -1;
    if (d < 0) return false;
    digits++;
    if (hi < 0) hi = d;
    else {
      b[p++] = (hi << 4) | d;
      hi = -1;
    }
  }
  return digits === 32 && v.charCodeAt(n - 1) !== 45;
}

/** Where each byte's two hex digits start in the 36-character form (8-4-4-4-12). */
const UUID_BYTES = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** The 36-character form only (the general parser accepts more); false, with nothing kept, otherwise. */
function parseCanonicalUuid(v: string, b: Buffer, p: number): boolean {
  if (
    v.length !== 36 ||
    v.charCodeAt(8) !== 45 ||
    v.charCodeAt(13) !== 45 ||
    v.charCodeAt(18) !== 45 ||
    v.charCodeAt(23) !== 45
  )
    return false;
  for (let g = 0; g < 16; g++) {
    const i = UUID_BYTES[g] as number;
    const c1 = v.charCodeAt(i);
    const c2 = v.charCodeAt(i + 1);
    const hi = c1 < 128 ? (HEX[c1] as number) : -1;
    const lo = c2 < 128 ? (HEX[c2] as number) : -1;
    if ((hi | lo) < 0) return false;
    b[p + g] = (hi << 4) | lo;
  }
  return true;
}

const writeUuid: FieldWriter = (w, v) => {
  w.ensure(20);
  if (typeof v === 'string' && parseCanonicalUuid(v, w.buf, w.pos + 4)) {
    w.i32(16);
    w.pos += 16;
    return;
  }
  if (typeof v !== 'string' || !parseUuidInto(v, w.buf, w.pos + 4))
    throw new InvalidValue(`expected a UUID string`);
  w.i32(16);
  w.pos += 16;
};

/** Strings up to this length try the hand-copied ASCII path (which also stands for checkText) first. */
const SHORT_ASCII = 64;

function stringWriter(max: number | undefined, label: string): FieldWriter {
  return (w, v) => {
    if (typeof v !== 'string') throw new InvalidValue(`expected a string, got ${typeName(v)}`);
    if (v.length <= SHORT_ASCII && (max === undefined || v.length <= max) && w.ascii(v)) return;
    checkText(v);
    if (max !== undefined && v.length > max && [...v].length > max)
      throw new InvalidValue(`string of ${[...v].length} characters exceeds ${label}(${max})`);
    w.str(v);
  };
}

function enumWriter(values: readonly string[]): FieldWriter {
  const allowed = new Set(values);
  return (w, v) => {
    if (typeof v !== 'string' || !allowed.has(v))
      throw new InvalidValue(`${JSON.stringify(v)} is not one of the enum values ${[...allowed].join(', ')}`);
    w.str(v);
  };
}

/** Room made before the one-walk JSON writer tries a value (it gives up when the chunk ends first). */
const JSON_ROOM = 4096;

function jsonWriter(jsonb: boolean): FieldWriter {
  const head = jsonb ? 5 : 4;
  return (w, v) => {
    w.ensure(JSON_ROOM);
    const start = w.pos;
    const b = w.buf;
    const end = writeJsonFast(v, b, start + head, b.length);
    if (end >= 0) {
      const len = end - start - 4;
      b[start] = len >>> 24;
      b[start + 1] = len >>> 16;
      b[start + 2] = len >>> 8;
      b[start + 3] = len;
      if (jsonb) b[start + 4] = 1;
      w.pos = end;
      return;
    }
    checkJson(v, jsonb);
    let s: string;
    try {
      s = JSON.stringify(v);
    } catch (e) {
      throw new InvalidValue(`value is not JSON-serializable: ${(e as Error).message}`);
    }
    // jsonb's binary form is a version byte (1) and the JSON text.
    w.str(s, jsonb ? 1 : undefined);
  };
}

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** numeric from its text (the same text the text encoder would send): base-10000 digits, weight, scale. */
export function writeNumericText(w: ChunkWriter, s: string): void {
  const p = numericParts(s);
  if (p.special) {
    w.ensure(12);
    w.i32(8);
    w.i16(0);
    w.i16(0);
    w.i16(p.special === 'NaN' ? NUMERIC_NAN : p.special === 'Infinity' ? NUMERIC_PINF : NUMERIC_NINF);
    w.i16(0);
    return;
  }
  const { digits, dscale } = p;
  if (digits.length === 0) {
    w.ensure(12);
    w.i32(8);
    w.i16(0);
    w.i16(0);
    w.i16(NUMERIC_POS);
    w.i16(dscale);
    return;
  }
  // Align the decimal point to a 4-digit group boundary.
  const pad = (((4 - (p.point % 4)) % 4) + 4) % 4;
  const point = p.point + pad;
  const total = pad + digits.length;
  const ndigits = Math.ceil(total / 4);
  const weight = point / 4 - 1;
  w.ensure(12 + ndigits * 2);
  w.i32(8 + ndigits * 2);
  w.i16(ndigits);
  w.i16(weight & 0xffff);
  w.i16(p.negative ? NUMERIC_NEG : NUMERIC_POS);
  w.i16(dscale);
  // Digit k of the padded string is digits[k - pad] (zero outside).
  for (let g = 0; g < ndigits; g++) {
    let d = 0;
    for (let k = g * 4; k < g * 4 + 4; k++) {
      const j = k - pad;
      d = d * 10 + (j >= 0 && j < digits.length ? digits.charCodeAt(j) - 48 : 0);
    }
    w.i16(d);
  }
}

/** Plain decimals up to this length take the one-scan path (no overflow possible: scale and weight stay small). */
const NUMERIC_FAST_MAX = 1000;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * numeric from a plain decimal (`[+-]?digits[.digits]`, at least one digit, no spaces or exponent) scanned
 * once, base-10000 digits written straight into the chunk: the same bytes as writeNumericText. False, with
 * nothing written, for any other string (which the general path parses, or refuses, as before).
 */
export function writeNumericFast(w: ChunkWriter, s: string): boolean {
  const n = s.length;
  if (n === 0 || n > NUMERIC_FAST_MAX) return false;
  let i = 0;
  const c0 = s.charCodeAt(0);
  const negative = c0 === 45;
  if (negative || c0 === 43) i = 1;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intEnd = i;
  let fracStart = i;
  if (i < n && s.charCodeAt(i) === 46) {
    fracStart = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  const fracEnd = i;
  if (i !== n || (intEnd === intStart && fracEnd === fracStart)) return false;
  // Digits by decimal exponent: s[intEnd - 1 - e] for e >= 0, s[fracStart - 1 - e] for e < 0.
  let hiE = 0;
  let k = intStart;
  while (k < intEnd && s.charCodeAt(k) === 48) k++;
  if (k < intEnd) hiE = intEnd - 1 - k;
  else {
    k = fracStart;
    while (k < fracEnd && s.charCodeAt(k) === 48) k++;
    if (k === fracEnd) {
      // Zero (of any sign): no digits, the scale as written.
      w.ensure(12);
      w.i32(8);
      w.i32(0);
      w.i16(NUMERIC_POS);
      w.i16(fracEnd - fracStart);
      return true;
    }
    hiE = fracStart - 1 - k;
  }
  let loE: number;
  k = fracEnd;
  while (k > fracStart && s.charCodeAt(k - 1) === 48) k--;
  if (k > fracStart) loE = fracStart - k;
  else {
    k = intEnd;
    while (s.charCodeAt(k - 1) === 48) k--;
    loE = intEnd - k;
  }
  const weight = Math.floor(hiE / 4);
  const last = Math.floor(loE / 4);
  const ndigits = weight - last + 1;
  w.ensure(12 + ndigits * 2);
  const b = w.buf;
  let p = w.pos;
  const len = 8 + ndigits * 2;
  b[p] = 0;
  b[p + 1] = 0;
  b[p + 2] = len >>> 8;
  b[p + 3] = len;
  b[p + 4] = ndigits >>> 8;
  b[p + 5] = ndigits;
  b[p + 6] = weight >>> 8;
  b[p + 7] = weight;
  b[p + 8] = negative ? NUMERIC_NEG >>> 8 : 0;
  b[p + 9] = 0;
  const dscale = fracEnd - fracStart;
  b[p + 10] = dscale >>> 8;
  b[p + 11] = dscale;
  p += 12;
  for (let g = weight; g >= last; g--) {
    let d = 0;
    for (let e = g * 4 + 3; e >= g * 4; e--) {
      const at = e >= 0 ? intEnd - 1 - e : fracStart - 1 - e;
      const x = e >= 0 ? at >= intStart : at < fracEnd;
      d = d * 10 + (x ? s.charCodeAt(at) - 48 : 0);
    }
    b[p] = d >>> 8;
    b[p + 1] = d;
    p += 2;
  }
  w.pos = p;
  return true;
}

const writeNumeric: FieldWriter = (w, v) => {
  let s: string;
  if (typeof v === 'string') {
    if (writeNumericFast(w, v)) return;
    if (!NUMERIC_RE.test(v))
      throw new InvalidValue(`expected a numeric string or number, got ${typeName(v)}`);
    s = v.trim();
  } else if (typeof v === 'number') {
    s = Object.is(v, -0) ? '-0' : String(v);
    if (writeNumericFast(w, s)) return;
  } else if (typeof v === 'bigint') {
    s = v.toString();
    if (writeNumericFast(w, s)) return;
  } else throw new InvalidValue(`expected a numeric string or number, got ${typeName(v)}`);
  writeNumericText(w, s);
};

/** bytea through a custom type: the mapped driver value must be bytes (or bytea text, decoded here). */
function byteaWriter(column: PgColumn): FieldWriter {
  return (w, v) => {
    const mapped = mapDriverValue(column, v);
    if (mapped instanceof Uint8Array) return w.bytes(mapped);
    // Anything else travels as the text the text encoder would send, decoded as the server's byteain would.
    w.bytes(byteaFromText(driverText(mapped)));
  };
}

/** Decodes bytea's text input (hex `\x...` or the escape format), refusing what byteain would refuse. */
export function byteaFromText(s: string): Buffer {
  if (s.startsWith('\\x')) {
    const hex = s.slice(2).replace(/\s+/g, '');
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new InvalidValue('invalid hexadecimal bytea text');
    return Buffer.from(hex, 'hex');
  }
  const out: number[] = [];
  const utf8 = Buffer.from(s, 'utf8');
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i] as number;
    if (c !== 92) {
      out.push(c);
      continue;
    }
    if (utf8[i + 1] === 92) {
      out.push(92);
      i++;
      continue;
    }
    const o = utf8.subarray(i + 1, i + 4).toString('latin1');
    if (!/^[0-3][0-7][0-7]$/.test(o)) throw new InvalidValue('invalid escape sequence in bytea text');
    out.push(Number.parseInt(o, 8));
    i += 3;
  }
  return Buffer.from(out);
}

/** Built-in scalar types: [OID, array OID]. */
const OIDS = {
  bool: [16, 1000],
  bytea: [17, 1001],
  int8: [20, 1016],
  int2: [21, 1005],
  int4: [23, 1007],
  text: [25, 1009],
  json: [114, 199],
  float4: [700, 1021],
  float8: [701, 1022],
  bpchar: [1042, 1014],
  varchar: [1043, 1015],
  date: [1082, 1182],
  timestamp: [1114, 1115],
  timestamptz: [1184, 1185],
  numeric: [1700, 1231],
  uuid: [2950, 2951],
  jsonb: [3802, 3807],
} as const;

type Scalar = { type: keyof typeof OIDS | 'enum'; write: FieldWriter };

function scalarFor(column: PgColumn): Scalar | undefined {
  const ct = column.columnType;
  const c = column as PgColumn & {
    enumValues?: readonly string[];
    length?: number;
    withTimezone?: boolean;
    enum?: unknown;
  };
  switch (ct) {
    case 'PgInteger':
    case 'PgSerial':
      return { type: 'int4', write: intWriter(INT4, 'integer', 4) };
    case 'PgSmallInt':
    case 'PgSmallSerial':
      return { type: 'int2', write: intWriter(INT2, 'smallint', 2) };
    case 'PgBigInt53':
    case 'PgBigSerial53':
      return { type: 'int8', write: intWriter(INT53, 'bigint (number mode, safe integers only)', 8) };
    case 'PgBigInt64':
    case 'PgBigSerial64':
      return { type: 'int8', write: writeBigInt64 };
    case 'PgDoublePrecision':
      return { type: 'float8', write: writeFloat8 };
    case 'PgReal':
      return { type: 'float4', write: writeFloat4 };
    case 'PgBoolean':
      return { type: 'bool', write: writeBool };
    case 'PgTimestamp':
      return { type: c.withTimezone ? 'timestamptz' : 'timestamp', write: writeTimestamp };
    case 'PgDate':
      return { type: 'date', write: writeDate };
    case 'PgUUID':
      return { type: 'uuid', write: writeUuid };
    case 'PgJson':
      return { type: 'json', write: jsonWriter(false) };
    case 'PgJsonb':
      return { type: 'jsonb', write: jsonWriter(true) };
    case 'PgNumeric':
    case 'PgNumericNumber':
    case 'PgNumericBigInt':
      return { type: 'numeric', write: writeNumeric };
    case 'PgText':
      if (c.enumValues && c.enumValues.length > 0) break;
      return { type: 'text', write: stringWriter(undefined, 'text') };
    case 'PgVarchar':
      if (c.enumValues && c.enumValues.length > 0) break;
      return { type: 'varchar', write: stringWriter(c.length, 'varchar') };
    case 'PgChar':
      if (c.enumValues && c.enumValues.length > 0) break;
      return { type: 'bpchar', write: stringWriter(c.length, 'char') };
    case 'PgEnumColumn':
      if (c.enumValues && c.enumValues.length > 0 && c.enum)
        return { type: 'enum', write: enumWriter(c.enumValues) };
      return undefined;
    case 'PgCustomColumn':
      if (column.getSQLType().trim().toLowerCase() === 'bytea')
        return { type: 'bytea', write: byteaWriter(column) };
      return undefined;
  }
  return undefined;
}

/** Binary COPY encoding of a column, or undefined when the column needs text COPY. */
export function binaryFieldFor(column: PgColumn): BinaryField | undefined {
  if (is(column, PgArray)) {
    const base = column.baseColumn as PgColumn;
    if (is(base, PgArray)) return undefined; // multi-dimensional: text COPY
    const el = scalarFor(base);
    if (!el) return undefined;
    const enumType = el.type === 'enum';
    const elemOid = enumType ? 0 : OIDS[el.type as keyof typeof OIDS][0];
    const field: BinaryField = {
      oid: enumType ? 0 : OIDS[el.type as keyof typeof OIDS][1],
      elemOid,
      enumType,
      write: arrayWriter(el.write, () => field.elemOid),
    };
    return field;
  }
  const s = scalarFor(column);
  if (!s) return undefined;
  const enumType = s.type === 'enum';
  return { oid: enumType ? 0 : OIDS[s.type as keyof typeof OIDS][0], elemOid: 0, enumType, write: s.write };
}

/**
 * One-dimensional array: ndim, has-nulls flag, element OID, size and lower bound, then the elements. Elements
 * are checked in order, as the text encoder does, so the first bad element gives the same error.
 */
function arrayWriter(el: FieldWriter, elemOid: () => number): FieldWriter {
  /** Writes header and elements; returns whether there was a NULL (the flag is patched by the caller). */
  const encode = (w: ChunkWriter, v: unknown[]): boolean => {
    const n = v.length;
    w.i32(n === 0 ? 0 : 1);
    w.i32(0);
    w.i32(elemOid());
    if (n > 0) {
      w.i32(n);
      w.i32(1);
    }
    let hasNull = false;
    for (let i = 0; i < n; i++) {
      const x = v[i];
      if (x === null) {
        hasNull = true;
        w.ensure(4);
        w.i32(-1);
      } else if (x === undefined) throw new InvalidValue('arrays cannot hold undefined');
      else el(w, x);
    }
    return hasNull;
  };
  return (w, v) => {
    if (!Array.isArray(v)) throw new InvalidValue(`expected an array, got ${typeName(v)}`);
    // In place, with the length word and NULL flag patched at the end, while the array fits in the chunk.
    w.ensure(24);
    const buf = w.buf;
    const lenAt = w.pos;
    const doneBefore = w.done.length;
    w.pos += 4;
    const hasNull = encode(w, v);
    if (w.buf === buf) {
      buf.writeInt32BE(w.pos - lenAt - 4, lenAt);
      if (hasNull) buf[lenAt + 11] = 1;
      return;
    }
    // It crossed into a new chunk: cut the old one before the array and encode the array on its own.
    w.done.length = doneBefore;
    w.done.push(buf.subarray(0, lenAt));
    const side = new ChunkWriter(Math.max(w.chunkSize, 64 * 1024));
    side.pos = 4;
    encode(side, v);
    side.finish();
    const body = side.done.length === 1 ? (side.done[0] as Buffer) : Buffer.concat(side.done);
    body.writeInt32BE(body.length - 4, 0);
    if (hasNull) body[11] = 1;
    w.pos = 0;
    w.ensure(body.length);
    w.buf.set(body, w.pos);
    w.pos += body.length;
  };
}

const HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** The column set of a batch in binary, or undefined when some column needs text COPY. */
export function binaryFields(cols: readonly ColumnInfo[]): BinaryField[] | undefined {
  const out: BinaryField[] = [];
  for (const c of cols) {
    const f = binaryFieldFor(c.column);
    if (!f) return undefined;
    out.push(f);
  }
  return out;
}

/** The first column (in order) that binary COPY cannot carry, for error messages. */
export function firstTextOnlyColumn(cols: readonly ColumnInfo[]): ColumnInfo | undefined {
  return cols.find((c) => !binaryFieldFor(c.column));
}

type Row = Record<string, unknown>;

/** What a binary COPY writes: the batch's rows, their columns and the fields (same order as cols). */
export interface BinaryCopySource {
  info: TableInfo;
  cols: readonly ColumnInfo[];
  input: readonly Row[];
  rows: number;
  start: number;
}

/**
 * COPY binary data for a batch, as Buffers of about `chunkSize` bytes. Rows are validated while encoding (a
 * bad value throws BulkValidationError before its chunk is yielded); with `extra`, each tuple gets a trailing
 * int8 column holding the 1-based row number (for bulkUpdate's unmatched keys).
 */
export function* copyBinaryChunks(
  src: BinaryCopySource,
  fields: readonly BinaryField[],
  opts: { chunkSize?: number; ordinal?: boolean; cell?: CellResolver } = {},
): Generator<Buffer> {
  const w = new ChunkWriter(opts.chunkSize ?? DEFAULT_CHUNK);
  const { cols, input, rows, info, start } = src;
  const ncols = cols.length;
  const nfields = ncols + (opts.ordinal ? 1 : 0);
  const cell = opts.cell ?? insertCell;
  w.ensure(HEADER.length);
  HEADER.copy(w.buf, 0);
  w.pos = HEADER.length;
  for (let i = 0; i < rows; i++) {
    const row = input[i] as Row;
    w.ensure(2);
    w.i16(nfields);
    for (let j = 0; j < ncols; j++) {
      const col = cols[j] as ColumnInfo;
      let v = row[col.key];
      // The resolver only decides undefined and null (every other value passes through it unchanged).
      if (v === undefined || v === null) v = cell(info, col, v, start + i);
      if (v === null) {
        w.ensure(4);
        w.i32(-1);
        continue;
      }
      try {
        (fields[j] as BinaryField).write(w, v);
      } catch (e) {
        if (e instanceof InvalidValue) throw new BulkValidationError(info.name, start + i, col.key, e.reason);
        throw e;
      }
    }
    if (opts.ordinal) {
      w.ensure(12);
      w.i32(8);
      writeInt64Number(w, i + 1);
    }
    if (w.done.length > 0) {
      yield* w.done;
      w.done = [];
    }
  }
  w.ensure(2);
  w.i16(0xffff);
  w.finish();
  yield* w.done;
}

/**
 * Turns a row's undefined or null cell into the value to write (null for SQL NULL), applying defaults and NOT
 * NULL. Only called for those two: any other value is written as it is.
 */
export type CellResolver = (info: TableInfo, col: ColumnInfo, v: unknown, rowIndex: number) => unknown;

/** Insert semantics, as encode.ts encodeCell: undefined takes the JS default, else NULL. */
export const insertCell: CellResolver = (info, col, v, rowIndex) => {
  if (v === undefined) {
    if (!col.defaultFn) return null;
    v = col.defaultFn();
  }
  if (v === null) {
    if (col.notNull) throw new BulkValidationError(info.name, rowIndex, col.key, 'null in a NOT NULL column');
    return null;
  }
  return v;
};
