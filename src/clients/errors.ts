/** Errors raised by dbkit/clients (client manager and event bus). */
import { DbkitError, type DbkitErrorOptions } from '../errors.js';

/** Error codes of dbkit/clients. */
export const ClientsErrorCodes = {
  UNKNOWN_EVENT_TYPE: 'E_EVENT_UNKNOWN_TYPE',
  EVENT_PAYLOAD: 'E_EVENT_PAYLOAD',
  EVENT_FILTER: 'E_EVENT_FILTER',
  EVENT_PUBLISH: 'E_EVENT_PUBLISH',
} as const;

/**
 * `bus.publish()` got an event type no route matches (nothing was published).
 *
 * @example
 * ```ts
 * if (isDbkitError(e, 'E_EVENT_UNKNOWN_TYPE')) console.log(e.context.eventType)
 * ```
 */
export class UnknownEventTypeError extends DbkitError {
  static readonly code = ClientsErrorCodes.UNKNOWN_EVENT_TYPE;
  constructor(eventType: string, knownRoutes: string[]) {
    super(
      ClientsErrorCodes.UNKNOWN_EVENT_TYPE,
      `No route matches event type "${eventType}" (routes: ${knownRoutes.join(', ') || 'none'}); nothing was published.`,
      { context: { eventType, routes: knownRoutes } },
    );
  }
}

/**
 * An event payload cannot be sent (not JSON-serialisable, or over the 10 MB Pub/Sub limit).
 *
 * @example
 * ```ts
 * await bus.publish('a.b', { n: 1n }) // throws EventPayloadError (BigInt is not JSON)
 * ```
 */
export class EventPayloadError extends DbkitError {
  static readonly code = ClientsErrorCodes.EVENT_PAYLOAD;
  constructor(eventType: string, message: string, options: DbkitErrorOptions = {}) {
    super(ClientsErrorCodes.EVENT_PAYLOAD, `Event "${eventType}": ${message}`, {
      ...options,
      context: { eventType, ...options.context },
    });
  }
}

/**
 * A subscription filter cannot be generated (over Pub/Sub's 256-byte limit, or a glob it cannot express).
 *
 * @example
 * ```ts
 * if (e instanceof EventFilterError) console.log(e.context.bytes)
 * ```
 */
export class EventFilterError extends DbkitError {
  static readonly code = ClientsErrorCodes.EVENT_FILTER;
  constructor(message: string, options: DbkitErrorOptions = {}) {
    super(ClientsErrorCodes.EVENT_FILTER, message, options);
  }
}

/**
 * Pub/Sub rejected a publish (the driver error is the `cause`).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof EventPublishError) console.log(e.context.topic) }
 * ```
 */
export class EventPublishError extends DbkitError {
  static readonly code = ClientsErrorCodes.EVENT_PUBLISH;
  constructor(eventType: string, topic: string, cause: unknown) {
    super(ClientsErrorCodes.EVENT_PUBLISH, `Publishing "${eventType}" to topic "${topic}" failed`, {
      cause,
      context: { eventType, topic },
    });
  }
}
