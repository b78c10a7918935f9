import { DbkitError, type DbkitErrorContext } from '../../errors.js';

/** Error codes raised by the BigQuery helpers. */
export const BigQueryErrorCodes = {
  VALIDATION: 'E_BQ_VALIDATION',
  BUDGET: 'E_BQ_BUDGET',
  REQUEST: 'E_BQ_REQUEST',
} as const;

/**
 * A table spec, view spec, label set or query option is invalid; raised before any request is sent.
 *
 * @example
 * ```ts
 * try { defineTable(spec) } catch (e) { if (isDbkitError(e, 'E_BQ_VALIDATION')) console.log(e.context.issues) }
 * ```
 */
export class BigQueryValidationError extends DbkitError {
  static readonly code = BigQueryErrorCodes.VALIDATION;
  /** Every problem found, each `{ path, message }`. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(subject: string, issues: ReadonlyArray<{ path: string; message: string }>) {
    const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    super(BigQueryErrorCodes.VALIDATION, `Invalid ${subject}: ${list}`, { context: { subject, issues } });
    this.issues = issues;
  }
}

/**
 * A query was refused because its estimate is over budget or cannot be trusted, or BigQuery stopped it at
 * `maximumBytesBilled`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_BQ_BUDGET')) console.log(e.context.reason, e.context.bytes) }
 * ```
 */
export class BigQueryBudgetError extends DbkitError {
  static readonly code = BigQueryErrorCodes.BUDGET;
  /** Why: 'max-bytes' | 'max-cost' | 'inexact-estimate' | 'bytes-billed-limit'. */
  readonly reason: 'max-bytes' | 'max-cost' | 'inexact-estimate' | 'bytes-billed-limit';

  constructor(
    reason: BigQueryBudgetError['reason'],
    message: string,
    context: DbkitErrorContext,
    cause?: unknown,
  ) {
    super(BigQueryErrorCodes.BUDGET, message, { cause, context: { reason, ...context } });
    this.reason = reason;
  }
}

/**
 * A BigQuery API call failed; the client's error (with its `errors[].reason`) is kept as `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_BQ_REQUEST')) console.log(e.context.operation, e.cause) }
 * ```
 */
export class BigQueryRequestError extends DbkitError {
  static readonly code = BigQueryErrorCodes.REQUEST;
  constructor(operation: string, target: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(BigQueryErrorCodes.REQUEST, `BigQuery ${operation} on ${target} failed: ${detail}`, {
      cause,
      context: { operation, target },
    });
  }
}

/** HTTP status of a GCP client error (`code` on @google-cloud/common ApiError), if any. */
export function httpStatusOf(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}

/** The first `errors[].reason` of a GCP client error (e.g. 'bytesBilledLimitExceeded'), if any. */
export function errorReasonOf(e: unknown): string | undefined {
  const errs = (e as { errors?: Array<{ reason?: unknown }> } | null)?.errors;
  const r = Array.isArray(errs) ? errs[0]?.reason : undefined;
  return typeof r === 'string' ? r : undefined;
}
