import { captureStack } from './call-site.js';
import { finish, type Instrumentation, toInstrumentation } from './instrument.js';
import type { InstrumentOptions } from './options.js';
import { type QueryConnection, QueryEventImpl } from './query-event.js';
import { currentScope } from './scope-store.js';

/**
 * A client with `query(text, params?, ...)` returning `{ rows, affectedRows? | rowCount? }`: PGlite, pg.Client,
 * pg.Pool (also its callback form, and the clients `pool.connect()` hands out).
 */
export interface QueryableClient {
  /** Runs one statement with its parameters. */
  query(text: string, params?: unknown[], ...rest: unknown[]): Promise<unknown>;
}

const QUERYABLE = Symbol.for('dbkit.query.instrumentedQueryable');

type AnyFn = (...a: unknown[]) => unknown;
const isThenable = (x: unknown): x is Promise<unknown> =>
  x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';

function settled(
  inst: Instrumentation,
  ev: QueryEventImpl,
  scope: ReturnType<typeof currentScope>,
  res: unknown,
) {
  const r = (res ?? {}) as { rows?: unknown[]; affectedRows?: number; rowCount?: number; command?: string };
  const affected = r.affectedRows ?? r.rowCount;
  ev.rows = affected !== undefined && affected !== null && affected > 0 ? affected : (r.rows?.length ?? null);
  ev.command = r.command ?? ev.sql.trimStart().split(/\s/, 1)[0]!.toUpperCase();
  finish(inst, ev, scope);
}

function wrapQueryable<T extends object>(client: T, inst: Instrumentation, connection: QueryConnection): T {
  const raw = client as unknown as Record<string, AnyFn>;
  let query: AnyFn | undefined;
  let transaction: AnyFn | undefined;
  let connect: AnyFn | undefined;
  // pg.Pool's connect() hands out a client of its own (drizzle's node-postgres transactions run on it):
  // wrap it too, in the promise form and in the callback form `(err, client, release)`.
  const wrapClient = (c: unknown) =>
    c !== null && typeof c === 'object' && typeof (c as { query?: unknown }).query === 'function'
      ? wrapQueryable(c, inst, 'reserved')
      : c;
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
          // node-postgres' callback form (`query(text, [params,] callback)`) returns undefined.
          const last = args.length - 1;
          if (last >= 1 && typeof args[last] === 'function') {
            const cb = args[last] as AnyFn;
            args[last] = (err: unknown, res: unknown, ...more: unknown[]) => {
              if (err) {
                ev.error = err;
                finish(inst, ev, scope);
              } else settled(inst, ev, scope, res);
              return cb(err, res, ...more);
            };
            return raw.query!.apply(t, args);
          }
          const out = raw.query!.apply(t, args);
          // A submittable (pg-cursor, pg-query-stream, pg-copy-streams) comes back as is, not reported.
          if (!isThenable(out)) return out;
          return out.then(
            (res) => {
              settled(inst, ev, scope, res);
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
      if (key === 'connect' && typeof raw.connect === 'function') {
        connect ??= (...args: unknown[]) => {
          const last = args.length - 1;
          if (last >= 0 && typeof args[last] === 'function') {
            const cb = args[last] as AnyFn;
            args[last] = (err: unknown, c: unknown, ...more: unknown[]) => cb(err, wrapClient(c), ...more);
            return raw.connect!.apply(t, args);
          }
          const out = raw.connect!.apply(t, args);
          // pg.Client's own connect() resolves to undefined: nothing to wrap.
          return isThenable(out) ? out.then(wrapClient) : out;
        };
        return connect;
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
