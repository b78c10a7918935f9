/** The ordered, bounded shutdown behind `manager.closeAll()`. */
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { Cluster, Redis } from 'ioredis';
import { redactSecrets } from '../internal/redact.js';
import { closeChannel } from './channels.js';
import { withTimeout } from './health.js';

/** Options of `manager.closeAll()`. */
export interface ClientsCloseOptions {
  /** Total time budget; what is still open when it runs out is force-closed. @default 10000 */
  timeoutMs?: number;
}

/** What `closeAll()` did. */
export interface ClientsCloseResult {
  /** Steps that finished, in order ('subscriptions', 'topics', 'pubsub', 'firestore', 'postgres', 'caches', 'redis'). */
  closed: string[];
  /** Steps that failed or timed out, with the reason (passwords redacted). */
  errors: Array<{ step: string; error: string }>;
  /** True when the time budget ran out and the rest was force-closed. */
  timedOut: boolean;
  /** How long closeAll took. */
  durationMs: number;
}

/** The open clients, captured when closeAll starts. */
export interface CloseTargets {
  closables: Array<{ close(): Promise<void> }>;
  topics: Topic[];
  pubsub: PubSub | undefined;
  firestore: Firestore | undefined;
  /** The Postgres pools; `end(timeoutS)` waits for running queries that long, then closes the sockets. */
  sql: Array<{ end(timeoutS: number): Promise<unknown> }>;
  /** Query caches over the manager's Redis: their stores close before Redis quits. */
  caches: Array<{ close(): Promise<unknown> }>;
  redis: Redis | Cluster | undefined;
}

const defaults = { timeoutMs: 10_000 } as const;

/** Runs the shutdown steps in order, each given what is left of the budget. */
export async function runCloseSteps(
  t: CloseTargets,
  options: ClientsCloseOptions,
  secrets: string[],
): Promise<ClientsCloseResult> {
  const { timeoutMs } = { ...defaults, ...options };
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  const result: ClientsCloseResult = { closed: [], errors: [], timedOut: false, durationMs: 0 };
  const step = async (name: string, present: boolean, fn: (remainingMs: number) => Promise<unknown>) => {
    if (!present) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      result.timedOut = true;
      result.errors.push({ step: name, error: 'skipped: closeAll time budget used up' });
      return;
    }
    try {
      await withTimeout(
        Promise.resolve().then(() => fn(remaining)),
        remaining,
        `closeAll step ${name}`,
      );
      result.closed.push(name);
    } catch (e) {
      if (deadline - Date.now() <= 0) result.timedOut = true;
      const msg = e instanceof Error ? e.message : String(e);
      result.errors.push({ step: name, error: redactSecrets(msg, secrets) });
    }
  };
  // Subscriptions first so no handler starts work on clients that are about to go away.
  await step('subscriptions', t.closables.length > 0, () => Promise.all(t.closables.map((c) => c.close())));
  // Flush every cached topic so messages still sitting in a batch are sent, not dropped.
  await step('topics', t.topics.length > 0, () => Promise.all(t.topics.map((topic) => topic.flush())));
  await step('pubsub', t.pubsub !== undefined, () => t.pubsub!.close());
  await step('firestore', t.firestore !== undefined, () => t.firestore!.terminate());
  // postgres.js end(): waits for running queries up to `timeout` seconds, then closes sockets.
  // postgres.js destroys what is still open when this timeout passes, so no socket outlives the budget.
  await step('postgres', t.sql.length > 0, (ms) =>
    Promise.all(t.sql.map((s) => s.end(Math.max(0, ms - 100) / 1000))),
  );
  await step('caches', t.caches.length > 0, () => Promise.all(t.caches.map((c) => c.close())));
  await step('redis', t.redis !== undefined, () => t.redis!.quit());
  // A Redis that did not answer QUIT in time (hung server) is disconnected so no socket stays open.
  if (t.redis && !result.closed.includes('redis')) t.redis.disconnect();
  // Pools skipped because the budget ran out are ended at once (a pool already ending keeps its own timeout).
  if (!result.closed.includes('postgres')) for (const s of t.sql) void s.end(0).catch(() => {});
  result.durationMs = Math.round(performance.now() - started);
  if (closeChannel.hasSubscribers) closeChannel.publish(result);
  return result;
}
