/** Options of `defineEventBus()` and their one resolver. */
import type { BatchPublishOptions } from '@google-cloud/pubsub';
import { ConfigError } from '../errors.js';
import type { ClientManager } from './client-manager.js';
import { isValidResourceId } from './event-routing.js';

/** Retention tiers: how long a subscription keeps unacked messages. */
export type EventRetentionTier = 'transient' | 'standard' | 'critical';

/** One consolidated topic. */
export interface EventBusTopicSpec {
  /** Retention tier of its subscriptions. @default 'standard' */
  retention?: EventRetentionTier;
  /** Enable ordering keys (publisher and subscriptions). @default false */
  messageOrdering?: boolean;
  /** Give it a dead-letter topic `<id><suffix>` and use it in its subscriptions. @default true */
  deadLetter?: boolean;
  /** Pub/Sub topic id. @default `${topicPrefix}${key}` */
  id?: string;
}

/** A subscription the bus manages. */
export interface EventBusSubscriptionSpec {
  /** Topic key (a key of `topics`). */
  topic: string;
  /** Event types (exact, or with a trailing `*`) this subscription wants; server filter generated. @default all */
  eventTypes?: string[];
  /** Deliveries before a message goes to the dead-letter topic (5-100). @default deadLetter.maxDeliveryAttempts */
  maxDeliveryAttempts?: number;
  /** Ack deadline in seconds. @default 60 */
  ackDeadlineSeconds?: number;
}

/** What `defineEventBus()` accepts. */
export interface EventBusOptions {
  /** The client manager whose Pub/Sub client and cached topics are used. @default getClientManager() */
  manager?: ClientManager;
  /** Consolidated topics by key, e.g. `{ marketing: { retention: 'standard' }, system: {} }`. */
  topics: Record<string, EventBusTopicSpec>;
  /** Event-type globs to topic keys, e.g. `{ 'marketing.*': 'marketing' }`; the most specific glob wins. */
  routes: Record<string, string>;
  /** Subscriptions `ensureTopology()` creates or updates. @default {} */
  subscriptions?: Record<string, EventBusSubscriptionSpec>;
  /** Prefix of every topic id (environments, tests). @default '' */
  topicPrefix?: string;
  /** Dead-letter settings. @default { enabled: true, maxDeliveryAttempts: 5, suffix: '-dead-letter' } */
  deadLetter?: { enabled?: boolean; maxDeliveryAttempts?: number; suffix?: string };
  /** Seconds per retention tier (600 to 604800). @default { transient: 86400, standard: 259200, critical: 604800 } */
  retention?: Partial<Record<EventRetentionTier, number>>;
  /** Redelivery backoff after a nack (0-600 s), or false for immediate redelivery. @default { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 } */
  retry?: { minimumBackoffSeconds?: number; maximumBackoffSeconds?: number } | false;
  /** Publisher batching for the bus's topics. @default Pub/Sub's (100 messages, 10 ms, 1 MB) */
  batching?: BatchPublishOptions;
  /** Filter in the subscriber too: 'auto' does so when the manager talks to the emulator. @default 'auto' */
  clientSideFilter?: 'auto' | boolean;
}

/** Options after defaults and validation. */
export interface ResolvedEventBusOptions {
  topics: Record<
    string,
    { id: string; retention: EventRetentionTier; messageOrdering: boolean; deadLetter: boolean }
  >;
  routes: Record<string, string>;
  subscriptions: Record<string, EventBusSubscriptionSpec>;
  deadLetter: { enabled: boolean; maxDeliveryAttempts: number; suffix: string };
  retention: Record<EventRetentionTier, number>;
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number } | false;
  batching: BatchPublishOptions | undefined;
  /** Whether subscriptions also filter by event type in process (true for an emulator without filter support). */
  clientSideFilter(manager: ClientManager): boolean;
  /** Validates a maxDeliveryAttempts value (`where` names the option in the error). */
  checkAttempts(n: number, where: string): void;
}

const defaults = {
  topicPrefix: '',
  deadLetter: { enabled: true, maxDeliveryAttempts: 5, suffix: '-dead-letter' },
  retention: { transient: 86_400, standard: 259_200, critical: 604_800 },
  retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
  topic: { retention: 'standard' as EventRetentionTier, messageOrdering: false, deadLetter: true },
} as const;

function checkAttempts(n: number, where: string): void {
  if (!Number.isInteger(n) || n < 5 || n > 100) {
    throw new ConfigError(`${where}: maxDeliveryAttempts must be an integer from 5 to 100 (got ${n})`, {
      context: { maxDeliveryAttempts: n },
    });
  }
}

/**
 * Fills in defaults and validates an event bus definition (topic ids, tiers, attempts, backoff).
 *
 * @example
 * ```ts
 * resolveEventBusOptions({ topics: { a: {} }, routes: { 'a.*': 'a' } }).topics.a.id // 'a'
 * ```
 */
export function resolveEventBusOptions(o: EventBusOptions): ResolvedEventBusOptions {
  const prefix = o.topicPrefix ?? defaults.topicPrefix;
  const deadLetter = { ...defaults.deadLetter, ...o.deadLetter };
  checkAttempts(deadLetter.maxDeliveryAttempts, 'deadLetter');
  const retention = { ...defaults.retention, ...o.retention };
  for (const [tier, s] of Object.entries(retention)) {
    if (!Number.isInteger(s) || s < 600 || s > 604_800) {
      throw new ConfigError(`retention.${tier} must be 600-604800 seconds (got ${s})`);
    }
  }
  const retry = o.retry === false ? false : { ...defaults.retry, ...o.retry };
  if (retry) {
    const { minimumBackoffSeconds: min, maximumBackoffSeconds: max } = retry;
    if (!(min >= 0 && max <= 600 && min <= max)) {
      throw new ConfigError(`retry backoff must satisfy 0 <= minimum <= maximum <= 600 (got ${min}..${max})`);
    }
  }
  const keys = Object.keys(o.topics);
  if (keys.length === 0) throw new ConfigError('defineEventBus: declare at least one topic');
  const topics: ResolvedEventBusOptions['topics'] = {};
  for (const key of keys) {
    const spec = { ...defaults.topic, ...o.topics[key] };
    const id = spec.id ?? `${prefix}${key}`;
    const dlq = `${id}${deadLetter.suffix}-sub`;
    if (!isValidResourceId(id) || (deadLetter.enabled && !isValidResourceId(dlq))) {
      throw new ConfigError(
        `Topic "${key}": "${id}" is not a valid Pub/Sub topic id (3-255 chars, a letter first)`,
      );
    }
    if (!(spec.retention in retention))
      throw new ConfigError(`Topic "${key}": unknown retention "${spec.retention}"`);
    topics[key] = {
      id,
      retention: spec.retention,
      messageOrdering: spec.messageOrdering,
      deadLetter: spec.deadLetter,
    };
  }
  const subscriptions = o.subscriptions ?? {};
  for (const name of Object.keys(subscriptions)) {
    if (!isValidResourceId(name)) throw new ConfigError(`"${name}" is not a valid Pub/Sub subscription id`);
  }
  const mode = o.clientSideFilter ?? 'auto';
  return {
    topics,
    routes: { ...o.routes },
    subscriptions,
    deadLetter,
    retention,
    retry,
    batching: o.batching,
    clientSideFilter: (m) =>
      mode === 'auto'
        ? m.config.pubsubEmulatorHost !== undefined || m.config.pubsub.emulatorMode === true
        : mode,
    checkAttempts,
  };
}
