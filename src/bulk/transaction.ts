/** withTransaction: retries on serialization failures and deadlocks, onCommit hooks, unknown-outcome detection. */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import { is, PgTransaction } from '../internal/drizzle-lib.js';
import { hookErrorChannel, retryChannel } from './channels.js';
import {
  type AnyPgDatabase,
  absorbConnectionLoss,
  driverKind,
  lostConnection,
  type TxLiveness,
  trackTransaction,
} from './driver.js';
import {
  isConnectionLoss,
  sqlStateOf,
  TransactionOutcomeUnknownError,
  TransactionRetriesExhaustedError,
} from './errors.js';

/** Passed to the transaction function. */
export interface TransactionContext {
  /** Registers a callback that runs once, after the transaction commits (never on rollback or a retried attempt). */
  onCommit(cb: () => unknown): void;
  /** 1 on the first attempt, 2 on the first retry, ... */
  attempt: number;
}

/** Information passed to `onRetry`. */
export interface TransactionRetryInfo {
  attempt: number;
  sqlState: string;
  delayMs: number;
  error: unknown;
}

/** Options of {@link withTransaction}. */
export interface WithTransactionOptions {
  /** @default undefined (the server default, usually 'read committed') */
  isolationLevel?: 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable';
  /** @default undefined ('read write') */
  accessMode?: 'read only' | 'read write';
  /** Retries after the first attempt on 40001 / 40P01. @default 5 */
  maxRetries?: number;
  /** Full-jitter exponential backoff: delay = random(0, min(maxMs, baseMs * 2^(retry-1))). @default { baseMs: 10, maxMs: 1000 } */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Called before each retry. @default undefined */
  onRetry?: (info: TransactionRetryInfo) => void;
}

const RETRYABLE = new Set(['40001', '40P01']);

export { isConnectionLoss };

const noop = () => {};

/**
 * `db.transaction(fn, config)`, except that when `fn` fails because the connection is gone (postgres-js), the
 * callback is left pending instead of rejecting and the returned promise rejects with that error. postgres.js
 * answers a rejected callback with ROLLBACK (or ROLLBACK TO SAVEPOINT), and on a closed connection 3.4.9 writes
 * it to a null socket from a setImmediate: an uncaught TypeError that kills the process (porsager/postgres#1208,
 * #1154); 3.4.0 writes it to the closed socket and never settles. There is nothing to roll back: the server
 * ends the transaction with the connection. Statements of the transaction also check `assertAlive` first.
 */
export async function guardedTransaction<R>(
  db: AnyPgDatabase,
  fn: (tx: AnyPgDatabase) => Promise<R>,
  config?: Parameters<AnyPgDatabase['transaction']>[1],
): Promise<R> {
  if (driverKind(db) !== 'postgres-js') return db.transaction(fn, config);
  let state: TxLiveness | undefined;
  let bodyFailed: ((e: unknown) => void) | undefined;
  let bodyError: { error: unknown } | undefined;
  const bodyFailure = new Promise<void>((r) => {
    bodyFailed = (e) => {
      bodyError = { error: e };
      r();
    };
  });
  let bodySettled = false;
  return new Promise<R>((resolve, reject) => {
    const txP = db.transaction(async (tx) => {
      const s = trackTransaction(tx, db);
      state = s;
      try {
        const r = await fn(tx);
        bodySettled = true;
        return r;
      } catch (e) {
        bodySettled = true;
        bodyFailed?.(e);
        if (isConnectionLoss(e) || lostConnection(tx) !== undefined) {
          s.lost ??= e;
          reject(e);
          return new Promise<never>(noop);
        }
        throw e;
      }
    }, config);
    txP.then(resolve, async (e: unknown) => {
      // postgres.js 3.4.9 rejects sql.begin() as soon as its connection closes, also while the callback is
      // still running: mark the transaction lost (its next statement throws instead of being sent) and
      // prefer the body's own error (a BulkWriteError with progress), which follows within a few ticks.
      if (isConnectionLoss(e)) {
        if (state && state.lost === undefined) state.lost = e;
        if (!bodySettled) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([bodyFailure, new Promise((r) => (timer = setTimeout(r, 2_000)))]);
          clearTimeout(timer);
        }
        if (bodyError) return reject(bodyError.error);
      }
      reject(e);
    });
  });
}

const defaults = { maxRetries: 5, baseMs: 10, maxMs: 1000 } as const;

/** Fills in the defaults of withTransaction options. */
export function resolveTransactionOptions(opts: WithTransactionOptions = {}) {
  const maxRetries = opts.maxRetries ?? defaults.maxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0)
    throw new ConfigError(`maxRetries must be a non-negative integer, got ${maxRetries}`);
  const baseMs = opts.backoff?.baseMs ?? defaults.baseMs;
  const maxMs = opts.backoff?.maxMs ?? defaults.maxMs;
  if (!(baseMs >= 0) || !(maxMs >= baseMs)) throw new ConfigError('backoff needs 0 <= baseMs <= maxMs');
  const config: {
    isolationLevel?: NonNullable<WithTransactionOptions['isolationLevel']>;
    accessMode?: NonNullable<WithTransactionOptions['accessMode']>;
  } = {};
  if (opts.isolationLevel) config.isolationLevel = opts.isolationLevel;
  if (opts.accessMode) config.accessMode = opts.accessMode;
  return {
    maxRetries,
    baseMs,
    maxMs,
    config,
    /** Called before each retry. */
    onRetry: opts.onRetry,
  };
}

/**
 * Runs `fn` in a transaction and retries the whole function on serialization failures (40001) and deadlocks
 * (40P01), also when they surface at COMMIT or are wrapped by drizzle. A connection lost during COMMIT raises
 * TransactionOutcomeUnknownError (never retried). Inside an outer transaction it runs once, as a savepoint.
 *
 * @example
 * ```ts
 * await withTransaction(db, async (tx, { onCommit }) => {
 *   await tx.update(accounts).set({ balance: sql`balance - 10` }).where(eq(accounts.id, 1))
 *   onCommit(() => cache.invalidateTags(['account:1']))
 * }, { isolationLevel: 'serializable' })
 * ```
 */
export async function withTransaction<R>(
  db: AnyPgDatabase,
  fn: (tx: AnyPgDatabase, ctx: TransactionContext) => Promise<R>,
  opts: WithTransactionOptions = {},
): Promise<R> {
  const o = resolveTransactionOptions(opts);
  const nested = is(db, PgTransaction);
  for (let attempt = 1; ; attempt++) {
    const hooks: Array<() => unknown> = [];
    const ctx: TransactionContext = { onCommit: (cb) => void hooks.push(cb), attempt };
    let bodyDone = false;
    let result: R;
    try {
      result = await guardedTransaction(
        db,
        async (tx) => {
          const r = await fn(tx, ctx);
          bodyDone = true;
          return r;
        },
        nested || Object.keys(o.config).length === 0 ? undefined : o.config,
      );
    } catch (e) {
      if (!nested && isConnectionLoss(e)) await absorbConnectionLoss(db);
      if (bodyDone && isConnectionLoss(e)) throw new TransactionOutcomeUnknownError(attempt, e);
      const state = sqlStateOf(e);
      if (nested || state === undefined || !RETRYABLE.has(state)) throw e;
      if (attempt > o.maxRetries) throw new TransactionRetriesExhaustedError(attempt, state, e);
      const delayMs = Math.random() * Math.min(o.maxMs, o.baseMs * 2 ** (attempt - 1));
      o.onRetry?.({ attempt, sqlState: state, delayMs, error: e });
      if (retryChannel.hasSubscribers) retryChannel.publish({ attempt, sqlState: state, delayMs });
      await sleep(delayMs);
      continue;
    }
    for (const h of hooks) {
      try {
        await h();
      } catch (error) {
        // The transaction is committed: a failing hook must not make the caller think it should retry.
        if (hookErrorChannel.hasSubscribers) hookErrorChannel.publish({ error });
      }
    }
    return result;
  }
}
