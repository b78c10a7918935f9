import type postgres from 'postgres';
import { captureStack, type StackHolder } from './call-site.js';
import { queryTracing, slowChannel } from './channels.js';
import { type InstrumentOptions, resolveQueryOptions } from './options.js';
import { type QueryConnection, QueryEventImpl } from './query-event.js';
import { currentScope, type TrackingScope } from './scope-store.js';

/** The resolved per-client settings every hooked query refers to. */
export interface Instrumentation {
  name: string;
  slowQueryMs: number;
  callSite: boolean;
  stackDepth: number;
  ignoreFrames: ReadonlyArray<string | RegExp>;
  onQuery: ((e: QueryEventImpl) => void) | undefined;
  onSlowQuery: ((e: QueryEventImpl) => void) | undefined;
  onNPlusOne: InstrumentOptions['onNPlusOne'];
}

/** postgres.js' Query object, as far as instrumentation touches it (src/query.js in postgres 3.4). */
interface PgQuery {
  handler: (q: PgQuery) => unknown;
  resolve: (x: unknown) => void;
  reject: (e: unknown) => void;
  execute: () => unknown;
  strings: ReadonlyArray<string>;
  args: unknown[];
  string?: string;
  parameters?: unknown[];
  cursorFn?: unknown;
  cursorRows?: number;
  streaming?: boolean;
}

const INSTRUMENTED = Symbol.for('dbkit.query.instrumented');
// Template strings arrays are unique per source location: cache their call-site stack once.
const templateStacks = new WeakMap<object, StackHolder>();

const isQuery = (q: unknown): q is PgQuery =>
  q instanceof Promise &&
  typeof (q as unknown as PgQuery).handler === 'function' &&
  typeof (q as unknown as PgQuery).execute === 'function';

export function safeCall<A>(fn: ((a: A) => void) | undefined, arg: A): void {
  if (!fn) return;
  try {
    fn(arg);
  } catch (error) {
    // A listener must never break the query it observes.
    process.emitWarning(`dbkit/query listener threw: ${(error as Error)?.message ?? String(error)}`);
  }
}

export function resultRows(x: unknown): { rows: number | null; command: string | null } {
  if (Array.isArray(x)) {
    const r = x as unknown as { count?: number | null; command?: string };
    if (typeof r.command === 'string') return { rows: r.count ?? x.length, command: r.command };
    // multi-statement simple query: an array of results
    let rows = 0;
    let command: string | null = null;
    for (const part of x as Array<{ count?: number; command?: string } | undefined>) {
      rows += part?.count ?? 0;
      command = part?.command ?? command;
    }
    return { rows, command };
  }
  return { rows: null, command: null };
}

export function finish(inst: Instrumentation, ev: QueryEventImpl, scope: TrackingScope | undefined): void {
  ev.endMs = performance.now();
  ev.durationMs = ev.endMs - ev.startMs;
  ev.slow = ev.durationMs >= inst.slowQueryMs;
  scope?.record(ev, inst);
  safeCall(inst.onQuery, ev);
  if (ev.slow) {
    safeCall(inst.onSlowQuery, ev);
    if (slowChannel.hasSubscribers) slowChannel.publish(ev);
  }
  if (ev.error !== undefined) {
    if (queryTracing.error.hasSubscribers) queryTracing.error.publish(ev);
  }
  if (queryTracing.asyncEnd.hasSubscribers) queryTracing.asyncEnd.publish(ev);
}

/** Hooks one postgres.js Query: timing starts when postgres.js hands it to a connection (execution start). */
function hook(
  q: PgQuery,
  inst: Instrumentation,
  connection: QueryConnection,
  stack: StackHolder | undefined,
) {
  const scope = currentScope();
  const handler = q.handler;
  q.handler = (query) => {
    const ev = new QueryEventImpl(inst.name, connection, stack, inst.ignoreFrames);
    ev.startedAt = Date.now();
    ev.startMs = performance.now();
    ev.sql = q.strings.length === 1 && q.args.length === 0 ? (q.strings[0] ?? '') : '';
    if (q.cursorFn !== undefined || q.cursorRows !== undefined) ev.kind = 'cursor';
    let done = false;
    let resolve = q.resolve;
    let reject = q.reject;
    const settle = () => {
      // postgres.js builds the final text (with nested fragments) when it sends the query.
      ev.sql = q.string ?? (ev.sql || q.strings.join('?'));
      ev.params = q.parameters ?? q.args;
    };
    const onResolve = (x: unknown) => {
      if (!done) {
        if (x !== null && typeof x === 'object' && typeof (x as { pipe?: unknown }).pipe === 'function') {
          // COPY: the stream comes first; the command result follows when the copy completes.
          ev.kind = 'copy';
        } else {
          done = true;
          settle();
          const r = resultRows(x);
          ev.rows = r.rows;
          ev.command = r.command;
          finish(inst, ev, scope);
        }
      }
      return resolve(x);
    };
    const onReject = (e: unknown) => {
      if (!done) {
        done = true;
        settle();
        ev.error = e;
        finish(inst, ev, scope);
      }
      return reject(e);
    };
    if (ev.kind === 'cursor') {
      // Cursor iteration replaces resolve/reject on every batch; keep ours in front of them.
      Object.defineProperty(q, 'resolve', {
        get: () => onResolve,
        set: (v) => (resolve = v),
        configurable: true,
      });
      Object.defineProperty(q, 'reject', {
        get: () => onReject,
        set: (v) => (reject = v),
        configurable: true,
      });
    } else {
      q.resolve = onResolve;
      q.reject = onReject;
    }
    if (queryTracing.start.hasSubscribers) queryTracing.start.publish(ev);
    return handler(query);
  };
}

function stackFor(inst: Instrumentation, below: Function, strings?: object): StackHolder | undefined {
  if (!inst.callSite) return undefined;
  if (strings) {
    let s = templateStacks.get(strings);
    if (!s) {
      s = captureStack(inst.stackDepth, below);
      templateStacks.set(strings, s);
    }
    return s;
  }
  return captureStack(inst.stackDepth, below);
}

type AnyFn = (...args: unknown[]) => unknown;

function wrapSql<T extends object>(target: T, inst: Instrumentation, connection: QueryConnection): T {
  const fns = new Map<PropertyKey, unknown>();
  const raw = target as unknown as Record<PropertyKey, AnyFn>;
  const wrapFactory = (key: 'unsafe' | 'file') => {
    const orig = raw[key]!;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      const q = orig.apply(target, args);
      if (isQuery(q)) hook(q, inst, connection, stackFor(inst, wrapped));
      return q;
    };
    return wrapped;
  };
  const wrapScoped = (key: 'begin' | 'savepoint', as: QueryConnection) => {
    const orig = raw[key]!;
    return (...args: unknown[]) => {
      const i = args.findIndex((a) => typeof a === 'function');
      if (i >= 0) {
        const fn = args[i] as AnyFn;
        args[i] = (tx: object) => fn(wrapSql(tx, inst, as));
      }
      return orig.apply(target, args);
    };
  };
  function applyTrap(t: T, thisArg: unknown, args: unknown[]) {
    const q = Reflect.apply(t as AnyFn, thisArg, args);
    if (isQuery(q)) {
      const strings = args[0] as { raw?: unknown } | undefined;
      // Stack frames above the trap belong to the caller; captureStackTrace cuts at the trap itself.
      hook(q, inst, connection, stackFor(inst, applyTrap, strings));
    }
    return q;
  }
  const proxy: T = new Proxy(target, {
    apply: applyTrap,
    get(t, key) {
      if (key === INSTRUMENTED) return inst;
      const cached = fns.get(key);
      if (cached) return cached;
      if (typeof raw[key as string] !== 'function') return Reflect.get(t, key);
      let v: unknown;
      if (key === 'unsafe' || key === 'file') v = wrapFactory(key);
      else if (key === 'begin') v = wrapScoped('begin', 'transaction');
      else if (key === 'savepoint') v = wrapScoped('savepoint', connection);
      else if (key === 'reserve') {
        const orig = raw.reserve!;
        v = async () => {
          const reserved = (await orig.call(target)) as object;
          return wrapSql(reserved, inst, 'reserved');
        };
      } else return Reflect.get(t, key);
      fns.set(key, v);
      return v;
    },
  });
  return proxy;
}

/**
 * Wraps a postgres.js instance so every query (tagged templates, `unsafe`, `file`, drizzle on top of it,
 * `begin`/`savepoint` transactions, `reserve()`d connections, COPY streams and cursors) reports its duration,
 * rows, fingerprint and call site. The returned object is used exactly like the original.
 *
 * @example
 * ```ts
 * const sql = instrument(postgres(url), { slowQueryMs: 100, onSlowQuery: (e) => log.warn(e.fingerprint, e.durationMs) });
 * const db = drizzle(sql); // drizzle queries are tracked too
 * ```
 */
export function instrument<T extends postgres.Sql>(sql: T, options?: InstrumentOptions): T {
  const existing = (sql as unknown as Record<PropertyKey, unknown>)[INSTRUMENTED];
  if (existing) return sql;
  return wrapSql(sql, toInstrumentation(options), 'pool');
}

/** Resolves instrument options into the settings hooked queries refer to (shared with instrumentQueryable). */
export function toInstrumentation(options: InstrumentOptions | undefined): Instrumentation {
  const o = resolveQueryOptions('instrument', options);
  return {
    name: o.name,
    slowQueryMs: o.slowQueryMs,
    callSite: o.callSite,
    stackDepth: o.stackDepth,
    ignoreFrames: o.ignoreFrames,
    onQuery: o.onQuery,
    onSlowQuery: o.onSlowQuery,
    onNPlusOne: o.onNPlusOne,
  };
}

/**
 * True when `sql` was returned by {@link instrument}.
 *
 * @example
 * ```ts
 * if (!isInstrumented(sql)) sql = instrument(sql)
 * ```
 */
export function isInstrumented(sql: unknown): boolean {
  return (
    (typeof sql === 'function' || typeof sql === 'object') &&
    sql !== null &&
    (sql as Record<PropertyKey, unknown>)[INSTRUMENTED] !== undefined
  );
}
