import { AsyncLocalStorage } from 'node:async_hooks';
import type { Instrumentation } from './instrument.js';
import type { QueryEventImpl } from './query-event.js';

/** One trackQueries scope: the queries that ran in it and the clients that ran them. */
export class TrackingScope {
  readonly queries: QueryEventImpl[] = [];
  readonly clients = new Map<string, Instrumentation>();
  closed = false;

  record(ev: QueryEventImpl, inst: Instrumentation): void {
    // Queries that settle after the scope returned (fire-and-forget) are not part of its report.
    if (this.closed) return;
    this.queries.push(ev);
    if (!this.clients.has(ev.fingerprintId)) this.clients.set(ev.fingerprintId, inst);
  }
}

export const scopeStorage = new AsyncLocalStorage<TrackingScope>();

/** The innermost tracking scope of the current async context (queries are recorded there only). */
export function currentScope(): TrackingScope | undefined {
  return scopeStorage.getStore();
}
