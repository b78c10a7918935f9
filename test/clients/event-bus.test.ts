import type { Message, PubSub } from '@google-cloud/pubsub';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type BusEvent,
  type ClientManager,
  createClientManager,
  defineEventBus,
  type EventBusOptions,
  EventFilterError,
  EventPayloadError,
  isDbkitError,
  UnknownEventTypeError,
} from '../../src/clients/index.js';
import { ConfigError } from '../../src/errors.js';
import { sleep, waitFor } from '../setup/index.js';

const prefix = `dbkit-${inject('runId')}-${Math.random().toString(36).slice(2, 7)}-`;
const managers: ClientManager[] = [];
const warnings: string[] = [];
const manager = () => {
  const m = createClientManager({
    env: {},
    projectId: 'dbkit-test',
    pubsubEmulatorHost: inject('pubsubEmulatorHost'),
    logger: { warn: (l) => warnings.push(l) },
  });
  managers.push(m);
  return m;
};
afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 5000 })));
});

let n = 0;
/** A bus on its own topics (unique per call) so tests never see each other's messages. */
function bus(over: Partial<EventBusOptions> = {}, m = manager()) {
  const p = `${prefix}${n++}-`;
  return defineEventBus({
    manager: m,
    topicPrefix: p,
    topics: { marketing: { retention: 'standard' }, system: { retention: 'transient' } },
    routes: { 'marketing.*': 'marketing', 'system.*': 'system' },
    retry: { minimumBackoffSeconds: 0, maximumBackoffSeconds: 1 },
    ...over,
  });
}

/** Pulls from a subscription with a plain client (not the bus), acking everything. */
async function drain(ps: PubSub, sub: string, want: number, ms = 15_000): Promise<Message[]> {
  const got: Message[] = [];
  const s = ps.subscription(sub);
  s.on('message', (m: Message) => {
    got.push(m);
    m.ack();
  });
  try {
    await waitFor(`${want} messages on ${sub}`, async () => got.length >= want, ms);
    await sleep(300); // anything extra would show up here
  } finally {
    await s.close();
  }
  return got;
}

describe('definition and validation', () => {
  it('rejects routes to unknown topics, bad attempts and bad topic ids before any request', () => {
    expect(() => bus({ routes: { 'x.*': 'nope' } })).toThrow(ConfigError);
    expect(() => bus({ deadLetter: { maxDeliveryAttempts: 4 } })).toThrow(/5 to 100/);
    expect(() => bus({ deadLetter: { maxDeliveryAttempts: 101 } })).toThrow(/5 to 100/);
    expect(() => bus({ topics: { a: { id: '1bad' } }, routes: {} })).toThrow(/valid Pub\/Sub topic id/);
  });

  it('refuses a subscription whose generated filter is over 256 bytes, creating nothing', async () => {
    const b = bus();
    const eventTypes = Array.from({ length: 12 }, (_, i) => `marketing.campaign.kind${i}.created`);
    const err = await b
      .subscribe('never-created-x', () => {}, { topic: 'marketing', eventTypes })
      .catch((e) => e);
    expect(err).toBeInstanceOf(EventFilterError);
    expect(err.context.bytes).toBeGreaterThan(256);
    expect(managers.at(-1)!.stats().created.pubsub).toBe(0);
  });

  it('refuses a subscription to event types that route to another topic, or to an unknown topic', async () => {
    const b = bus();
    await expect(
      b.subscribe('never-created-y', () => {}, { topic: 'marketing', eventTypes: ['system.deploy'] }),
    ).rejects.toThrow(/routes to topic "system"/);
    await expect(b.subscribe('never-created-z', () => {}, { topic: 'billing' })).rejects.toBeInstanceOf(
      ConfigError,
    );
    expect(managers.at(-1)!.stats().created.pubsub).toBe(0);
  });
});

describe('on the Pub/Sub emulator', () => {
  it('ensureTopology creates topics, dead-letter topics and subscriptions once, then reports no change', async () => {
    const m = manager();
    const b = bus(
      { subscriptions: { [`${prefix}decl-a`]: { topic: 'marketing', eventTypes: ['marketing.*'] } } },
      m,
    );
    const first = await b.ensureTopology();
    const t = (k: string) => b.topicId(k);
    expect(first.created.sort()).toEqual(
      [
        `topic:${t('marketing')}`,
        `topic:${t('marketing')}-dead-letter`,
        `subscription:${t('marketing')}-dead-letter-sub`,
        `topic:${t('system')}`,
        `topic:${t('system')}-dead-letter`,
        `subscription:${t('system')}-dead-letter-sub`,
        `subscription:${prefix}decl-a`,
      ].sort(),
    );
    const [meta] = await m.pubsub().subscription(`${prefix}decl-a`).getMetadata();
    expect(meta.filter).toBe('hasPrefix(attributes.eventType, "marketing.")');
    expect(meta.deadLetterPolicy?.maxDeliveryAttempts).toBe(5);
    expect(meta.deadLetterPolicy?.deadLetterTopic).toMatch(new RegExp(`${t('marketing')}-dead-letter$`));
    expect(Number(meta.messageRetentionDuration?.seconds)).toBe(259_200);
    expect(Number(meta.retryPolicy?.maximumBackoff?.seconds)).toBe(1);

    const again = await b.ensureTopology();
    expect(again.created).toEqual([]);
    expect(again.updated).toEqual([]);
    expect(again.conflicts).toEqual([]);
    expect(again.unchanged).toHaveLength(7);

    // A changed retry policy is updated in place; a changed filter is reported (Pub/Sub cannot update it).
    const changed = defineEventBus({
      manager: m,
      topics: { marketing: { id: t('marketing') }, system: { id: t('system'), retention: 'transient' } },
      routes: { 'marketing.*': 'marketing', 'system.*': 'system' },
      retry: { minimumBackoffSeconds: 0, maximumBackoffSeconds: 2 },
      subscriptions: { [`${prefix}decl-a`]: { topic: 'marketing', eventTypes: ['marketing.campaign.*'] } },
    });
    const third = await changed.ensureTopology();
    expect(third.updated).toEqual([`subscription:${prefix}decl-a`]);
    expect(third.conflicts).toEqual([
      expect.objectContaining({
        resource: `subscription:${prefix}decl-a`,
        reason: expect.stringMatching(/filter/),
      }),
    ]);
  });

  it('routes event types to their topic with eventType/domain attributes, JSON and Buffer payloads', async () => {
    const m = manager();
    const b = bus({}, m);
    await b.ensureTopology();
    const got: Record<string, BusEvent[]> = { mk: [], sys: [] };
    await b.subscribe(`${prefix}route-mk`, (e) => void got.mk!.push(e), { topic: 'marketing' });
    await b.subscribe(`${prefix}route-sys`, (e) => void got.sys!.push(e), { topic: 'system' });
    await b.publish('marketing.campaign.created', { id: 1, at: '2026-01-01' });
    await b.publish('system.deploy.finished', Buffer.from([0, 1, 2, 255]), { attributes: { region: 'eu' } });
    await waitFor('both events', async () => got.mk!.length === 1 && got.sys!.length === 1, 15_000);
    expect(got.mk![0]).toMatchObject({
      eventType: 'marketing.campaign.created',
      domain: 'marketing',
      data: { id: 1, at: '2026-01-01' },
      attributes: {
        eventType: 'marketing.campaign.created',
        domain: 'marketing',
        contentType: 'application/json',
      },
    });
    expect(got.mk![0]!.deliveryAttempt).toBeGreaterThanOrEqual(1);
    expect(got.sys![0]!.data).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(got.sys![0]!.attributes.region).toBe('eu');
  });

  it('rejects an unknown event type or a bad payload with a typed error and publishes nothing', async () => {
    const m = manager();
    const b = bus({}, m);
    await b.ensureTopology();
    const sub = `${prefix}reject`;
    await m.pubsub().createSubscription(b.topicId('marketing'), sub);
    await expect(b.publish('billing.invoice.paid', {})).rejects.toBeInstanceOf(UnknownEventTypeError);
    await expect(b.publish('marketing.x', { n: 1n })).rejects.toBeInstanceOf(EventPayloadError);
    await expect(b.publish('marketing.x', {}, { attributes: { eventType: 'spoof' } })).rejects.toSatisfy(
      (e) => isDbkitError(e, 'E_EVENT_PAYLOAD'),
    );
    await b.publish('marketing.ok', { ok: true });
    const msgs = await drain(m.pubsub(), sub, 1);
    expect(msgs.map((x) => x.attributes.eventType)).toEqual(['marketing.ok']);
  });

  it('filters client-side on the emulator (which ignores filters) and warns once', async () => {
    const m = manager();
    const b = bus({}, m);
    await b.ensureTopology();
    warnings.length = 0;
    const seen: string[] = [];
    const h = await b.subscribe(`${prefix}filtered`, (e) => void seen.push(e.eventType), {
      topic: 'marketing',
      eventTypes: ['marketing.campaign.*', 'marketing.lead.won'],
    });
    expect(h.clientSideFilter).toBe(true);
    for (const t of [
      'marketing.campaign.created',
      'marketing.lead.lost',
      'marketing.lead.won',
      'marketing.x',
    ])
      await b.publish(t, {});
    await waitFor('2 matching events', async () => seen.length >= 2, 15_000);
    await sleep(500);
    expect(seen.sort()).toEqual(['marketing.campaign.created', 'marketing.lead.won']);
    expect(warnings.filter((w) => w.includes('does not apply them'))).toHaveLength(1);
  });

  it('batches publishes until flush() (nothing sent before), then delivers all', async () => {
    const m = manager();
    const b = bus({ batching: { maxMessages: 1000, maxMilliseconds: 60_000 } }, m);
    await b.ensureTopology();
    const sub = `${prefix}batch`;
    await m.pubsub().createSubscription(b.topicId('system'), sub);
    let sent = 0;
    const pending = Array.from({ length: 50 }, (_, i) =>
      b.publish('system.tick', { i }).then((id) => {
        sent++;
        return id;
      }),
    );
    await sleep(300);
    expect(sent).toBe(0); // a 60 s batch window: still buffered
    await b.flush();
    const ids = await Promise.all(pending);
    expect(new Set(ids).size).toBe(50);
    const msgs = await drain(m.pubsub(), sub, 50);
    expect(msgs.map((x) => JSON.parse(x.data.toString()).i).sort((a, c) => a - c)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('delivers messages with one ordering key in publish order', async () => {
    const m = manager();
    const b = bus({ topics: { marketing: { messageOrdering: true }, system: {} } }, m);
    await b.ensureTopology();
    const order: number[] = [];
    await b.subscribe(`${prefix}ordered`, (e) => void order.push((e.data as { seq: number }).seq), {
      topic: 'marketing',
    });
    const [meta] = await m.pubsub().subscription(`${prefix}ordered`).getMetadata();
    expect(meta.enableMessageOrdering).toBe(true);
    await Promise.all(
      Array.from({ length: 30 }, (_, seq) =>
        b.publish('marketing.step', { seq }, { orderingKey: 'campaign-1' }),
      ),
    );
    await waitFor('30 ordered events', async () => order.length >= 30, 15_000);
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('nacks on a throw and dead-letters after maxDeliveryAttempts', async () => {
    const m = manager();
    const b = bus({}, m);
    await b.ensureTopology();
    const attempts: number[] = [];
    const errors: unknown[] = [];
    await b.subscribe(
      `${prefix}poison`,
      (e) => {
        attempts.push(e.deliveryAttempt);
        throw new Error('handler failed');
      },
      { topic: 'system', maxDeliveryAttempts: 5, onError: (e) => errors.push(e) },
    );
    await b.publish('system.poison', { bad: true });
    const dead = await drain(m.pubsub(), `${b.topicId('system')}-dead-letter-sub`, 1, 25_000);
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    expect(errors).toHaveLength(5);
    expect(dead[0]!.attributes.eventType).toBe('system.poison');
    expect(dead[0]!.attributes.CloudPubSubDeadLetterSourceDeliveryCount).toBe('5');
    expect(JSON.parse(dead[0]!.data.toString())).toEqual({ bad: true });
  });

  it('closeAll closes subscriptions and flushes batched messages so none is lost', async () => {
    const m = manager();
    const b = bus({ batching: { maxMessages: 1000, maxMilliseconds: 60_000 } }, m);
    await b.ensureTopology();
    const sub = `${prefix}closeall`;
    await m.pubsub().createSubscription(b.topicId('marketing'), sub);
    const h = await b.subscribe(`${prefix}closeall-live`, () => {}, { topic: 'system' });
    const pending = Array.from({ length: 25 }, (_, i) => b.publish('marketing.batched', { i }));
    const r = await m.closeAll({ timeoutMs: 10_000 });
    expect(r.closed).toEqual(['subscriptions', 'topics', 'pubsub']);
    expect(r.errors).toEqual([]);
    expect(await Promise.all(pending)).toHaveLength(25);
    expect(h.subscription.isOpen).toBe(false);
    await expect(b.publish('marketing.late', {})).rejects.toThrow(/after closeAll/);
    // Read back with another client: every message batched before closeAll arrived.
    const reader = manager();
    const msgs = await drain(reader.pubsub(), sub, 25);
    expect(msgs).toHaveLength(25);
  });
});
