/**
 * dbkit/clients: public surface (every export listed by name).
 * @packageDocumentation
 */
export { ClientClosedError, DbkitError, isDbkitError } from '../errors.js';
export { clientsChannels } from './channels.js';
export {
  type ClientKind,
  ClientManager,
  type ClientManagerStats,
  type ClientsCacheOptions,
  type ClientsClosable,
  type ClientsMetricsOptions,
  type ClientsPoolHealth,
  type ClientsPoolHealthOptions,
  type ClientsPoolHealthReport,
  type ClientsSql,
  type ClientsTopicOptions,
  createClientManager,
  getClientManager,
} from './client-manager.js';
export type { ClientsCloseOptions, ClientsCloseResult } from './close-steps.js';
export {
  type ClientManagerConfig,
  type ClientsClusterNode,
  type ClientsLogger,
  type ClientsPoolOptions,
  type ResolvedClientManagerConfig,
  resolveClientManagerConfig,
} from './config.js';
export {
  ClientsErrorCodes,
  EventFilterError,
  EventPayloadError,
  EventPublishError,
  UnknownEventTypeError,
} from './errors.js';
export {
  type BusEvent,
  type BusEventHandler,
  type BusPublishOptions,
  type BusSubscribeOptions,
  type BusSubscriptionHandle,
  defineEventBus,
  EventBus,
} from './event-bus.js';
export {
  type EventBusOptions,
  type EventBusSubscriptionSpec,
  type EventBusTopicSpec,
  type EventRetentionTier,
  type ResolvedEventBusOptions,
  resolveEventBusOptions,
} from './event-bus-options.js';
export { buildEventFilter, type EventFilter, PUBSUB_FILTER_MAX_BYTES } from './event-routing.js';
export type { EventTopologyChanges } from './event-topology.js';
export {
  type ClientHealthCheck,
  type ClientHealthOptions,
  type ClientHealthReport,
  type TerminusHealthResult,
  type TerminusIndicator,
  toTerminusResult,
} from './health.js';
export type { ShutdownDrainResult, ShutdownHookOptions, ShutdownServer } from './shutdown-hooks.js';
export {
  type ApplyBucketLifecycleOptions,
  type ApplyBucketLifecycleResult,
  applyBucketLifecycle,
  type GcsLifecycleCondition,
  type GcsLifecycleRule,
  type GcsObjectMatch,
  type GcsStorageClass,
  resolveStorageLifecycleOptions,
  STORAGE_LIFECYCLE_APPLIED_CHANNEL,
  type StandardLifecycleOptions,
  StorageLifecycleBuilder,
  StorageLifecycleValidationError,
  StorageRequestError,
  standardStorageLifecycle,
  storageLifecycle,
  validateLifecycleRules,
} from './storage-lifecycle.js';
