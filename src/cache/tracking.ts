/**
 * Keeps a local tier coherent with Redis: server-assisted client tracking where the server allows it, a pub/sub
 * bus where it does not.
 *
 * Tracking: one connection per Redis master (one for a standalone server), shared by every cache on the client, runs
 *   CLIENT ID -> CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <ns>: -> SUBSCRIBE __redis__:invalidate
 * and from then on Redis sends it, as a RESP2 pub/sub message, the keys of every write to a key under the prefix
 * (SET, UNLINK, INCR of a tag counter, expiry, eviction: by us or by any other client, redis-cli included), or a
 * null payload on FLUSHDB/FLUSHALL. BCAST means no key has to be read on that connection first. The connection
 * is forced to RESP2 (`protocol: 2`): ioredis 6 speaks RESP3 by default, where Redis sends `invalidate` pushes
 * instead of pub/sub messages. Tracking state belongs to the connection, so every reconnect runs the three
 * commands again (and ioredis' own auto-resubscribe is off). A Cluster node only reports writes to its own
 * slots: each master gets its own connection, reconciled on topology changes.
 *
 * Bus (fallback, or `invalidation: 'bus'`): our own writes PUBLISH what they invalidated on `<ns>:i` and every
 * process subscribes; writes by other tools are not seen then.
 *
 * The tier serves only while every connection is subscribed and answers its heartbeat PING; the moment one
 * drops (socket closed, CLIENT KILL, unanswered ping) it stops serving and forgets what it held, and when all
 * are back it starts again from empty.
 */
import { publish } from './channels.js';
import type { IoRedisClient } from './redis-client.js';

/** Where invalidations go (the local tier). */
export interface CoherenceSink {
  up(): void;
  down(): void;
  invalidate(keys: readonly string[]): void;
  invalidateMatching(glob: string): void;
  flush(): void;
}

/** What one of our invalidations tells other processes over the bus. */
export interface BusMessage {
  /** Store keys (entries or tag counters). */
  k?: readonly string[];
  /** A store-key glob. */
  m?: string;
  /** Everything in the namespace. */
  a?: true;
}

/** The running coherence machinery of one cache. */
export interface Coherence {
  /** 'tracking', 'bus', 'process' (no Redis: in-process only), or 'off' (tracking refused and forced). */
  readonly mode: 'tracking' | 'bus' | 'process' | 'off';
  /** True while the local tier may serve. */
  readonly up: boolean;
  /** Bus mode: tells the other processes; otherwise resolves at once (Redis tells them). */
  announce(message: BusMessage): Promise<void>;
  /** Closes the invalidation connections. */
  close(): Promise<void>;
}

/** The ioredis surface used here (both majors have it). */
interface Conn {
  readonly status: string;
  readonly isCluster: boolean;
  readonly options: { host?: string; port?: number };
  readonly stream?: { unref?: () => void };
  duplicate(override?: object): Conn;
  call(...args: string[]): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  ping(): Promise<unknown>;
  nodes(role: 'master'): Conn[];
  disconnect(reconnect?: boolean): void;
  connect(): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
}

export interface CoherenceOptions {
  namespace: string;
  /** `<encoded ns>:`: the tracking prefix (covers entries and tag counters). */
  prefix: string;
  /** The bus channel. */
  channel: string;
  invalidation: 'auto' | 'tracking' | 'bus';
  heartbeatMs: number;
}

const INVALIDATE = '__redis__:invalidate';

/** One cache (its namespace and local tier) served by a shared {@link RedisCoherence}. */
interface Member {
  readonly namespace: string;
  readonly prefix: string;
  readonly channel: string;
  readonly sink: CoherenceSink;
  /** Marks this cache's own bus messages (it applied them locally already). */
  readonly origin: string;
}

// The caches of one client share its invalidation connections (one per master, however many namespaces): per
// client, one RedisCoherence per (invalidation, heartbeatMs).
const shared = new WeakMap<object, Map<string, RedisCoherence>>();

/** Starts coherence for a local tier over `client` (no client: in-process only). */
export function startCoherence(
  client: IoRedisClient | undefined,
  options: CoherenceOptions,
  sink: CoherenceSink,
): Coherence {
  if (client === undefined) {
    sink.up();
    return { mode: 'process', up: true, announce: async () => {}, close: async () => {} };
  }
  let byKind = shared.get(client);
  if (!byKind) {
    byKind = new Map();
    shared.set(client, byKind);
  }
  const kind = `${options.invalidation}:${options.heartbeatMs}`;
  let c = byKind.get(kind);
  if (!c || c.closed) {
    const made = new RedisCoherence(client as unknown as Conn, options, () => {
      if (byKind.get(kind) === made) byKind.delete(kind);
    });
    c = made;
    byKind.set(kind, c);
  }
  const member: Member = {
    namespace: options.namespace,
    prefix: options.prefix,
    channel: options.channel,
    sink,
    origin: `${process.pid}:${Math.random().toString(36).slice(2)}`,
  };
  const owner = c;
  owner.add(member);
  let closed = false;
  return {
    get mode() {
      return owner.mode;
    },
    get up() {
      return !closed && owner.up;
    },
    announce: (message) => (closed ? Promise.resolve() : owner.announce(member, message)),
    close: async () => {
      if (closed) return;
      closed = true;
      await owner.remove(member);
    },
  };
}

const isReplyError = (e: unknown) =>
  e instanceof Error && (e.name === 'ReplyError' || /^(ERR|NOPERM|WRONGPASS|NOAUTH)\b/.test(e.message));

/** One invalidation connection to one node. */
class Link {
  up = false;
  pingOutstanding = false;
  private gen = 0;
  private closed = false;
  private lastError: unknown;
  private retry: NodeJS.Timeout | undefined;
  private attempts = 0;
  readonly conn: Conn;

  constructor(
    node: Conn,
    readonly key: string,
    private readonly role: 'tracking' | 'bus',
    private readonly owner: RedisCoherence,
  ) {
    this.conn = node.duplicate({
      protocol: 2,
      autoResubscribe: false,
      enableOfflineQueue: false,
      lazyConnect: false,
      readOnly: false,
      connectionName: 'dbkit-cache-invalidation',
      // We reconnect ourselves, on an unref'd timer (below): ioredis' own reconnect timer would keep the host
      // process alive after the host dropped its client mid-reconnect (ioredis' `disconnect()` then emits no
      // 'end' we could follow), and Cluster node clients have no retryStrategy at all.
      retryStrategy: () => null,
    });
    const c = this.conn;
    c.on('error', (e: Error) => {
      this.lastError = e;
    });
    // Never keep the host process alive on our own: the host's client does that (and closing it closes us).
    c.on('connect', () => c.stream?.unref?.());
    c.on('ready', () => void this.setup());
    for (const ev of ['close', 'reconnecting', 'end'] as const) c.on(ev, () => this.lost(ev));
    c.on('end', () => this.reconnectLater());
    c.on('messageBuffer', (channel: Buffer, message: unknown) => owner.message(this.role, channel, message));
  }

  private reconnectLater() {
    if (this.closed || this.retry !== undefined) return;
    this.attempts++;
    this.retry = setTimeout(
      () => {
        this.retry = undefined;
        if (!this.closed) this.conn.connect().catch(() => {}); // a failure ends it again: next attempt
      },
      Math.min(50 * this.attempts, 1000),
    );
    this.retry.unref();
  }

  private async setup() {
    const gen = ++this.gen;
    const c = this.conn;
    try {
      if (this.role === 'tracking') {
        const id = String(await c.call('CLIENT', 'ID'));
        const prefixes = this.owner.prefixes();
        await c.call(
          'CLIENT',
          'TRACKING',
          'ON',
          'REDIRECT',
          id,
          'BCAST',
          ...prefixes.flatMap((p) => ['PREFIX', p]),
        );
        await c.subscribe(INVALIDATE);
      } else {
        for (const ch of this.owner.channels()) await c.subscribe(ch);
      }
    } catch (e) {
      if (gen !== this.gen || this.closed) return;
      this.lastError = e;
      if (this.role === 'tracking' && isReplyError(e)) this.owner.unsupported(e);
      else c.disconnect(true);
      return;
    }
    if (gen !== this.gen || this.closed) return;
    this.attempts = 0;
    this.up = true;
    this.pingOutstanding = false;
    this.owner.changed(this, undefined);
  }

  private lost(event: string) {
    this.gen++;
    if (!this.up) return;
    this.up = false;
    this.owner.changed(this, this.lastError ?? new Error(`invalidation connection ${event}`));
  }

  /** Called by the heartbeat: a ping still unanswered from the last beat means the link is dead. */
  beat() {
    if (!this.up) return;
    if (this.pingOutstanding) {
      this.lastError = new Error('invalidation connection did not answer its heartbeat ping');
      this.lost('heartbeat');
      this.conn.disconnect(true);
      return;
    }
    this.pingOutstanding = true;
    const gen = this.gen;
    this.conn.ping().then(
      () => {
        if (gen === this.gen) this.pingOutstanding = false;
      },
      () => {},
    );
  }

  close() {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.gen++;
    this.up = false;
    this.conn.disconnect();
  }
}

/** The invalidation connections of one client, shared by every cache (namespace) on it. */
class RedisCoherence {
  mode: 'tracking' | 'bus' | 'off';
  up = false;
  closed = false;
  private links = new Map<string, Link>();
  private readonly members = new Set<Member>();
  private readonly timer: NodeJS.Timeout;
  private readonly onTopology = () => this.reconcile();
  private readonly onEnd = () => void this.close();

  constructor(
    private readonly client: Conn,
    readonly options: Pick<CoherenceOptions, 'invalidation' | 'heartbeatMs'>,
    private readonly onClosed: () => void,
  ) {
    this.mode = options.invalidation === 'bus' ? 'bus' : 'tracking';
    this.timer = setInterval(() => {
      for (const l of this.links.values()) l.beat();
    }, options.heartbeatMs);
    this.timer.unref();
    client.on('end', this.onEnd);
    if (client.isCluster)
      for (const ev of ['ready', 'refresh', '+node', '-node']) client.on(ev, this.onTopology);
  }

  /** The tracked prefixes, once each (Redis refuses a prefix that repeats or overlaps another). */
  prefixes(): string[] {
    return [...new Set([...this.members].map((m) => m.prefix))];
  }

  channels(): string[] {
    return [...new Set([...this.members].map((m) => m.channel))];
  }

  /**
   * Adds a cache. A namespace the connections do not cover yet needs them set up again (a subscribed RESP2
   * connection takes no CLIENT command): every cache on them pauses and restarts empty, once, typically at startup.
   */
  add(member: Member) {
    const covered = this.members.size > 0 && this.prefixes().includes(member.prefix);
    this.members.add(member);
    if (this.mode === 'off') return;
    if (covered) {
      if (this.up) member.sink.up();
      return;
    }
    for (const l of this.links.values()) l.close();
    this.links.clear();
    this.reconcile();
  }

  async remove(member: Member) {
    if (!this.members.delete(member)) return;
    if (this.up) member.sink.down();
    // (its prefix stays tracked until the next reconnect: a few extra messages, ignored)
    if (this.members.size === 0) await this.close();
  }

  /** The nodes to hold a link to: every master (tracking) or one node (bus). */
  private wanted(): Map<string, Conn> {
    const out = new Map<string, Conn>();
    if (!this.client.isCluster) {
      out.set('standalone', this.client);
      return out;
    }
    const masters = this.client.status === 'ready' ? this.client.nodes('master') : [];
    const keyed = masters.map((n) => [`${n.options.host}:${n.options.port}`, n] as const);
    if (this.mode === 'bus') {
      // Classic PUBLISH reaches subscribers on every node of a Cluster: one subscription is enough.
      const keep = keyed.find(([k]) => this.links.has(k)) ?? keyed[0];
      if (keep) out.set(keep[0], keep[1]);
    } else for (const [k, n] of keyed) out.set(k, n);
    return out;
  }

  private reconcile() {
    if (this.closed || this.mode === 'off' || this.members.size === 0) return;
    const want = this.wanted();
    for (const [k, l] of this.links) {
      if (!want.has(k)) {
        l.close();
        this.links.delete(k);
      }
    }
    for (const [k, node] of want) {
      if (!this.links.has(k)) this.links.set(k, new Link(node, k, this.mode, this));
    }
    this.changed(undefined, undefined);
  }

  /** A link changed state (or the set of links did): serve only while every link is up. */
  changed(link: Link | undefined, error: unknown) {
    if (this.closed) return;
    const all = this.links.size > 0 && [...this.links.values()].every((l) => l.up);
    if (all === this.up) return;
    this.up = all;
    this.state(all, link, error);
  }

  private state(up: boolean, link: Link | undefined, error: unknown) {
    for (const m of this.members) {
      if (up) m.sink.up();
      else m.sink.down();
      publish('localState', () => ({
        namespace: m.namespace,
        up,
        mode: this.mode,
        ...(link ? { node: link.key } : {}),
        ...(error ? { error } : {}),
      }));
    }
  }

  /** CLIENT TRACKING was refused (renamed command, ACL): fall back to the bus, or stay off when forced. */
  unsupported(error: unknown) {
    if (this.mode !== 'tracking' || this.closed) return;
    for (const l of this.links.values()) l.close();
    this.links.clear();
    this.mode = this.options.invalidation === 'auto' ? 'bus' : 'off';
    this.up = false;
    this.state(false, undefined, error);
    if (this.mode === 'bus') this.reconcile();
  }

  message(role: 'tracking' | 'bus', channel: Buffer, message: unknown) {
    if (this.closed) return;
    const name = channel.toString();
    if (role === 'tracking') {
      if (name !== INVALIDATE) return;
      // A null payload: FLUSHDB / FLUSHALL. Otherwise an array of the keys written.
      if (message === null || message === undefined) {
        for (const m of this.members) m.sink.flush();
        return;
      }
      if (!Array.isArray(message)) return;
      const keys = message.map((k) => String(k));
      for (const m of this.members) {
        const mine = keys.filter((k) => k.startsWith(m.prefix));
        if (mine.length) m.sink.invalidate(mine);
      }
      return;
    }
    if (!Buffer.isBuffer(message)) return;
    let msg: BusMessage & { o?: string };
    try {
      msg = JSON.parse(message.toString('utf8'));
    } catch {
      return;
    }
    for (const m of this.members) {
      if (m.channel !== name || msg.o === m.origin) continue; // (its own: applied locally already)
      if (msg.a) m.sink.flush();
      if (typeof msg.m === 'string') m.sink.invalidateMatching(msg.m);
      if (Array.isArray(msg.k)) m.sink.invalidate(msg.k.map(String));
    }
  }

  async announce(member: Member, message: BusMessage): Promise<void> {
    if (this.mode !== 'bus' || this.closed) return;
    await this.client.publish(member.channel, JSON.stringify({ o: member.origin, ...message }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
    clearInterval(this.timer);
    this.client.removeListener('end', this.onEnd);
    for (const ev of ['ready', 'refresh', '+node', '-node']) this.client.removeListener(ev, this.onTopology);
    for (const l of this.links.values()) l.close();
    this.links.clear();
    if (this.up) {
      this.up = false;
      for (const m of this.members) m.sink.down();
    }
    this.members.clear();
  }
}
