import { AsyncLocalStorage } from 'node:async_hooks';
import type { Instrumentation } from './instrument.js';
import type { QueryEventImpl } from './query-event.js';

/** One trackQueries scope: the queries that ran in it and the clients that ran them. */
export class TrackingScope {
  readonly queries: QueryEventImpl[] = [];
  readonly clients = new Map<string, Pick<Instrumentation, 'onNPlusOne'>>();
  closed = false;

  record(ev: QueryEventImpl, inst: Pick<Instrumentation, 'onNPlusOne'>): void {
    // Queries that settle after the scope returned (fire-and-forget) are not part of its report.
    if (this.closed) return;
    this.queries.push(ev);
    if (!this.clients.has(ev.fingerprintId)) this.clients.set(ev.fingerprintId, inst);
  }
}

// One storage per process, shared by the ESM and CJS builds: a client instrumented by one build (a CJS
// dependency) must report to trackQueries() of the other (the ESM service), so the key is Symbol.for.
const STORAGE = Symbol.for('dbkit.query.scopeStorage');
const g = globalThis as { [STORAGE]?: AsyncLocalStorage<TrackingScope> };

g[STORAGE] ??= new AsyncLocalStorage();
export const scopeStorage: AsyncLocalStorage<TrackingScope> = g[STORAGE];

/** The innermost tracking scope of the current async context (queries are recorded there only). */
export function currentScope(): TrackingScope | undefined {
  return scopeStorage.getStore();
}
