import { ConfigError } from '../errors.js';

/** How rows reach Postgres. */
export type BulkMethod = 'copy' | 'unnest' | 'values';

/** Progress reported after every batch. */
export interface BulkProgress {
  /** Rows processed so far (written, or queued in the open transaction when atomic). */
  done: number;
  /** Total rows when known (array input), otherwise undefined. */
  total: number | undefined;
  /** 0-based index of the batch just finished. */
  batch: number;
  /** Method used for that batch. */
  method: BulkMethod;
}

/** Options shared by every bulk operation. */
export interface BulkCommonOptions {
  /**
   * Rows per batch (one statement, or one COPY stream, per batch; VALUES batches are split further to stay
   * under 65,534 bind parameters).
   * @default 50000
   */
  batchSize?: number;
  /**
   * true: every batch runs in one transaction (a savepoint inside an outer drizzle transaction); nothing is
   * written if anything fails. false: one transaction per batch, and a failure reports what was committed.
   * @default true
   */
  atomic?: boolean;
  /**
   * Called after each batch; awaited when it returns a promise.
   * @default undefined
   */
  onProgress?: (progress: BulkProgress) => void | Promise<void>;
  /**
   * Aborts the operation with a BulkAbortedError (rolled back when atomic): between batches, and on postgres-js
   * also during a batch (a streaming COPY is failed on the server, a running statement is cancelled).
   * @default undefined
   */
  signal?: AbortSignal;
  /**
   * Keep row values in errors: the driver error as `cause` whole (drizzle's wrapper removed; the server's
   * `detail`, e.g. `Key (sku)=(a-1) already exists.`, and `where` kept, also in the message). By default
   * `cause` is a copy of the driver error without any field that can hold row values, so logging it is safe.
   * @default false
   */
  includeValues?: boolean;
}

export interface ResolvedBulkOptions {
  batchSize: number;
  atomic: boolean;
  method: BulkMethod | 'auto';
  copyThreshold: number;
  valuesThreshold: number;
  onProgress: ((progress: BulkProgress) => void | Promise<void>) | undefined;
  signal: AbortSignal | undefined;
  includeValues: boolean;
}

/** Postgres' bind-parameter limit per statement. */
export const MAX_PARAMS = 65_534;

const defaults = {
  // Large batches matter for COPY: postgres.js leaves Nagle on, so each COPY's final CopyDone can wait on a
  // delayed ACK (~40-70 ms per statement on loopback); 50k rows keeps that under a few percent.
  batchSize: 50_000,
  atomic: true,
  method: 'auto',
  copyThreshold: 1_000,
  valuesThreshold: 16,
  includeValues: false,
} as const;

/** Fills in the defaults of bulk options and validates them. */
export function resolveBulkOptions(
  opts: BulkCommonOptions & { method?: BulkMethod | 'auto'; copyThreshold?: number } = {},
): ResolvedBulkOptions {
  const batchSize = opts.batchSize ?? defaults.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
  const method = opts.method ?? defaults.method;
  if (!['auto', 'copy', 'unnest', 'values'].includes(method))
    throw new ConfigError(`method must be 'auto', 'copy', 'unnest' or 'values', got ${String(method)}`);
  const copyThreshold = opts.copyThreshold ?? defaults.copyThreshold;
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal))
    throw new ConfigError('signal must be an AbortSignal');
  if (!Number.isInteger(copyThreshold) || copyThreshold < 0)
    throw new ConfigError(`copyThreshold must be a non-negative integer, got ${copyThreshold}`);
  return {
    batchSize,
    atomic: opts.atomic ?? defaults.atomic,
    method,
    copyThreshold,
    valuesThreshold: defaults.valuesThreshold,
    onProgress: opts.onProgress,
    signal: opts.signal,
    includeValues: opts.includeValues ?? defaults.includeValues,
  };
}
