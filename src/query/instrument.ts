import type postgres from 'postgres';
import {
  findSubscriber,
  type PgHookSubscriber,
  type PgQueryHook,
  withSubscriber,
} from '../internal/pg-hooks.js';
import { captureStack, firstUserFrame, type StackHolder } from './call-site.js';
import { queryTracing, slowChannel } from './channels.js';
import { type InstrumentOptions, resolveQueryOptions } from './options.js';
import { QueryEventImpl } from './query-event.js';
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
  /** Call-site stacks per template strings array and per unsafe() text (see stackFor). */
  templateStacks: WeakMap<object, StackHolder>;
  lastStrings: object | undefined;
  lastStack: StackHolder | undefined;
  textStacks: Map<string, CachedStack>;
}

// Every instrument() is the same wrapper kind: instrumenting an instrumented client returns it unchanged.
const TRACKING = Symbol.for('dbkit.query.tracking');
// Wall-clock start = origin + monotonic start: one clock read per query instead of two.
const TIME_ORIGIN = performance.timeOrigin;

export function safeCall<A>(fn: ((a: A) => void) | undefined, arg: A): void {
  if (!fn) return;
  try {
    fn(arg);
  } catch (error) {
    // A listener must never break the query it observes.
    process.emitWarning(`dbkit/query listener threw: ${(error as Error)?.message ?? String(error)}`);
  }
}

/** Sets rows and command from a postgres.js result (without allocating, per query). */
function setResultRows(ev: QueryEventImpl, x: unknown): void {
  if (!Array.isArray(x)) return;
  const r = x as unknown as { count?: number | null; command?: string };
  if (typeof r.command === 'string') {
    ev.rows = r.count ?? x.length;
    ev.command = r.command;
    return;
  }
  const m = resultRows(x);
  ev.rows = m.rows;
  ev.command = m.command;
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

export function finish(
  inst: Instrumentation,
  ev: QueryEventImpl,
  scope: TrackingScope | undefined,
  endMs: number = performance.now(),
): void {
  ev.endMs = endMs;
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

/** Call-site stacks per SQL text given to `unsafe()` (drizzle's path), so most queries capture none. */
const TEXT_STACKS_MAX = 2000;
const TEXT_CACHE_MAX_CHARS = 8192;
// A cached stack without a user frame (a drizzle builder awaited directly: V8 runs its `then` from a
// microtask, with no caller frames) is captured again on the next executions, this many times at most.
const RECAPTURES = 3;

/** A cached call-site stack and whether it is settled (has a user frame, or ran out of recaptures). */
export interface CachedStack {
  holder: StackHolder;
  tries: number;
  settled: boolean;
}

/**
 * The call site of a query, captured once per template literal (its strings array is unique per source
 * location) or per distinct `unsafe()` text, not per execution: capturing a stack costs ~10 us on drizzle's
 * deep stacks, more than the rest of the instrumentation together. Queries with the same text issued from
 * different places report the first place; texts longer than 8 KB (generated bulk statements) are captured
 * each time.
 */
function stackFor(inst: Instrumentation, h: PgQueryHook): StackHolder | undefined {
  if (!inst.callSite) return undefined;
  const { strings, text } = h;
  if (strings) {
    // A loop runs one template again and again: skip the WeakMap for a repeat of the last one.
    if (strings === inst.lastStrings) return inst.lastStack;
    let s = inst.templateStacks.get(strings);
    if (!s) {
      s = captureStack(inst.stackDepth, h.below);
      inst.templateStacks.set(strings, s);
    }
    inst.lastStrings = strings;
    inst.lastStack = s;
    return s;
  }
  if (text !== undefined && text.length <= TEXT_CACHE_MAX_CHARS) {
    const cached = inst.textStacks.get(text);
    if (!cached) {
      const holder = captureStack(inst.stackDepth, h.below);
      if (inst.textStacks.size >= TEXT_STACKS_MAX) inst.textStacks.clear();
      inst.textStacks.set(text, { holder, tries: 1, settled: false });
      return holder;
    }
    if (!cached.settled) {
      if (cached.tries >= RECAPTURES || firstUserFrame(cached.holder, inst.ignoreFrames) !== undefined)
        cached.settled = true;
      else {
        cached.tries++;
        cached.holder = captureStack(inst.stackDepth, h.below);
      }
    }
    return cached.holder;
  }
  return captureStack(inst.stackDepth, h.below);
}

function newEvent(
  inst: Instrumentation,
  h: PgQueryHook,
  stack: StackHolder | undefined,
  scope: TrackingScope | undefined,
): QueryEventImpl {
  return new QueryEventImpl(inst.name, h.view.connection, stack, inst.ignoreFrames, scope);
}

function setStart(ev: QueryEventImpl, h: PgQueryHook): void {
  ev.startMs = h.startMs;
  ev.startedAt = TIME_ORIGIN + h.startMs;
  const q = h.query;
  ev.sql = q.strings.length === 1 && q.args.length === 0 ? (q.strings[0] ?? '') : '';
  ev.kind = h.kind;
}

/**
 * The hook-layer subscriber of one instrument() call: one QueryEvent per query that someone sees (an onQuery
 * listener, a trackQueries scope, a slow query, a tracing-channel subscriber). Other queries keep only their
 * call-site stack holder (taken in the caller's frame, cached per template or text) until they settle.
 */
function trackingSubscriber(inst: Instrumentation): PgHookSubscriber {
  return {
    key: TRACKING,
    created(h) {
      // The scope and the stack belong to the caller: take both while still in its frame.
      const stack = stackFor(inst, h);
      const scope = currentScope();
      return scope === undefined ? stack : newEvent(inst, h, stack, scope);
    },
    start(h, created) {
      let ev: QueryEventImpl;
      if (created instanceof QueryEventImpl) ev = created;
      else if (queryTracing.start.hasSubscribers) ev = newEvent(inst, h, created as StackHolder, undefined);
      else return created;
      setStart(ev, h);
      if (queryTracing.start.hasSubscribers) queryTracing.start.publish(ev);
      return ev;
    },
    end(h, started) {
      let ev: QueryEventImpl;
      if (started instanceof QueryEventImpl) ev = started;
      else {
        // Nobody would see this event: no listener, no scope, not slow, no channel subscriber.
        if (
          inst.onQuery === undefined &&
          h.endMs - h.startMs < inst.slowQueryMs &&
          !queryTracing.asyncEnd.hasSubscribers &&
          !(h.error !== undefined && queryTracing.error.hasSubscribers)
        )
          return;
        ev = newEvent(inst, h, started as StackHolder | undefined, undefined);
        setStart(ev, h);
      }
      const q = h.query;
      // postgres.js builds the final text (with nested fragments) when it sends the query.
      ev.sql = q.string ?? (ev.sql || q.strings.join('?'));
      ev.params = q.parameters ?? q.args;
      ev.kind = h.kind;
      if (h.error !== undefined) ev.error = h.error;
      else setResultRows(ev, h.result);
      finish(inst, ev, ev.scope, h.endMs);
    },
  };
}

let warnedAlready = false;

/**
 * Wraps a postgres.js instance so every query (tagged templates, `unsafe`, `file`, drizzle on top of it,
 * `begin`/`savepoint` transactions, `reserve()`d connections, COPY streams and cursors) reports its duration,
 * rows, fingerprint and call site. The returned object is used exactly like the original. A client that is
 * already instrumented (the client manager's `sql()`, or a second call) is returned unchanged; options given
 * then are ignored, with a one-time process warning (`DBKIT_ALREADY_INSTRUMENTED`).
 *
 * @example
 * ```ts
 * const sql = instrument(postgres(url), { slowQueryMs: 100, onSlowQuery: (e) => log.warn(e.fingerprint, e.durationMs) });
 * const db = drizzle(sql); // drizzle queries are tracked too
 * ```
 */
export function instrument<T extends postgres.Sql>(sql: T, options?: InstrumentOptions): T {
  if (findSubscriber(sql, TRACKING)) {
    if (options && Object.keys(options).length > 0 && !warnedAlready) {
      warnedAlready = true;
      process.emitWarning(
        'instrument() got a client that is already instrumented and returned it unchanged: these options are ignored (for the client manager, pass them as config.track)',
        { code: 'DBKIT_ALREADY_INSTRUMENTED' },
      );
    }
    return sql;
  }
  return withSubscriber(sql, trackingSubscriber(toInstrumentation(options)));
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
    templateStacks: new WeakMap(),
    lastStrings: undefined,
    lastStack: undefined,
    textStacks: new Map(),
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
  return findSubscriber(sql, TRACKING) !== undefined;
}
