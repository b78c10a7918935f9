/**
 * Every error dbkit raises on purpose is a {@link DbkitError} with a stable string `code`.
 * Driver errors (postgres.js `PostgresError`, ioredis errors, GCP errors) are kept as `cause`, never flattened.
 */

/** Error codes shared across modules. Modules add their own codes (all start with `E_`). */
export const ErrorCodes = {
  CONFIG: 'E_CONFIG',
  MISSING_PEER: 'E_MISSING_PEER',
  CLIENT_CLOSED: 'E_CLIENT_CLOSED',
  CONNECTION: 'E_CONNECTION',
  TIMEOUT: 'E_TIMEOUT',
  VALIDATION: 'E_VALIDATION',
  ABORTED: 'E_ABORTED',
} as const;

/** Context fields an error may carry (table, row index, column, key, ...). */
export type DbkitErrorContext = Record<string, unknown>;

/** Options accepted by {@link DbkitError} and its subclasses. */
export interface DbkitErrorOptions {
  /** The underlying error (driver error, network error), kept as-is. */
  cause?: unknown;
  /** Structured context: table, row index, column, key, ... */
  context?: DbkitErrorContext;
}

/**
 * Base class of every dbkit error.
 *
 * @example
 * ```ts
 * try { await manager.sql()`select 1` } catch (e) {
 *   if (isDbkitError(e, 'E_CLIENT_CLOSED')) { ... }
 * }
 * ```
 */
export class DbkitError extends Error {
  /** Stable machine-readable code, e.g. `E_BULK_VALIDATION`. */
  readonly code: string;
  /** Structured context (never contains secrets). */
  readonly context: DbkitErrorContext;

  constructor(code: string, message: string, options: DbkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
  }
}

/**
 * An optional peer dependency (a GCP client, prom-client, ...) is not installed.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof MissingPeerDependencyError) console.error(e.packageName) }
 * ```
 */
export class MissingPeerDependencyError extends DbkitError {
  static readonly code = ErrorCodes.MISSING_PEER;
  /** The npm package to install. */
  readonly packageName: string;

  constructor(packageName: string, feature: string, cause?: unknown) {
    super(
      ErrorCodes.MISSING_PEER,
      `${feature} needs the optional package "${packageName}", which could not be loaded. Install it: npm install ${packageName}`,
      { cause, context: { packageName, feature } },
    );
    this.packageName = packageName;
  }
}

/**
 * A client was requested from a manager after `closeAll()`.
 *
 * @example
 * ```ts
 * await manager.closeAll(); manager.sql(); // throws ClientClosedError (code E_CLIENT_CLOSED)
 * ```
 */
export class ClientClosedError extends DbkitError {
  static readonly code = ErrorCodes.CLIENT_CLOSED;
  constructor(client: string) {
    super(
      ErrorCodes.CLIENT_CLOSED,
      `The ${client} client was requested after closeAll(); this manager is closed.`,
      {
        context: { client },
      },
    );
  }
}

/**
 * Invalid configuration or options (bad URL, out-of-range number, unknown option value).
 *
 * @example
 * ```ts
 * createQueryCache({ namespace: '' }) // throws ConfigError (code E_CONFIG)
 * ```
 */
export class ConfigError extends DbkitError {
  static readonly code = ErrorCodes.CONFIG;
  constructor(message: string, options: DbkitErrorOptions = {}) {
    super(ErrorCodes.CONFIG, message, options);
  }
}

/**
 * An operation did not finish within its time limit.
 *
 * @example
 * ```ts
 * if (isDbkitError(e, 'E_TIMEOUT')) retryLater()
 * ```
 */
export class TimeoutError extends DbkitError {
  static readonly code = ErrorCodes.TIMEOUT;
  constructor(operation: string, timeoutMs: number, options: DbkitErrorOptions = {}) {
    super(ErrorCodes.TIMEOUT, `${operation} did not finish within ${timeoutMs} ms`, {
      ...options,
      context: { operation, timeoutMs, ...options.context },
    });
  }
}

/**
 * True when `e` is a dbkit error, optionally with the given `code`. Checks `code`/`name`, not only
 * `instanceof`, so it works across duplicated copies of the package (ESM and CJS in one process).
 *
 * @example
 * ```ts
 * if (isDbkitError(err, 'E_BULK_VALIDATION')) console.log(err.context.rowIndex)
 * ```
 */
export function isDbkitError(e: unknown, code?: string): e is DbkitError {
  if (e instanceof DbkitError) return code === undefined || e.code === code;
  if (typeof e !== 'object' || e === null) return false;
  const c = (e as { code?: unknown }).code;
  const ctx = (e as { context?: unknown }).context;
  if (typeof c !== 'string' || !c.startsWith('E_') || typeof ctx !== 'object' || !(e instanceof Error))
    return false;
  return code === undefined || c === code;
}
