import { T, type Token } from './sql-lexer.js';

/**
 * Reading type names the way the Postgres grammar does, for fingerprints: every spelling of a built-in type
 * becomes the name Postgres resolves it to (`integer` and `int` are `int4`, `timestamp with time zone` is
 * `timestamptz`, `_int4` and `int array` are `int4[]`).
 */

export const INTERVAL_FIELDS = new Set(['year', 'month', 'day', 'hour', 'minute', 'second']);

/** Spellings of built-in types, mapped to the name Postgres resolves them to. */
const TYPE_ALIASES: Record<string, string> = {
  int: 'int4',
  integer: 'int4',
  smallint: 'int2',
  bigint: 'int8',
  real: 'float4',
  decimal: 'numeric',
  dec: 'numeric',
  boolean: 'bool',
};
/** Internal names whose `_name` is the array type (`_int4` is `int4[]`). */
const BUILTIN_TYPES = new Set([
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
  'oid',
  'name',
  'inet',
  'cidr',
  'money',
]);

/** Token helpers: a name (word or quoted identifier), a given word, a given punctuation, a quoted name. */
export const isName = (t: Token | undefined) => t !== undefined && (t.kind === T.WORD || t.kind === T.QIDENT);
export const isWord = (t: Token | undefined, w: string) =>
  t !== undefined && t.kind === T.WORD && t.text === w;
export const isPunct = (t: Token | undefined, p: string) =>
  t !== undefined && t.kind === T.PUNCT && t.text === p;
export const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
const nameText = (t: Token) => (t.kind === T.QIDENT ? quoteIdent(t.text) : t.text);

/** Renders `( ... )` type modifiers as written (numbers stay numbers: `numeric(10, 2)`), or undefined. */
function typmods(tk: Token[], j: number): { text: string; end: number } | undefined {
  if (!isPunct(tk[j], '(')) return undefined;
  const parts: string[] = [];
  let k = j + 1;
  for (; k < tk.length && !isPunct(tk[k], ')'); k++) {
    const t = tk[k]!;
    if (t.kind === T.NUMBER || t.kind === T.WORD) parts.push(t.text);
    else if (t.kind === T.QIDENT) parts.push(quoteIdent(t.text));
    else if (isPunct(t, ',')) continue;
    else return undefined;
  }
  if (k >= tk.length) return undefined;
  return { text: `(${parts.join(', ')})`, end: k + 1 };
}

/**
 * Reads a type name at `i` (after `::`, inside CAST, before a typed literal) and returns its canonical
 * spelling: `integer` and `int` are `int4`, `timestamp with time zone` is `timestamptz`, `character varying`
 * is `varchar`, `_int4` and `int array` are `int4[]`.
 *
 * @example
 * ```ts
 * readType(lex('double precision)').tokens, 0) // { text: 'float8', end: 2 }
 * ```
 */
export function readType(tk: Token[], i: number): { text: string; end: number } | undefined {
  let t = tk[i];
  if (!isName(t)) return undefined;
  let schema = '';
  if (isPunct(tk[i + 1], '.') && isName(tk[i + 2])) {
    schema = nameText(t!);
    i += 2;
    t = tk[i]!;
  }
  let j = i + 1;
  let name: string;
  let mods: string | undefined;
  const readMods = () => {
    const m = typmods(tk, j);
    if (m) {
      mods = m.text;
      j = m.end;
    }
  };
  const w = t!.kind === T.WORD ? t!.text : undefined;
  if (w === undefined) {
    name = nameText(t!);
    readMods();
  } else if (w === 'double' && isWord(tk[j], 'precision')) {
    name = 'float8';
    j++;
  } else if (w === 'character' || w === 'char' || w === 'nchar' || w === 'national') {
    if (w === 'national' && (isWord(tk[j], 'character') || isWord(tk[j], 'char'))) j++;
    if (isWord(tk[j], 'varying')) {
      name = 'varchar';
      j++;
      readMods();
    } else {
      name = 'bpchar';
      readMods();
      mods ??= '(1)'; // char without a length is char(1)
    }
  } else if (w === 'bit') {
    if (isWord(tk[j], 'varying')) {
      name = 'varbit';
      j++;
      readMods();
    } else {
      name = 'bit';
      readMods();
      mods ??= '(1)';
    }
  } else if (w === 'time' || w === 'timestamp') {
    name = w;
    readMods();
    if ((isWord(tk[j], 'with') || isWord(tk[j], 'without')) && isWord(tk[j + 1], 'time')) {
      if (isWord(tk[j + 2], 'zone')) {
        if (tk[j]!.text === 'with') name = w === 'time' ? 'timetz' : 'timestamptz';
        j += 3;
      }
    }
  } else if (w === 'float') {
    const m = typmods(tk, j);
    name = 'float8';
    if (m) {
      j = m.end;
      const p = Number(m.text.slice(1, -1));
      if (p >= 1 && p <= 24) name = 'float4';
    }
  } else if (w === 'interval') {
    name = 'interval';
    readMods();
    j = intervalFields(tk, j, (f) => {
      name += ` ${f}`;
    });
  } else {
    name = TYPE_ALIASES[w] ?? w;
    if (name[0] === '_' && BUILTIN_TYPES.has(name.slice(1))) name = `${name.slice(1)}[]`;
    readMods();
  }
  if (
    schema === 'pg_catalog' &&
    (BUILTIN_TYPES.has(name.replace(/\[\]$/, '')) || name.startsWith('interval'))
  )
    schema = '';
  let text = (schema ? `${schema}.` : '') + name + (mods ?? '');
  // Array bounds are not enforced by Postgres: int[], int[3], int array and int array[3] are one type.
  for (;;) {
    if (isPunct(tk[j], '[')) {
      let k = j + 1;
      while (k < tk.length && !isPunct(tk[k], ']')) k++;
      if (k >= tk.length) break;
      text += '[]';
      j = k + 1;
    } else if (isWord(tk[j], 'array')) {
      text += '[]';
      j++;
      if (isPunct(tk[j], '[') && tk[j + 1]?.kind === T.NUMBER && isPunct(tk[j + 2], ']')) j += 3;
    } else break;
  }
  return { text, end: j };
}

/**
 * Consumes interval fields (`day`, `hour to minute`, `second(3)`) at j, reporting each; returns the new index.
 *
 * @example
 * ```ts
 * intervalFields(lex("interval '1' day to second").tokens, 2, (f) => console.log(f)) // logs 'day to second', returns 5
 * ```
 */
export function intervalFields(tk: Token[], j: number, add: (field: string) => void): number {
  const t = tk[j];
  if (!t || t.kind !== T.WORD || !INTERVAL_FIELDS.has(t.text)) return j;
  let f = t.text;
  j++;
  const m = typmods(tk, j);
  if (m && f === 'second') {
    f += m.text;
    j = m.end;
  }
  if (isWord(tk[j], 'to') && tk[j + 1]?.kind === T.WORD && INTERVAL_FIELDS.has(tk[j + 1]!.text)) {
    f += ` to ${tk[j + 1]!.text}`;
    j += 2;
    const m2 = typmods(tk, j);
    if (m2 && f.endsWith('second')) {
      f += m2.text;
      j = m2.end;
    }
  }
  add(f);
  return j;
}
