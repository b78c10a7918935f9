/** SIGTERM/SIGINT handlers that close a manager once, then exit. */
import type { ClientsCloseOptions, ClientsCloseResult } from './close-steps.js';

/** Options of `manager.installShutdownHooks()`. */
export interface ShutdownHookOptions {
  /** Signals to handle. @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /** Budget passed to closeAll(). @default 10000 */
  timeoutMs?: number;
  /** Call process.exit() after closing (code 0, or 1 when a step failed). @default true */
  exit?: boolean;
  /** Called with the closeAll() result before exiting (e.g. to log it). @default undefined */
  onClosed?: (result: ClientsCloseResult, signal: NodeJS.Signals) => void | Promise<void>;
}

const defaults = { signals: ['SIGTERM', 'SIGINT'] as NodeJS.Signals[], timeoutMs: 10_000, exit: true };

/** Installs the handlers; a second signal while closing is ignored (closeAll runs once). */
export function installSignalHandlers(
  closeAll: (o: ClientsCloseOptions) => Promise<ClientsCloseResult>,
  options: ShutdownHookOptions,
): () => void {
  const o = { ...defaults, ...options };
  let running = false;
  const handler = (signal: NodeJS.Signals) => {
    if (running) return;
    running = true;
    void (async () => {
      const result = await closeAll({ timeoutMs: o.timeoutMs });
      try {
        await o.onClosed?.(result, signal);
      } finally {
        if (o.exit) process.exit(result.errors.length > 0 ? 1 : 0);
      }
    })();
  };
  for (const s of o.signals) process.on(s, handler);
  return () => {
    for (const s of o.signals) process.off(s, handler);
  };
}
