import { DbkitError, type DbkitErrorOptions } from '../errors.js';

/** Error codes raised by dbkit/bulk. */
export const BulkErrorCodes = {
  VALIDATION: 'E_BULK_VALIDATION',
  WRITE: 'E_BULK_WRITE',
  ABORTED: 'E_ABORTED',
  TX_OUTCOME_UNKNOWN: 'E_TX_OUTCOME_UNKNOWN',
  TX_RETRIES_EXHAUSTED: 'E_TX_RETRIES_EXHAUSTED',
} as const;

/**
 * A row failed validation before anything was written (unknown column, missing NOT NULL value, wrong type,
 * NUL byte in text, out-of-range integer, invalid date, duplicate key in one bulkUpdate call).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof BulkValidationError) console.log(e.rowIndex, e.column, e.reason) }
 * ```
 */
export class BulkValidationError extends DbkitError {
  static readonly code = BulkErrorCodes.VALIDATION;
  /** Table name. */
  readonly table: string;
  /** Index of the offending row in the input (0-based). */
  readonly rowIndex: number;
  /** Column (table key as in the drizzle table) or undefined when the whole row is at fault. */
  readonly column: string | undefined;
  /** Why the value was rejected. */
  readonly reason: string;

  constructor(table: string, rowIndex: number, column: string | undefined, reason: string) {
    super(
      BulkErrorCodes.VALIDATION,
      `Invalid row ${rowIndex} for table "${table}"${column === undefined ? '' : `, column "${column}"`}: ${reason}`,
      { context: { table, rowIndex, column, reason } },
    );
    this.table = table;
    this.rowIndex = rowIndex;
    this.column = column;
    this.reason = reason;
  }
}

/** Where a failed bulk write stopped (for resuming with `atomic: false`). */
export interface BulkWriteProgress {
  /** Table name. */
  table: string;
  /** Batches committed before the failure (0 when atomic: everything was rolled back). */
  committedBatches: number;
  /** Rows committed before the failure (0 when atomic). */
  committedRows: number;
  /** Index of the first input row that is not written; resume from here. */
  firstUnwrittenRow: number;
  /** 0-based index of the batch that failed. */
  failedBatch: number;
  /** Method used for the failed batch. */
  method: string;
}

/**
 * A bulk statement failed in the database (constraint violation, dropped connection, ...). The driver error is `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof BulkWriteError) resumeFrom(e.progress.firstUnwrittenRow) }
 * ```
 */
export class BulkWriteError extends DbkitError {
  static readonly code = BulkErrorCodes.WRITE;
  /** How far the write got. */
  readonly progress: BulkWriteProgress;

  constructor(progress: BulkWriteProgress, options: DbkitErrorOptions = {}) {
    const detail = errorSummary(options.cause);
    super(
      BulkErrorCodes.WRITE,
      `Bulk write to "${progress.table}" failed in batch ${progress.failedBatch} (${progress.method}); ` +
        `${progress.committedRows} rows committed, first unwritten row ${progress.firstUnwrittenRow}${detail ? `: ${detail}` : ''}`,
      { ...options, context: { ...progress, ...options.context } },
    );
    this.progress = progress;
  }
}

/**
 * A bulk operation stopped because its AbortSignal fired (between batches). Atomic runs are rolled back.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof BulkAbortedError) console.log(e.progress.firstUnwrittenRow) }
 * ```
 */
export class BulkAbortedError extends DbkitError {
  static readonly code = BulkErrorCodes.ABORTED;
  /** How far the write got. */
  readonly progress: BulkWriteProgress;

  constructor(progress: BulkWriteProgress, reason?: unknown) {
    super(
      BulkErrorCodes.ABORTED,
      `Bulk write to "${progress.table}" aborted before batch ${progress.failedBatch}; ${progress.committedRows} rows committed`,
      { cause: reason, context: { ...progress } },
    );
    this.progress = progress;
  }
}

/**
 * The connection dropped while COMMIT was in flight: the transaction may or may not have committed. Never retried.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof TransactionOutcomeUnknownError) await reconcile() }
 * ```
 */
export class TransactionOutcomeUnknownError extends DbkitError {
  static readonly code = BulkErrorCodes.TX_OUTCOME_UNKNOWN;
  constructor(attempt: number, cause: unknown) {
    super(
      BulkErrorCodes.TX_OUTCOME_UNKNOWN,
      `The connection was lost during COMMIT (attempt ${attempt}); the transaction outcome is unknown and it was not retried`,
      { cause, context: { attempt } },
    );
  }
}

/**
 * withTransaction gave up after `maxRetries` retries on serialization failures or deadlocks. The last error is `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_TX_RETRIES_EXHAUSTED')) respond(503) }
 * ```
 */
export class TransactionRetriesExhaustedError extends DbkitError {
  static readonly code = BulkErrorCodes.TX_RETRIES_EXHAUSTED;
  constructor(attempts: number, sqlState: string, cause: unknown) {
    super(
      BulkErrorCodes.TX_RETRIES_EXHAUSTED,
      `Transaction failed with SQLSTATE ${sqlState} on all ${attempts} attempts`,
      { cause, context: { attempts, sqlState } },
    );
  }
}

/** Walks `.cause` chains (drizzle wraps driver errors) and returns the first SQLSTATE found. */
export function sqlStateOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 8 && typeof cur === 'object' && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The innermost error message (the driver's), for error summaries. */
function errorSummary(e: unknown): string {
  let cur: unknown = e;
  let msg = '';
  for (let i = 0; i < 8 && typeof cur === 'object' && cur !== null; i++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && m) msg = m;
    cur = (cur as { cause?: unknown }).cause;
  }
  return msg.length > 300 ? `${msg.slice(0, 300)}...` : msg;
}
