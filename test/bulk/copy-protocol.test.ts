/**
 * What a successful COPY sends on the wire: data, one CopyDone and nothing after it. postgres.js 3.4 destroys
 * its COPY stream after the end (autoDestroy) and its destroy writes a CopyFail the server no longer expects;
 * with Nagle on, that stray message made the next statement wait for a delayed ACK (~40 ms per COPY call).
 */
import { connect, type Socket } from 'node:net';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkInsert, bulkUpdate } from '../../src/bulk/index.js';
import { useTestDatabase } from '../setup/index.js';
import { ddl } from './helpers.js';
import { items, itemsDdl } from './schema.js';

const tdb = useTestDatabase('bulk_copy_protocol');
/** Message type bytes the client sent, in order (the startup and SSL packets have none). */
const sent: string[] = [];
let client: postgres.Sql;
let db: ReturnType<typeof drizzle>;

/** Splits what the client writes into protocol messages (1-byte type + int32 length) and records each type. */
function recording(opts: { host: string[]; port: number[] }): Socket {
  const sock = connect(opts.port[0] ?? 5432, opts.host[0] ?? 'localhost');
  let pending = Buffer.alloc(0);
  let started = false;
  const write = sock.write.bind(sock) as (...a: unknown[]) => boolean;
  sock.write = ((chunk: unknown, ...rest: unknown[]) => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    pending = Buffer.concat([pending, b]);
    if (!started) {
      // StartupMessage: int32 length, no type byte.
      if (pending.length >= 4) {
        const n = pending.readInt32BE(0);
        if (pending.length >= n) {
          pending = pending.subarray(n);
          started = true;
        }
      }
    }
    while (started && pending.length >= 5) {
      const n = pending.readInt32BE(1);
      if (pending.length < n + 1) break;
      sent.push(String.fromCharCode(pending[0]!));
      pending = pending.subarray(n + 1);
    }
    return write(chunk, ...rest);
  }) as typeof sock.write;
  return sock;
}

beforeAll(async () => {
  const u = new URL(tdb.url);
  // postgres.js' documented `socket` option (a socket factory) is missing from its type declarations.
  const options = {
    max: 1,
    onnotice: () => {},
    socket: () => recording({ host: [u.hostname], port: [Number(u.port || 5432)] }),
  } as postgres.Options<Record<string, never>>;
  client = postgres(tdb.url, options);
  db = drizzle(client);
  await ddl(db, itemsDdl);
});
afterAll(() => client.end({ timeout: 2 }));

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `s-${i}`, qty: i, price: i }));

describe('a successful COPY', () => {
  for (const copyFormat of ['text', 'binary'] as const) {
    it(`sends CopyDone and no CopyFail (bulkInsert, ${copyFormat})`, async () => {
      await client`truncate items`;
      sent.length = 0;
      const r = await bulkInsert(db, items, rows(2_000), { copyFormat });
      expect(r.copyFormat).toBe(copyFormat);
      expect(sent.filter((t) => t === 'c')).toHaveLength(1);
      expect(sent).not.toContain('f');
    });
  }

  it('sends no CopyFail through bulkUpdate by COPY', async () => {
    sent.length = 0;
    const r = await bulkUpdate(
      db,
      items,
      rows(2_000).map((x) => ({ sku: x.sku, qty: x.qty + 1 })),
      { key: 'sku', method: 'copy' },
    );
    expect(r.rows).toBe(2_000);
    expect(sent.filter((t) => t === 'c')).toHaveLength(1);
    expect(sent).not.toContain('f');
  });
});
