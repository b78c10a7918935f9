/** Argument checks shared by the bulk entry points: a wrong db or table is a ConfigError, not a TypeError. */
import { ConfigError } from '../errors.js';
import { entityKind, requireDrizzle } from '../internal/drizzle-lib.js';

function kinds(value: object): string[] {
  const out: string[] = [];
  for (let c = value.constructor as unknown as { [entityKind]?: string } | undefined; c; ) {
    const k = Object.hasOwn(c, entityKind) ? c[entityKind] : undefined;
    if (typeof k === 'string') out.push(k);
    c = Object.getPrototypeOf(c) as typeof c;
  }
  return out;
}

/**
 * Checks that `db` is a drizzle Postgres database or transaction, `table` a drizzle pg table and `rows` an
 * array or (async) iterable, before anything else reads them. Without drizzle-orm installed that is said first
 * (MissingPeerDependencyError naming it): no argument could be right then.
 */
export function assertBulkArgs(fn: string, db: unknown, table: unknown, rows: unknown): void {
  requireDrizzle();
  const d = db as { execute?: unknown; transaction?: unknown; session?: unknown; dialect?: unknown } | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    typeof d.execute !== 'function' ||
    typeof d.transaction !== 'function' ||
    typeof d.session !== 'object' ||
    typeof d.dialect !== 'object'
  )
    throw new ConfigError(
      `${fn}: db must be a drizzle Postgres database or transaction (drizzle(client) from drizzle-orm/postgres-js, node-postgres or pglite), got ${describe(db)}`,
    );
  if (typeof table !== 'object' || table === null || !kinds(table).includes('PgTable'))
    throw new ConfigError(
      `${fn}: table must be a drizzle Postgres table (pgTable(...)), got ${describe(table)}`,
    );
  const r = rows as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    (typeof r[Symbol.iterator] !== 'function' && typeof r[Symbol.asyncIterator] !== 'function')
  )
    throw new ConfigError(`${fn}: rows must be an array or an (async) iterable, got ${describe(rows)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v !== 'object') return typeof v;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'a plain object';
}
