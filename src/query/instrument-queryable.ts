import { captureStack } from './call-site.js';
import { finish, type Instrumentation, toInstrumentation } from './instrument.js';
import type { InstrumentOptions } from './options.js';
import { type QueryConnection, QueryEventImpl } from './query-event.js';
import { currentScope } from './scope-store.js';

/** A client with `query(text, params?, ...)` returning `{ rows, affectedRows? | rowCount? }`: PGlite, pg.Client, pg.Pool. */
export interface QueryableClient {
  /** Runs one statement with its parameters. */
  query(text: string, params?: unknown[], ...rest: unknown[]): Promise<unknown>;
}

const QUERYABLE = Symbol.for('dbkit.query.instrumentedQueryable');

function wrapQueryable<T extends object>(client: T, inst: Instrumentation, connection: QueryConnection): T {
  const raw = client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  let query: ((...a: unknown[]) => Promise<unknown>) | undefined;
  let transaction: ((...a: unknown[]) => Promise<unknown>) | undefined;
  return new Proxy(client, {
    get(t, key) {
      if (key === QUERYABLE) return inst;
      if (key === 'query' && typeof raw.query === 'function') {
        query ??= function trackedQuery(...args: unknown[]) {
          const stack = inst.callSite ? captureStack(inst.stackDepth, trackedQuery) : undefined;
          const scope = currentScope();
          const ev = new QueryEventImpl(inst.name, connection, stack, inst.ignoreFrames, scope);
          ev.sql = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text ?? '');
          ev.params = Array.isArray(args[1]) ? args[1] : [];
          ev.startedAt = Date.now();
          ev.startMs = performance.now();
          return raw.query!.apply(t, args).then(
            (res) => {
              const r = res as {
                rows?: unknown[];
                affectedRows?: number;
                rowCount?: number;
                command?: string;
              };
              const affected = r.affectedRows ?? r.rowCount;
              ev.rows =
                affected !== undefined && affected !== null && affected > 0
                  ? affected
                  : (r.rows?.length ?? null);
              ev.command = r.command ?? ev.sql.trimStart().split(/\s/, 1)[0]!.toUpperCase();
              finish(inst, ev, scope);
              return res;
            },
            (e: unknown) => {
              ev.error = e;
              finish(inst, ev, scope);
              throw e;
            },
          );
        };
        return query;
      }
      if (key === 'transaction' && typeof raw.transaction === 'function') {
        transaction ??= (...args: unknown[]) => {
          const i = args.findIndex((a) => typeof a === 'function');
          if (i >= 0) {
            const fn = args[i] as (tx: object) => unknown;
            args[i] = (tx: object) => fn(wrapQueryable(tx, inst, 'transaction'));
          }
          return raw.transaction!.apply(t, args);
        };
        return transaction;
      }
      const v = Reflect.get(t, key);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

/**
 * Instruments a `query(text, params)` client (PGlite, node-postgres) the way {@link instrument} does postgres.js:
 * events, fingerprints, call sites, trackQueries scopes. Wrap the client before handing it to drizzle.
 *
 * @example
 * ```ts
 * const db = drizzle(instrumentQueryable(new PGlite(), { onSlowQuery: console.warn }));
 * ```
 */
export function instrumentQueryable<T extends QueryableClient>(client: T, options?: InstrumentOptions): T {
  if ((client as unknown as Record<PropertyKey, unknown>)[QUERYABLE]) return client;
  return wrapQueryable(client, toInstrumentation(options), 'pool');
}
