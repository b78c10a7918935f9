import { publish } from './channels.js';
import type { ResolvedLocalTierOptions } from './options.js';

/**
 * One local copy, in the form its hits are served from (exactly one of):
 * - `copy`: a private decoded value (`value`, never handed out) and the function that deep-copies it, for
 *   values of dbkit's serializers (see local-copy.ts: ~20 µs for a 150 KB result, ~0.1 µs for a 0.7 KB row);
 * - `shared` (`local.freeze`): the deep-frozen `value` every hit shares;
 * - `raw`: the serialized value (already decompressed), decoded again on every hit (custom serializers, values
 *   holding Buffers or typed arrays, ~2.6 µs for a 600-byte row and ~150 µs for an 83 KB MessagePack result).
 * In every form but `shared`, no caller can mutate what a later caller gets.
 */
export interface LocalEntry {
  readonly raw: Buffer | undefined;
  /** The copies' template (`copy`) or the shared frozen value (`shared`). */
  readonly value: unknown;
  readonly copy: ((template: unknown) => unknown) | undefined;
  readonly shared: boolean;
  readonly codec: string;
  /** Store keys of the entry's tag counters: a write to one drops the entry. */
  readonly tagKeys: readonly string[];
  readonly expiresAt: number;
  /** What the entry holds (the form above, estimated for a template) plus its key. */
  readonly bytes: number;
}

/** What {@link LocalTier.fill} keeps: an entry's form (see {@link LocalEntry}) and the bytes it holds. */
export interface LocalForm {
  raw: Buffer | undefined;
  value: unknown;
  copy: ((template: unknown) => unknown) | undefined;
  shared: boolean;
  /** Bytes of the form, key not included. */
  bytes: number;
}

/**
 * Freezes a value and everything reachable through its own properties (what `local.freeze` shares). Typed
 * arrays and Buffers cannot be frozen (their elements stay writable) and are left as they are.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || ArrayBuffer.isView(value))
    return value;
  Object.freeze(value);
  for (const k of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[k]);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      deepFreeze(k);
      deepFreeze(v);
    }
  } else if (value instanceof Set) for (const v of value) deepFreeze(v);
  return value;
}

/** Counters of the local tier (part of `QueryCache.stats()`). */
export interface LocalTierCounters {
  localHits: number;
  localEvictions: number;
  invalidationsReceived: number;
}

/** Past this many remembered invalidations, the memory is cleared and every outstanding ticket refused. */
const RECENT_MAX = 4096;

/**
 * The in-process tier: an LRU bounded by entries and bytes, keyed by store key, with a tag index (tag counter
 * store key -> entry keys) so an invalidation of a tag counter drops its entries without a round trip.
 *
 * Coherence is driven from outside (tracking.ts): `serving` is true only while the invalidation connection is
 * known good, and `invalidate(keys)` / `flush()` apply what it receives.
 *
 * The fetch race: a value read from the store while an invalidation of its key is on the way (the reply and
 * the invalidation travel on different connections) must not be kept. A read takes a `ticket()` (a sequence
 * number) before it asks the store; every invalidation bumps the sequence and remembers the key's number; a
 * `fill` whose key (or one of its tag counters) was invalidated after its ticket, or that predates a flush or
 * a reconnect (`floor`), is dropped.
 */
export class LocalTier {
  readonly counters: LocalTierCounters = { localHits: 0, localEvictions: 0, invalidationsReceived: 0 };
  private readonly map = new Map<string, LocalEntry>();
  private readonly byTag = new Map<string, Set<string>>();
  private bytesHeld = 0;
  private servingNow = false;
  private seq = 0;
  private floor = 0;
  private readonly recent = new Map<string, number>();

  constructor(
    readonly options: ResolvedLocalTierOptions,
    private readonly namespace: string,
  ) {}

  /** Entries held now. */
  get size(): number {
    return this.map.size;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** True while local copies may be served. */
  get serving(): boolean {
    return this.servingNow;
  }

  /** Starts serving (the invalidation connection is up); drops everything held before. */
  up(): void {
    this.flush();
    this.servingNow = true;
  }

  /** Stops serving at once and drops everything (the invalidation connection is down). */
  down(): void {
    this.servingNow = false;
    this.flush();
  }

  /** The copy of `full`, or undefined (not held, expired, or the tier is not serving). */
  get(full: string): LocalEntry | undefined {
    if (!this.servingNow) return undefined;
    const e = this.map.get(full);
    if (e === undefined) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.drop(full, e);
      return undefined;
    }
    // Re-inserting keeps the Map's first key the least recently used.
    this.map.delete(full);
    this.map.set(full, e);
    return e;
  }

  /** Taken before a store read whose result may be kept (see the class comment). */
  ticket(): number {
    return this.seq;
  }

  /**
   * Keeps a copy read from the store under `ticket`, unless an invalidation of the key or of one of its tag
   * counters arrived since, the tier stopped serving, or `ttlMs` (the store's remaining TTL) is not positive.
   * `rawBytes` (the serialized size) refuses an entry that cannot fit before `form` is built; `form` never
   * holds less than that.
   */
  fill(
    full: string,
    rawBytes: number,
    codec: string,
    tagKeys: readonly string[],
    ttlMs: number,
    ticket: number,
    form: () => LocalForm,
  ): boolean {
    if (!this.servingNow || ticket < this.floor || !(ttlMs > 0)) return false;
    if ((this.recent.get(full) ?? -1) > ticket) return false;
    for (const t of tagKeys) if ((this.recent.get(t) ?? -1) > ticket) return false;
    if (rawBytes + full.length > this.options.maxBytes) return false;
    const f = form();
    const bytes = f.bytes + full.length;
    if (bytes > this.options.maxBytes) return false;
    const old = this.map.get(full);
    if (old) this.drop(full, old);
    const entry: LocalEntry = {
      raw: f.raw,
      value: f.value,
      copy: f.copy,
      shared: f.shared,
      codec,
      tagKeys,
      bytes,
      expiresAt: Date.now() + Math.min(ttlMs, this.options.ttlMs),
    };
    this.map.set(full, entry);
    this.bytesHeld += bytes;
    for (const t of tagKeys) {
      let s = this.byTag.get(t);
      if (!s) {
        s = new Set();
        this.byTag.set(t, s);
      }
      s.add(full);
    }
    this.evict();
    return true;
  }

  /**
   * Drops entry keys and tag counter keys (an invalidation, ours or received): entries under a tag counter go
   * with it. `received` counts it in `invalidationsReceived`.
   */
  invalidate(keys: readonly string[], received: boolean): void {
    const seq = ++this.seq;
    if (this.recent.size + keys.length > RECENT_MAX) this.forget();
    for (const k of keys) {
      this.recent.set(k, seq);
      const e = this.map.get(k);
      if (e) this.drop(k, e);
      const tagged = this.byTag.get(k);
      if (tagged) {
        for (const full of tagged) {
          const te = this.map.get(full);
          if (te) this.drop(full, te);
        }
        this.byTag.delete(k);
      }
    }
    if (received) {
      this.counters.invalidationsReceived += keys.length;
      publish('localInvalidation', () => ({ namespace: this.namespace, keys: keys.length }));
    }
  }

  /** Drops every entry whose store key `matches`, and refuses fills in flight (pattern invalidation). */
  invalidateMatching(matches: (full: string) => boolean, received: boolean): void {
    const keys = [...this.map.keys()].filter(matches);
    this.forget();
    this.invalidate(keys, received);
  }

  /** Drops everything and refuses every fill in flight (clear, FLUSHALL, reconnect). */
  flush(received = false): void {
    this.map.clear();
    this.byTag.clear();
    this.bytesHeld = 0;
    this.forget();
    if (received) {
      this.counters.invalidationsReceived++;
      publish('localInvalidation', () => ({ namespace: this.namespace, keys: 'all' }));
    }
  }

  /** Counts a local hit. */
  hit(): void {
    this.counters.localHits++;
  }

  private forget() {
    this.recent.clear();
    this.floor = ++this.seq;
  }

  private drop(full: string, e: LocalEntry) {
    this.map.delete(full);
    this.bytesHeld -= e.bytes;
    for (const t of e.tagKeys) {
      const s = this.byTag.get(t);
      if (s) {
        s.delete(full);
        if (s.size === 0) this.byTag.delete(t);
      }
    }
  }

  private evict() {
    const { maxEntries, maxBytes } = this.options;
    if (this.map.size <= maxEntries && this.bytesHeld <= maxBytes) return;
    for (const [k, e] of this.map) {
      if (this.map.size <= maxEntries && this.bytesHeld <= maxBytes) break;
      const reason = this.map.size > maxEntries ? 'entries' : 'bytes';
      this.drop(k, e);
      this.counters.localEvictions++;
      publish('localEvict', () => ({ namespace: this.namespace, key: k, reason }));
    }
  }
}
