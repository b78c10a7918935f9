/** The ordered, bounded shutdown behind `manager.closeAll()`. */
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { Cluster, Redis } from 'ioredis';
import type postgres from 'postgres';
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
  /** Steps that finished, in order (e.g. 'subscriptions', 'topics', 'pubsub', 'firestore', 'postgres', 'redis'). */
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
  sql: Array<postgres.Sql<Record<string, never>>>;
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
  await step('postgres', t.sql.length > 0, (ms) =>
    Promise.all(t.sql.map((s) => s.end({ timeout: Math.max(0, ms - 100) / 1000 }))),
  );
  await step('redis', t.redis !== undefined, () => t.redis!.quit());
  // A Redis that did not answer QUIT in time (hung server) is disconnected so no socket stays open.
  if (t.redis && !result.closed.includes('redis')) t.redis.disconnect();
  if (result.timedOut) for (const s of t.sql) void s.end({ timeout: 0 }).catch(() => {});
  result.durationMs = Math.round(performance.now() - started);
  if (closeChannel.hasSubscribers) closeChannel.publish(result);
  return result;
}
