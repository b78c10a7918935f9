/**
 * SIGTERM/SIGINT handlers for a graceful shutdown: stop accepting, let in-flight requests finish (readiness
 * failing meanwhile), run the caller's hook, close the manager once, then exit; all within one time budget.
 */
import { TimeoutError } from '../errors.js';
import type { ClientsCloseOptions, ClientsCloseResult } from './close-steps.js';

/**
 * What `servers` accepts: a node:http/https Server (or anything with the same close methods).
 * `closeIdleConnections`/`closeAllConnections` exist on http(s).Server since Node 18.2.
 */
export interface ShutdownServer {
  /** Stops accepting new connections; the callback runs once every connection has closed. */
  close(callback?: (err?: Error) => void): unknown;
  /** Closes keep-alive connections that carry no request (Node >= 18.2). */
  closeIdleConnections?(): void;
  /** Closes every connection, busy or not (used at the drain deadline). */
  closeAllConnections?(): void;
  /** Subscribes to requests, so the drain knows which connections are busy. */
  on?(event: 'request', listener: (req: unknown, res: { shouldKeepAlive?: boolean }) => void): unknown;
  readonly listening?: boolean;
}

/** What the shutdown did besides closing the clients (the third argument of `onClosed`). */
export interface ShutdownDrainResult {
  /** Time spent waiting for in-flight requests, in ms. */
  drainMs: number;
  /** True when requests were still running at the drain deadline and their connections were closed. */
  drainTimedOut: boolean;
  /** The beforeClose hook's error (message), when it threw or ran out of time. */
  beforeCloseError: string | undefined;
}

/** Options of `manager.installShutdownHooks()`. */
export interface ShutdownHookOptions {
  /** Signals to handle. @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /** Budget for the whole shutdown: draining, beforeClose and closeAll. @default 10000 */
  timeoutMs?: number;
  /**
   * HTTP servers to drain first: each stops accepting connections, idle keep-alive connections are
   * closed, and in-flight requests get up to `drainTimeoutMs` to finish (their connections are closed as
   * soon as they are idle). `health()` reports a failing `shutdown` check meanwhile.
   * @default []
   */
  servers?: ShutdownServer[];
  /** Longest wait for in-flight requests; the rest of `timeoutMs` is left for beforeClose and closeAll. @default timeoutMs / 2 */
  drainTimeoutMs?: number;
  /**
   * Runs after the servers drained and before the clients close (stop consumers, flush logs). Bounded by
   * what is left of the budget; a throw or timeout is reported and the shutdown goes on.
   * @default undefined
   */
  beforeClose?: (signal: NodeJS.Signals) => void | Promise<void>;
  /** Call process.exit() after closing (code 0, or 1 when a step failed). @default true */
  exit?: boolean;
  /** Called with the closeAll() result before exiting (e.g. to log it). @default undefined */
  onClosed?: (
    result: ClientsCloseResult,
    signal: NodeJS.Signals,
    drain: ShutdownDrainResult,
  ) => void | Promise<void>;
}

/** What the handlers need from the manager. */
export interface ShutdownTarget {
  closeAll(o: ClientsCloseOptions): Promise<ClientsCloseResult>;
  /** Marks readiness as failing (health() gets a failing `shutdown` check). */
  beginDrain(): void;
}

const defaults = { signals: ['SIGTERM', 'SIGINT'] as NodeJS.Signals[], timeoutMs: 10_000, exit: true };
// How often connections that finished their last request are closed while draining.
const IDLE_SWEEP_MS = 25;

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, Math.max(0, ms)).unref();
  });

/**
 * Stops accepting on every server and waits until their connections are gone or `deadline` passes;
 * returns true when it had to close busy connections at the deadline.
 *
 * @example
 * ```ts
 * const timedOut = await drainServers([server], Date.now() + 5000);
 * ```
 */
export async function drainServers(servers: ShutdownServer[], deadline: number): Promise<boolean> {
  if (servers.length === 0) return false;
  const closed = servers.map(
    (s) =>
      new Promise<void>((resolve) => {
        // Requests that arrive on connections already open get `Connection: close`.
        s.on?.('request', (_req, res) => {
          res.shouldKeepAlive = false;
        });
        // close() errors with ERR_SERVER_NOT_RUNNING when the server was not listening: nothing to wait for.
        s.close(() => resolve());
        s.closeIdleConnections?.();
      }),
  );
  // A keep-alive connection becomes idle when its in-flight response is done: close it then, not at the
  // keep-alive timeout.
  const sweep = setInterval(() => {
    for (const s of servers) s.closeIdleConnections?.();
  }, IDLE_SWEEP_MS);
  sweep.unref();
  let timedOut = false;
  try {
    await Promise.race([
      Promise.all(closed),
      sleep(deadline - Date.now()).then(() => {
        timedOut = true;
      }),
    ]);
  } finally {
    clearInterval(sweep);
  }
  if (timedOut) for (const s of servers) s.closeAllConnections?.();
  return timedOut;
}

async function bounded(
  fn: () => void | Promise<void>,
  ms: number,
  what: string,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(what, ms)), Math.max(0, ms));
        timer.unref();
      }),
    ]);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Installs the handlers; a second signal while shutting down is ignored (closeAll runs once).
 *
 * @example
 * ```ts
 * const uninstall = installSignalHandlers({ closeAll: (o) => m.closeAll(o), beginDrain: () => {} }, { servers: [server] });
 * ```
 */
export function installSignalHandlers(target: ShutdownTarget, options: ShutdownHookOptions): () => void {
  const o = { ...defaults, ...options };
  const servers = o.servers ?? [];
  let running = false;
  const handler = (signal: NodeJS.Signals) => {
    if (running) return;
    running = true;
    const started = Date.now();
    const deadline = started + o.timeoutMs;
    // Whatever hangs (a hook, a server), the process still ends at the deadline.
    if (o.exit) setTimeout(() => process.exit(1), o.timeoutMs + 1000).unref();
    void (async () => {
      target.beginDrain();
      const drainDeadline = Math.min(deadline, started + (o.drainTimeoutMs ?? Math.floor(o.timeoutMs / 2)));
      const drainTimedOut = await drainServers(servers, drainDeadline);
      const drainMs = Date.now() - started;
      const beforeCloseError = o.beforeClose
        ? await bounded(() => o.beforeClose!(signal), deadline - Date.now(), 'shutdown beforeClose')
        : undefined;
      const result = await target.closeAll({ timeoutMs: Math.max(1, deadline - Date.now()) });
      try {
        await o.onClosed?.(result, signal, { drainMs, drainTimedOut, beforeCloseError });
      } finally {
        if (o.exit) process.exit(result.errors.length > 0 || beforeCloseError ? 1 : 0);
      }
    })();
  };
  for (const s of o.signals) process.on(s, handler);
  return () => {
    for (const s of o.signals) process.off(s, handler);
  };
}
