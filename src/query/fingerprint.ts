import * as crypto from 'node:crypto';
import { COL_NAME, NOT_BARE_LABEL, RESERVED, TYPE_FUNC_NAME } from './sql-keywords.js';
import { lex, T, type Token } from './sql-lexer.js';
import { intervalFields, isName, isPunct, isWord, quoteIdent, readType } from './sql-types.js';

/** What {@link fingerprintQuery} returns: the normalized text and a short stable id. */
export interface QueryFingerprint {
  /** Normalized SQL: literals and parameters as `?`, lists collapsed, keywords lower-case, canonical spacing. */
  fingerprint: string;
  /** First 16 hex chars of the SHA-1 of `fingerprint`. */
  id: string;
}

// Output piece kinds: they decide spacing and whether a `-` that follows is unary or binary.
const P = {
  /** identifier, type name: ends an operand */
  ID: 1,
  /** `?` */
  LIT: 2,
  /** keyword that does not end an operand (select, and, between, ...) */
  KW: 3,
  /** keyword that ends an operand (null after IS, end, current_date, ...) */
  OKW: 4,
  OPEN: 5,
  CLOSE: 6,
  COMMA: 7,
  DOT: 8,
  CAST: 9,
  BINOP: 10,
  UNOP: 11,
  SEMI: 12,
  /** `*` as "all columns" */
  STAR: 13,
  OTHER: 14,
} as const;
type PieceKind = (typeof P)[keyof typeof P];

const OPERAND_END = new Set<number>([P.ID, P.LIT, P.OKW, P.CLOSE, P.STAR]);

/** Keywords that end an operand, so a `-` after them is binary (`end - 1`, `current_date - 1`). */
const OPERAND_KEYWORDS = new Set([
  'end',
  'current_date',
  'current_time',
  'current_timestamp',
  'localtime',
  'localtimestamp',
  'current_user',
  'current_role',
  'current_catalog',
  'current_schema',
  'session_user',
  'user',
]);

/** Unreserved keywords that introduce an expression rather than end one (`order by -1`, `rows between -1`). */
const EXPR_INTRO = new Set([
  'by',
  'rows',
  'range',
  'groups',
  'preceding',
  'following',
  'partition',
  'set',
  'escape',
  'zone',
  'at',
  'increment',
  'minvalue',
  'maxvalue',
  'returns',
  'return',
  'of',
  'over',
  'filter',
  'within',
  'nulls',
  'absolute',
  'relative',
  'forward',
  'backward',
]);

/** Words after which a select-list item ends. */
const SELECT_LIST_END = new Set([
  'from',
  'into',
  'where',
  'group',
  'having',
  'window',
  'order',
  'limit',
  'offset',
  'fetch',
  'for',
  'union',
  'intersect',
  'except',
  'returning',
]);

/** Column-name keywords that are type names (the others, like `between` or `coalesce`, never start a type). */
const COL_NAME_TYPES = new Set([
  'bigint',
  'bit',
  'boolean',
  'char',
  'character',
  'dec',
  'decimal',
  'float',
  'int',
  'integer',
  'interval',
  'national',
  'nchar',
  'numeric',
  'real',
  'smallint',
  'time',
  'timestamp',
  'varchar',
]);

/** `WORD 'string'` is a typed literal (`date '2024-01-01'`) unless the word takes a string argument. */
const NOT_A_TYPE_BEFORE_STRING = new Set([
  'role',
  'names',
  'escape',
  'zone',
  'uescape',
  'password',
  'encoding',
  'delimiter',
  'quote',
  'location',
  'owner',
  'version',
  'format',
  'header',
  'connection',
  'comment',
]);

/** Words after `AS` that are not an alias (`as materialized (...)`, `as identity`, `as enum (...)`). */
const AS_NOT_ALIAS = new Set([
  'materialized',
  'identity',
  'enum',
  'range',
  'implicit',
  'assignment',
  'permissive',
  'restrictive',
  'execute',
]);

/** `(` follows these without a space, as in a function call; other keywords keep one (`in (?)`, `values (?)`). */
const SPACE_BEFORE_PAREN = new Set(['values', 'exists', 'as', 'row', 'between']);

/** Words that can start a multi-word or modified type name before a typed literal (`double precision '1'`). */
const TYPE_PHRASE_START = new Set([
  'double',
  'character',
  'char',
  'nchar',
  'national',
  'bit',
  'time',
  'timestamp',
  'float',
  'interval',
  'varchar',
  'numeric',
  'decimal',
  'dec',
]);

// One lookup per word instead of one per set: the fingerprint runs on every query.
const F = {
  R: 1,
  C: 2,
  T: 4,
  NOT_BARE: 8,
  INTRO: 16,
  OPERAND: 32,
  SELECT_END: 64,
  TYPE_START: 128,
  COL_TYPE: 256,
  NOT_TYPE: 512,
  AS_NOT_ALIAS: 1024,
  SPACE_PAREN: 2048,
  /** a word one of the rules below looks at by name */
  SPECIAL: 4096,
} as const;
const WORD_FLAGS = new Map<string, number>();
for (const [set, f] of [
  [RESERVED, F.R],
  [COL_NAME, F.C],
  [TYPE_FUNC_NAME, F.T],
  [NOT_BARE_LABEL, F.NOT_BARE],
  [EXPR_INTRO, F.INTRO],
  [OPERAND_KEYWORDS, F.OPERAND],
  [SELECT_LIST_END, F.SELECT_END],
  [TYPE_PHRASE_START, F.TYPE_START],
  [COL_NAME_TYPES, F.COL_TYPE],
  [NOT_A_TYPE_BEFORE_STRING, F.NOT_TYPE],
  [AS_NOT_ALIAS, F.AS_NOT_ALIAS],
  [SPACE_BEFORE_PAREN, F.SPACE_PAREN],
] as const)
  for (const w of set) WORD_FLAGS.set(w, (WORD_FLAGS.get(w) ?? 0) | f);
for (const w of [
  'select',
  'distinct',
  'all',
  'values',
  'default',
  'true',
  'false',
  'null',
  'unknown',
  'isnull',
  'notnull',
  'inner',
  'outer',
  'cast',
  'as',
  'fetch',
  'to',
  'row',
  'rows',
])
  WORD_FLAGS.set(w, (WORD_FLAGS.get(w) ?? 0) | F.SPECIAL);
const flagsOf = (w: string) => WORD_FLAGS.get(w) ?? 0;
const KEYWORD = F.R | F.C | F.T;

interface Frame {
  /** Inside a SELECT target list at this depth. */
  selectList: boolean;
  /** At the start of a select-list item (nothing of it emitted yet). */
  itemStart: boolean;
  /** `distinct on (` seen: the item list starts after its `)`. */
  distinctOn: boolean;
  /** After VALUES at this depth: the next `(` is a row. */
  values: boolean;
  /** This frame is a VALUES row: `default` is a value. */
  valuesRow: boolean;
  /** This frame is CAST( ... ): index of its first output piece. */
  castStart: number;
}
const frame = (valuesRow = false): Frame => ({
  selectList: false,
  itemStart: false,
  distinctOn: false,
  values: false,
  valuesRow,
  castStart: -1,
});

/** The statement being emitted is `SET [LOCAL | SESSION] name` (and nothing else yet). */
function isSetStatement(text: string[]): boolean {
  let k = text.lastIndexOf(';') + 1;
  if (text[k] !== 'set') return false;
  k++;
  if (text[k] === 'local' || text[k] === 'session') k++;
  // the name: one identifier or a dotted one
  k++;
  while (text[k] === '.' && k + 1 < text.length) k += 2;
  return k === text.length;
}

/** True when pieces[from..] is one primary expression (`a.b`, `f(x)`, `?`, `(...)`), so `::` binds to it whole. */
function isSinglePrimary(text: string[], kinds: PieceKind[], from: number): boolean {
  let k = from;
  const n = text.length;
  const skipGroup = () => {
    let depth = 0;
    for (; k < n; k++) {
      if (kinds[k] === P.OPEN) depth++;
      else if (kinds[k] === P.CLOSE && --depth === 0) {
        k++;
        return true;
      }
    }
    return false;
  };
  if (k >= n) return false;
  if (kinds[k] === P.LIT) k++;
  else if (kinds[k] === P.OPEN) {
    if (!skipGroup()) return false;
  } else if (kinds[k] === P.ID || kinds[k] === P.KW || kinds[k] === P.OKW) {
    k++;
    while (k + 1 < n && kinds[k] === P.DOT && (kinds[k + 1] === P.ID || kinds[k + 1] === P.STAR)) k += 2;
    if (k < n && kinds[k] === P.OPEN && text[k] === '(' && !skipGroup()) return false;
  } else return false;
  for (;;) {
    if (k < n && kinds[k] === P.OPEN && text[k] === '[') {
      if (!skipGroup()) return false;
    } else if (k + 1 < n && kinds[k] === P.CAST && kinds[k + 1] === P.ID)
      k += 2; // x::int4 is still one primary
    else break;
  }
  return k === n;
}

/**
 * The fingerprint pass: one walk over the tokens that emits canonical pieces (literals as `?`, canonical type
 * names, select-list aliases dropped, `isnull` as `is null`, ...), then joins them with canonical spacing.
 */
interface Normalized {
  text: string;
  /** a `?` (or cast literal) is followed by a comma: a list may collapse */
  litLists: boolean;
  /** `), (` was emitted: repeated rows may collapse */
  rowLists: boolean;
  /** OFFSET came before LIMIT */
  offsetFirst: boolean;
}

function normalizeTokens(tk: Token[]): Normalized {
  let litLists = false;
  let rowLists = false;
  let offsetFirst = false;
  const text: string[] = [];
  const kinds: PieceKind[] = [];
  const stack: Frame[] = [frame()];
  let top = stack[0]!;
  const emit = (s: string, k: PieceKind) => {
    text.push(s);
    kinds.push(k);
  };
  const last = () => kinds[kinds.length - 1];
  const prevEndsOperand = () => {
    const k = last();
    return k !== undefined && OPERAND_END.has(k);
  };
  const lastText = (back = 1) => text[text.length - back];
  /** The token at j ends a select-list item. */
  const endsItem = (j: number) => {
    const t = tk[j];
    if (!t) return true;
    if (t.kind === T.PUNCT) return t.text === ',' || t.text === ')' || t.text === ';';
    return t.kind === T.WORD && (flagsOf(t.text) & F.SELECT_END) !== 0;
  };
  const n = tk.length;
  for (let i = 0; i < n; i++) {
    const t = tk[i]!;
    const inItem = top.selectList && !top.itemStart;
    let keepItemStart = false;
    switch (t.kind) {
      case T.WORD: {
        const w = t.text;
        const wf = flagsOf(w);
        // Select-list aliases: `expr AS name` and `expr name` name the output column only.
        if (inItem) {
          if (w === 'as' && isName(tk[i + 1])) {
            i++;
            continue;
          }
          if (
            prevEndsOperand() &&
            last() !== P.STAR &&
            (wf & (KEYWORD | F.NOT_BARE)) === 0 &&
            endsItem(i + 1)
          )
            continue;
        }
        if (top.selectList && (wf & F.SELECT_END) !== 0) top.selectList = false;
        if (top.values && w !== 'values') top.values = false;
        if ((wf & F.SPECIAL) !== 0) {
          if (w === 'select') {
            emit(w, P.KW);
            top.selectList = true;
            top.itemStart = true;
            continue;
          }
          if (top.selectList && top.itemStart && (w === 'distinct' || w === 'all')) {
            emit(w, P.KW);
            if (w === 'distinct' && isWord(tk[i + 1], 'on')) {
              emit('on', P.KW);
              i++;
              top.distinctOn = true;
            }
            continue;
          }
          if (w === 'values') {
            emit(w, P.KW);
            top.values = true;
            break;
          }
          if (w === 'default' && top.valuesRow) {
            emit('?', P.LIT);
            break;
          }
          if (w === 'true' || w === 'false' || w === 'null' || w === 'unknown') {
            // IS [NOT] TRUE / FALSE / NULL / UNKNOWN are tests, not literals
            const afterIs = lastText() === 'is' || (lastText() === 'not' && lastText(2) === 'is');
            if (afterIs) emit(w, P.OKW);
            else if (w === 'null' && lastText() === 'not') emit(w, P.KW);
            else if (w === 'unknown') emit(w, P.ID);
            else emit('?', P.LIT);
            break;
          }
          if (w === 'isnull' || w === 'notnull') {
            emit('is', P.KW);
            if (w === 'notnull') emit('not', P.KW);
            emit('null', P.OKW);
            break;
          }
          if (w === 'inner' && isWord(tk[i + 1], 'join')) continue;
          if (
            w === 'outer' &&
            isWord(tk[i + 1], 'join') &&
            (lastText() === 'left' || lastText() === 'right' || lastText() === 'full')
          )
            continue;
          if (w === 'cast' && isPunct(tk[i + 1], '(')) {
            i++;
            top.itemStart = false;
            const f = frame();
            f.castStart = text.length;
            stack.push(f);
            top = f;
            continue;
          }
          if (w === 'as' && top.castStart >= 0) {
            const ty = readType(tk, i + 1);
            if (ty && isPunct(tk[ty.end], ')')) {
              const from = top.castStart;
              stack.pop();
              top = stack[stack.length - 1]!;
              top.itemStart = false;
              if (!isSinglePrimary(text, kinds, from)) {
                text.splice(from, 0, '(');
                kinds.splice(from, 0, P.OPEN);
                emit(')', P.CLOSE);
              }
              emit('::', P.CAST);
              emit(ty.text, P.ID);
              i = ty.end;
              continue;
            }
          }
          if (w === 'as' && top.castStart < 0) {
            // optional AS before a table or column alias
            const nx = tk[i + 1];
            if (
              nx?.kind === T.QIDENT ||
              (nx?.kind === T.WORD && (flagsOf(nx.text) & (F.R | F.C | F.AS_NOT_ALIAS)) === 0)
            )
              continue;
          }
          if (w === 'fetch' && (isWord(tk[i + 1], 'first') || isWord(tk[i + 1], 'next'))) {
            // FETCH FIRST [n] ROW[S] ONLY is LIMIT n
            let j = i + 2;
            const count = tk[j];
            if (count && (count.kind === T.NUMBER || count.kind === T.PARAM)) j++;
            if ((isWord(tk[j], 'row') || isWord(tk[j], 'rows')) && isWord(tk[j + 1], 'only')) {
              emit('limit', P.KW);
              emit('?', P.LIT);
              i = j + 1;
              break;
            }
          }
          if (w === 'to' && stack.length === 1 && isSetStatement(text) && last() === P.ID) {
            emit('=', P.BINOP); // SET name TO value is SET name = value
            break;
          }
          if ((w === 'row' || w === 'rows') && kinds[kinds.length - 1] === P.LIT && lastText(2) === 'offset')
            continue; // OFFSET n ROWS is OFFSET n
        }
        // typed literal: date '2024-01-01', timestamp with time zone '...', interval '1' day
        const nx = tk[i + 1];
        if (
          (nx?.kind === T.STRING ||
            ((wf & F.TYPE_START) !== 0 && nx !== undefined && (nx.kind !== T.PUNCT || nx.text === '('))) &&
          (wf & (F.R | F.T | F.NOT_TYPE | F.INTRO)) === 0 &&
          ((wf & F.C) === 0 || (wf & F.COL_TYPE) !== 0) &&
          last() !== P.DOT
        ) {
          const ty = readType(tk, i);
          if (ty && tk[ty.end]?.kind === T.STRING) {
            let typeText = ty.text;
            let j = ty.end + 1;
            if (typeText.startsWith('interval'))
              j = intervalFields(tk, j, (f) => {
                typeText += ` ${f}`;
              });
            top.itemStart = false;
            emit('?', P.LIT);
            emit('::', P.CAST);
            emit(typeText, P.ID);
            i = j - 1;
            break;
          }
        }
        emit(w, (wf & F.OPERAND) !== 0 ? P.OKW : (wf & (KEYWORD | F.INTRO)) !== 0 ? P.KW : P.ID);
        break;
      }
      case T.QIDENT: {
        if (inItem && prevEndsOperand() && last() !== P.STAR && endsItem(i + 1)) continue;
        emit(quoteIdent(t.text), P.ID);
        break;
      }
      case T.NUMBER: {
        // Postgres folds a unary minus into a numeric constant (`between -5 and -1`), not into `-5::int`.
        if (!isPunct(tk[i + 1], '::') && !isPunct(tk[i + 1], '['))
          while (last() === P.UNOP && lastText() === '-') {
            text.pop();
            kinds.pop();
          }
        emit('?', P.LIT);
        break;
      }
      case T.STRING:
      case T.BITSTRING:
      case T.PARAM:
        emit('?', P.LIT);
        if (t.text === 'n') {
          emit('::', P.CAST);
          emit('bpchar', P.ID);
        }
        break;
      case T.OP: {
        if (t.text === '*' && !prevEndsOperand()) emit('*', P.STAR);
        else emit(t.text, prevEndsOperand() ? P.BINOP : P.UNOP);
        break;
      }
      case T.PUNCT: {
        const p = t.text;
        if (p === '(' || p === '[') {
          if (last() === P.COMMA && kinds[kinds.length - 2] === P.CLOSE) rowLists = true;
          const f = frame(p === '(' && top.values);
          emit(p, P.OPEN);
          if (!top.distinctOn) top.itemStart = false;
          stack.push(f);
          top = f;
          continue;
        }
        if (p === ')' || p === ']') {
          if (stack.length > 1) {
            const closed = stack.pop()!;
            top = stack[stack.length - 1]!;
            if (closed.castStart >= 0) {
              // a CAST( ... ) whose type could not be read: keep it as written
              text.splice(closed.castStart, 0, 'cast', '(');
              kinds.splice(closed.castStart, 0, P.KW, P.OPEN);
            }
          }
          emit(p, P.CLOSE);
          if (top.distinctOn) {
            top.distinctOn = false;
            keepItemStart = true;
            top.itemStart = true;
          }
          break;
        }
        if (p === ',') {
          if (last() === P.LIT || (last() === P.ID && kinds[kinds.length - 2] === P.CAST)) litLists = true;
          emit(',', P.COMMA);
          if (top.selectList) {
            top.itemStart = true;
            continue;
          }
          break;
        }
        if (p === ';') {
          stack.length = 1;
          top = stack[0] = frame();
          emit(';', P.SEMI);
          continue;
        }
        if (p === '.') {
          emit('.', P.DOT);
          break;
        }
        if (p === '::') {
          emit('::', P.CAST);
          const ty = readType(tk, i + 1);
          if (ty) {
            emit(ty.text, P.ID);
            i = ty.end - 1;
          }
          break;
        }
        emit(p, P.OTHER);
        break;
      }
    }
    if (!keepItemStart) top.itemStart = false;
  }
  if (!offsetFirst)
    for (let k = 2; k < text.length; k++)
      if (text[k] === 'limit' && text[k - 2] === 'offset') {
        offsetFirst = true;
        break;
      }
  return { text: join(text, kinds), litLists, rowLists, offsetFirst };
}

/** Joins pieces with canonical spacing: one space, none inside brackets, around `.` and `::`, before `,`. */
function join(text: string[], kinds: PieceKind[]): string {
  let out = '';
  for (let k = 0; k < text.length; k++) {
    const s = text[k]!;
    if (k > 0) {
      const a = kinds[k - 1]!;
      const b = kinds[k]!;
      let space = true;
      if (a === P.OPEN || a === P.DOT || a === P.CAST || a === P.UNOP) space = false;
      else if (b === P.CLOSE || b === P.COMMA || b === P.DOT || b === P.CAST || b === P.SEMI) space = false;
      else if (b === P.OPEN) {
        if (s === '[') space = false;
        else if (a === P.ID) space = text[k - 2] === 'into' && k >= 2;
        else if (a === P.KW || a === P.OKW) {
          const w = text[k - 1]!;
          space = (flagsOf(w) & (F.R | F.T | F.SPACE_PAREN | F.INTRO)) !== 0;
          if (w === 'any' || w === 'all' || w === 'some' || w === 'array' || w === 'current_schema')
            space = false;
        }
      }
      if (space) out += ' ';
    }
    out += s;
  }
  return out;
}

// `(?, ?, ?)` and `[?, ?]` collapse to one placeholder: the length of an IN list or array is not part of the shape.
// So do lists of one cast literal repeated (`in (?::date, ?::date)`).
const PLACEHOLDER_LIST = /([([])(\?(?:::[a-z0-9_ .]+(?:\(\d+(?:, \d+)*\))?(?:\[\])*)?)(?:, \2)+([)\]])/g;
// Consecutive identical rows: multi-row VALUES and IN lists of tuples collapse to one row.
const REPEATED_GROUP = /(?<=values |\()(\([^()]*\))(?:, \1)+/g;

/**
 * Normalizes SQL into a fingerprint: `select * from users where id = 1` and `... WHERE id=$1` both become
 * `select * from users where id = ?`; `in (1, 2, 3)` becomes `in (?)`, multi-row `values (..), (..)` one row,
 * `x::integer` `x::int4`, `date '2024-01-01'` `?::date`; comments, select-list aliases and quotes that change
 * nothing are dropped. See the README ("Fingerprints") for what is grouped and what is kept apart.
 *
 * @example
 * ```ts
 * normalizeSql("SELECT *  FROM t WHERE id IN (1,2,3) AND name = 'x'") // 'select * from t where id in (?) and name = ?'
 * ```
 */
export function normalizeSql(sql: string): string {
  const n = normalizeTokens(lex(sql).tokens);
  let s = n.text;
  // each pass can expose another (`((?, ?), (?, ?))` -> `((?), (?))` -> `((?))`)
  for (let changed = n.litLists || n.rowLists; changed; ) {
    const before = s;
    s = s.replace(PLACEHOLDER_LIST, '$1$2$3');
    if (n.rowLists || s.includes('), (')) s = s.replace(REPEATED_GROUP, '$1');
    changed = s !== before;
  }
  // OFFSET n LIMIT m is LIMIT m OFFSET n
  if (n.offsetFirst) s = s.replace(/ offset \? limit \?/g, ' limit ? offset ?');
  while (s.endsWith(';')) s = s.slice(0, -1);
  return s;
}

// crypto.hash (Node >= 20.12) is a one-shot digest, several times cheaper than createHash for short inputs.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;
const sha1Hex = (s: string): string =>
  oneShot ? oneShot('sha1', s, 'hex') : crypto.createHash('sha1').update(s).digest('hex');

const cache = new Map<string, QueryFingerprint>();
const CACHE_MAX = 5000;

/**
 * Fingerprint of a statement (normalized text plus a short id), cached per distinct SQL text.
 *
 * @example
 * ```ts
 * fingerprintQuery('select * from users where id = $1').id === fingerprintQuery('SELECT * FROM "users" WHERE id=7').id // true
 * ```
 */
export function fingerprintQuery(sql: string): QueryFingerprint {
  let fp = cache.get(sql);
  if (fp) return fp;
  const fingerprint = normalizeSql(sql);
  fp = { fingerprint, id: sha1Hex(fingerprint).slice(0, 16) };
  // Bounded: a flood of distinct statements (inline literals) must not grow memory without limit.
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(sql, fp);
  return fp;
}
