/**
 * The ioredis surface dbkit/cache uses, typed structurally so a `Redis` or `Cluster` of ioredis 5 or 6 fits
 * (their classes have private members, so one major's class type never accepts the other's instances, and a
 * host may hold two copies: its own ioredis and one a dependency brought). Clients are recognised by shape,
 * never by `instanceof`: with two copies installed, `instanceof` silently failed and the store created a second
 * client of its own to localhost:6379 that was never closed (the "process never exits with ioredis 6" report).
 */

/** A standalone ioredis client (`Redis` of ioredis 5 or 6, any reply mapping), as dbkit/cache uses it. */
export interface IoRedisStandalone {
  readonly status: string;
  readonly isCluster: boolean;
  /** GET returning the raw bytes. */
  getBuffer(key: string): Promise<Buffer | null>;
  /** PING (health checks). */
  ping(): Promise<string>;
  /** Closes the connection after pending replies. */
  quit(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect(): void;
  /** Connection events: the circuit breaker opens on close/end/reconnecting and closes on ready. */
  on(event: 'close' | 'end' | 'reconnecting' | 'ready', listener: () => void): unknown;
}

/** An ioredis `Cluster` (ioredis 5 or 6), as dbkit/cache uses it. */
export interface IoRedisCluster {
  readonly status: string;
  readonly isCluster: boolean;
  /** GET returning the raw bytes. */
  getBuffer(key: string): Promise<Buffer | null>;
  /** The node clients (SCAN and INFO run on every master). */
  nodes(role?: 'master' | 'slave' | 'all'): IoRedisStandalone[];
  readonly slots: string[][];
  /** Closes every node connection after pending replies. */
  quit(): Promise<unknown>;
  /** Closes every node connection at once. */
  disconnect(): void;
  /** Connection events: the circuit breaker opens on close/end/reconnecting and closes on ready. */
  on(event: 'close' | 'end' | 'reconnecting' | 'ready', listener: () => void): unknown;
}

/**
 * An ioredis 5 or 6 `Redis` or `Cluster`: what `createQueryCache({ redis })`, `redisStore()` and
 * `analyzeCacheMemory()` accept.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis' // 5 or 6
 * const client: IoRedisClient = new Redis(process.env.REDIS_URL!)
 * ```
 */
export type IoRedisClient = IoRedisStandalone | IoRedisCluster;

/** The library `redisStore` creates clients with (`import * as ioredis from 'ioredis'`, either major). */
export interface IoRedisLib {
  Redis: new (...args: never[]) => IoRedisStandalone;
  Cluster: new (...args: never[]) => IoRedisCluster;
}

type Reply = [Error | null, unknown][] | null;
/** The pipeline calls the store makes (internal). */
export interface PipelineLike {
  getBuffer(key: string): unknown;
  set(key: string, value: Buffer, px: 'PX', ms: number): unknown;
  unlink(key: string): unknown;
  call(...args: Array<string | number>): unknown;
  getrangeBuffer(key: string, start: number, end: number): unknown;
  strlen(key: string): unknown;
  exec(): Promise<Reply>;
}

/** What the store calls on a client (internal: ioredis has these on both majors). */
export interface ClientOps {
  readonly status: string;
  readonly isCluster: boolean;
  getBuffer(key: string): Promise<Buffer | null>;
  mgetBuffer(...keys: string[]): Promise<Array<Buffer | null>>;
  set(key: string, value: Buffer, px: 'PX', ms: number): Promise<unknown>;
  unlink(...keys: string[]): Promise<number>;
  incr(key: string): Promise<number>;
  pttl(key: string): Promise<number>;
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    n: number,
  ): Promise<[string, string[]]>;
  ping(): Promise<string>;
  info(section: string): Promise<string>;
  pipeline(): PipelineLike;
  quit(): Promise<unknown>;
  disconnect(): void;
  nodes?(role: 'master'): ClientOps[];
  slots?: string[][];
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  listenerCount(event: string): number;
}

/**
 * True for an ioredis `Redis` or `Cluster` of any major (recognised by shape).
 *
 * @example
 * ```ts
 * isIoRedisClient(new Redis()) // true
 * ```
 */
export function isIoRedisClient(x: unknown): x is IoRedisClient {
  if (typeof x !== 'object' || x === null) return false;
  const c = x as Record<string, unknown>;
  return (
    typeof c.getBuffer === 'function' &&
    typeof c.pipeline === 'function' &&
    typeof c.on === 'function' &&
    typeof c.quit === 'function' &&
    typeof c.isCluster === 'boolean'
  );
}

/** The client seen through the internal interface. */
export function ops(client: IoRedisClient): ClientOps {
  return client as unknown as ClientOps;
}

type ConnectionListener = (up: boolean, cause?: unknown) => void;

// One set of ioredis listeners per client, however many caches share it (many caches over one client must not
// trip MaxListenersExceededWarning); caches subscribe weakly so a dropped cache is collected.
const watchers = new WeakMap<object, Set<WeakRef<ConnectionListener>>>();

/**
 * Calls `listener(false, cause)` when the client's connection closes, ends or starts reconnecting, and
 * `listener(true)` when it is ready again. The listener is held weakly.
 */
export function watchConnection(client: IoRedisClient, listener: ConnectionListener): void {
  let subs = watchers.get(client);
  if (!subs) {
    const set = new Set<WeakRef<ConnectionListener>>();
    subs = set;
    watchers.set(client, set);
    const c = ops(client);
    let lastError: unknown;
    const emit = (up: boolean, cause?: unknown) => {
      for (const ref of set) {
        const fn = ref.deref();
        if (fn) fn(up, cause);
        else set.delete(ref);
      }
    };
    const down = (event: string) => () =>
      emit(
        false,
        lastError ?? new Error(`Redis connection ${event === 'end' ? 'ended' : 'lost'} (ioredis "${event}")`),
      );
    c.on('error', (e: unknown) => {
      lastError = e;
      // ioredis prints "[ioredis] Unhandled error event" only when nobody listens to 'error'; listening here
      // must not silence that for a host that never added its own listener.
      if (c.listenerCount('error') === 1 && e instanceof Error) {
        console.error('[ioredis] Unhandled error event:', e.stack);
      }
    });
    c.on('close', down('close'));
    c.on('reconnecting', down('reconnecting'));
    c.on('end', down('end'));
    c.on('ready', () => {
      lastError = undefined;
      emit(true);
    });
  }
  subs.add(new WeakRef(listener));
  const s = client.status;
  if (s === 'close' || s === 'end' || s === 'reconnecting')
    listener(false, new Error(`Redis connection is ${s}`));
}
