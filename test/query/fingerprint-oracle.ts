/**
 * The Postgres parser as a test oracle for dbkit fingerprints (npm libpg-query: the server's own grammar,
 * compiled to WASM, and pg_query's fingerprint).
 *
 * - `pgFingerprint(sql)`: pg_query's fingerprint of the raw parse tree.
 * - `strictKey(sql)`: the raw parse tree with exactly dbkit's normalizations applied (constants and parameters
 *   as `?`, select-list alias names dropped, type names canonical, lists of only constants collapsed,
 *   repeated VALUES rows collapsed). Two statements with the same strict key differ only in whitespace, case,
 *   quoting, comments, literal values or type-name spelling.
 * - `relaxedKey(sql)`: the strict key with dbkit's documented refinements undone (see README "Fingerprints"):
 *   where pg_query merges two statements and dbkit keeps them apart, their relaxed keys must be equal.
 * - `canonicalTypeSpelling(sql)`: rewrites internal type names (`int4`, `bool`, `timestamptz`, `_int4`) to
 *   the standard spelling the grammar maps to the same pg_catalog type, so pg_query can compare statements
 *   that differ only in type-name spelling (which its raw tree keeps apart and dbkit deliberately does not).
 */
import { fingerprintSync, loadModule, parseSync, scanSync } from 'libpg-query';

export const loadOracle = () => loadModule();
export const pgFingerprint = (sql: string): string => fingerprintSync(sql);

type J = unknown;
interface Opts {
  relaxed: boolean;
}

const BUILTIN = new Set([
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'numeric',
  'bool',
  'varchar',
  'bpchar',
  'text',
  'date',
  'time',
  'timetz',
  'timestamp',
  'timestamptz',
  'interval',
  'uuid',
  'json',
  'jsonb',
  'bytea',
  'bit',
  'varbit',
]);

const isNode = (o: Record<string, unknown>) => {
  const keys = Object.keys(o);
  return keys.length === 1 && /^[A-Z]/.test(keys[0]!);
};
const str = (v: J) => ((v as { String?: { sval?: string } }).String?.sval ?? '') as string;
const constInt = (v: J) => (v as { A_Const?: { ival?: { ival?: number } } }).A_Const?.ival?.ival ?? 0;

/** A TypeName as one string: pg_catalog dropped for built-ins, `_int4` as `int4[]`, array bounds as `[]`. */
function typeName(t: Record<string, unknown>, o: Opts): string {
  let names = ((t.names as J[]) ?? []).map(str);
  if (names.length === 2 && names[0] === 'pg_catalog' && BUILTIN.has(names[1]!)) names = [names[1]!];
  let name = names.join('.');
  let arrays = ((t.arrayBounds as J[]) ?? []).map(() => '[]').join('');
  if (name.startsWith('_') && BUILTIN.has(name.slice(1))) {
    name = name.slice(1);
    arrays = `[]${arrays}`;
  }
  const mods = o.relaxed ? [] : ((t.typmods as J[]) ?? []).map((m) => constInt(m));
  return `${t.setof ? 'setof ' : ''}${name}${mods.length ? `(${mods.join(',')})` : ''}${arrays}`;
}

/** pg_query drops name segments with two or more digits (partitions like orders_2024_01). */
function randomish(name: string): string {
  return name
    .split('_')
    .filter((seg) => (seg.match(/[0-9]/g)?.length ?? 0) < 2)
    .join('_');
}

const sortDedupe = (items: J[]): J[] => {
  const byKey = new Map<string, J>();
  for (const it of items) byKey.set(JSON.stringify(it), it);
  return [...byKey.keys()].sort().map((k) => byKey.get(k));
};
const dedupeConsecutive = (items: J[]): J[] =>
  items.filter((it, i) => i === 0 || JSON.stringify(it) !== JSON.stringify(items[i - 1]));
const allConst = (items: J[]) => items.length > 0 && items.every((x) => x === '?');
const isCastConst = (x: J) =>
  typeof x === 'object' && x !== null && (x as { TypeCast?: { arg?: J } }).TypeCast?.arg === '?';
/** `(?, ?)` collapses to `(?)`, and so does `(?::date, ?::date)` (one cast literal repeated). */
const collapses = (items: J[]) =>
  allConst(items) ||
  (items.length > 1 &&
    isCastConst(items[0]) &&
    items.every((x) => JSON.stringify(x) === JSON.stringify(items[0])));

// lists dbkit writes in parentheses or brackets, where a list of only `?` collapses to one
const COLLAPSIBLE = new Set(['args', 'items', 'elements', 'distinctClause']);
// lists pg_query fingerprints as sorted sets
const PG_SORTED = new Set(['fromClause', 'targetList', 'cols', 'rexpr', 'valuesLists', 'args', 'items']);

function norm(v: J, o: Opts, field = '', parent = ''): J {
  if (Array.isArray(v)) {
    let items: J[];
    if (field === 'valuesLists') {
      // DEFAULT in a VALUES row is a value like any other
      items = v.map((row) => {
        const r = ((row as { List?: { items: J[] } }).List?.items ?? (row as J[])).map((x) =>
          (x as object) && typeof x === 'object' && 'SetToDefault' in (x as object)
            ? '?'
            : norm(x, o, 'items', field),
        );
        return allConst(r) ? ['?'] : r;
      });
      items = dedupeConsecutive(items);
    } else items = v.map((x) => norm(x, o, field, parent));
    if (field === 'valuesLists') {
      // rows are compared as wholes
    } else if (COLLAPSIBLE.has(field) && collapses(items)) items = [items[0]];
    if (field === 'items' && parent === 'rexpr') items = dedupeRows(items);
    // R3: pg_query fingerprints these lists as sets, and constants in them not at all
    if (o.relaxed && PG_SORTED.has(field)) items = sortDedupe(items.filter((x) => x !== '?'));
    return items;
  }
  if (v === null || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  if (isNode(obj)) {
    const [type, body] = Object.entries(obj)[0] as [string, Record<string, unknown>];
    switch (type) {
      case 'A_Const':
      case 'ParamRef':
        return '?';
      case 'SetToDefault':
        return o.relaxed ? '?' : 'DEFAULT';
      case 'TypeName':
        return `type:${typeName(body, o)}`;
      case 'TypeCast': {
        const arg = norm(body.arg, o, 'arg', type);
        if (o.relaxed && arg === '?') return '?'; // R4: casts on literals and parameters
        return { TypeCast: { arg, type: typeName(body.typeName as Record<string, unknown>, o) } };
      }
      case 'RangeVar': {
        const alias = (body.alias as { aliasname?: string } | undefined)?.aliasname;
        if (o.relaxed) {
          // R5/R6/R7: pg_query keys an aliased relation by its alias, drops the schema, and drops
          // name segments that look generated
          return { RangeVar: alias ? { alias } : { relname: randomish(String(body.relname)) } };
        }
        return { RangeVar: normObject(body, o, type) };
      }
      case 'A_Expr': {
        const e = normObject(body, o, type) as Record<string, J>;
        if (o.relaxed) {
          // R1: IN (...), = ANY(...) and = are one shape to pg_query when the right side is constant
          if (e.kind === 'AEXPR_IN' || e.kind === 'AEXPR_OP_ANY') {
            e.kind = 'AEXPR_OP';
            const r = e.rexpr as { List?: { items: J[] } } | J;
            const items = (r as { List?: { items: J[] } })?.List?.items;
            if (items && items.length === 0) e.rexpr = '?'; // a list of constants only
            if (items && items.length === 1) e.rexpr = items[0];
            const arr = (r as { A_ArrayExpr?: { elements?: J[] } })?.A_ArrayExpr?.elements;
            if (arr && allConst(arr)) e.rexpr = '?';
          }
        }
        return { A_Expr: e };
      }
      case 'FuncCall': {
        const f = normObject(body, o, type) as Record<string, J>;
        const name = ((body.funcname as J[]) ?? []).map(str).join('.');
        // extract(year from x): the field is a string constant to the parser, a keyword to dbkit (kept)
        if (!o.relaxed && name === 'pg_catalog.extract' && Array.isArray(body.args))
          f.args = [
            (body.args[0] as { A_Const?: { sval?: { sval?: string } } }).A_Const?.sval?.sval,
            ...(f.args as J[]).slice(1),
          ];
        return { FuncCall: f };
      }
      case 'SelectStmt': {
        const s = normObject(body, o, type) as Record<string, J>;
        if (o.relaxed) {
          // R2: LIMIT and LIMIT ... OFFSET with constants
          if (s.limitOffset === '?') delete s.limitOffset;
          if (s.limitCount === '?') delete s.limitCount;
        }
        return { SelectStmt: s };
      }
      default:
        return { [type]: normObject(body, o, type) };
    }
  }
  return normObject(obj, o, parent);
}

function dedupeRows(items: J[]): J[] {
  return items.every((x) => typeof x === 'object' && x !== null && 'RowExpr' in x)
    ? dedupeConsecutive(items)
    : items;
}

function normObject(body: Record<string, unknown>, o: Opts, type: string): Record<string, J> {
  const out: Record<string, J> = {};
  for (const [k, val] of Object.entries(body)) {
    // positions in the text (location, list_start, rexpr_list_end, ...) are not part of the shape
    if (k === 'location' || k === 'stmt_len' || /_(location|start|end)$/.test(k)) continue;
    if (k === 'typeName' && val && typeof val === 'object' && !isNode(val as Record<string, unknown>)) {
      out[k] = `type:${typeName(val as Record<string, unknown>, o)}`;
      continue;
    }
    if (k === 'targetList' && type === 'SelectStmt') {
      // select-list alias names name output columns only (pg_query and dbkit both ignore them)
      out[k] = norm(
        (val as J[]).map((rt) => {
          const r = (rt as { ResTarget?: Record<string, unknown> }).ResTarget;
          if (!r) return rt;
          const { name: _name, ...rest } = r;
          return { ResTarget: rest };
        }),
        o,
        k,
        type,
      );
      continue;
    }
    if (k === 'rexpr' && val && typeof val === 'object' && 'List' in (val as object)) {
      out[k] = { List: { items: norm((val as { List: { items: J[] } }).List.items, o, 'items', 'rexpr') } };
      continue;
    }
    out[k] = norm(val, o, k, type);
  }
  return out;
}

function key(sql: string, o: Opts): string {
  const tree = parseSync(sql) as { stmts: Array<{ stmt: J }> };
  return JSON.stringify(tree.stmts.map((s) => norm(s.stmt, o)));
}

/** The parse tree with dbkit's normalizations: equal keys mean dbkit must give one fingerprint. */
export const strictKey = (sql: string) => key(sql, { relaxed: false });
/** The strict key with dbkit's documented refinements undone. */
export const relaxedKey = (sql: string) => key(sql, { relaxed: true });

const STANDARD_SPELLING: Record<string, string> = {
  int4: 'integer',
  int2: 'smallint',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  timestamptz: 'timestamp with time zone',
  timetz: 'time with time zone',
  varbit: 'bit varying',
  _int4: 'integer[]',
  _int8: 'bigint[]',
  _text: 'text[]',
};

/** Rewrites internal type names after `::` and in CAST(... AS type) to their standard spelling. */
export function canonicalTypeSpelling(sql: string): string {
  const tokens = scanSync(sql).tokens;
  // token offsets are byte offsets into the UTF-8 text
  const bytes = Buffer.from(sql, 'utf8');
  const slice = (from: number, to?: number) => bytes.subarray(from, to).toString('utf8');
  let out = '';
  let pos = 0;
  let castDepth: number[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const prev = tokens[i - 1];
    if (t.text === '(') depth++;
    if (t.text === ')') {
      if (castDepth[castDepth.length - 1] === depth) castDepth = castDepth.slice(0, -1);
      depth--;
    }
    if (t.text.toLowerCase() === 'cast' && tokens[i + 1]?.text === '(') castDepth = [...castDepth, depth + 1];
    const inTypePosition =
      prev?.text === '::' || (prev?.text.toLowerCase() === 'as' && castDepth[castDepth.length - 1] === depth);
    // pg_catalog.text is text
    if (
      inTypePosition &&
      t.text.toLowerCase() === 'pg_catalog' &&
      tokens[i + 1]?.text === '.' &&
      tokens[i + 2]
    ) {
      const name = tokens[i + 2]!.text.toLowerCase();
      out += slice(pos, t.start) + (STANDARD_SPELLING[name] ?? name);
      pos = tokens[i + 2]!.end;
      i += 2;
      continue;
    }
    const std = inTypePosition ? STANDARD_SPELLING[t.text.toLowerCase()] : undefined;
    if (std) {
      out += slice(pos, t.start) + std;
      pos = t.end;
    }
    // int[3] is int[]: Postgres does not enforce array bounds
    if (inTypePosition && tokens[i + 1]?.text === '[' && /^\d+$/.test(tokens[i + 2]?.text ?? '')) {
      out += slice(pos, tokens[i + 1]!.end);
      pos = tokens[i + 2]!.end;
    }
  }
  return out + slice(pos);
}
