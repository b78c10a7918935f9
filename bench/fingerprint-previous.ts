import { createHash } from 'node:crypto';

/**
 * Baseline for bench/fingerprint.bench.ts: dbkit's fingerprint normalizer before issue 11 (one regex-assisted
 * pass; it merged `'C:\\'` strings and IS TRUE/FALSE and split on spacing, quoting and type spelling). Kept
 * only to show what the parser-faithful normalizer costs.
 */
const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c > 127;
const isIdentChar = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;

/**
 * Single pass over the SQL: drops comments, turns string/number/dollar-quoted literals and `$n`
 * parameters into `?`, lower-cases everything outside quoted identifiers and collapses whitespace.
 */
function scan(sql: string): string {
  let out = '';
  let pendingSpace = false;
  const emit = (s: string) => {
    if (pendingSpace && out.length > 0) out += ' ';
    pendingSpace = false;
    out += s;
  };
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      pendingSpace = true;
      i++;
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      // -- comment to end of line
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      pendingSpace = true;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
      pendingSpace = true;
    } else if (c === 39) {
      // 'string' with '' escapes (and backslash escapes, harmless for E'' strings)
      i++;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 39) {
          if (sql.charCodeAt(i + 1) === 39) i += 2;
          else break;
        } else i++;
      }
      i++;
      // E'..', B'..', X'..', N'..' prefixes belong to the literal
      if (!pendingSpace && /(?:^|[^a-z0-9_$])[ebxn]$/.test(out)) out = out.slice(0, -1);
      emit('?');
    } else if (c === 34) {
      const start = i;
      i++;
      while (i < n) {
        if (sql.charCodeAt(i) === 34) {
          if (sql.charCodeAt(i + 1) === 34) i += 2;
          else break;
        } else i++;
      }
      i++;
      emit(sql.slice(start, i));
    } else if (c === 36) {
      // $1 parameter or $tag$ dollar-quoted string
      let j = i + 1;
      if (isDigit(sql.charCodeAt(j))) {
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        i = j;
        emit('?');
      } else {
        while (j < n && isIdentChar(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
        if (sql.charCodeAt(j) === 36) {
          const tag = sql.slice(i, j + 1);
          const end = sql.indexOf(tag, j + 1);
          i = end === -1 ? n : end + tag.length;
          emit('?');
        } else {
          emit('$');
          i++;
        }
      }
    } else if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i;
      while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      if (sql.charCodeAt(j) === 101 || sql.charCodeAt(j) === 69) {
        j++;
        if (sql.charCodeAt(j) === 43 || sql.charCodeAt(j) === 45) j++;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
      }
      i = j;
      emit('?');
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentChar(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j).toLowerCase();
      i = j;
      emit(word === 'true' || word === 'false' ? '?' : word);
    } else {
      emit(sql[i]!);
      i++;
    }
  }
  return out;
}

const SPACE_AFTER_OPEN = /([([]) /g;
const SPACE_BEFORE_CLOSE = / ([)\]])/g;
const SPACE_BEFORE_COMMA = / ,/g;
const COMMA_NO_SPACE = /,(?! )/g;
const PLACEHOLDER_LIST = /([([])\?(?:, \?)+([)\]])/g;
const REPEATED_GROUP = /(\([^()]*\))(?:, \1)+/g;
const NEGATIVE_PLACEHOLDER = /(^|[=<>,(]|\bin|\bvalues|\bselect|\bthen|\belse|\bwhen|\breturn) ?-\?/g;

/**
 * Normalizes SQL into a fingerprint: `select * from users where id = 1` and `... where id = $1`
 * both become `select * from users where id = ?`; `in (1, 2, 3)` becomes `in (?)` and multi-row
 * `values (..), (..)` collapses to one row.
 *
 * @example
 * ```ts
 * normalizeSql("SELECT *  FROM t WHERE id IN (1,2,3) AND name = 'x'") // 'select * from t where id in (?) and name = ?'
 * ```
 */
export function previousNormalizeSql(sql: string): string {
  let s = scan(sql)
    .replace(SPACE_AFTER_OPEN, '$1')
    .replace(SPACE_BEFORE_CLOSE, '$1')
    .replace(SPACE_BEFORE_COMMA, ',')
    .replace(COMMA_NO_SPACE, ', ')
    .replace(NEGATIVE_PLACEHOLDER, (_m, p: string) => (p === '' || p === '(' ? `${p}?` : `${p} ?`));
  s = s.replace(PLACEHOLDER_LIST, '$1?$2').replace(REPEATED_GROUP, '$1');
  if (s.endsWith(';')) s = s.slice(0, -1).trimEnd();
  return s;
}

const cache = new Map<string, { fingerprint: string; id: string }>();

/** The previous fingerprintQuery: the scanner above, SHA-1, the same bounded cache. */
export function previousFingerprintQuery(sql: string): { fingerprint: string; id: string } {
  let fp = cache.get(sql);
  if (fp) return fp;
  const fingerprint = previousNormalizeSql(sql);
  fp = { fingerprint, id: createHash('sha1').update(fingerprint).digest('hex').slice(0, 16) };
  if (cache.size >= 5000) cache.clear();
  cache.set(sql, fp);
  return fp;
}
