/**
 * Table metadata and per-column value encoders. Every value travels as its Postgres text representation
 * (the same text for COPY, unnest(text[]) and VALUES) and is cast to the column type in SQL, so enums, arrays,
 * json, bytea, numeric, timestamptz and custom types all take one path.
 */
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { ConfigError } from '../errors.js';
import { getTableColumns, getTableConfig, is, PgArray } from '../internal/drizzle-lib.js';

/** Thrown by encoders; the caller adds table, row and column. */
export class InvalidValue {
  constructor(readonly reason: string) {}
}

export type Encoder = (v: unknown) => string;

export interface ColumnInfo {
  /** Key in the drizzle table object (the key rows use). */
  key: string;
  /** Column name in the database. */
  name: string;
  column: PgColumn;
  /** Type to cast text into, e.g. `integer`, `"public"."mood"[]`. */
  cast: string;
  /** Array-typed column: unnest of a typed array would flatten it, so it travels as text[] plus a cast. */
  isArray: boolean;
  notNull: boolean;
  /** SQL default, identity or serial: the column may be left out. */
  hasSqlDefault: boolean;
  /** Never written by inserts (generated always). */
  generated: boolean;
  /** JS-side default ($defaultFn / $onUpdateFn). */
  defaultFn: (() => unknown) | undefined;
  encode: Encoder;
}

export interface TableInfo {
  table: PgTable;
  /** Qualified name for messages. */
  name: string;
  columns: ColumnInfo[];
  byKey: Map<string, ColumnInfo>;
  primaryKey: ColumnInfo[];
}

const cache = new WeakMap<PgTable, TableInfo>();

/** Reads (once per table object) the drizzle metadata bulk operations need. */
/** Resolves column keys (drizzle property names) to columns; a ConfigError names the option and the bad key. */
export function keysToColumns(info: TableInfo, keys: string | readonly string[], what: string): ColumnInfo[] {
  const list = typeof keys === 'string' ? [keys] : keys;
  if (list.length === 0) throw new ConfigError(`${what} needs at least one column`);
  return list.map((k) => {
    const c = info.byKey.get(k);
    if (!c) throw new ConfigError(`${what}: "${k}" is not a column of ${info.name}`);
    return c;
  });
}

export function tableInfo(table: PgTable): TableInfo {
  const hit = cache.get(table);
  if (hit) return hit;
  const cfg = getTableConfig(table);
  const cols = getTableColumns(table) as Record<string, PgColumn>;
  const columns: ColumnInfo[] = Object.entries(cols).map(([key, column]) => {
    const c = column as PgColumn & {
      generatedIdentity?: { type: 'always' | 'byDefault' };
      generated?: unknown;
      defaultFn?: () => unknown;
      onUpdateFn?: () => unknown;
    };
    const generated = c.generated !== undefined || c.generatedIdentity?.type === 'always';
    const serial = /serial/i.test(column.getSQLType());
    return {
      key,
      name: column.name,
      column,
      cast: castType(column),
      isArray: is(column, PgArray),
      notNull: column.notNull,
      hasSqlDefault:
        (column.hasDefault && c.defaultFn === undefined && c.onUpdateFn === undefined) ||
        c.generatedIdentity !== undefined ||
        serial ||
        generated,
      generated,
      defaultFn: c.defaultFn ?? c.onUpdateFn,
      encode: encoderFor(column),
    };
  });
  const byKey = new Map(columns.map((c) => [c.key, c]));
  const byName = new Map(columns.map((c) => [c.name, c]));
  let primaryKey = columns.filter((c) => c.column.primary);
  const composite = cfg.primaryKeys[0];
  if (primaryKey.length === 0 && composite)
    primaryKey = composite.columns.map((pc) => byName.get(pc.name)).filter((c): c is ColumnInfo => !!c);
  const name = cfg.schema ? `${cfg.schema}.${cfg.name}` : cfg.name;
  const info: TableInfo = { table, name, columns, byKey, primaryKey };
  cache.set(table, info);
  return info;
}

const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** The SQL type to cast a text value into. Identifiers (enum names) are quoted; serial pseudo-types mapped. */
export function castType(column: PgColumn): string {
  if (is(column, PgArray)) return `${castType(column.baseColumn as PgColumn)}[]`;
  const en = (column as { enum?: { enumName: string; schema?: string } }).enum;
  if (en) return en.schema ? `${quote(en.schema)}.${quote(en.enumName)}` : quote(en.enumName);
  const t = column.getSQLType();
  const lower = t.toLowerCase();
  if (lower === 'serial') return 'integer';
  if (lower === 'bigserial') return 'bigint';
  if (lower === 'smallserial') return 'smallint';
  return t;
}

export const INT4: [number, number] = [-2147483648, 2147483647];
export const INT2: [number, number] = [-32768, 32767];
export const INT53: [number, number] = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
export const INT8_MIN = -(2n ** 63n);
export const INT8_MAX = 2n ** 63n - 1n;
export const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export const NUMERIC_RE = /^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]?Infinity)\s*$/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** String.prototype.isWellFormed (Node 20+) with a regex fallback. */
export const wellFormed = (s: string): boolean => {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed;
  return f ? f.call(s) : !LONE_SURROGATE.test(s);
};

/** Postgres text cannot hold NUL; unpaired surrogates would be silently replaced by U+FFFD in UTF-8. */
export function checkText(s: string): string {
  if (s.indexOf('\0') !== -1)
    throw new InvalidValue('text contains a NUL byte (\\u0000), which Postgres cannot store');
  if (!wellFormed(s)) throw new InvalidValue('text contains an unpaired UTF-16 surrogate');
  return s;
}

/**
 * real (float4): a finite number that overflows to infinity or underflows to zero is refused here, as Postgres
 * refuses its text ("out of range for type real"); binary COPY would otherwise store Infinity or 0 silently.
 */
export function checkReal(n: number): void {
  if (!Number.isFinite(n) || n === 0) return;
  const f = Math.fround(n);
  if (!Number.isFinite(f) || f === 0) throw new InvalidValue(`${n} is out of range for real`);
}

/** A numeric string split into sign, significant digits and scale (what both COPY formats need). */
export interface NumericParts {
  special: 'NaN' | 'Infinity' | '-Infinity' | undefined;
  negative: boolean;
  /** Significant digits, no leading or trailing zeros ('' for zero). */
  digits: string;
  /** Position of the decimal point relative to the start of `digits` (may be negative or past the end). */
  point: number;
  /** Display scale: digits after the decimal point, as Postgres' numeric_in counts them. */
  dscale: number;
}

const NUMERIC_DSCALE_MAX = 0x3fff;
const NUMERIC_INT_DIGITS_MAX = 131_072;

/**
 * Parses a trimmed string that matched NUMERIC. Values Postgres refuses with "value overflows numeric format"
 * (more than 131,072 digits before the point or a scale above 16,383) are refused here, so both COPY formats
 * fail alike, before anything is written.
 */
export function numericParts(s: string): NumericParts {
  if (s === 'NaN' || s === 'Infinity' || s === '-Infinity' || s === '+Infinity')
    return {
      special: s === '+Infinity' ? 'Infinity' : s,
      negative: false,
      digits: '',
      point: 0,
      dscale: 0,
    };
  let i = 0;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    i = 1;
  }
  const e = s.search(/[eE]/);
  const mant = e < 0 ? s.slice(i) : s.slice(i, e);
  const exp = e < 0 ? 0 : Number(s.slice(e + 1));
  const dot = mant.indexOf('.');
  const intPart = dot < 0 ? mant : mant.slice(0, dot);
  const frac = dot < 0 ? '' : mant.slice(dot + 1);
  const dscale = Math.max(0, frac.length - exp);
  let all = intPart + frac;
  let point = intPart.length + exp;
  let lead = 0;
  while (lead < all.length && all.charCodeAt(lead) === 48) lead++;
  let trail = all.length;
  while (trail > lead && all.charCodeAt(trail - 1) === 48) trail--;
  all = all.slice(lead, trail);
  point -= lead;
  if (dscale > NUMERIC_DSCALE_MAX || (all.length > 0 && point > NUMERIC_INT_DIGITS_MAX))
    throw new InvalidValue('value overflows numeric format');
  return { special: undefined, negative: negative && all.length > 0, digits: all, point, dscale };
}

/** float8 text: keeps NaN, +-Infinity and -0 exactly. */
export function numberText(n: number): string {
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

function intEncoder([min, max]: [number, number], label: string): Encoder {
  return (v) => {
    if (typeof v !== 'number') throw new InvalidValue(`expected a number for ${label}, got ${typeName(v)}`);
    if (!Number.isInteger(v)) throw new InvalidValue(`${label} needs an integer, got ${v}`);
    if (v < min || v > max) throw new InvalidValue(`${v} is out of range for ${label} (${min}..${max})`);
    return String(v);
  };
}

export function dateText(v: unknown): string {
  if (!(v instanceof Date)) throw new InvalidValue(`expected a Date, got ${typeName(v)}`);
  const t = v.getTime();
  if (Number.isNaN(t)) throw new InvalidValue('invalid Date (NaN time)');
  const y = v.getUTCFullYear();
  // ISO strings outside 0001..9999 use signed 6-digit years, which Postgres does not parse the same way.
  if (y < 1 || y > 9999) throw new InvalidValue(`Date year ${y} is outside the supported range 1..9999`);
  return v.toISOString();
}

/** Rejects what JSON.stringify would silently alter (NaN -> null, undefined in arrays) or jsonb cannot store. */
export function checkJson(v: unknown, jsonb: boolean, depth = 0): void {
  if (depth > 512) throw new InvalidValue('JSON nested deeper than 512 levels');
  switch (typeof v) {
    case 'string':
      if (jsonb && v.indexOf('\0') !== -1)
        throw new InvalidValue('jsonb cannot store a NUL character (\\u0000) in a string');
      if (!wellFormed(v)) throw new InvalidValue('JSON string contains an unpaired UTF-16 surrogate');
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new InvalidValue(`JSON cannot represent ${v}`);
      return;
    case 'boolean':
      return;
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new InvalidValue(`JSON cannot represent a ${typeof v}`);
  }
  if (v === null || v instanceof Date) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x === undefined) throw new InvalidValue('JSON arrays cannot hold undefined (it would become null)');
      if (typeof x === 'number' && Number.isFinite(x) && depth + 1 <= 512) continue;
      checkJson(x, jsonb, depth + 1);
    }
    return;
  }
  // Object.keys and an index loop: the same own enumerable keys as Object.entries, without a pair per key.
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    checkJson(k, jsonb, depth + 1);
    const x = o[k];
    if (x === undefined) continue;
    // Scalars inline: most JSON values are numbers, short strings and booleans.
    if (typeof x === 'number' && Number.isFinite(x)) continue;
    if (typeof x === 'boolean') continue;
    checkJson(x, jsonb, depth + 1);
  }
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'Date';
  return typeof v;
}

/** Text of whatever a column's mapToDriverValue (or a custom type's toDriver) produced. */
export function driverText(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return checkText(v);
    case 'number':
      return numberText(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 't' : 'f';
  }
  if (v instanceof Date) return dateText(v);
  if (v instanceof Uint8Array)
    return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  return JSON.stringify(v);
}

/** Element of a Postgres array literal: always quoted, backslash and quote escaped. */
function arrayLiteral(items: readonly unknown[], enc: Encoder, nested: boolean): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const x = items[i];
    if (x === null || x === undefined) {
      if (x === undefined) throw new InvalidValue('arrays cannot hold undefined');
      out += 'NULL';
    } else if (nested) {
      if (!Array.isArray(x)) throw new InvalidValue(`expected a nested array, got ${typeName(x)}`);
      out += arrayLiteral(x, enc, false);
    } else out += `"${enc(x).replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}

/** Builds the validating text encoder of one column (null/undefined are handled by the caller). */
export function encoderFor(column: PgColumn): Encoder {
  if (is(column, PgArray)) {
    const base = column.baseColumn as PgColumn;
    const nested = is(base, PgArray);
    const enc = encoderFor(nested ? ((base as PgArray<never, never>).baseColumn as PgColumn) : base);
    return (v) => {
      if (!Array.isArray(v)) throw new InvalidValue(`expected an array, got ${typeName(v)}`);
      return arrayLiteral(v, enc, nested);
    };
  }
  const ct = column.columnType;
  const c = column as PgColumn & { enumValues?: readonly string[]; length?: number };
  switch (ct) {
    case 'PgInteger':
    case 'PgSerial':
      return intEncoder(INT4, 'integer');
    case 'PgSmallInt':
    case 'PgSmallSerial':
      return intEncoder(INT2, 'smallint');
    case 'PgBigInt53':
    case 'PgBigSerial53':
      return intEncoder(INT53, 'bigint (number mode, safe integers only)');
    case 'PgBigInt64':
    case 'PgBigSerial64':
      return (v) => {
        if (typeof v !== 'bigint') throw new InvalidValue(`expected a bigint, got ${typeName(v)}`);
        if (v < INT8_MIN || v > INT8_MAX) throw new InvalidValue(`${v} is out of range for bigint`);
        return v.toString();
      };
    case 'PgDoublePrecision':
    case 'PgReal':
      return (v) => {
        if (typeof v !== 'number') throw new InvalidValue(`expected a number, got ${typeName(v)}`);
        if (ct === 'PgReal') checkReal(v);
        return numberText(v);
      };
    case 'PgBoolean':
      return (v) => {
        if (typeof v !== 'boolean') throw new InvalidValue(`expected a boolean, got ${typeName(v)}`);
        return v ? 't' : 'f';
      };
    case 'PgTimestamp':
    case 'PgDate':
      return ct === 'PgDate' ? (v) => dateText(v).slice(0, 10) : dateText;
    case 'PgUUID':
      return (v) => {
        if (typeof v !== 'string' || !UUID.test(v)) throw new InvalidValue(`expected a UUID string`);
        return v;
      };
    case 'PgJson':
    case 'PgJsonb':
      return (v) => {
        checkJson(v, ct === 'PgJsonb');
        try {
          return JSON.stringify(v);
        } catch (e) {
          throw new InvalidValue(`value is not JSON-serializable: ${(e as Error).message}`);
        }
      };
    case 'PgNumeric':
    case 'PgNumericNumber':
    case 'PgNumericBigInt':
      return (v) => {
        if (typeof v === 'number') return numberText(v);
        if (typeof v === 'bigint') return v.toString();
        if (typeof v !== 'string' || !NUMERIC_RE.test(v))
          throw new InvalidValue(`expected a numeric string or number, got ${typeName(v)}`);
        const t = v.trim();
        numericParts(t);
        return t;
      };
  }
  if (c.enumValues && c.enumValues.length > 0 && (column as { enum?: unknown }).enum) {
    const allowed = new Set(c.enumValues);
    return (v) => {
      if (typeof v !== 'string' || !allowed.has(v))
        throw new InvalidValue(
          `${JSON.stringify(v)} is not one of the enum values ${[...allowed].join(', ')}`,
        );
      return v;
    };
  }
  if (column.dataType === 'string') {
    const max = ct === 'PgVarchar' || ct === 'PgChar' ? c.length : undefined;
    return (v) => {
      if (typeof v !== 'string') throw new InvalidValue(`expected a string, got ${typeName(v)}`);
      checkText(v);
      if (max !== undefined && v.length > max && [...v].length > max)
        throw new InvalidValue(
          `string of ${[...v].length} characters exceeds ${ct.slice(2).toLowerCase()}(${max})`,
        );
      return v;
    };
  }
  // Custom types and the rest: let drizzle map the value, then take its text.
  return (v) => driverText(mapDriverValue(column, v));
}

/**
 * A column's `mapToDriverValue(v)` (drizzle's mapping, a custom type's `toDriver`), with a mapper that throws
 * or returns null/undefined reported as an invalid value.
 */
export function mapDriverValue(column: PgColumn, v: unknown): NonNullable<unknown> {
  let mapped: unknown;
  try {
    mapped = column.mapToDriverValue(v);
  } catch (e) {
    throw new InvalidValue(`value rejected by the column mapper: ${(e as Error).message}`);
  }
  if (mapped === null || mapped === undefined) throw new InvalidValue('column mapper returned null');
  return mapped;
}

/** Maps a value the driver returned to what drizzle would return for the column. */
export function fromDriver(column: PgColumn, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date && column.dataType === 'date') return v;
  return column.mapFromDriverValue(v);
}
