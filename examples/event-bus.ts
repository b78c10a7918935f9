/**
 * Consolidated topics with routing, dead-lettering and batching, on the Pub/Sub emulator:
 *
 *   gcloud beta emulators pubsub start --host-port=127.0.0.1:8085 &
 *   PUBSUB_EMULATOR_HOST=127.0.0.1:8085 GOOGLE_CLOUD_PROJECT=demo npx tsx examples/event-bus.ts
 */
import { defineEventBus, getClientManager, isDbkitError } from '../src/clients/index.js';

const manager = getClientManager();
const bus = defineEventBus({
  manager,
  topicPrefix: 'example-',
  // A few consolidated topics instead of one per event type.
  topics: {
    marketing: { retention: 'standard' },
    orders: { retention: 'critical', messageOrdering: true },
    system: { retention: 'transient', deadLetter: false },
  },
  routes: { 'marketing.*': 'marketing', 'orders.*': 'orders', 'system.*': 'system' },
  deadLetter: { maxDeliveryAttempts: 5 },
  retry: { minimumBackoffSeconds: 1, maximumBackoffSeconds: 10 },
  batching: { maxMessages: 100, maxMilliseconds: 20 },
});

const changes = await bus.ensureTopology();
console.log('topology:', changes);

const campaigns = await bus.subscribe(
  'example-campaigns',
  (e) => console.log(`campaign event ${e.eventType} (attempt ${e.deliveryAttempt})`, e.data),
  { topic: 'marketing', eventTypes: ['marketing.campaign.*'] },
);
const fulfilment = await bus.subscribe<{ orderId: string; step: number }>(
  'example-fulfilment',
  (e) => console.log(`order ${e.data.orderId} step ${e.data.step}`),
  { topic: 'orders' },
);

await bus.publish('marketing.campaign.created', { id: 'c1', name: 'Spring sale' });
await bus.publish('marketing.lead.created', { id: 'l1' }); // filtered out of example-campaigns
for (let step = 1; step <= 3; step++) {
  void bus.publish('orders.fulfilment.step', { orderId: 'o1', step }, { orderingKey: 'o1' });
}
await bus.flush();

try {
  await bus.publish('billing.invoice.paid', {});
} catch (e) {
  if (isDbkitError(e, 'E_EVENT_UNKNOWN_TYPE')) console.log('refused:', e.message);
}

await new Promise((r) => setTimeout(r, 2000));
await campaigns.close();
console.log('closeAll:', await manager.closeAll({ timeoutMs: 5000 })); // also closes `fulfilment`
void fulfilment;
