/** Batching, transactions, abort, progress and error reporting shared by every bulk operation. */
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../errors.js';
import { batchChannel } from './channels.js';
import { type AnyPgDatabase, absorbConnectionLoss } from './driver.js';
import {
  BulkAbortedError,
  BulkValidationError,
  BulkWriteError,
  type BulkWriteProgress,
  exposedCause,
  isConnectionLoss,
} from './errors.js';
import type { BulkMethod, ResolvedBulkOptions } from './options.js';
import { guardedTransaction } from './transaction.js';

/** Array, iterable or async iterable of rows. */
export type RowSource<T> = readonly T[] | Iterable<T> | AsyncIterable<T>;

/** Set by `exec` as soon as it knows how the batch is written, so a failure reports the real method. */
export interface BatchContext {
  method: BulkMethod | undefined;
  /** The call's AbortSignal: statements on postgres-js are cancelled, a COPY is failed, when it fires. */
  signal: AbortSignal | undefined;
}

export interface BatchResult<R> {
  count: number;
  method: BulkMethod;
  out?: R[];
}

export interface RunOutput<R> {
  count: number;
  batches: number;
  methods: Partial<Record<BulkMethod, number>>;
  out: R[];
  durationMs: number;
}

async function* chunks<T>(source: RowSource<T>, size: number): AsyncGenerator<T[]> {
  if (Array.isArray(source)) {
    for (let i = 0; i < source.length; i += size) yield source.slice(i, i + size);
    return;
  }
  let buf: T[] = [];
  for await (const row of source as AsyncIterable<T>) {
    buf.push(row);
    if (buf.length >= size) {
      yield buf;
      buf = [];
    }
  }
  if (buf.length > 0) yield buf;
}

const noop = () => {};

/**
 * The batches of `source`, stopping with `abortError()` as soon as the signal fires, also while the source
 * is stuck (an async iterable that does not yield keeps the transaction open: without this, an abort would
 * wait for the next row forever).
 */
async function* abortable<X>(
  batches: AsyncIterable<X>,
  signal: AbortSignal | undefined,
  abortError: () => unknown,
): AsyncGenerator<X> {
  if (!signal) {
    yield* batches;
    return;
  }
  const it = batches[Symbol.asyncIterator]();
  let rejectAbort!: (e: unknown) => void;
  const aborted = new Promise<never>((_, rej) => {
    rejectAbort = rej;
  });
  aborted.catch(noop);
  const onAbort = () => rejectAbort(abortError());
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let done = false;
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!done) void Promise.resolve(it.return?.()).catch(noop);
  }
}

/**
 * Runs `exec` once per batch. `prepare` validates and encodes a batch (it throws BulkValidationError); with
 * array input and atomic: false every batch is prepared before the first write, so invalid input writes nothing.
 */
export async function runBatches<T, P, R>(
  db: AnyPgDatabase,
  tableName: string,
  operation: string,
  source: RowSource<T>,
  opts: ResolvedBulkOptions,
  prepare: (rows: T[], start: number) => P,
  exec: (tx: AnyPgDatabase, prepared: P, ctx: BatchContext) => Promise<BatchResult<R>>,
): Promise<RunOutput<R>> {
  const t0 = performance.now();
  const total = Array.isArray(source) ? source.length : undefined;
  const state = {
    batch: 0,
    done: 0,
    committedBatches: 0,
    committedRows: 0,
    method: 'none' as BulkMethod | 'none',
  };
  const methods: Partial<Record<BulkMethod, number>> = {};
  const out: R[] = [];
  let count = 0;

  let preparedAll: P[] | undefined;
  if (Array.isArray(source) && !opts.atomic) {
    preparedAll = [];
    for await (const rows of chunks(source, opts.batchSize))
      preparedAll.push(prepare(rows, preparedAll.length * opts.batchSize));
  }

  const ctx: BatchContext = { method: undefined, signal: opts.signal };
  const progress = (failedBatch: number): BulkWriteProgress => ({
    table: tableName,
    committedBatches: opts.atomic ? 0 : state.committedBatches,
    committedRows: opts.atomic ? 0 : state.committedRows,
    firstUnwrittenRow: opts.atomic ? 0 : state.committedRows,
    failedBatch,
    method: ctx.method ?? state.method,
  });
  const abortError = () => new BulkAbortedError(progress(state.batch), opts.signal?.reason);
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new BulkAbortedError(progress(state.batch), opts.signal.reason);
  };

  const one = async (tx: AnyPgDatabase, rows: T[]) => {
    checkAbort();
    const prepared = preparedAll ? (preparedAll[state.batch] as P) : prepare(rows, state.done);
    const b0 = performance.now();
    ctx.method = undefined;
    const r = await exec(tx, prepared, ctx);
    state.method = r.method;
    count += r.count;
    methods[r.method] = (methods[r.method] ?? 0) + 1;
    if (r.out) for (const x of r.out) out.push(x);
    if (batchChannel.hasSubscribers)
      batchChannel.publish({
        operation,
        table: tableName,
        method: r.method,
        rows: rows.length,
        batch: state.batch,
        durationMs: performance.now() - b0,
      });
  };
  const after = async (rows: T[]) => {
    state.done += rows.length;
    const batch = state.batch++;
    await opts.onProgress?.({ done: state.done, total, batch, method: state.method as BulkMethod });
  };

  try {
    if (opts.atomic) {
      await guardedTransaction(db, async (tx) => {
        for await (const rows of abortable(chunks(source, opts.batchSize), opts.signal, abortError)) {
          await one(tx, rows);
          await after(rows);
        }
        checkAbort();
      });
    } else {
      for await (const rows of abortable(chunks(source, opts.batchSize), opts.signal, abortError)) {
        await guardedTransaction(db, (tx) => one(tx, rows));
        state.committedBatches++;
        state.committedRows += rows.length;
        await after(rows);
      }
    }
  } catch (e) {
    if (e instanceof BulkValidationError || e instanceof BulkAbortedError || e instanceof ConfigError)
      throw e;
    if (isConnectionLoss(e)) await absorbConnectionLoss(db);
    // An abort that reached the server (COPY failed, statement cancelled) comes back as the driver's error.
    if (opts.signal?.aborted) throw new BulkAbortedError(progress(state.batch), opts.signal.reason);
    throw new BulkWriteError(progress(state.batch), { cause: exposedCause(e, opts.includeValues) });
  }
  return { count, batches: state.batch, methods, out, durationMs: performance.now() - t0 };
}
