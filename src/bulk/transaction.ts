/** withTransaction: retries on serialization failures and deadlocks, onCommit hooks, unknown-outcome detection. */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import { is, PgTransaction } from '../internal/drizzle-lib.js';
import { hookErrorChannel, retryChannel } from './channels.js';
import type { AnyPgDatabase } from './driver.js';
import { sqlStateOf, TransactionOutcomeUnknownError, TransactionRetriesExhaustedError } from './errors.js';

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
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
]);

/** True when the error (or a cause) says the connection went away. */
export function isConnectionLoss(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 8 && typeof cur === 'object' && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    const msg = (cur as { message?: unknown }).message;
    if (typeof msg === 'string' && /connection (terminated|closed|ended)|terminating connection/i.test(msg))
      return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
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
      result = await db.transaction(
        async (tx) => {
          const r = await fn(tx, ctx);
          bodyDone = true;
          return r;
        },
        nested || Object.keys(o.config).length === 0 ? undefined : o.config,
      );
    } catch (e) {
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
