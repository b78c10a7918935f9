/**
 * Postgres keyword classes, from `pg_get_keywords()` (Postgres 15). Unreserved keywords are identifiers to
 * the grammar almost everywhere, so only the reserved, column-name and type/function-name classes are listed
 * in full; the few unreserved ones the fingerprint rules care about are named where they are used.
 */
const words = (s: string) => new Set(s.split(' '));

/** catcode R: never an identifier without quotes. */
export const RESERVED = words(
  'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create ' +
    'current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc ' +
    'distinct do else end except false fetch for foreign from grant group having in initially intersect into ' +
    'lateral leading limit localtime localtimestamp not null offset on only or order placing primary references ' +
    'returning select session_user some symmetric table then to trailing true union unique user using variadic ' +
    'when where window with',
);

/** catcode C: may be a column name, not a function or type name (mostly built-in types and special functions). */
export const COL_NAME = words(
  'between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping inout ' +
    'int integer interval least national nchar none normalize nullif numeric out overlay position precision real ' +
    'row setof smallint substring time timestamp treat trim values varchar xmlattributes xmlconcat xmlelement ' +
    'xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable',
);

/** catcode T: may be a function or type name, not a column name. */
export const TYPE_FUNC_NAME = words(
  'authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left ' +
    'like natural notnull outer overlaps right similar tablesample verbose',
);

/** Keywords that cannot stand as a bare (AS-less) column label. */
export const NOT_BARE_LABEL = words(
  'array as char character create day except fetch filter for from grant group having hour intersect into isnull ' +
    'limit minute month notnull offset on order over overlaps precision returning second to union varying where ' +
    'window with within without year',
);

/**
 * True when `w` (lower case) is a keyword a quoted identifier must stay quoted for.
 *
 * @example
 * ```ts
 * isNonIdentifierKeyword('user') // true: "user" and user are different things
 * isNonIdentifierKeyword('name') // false: "name" is name
 * ```
 */
export function isNonIdentifierKeyword(w: string): boolean {
  return RESERVED.has(w) || COL_NAME.has(w) || TYPE_FUNC_NAME.has(w);
}
