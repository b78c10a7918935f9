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
 * A bulk statement failed in the database (constraint violation, trigger, timeout, cancel, dropped connection).
 * `cause` is the driver's error (postgres.js `PostgresError` with `code`, `constraint_name`, `table_name`,
 * `column_name`, ...). Unless the call passed `includeValues: true`, `cause` is a copy of it without row values
 * (no `detail`, `where`, `query`, `parameters`; quoted input values in the message replaced by `"..."`).
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof BulkWriteError) {
 *     console.log(e.sqlState, e.constraint) // '23505', 'items_sku_key'
 *     resumeFrom(e.progress.firstUnwrittenRow)
 *   }
 * }
 * ```
 */
export class BulkWriteError extends DbkitError {
  static readonly code = BulkErrorCodes.WRITE;
  /** How far the write got. */
  readonly progress: BulkWriteProgress;
  /** The server's SQLSTATE (e.g. '23505'), or the driver's code for a lost connection ('CONNECTION_CLOSED', 'ECONNRESET'). */
  readonly sqlState: string | undefined;
  /** Constraint named by the server, when there is one. */
  readonly constraint: string | undefined;
  /** Column named by the server, when there is one. */
  readonly column: string | undefined;

  constructor(progress: BulkWriteProgress, options: DbkitErrorOptions = {}) {
    const detail = errorSummary(options.cause);
    const sqlState = sqlStateOf(options.cause) ?? driverCodeOf(options.cause);
    const constraint = fieldOf(options.cause, 'constraint_name');
    const column = fieldOf(options.cause, 'column_name');
    super(
      BulkErrorCodes.WRITE,
      `Bulk write to "${progress.table}" failed in batch ${progress.failedBatch} (${progress.method}); ` +
        `${progress.committedRows} rows committed, first unwritten row ${progress.firstUnwrittenRow}` +
        `${sqlState ? ` [${sqlState}${constraint ? ` ${constraint}` : ''}]` : ''}${detail ? `: ${detail}` : ''}`,
      { ...options, context: { ...progress, sqlState, constraint, column, ...options.context } },
    );
    this.progress = progress;
    this.sqlState = sqlState;
    this.constraint = constraint;
    this.column = column;
  }
}

/**
 * A bulk operation stopped because its AbortSignal fired: between batches, or during a COPY or statement on
 * postgres-js (the COPY is failed and the statement cancelled on the server). Atomic runs are rolled back;
 * with `atomic: false` the committed batches stay and `progress` says where to resume. `cause` is the signal's reason.
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
      `Bulk write to "${progress.table}" aborted in batch ${progress.failedBatch}; ${progress.committedRows} rows committed`,
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
    const d = (cur as { detail?: unknown }).detail;
    // `detail` only survives on a cause kept whole (includeValues: true): it may quote row values.
    if (typeof m === 'string' && m) msg = typeof d === 'string' && d ? `${m} (${d})` : m;
    cur = (cur as { cause?: unknown }).cause;
  }
  return msg.length > 300 ? `${msg.slice(0, 300)}...` : msg;
}

/** The first string `field` along a `.cause` chain. */
function fieldOf(e: unknown, field: string): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 8 && typeof cur === 'object' && cur !== null; i++) {
    const v = (cur as Record<string, unknown>)[field];
    if (typeof v === 'string' && v) return v;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A driver's non-SQLSTATE code along the cause chain ('CONNECTION_CLOSED', 'ECONNRESET', ...). */
function driverCodeOf(e: unknown): string | undefined {
  const code = fieldOf(e, 'code');
  return code && /^[A-Z_]+$/.test(code) ? code : undefined;
}

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

/** The innermost error along a `.cause` chain that carries a SQLSTATE or a driver code (the driver's error). */
export function driverErrorOf(e: unknown): unknown {
  let cur: unknown = e;
  let found: unknown;
  for (let i = 0; i < 8 && typeof cur === 'object' && cur !== null; i++) {
    if (typeof (cur as { code?: unknown }).code === 'string') found = cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return found ?? e;
}

// Fields of postgres.js' PostgresError (and of node's socket errors) that never hold row values.
const SAFE_FIELDS = [
  'code',
  'errno',
  'syscall',
  'address',
  'port',
  'severity',
  'severity_local',
  'hint',
  'position',
  'internal_position',
  'schema_name',
  'table_name',
  'column_name',
  'data type_name',
  'constraint_name',
  'file',
  'line',
  'routine',
] as const;

// Server messages that quote the rejected input: `invalid input syntax for type integer: "abc"`,
// `invalid input value for enum mood: "angry"`, `value "99999" is out of range for type smallint`, ...
const QUOTED_INPUT =
  /^((?:invalid input|malformed|date\/time field value|invalid byte sequence|.*out of range).*?)"(?:[^"]|"")*"/is;
const VALUE_FIRST = /^(value )"(?:[^"]|"")*"( is out of range)/i;

/** A message with the quoted input values replaced by "...". */
export function redactMessage(message: string): string {
  return message.replace(VALUE_FIRST, '$1"..."$2').replace(QUOTED_INPUT, '$1"..."');
}

/**
 * The driver error to expose as `cause`: the error itself with `includeValues`, otherwise a copy of the
 * same class holding only fields that cannot contain row values (drizzle's wrapper, whose message lists the
 * bind parameters, is dropped; so are `detail`, `where`, `internal_query`, and postgres.js' `query`,
 * `parameters` and `args`).
 */
export function exposedCause(e: unknown, includeValues: boolean): unknown {
  const driver = driverErrorOf(e);
  if (includeValues || typeof driver !== 'object' || driver === null || !(driver instanceof Error))
    return driver;
  // postgres.js 3.4.0 rejects with Object.create(error, {...}): the class prototype is further up the chain.
  let proto = Object.getPrototypeOf(driver) as object | null;
  while (proto && !Object.hasOwn(proto, 'constructor')) proto = Object.getPrototypeOf(proto) as object | null;
  const copy = Object.create(proto ?? Error.prototype) as Error & Record<string, unknown>;
  const message = redactMessage(driver.message);
  Object.defineProperty(copy, 'message', { value: message, writable: true, configurable: true });
  Object.defineProperty(copy, 'name', { value: driver.name, writable: true, configurable: true });
  for (const f of SAFE_FIELDS) {
    const v = (driver as unknown as Record<string, unknown>)[f];
    if (v !== undefined) copy[f] = v;
  }
  const frames = (driver.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  Object.defineProperty(copy, 'stack', {
    value: [`${driver.name}: ${message}`, ...frames].join('\n'),
    writable: true,
    configurable: true,
  });
  return copy;
}
