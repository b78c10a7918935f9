/**
 * One lifecycle hook layer for postgres.js, shared by dbkit/query (query tracking) and dbkit/monitoring
 * (pool statistics).
 *
 * postgres.js has no query hooks, so something has to patch its Query objects. Doing that once per wrapper
 * broke as soon as two wrappers were stacked: both replaced `resolve`/`reject` with accessors that called each
 * other (a RangeError on the first query). Here every wrapper is a *subscriber* on a *view* of the raw client:
 *
 * - A view is one function over the raw postgres.js instance carrying an ordered list of subscribers, with the
 *   raw object's own properties (see makeView: not a Proxy, for speed). Wrapping a view again never stacks
 *   views: it makes a new view over the same raw client with one more subscriber (or returns the view
 *   unchanged when a subscriber with the same key is already on it).
 * - Every query created through a view is patched exactly once: its `handler` (postgres.js calls it when the
 *   query is handed to a connection, or queued for one) marks the start, and `resolve`/`reject` mark the end.
 *   Cursors replace `resolve`/`reject` on every batch (src/query.js `cursor()`), so only for them the
 *   two properties become accessors that keep our hook in front.
 * - `notify()` runs its `select pg_notify(...)` through the view (postgres.js runs it on the raw client).
 * - `begin` (and `savepoint` inside it) hand the callback a transaction view; `reserve()` returns a reserved
 *   view whose `release()` ends the reservation. Subscribers hear about transactions and reservations as
 *   scopes, and about the queries inside them with `holdsSlot: false` (their connection is already taken).
 *
 * Queries through the raw client (or another view) are not seen by this view's subscribers.
 */

/** Where a query runs: a pooled connection, inside `sql.begin`, or on a `sql.reserve()` connection. */
export type PgConnectionKind = 'pool' | 'transaction' | 'reserved';
/** How the query ran: a normal query, COPY through a stream, or a cursor. */
export type PgQueryKind = 'query' | 'copy' | 'cursor';
/** What a scope subscriber is told about. */
export type PgScopeKind = 'transaction' | 'reservation';

/** postgres.js' Query object, as far as the hooks touch it (src/query.js in postgres 3.4). */
export interface PgQuery {
  handler: (q: PgQuery) => unknown;
  resolve: (x?: unknown) => unknown;
  reject: (e: unknown) => unknown;
  strings: ReadonlyArray<string>;
  args: unknown[];
  /** The final SQL text, set by postgres.js when it builds the query for sending. */
  string?: string;
  /** The serialized parameters, set when sent. */
  parameters?: unknown[];
  cursorFn?: unknown;
  cursorRows?: number;
  cancelled?: unknown;
}

/** What every view knows about where its queries run. */
export interface PgViewInfo {
  readonly connection: PgConnectionKind;
  /** True when a query on this view needs a pool connection of its own (false inside begin/reserve). */
  readonly holdsSlot: boolean;
}

/** One query as all subscribers of its view see it (one object per query, shared by them). */
export interface PgQueryHook {
  readonly query: PgQuery;
  readonly view: PgViewInfo;
  /** The template strings array of a tagged-template query (unique per source location). */
  readonly strings: object | undefined;
  /** The SQL text given to `unsafe()` (undefined for tagged templates and `file()`). */
  readonly text: string | undefined;
  /** The wrapper function the caller called: `Error.captureStackTrace(x, below)` cuts dbkit's frames. */
  readonly below: Function;
  /** performance.now() when postgres.js took the query (start) and when it settled (end). */
  readonly startMs: number;
  readonly endMs: number;
  readonly kind: PgQueryKind;
  /** The settled value (a postgres.js Result, an array of them, or a describe() statement). */
  readonly result: unknown;
  /** The rejection reason; undefined on success. */
  readonly error: unknown;
}

/**
 * A wrapper's callbacks. Each may keep per-query state: what `created` returns is passed to `start`, and what
 * `start` returns is passed to `end`. Callbacks must be cheap; an exception is reported as a warning and
 * never reaches the query.
 */
export interface PgHookSubscriber {
  /** Subscribers with the same key are one wrapper: a view never carries two of them. */
  readonly key: unknown;
  /** At query creation, synchronously in the caller's stack and async context. */
  created?(h: PgQueryHook): unknown;
  /** postgres.js handed the query to a connection (or queued it for one). */
  start?(h: PgQueryHook, created: unknown): unknown;
  /** The query settled (for COPY: when the copy completed; for cursors: after the last batch). */
  end?(h: PgQueryHook, started: unknown): void;
  /** A transaction (`begin`) or reservation (`reserve`) started on a view with this subscriber. */
  scopeStart?(kind: PgScopeKind, view: PgViewInfo): unknown;
  /** It ended (`error` is the rejection of begin, or of reserve() itself). */
  scopeEnd?(kind: PgScopeKind, token: unknown, error: unknown): void;
}

/** A view's state, reachable from the view through {@link viewState}. */
export interface PgViewState extends PgViewInfo {
  /** The postgres.js object the view forwards to (the pool, a transaction or a reserved connection). */
  readonly raw: object;
  readonly subscribers: ReadonlyArray<PgHookSubscriber>;
  /** Properties the view answers itself (a reserved view's `release`). Kept by views derived from it. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

// Every view's state, in one WeakMap per process under a Symbol.for key: the ESM and CJS builds of dbkit loaded
// in one process recognise each other's views.
const REGISTRY_KEY = Symbol.for('dbkit.pg-hooks.views');
const holder = globalThis as Record<PropertyKey, unknown>;
holder[REGISTRY_KEY] ??= new WeakMap<object, PgViewState>();
const registry = holder[REGISTRY_KEY] as WeakMap<object, PgViewState>;
// The names of the hooked entry points.
const HOOKED = ['unsafe', 'file', 'begin', 'savepoint', 'reserve', 'notify'] as const;

type AnyFn = (...args: unknown[]) => unknown;
// The template of postgres.js' notify(): `select pg_notify(${channel}, ${'' + payload})`.
const NOTIFY = Object.assign(['select pg_notify(', ', ', ')'], {
  raw: ['select pg_notify(', ', ', ')'],
}) as unknown as TemplateStringsArray;
const noop = () => undefined;

function warn(where: string, error: unknown): void {
  process.emitWarning(
    `dbkit: a postgres.js hook (${where}) threw: ${(error as Error)?.message ?? String(error)}`,
  );
}

// The hook record of a query, on the query itself: postgres.js calls `query.handler(query)`,
// `query.resolve(x)` and `query.reject(e)` as methods, so one shared function per view (handler) and one per
// process (resolve, reject) find it there, and nothing is allocated per query but the record.
const HOOK = Symbol('dbkit.pg-hooks.query');
// QueryHook.state
const CREATED = 0;
const STARTED = 1;
const DONE = 2;

interface HookedQuery extends PgQuery {
  [HOOK]: QueryHook;
}

class QueryHook implements PgQueryHook {
  startMs = 0;
  endMs = 0;
  kind: PgQueryKind = 'query';
  result: unknown = undefined;
  error: unknown = undefined;
  state = CREATED;
  // The subscribers' per-query values (what created/start returned): the first three inline, no array.
  s0: unknown = undefined;
  s1: unknown = undefined;
  s2: unknown = undefined;
  more: unknown[] | undefined = undefined;
  /** postgres.js' own resolve/reject (taken at start), called after the subscribers heard of the end. */
  resolve: (x?: unknown) => unknown = noop;
  reject: (e: unknown) => unknown = noop;
  constructor(
    readonly query: PgQuery,
    readonly view: PgViewState,
    readonly strings: object | undefined,
    readonly text: string | undefined,
    readonly below: Function,
    /** postgres.js' handler of the query (its client's, transaction's or reserved connection's). */
    readonly handler: (q: PgQuery) => unknown,
  ) {}
}

function getSlot(h: QueryHook, i: number): unknown {
  return i === 0 ? h.s0 : i === 1 ? h.s1 : i === 2 ? h.s2 : h.more?.[i - 3];
}

function setSlot(h: QueryHook, i: number, v: unknown): void {
  if (i === 0) h.s0 = v;
  else if (i === 1) h.s1 = v;
  else if (i === 2) h.s2 = v;
  else {
    h.more ??= [];
    h.more[i - 3] = v;
  }
}

const isStream = (x: unknown): boolean =>
  x !== null && typeof x === 'object' && typeof (x as { pipe?: unknown }).pipe === 'function';

function endQuery(h: QueryHook): void {
  h.state = DONE;
  h.endMs = performance.now();
  const subs = h.view.subscribers;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (s.end === undefined) continue;
    try {
      s.end(h, getSlot(h, i));
    } catch (e) {
      warn('end', e);
    }
  }
}

/** The query's resolve while hooked (postgres.js calls it as `query.resolve(x)`). */
function hookedResolve(this: HookedQuery, x?: unknown): unknown {
  const h = this[HOOK];
  // COPY resolves twice: first with the stream, then with the command result when the copy completes.
  if (h.state !== DONE) {
    if (isStream(x)) h.kind = 'copy';
    else {
      h.result = x;
      endQuery(h);
    }
  }
  return h.resolve.call(this, x);
}

/** The query's reject while hooked. */
function hookedReject(this: HookedQuery, e: unknown): unknown {
  const h = this[HOOK];
  if (h.state !== DONE) {
    h.error = e;
    endQuery(h);
  }
  return h.reject.call(this, e);
}

// A cursor's iterator assigns new resolve/reject on every batch (src/query.js cursor()): for cursors the two
// properties become accessors that keep ours in front and hand what is assigned to the record.
const CURSOR_RESOLVE: PropertyDescriptor = {
  get: () => hookedResolve,
  set(this: HookedQuery, v: (x?: unknown) => unknown) {
    this[HOOK].resolve = v;
  },
  configurable: true,
};
const CURSOR_REJECT: PropertyDescriptor = {
  get: () => hookedReject,
  set(this: HookedQuery, v: (e: unknown) => unknown) {
    this[HOOK].reject = v;
  },
  configurable: true,
};

function startQuery(h: QueryHook, q: PgQuery): void {
  h.state = STARTED;
  h.startMs = performance.now();
  if (q.cursorFn !== undefined || q.cursorRows !== undefined) h.kind = 'cursor';
  const subs = h.view.subscribers;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (s.start === undefined) continue;
    try {
      setSlot(h, i, s.start(h, getSlot(h, i)));
    } catch (e) {
      warn('start', e);
    }
  }
  h.resolve = q.resolve;
  h.reject = q.reject;
  if (h.kind === 'cursor') {
    Object.defineProperty(q, 'resolve', CURSOR_RESOLVE);
    Object.defineProperty(q, 'reject', CURSOR_REJECT);
  } else {
    q.resolve = hookedResolve;
    q.reject = hookedReject;
  }
}

/**
 * The handler of a view's queries (one function per view): postgres.js calls `query.handler(query)` when the
 * query is executed.
 */
function viewHandler(): (q: PgQuery) => unknown {
  // Anonymous: see hookedEntry (keepNames).
  return (query: PgQuery): unknown => {
    const h = (query as HookedQuery)[HOOK];
    // postgres.js 3.4 bug: a query cancelled before it ran is rejected at once, but awaiting it still
    // dispatches it; Connection.execute() then returns early and the pool moves the connection to its
    // `full` queue, where nothing ever frees it (a pool of max 1 hangs for good). It is already settled:
    // do not dispatch it.
    if (query.cancelled === true) return undefined;
    // cancel() before the query ran rejects it without a start; a retried query is not started twice.
    if (h.state === CREATED && !query.cancelled) startQuery(h, query);
    return h.handler(query);
  };
}

function hookQuery(
  q: PgQuery,
  view: PgViewState,
  handle: (q: PgQuery) => unknown,
  strings: object | undefined,
  text: string | undefined,
  below: Function,
): void {
  const handler = q.handler;
  const h = new QueryHook(q, view, strings, text, below, handler);
  (q as HookedQuery)[HOOK] = h;
  const subs = view.subscribers;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (s.created === undefined) continue;
    try {
      setSlot(h, i, s.created(h));
    } catch (e) {
      warn('created', e);
    }
  }
  // Query.origin reads `handler.debug` (postgres.js' `debug` option) for error stacks.
  const debug = (handler as { debug?: unknown }).debug;
  // file() queries carry a per-query closure of postgres.js without `debug`: it must not switch it off.
  if (debug !== undefined && (handle as { debug?: unknown }).debug !== debug)
    (handle as { debug?: unknown }).debug = debug;
  q.handler = handle;
}

const isQuery = (q: unknown): q is PgQuery =>
  q instanceof Promise && typeof (q as unknown as PgQuery).handler === 'function';

function scopeStart(view: PgViewState, kind: PgScopeKind): unknown[] {
  const subs = view.subscribers;
  const tokens = new Array<unknown>(subs.length);
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (!s.scopeStart) continue;
    try {
      tokens[i] = s.scopeStart(kind, view);
    } catch (e) {
      warn('scopeStart', e);
    }
  }
  return tokens;
}

function scopeEnd(view: PgViewState, kind: PgScopeKind, tokens: unknown[], error: unknown): void {
  const subs = view.subscribers;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (!s.scopeEnd) continue;
    try {
      s.scopeEnd(kind, tokens[i], error);
    } catch (e) {
      warn('scopeEnd', e);
    }
  }
}

/** Wraps the function argument of begin()/savepoint() so the callback gets a view of its connection. */
function scopedArgs(args: unknown[], view: PgViewState, connection: PgConnectionKind): unknown[] {
  const i = args.findIndex((a) => typeof a === 'function');
  if (i >= 0) {
    const fn = args[i] as AnyFn;
    args[i] = (tx: object) => fn(makeView(inner(view, tx, connection), true));
  }
  return args;
}

/** The state of a view over a transaction, savepoint or reserved connection opened from `view`. */
function inner(view: PgViewState, raw: object, connection: PgConnectionKind): PgViewState {
  return { raw, subscribers: view.subscribers, connection, holdsSlot: false };
}

const isHooked = (key: string): key is (typeof HOOKED)[number] =>
  (HOOKED as ReadonlyArray<string>).includes(key);

/**
 * A view's function for one hooked entry point of its raw object. Module-level, and every function it makes is
 * returned anonymous: dbkit's bundle keeps function names (esbuild `keepNames`), which costs a
 * `defineProperty` for every named closure made, and a scoped view is made per transaction.
 */
function hookedEntry(
  key: (typeof HOOKED)[number],
  state: PgViewState,
  view: AnyFn,
  handle: (q: PgQuery) => unknown,
): AnyFn {
  const raw = state.raw as Record<PropertyKey, AnyFn>;
  switch (key) {
    case 'unsafe':
    case 'file':
      return queryEntry(key, state, handle);
    case 'begin':
      return (...args: unknown[]) => {
        const tokens = scopeStart(state, 'transaction');
        let p: Promise<unknown>;
        try {
          p = raw.begin!.apply(state.raw, scopedArgs(args, state, 'transaction')) as Promise<unknown>;
        } catch (e) {
          scopeEnd(state, 'transaction', tokens, e);
          throw e;
        }
        return p.then(
          (v) => {
            scopeEnd(state, 'transaction', tokens, undefined);
            return v;
          },
          (e: unknown) => {
            scopeEnd(state, 'transaction', tokens, e);
            throw e;
          },
        );
      };
    case 'savepoint':
      return (...args: unknown[]) => {
        const first = args[0] as { raw?: unknown } | undefined;
        // savepoint`...` runs one statement in a savepoint: run it through the savepoint's view.
        if (first && typeof first === 'object' && Array.isArray(first.raw))
          return raw.savepoint!.call(state.raw, (sp: object) =>
            makeView<AnyFn>(inner(state, sp, state.connection), true)(...args),
          );
        return raw.savepoint!.apply(state.raw, scopedArgs(args, state, state.connection));
      };
    case 'reserve':
      return async (...args: unknown[]) => {
        const tokens = scopeStart(state, 'reservation');
        let reserved: Record<string, AnyFn>;
        try {
          reserved = (await raw.reserve!.apply(state.raw, args)) as Record<string, AnyFn>;
        } catch (e) {
          scopeEnd(state, 'reservation', tokens, e);
          throw e;
        }
        return makeView(
          {
            ...inner(state, reserved, 'reserved'),
            overrides: { release: releaseOnce(state, tokens, reserved) },
          },
          true,
        );
      };
    case 'notify':
      // postgres.js' notify() runs this very query on its own raw client, out of the subscribers' sight
      // (src/index.js notify()); run it through the view instead.
      return async (channel: unknown, payload: unknown) =>
        await (view as unknown as (s: TemplateStringsArray, ...a: unknown[]) => Promise<unknown>)(
          NOTIFY,
          channel,
          `${payload}`,
        );
  }
}

/** A reserved view's release(): ends the reservation scope once, then releases the connection. */
function releaseOnce(state: PgViewState, tokens: unknown[], reserved: Record<string, AnyFn>): AnyFn {
  let released = false;
  return () => {
    if (!released) {
      released = true;
      scopeEnd(state, 'reservation', tokens, undefined);
    }
    return reserved.release!();
  };
}

/** The view's unsafe() or file(): postgres.js' function, and the query it makes hooked. */
function queryEntry(key: 'unsafe' | 'file', state: PgViewState, handle: (q: PgQuery) => unknown): AnyFn {
  const orig = (state.raw as Record<string, AnyFn>)[key]!;
  // `below` for call-site stacks: this very function (a member assignment names nothing for keepNames).
  const self: { fn: AnyFn } = { fn: orig };
  // Named parameters and postgres.js' own arity (unsafe() and file() read arguments.length), not a rest
  // array passed on with apply(): with that, every query's objects survived young-generation GCs (V8
  // kept them alive until the next full GC), which cost ~10 us per query in a tight loop.
  self.fn = function (this: unknown, a?: unknown, b?: unknown, c?: unknown): unknown {
    // biome-ignore lint/complexity/noArguments: the caller's arity, without a rest array (see above)
    const n = arguments.length;
    const q =
      n === 1
        ? orig.call(state.raw, a)
        : n === 2
          ? orig.call(state.raw, a, b)
          : n === 3
            ? orig.call(state.raw, a, b, c)
            : // biome-ignore lint/complexity/noArguments: more than three arguments, rare
              orig.apply(state.raw, Array.prototype.slice.call(arguments));
    if (isQuery(q))
      hookQuery(
        q,
        state,
        handle,
        undefined,
        key === 'unsafe' && typeof a === 'string' ? a : undefined,
        self.fn,
      );
    return q;
  };
  return self.fn;
}

/**
 * A view is a real function, not a Proxy: calling a Proxy (even one with no traps) made every query's objects
 * survive V8's young-generation collections in postgres.js' hot path (measured on a canned-reply socket with
 * no server in the loop: scavenges of 3.5-4 ms instead of 0.4-0.6 ms, +2-4 us per `select 1`), which was most of
 * the hook layer's cost. So the view mirrors the raw object's own properties (same keys, order and attributes:
 * spreading, describing and `Reflect.ownKeys` see what they see on the raw client, on postgres.js' strict ESM
 * and sloppy-mode CJS builds alike), with its own functions in place of the ones it hooks. postgres.js assigns
 * its properties before it hands a client, transaction or reserved connection out; a property replaced on the
 * raw object later is not seen through the view, and a property set on the view stays on the view.
 * - A pool's view (made once per wrapper) inherits from a carrier whose prototype is the raw object: a
 *   property added to the raw client later is read through the view, and hooked functions the raw client only
 *   inherits (a lazy client behind a Proxy or a prototype) are hooked on the carrier.
 * - A scoped view (a transaction, savepoint or reservation: one per scope, so its cost counts, ~4 us) copies
 *   postgres.js' enumerable data properties and defines only the function's own intrinsics (prototype, and
 *   the CJS build's arguments/caller); it keeps Function.prototype.
 */
function makeView<T extends object>(state: PgViewState, scoped = false): T {
  const overrides = state.overrides;
  const raw = state.raw as AnyFn & Record<PropertyKey, AnyFn>;
  const handle = viewHandler();
  // The caller's arity, without a rest array (see factory below).
  const fn = {
    // One declared parameter, like postgres.js' sql(strings, ...args): `length` and `name` are already the raw
    // function's (the defaults do not count in `length`).
    sql(
      a?: unknown,
      b: unknown = undefined,
      c: unknown = undefined,
      d: unknown = undefined,
      e: unknown = undefined,
      f: unknown = undefined,
    ): unknown {
      // biome-ignore lint/complexity/noArguments: the caller's arity, without a rest array
      const n = arguments.length;
      const q =
        n === 1
          ? raw(a)
          : n === 2
            ? raw(a, b)
            : n === 3
              ? raw(a, b, c)
              : n === 4
                ? raw(a, b, c, d)
                : n === 5
                  ? raw(a, b, c, d, e)
                  : n === 6
                    ? raw(a, b, c, d, e, f)
                    : // biome-ignore lint/complexity/noArguments: none or more than six arguments
                      Reflect.apply(raw, undefined, Array.prototype.slice.call(arguments));
      const strings = a as { raw?: unknown } | null | undefined;
      // Only a tagged template makes a Query; sql('name') and sql([...]) make helpers.
      if (strings != null && typeof strings === 'object' && strings.raw !== undefined && isQuery(q))
        hookQuery(q, state, handle, strings, undefined, view);
      return q;
    },
  }.sql as AnyFn;
  // A raw object that cannot be called (a lazy client behind an object) gets a view that cannot be either.
  const view: AnyFn = typeof raw === 'function' ? fn : (Object.create(null) as AnyFn);
  if (scoped && typeof raw === 'function') {
    // postgres.js' objects: the function's own intrinsics, then its enumerable data properties.
    if (view.length !== raw.length) Object.defineProperty(view, 'length', { value: raw.length });
    if (view.name !== raw.name) Object.defineProperty(view, 'name', { value: raw.name });
    // A sloppy-mode function's own `arguments` and `caller` are native accessors that walk the stack when
    // read (~8 us each): define what they report outside a call instead of reading them.
    if (Object.hasOwn(raw, 'arguments')) Object.defineProperty(view, 'arguments', { value: null });
    if (Object.hasOwn(raw, 'caller')) Object.defineProperty(view, 'caller', { value: null });
    if (Object.hasOwn(raw, 'prototype'))
      Object.defineProperty(view, 'prototype', { value: raw.prototype, writable: true });
    // Not Object.assign: it reads every own property's descriptor, the stack-walking ones included (~17 us).
    const target = view as unknown as Record<string, unknown>;
    for (const key of Object.keys(raw)) target[key] = raw[key];
    for (const key of HOOKED)
      if (typeof raw[key] === 'function')
        (view as unknown as Record<string, unknown>)[key] = hookedEntry(key, state, view, handle);
  } else {
    // The method's own `length` and `name` go, so the keys come in the raw object's order.
    for (const key of Reflect.ownKeys(view)) delete (view as unknown as Record<PropertyKey, unknown>)[key];
    const descriptors = Object.getOwnPropertyDescriptors(raw);
    for (const key of Reflect.ownKeys(descriptors)) {
      const d = descriptors[key as string]!;
      if (typeof key === 'string' && 'value' in d && typeof d.value === 'function' && isHooked(key))
        d.value = hookedEntry(key, state, view, handle);
      Object.defineProperty(view, key, d);
    }
    const carrier = Object.create(raw) as Record<PropertyKey, unknown>;
    // Hooked functions the raw object has but not as its own data properties are hooked here.
    for (const key of HOOKED)
      if (!Object.hasOwn(view, key) && typeof raw[key] === 'function')
        Object.defineProperty(carrier, key, {
          value: hookedEntry(key, state, view, handle),
          writable: true,
          configurable: true,
        });
    Object.setPrototypeOf(view, carrier);
  }
  if (overrides)
    for (const key of Object.keys(overrides))
      (view as unknown as Record<string, unknown>)[key] = overrides[key];
  registry.set(view, state);
  return view as unknown as T;
}

/**
 * The view state of `sql`, or undefined when `sql` is not a view.
 *
 * @example
 * ```ts
 * viewState(instrument(sql))?.subscribers.length // 1
 * ```
 */
export function viewState(sql: unknown): PgViewState | undefined {
  if ((typeof sql !== 'function' && typeof sql !== 'object') || sql === null) return undefined;
  return registry.get(sql);
}

/**
 * The raw postgres.js object under a view (the argument itself when it is not a view).
 *
 * @example
 * ```ts
 * await rawSql(monitored)`select 1` // not counted by the monitor
 * ```
 */
export function rawSql<T>(sql: T): T {
  return (viewState(sql)?.raw as T | undefined) ?? sql;
}

/**
 * The subscriber with `key` on a view, if any.
 *
 * @example
 * ```ts
 * if (!findSubscriber(sql, MY_KEY)) sql = withSubscriber(sql, mySubscriber);
 * ```
 */
export function findSubscriber(sql: unknown, key: unknown): PgHookSubscriber | undefined {
  return viewState(sql)?.subscribers.find((s) => s.key === key);
}

/**
 * Returns a view of `sql` (a raw postgres.js instance or a view) with `subscriber` added after the view's
 * current subscribers. When a subscriber with the same key is already on it, `sql` is returned unchanged.
 *
 * @example
 * ```ts
 * const view = withSubscriber(postgres(url), { key: 'log', end: (h) => console.log(h.query.string) });
 * ```
 */
export function withSubscriber<T extends object>(sql: T, subscriber: PgHookSubscriber): T {
  const state = viewState(sql);
  if (state?.subscribers.some((s) => s.key === subscriber.key)) return sql;
  const base: PgViewInfo = state ?? { connection: 'pool', holdsSlot: true };
  return makeView<T>({
    raw: state?.raw ?? sql,
    subscribers: [...(state?.subscribers ?? []), subscriber],
    connection: base.connection,
    holdsSlot: base.holdsSlot,
    ...(state?.overrides ? { overrides: state.overrides } : {}),
  });
}
