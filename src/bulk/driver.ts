/** The few driver differences bulk operations care about: running SQL, COPY (postgres.js only). */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { entityKind } from '../internal/drizzle-lib.js';

// biome-ignore lint/suspicious/noExplicitAny: any drizzle pg database or transaction (postgres-js, node-postgres, PGlite)
export type AnyPgDatabase = PgDatabase<any, any, any>;

export type DriverKind = 'postgres-js' | 'node-postgres' | 'pglite' | 'other';

export interface QueryOutput {
  rows: Record<string, unknown>[];
  count: number;
}

interface PostgresJsLike {
  unsafe(query: string, params?: unknown[]): { writable(): Promise<NodeJS.WritableStream> };
}

function session(db: AnyPgDatabase): { client?: unknown; constructor: unknown } {
  return (db as unknown as { session: { client?: unknown; constructor: unknown } }).session;
}

/** Which driver a drizzle database (or transaction) runs on. */
export function driverKind(db: AnyPgDatabase): DriverKind {
  const kind = (session(db)?.constructor as { [entityKind]?: string } | undefined)?.[entityKind];
  if (kind === 'PostgresJsSession') return 'postgres-js';
  if (kind === 'NodePgSession') return 'node-postgres';
  if (kind === 'PgliteSession') return 'pglite';
  return 'other';
}

/** Runs a drizzle SQL object and normalises the driver's result shape. */
export async function run(db: AnyPgDatabase, query: SQL): Promise<QueryOutput> {
  const r = (await db.execute(query)) as unknown;
  if (Array.isArray(r)) {
    const count = (r as { count?: number }).count;
    return { rows: r as Record<string, unknown>[], count: typeof count === 'number' ? count : r.length };
  }
  const o = r as { rows?: Record<string, unknown>[]; rowCount?: number | null; affectedRows?: number };
  const rows = o.rows ?? [];
  return { rows, count: o.rowCount ?? o.affectedRows ?? rows.length };
}

/** Quotes an identifier with drizzle's dialect (doubles embedded quotes). */
export function escapeName(db: AnyPgDatabase, name: string): string {
  return (db as unknown as { dialect: { escapeName(n: string): string } }).dialect.escapeName(name);
}

/** True when this database can stream COPY FROM STDIN (postgres.js, also inside a drizzle transaction). */
export function canCopy(db: AnyPgDatabase): boolean {
  if (driverKind(db) !== 'postgres-js') return false;
  return typeof (session(db).client as Partial<PostgresJsLike> | undefined)?.unsafe === 'function';
}

type StreamInternals = {
  _write(chunk: unknown, enc: unknown, cb: (e?: Error | null) => void): void;
  _final(cb: (e?: Error | null) => void): void;
  _destroy(err: Error | null, cb: (e?: Error | null) => void): void;
};

/**
 * postgres.js 3.4's COPY stream writes to its socket without checking that it still exists: when the backend
 * is terminated mid-COPY, `destroy()` throws "Cannot read properties of null" from the connection's close
 * handler (an unhandled rejection). The socket is gone in that case, so there is nothing left to cancel.
 */
function guardCopyStream(w: NodeJS.WritableStream): NodeJS.WritableStream {
  const s = w as unknown as StreamInternals;
  const write = s._write.bind(s);
  const final = s._final.bind(s);
  const destroy = s._destroy.bind(s);
  s._write = (chunk, enc, cb) => {
    try {
      write(chunk, enc, cb);
    } catch (e) {
      cb(e as Error);
    }
  };
  s._final = (cb) => {
    try {
      final(cb);
    } catch (e) {
      cb(e as Error);
    }
  };
  s._destroy = (err, cb) => {
    let called = false;
    try {
      destroy(err, (e) => {
        called = true;
        cb(e);
      });
    } catch {
      if (!called) cb(err);
    }
  };
  return w;
}

/**
 * Streams text-format COPY data into `copyStatement` on the session's own connection (inside the drizzle
 * transaction when db is one: the session holds the reserved transaction sql).
 */
export async function copyIn(
  db: AnyPgDatabase,
  copyStatement: string,
  chunks: Iterable<string>,
): Promise<void> {
  const client = session(db).client as PostgresJsLike;
  const writable = guardCopyStream(await client.unsafe(copyStatement).writable());
  await pipeline(Readable.from(chunks), writable);
}
