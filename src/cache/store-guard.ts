import { TimeoutError } from '../errors.js';
import { publish } from './channels.js';
import { CacheCircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { CacheCircuitOpenError, CacheStoreError } from './errors.js';
import type { ResolvedQueryCacheOptions } from './options.js';
import type { CacheStore } from './store.js';

/** One store call waiting for its reply or its deadline. */
interface Pending {
  done: boolean;
  readonly deadline: number;
  readonly operation: string;
  readonly key: string | undefined;
  /** Settles the call with a failure (the reported `CacheStoreError`). */
  fail(error: unknown): void;
}

/** A call of {@link StoreGuard.run}. */
class Call implements Pending {
  done = false;
  constructor(
    readonly deadline: number,
    readonly operation: string,
    readonly key: string | undefined,
    readonly fail: (e: unknown) => void,
  ) {}
}

/**
 * A GET of {@link StoreGuard.read}: the call, its promise's settle functions and the reply's mapping in one
 * object, so a hit allocates this, its promise and the two reply callbacks, and nothing else of ours.
 */
class Read<U> implements Pending {
  done = false;
  readonly operation = 'get';
  resolve!: (value: U | PromiseLike<U>) => void;
  reject!: (e: unknown) => void;
  constructor(
    readonly deadline: number,
    readonly key: string,
    readonly map: (key: string, reply: Buffer | null) => U | PromiseLike<U>,
    readonly onFailure: ((key: string, error: CacheStoreError) => U) | undefined,
  ) {}

  fail(error: unknown): void {
    if (this.onFailure === undefined) {
      this.reject(error);
      return;
    }
    try {
      this.resolve(this.onFailure(this.key, error as CacheStoreError));
    } catch (thrown) {
      this.reject(thrown);
    }
  }
}

/**
 * The settle functions of the promise just created with `new Promise(capture)` (one executor for every read:
 * no closure per call). Read right after the constructor returns, before anything else can run.
 */
type Executor<U> = (resolve: (value: U | PromiseLike<U>) => void, reject: (e: unknown) => void) => void;
const captured: { resolve: (value: unknown) => void; reject: (e: unknown) => void } = {
  resolve: () => {},
  reject: () => {},
};
const capture: Executor<unknown> = (resolve, reject) => {
  captured.resolve = resolve;
  captured.reject = reject;
};

/**
 * One timer for every in-flight store call of a guard, instead of a `setTimeout` + `Promise.race` per call
 * (profiling showed those were most of a cache hit's own cost). All calls of a guard share one timeout, so
 * deadlines arrive in insertion order and the queue is a FIFO: the timer is armed for the oldest pending call.
 * A settled call at the head is dropped at once (sequential callers keep the queue empty, so its entries die
 * young); one settled behind an older pending call is only flagged and dropped when the sweep reaches it.
 * The timer stays armed while calls flow (it fires at most once per timeout period) and is unref'd: it never
 * keeps the host process alive.
 */
class DeadlineQueue {
  // queue[head..tail) are the calls being watched. Slots before `head` and from `tail` on are left as they are
  // (no `length = 0` per call: truncating an array is a runtime call, about as slow as the store call's own
  // bookkeeping); `trim` drops what they hold once the queue has been large.
  private queue: Array<Pending | undefined> = [];
  private head = 0;
  private tail = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly expire: (p: Pending) => void,
  ) {}

  /** The deadline of a call starting now. */
  deadline(): number {
    return performance.now() + this.timeoutMs;
  }

  /** Starts watching `p` (its deadline taken from {@link DeadlineQueue.deadline} just before). */
  add<P extends Pending>(p: P): P {
    this.queue[this.tail++] = p;
    if (this.timer === undefined) this.arm(this.timeoutMs);
    return p;
  }

  /** Marks `p` settled; drops it (and any settled calls after it) when it is the oldest. */
  settled(p: Pending): void {
    p.done = true;
    const q = this.queue;
    if (q[this.head] !== p) return;
    do this.head++;
    while (this.head < this.tail && q[this.head]!.done);
    if (this.head === this.tail) this.emptied();
  }

  /** Settles every pending call at once (the connection went down: waiting longer cannot help). */
  drain(settle: (p: Pending) => void): void {
    const q = this.queue.slice(this.head, this.tail) as Pending[];
    this.reset();
    for (const p of q) if (!p.done) settle(p);
  }

  /** Nothing is pending: start over at slot 0 (a sequential caller reuses slot 0 for every call). */
  private emptied() {
    // Slots above the first few still point at settled calls: let them go once the queue has been large.
    if (this.tail > 64) this.queue = [];
    this.head = 0;
    this.tail = 0;
  }

  private arm(ms: number) {
    // +1: timers may fire a fraction of a millisecond early relative to performance.now().
    this.timer = setTimeout(this.sweep, Math.max(0, Math.ceil(ms)) + 1);
    this.timer.unref();
  }

  private readonly sweep = () => {
    this.timer = undefined;
    const now = performance.now();
    while (this.head < this.tail) {
      const p = this.queue[this.head]!;
      if (!p.done && p.deadline > now) break;
      this.head++;
      if (!p.done) {
        p.done = true;
        this.expire(p);
      }
    }
    // (`expire` runs onError, which may start calls or drain the queue: the fields are read again each time)
    if (this.head >= this.tail) this.emptied();
    else {
      if (this.head > 1024) {
        this.queue = this.queue.slice(this.head, this.tail);
        this.tail -= this.head;
        this.head = 0;
      }
      if (this.timer === undefined) this.arm(this.queue[this.head]!.deadline - now);
    }
  };

  private reset() {
    this.queue = [];
    this.head = 0;
    this.tail = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Puts every store call behind the operation timeout and the circuit breaker, and reports failures
 * (counter, `onError`, `dbkit:cache:error`). While the circuit is not closed no caller waits on the store:
 * the half-open probe is a PING run in the background, and calls keep skipping the store until it succeeds.
 * A store that reports its connection state (`onConnectionChange`, ioredis `close`/`end`/`reconnecting`)
 * opens the circuit the moment the connection drops, and releases the calls waiting on it.
 */
export class StoreGuard {
  /** Store failures and timeouts so far (probes included). */
  errors = 0;
  private readonly breaker: CacheCircuitBreaker | undefined;
  private readonly deadlines: DeadlineQueue;
  private lastFailure: unknown;

  constructor(
    private readonly store: CacheStore,
    private readonly options: ResolvedQueryCacheOptions,
  ) {
    const cb = options.circuitBreaker;
    const namespace = options.namespace;
    this.breaker = cb
      ? new CacheCircuitBreaker(cb, (from, to) => publish('circuit', () => ({ namespace, from, to })))
      : undefined;
    this.deadlines = new DeadlineQueue(options.operationTimeoutMs, (p) =>
      this.failed(p, new TimeoutError(`cache ${p.operation}`, options.operationTimeoutMs)),
    );
    store.onConnectionChange?.(this.connectionChanged);
  }

  get circuit(): CircuitState {
    return this.breaker?.state ?? 'closed';
  }

  /**
   * True when calls should not touch the store now (circuit open or half-open). Starts the half-open probe when
   * it is due. Costs a property read while the circuit is closed.
   */
  skipping(): boolean {
    const b = this.breaker;
    if (b === undefined) return false;
    const s = b.state;
    if (s === 'closed') return false;
    if (s === 'half-open' && b.allow()) this.probe(b);
    return true;
  }

  /** The error a call gets when it needs the store and the circuit is open. */
  circuitOpen(operation: string, key?: string): CacheCircuitOpenError {
    return new CacheCircuitOpenError(operation, {
      cause: this.lastFailure,
      context: { namespace: this.options.namespace, ...(key === undefined ? {} : { key }) },
    });
  }

  /**
   * Runs `fn` against the store behind the operation timeout; rejects with `CacheStoreError` on failure or
   * timeout. Callers check {@link StoreGuard.skipping} first (an open circuit is their decision: fall back or
   * throw {@link StoreGuard.circuitOpen}). `map` and `onFailure` run inside the same promise (one promise hop
   * less on the hot path than chaining `.then`): `onFailure` may return a fallback or throw.
   */
  run<T, U = T>(
    operation: string,
    key: string | undefined,
    fn: () => Promise<T>,
    map?: (value: T) => U | Promise<U>,
    onFailure?: (error: CacheStoreError) => U,
  ): Promise<U> {
    return this.call(operation, key, fn, true, map, onFailure);
  }

  /**
   * {@link StoreGuard.run} for the hit path: `store.get(full)`, its reply through `map(key, reply)`, a failure
   * through `onFailure(key, error)` (which may return a fallback or throw; without it the promise rejects). No
   * closure of the caller's per call: `map` and `onFailure` are bound once.
   */
  read<U>(
    key: string,
    full: string,
    map: (key: string, reply: Buffer | null) => U | PromiseLike<U>,
    onFailure?: (key: string, error: CacheStoreError) => U,
  ): Promise<U> {
    const d = this.deadlines;
    const r = new Read<U>(d.deadline(), key, map, onFailure);
    const promise = new Promise<U>(capture as Executor<U>);
    r.resolve = captured.resolve;
    r.reject = captured.reject;
    d.add(r);
    let result: Promise<Buffer | null>;
    try {
      result = this.store.get(full);
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (v) => {
        if (r.done) return;
        this.deadlines.settled(r);
        this.breaker?.success();
        try {
          r.resolve(r.map(r.key, v));
        } catch (e) {
          r.reject(e);
        }
      },
      (cause) => {
        if (r.done) return;
        this.deadlines.settled(r);
        this.failed(r, cause);
      },
    );
    return promise;
  }

  private call<T, U>(
    operation: string,
    key: string | undefined,
    fn: () => Promise<T>,
    countSuccess: boolean,
    map?: (value: T) => U | Promise<U>,
    onFailure?: (error: CacheStoreError) => U,
  ): Promise<U> {
    return new Promise<U>((resolve, reject) => {
      const fail = onFailure
        ? (e: unknown) => {
            try {
              resolve(onFailure(e as CacheStoreError));
            } catch (thrown) {
              reject(thrown);
            }
          }
        : reject;
      const d = this.deadlines;
      const p = d.add(new Call(d.deadline(), operation, key, fail));
      let result: Promise<T>;
      try {
        result = fn();
      } catch (e) {
        result = Promise.reject(e);
      }
      result.then(
        (v) => {
          if (p.done) return;
          this.deadlines.settled(p);
          if (countSuccess) this.breaker?.success();
          if (map === undefined) resolve(v as unknown as U);
          else {
            try {
              resolve(map(v));
            } catch (e) {
              reject(e);
            }
          }
        },
        (cause) => {
          if (p.done) return;
          this.deadlines.settled(p);
          this.failed(p, cause);
        },
      );
    });
  }

  private failed(p: Pending, cause: unknown) {
    p.done = true;
    if (p.operation !== 'probe') this.breaker?.failure();
    p.fail(this.report(p.operation, p.key, cause));
  }

  private probe(b: CacheCircuitBreaker): void {
    this.call<void, void>('probe', undefined, () => this.store.ping(), false).then(
      () => b.success(),
      () => b.failure(), // already counted and reported by `failed`
    );
  }

  private readonly connectionChanged = (up: boolean, cause?: unknown) => {
    const b = this.breaker;
    if (!up) {
      const reason = cause ?? new Error('connection to the cache store closed');
      this.lastFailure = reason;
      b?.trip();
      // Calls waiting on a connection that just dropped would only wait for their deadline: release them now.
      this.deadlines.drain((p) => this.failed(p, reason));
    } else if (b && b.state !== 'closed') {
      b.expire();
      if (b.allow()) this.probe(b);
    }
  };

  private report(operation: string, key: string | undefined, cause: unknown): CacheStoreError {
    this.errors++;
    this.lastFailure = cause;
    const namespace = this.options.namespace;
    const error = new CacheStoreError(operation, {
      cause,
      context: { namespace, ...(key === undefined ? {} : { key }) },
    });
    publish('error', () => ({ namespace, operation, error }));
    try {
      this.options.onError?.(error, { namespace, operation, ...(key === undefined ? {} : { key }) });
    } catch {
      // A throwing onError must not turn a fail-open read into a failure.
    }
    return error;
  }
}
