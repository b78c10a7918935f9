/**
 * The drizzle-orm values dbkit/bulk uses, loaded on first use instead of at import time.
 *
 * Why: the root entry (`import 'dbkit'`) re-exports dbkit/bulk, and a static `import { sql } from 'drizzle-orm'`
 * would make every service that imports dbkit install drizzle-orm (ERR_MODULE_NOT_FOUND at startup otherwise).
 * Through these bindings the first bulk call that needs drizzle loads it (through importLib, so bundlers see it),
 * or raises MissingPeerDependencyError naming drizzle-orm. Types come from drizzle itself, so call sites are
 * unchanged: `import { sql } from '../internal/drizzle-lib.js'` instead of `from 'drizzle-orm'`.
 *
 * Type-only imports (`import type { SQL } from 'drizzle-orm'`) stay where they are: they are erased.
 */
import type * as Orm from 'drizzle-orm';
import type { ColumnBaseConfig, ColumnBuilderBaseConfig, ColumnDataType } from 'drizzle-orm';
import type * as PgCore from 'drizzle-orm/pg-core';
import { importLib } from './import-lib.js';

const FEATURE = 'dbkit/bulk (bulkInsert, bulkUpdate, processInBatches, withTransaction, ...)';
// Kept here after the first load: bulk builds a `sql` fragment per cell, so each call should cost little.
let ormModule: typeof Orm | undefined;
let pgCoreModule: typeof PgCore | undefined;
const orm = () => (ormModule ??= importLib<typeof Orm>('drizzle-orm', FEATURE));
const pgCore = () => (pgCoreModule ??= importLib<typeof PgCore>('drizzle-orm/pg-core', FEATURE));

/** Loads drizzle-orm now: a missing peer is a MissingPeerDependencyError before any argument is looked at. */
export function requireDrizzle(): void {
  orm();
  pgCore();
}

/** Lazy class handles -> their loaders, so {@link is} can hand drizzle the real class. */
const lazyClasses = new WeakMap<object, () => object>();

/** A stand-in for a class that loads it on first use (instanceof, statics, `new`) and that `is()` accepts. */
function lazyClass<T extends object>(load: () => T): T {
  // A function target, so the proxy is callable and constructible like the class.
  const handle = new Proxy(function lazyDrizzleClass() {}, {
    get: (_t, p) => Reflect.get(load(), p),
    has: (_t, p) => Reflect.has(load(), p),
    construct: (_t, args, newTarget) =>
      Reflect.construct(load() as new (...a: unknown[]) => object, args, newTarget),
  });
  lazyClasses.set(handle, load);
  return handle as unknown as T;
}

/** A stand-in for a function with properties (drizzle's `sql` tag with `sql.raw`, `sql.join`, ...). */
function lazyFunction<T extends (...args: never[]) => unknown>(load: () => T): T {
  return new Proxy(function lazyDrizzleFunction() {}, {
    apply: (_t, thisArg, args) => Reflect.apply(load(), thisArg, args),
    get: (_t, p) => Reflect.get(load(), p),
    has: (_t, p) => Reflect.has(load(), p),
  }) as unknown as T;
}

/** drizzle's `entityKind`: a registered symbol, so reading it needs no load. */
export const entityKind = Symbol.for('drizzle:entityKind') as typeof Orm.entityKind;

/**
 * drizzle's `sql` template tag (and `sql.raw`, `sql.join`, `sql.identifier`, `sql.param`, ...). The first use
 * replaces this binding with drizzle's own function (importers see ES modules' live binding), so the per-cell
 * fragments of a VALUES insert pay nothing for the laziness.
 */
export let sql: typeof Orm.sql = lazyFunction(() => {
  sql = orm().sql;
  return sql;
});

/** drizzle's `and`. */
export const and = ((...conditions: Parameters<typeof Orm.and>) =>
  orm().and(...conditions)) as typeof Orm.and;

/** drizzle's `is(value, Class)`; accepts the lazy class handles of this module. */
export const is: typeof Orm.is = (value, type) =>
  orm().is(value, (lazyClasses.get(type)?.() ?? type) as typeof type);

/** drizzle's `getTableColumns`. */
export const getTableColumns: typeof Orm.getTableColumns = (table) => orm().getTableColumns(table);

/** drizzle's `getTableConfig` (pg-core). */
export const getTableConfig: typeof PgCore.getTableConfig = (table) => pgCore().getTableConfig(table);

/** drizzle's `PgArray` column class (pg-core), for `is(column, PgArray)`. */
export const PgArray: typeof PgCore.PgArray = lazyClass(() => pgCore().PgArray);
/** The `PgArray` column type (pg-core). */
export type PgArray<
  T extends ColumnBaseConfig<'array', 'PgArray'> & {
    size: number | undefined;
    baseBuilder: ColumnBuilderBaseConfig<ColumnDataType, string>;
  },
  TBase extends ColumnBuilderBaseConfig<ColumnDataType, string>,
> = PgCore.PgArray<T, TBase>;

/** drizzle's `PgTransaction` class (pg-core), for `is(db, PgTransaction)`. */
export const PgTransaction: typeof PgCore.PgTransaction = lazyClass(() => pgCore().PgTransaction);
