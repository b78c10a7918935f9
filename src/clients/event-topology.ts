/**
 * Idempotent creation and update of event-bus topics, dead-letter topics and subscriptions.
 * What Pub/Sub cannot change in place (a subscription's filter or ordering) is reported as a conflict.
 */
import type { PubSub, protos } from '@google-cloud/pubsub';

/** What `bus.ensureTopology()` (and `subscribe()`) changed. */
export interface EventTopologyChanges {
  /** Resources created, e.g. 'topic:orders', 'subscription:billing'. */
  created: string[];
  /** Resources whose mutable settings were updated (dead-letter policy, retry, retention, ack deadline). */
  updated: string[];
  /** Resources already as declared. */
  unchanged: string[];
  /** Resources that differ in something Pub/Sub cannot update (filter, ordering): recreate them to apply. */
  conflicts: Array<{ resource: string; reason: string }>;
}

/** The subscription settings the bus manages. */
export interface DesiredSubscription {
  topic: string;
  filter: string;
  enableMessageOrdering: boolean;
  ackDeadlineSeconds: number;
  retentionSeconds: number;
  deadLetter: { topic: string; maxDeliveryAttempts: number } | undefined;
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number } | undefined;
}

/** An empty change set. */
export function emptyChanges(): EventTopologyChanges {
  return { created: [], updated: [], unchanged: [], conflicts: [] };
}

const ALREADY_EXISTS = 6;
const isAlreadyExists = (e: unknown) => (e as { code?: number }).code === ALREADY_EXISTS;
const secondsOf = (d: protos.google.protobuf.IDuration | null | undefined): number =>
  d?.seconds === undefined || d.seconds === null ? 0 : Number(d.seconds);

/** Creates topic `id` unless it exists (a concurrent creator counts as existing). */
export async function ensureTopic(pubsub: PubSub, id: string, changes: EventTopologyChanges): Promise<void> {
  const topic = pubsub.topic(id);
  const [exists] = await topic.exists();
  if (exists) {
    changes.unchanged.push(`topic:${id}`);
    return;
  }
  try {
    await topic.create();
    changes.created.push(`topic:${id}`);
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    changes.unchanged.push(`topic:${id}`);
  }
}

/** Creates subscription `name` as desired, or updates what can change, or reports a conflict. */
export async function ensureSubscription(
  pubsub: PubSub,
  name: string,
  want: DesiredSubscription,
  changes: EventTopologyChanges,
): Promise<void> {
  const resource = `subscription:${name}`;
  const full = (topicId: string) => pubsub.topic(topicId).name;
  const deadLetterPolicy = want.deadLetter
    ? {
        deadLetterTopic: full(want.deadLetter.topic),
        maxDeliveryAttempts: want.deadLetter.maxDeliveryAttempts,
      }
    : null;
  const retryPolicy = want.retry
    ? {
        minimumBackoff: { seconds: want.retry.minimumBackoffSeconds },
        maximumBackoff: { seconds: want.retry.maximumBackoffSeconds },
      }
    : null;
  const sub = pubsub.subscription(name);
  const [exists] = await sub.exists();
  if (!exists) {
    try {
      await pubsub.createSubscription(want.topic, name, {
        ...(want.filter ? { filter: want.filter } : {}),
        enableMessageOrdering: want.enableMessageOrdering,
        ackDeadlineSeconds: want.ackDeadlineSeconds,
        messageRetentionDuration: { seconds: want.retentionSeconds },
        ...(deadLetterPolicy ? { deadLetterPolicy } : {}),
        ...(retryPolicy ? { retryPolicy } : {}),
      });
      changes.created.push(resource);
      return;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }
  const [meta] = await sub.getMetadata();
  const reasons: string[] = [];
  if ((meta.topic ?? '') !== full(want.topic))
    reasons.push(`topic is ${meta.topic}, declared ${full(want.topic)}`);
  if ((meta.filter ?? '') !== want.filter)
    reasons.push(`filter is "${meta.filter ?? ''}", declared "${want.filter}"`);
  if (Boolean(meta.enableMessageOrdering) !== want.enableMessageOrdering)
    reasons.push(`enableMessageOrdering is ${Boolean(meta.enableMessageOrdering)}`);
  if (reasons.length) changes.conflicts.push({ resource, reason: reasons.join('; ') });
  const patch: Record<string, unknown> = {};
  const dl = meta.deadLetterPolicy;
  if (
    (dl?.deadLetterTopic ?? null) !== (deadLetterPolicy?.deadLetterTopic ?? null) ||
    (deadLetterPolicy && dl?.maxDeliveryAttempts !== deadLetterPolicy.maxDeliveryAttempts)
  ) {
    patch.deadLetterPolicy = deadLetterPolicy;
  }
  const rp = meta.retryPolicy;
  if (
    Boolean(rp) !== Boolean(retryPolicy) ||
    (want.retry &&
      (secondsOf(rp?.minimumBackoff) !== want.retry.minimumBackoffSeconds ||
        secondsOf(rp?.maximumBackoff) !== want.retry.maximumBackoffSeconds))
  ) {
    patch.retryPolicy = retryPolicy;
  }
  if (secondsOf(meta.messageRetentionDuration) !== want.retentionSeconds) {
    patch.messageRetentionDuration = { seconds: want.retentionSeconds };
  }
  if ((meta.ackDeadlineSeconds ?? 0) !== want.ackDeadlineSeconds)
    patch.ackDeadlineSeconds = want.ackDeadlineSeconds;
  if (Object.keys(patch).length === 0) {
    if (!reasons.length) changes.unchanged.push(resource);
    return;
  }
  await sub.setMetadata(patch);
  changes.updated.push(resource);
}
