import { isNonIdentifierKeyword } from './sql-keywords.js';

/**
 * A lexer for Postgres SQL that follows the server's own scanner (src/backend/parser/scan.l) where it matters
 * for telling statements and literals apart: nested block comments, `--` comments ending at CR or LF,
 * standard-conforming strings (`'C:\'` ends at its second quote; only `E'...'` has backslash escapes),
 * `U&'...'`, `B'...'`, `X'...'`, `N'...'`, string continuation across a newline, dollar quotes (`$tag$`, never
 * inside an identifier such as `a$b$`), `$n` parameters, quoted identifiers, and operators split the way the
 * server splits them (`=-1` is `=` then `-`; `!=` is `<>`).
 *
 * It assumes `standard_conforming_strings = on` (the default since Postgres 9.1).
 */

/** Token kinds. */
export const T = {
  /** Unquoted identifier or keyword, lower-cased (ASCII only, as Postgres does) and truncated to 63 bytes. */
  WORD: 1,
  /** Quoted identifier; `text` is its name. Names that need no quotes become WORD. */
  QIDENT: 2,
  /** String literal of any kind (standard, E, U&, N, dollar-quoted); `text` is `n` for N'...', else empty. */
  STRING: 3,
  /** Bit-string literal (B'...' or X'...'). */
  BITSTRING: 4,
  NUMBER: 5,
  /** `$1`, `$2`, ... */
  PARAM: 6,
  /** Operator (`=`, `<>`, `->>`, `+`, ...). */
  OP: 7,
  /** One of `( ) [ ] , ; . : :: ..` and stray characters. */
  PUNCT: 8,
} as const;
export type TokenKind = (typeof T)[keyof typeof T];

export interface Token {
  kind: TokenKind;
  /** Normalized text: lower-cased word, identifier name, operator, punctuation, a number as written. Empty for strings and parameters. */
  text: string;
  /** Offset of the token's first character in the input. */
  start: number;
}

const NAMEDATALEN_MAX = 63;
const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c > 127;
const isIdentCont = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;
// scan.l {space}: space, tab, newline, carriage return, form feed, vertical tab.
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const isHorizSpace = (c: number) => c === 32 || c === 9 || c === 12 || c === 11;
// scan.l op_chars: ~ ! @ # ^ & | ` ? + - * / % < > =
const isOpChar = (c: number) =>
  c === 126 ||
  c === 33 ||
  c === 64 ||
  c === 35 ||
  c === 94 ||
  c === 38 ||
  c === 124 ||
  c === 96 ||
  c === 63 ||
  c === 43 ||
  c === 45 ||
  c === 42 ||
  c === 47 ||
  c === 37 ||
  c === 60 ||
  c === 62 ||
  c === 61;
// An operator may end in + or - only if it contains one of these (scan.l, "operator" rule).
const isOpSpecial = (c: number) =>
  c === 126 ||
  c === 33 ||
  c === 64 ||
  c === 35 ||
  c === 94 ||
  c === 38 ||
  c === 124 ||
  c === 96 ||
  c === 63 ||
  c === 37;

/** Lower-cases ASCII letters only: Postgres leaves non-ASCII letters of unquoted identifiers as written (UTF-8). */
function downcase(s: string): string {
  let ascii = true;
  let upper = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) ascii = false;
    else if (c >= 65 && c <= 90) upper = true;
  }
  if (!upper) return s;
  if (ascii) return s.toLowerCase();
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Identifiers longer than NAMEDATALEN - 1 bytes are truncated by the server (at a character boundary). */
function truncateIdent(s: string): string {
  if (s.length <= NAMEDATALEN_MAX / 3) return s;
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= NAMEDATALEN_MAX) return s;
  let end = NAMEDATALEN_MAX;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

const PLAIN_IDENT = /^[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*$/;

/** A quoted identifier that means the same unquoted becomes a WORD (`"users"` is `users`, `"User"` is not). */
function identToken(name: string, start: number): Token {
  const n = truncateIdent(name);
  if (PLAIN_IDENT.test(n) && !isNonIdentifierKeyword(n)) return { kind: T.WORD, text: n, start };
  return { kind: T.QIDENT, text: n, start };
}

/** Decodes the escapes of a `U&"..."` identifier (`\hhhh`, `\+hhhhhh`, or a UESCAPE character). */
function decodeUnicodeIdent(body: string, esc: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== esc) {
      out += ch;
      continue;
    }
    if (body[i + 1] === esc) {
      out += esc;
      i++;
    } else if (body[i + 1] === '+') {
      out += String.fromCodePoint(Number.parseInt(body.slice(i + 2, i + 8), 16) || 0xfffd);
      i += 7;
    } else {
      out += String.fromCodePoint(Number.parseInt(body.slice(i + 1, i + 5), 16) || 0xfffd);
      i += 4;
    }
  }
  return out;
}

/** Where a `'...'` string ends: the offset after its closing quote, or `sql.length + 1` when it never ends. */
function skipQuoted(sql: string, i: number, backslashEscapes: boolean): number {
  const n = sql.length;
  for (;;) {
    // i is just past an opening quote
    while (i < n) {
      const d = sql.charCodeAt(i);
      if (d === 92 && backslashEscapes) i += 2;
      else if (d === 39) {
        if (sql.charCodeAt(i + 1) === 39) i += 2;
        else break;
      } else i++;
    }
    if (i >= n) return n + 1;
    i++; // closing quote
    // Two string constants separated only by whitespace that contains a newline are one constant (scan.l
    // quotecontinue); `--` comments may sit in that whitespace.
    let k = i;
    let newline = false;
    while (k < n) {
      const d = sql.charCodeAt(k);
      if (d === 10 || d === 13) {
        newline = true;
        k++;
      } else if (isHorizSpace(d)) k++;
      else if (d === 45 && sql.charCodeAt(k + 1) === 45) {
        while (k < n && sql.charCodeAt(k) !== 10 && sql.charCodeAt(k) !== 13) k++;
      } else break;
    }
    if (!newline || sql.charCodeAt(k) !== 39) return i;
    i = k + 1;
  }
}

/** Result of {@link lex}. */
export interface LexResult {
  tokens: Token[];
  /** A string, quoted identifier, dollar quote or block comment ran to the end of the input. */
  unterminated: boolean;
}

/**
 * Splits SQL into tokens, dropping whitespace and comments.
 *
 * @example
 * ```ts
 * lex("select 'C:\\' as p; delete from t").tokens.filter((t) => t.text === ';').length // 1
 * ```
 */
export function lex(sql: string): LexResult {
  const tokens: Token[] = [];
  let unterminated = false;
  const n = sql.length;
  let i = 0;
  const push = (kind: TokenKind, text: string, start: number) => {
    tokens.push({ kind, text, start });
  };
  const quoted = (from: number, backslashEscapes: boolean) => {
    const end = skipQuoted(sql, from, backslashEscapes);
    if (end <= n) return end;
    unterminated = true;
    return n;
  };
  while (i < n) {
    const c = sql.charCodeAt(i);
    const start = i;
    if (isSpace(c)) {
      i++;
      continue;
    }
    const c1 = sql.charCodeAt(i + 1);
    if (c === 45 && c1 === 45) {
      // -- comment: ends at LF or CR (scan.l non_newline is [^\n\r])
      i += 2;
      while (i < n && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) i++;
      continue;
    }
    if (c === 47 && c1 === 42) {
      // /* block comments nest */
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const d = sql.charCodeAt(i);
        if (d === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++;
          i += 2;
        } else if (d === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) unterminated = true;
      continue;
    }
    if (c === 39) {
      i = quoted(i + 1, false);
      push(T.STRING, '', start);
      continue;
    }
    if (isIdentStart(c)) {
      // String prefixes: a single letter directly followed by a quote (flex takes the longer match).
      if (c1 === 39) {
        const p = c | 0x20;
        if (p === 101) {
          i = quoted(i + 2, true);
          push(T.STRING, '', start);
          continue;
        }
        if (p === 98 || p === 120) {
          i = quoted(i + 2, false);
          push(T.BITSTRING, '', start);
          continue;
        }
        if (p === 110) {
          // N'...' is a national character literal, '...'::bpchar to the parser
          i = quoted(i + 2, false);
          push(T.STRING, 'n', start);
          continue;
        }
      }
      if ((c | 0x20) === 117 && c1 === 38) {
        const q = sql.charCodeAt(i + 2);
        if (q === 39) {
          i = quoted(i + 3, false);
          i = skipUescape(sql, i);
          push(T.STRING, '', start);
          continue;
        }
        if (q === 34) {
          const end = Math.min(skipIdent(sql, i + 3), n);
          const body = sql.slice(i + 3, end - 1).replace(/""/g, '"');
          i = end;
          const afterEsc = skipUescape(sql, i);
          const escChar = afterEsc > i ? (/'(.)'/.exec(sql.slice(i, afterEsc))?.[1] ?? '\\') : '\\';
          i = afterEsc;
          tokens.push(identToken(decodeUnicodeIdent(body, escChar), start));
          continue;
        }
      }
      // identifier: ASCII letters are folded to lower case, others kept (as the server does with UTF-8)
      let j = i;
      let fold = 0; // 1: ASCII upper case seen, 2: non-ASCII seen too
      for (; j < n; j++) {
        const d = sql.charCodeAt(j);
        if (d >= 65 && d <= 90) fold |= 1;
        else if (d > 127) fold |= 2;
        else if (!((d >= 97 && d <= 122) || d === 95 || (d >= 48 && d <= 57) || d === 36)) break;
      }
      let word = sql.slice(i, j);
      if (fold === 1) word = word.toLowerCase();
      else if (fold === 3) word = downcase(word);
      push(T.WORD, j - i > 21 ? truncateIdent(word) : word, start);
      i = j;
      continue;
    }
    if (c === 34) {
      // "quoted identifier": one pass finds its end, whether it has "" escapes and whether it needs quotes
      let j = i + 1;
      let escaped = false;
      let plain = true;
      for (;;) {
        if (j >= n) {
          unterminated = true;
          break;
        }
        const d = sql.charCodeAt(j);
        if (d === 34) {
          if (sql.charCodeAt(j + 1) !== 34) break;
          escaped = true;
          plain = false;
          j += 2;
          continue;
        }
        if (
          plain &&
          !((d >= 97 && d <= 122) || d === 95 || d > 127 || (j > i + 1 && ((d >= 48 && d <= 57) || d === 36)))
        )
          plain = false;
        j++;
      }
      let name = sql.slice(i + 1, j);
      if (escaped) name = name.replace(/""/g, '"');
      if (name.length > 21) name = truncateIdent(name);
      tokens.push(
        plain && name.length > 0 && !isNonIdentifierKeyword(name)
          ? { kind: T.WORD, text: name, start }
          : { kind: T.QIDENT, text: name, start },
      );
      i = j + 1;
      continue;
    }
    if (c === 36) {
      if (isDigit(c1)) {
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        push(T.PARAM, '', start);
        i = j;
        continue;
      }
      // $tag$ ... $tag$ (tag: identifier characters without $, not starting with a digit)
      let j = i + 1;
      if (j < n && isIdentStart(sql.charCodeAt(j))) {
        j++;
        while (j < n && isIdentCont(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
      }
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1);
        const end = sql.indexOf(tag, j + 1);
        if (end === -1) unterminated = true;
        i = end === -1 ? n : end + tag.length;
        push(T.STRING, '', start);
        continue;
      }
      push(T.PUNCT, '$', start);
      i++;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(c1))) {
      i = skipNumber(sql, i);
      push(T.NUMBER, sql.slice(start, i), start);
      continue;
    }
    if (c === 58) {
      if (c1 === 58) {
        push(T.PUNCT, '::', start);
        i += 2;
      } else if (c1 === 61) {
        push(T.OP, ':=', start);
        i += 2;
      } else {
        push(T.PUNCT, ':', start);
        i++;
      }
      continue;
    }
    if (isOpChar(c)) {
      let j = i + 1;
      while (j < n && isOpChar(sql.charCodeAt(j))) {
        // a comment start ends the operator
        const d = sql.charCodeAt(j);
        const e = sql.charCodeAt(j + 1);
        if ((d === 45 && e === 45) || (d === 47 && e === 42)) break;
        j++;
      }
      let len = j - i;
      const last = sql.charCodeAt(i + len - 1);
      if (len > 1 && (last === 43 || last === 45)) {
        let special = false;
        for (let k = i; k < i + len - 1; k++)
          if (isOpSpecial(sql.charCodeAt(k))) {
            special = true;
            break;
          }
        if (!special) {
          do len--;
          while (len > 1 && (sql.charCodeAt(i + len - 1) === 43 || sql.charCodeAt(i + len - 1) === 45));
        }
      }
      let op = sql.slice(i, i + len);
      if (op === '!=') op = '<>';
      push(T.OP, op, start);
      i += len;
      continue;
    }
    if (c === 46 && c1 === 46) {
      push(T.PUNCT, '..', start);
      i += 2;
      continue;
    }
    push(T.PUNCT, sql[i]!, start);
    i++;
  }
  return { tokens, unterminated };
}

function skipIdent(sql: string, i: number): number {
  const n = sql.length;
  while (i < n) {
    if (sql.charCodeAt(i) === 34) {
      if (sql.charCodeAt(i + 1) === 34) i += 2;
      else return i + 1;
    } else i++;
  }
  return n + 1;
}

/** Skips an optional `UESCAPE 'c'` after a U& literal or identifier. */
function skipUescape(sql: string, i: number): number {
  const m = /^\s*uescape\s*'[^']'/i.exec(sql.slice(i, i + 40));
  return m ? i + m[0].length : i;
}

function skipNumber(sql: string, i: number): number {
  const n = sql.length;
  const c = sql.charCodeAt(i);
  const p = sql.charCodeAt(i + 1) | 0x20;
  // Postgres 15+: 0x1F, 0o17, 0b101; Postgres 16+: 1_000_000
  if (c === 48 && (p === 120 || p === 111 || p === 98)) {
    let j = i + 2;
    while (j < n && (isIdentCont(sql.charCodeAt(j)) || sql.charCodeAt(j) === 95)) j++;
    return j;
  }
  let j = i;
  while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 95)) j++;
  // a decimal point, but not the `..` of a range
  if (sql.charCodeAt(j) === 46 && sql.charCodeAt(j + 1) !== 46) {
    j++;
    while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 95)) j++;
  }
  const e = sql.charCodeAt(j) | 0x20;
  if (e === 101) {
    let k = j + 1;
    if (sql.charCodeAt(k) === 43 || sql.charCodeAt(k) === 45) k++;
    if (isDigit(sql.charCodeAt(k))) {
      while (k < n && isDigit(sql.charCodeAt(k))) k++;
      j = k;
    }
  }
  return j;
}

/** Result of {@link splitStatements}. */
export interface StatementSplit {
  /** Non-empty statements, each without its terminating semicolon. */
  statements: string[];
  /** Offsets in the input of the semicolons that separate non-empty statements. */
  separators: number[];
  unterminated: boolean;
}

/**
 * Splits SQL into statements at top-level semicolons, ignoring those in strings, quoted identifiers, dollar
 * quotes and comments. Empty statements (`;;`, a comment alone) are dropped, as the server drops them.
 *
 * @example
 * ```ts
 * splitStatements("select 1 /* ; *\/; delete from t").statements.length // 2
 * ```
 */
export function splitStatements(sql: string): StatementSplit {
  const { tokens, unterminated } = lex(sql);
  const statements: string[] = [];
  const separators: number[] = [];
  let segStart = 0;
  let nonEmpty = false;
  for (const t of tokens) {
    if (t.kind === T.PUNCT && t.text === ';') {
      if (nonEmpty) {
        statements.push(sql.slice(segStart, t.start).trim());
        separators.push(t.start);
      }
      segStart = t.start + 1;
      nonEmpty = false;
    } else nonEmpty = true;
  }
  if (nonEmpty) statements.push(sql.slice(segStart).trim());
  else if (separators.length > 0) separators.pop(); // the last semicolon only terminates
  return { statements, separators, unterminated };
}
