/**
 * Health checks of the manager's clients, each bounded by a timeout, and their conversion to the
 * @nestjs/terminus result shape.
 */
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

/** One entry of a {@link TerminusHealthResult} (a terminus `HealthIndicatorResult` value). */
export interface TerminusIndicator {
  /** 'up' for a check that passed or warned, 'down' for one that failed. */
  status: 'up' | 'down';
  /** Time the check took, in ms. */
  latencyMs: number;
  /** True when the check answered but slower than `warnLatencyMs` (a 'warn' check). */
  slow?: true;
  /** Why it is down (passwords redacted). */
  message?: string;
}

/** The @nestjs/terminus `HealthCheckResult` shape, as {@link toTerminusResult} builds it. */
export interface TerminusHealthResult {
  /** 'error' when any check is down, else 'ok'. */
  status: 'ok' | 'error';
  /** The checks that are up. */
  info: Record<string, TerminusIndicator>;
  /** The checks that are down. */
  error: Record<string, TerminusIndicator>;
  /** Every check. */
  details: Record<string, TerminusIndicator>;
}

/**
 * Converts a `manager.health()` report to the @nestjs/terminus result shape
 * (`{ status: 'ok' | 'error', info, error, details }` with `up`/`down` entries), e.g. to return it from a
 * terminus `HealthIndicator` or to serve the same JSON terminus would. A 'warn' check is up (with `slow`).
 *
 * @example
 * ```ts
 * const result = toTerminusResult(await manager.health());
 * res.writeHead(result.status === 'ok' ? 200 : 503).end(JSON.stringify(result));
 * ```
 */
export function toTerminusResult(report: ClientHealthReport): TerminusHealthResult {
  const info: Record<string, TerminusIndicator> = {};
  const error: Record<string, TerminusIndicator> = {};
  const details: Record<string, TerminusIndicator> = {};
  for (const [name, c] of Object.entries(report.checks)) {
    const entry: TerminusIndicator =
      c.status === 'fail'
        ? { status: 'down', latencyMs: c.latencyMs, message: c.error ?? 'failed' }
        : c.status === 'warn'
          ? { status: 'up', latencyMs: c.latencyMs, slow: true }
          : { status: 'up', latencyMs: c.latencyMs };
    details[name] = entry;
    if (entry.status === 'up') info[name] = entry;
    else error[name] = entry;
  }
  return { status: Object.keys(error).length > 0 ? 'error' : 'ok', info, error, details };
}
