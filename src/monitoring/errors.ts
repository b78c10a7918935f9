import { DbkitError, type DbkitErrorOptions } from '../errors.js';

/** Error codes raised by dbkit/monitoring. */
export const MonitoringErrorCodes = {
  INVALID_INPUT: 'E_MONITORING_INPUT',
  CANCEL_REFUSED: 'E_CANCEL_REFUSED',
  BACKEND_NOT_FOUND: 'E_BACKEND_NOT_FOUND',
  CHECK_FAILED: 'E_CHECK_FAILED',
} as const;

/**
 * A monitoring function got an argument it cannot work with (negative count, `max` of 0, NaN).
 *
 * @example
 * ```ts
 * try { poolHealthScore({ inUse: 1, max: 0, pending: 0 }) } catch (e) { e.code === 'E_MONITORING_INPUT' }
 * ```
 */
export class MonitoringInputError extends DbkitError {
  static readonly code = MonitoringErrorCodes.INVALID_INPUT;
  constructor(field: string, value: unknown, expected: string) {
    super(MonitoringErrorCodes.INVALID_INPUT, `${field} must be ${expected} (got ${String(value)})`, {
      context: { field, value, expected },
    });
  }
}

/** Why {@link cancelBackend} refused to touch a backend. */
export type CancelRefusalReason =
  | 'own-backend'
  | 'autovacuum'
  | 'walsender'
  | 'not-client-backend'
  | 'not-allowed-application';

/**
 * `cancelBackend()` refused: the target is this session, autovacuum, a WAL sender, another
 * non-client process, or outside `allowApplicationNames`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_CANCEL_REFUSED')) console.log(e.context.reason) }
 * ```
 */
export class CancelRefusedError extends DbkitError {
  static readonly code = MonitoringErrorCodes.CANCEL_REFUSED;
  /** The machine-readable reason. */
  readonly reason: CancelRefusalReason;
  constructor(pid: number, reason: CancelRefusalReason, detail: string) {
    super(MonitoringErrorCodes.CANCEL_REFUSED, `Refusing to cancel backend ${pid}: ${detail}`, {
      context: { pid, reason },
    });
    this.reason = reason;
  }
}

/**
 * `cancelBackend()` found no backend with that pid in pg_stat_activity.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_BACKEND_NOT_FOUND')) console.log('already gone') }
 * ```
 */
export class BackendNotFoundError extends DbkitError {
  static readonly code = MonitoringErrorCodes.BACKEND_NOT_FOUND;
  constructor(pid: number) {
    super(MonitoringErrorCodes.BACKEND_NOT_FOUND, `No backend with pid ${pid} in pg_stat_activity`, {
      context: { pid },
    });
  }
}

/**
 * A health check query failed (permissions, missing view); the driver error is the `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_CHECK_FAILED')) console.log(e.context.check, e.cause) }
 * ```
 */
export class CheckFailedError extends DbkitError {
  static readonly code = MonitoringErrorCodes.CHECK_FAILED;
  constructor(check: string, options: DbkitErrorOptions = {}) {
    const msg = (options.cause as Error | undefined)?.message ?? 'unknown error';
    super(MonitoringErrorCodes.CHECK_FAILED, `Health check "${check}" failed: ${msg}`, {
      ...options,
      context: { check, ...options.context },
    });
  }
}
