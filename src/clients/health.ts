/** Health checks in the terminus/NestJS shape, each bounded by a timeout. */
import { TimeoutError } from '../errors.js';
import { redactSecrets } from '../internal/redact.js';

/** Result of one check. */
export interface ClientHealthCheck {
  /** 'pass', 'warn' (answered, but slower than `warnLatencyMs`) or 'fail'. */
  status: 'pass' | 'warn' | 'fail';
  /** Time the check took, in ms (the timeout when it timed out). */
  latencyMs: number;
  /** Why it failed (passwords redacted). */
  error?: string;
}

/** Result of `manager.health()`. */
export interface ClientHealthReport {
  /** 'fail' if any check failed, 'warn' if any warned, else 'pass' ('pass' with no checks). */
  status: 'pass' | 'warn' | 'fail';
  /** One entry per client created so far (`postgres`, `postgres:replica0`, `redis`, `pubsub`, ...). */
  checks: Record<string, ClientHealthCheck>;
}

/** Options of `manager.health()`. */
export interface ClientHealthOptions {
  /** Per-check time limit; a hung server fails its check after this long. @default 2000 */
  timeoutMs?: number;
  /** A check slower than this is 'warn'. @default 1000 */
  warnLatencyMs?: number;
}

/**
 * Races `p` against a timer; rejects with a TimeoutError after `ms`. The timer never keeps the process alive.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(operation, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Runs the named checks in parallel and folds them into a report. */
export async function runHealthChecks(
  checks: Record<string, () => Promise<unknown>>,
  options: Required<ClientHealthOptions>,
  secrets: string[],
): Promise<ClientHealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, fn]): Promise<[string, ClientHealthCheck]> => {
      const t0 = performance.now();
      try {
        await withTimeout(Promise.resolve().then(fn), options.timeoutMs, `health check ${name}`);
        const latencyMs = Math.round((performance.now() - t0) * 100) / 100;
        return [name, { status: latencyMs > options.warnLatencyMs ? 'warn' : 'pass', latencyMs }];
      } catch (e) {
        const latencyMs = Math.round((performance.now() - t0) * 100) / 100;
        const message = e instanceof Error ? e.message : String(e);
        return [name, { status: 'fail', latencyMs, error: redactSecrets(message, secrets) }];
      }
    }),
  );
  const statuses = entries.map(([, c]) => c.status);
  const status = statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'pass';
  return { status, checks: Object.fromEntries(entries) };
}
