/**
 * Closes a postgres.js pool's idle connections without postgres.js' per-query idle timer.
 *
 * postgres.js' `idle_timeout` restarts one timer per connection on every query, which costs microseconds
 * per query (see timer-list-keeper.ts for why). This reaper instead runs one unref'd interval per pool and
 * reads what the sockets already count: postgres.js takes a socket factory (its documented `socket`
 * option), so the pool's sockets are ours to watch. A connection is idle when
 * - its last message from the server was ReadyForQuery with status 'I' (not in a transaction, not in the
 *   middle of a query, COPY or cursor) and nothing was written to it since,
 * - its byte counters have not moved for `idle_timeout`,
 * - and nothing is running on the pool's view: no query between postgres.js taking it and its settling, no
 *   `sql.begin()` and no `sql.reserve()` open. A socket cannot tell that alone: postgres.js pipelines a
 *   query behind another on a busy connection (both are written at once, the first one's ReadyForQuery
 *   then ends a chunk while the second still runs), and it buffers a query's write until setImmediate (a
 *   query handed to the connection in the same event-loop turn as the check has written nothing yet; a
 *   reserved connection writes nothing until its first query). Closing then rejects that query with
 *   CONNECTION_CLOSED and leaves postgres.js' connection state stale (its next connect ends in
 *   CONNECT_TIMEOUT). Queries on the raw client (rawSql) are not seen: the manager's own checks run on a
 *   view that carries only this subscriber.
 * Such a connection is closed the way postgres.js closes one: a Terminate message, then FIN, so the
 * server exits the backend without logging anything.
 *
 * Only plain TCP or Unix-socket pools with one host use it (the manager keeps postgres.js' own timer for
 * TLS, several hosts or a user-supplied socket): with TLS, postgres.js wraps our socket in one of its own.
 */
import { connect, type Socket } from 'node:net';
import type { PgHookSubscriber } from './pg-hooks.js';

/** The postgres.js options the socket factory is called with (its parsed options object). */
export interface PgSocketOptions {
  host: string[];
  port: number[];
  path?: string | false;
  ssl?: unknown;
}

/** What {@link createIdleReaper} returns. */
export interface IdleReaper {
  /** The postgres.js `socket` option. */
  readonly socket: (options: PgSocketOptions) => Socket;
  /** Binds the reaper to the pool's options object; sockets of other pools (LISTEN, cancel) are only connected. */
  bind(poolOptions: object): void;
  /** A hook-layer subscriber counting what runs on the pool's view (queries, transactions, reservations). */
  readonly subscriber: PgHookSubscriber;
  /** Connections closed for being idle so far. */
  readonly reaped: number;
  /** Stops the interval (the pool ended). */
  stop(): void;
}

interface Watched {
  sock: Socket;
  /** bytesWritten when the last ReadyForQuery arrived, and its transaction status byte. */
  readyWritten: number;
  status: number;
  seenRead: number;
  seenWritten: number;
  idleSince: number;
}

// Terminate ('X', length 4): what postgres.js sends when it ends a connection.
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const IDLE = 0x49; // 'I'
const noop = () => {};
const REAPER = Symbol.for('dbkit.pg-idle-reaper');

/** True when the chunk ends with a whole ReadyForQuery message ('Z', int32 5, status). */
const endsWithReady = (c: Buffer) => {
  const n = c.length;
  return n >= 6 && c[n - 6] === 0x5a && c[n - 5] === 0 && c[n - 4] === 0 && c[n - 3] === 0 && c[n - 2] === 5;
};

/**
 * Creates the reaper of one pool: closes connections idle for `idleTimeoutMs`, checked every `intervalMs`.
 *
 * @example
 * ```ts
 * const reaper = createIdleReaper({ idleTimeoutMs: 30_000 });
 * const raw = postgres(url, { idle_timeout: 0, socket: reaper.socket });
 * reaper.bind(raw.options);
 * const sql = withSubscriber(raw, reaper.subscriber);
 * ```
 */
export function createIdleReaper(o: { idleTimeoutMs: number; intervalMs?: number }): IdleReaper {
  const idleMs = o.idleTimeoutMs;
  const intervalMs = o.intervalMs ?? Math.max(250, Math.min(5000, idleMs / 4));
  const watched = new Set<Watched>();
  let bound: object | undefined;
  // Queries started and not settled, open transactions and reservations: while any, nothing is reaped.
  let busy = 0;
  let reaped = 0;
  let timer: NodeJS.Timeout | undefined;

  const reap = (w: Watched) => {
    watched.delete(w);
    reaped++;
    const { sock } = w;
    sock.end(TERMINATE);
    // postgres.js learns of it now, not when the socket's 'close' arrives one round trip later: its
    // 'close' handler moves the connection to the closed queue, so between here and the real close no
    // query can be dispatched to this socket (postgres.js' own idle timer gets the same from end()).
    sock.emit('close', false);
    // That handler removed every listener: an error on the way out must not become an uncaught one.
    sock.on('error', noop);
    setTimeout(() => sock.destroy(), 5000).unref();
  };

  const tick = () => {
    const now = performance.now();
    for (const w of watched) {
      const r = w.sock.bytesRead;
      const wr = w.sock.bytesWritten;
      if (r !== w.seenRead || wr !== w.seenWritten) {
        w.seenRead = r;
        w.seenWritten = wr;
        w.idleSince = now;
        continue;
      }
      if (busy > 0 || w.status !== IDLE || wr !== w.readyWritten || now - w.idleSince < idleMs) continue;
      reap(w);
    }
  };

  const socket = (opts: PgSocketOptions): Socket => {
    const host = opts.host[0] ?? 'localhost';
    const port = opts.port[0] ?? 5432;
    const sock = opts.path ? connect(opts.path) : connect(port, host);
    // TCP_NODELAY, as libpq sets it: postgres.js leaves Nagle's algorithm on, so a small message written while
    // earlier data is unacknowledged (COPY's CopyDone after the data) waits for the server's delayed ACK, ~40 ms
    // on Linux: a 1,000-row COPY + COMMIT took 88 ms with Nagle and 4 ms without.
    if (!opts.path) sock.setNoDelay(true);
    // postgres.js names host:port in connection errors from these (it sets them on its own sockets).
    Object.assign(sock, { host, port });
    if (opts !== bound) return sock;
    const w: Watched = {
      sock,
      readyWritten: -1,
      status: 0,
      seenRead: 0,
      seenWritten: 0,
      idleSince: performance.now(),
    };
    watched.add(w);
    // Registered before postgres.js' own 'data' listener: sees each chunk first, consumes nothing.
    sock.on('data', (c: Buffer) => {
      if (endsWithReady(c)) {
        w.readyWritten = sock.bytesWritten;
        w.status = c[c.length - 1]!;
      }
    });
    sock.once('close', () => watched.delete(w));
    if (!timer) {
      timer = setInterval(tick, intervalMs);
      timer.unref();
    }
    return sock;
  };

  return {
    socket,
    bind(poolOptions) {
      bound = poolOptions;
    },
    subscriber: {
      key: REAPER,
      start() {
        busy++;
        return undefined;
      },
      end() {
        busy--;
      },
      scopeStart() {
        busy++;
        return undefined;
      },
      scopeEnd() {
        busy--;
      },
    },
    get reaped() {
      return reaped;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
