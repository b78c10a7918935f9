/**
 * diagnostics_channel names published by dbkit/clients. Subscribe with `node:diagnostics_channel`;
 * messages never contain passwords.
 */
import { channel } from 'node:diagnostics_channel';

/**
 * Channel names of dbkit/clients.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(clientsChannels.create, (m) => console.log('created', m));
 * ```
 */
export const clientsChannels = {
  /** A client was created: `{ kind, name? }`. */
  create: 'dbkit:clients:create',
  /** closeAll finished: `{ closed, errors, timedOut, durationMs }`. */
  close: 'dbkit:clients:close',
  /** health() finished: `{ status, checks }`. */
  health: 'dbkit:clients:health',
  /** An event was published by an event bus: `{ eventType, topic, bytes }`. */
  publish: 'dbkit:clients:publish',
  /** An event was handed to a subscriber: `{ eventType, subscription, deliveryAttempt, outcome }`. */
  deliver: 'dbkit:clients:deliver',
} as const;

export const createChannel = channel(clientsChannels.create);
export const closeChannel = channel(clientsChannels.close);
export const healthChannel = channel(clientsChannels.health);
export const publishChannel = channel(clientsChannels.publish);
export const deliverChannel = channel(clientsChannels.deliver);
