/**
 * A Pub/Sub event bus: event types routed onto a few consolidated topics, batched publishing through the
 * manager's cached topics, subscriptions with generated filters, dead-letter topics and retry backoff.
 */
import type { Message, Subscription } from '@google-cloud/pubsub';
import { ConfigError } from '../errors.js';
import { redactSecrets } from '../internal/redact.js';
import { deliverChannel, publishChannel } from './channels.js';
import { type ClientManager, getClientManager } from './client-manager.js';
import { EventFilterError, EventPayloadError, EventPublishError, UnknownEventTypeError } from './errors.js';
import {
  type EventBusOptions,
  type EventBusSubscriptionSpec,
  type ResolvedEventBusOptions,
  resolveEventBusOptions,
} from './event-bus-options.js';
import { buildEventFilter, compileRoutes, type EventRouter } from './event-routing.js';
import {
  type DesiredSubscription,
  type EventTopologyChanges,
  emptyChanges,
  ensureSubscription,
  ensureTopic,
} from './event-topology.js';

/** Pub/Sub's maximum message size. */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
const RESERVED = new Set(['eventType', 'domain', 'contentType']);

/** What a subscriber's handler receives. */
export interface BusEvent<T = unknown> {
  /** e.g. 'marketing.campaign.created'. */
  eventType: string;
  /** The first segment of the event type ('marketing'). */
  domain: string;
  /** Parsed JSON, or a Buffer when a Buffer was published. */
  data: T;
  /** Every message attribute (eventType, domain, contentType and the publisher's own). */
  attributes: Record<string, string>;
  /** 1 on first delivery; counts up with each redelivery (set when a dead-letter policy exists). */
  deliveryAttempt: number;
  /** Pub/Sub message id. */
  messageId: string;
  /** The ordering key, if one was published. */
  orderingKey?: string;
  /** When Pub/Sub accepted the message. */
  publishTime: Date;
}

/** A subscriber's handler: resolve to ack, throw to nack (redelivered with the retry backoff). */
export type BusEventHandler<T = unknown> = (event: BusEvent<T>) => unknown | Promise<unknown>;

/** Per-publish options. */
export interface BusPublishOptions {
  /** Messages with the same key are delivered in publish order (subscriptions of ordered topics). @default undefined */
  orderingKey?: string;
  /** Extra string attributes (eventType, domain and contentType are reserved). @default {} */
  attributes?: Record<string, string>;
}

/** Options of `bus.subscribe()` (the subscription's own settings, plus delivery tuning). */
export interface BusSubscribeOptions extends EventBusSubscriptionSpec {
  /** Flow control of the streaming pull. @default { maxMessages: 100 } */
  flowControl?: { maxMessages?: number; maxBytes?: number; allowExcessMessages?: boolean };
  /** Called when a handler throws or a message cannot be decoded (the message is nacked). @default logs a warning */
  onError?: (error: unknown, event: Partial<BusEvent> & { messageId: string }) => void;
}

/** A running subscription; `close()` stops delivery (closeAll() calls it too). */
export interface BusSubscriptionHandle {
  /** Subscription id. */
  readonly name: string;
  /** The underlying Pub/Sub subscription. */
  readonly subscription: Subscription;
  /** True when the bus filters client-side (emulator). */
  readonly clientSideFilter: boolean;
  /** Stops delivery and waits for in-flight acks. */
  close(): Promise<void>;
}

/**
 * An event bus over the manager's Pub/Sub client. Create with {@link defineEventBus}.
 *
 * @example
 * ```ts
 * const bus = defineEventBus({ topics: { marketing: {} }, routes: { 'marketing.*': 'marketing' } });
 * await bus.ensureTopology(); await bus.publish('marketing.campaign.created', { id: 1 });
 * ```
 */
export class EventBus {
  /** The resolved options. */
  readonly options: ResolvedEventBusOptions;
  readonly #manager: ClientManager;
  readonly #router: EventRouter;
  readonly #used = new Set<string>();
  #warned = false;

  constructor(options: EventBusOptions) {
    this.options = resolveEventBusOptions(options);
    this.#manager = options.manager ?? getClientManager();
    this.#router = compileRoutes(this.options.routes, new Set(Object.keys(this.options.topics)));
  }

  /** Pub/Sub topic id of a topic key. @example `bus.topicId('marketing') // 'prod-marketing'` */
  topicId(key: string): string {
    const t = this.options.topics[key];
    if (!t)
      throw new ConfigError(
        `Unknown topic key "${key}" (topics: ${Object.keys(this.options.topics).join(', ')})`,
      );
    return t.id;
  }

  /** The topic key an event type routes to, or undefined. @example `bus.route('marketing.x') // 'marketing'` */
  route(eventType: string): string | undefined {
    return this.#router.route(eventType);
  }

  #desired(name: string, spec: EventBusSubscriptionSpec): DesiredSubscription {
    const topic = this.options.topics[spec.topic];
    if (!topic) {
      throw new ConfigError(`Subscription "${name}": unknown topic key "${spec.topic}"`, {
        context: { subscription: name, topic: spec.topic },
      });
    }
    const filter = buildEventFilter(name, spec.eventTypes);
    for (const t of spec.eventTypes ?? []) {
      const routed = t.includes('*') ? spec.topic : this.#router.route(t);
      if (routed !== spec.topic) {
        throw new EventFilterError(
          `Subscription "${name}": event type "${t}" routes to ${routed ? `topic "${routed}"` : 'no topic'}, not "${spec.topic}", so it would never arrive`,
          { context: { subscription: name, eventType: t, topic: spec.topic } },
        );
      }
    }
    const attempts = spec.maxDeliveryAttempts ?? this.options.deadLetter.maxDeliveryAttempts;
    this.options.checkAttempts(attempts, `subscription ${name}`);
    return {
      topic: topic.id,
      filter: filter.expression,
      enableMessageOrdering: topic.messageOrdering,
      ackDeadlineSeconds: spec.ackDeadlineSeconds ?? 60,
      retentionSeconds: this.options.retention[topic.retention],
      deadLetter:
        this.options.deadLetter.enabled && topic.deadLetter
          ? { topic: `${topic.id}${this.options.deadLetter.suffix}`, maxDeliveryAttempts: attempts }
          : undefined,
      retry: this.options.retry || undefined,
    };
  }

  /**
   * Creates or updates topics, dead-letter topics (each with a subscription that keeps what lands there) and
   * declared subscriptions. Idempotent: a second run reports everything unchanged.
   *
   * @example
   * ```ts
   * const { created, updated, conflicts } = await bus.ensureTopology();
   * ```
   */
  async ensureTopology(): Promise<EventTopologyChanges> {
    const ps = this.#manager.pubsub();
    const changes = emptyChanges();
    const declared = Object.entries(this.options.subscriptions).map(
      ([n, s]) => [n, this.#desired(n, s)] as const,
    );
    for (const t of Object.values(this.options.topics)) {
      await ensureTopic(ps, t.id, changes);
      if (this.options.deadLetter.enabled && t.deadLetter) {
        const dlq = `${t.id}${this.options.deadLetter.suffix}`;
        await ensureTopic(ps, dlq, changes);
        await ensureSubscription(
          ps,
          `${dlq}-sub`,
          {
            topic: dlq,
            filter: '',
            enableMessageOrdering: false,
            ackDeadlineSeconds: 60,
            retentionSeconds: this.options.retention.critical,
            deadLetter: undefined,
            retry: undefined,
          },
          changes,
        );
      }
    }
    for (const [name, want] of declared) await ensureSubscription(ps, name, want, changes);
    return changes;
  }

  /**
   * Publishes one event to the topic its type routes to (batched; resolves with the message id once sent).
   * An unknown type or a bad payload throws before anything is published.
   *
   * @example
   * ```ts
   * await bus.publish('marketing.campaign.created', { id: 7 }, { orderingKey: 'campaign-7' });
   * ```
   */
  async publish(eventType: string, data: unknown, options: BusPublishOptions = {}): Promise<string> {
    const key = this.#router.route(eventType);
    if (!key) throw new UnknownEventTypeError(eventType, this.#router.patterns);
    const topicSpec = this.options.topics[key]!;
    const binary = Buffer.isBuffer(data) || data instanceof Uint8Array;
    let payload: Buffer;
    if (binary) payload = Buffer.from(data as Uint8Array);
    else {
      let json: string | undefined;
      try {
        json = JSON.stringify(data);
      } catch (e) {
        throw new EventPayloadError(eventType, 'data is not JSON-serialisable', { cause: e });
      }
      if (json === undefined) throw new EventPayloadError(eventType, 'data is not JSON-serialisable');
      payload = Buffer.from(json);
    }
    if (payload.length > MAX_MESSAGE_BYTES) {
      throw new EventPayloadError(eventType, `payload is ${payload.length} bytes, over the 10 MB limit`, {
        context: { bytes: payload.length },
      });
    }
    const extra = options.attributes ?? {};
    for (const [k, v] of Object.entries(extra)) {
      if (RESERVED.has(k) || typeof v !== 'string') {
        throw new EventPayloadError(eventType, `attribute "${k}" is reserved or not a string`);
      }
    }
    const attributes = {
      ...extra,
      eventType,
      domain: eventType.split('.')[0]!,
      contentType: binary ? 'application/octet-stream' : 'application/json',
    };
    const topic = this.#manager.topic(topicSpec.id, this.options.batching, {
      messageOrdering: topicSpec.messageOrdering,
    });
    this.#used.add(topicSpec.id);
    if (publishChannel.hasSubscribers)
      publishChannel.publish({ eventType, topic: topicSpec.id, bytes: payload.length });
    try {
      return await topic.publishMessage({
        data: payload,
        attributes,
        ...(options.orderingKey ? { orderingKey: options.orderingKey } : {}),
      });
    } catch (e) {
      // A failed ordered publish pauses its key; resume so later events for it can be sent.
      if (options.orderingKey) topic.resumePublishing(options.orderingKey);
      throw new EventPublishError(eventType, topicSpec.id, e);
    }
  }

  /**
   * Sends every batched message now.
   *
   * @example
   * ```ts
   * bus.publish('a.b', {}); await bus.flush();
   * ```
   */
  async flush(): Promise<void> {
    await Promise.all([...this.#used].map((id) => this.#manager.topic(id).flush()));
  }

  /**
   * Creates the subscription if needed (filter from eventTypes, dead-letter policy, retry backoff) and
   * delivers events to `handler`: resolve acks, throw nacks. On the emulator the filter is applied client-side.
   *
   * @example
   * ```ts
   * const sub = await bus.subscribe('billing', (e) => bill(e.data), { topic: 'orders', eventTypes: ['orders.paid'] });
   * await sub.close();
   * ```
   */
  async subscribe<T = unknown>(
    name: string,
    handler: BusEventHandler<T>,
    options: BusSubscribeOptions,
  ): Promise<BusSubscriptionHandle> {
    const want = this.#desired(name, options);
    const filter = buildEventFilter(name, options.eventTypes);
    const ps = this.#manager.pubsub();
    await ensureSubscription(ps, name, want, emptyChanges());
    const clientSide = filter.expression !== '' && this.options.clientSideFilter(this.#manager);
    const logger = this.#manager.config.logger;
    if (clientSide && !this.#warned) {
      this.#warned = true;
      logger.warn(
        'dbkit event bus: the Pub/Sub emulator stores subscription filters but does not apply them; ' +
          'filtering client-side (messages that do not match are acked unseen)',
      );
    }
    const subscription = ps.subscription(name, {
      flowControl: { maxMessages: 100, ...options.flowControl },
    });
    const onError =
      options.onError ??
      ((e: unknown, ev: { eventType?: string; messageId: string }) =>
        logger.warn(
          `dbkit event bus: ${name} nacked ${ev.eventType ?? '?'} ${ev.messageId}: ${redactSecrets(
            e instanceof Error ? e.message : String(e),
            this.#manager.config.secrets,
          )}`,
        ));
    const onMessage = async (m: Message) => {
      const eventType = m.attributes.eventType ?? '';
      const base = { messageId: m.id, eventType, deliveryAttempt: m.deliveryAttempt };
      if (clientSide && !filter.matches(eventType)) {
        m.ack();
        return;
      }
      let outcome: 'ack' | 'nack' = 'ack';
      try {
        const data =
          m.attributes.contentType === 'application/octet-stream' ? m.data : JSON.parse(m.data.toString());
        const event: BusEvent<T> = {
          eventType,
          domain: m.attributes.domain ?? eventType.split('.')[0] ?? '',
          data: data as T,
          attributes: { ...m.attributes },
          deliveryAttempt: m.deliveryAttempt || 1,
          messageId: m.id,
          ...(m.orderingKey ? { orderingKey: m.orderingKey } : {}),
          publishTime: new Date(m.publishTime.getTime()),
        };
        await handler(event);
        m.ack();
      } catch (e) {
        outcome = 'nack';
        m.nack();
        onError(e, base);
      }
      if (deliverChannel.hasSubscribers) deliverChannel.publish({ ...base, subscription: name, outcome });
    };
    const onStreamError = (e: Error) =>
      logger.warn(
        `dbkit event bus: subscription ${name}: ${redactSecrets(e.message, this.#manager.config.secrets)}`,
      );
    subscription.on('message', onMessage);
    subscription.on('error', onStreamError);
    let closing: Promise<void> | undefined;
    const handle: BusSubscriptionHandle = {
      name,
      subscription,
      clientSideFilter: clientSide,
      close: () => {
        closing ??= (async () => {
          untrack();
          await subscription.close();
          subscription.off('message', onMessage);
          subscription.off('error', onStreamError);
        })();
        return closing;
      },
    };
    const untrack = this.#manager.trackClosable(handle);
    return handle;
  }
}

/**
 * Defines an event bus (nothing is created until `ensureTopology()`, `publish()` or `subscribe()`).
 *
 * @example
 * ```ts
 * const bus = defineEventBus({
 *   topics: { marketing: { retention: 'standard' }, system: { retention: 'transient' } },
 *   routes: { 'marketing.*': 'marketing', 'system.*': 'system' },
 * });
 * ```
 */
export function defineEventBus(options: EventBusOptions): EventBus {
  return new EventBus(options);
}
