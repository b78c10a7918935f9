import { channel } from 'node:diagnostics_channel';

/**
 * diagnostics_channel names published by dbkit/monitoring. Metrics adapters subscribe to these.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(MONITORING_CHANNELS.query, (m) => console.log(m));
 * ```
 */
export const MONITORING_CHANNELS = {
  /** A monitored query, transaction or reservation finished: `{ pool, kind, durationMs, error?, source }` (`source`: which monitor; pool names need not be unique). */
  query: 'dbkit:monitoring:query',
  /** A unit of work got a connection after waiting: `{ pool, waitMs, source }`. */
  acquire: 'dbkit:monitoring:acquire',
  /** An alert rule fired: {@link AlertEvent}. */
  alert: 'dbkit:monitoring:alert',
  /** cancelBackend() cancelled or terminated a backend: `{ pid, action, dryRun }`. */
  cancel: 'dbkit:monitoring:cancel',
} as const;

export const queryChannel = channel(MONITORING_CHANNELS.query);
export const acquireChannel = channel(MONITORING_CHANNELS.acquire);
export const alertChannel = channel(MONITORING_CHANNELS.alert);
export const cancelChannel = channel(MONITORING_CHANNELS.cancel);
