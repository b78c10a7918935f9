import { DbkitError, type DbkitErrorContext } from '../errors.js';

/** Error codes raised by the Postgres part of dbkit/query. */
export const QueryErrorCodes = {
  EXPECTATION: 'E_QUERY_EXPECTATION',
  EXPLAIN: 'E_QUERY_EXPLAIN',
  /** explain() was given no statement or more than one; nothing was sent. */
  EXPLAIN_STATEMENTS: 'E_QUERY_EXPLAIN_STATEMENTS',
  INVALID: 'E_QUERY_INVALID',
} as const;

/**
 * `expectQueries` saw more queries than allowed or an N+1 pattern; the message is the readable report.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_QUERY_EXPECTATION')) console.log(e.context.count) }
 * ```
 */
export class QueryExpectationError extends DbkitError {
  static readonly code = QueryErrorCodes.EXPECTATION;
  constructor(message: string, context: DbkitErrorContext) {
    super(QueryErrorCodes.EXPECTATION, message, { context });
  }
}

/**
 * EXPLAIN could not run (bad SQL, unsupported database handle); the driver error is the `cause`. Code
 * `E_QUERY_EXPLAIN`, or `E_QUERY_EXPLAIN_STATEMENTS` when the text holds no statement or more than one
 * (raised before anything is sent; `context.statements` is the count, `context.separatorOffsets` where the
 * extra statements start).
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_QUERY_EXPLAIN_STATEMENTS')) console.log(e.context.statements) }
 * ```
 */
export class ExplainError extends DbkitError {
  static readonly code = QueryErrorCodes.EXPLAIN;
  constructor(
    message: string,
    context: DbkitErrorContext,
    cause?: unknown,
    code: (typeof QueryErrorCodes)['EXPLAIN' | 'EXPLAIN_STATEMENTS'] = QueryErrorCodes.EXPLAIN,
  ) {
    super(code, message, { cause, context });
  }
}

/**
 * An option passed to instrument/trackQueries/explain/createSlowQueryLog is out of range or of the wrong type.
 *
 * @example
 * ```ts
 * instrument(sql, { slowQueryMs: -1 }) // throws QueryOptionsError (code E_QUERY_INVALID)
 * ```
 */
export class QueryOptionsError extends DbkitError {
  static readonly code = QueryErrorCodes.INVALID;
  constructor(message: string, context: DbkitErrorContext) {
    super(QueryErrorCodes.INVALID, message, { context });
  }
}
