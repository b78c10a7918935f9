/** The few driver differences bulk operations care about: running SQL, COPY (postgres.js only). */
import type { SQL } from 'drizzle-orm';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { entityKind, is, PgTransaction } from '../internal/drizzle-lib.js';

// biome-ignore lint/suspicious/noExplicitAny: any drizzle pg database or transaction (postgres-js, node-postgres, PGlite)
export type AnyPgDatabase = PgDatabase<any, any, any>;

export type DriverKind = 'postgres-js' | 'node-postgres' | 'pglite' | 'other';

export interface QueryOutput {
  rows: Record<string, unknown>[];
  count: number;
}

/** The parts of a postgres.js Query (a Promise subclass) that COPY and cancellation use. */
interface PostgresJsQuery extends PromiseLike<unknown> {
  writable(): Promise<NodeJS.WritableStream>;
  /** Instance properties in postgres.js 3.4 (query.js): the connection settles the query through them. */
  resolve: (x: unknown) => void;
  reject: (e: unknown) => void;
  cancel(): unknown;
  active: boolean;
}

interface PostgresJsLike {
  unsafe(query: string, params?: unknown[]): PostgresJsQuery;
}

function session(db: AnyPgDatabase): { client?: unknown; constructor: unknown } {
  return (db as unknown as { session: { client?: unknown; constructor: unknown } }).session;
}

/** Which driver a drizzle database (or transaction) runs on. */
export function driverKind(db: AnyPgDatabase): DriverKind {
  const kind = (session(db)?.constructor as { [entityKind]?: string } | undefined)?.[entityKind];
  if (kind === 'PostgresJsSession') return 'postgres-js';
  if (kind === 'NodePgSession') return 'node-postgres';
  if (kind === 'PgliteSession') return 'pglite';
  return 'other';
}

/**
 * Runs a drizzle SQL object and normalises the driver's result shape. With a signal on postgres-js the
 * statement runs through the session's client so that an abort cancels it on the server.
 */
export async function run(
  db: AnyPgDatabase,
  query: SQL,
  opts: { signal?: AbortSignal | undefined } = {},
): Promise<QueryOutput> {
  assertAlive(db);
  const r = (
    opts.signal && driverKind(db) === 'postgres-js'
      ? await runCancellable(db, query, opts.signal)
      : await db.execute(query)
  ) as unknown;
  return normalise(r);
}

function normalise(r: unknown): QueryOutput {
  if (Array.isArray(r)) {
    const count = (r as { count?: number }).count;
    return { rows: r as Record<string, unknown>[], count: typeof count === 'number' ? count : r.length };
  }
  const o = r as { rows?: Record<string, unknown>[]; rowCount?: number | null; affectedRows?: number };
  const rows = o.rows ?? [];
  return { rows, count: o.rowCount ?? o.affectedRows ?? rows.length };
}

/** Quotes an identifier with drizzle's dialect (doubles embedded quotes). */
export function escapeName(db: AnyPgDatabase, name: string): string {
  return (db as unknown as { dialect: { escapeName(n: string): string } }).dialect.escapeName(name);
}

/**
 * A string literal for SQL text (dollar-quoted: read the same whatever standard_conforming_strings says). A
 * statement without bind parameters goes through postgres.js's simple protocol in one round trip; with
 * parameters, `unsafe` (not prepared) first waits for the statement's description: two round trips.
 */
export function dollarQuoted(s: string): string {
  let tag = 'dbkit';
  while (s.includes(`$${tag}$`) || s.endsWith(`$${tag}`)) tag += '_';
  return `$${tag}$${s}$${tag}$`;
}

/** True when this database can stream COPY FROM STDIN (postgres.js, also inside a drizzle transaction). */
export function canCopy(db: AnyPgDatabase): boolean {
  if (driverKind(db) !== 'postgres-js') return false;
  return typeof (session(db).client as Partial<PostgresJsLike> | undefined)?.unsafe === 'function';
}

const noop = () => {};

async function runCancellable(db: AnyPgDatabase, query: SQL, signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) throw signal.reason;
  const { sql: text, params } = (
    db as unknown as { dialect: { sqlToQuery(q: SQL): { sql: string; params: unknown[] } } }
  ).dialect.sqlToQuery(query);
  const q = (session(db).client as PostgresJsLike).unsafe(text, params);
  // postgres.js sends a CancelRequest for a running query and drops a queued one (57014 either way).
  let cancelled: Promise<unknown> | undefined;
  const onAbort = () => {
    cancelled = Promise.resolve(q.cancel()).catch(noop);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await q;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // a cancel delivered after the statement ended could interrupt the next one (ROLLBACK): wait for it
    if (cancelled)
      await Promise.race([cancelled, new Promise((r) => setTimeout(r, SETTLE_GRACE_MS).unref())]);
  }
}

/**
 * Connection state of a transaction dbkit opened (see guardedTransaction in transaction.ts). `lost` is set
 * when the transaction's connection is known to be gone; nested transactions look at their parents too.
 */
export interface TxLiveness {
  lost: unknown;
  readonly parent: TxLiveness | undefined;
}

const liveness = new WeakMap<object, TxLiveness>();

/** Registers `tx` (opened inside `parent`) and returns its state. */
export function trackTransaction(tx: AnyPgDatabase, parent: AnyPgDatabase): TxLiveness {
  const state: TxLiveness = { lost: undefined, parent: liveness.get(parent) };
  liveness.set(tx, state);
  return state;
}

/** The recorded connection loss of `db` or of a transaction around it. */
export function lostConnection(db: AnyPgDatabase): unknown {
  for (let s = liveness.get(db); s; s = s.parent) if (s.lost !== undefined) return s.lost;
  return undefined;
}

/**
 * Throws the recorded connection loss instead of sending a statement on a dead transaction connection:
 * postgres.js 3.4.9 writes it to a null socket from a setImmediate (an uncaught TypeError that kills the
 * process, porsager/postgres#1208 / #1154), 3.4.0 to a closed one (the statement never settles).
 */
export function assertAlive(db: AnyPgDatabase): void {
  const lost = lostConnection(db);
  if (lost !== undefined) throw lost;
}

/**
 * After a connection loss postgres.js 3.4 fails the pool's next query with the dead backend's error: 3.4.9
 * keeps the FATAL 57P01 it read before the socket closed and replays it onto the first query of the
 * reconnected connection (the same flaw as porsager/postgres#1223), 3.4.0 answers CONNECTION_CLOSED. One
 * throwaway query on the pool takes that error, so the caller's next query runs (always so with `max: 1`;
 * with more connections it lands on the dead one when no other connection is idle). Errors are ignored.
 */
export async function absorbConnectionLoss(db: AnyPgDatabase): Promise<void> {
  if (driverKind(db) !== 'postgres-js' || is(db, PgTransaction)) return;
  const client = session(db).client as PostgresJsLike;
  for (let i = 0; i < 2; i++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.unsafe('select 1'),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error('probe timeout')), 3_000);
        }),
      ]);
      return;
    } catch {
      // the stale error, or still reconnecting
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Options of {@link copyIn}. */
export interface CopyInOptions {
  /** Aborting fails the COPY on the server (CopyFail, and a cancel request if the server is busy). */
  signal?: AbortSignal | undefined;
}

/** One piece of COPY data: text-format lines or binary-format bytes (any split; postgres.js frames it). */
export type CopyChunk = string | Uint8Array;

/** How long an aborted or failed COPY waits for the server to acknowledge before giving up on it. */
const SETTLE_GRACE_MS = 5_000;

type StreamInternals = {
  _write(chunk: unknown, enc: unknown, cb: (e?: Error | null) => void): void;
  _final(cb: (e?: Error | null) => void): void;
  _destroy(err: Error | null, cb: (e?: Error | null) => void): void;
};

/**
 * postgres.js 3.4's COPY stream writes to its socket without checking that it still exists: when the backend
 * is terminated mid-COPY, `write`/`destroy` throw "Cannot read properties of null" (from the connection's
 * close handler: an uncaught exception). The socket is gone in that case, so there is nothing left to cancel.
 */
function guardCopyStream(w: NodeJS.WritableStream): NodeJS.WritableStream {
  const s = w as unknown as StreamInternals;
  const write = s._write.bind(s);
  const final = s._final.bind(s);
  const destroy = s._destroy.bind(s);
  s._write = (chunk, enc, cb) => {
    try {
      write(chunk, enc, cb);
    } catch (e) {
      cb(e as Error);
    }
  };
  let finished = false;
  s._final = (cb) => {
    finished = true;
    try {
      final(cb);
    } catch (e) {
      cb(e as Error);
    }
  };
  s._destroy = (err, cb) => {
    // After CopyDone, autoDestroy calls destroy(null), and postgres.js would send a CopyFail ("null") the server
    // no longer expects: a stray message that, with Nagle on, delayed the next statement by a delayed ACK.
    if (err === null && finished) return cb(null);
    let called = false;
    try {
      destroy(err, (e) => {
        called = true;
        cb(e);
      });
    } catch {
      if (!called) cb(err);
    }
  };
  return w;
}

type Step = IteratorResult<CopyChunk> | Promise<IteratorResult<CopyChunk>>;

function iteratorOf(chunks: Iterable<CopyChunk> | AsyncIterable<CopyChunk>): {
  next(): Step;
  return?(): unknown;
} {
  const asyncIt = (chunks as AsyncIterable<CopyChunk>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return asyncIt.call(chunks);
  return (chunks as Iterable<CopyChunk>)[Symbol.iterator]();
}

const STOP = Symbol('stop');

/**
 * Streams COPY data into `copyStatement` (`copy t (...) from stdin`, text or `with (format binary)`) on the
 * session's own connection (inside the drizzle transaction when db is one), and settles when the server has
 * finished the statement: resolves on success, rejects with the server's error (SQLSTATE, constraint, ...)
 * or the connection error on any failure, also after the last chunk was sent.
 *
 * Why not `pipeline(source, sql.unsafe(copy).writable())`: postgres.js 3.4.9 never settles the writable when
 * the server rejects the data after CopyDone (porsager/postgres#1173, fix proposed in #1183), so the caller
 * hung and the transaction stayed "idle in transaction (aborted)". The COPY query's own resolve/reject (which
 * the connection calls at ReadyForQuery or when the socket fails) is the signal used here instead.
 *
 * An abort fails the COPY (CopyFail, which the server reads between rows) and sends a cancel request (for a
 * server busy in a trigger or waiting on a lock, which does not read the socket), then waits for the server.
 */
export async function copyIn(
  db: AnyPgDatabase,
  copyStatement: string,
  chunks: Iterable<CopyChunk> | AsyncIterable<CopyChunk>,
  opts: CopyInOptions = {},
): Promise<void> {
  assertAlive(db);
  const signal = opts.signal;
  if (signal?.aborted) throw signal.reason;
  const q = (session(db).client as PostgresJsLike).unsafe(copyStatement);

  let settled = false;
  let failure: unknown;
  let resolveEnd!: () => void;
  let rejectEnd!: (e: unknown) => void;
  const ended = new Promise<void>((res, rej) => {
    resolveEnd = res;
    rejectEnd = rej;
  });
  ended.catch(noop);
  let stopLoop!: (x: typeof STOP) => void;
  const stop = new Promise<typeof STOP>((r) => {
    stopLoop = r;
  });
  let stopped = false;
  const halt = () => {
    stopped = true;
    stopLoop(STOP);
  };

  // The first resolve hands over the stream (CopyInResponse); the second is CommandComplete/ReadyForQuery.
  let resolves = 0;
  const resolveQuery = q.resolve;
  const rejectQuery = q.reject;
  q.resolve = (x) => {
    // The stream, handed over: listen for its 'error' now. postgres.js destroys it from the socket's data
    // handler, and the 'error' it emits on nextTick runs before the `await q.writable()` continuation below.
    if (resolves === 0 && typeof (x as { on?: unknown } | null)?.on === 'function')
      (x as NodeJS.EventEmitter).on('error', noop);
    if (resolves++ > 0 && !settled) {
      settled = true;
      resolveEnd();
      halt();
    }
    resolveQuery(x);
  };
  q.reject = (e) => {
    if (!settled) {
      settled = true;
      failure = e;
      rejectEnd(e);
      halt();
    }
    rejectQuery(e);
  };

  let w: NodeJS.WritableStream | undefined;
  let aborted = false;
  // Settles once the postmaster has delivered the cancel: waiting for it before the caller sends its next
  // statement (ROLLBACK) keeps a late cancel from interrupting that statement instead of the COPY.
  let cancelled: Promise<unknown> = Promise.resolve();
  const cancelOnServer = () => {
    // After CopyInResponse postgres.js marks the query inactive, and cancel() would only flag it; it is
    // still running on the server until ReadyForQuery.
    q.active = true;
    cancelled = Promise.resolve(q.cancel()).catch(noop);
  };
  const acknowledged = () => Promise.all([ended.catch(noop), cancelled]);
  const onAbort = () => {
    if (settled || aborted) return;
    aborted = true;
    halt();
    (w as unknown as { destroy(e: unknown): void } | undefined)?.destroy(abortError(signal));
    cancelOnServer();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const grace = () =>
    new Promise<void>((r) => {
      timer = setTimeout(r, SETTLE_GRACE_MS);
    });
  try {
    w = guardCopyStream(await q.writable());
    // postgres.js destroys the stream with the server's error: without a listener that is an uncaught 'error'.
    w.on('error', noop);
    w.once('close', halt);
    if (aborted) {
      (w as unknown as { destroy(e: unknown): void }).destroy(abortError(signal));
      cancelOnServer();
    }
    const it = iteratorOf(chunks);
    let sourceError: unknown;
    let sourceDone = false;
    try {
      while (!stopped) {
        let step: Step | typeof STOP = it.next();
        if (step instanceof Promise) step = await Promise.race([step, stop]);
        if (step === STOP || stopped) break;
        if (step.done) {
          sourceDone = true;
          break;
        }
        if (!w.write(step.value as never)) {
          const ws = w;
          await Promise.race([new Promise((r) => ws.once('drain', r)), stop]);
        }
      }
    } catch (e) {
      sourceError = e;
    }
    if (!sourceDone && sourceError === undefined) void Promise.resolve(it.return?.()).catch(noop);
    if (sourceError !== undefined && !settled) {
      // CopyFail: the server rolls the COPY back and answers with an error; wait for it, report the source's.
      (w as unknown as { destroy(e: unknown): void }).destroy(
        sourceError instanceof Error ? sourceError : new Error(String(sourceError)),
      );
      await Promise.race([ended.catch(noop), grace()]);
      throw sourceError;
    }
    if (sourceError !== undefined) throw sourceError;
    if (aborted) {
      await Promise.race([acknowledged(), grace()]);
      throw abortError(signal);
    }
    if (settled && failure !== undefined) throw failure;
    if (!settled) w.end();
    // Settled by the server (CommandComplete + ReadyForQuery, or its error); after an abort, at most the grace.
    await Promise.race([ended, stop.then(() => (aborted ? grace() : ended))]);
    if (aborted) throw abortError(signal);
  } catch (e) {
    if (!aborted) throw e;
    await Promise.race([acknowledged(), grace()]);
    throw abortError(signal);
  } finally {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

function abortError(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new Error('aborted');
}
