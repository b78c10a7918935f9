import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { CacheKeyspace } from './keys.js';
import type { IoRedisClient, IoRedisCluster } from './redis-client.js';
import { redisKeySlot } from './redis-store.js';
import type { CacheStore } from './store.js';
import type { StoreGuard } from './store-guard.js';

/**
 * Distributed single-flight: one loader call per key across every process sharing a Redis.
 *
 * A caller that misses takes `SET <ns>:l:{<slot>}:<key> <token> NX PX <lockTtl>`. The holder re-reads the entry
 * (another process may have finished just before), calls the loader, writes the value, then runs one script that
 * deletes the lock if it still holds the token and PUBLISHes the key on `<ns>:c:flight`. While the loader runs
 * the holder renews the lock every lockTtl/3 with a compare-and-PEXPIRE script, so a slow loader keeps it and a
 * crashed one (no more renewals) loses it within lockTtl.
 *
 * Everyone else waits: for the notification (one subscriber connection per cache, to one master on a Cluster,
 * opened on the first wait and closed 1 s after the last: see LockSubscriber), or for the next poll tick
 * (lockTtl/10, 20..200 ms: the notification can be missed while the subscription is being set up or reconnects). Each tick re-reads the entry and retries the
 * lock, so a waiter gets the value, or the lock once the holder failed or died. Past `lockTimeout` it loads
 * without the lock. Any store failure (timeout, open circuit) ends the distributed part: the caller loads as with
 * 'process' (its own process's callers still share one call).
 */

/** A lock this process holds (internal). */
export interface HeldLock {
  /** Stops the renewal, deletes the lock if still ours and announces the end of the load. Never throws. */
  release(): Promise<void>;
}

/** What a caller of {@link DistributedFlight.run} provides (internal). */
export interface FlightLoad<T> {
  /** Reads the entry again, without counting a miss. */
  reread(): Promise<{ hit: true; value: T } | { hit: false; failed: boolean }>;
  /** Calls the loader and writes the value. */
  load(): Promise<T>;
}

/** How a wait for another process's load ended (the `lockWait` channel's `outcome`). */
export type LockWaitOutcome = 'value' | 'acquired' | 'timeout' | 'store-down';

/** Hooks the cache counts with (internal). */
export interface FlightEvents {
  waited(key: string, durationMs: number, outcome: LockWaitOutcome): void;
}

interface LockCommands {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
}

/** An ioredis `Redis` (either major) seen as what the subscriber needs: `duplicate(override)` on both. */
interface Endpoint {
  duplicate(override: Record<string, unknown>): Subscriber;
}

interface Subscriber {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  disconnect(): void;
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`;
// PUBLISH from a script is allowed on a Cluster (no key) and reaches subscribers on every node.
const RELEASE = `local n = 0
if redis.call('get', KEYS[1]) == ARGV[1] then n = redis.call('del', KEYS[1]) end
redis.call('publish', ARGV[2], ARGV[3])
return n`;

const SUBSCRIBER_IDLE_MS = 1000;
// Reconnect backoff of the subscriber: 50 ms doubling to 2 s, reset once a subscription is confirmed.
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2000;

// Redis Cluster hashes only the `{...}` part of a key when the first `{` is followed by a `}` with something in
// between; otherwise the whole key. `slotTags` holds, per slot, a short tag hashing to it.
const slotTags = new Map<number, string>();
function tagForSlot(slot: number): string {
  let tag = slotTags.get(slot);
  if (tag === undefined) {
    // About 16 384 tries on average (CRC16 spreads short strings evenly); once per slot per process.
    for (let i = 0; ; i++) {
      const t = i.toString(36);
      if (redisKeySlot(t) === slot) {
        tag = t;
        break;
      }
    }
    slotTags.set(slot, tag);
  }
  return tag;
}

/**
 * The lock key of an entry: `<ns>:l:{<tag>}:<key>`, where `{<tag>}` hashes to the entry's Cluster slot (the
 * entry's own hash tag when its key has one, else a short tag found for the slot), so lock and entry live on the
 * same node. Injective in `key` (the tag never contains `}`).
 *
 * @example
 * ```ts
 * lockKey(new CacheKeyspace('shop'), 'user:{42}:cart') // 'shop:l:{42}:user:{42}:cart'
 * ```
 */
export function lockKey(keyspace: CacheKeyspace, key: string): string {
  const entry = keyspace.entry(key);
  const open = entry.indexOf('{');
  const close = open < 0 ? -1 : entry.indexOf('}', open + 1);
  const tag = close > open + 1 ? entry.slice(open + 1, close) : tagForSlot(redisKeySlot(entry));
  return `${keyspace.lockPrefix}{${tag}}:${key}`;
}

/** The ioredis client behind a store, when it is a Redis store (`redisStore()`). */
function clientOf(store: CacheStore): IoRedisClient | undefined {
  if (!store.kind.startsWith('redis')) return undefined;
  const c = (store as { client?: IoRedisClient }).client;
  return c && typeof (c as unknown as LockCommands).eval === 'function' ? c : undefined;
}

/** Distributed single-flight over one cache's Redis (internal; see the module comment). */
export class DistributedFlight {
  private readonly redis: LockCommands;
  private readonly client: IoRedisClient;
  private readonly pollMs: number;
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscriber: LockSubscriber | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    store: CacheStore,
    private readonly keyspace: CacheKeyspace,
    private readonly guard: StoreGuard,
    private readonly lockTtlMs: number,
    private readonly lockTimeoutMs: number,
    private readonly events: FlightEvents,
  ) {
    const client = clientOf(store);
    if (!client) {
      throw new ConfigError(
        `singleFlight: 'distributed' needs a Redis store (createQueryCache({ redis }) or redisStore()), got a '${store.kind}' store`,
        { context: { field: 'singleFlight' } },
      );
    }
    this.client = client;
    this.redis = client as unknown as LockCommands;
    this.pollMs = Math.min(200, Math.max(20, Math.round(lockTtlMs / 10)));
  }

  /** Loads `key` once across processes (see the module comment); the caller already holds its process's flight. */
  async run<T>(key: string, f: FlightLoad<T>): Promise<T> {
    let started: number | undefined;
    let deadline = 0;
    for (;;) {
      const lock = await this.tryLock(key);
      if (lock === 'failed') {
        if (started !== undefined) this.events.waited(key, performance.now() - started, 'store-down');
        return f.load();
      }
      if (lock !== 'held') {
        if (started !== undefined) this.events.waited(key, performance.now() - started, 'acquired');
        try {
          // Another process may have written the value between our miss and our lock.
          const again = await f.reread();
          if (again.hit) return again.value;
          return await f.load();
        } finally {
          await lock.release();
        }
      }
      if (started === undefined) {
        started = performance.now();
        deadline = started + this.lockTimeoutMs;
      }
      await this.waitForNews(key, deadline);
      const r = await f.reread();
      if (r.hit) {
        this.events.waited(key, performance.now() - started, 'value');
        return r.value;
      }
      if (r.failed) {
        this.events.waited(key, performance.now() - started, 'store-down');
        return f.load();
      }
      if (performance.now() >= deadline) {
        this.events.waited(key, performance.now() - started, 'timeout');
        return f.load();
      }
    }
  }

  /** Takes the key's lock: the held lock, 'held' when another caller has it, 'failed' when the store is down. */
  async tryLock(key: string): Promise<HeldLock | 'held' | 'failed'> {
    if (this.guard.skipping()) return 'failed';
    const lk = lockKey(this.keyspace, key);
    const token = randomBytes(12).toString('base64url');
    let got: 'OK' | null;
    try {
      got = await this.guard.run('lock', key, () => this.redis.set(lk, token, 'PX', this.lockTtlMs, 'NX'));
    } catch {
      return 'failed'; // counted and reported by the guard
    }
    if (got === null) return 'held';
    return this.held(key, lk, token);
  }

  private held(key: string, lk: string, token: string): HeldLock {
    let renewing = true;
    const timer = setInterval(
      () => {
        if (this.guard.skipping()) return;
        this.guard
          .run('lockRenew', key, () => this.redis.eval(RENEW, 1, lk, token, this.lockTtlMs))
          .then(
            (n) => {
              // 0: the lock expired or was deleted (clear()): another process may load too; stop renewing.
              if (Number(n) === 0) stop();
            },
            () => {},
          );
      },
      Math.max(1, Math.floor(this.lockTtlMs / 3)),
    );
    timer.unref();
    const stop = () => {
      if (renewing) clearInterval(timer);
      renewing = false;
    };
    return {
      release: async () => {
        stop();
        if (this.guard.skipping()) return; // the lock expires on its own; waiters poll
        await this.guard
          .run('lockRelease', key, () =>
            this.redis.eval(RELEASE, 1, lk, token, this.keyspace.flightChannel, key),
          )
          .catch(() => {});
      },
    };
  }

  /** Resolves on the key's notification, the next poll tick or the deadline, whichever comes first. */
  private waitForNews(key: string, deadline: number): Promise<void> {
    this.subscribe();
    const ms = Math.max(0, Math.min(this.pollMs, deadline - performance.now()));
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(key);
      if (!set) {
        set = new Set();
        this.waiters.set(key, set);
      }
      const s = set;
      const done = () => {
        clearTimeout(timer);
        s.delete(done);
        if (s.size === 0 && this.waiters.get(key) === s) this.waiters.delete(key);
        if (this.waiters.size === 0) this.idle();
        resolve();
      };
      // Not unref'd: a caller is awaiting this.
      const timer = setTimeout(done, Math.ceil(ms));
      s.add(done);
    });
  }

  private subscribe(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.subscriber) return;
    this.subscriber = new LockSubscriber(
      () => endpoints(this.client),
      this.keyspace.flightChannel,
      (message) => {
        const set = this.waiters.get(message);
        if (set) for (const done of [...set]) done();
      },
    );
  }

  /** Closes the subscriber a moment after the last waiter left (waits come in bursts: stampedes). */
  private idle(): void {
    if (this.idleTimer !== undefined || !this.subscriber) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.waiters.size === 0) this.close();
    }, SUBSCRIBER_IDLE_MS);
    this.idleTimer.unref();
  }

  /** Closes the subscriber connection now (it reopens on the next wait). */
  close(): void {
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    sub?.close();
  }
}

/**
 * Where the subscriber may connect: the client itself when standalone, else the Cluster's masters. Regular
 * PUBLISH is propagated to every node of a Cluster, so one node's subscription receives every notification.
 */
function endpoints(client: IoRedisClient): Endpoint[] {
  if (!client.isCluster) return [client as unknown as Endpoint];
  try {
    return (client as IoRedisCluster).nodes('master') as unknown as Endpoint[];
  } catch {
    return [];
  }
}

/**
 * The lock-notification subscription: one plain ioredis connection (a `duplicate` of the user's client, or of one
 * Cluster master, so the same ioredis copy, credentials and TLS), never reconnected by ioredis itself: when it ends
 * we open a new one, to the next endpoint, after a backoff on an unref'd timer. Waiters poll in the meantime.
 *
 * Not `cluster.duplicate()`: when every node of a Cluster goes down while a Cluster client is subscribed, ioredis's
 * ClusterSubscriber reselects a node in a tight loop (about 1,200-2,200 attempts/s on ioredis 5.11.1 and 6.0.0) and
 * leaks a 'close' listener per attempt, printing MaxListenersExceededWarning on the host's stderr (redis/ioredis#2030;
 * the reselect-and-disconnect behaviour comes from redis/ioredis#1329).
 */
class LockSubscriber {
  private conn: Subscriber | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private next = 0;
  private known: Endpoint[] = [];
  private closed = false;

  constructor(
    private readonly endpoints: () => Endpoint[],
    private readonly channel: string,
    private readonly onMessage: (message: string) => void,
  ) {
    this.connect();
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    // A Cluster whose nodes are all down may list none: keep trying the ones it listed last.
    const now = this.endpoints();
    if (now.length > 0) this.known = now;
    const ep = this.known.length > 0 ? this.known[this.next++ % this.known.length] : undefined;
    let conn: Subscriber;
    try {
      if (!ep) throw new Error('no Redis node known yet');
      conn = ep.duplicate({
        // Our backoff, not ioredis's: ioredis's reconnect timer is not unref'd and knows no other node.
        retryStrategy: () => null,
        lazyConnect: false,
        enableOfflineQueue: true, // SUBSCRIBE is sent once connected
        autoResubscribe: false,
        readOnly: false,
      });
    } catch {
      this.retry();
      return;
    }
    this.conn = conn;
    // The subscriber's errors are the main connection's errors too; polling covers a dead subscriber.
    conn.on('error', () => {});
    conn.on('message', (channel, message) => {
      if (channel === this.channel) this.onMessage(message);
    });
    conn.once('end', () => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.retry();
    });
    conn.subscribe(this.channel).then(
      () => {
        if (this.conn === conn) this.failures = 0;
      },
      () => {}, // the connection ends (then we retry) or stays without the subscription (polling)
    );
  }

  private retry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const ms = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 16);
    this.retryTimer = setTimeout(() => this.connect(), ms);
    this.retryTimer.unref();
  }

  /** Closes the connection and stops reconnecting. */
  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    // disconnect, not quit: nothing pending matters, and quit on a connecting client waits for the server.
    conn?.disconnect();
  }
}
