import { ConfigError } from '../errors.js';
import { publish } from './channels.js';
import type { CircuitState } from './circuit-breaker.js';
import {
  type CachedMethodDecorator,
  type CachedOptions,
  createCachedDecorator,
  type WrapOptions,
  wrapFunction,
} from './decorators.js';
import { CacheCorruptEntryError, CacheSerializeError, CacheStoreError } from './errors.js';
import { decodeCacheFrame, encodeCacheFrame } from './frame.js';
import {
  type CacheSetOptions,
  type QueryCacheOptions,
  type ResolvedQueryCacheOptions,
  resolveQueryCacheOptions,
} from './options.js';
import { redisStore } from './redis-store.js';
import type { CacheStore, CacheStoreEntry } from './store.js';
import { StoreGuard } from './store-guard.js';
import { parseCacheTtl } from './ttl.js';

/** Counters of one {@link QueryCache} (the shape monitoring reads). */
export interface QueryCacheStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 when there were no reads. */
  hitRate: number;
  /** Store failures and timeouts. */
  errors: number;
  loaderCalls: number;
  sets: number;
  deletes: number;
  /** Entries dropped because they could not be decoded. */
  corruptEntries: number;
  /** Serialized bytes written (before compression). */
  bytesRaw: number;
  /** Frame bytes written (after compression, with header). */
  bytesStored: number;
  /** bytesRaw / bytesStored (above 1 means compression saved space); 1 before any write. */
  compressionRatio: number;
  /** Entries written per codec actually used. */
  codecs: Record<string, number>;
  circuit: CircuitState;
}

/** One entry of {@link QueryCache.setMany}. */
export interface CacheManyEntry<T = unknown> extends CacheSetOptions {
  key: string;
  value: T;
}

type Lookup = { hit: true; value: unknown } | { hit: false; versions: Map<string, number> };

const SKIPPED = Symbol('skipped');

/**
 * A compressing query cache over a {@link CacheStore}: see {@link createQueryCache}.
 *
 * @example
 * ```ts
 * const users = await cache.getOrSet(`users:${id}`, () => db.select().from(usersTable), { tags: ['users'] })
 * ```
 */
export class QueryCache {
  readonly options: ResolvedQueryCacheOptions;
  readonly store: CacheStore;
  private readonly guard: StoreGuard;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly counters = {
    hits: 0,
    misses: 0,
    loaderCalls: 0,
    sets: 0,
    deletes: 0,
    corruptEntries: 0,
    bytesRaw: 0,
    bytesStored: 0,
  };
  private readonly codecCounts: Record<string, number> = {};
  private readonly entryPrefix: string;
  private readonly tagPrefix: string;

  constructor(options: QueryCacheOptions) {
    this.options = resolveQueryCacheOptions(options);
    if ((options.redis === undefined) === (options.store === undefined)) {
      throw new ConfigError('createQueryCache needs exactly one of `redis` or `store`');
    }
    this.store = options.store ?? redisStore(options.redis!);
    const ns = this.options.namespace;
    this.entryPrefix = `${ns}:k:`;
    // Every tag counter of a namespace shares one hash slot, so reading all of an entry's tags is one MGET.
    this.tagPrefix = `${ns}:t:{${ns}}:`;
    this.guard = new StoreGuard(this.store, this.options);
  }

  /** Reads a value; undefined on a miss (or when the store is down and failOpen). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    const r = await this.lookup(key, []);
    return r.hit ? (r.value as T) : undefined;
  }

  /** Writes a value with the default TTL or `ttl`, tagged with `tags`. */
  async set<T>(key: string, value: T, options: CacheSetOptions = {}): Promise<void> {
    const tags = options.tags ?? [];
    const versions = tags.length
      ? await this.op('set', key, () => this.readVersions(tags), SKIPPED)
      : new Map();
    if (versions === SKIPPED) return;
    await this.write([{ key, value, ...options }], [versions]);
  }

  /** Deletes one key; returns whether it existed. */
  async delete(key: string): Promise<boolean> {
    return (await this.deleteMany([key])) > 0;
  }

  /**
   * Returns the cached value, or calls `loader` once (per key, per process, however many concurrent
   * callers), stores its result and returns it. A loader error reaches every waiter and is not cached.
   */
  async getOrSet<T>(key: string, loader: () => T | Promise<T>, options: CacheSetOptions = {}): Promise<T> {
    const full = this.entryKey(key);
    const running = this.inflight.get(full);
    if (running) return running as Promise<T>;
    const p = this.load(key, loader, options).finally(() => this.inflight.delete(full));
    this.inflight.set(full, p);
    return p;
  }

  /** Reads many keys in one round trip (per cluster node); undefined for misses, in key order. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    const frames = await this.op(
      'getMany',
      undefined,
      () => this.store.getMany(keys.map((k) => this.entryKey(k))),
      null,
    );
    if (frames === null) {
      this.counters.misses += keys.length;
      return keys.map(() => undefined);
    }
    const decoded = frames.map((f, i) => (f ? this.decode(keys[i]!, f) : undefined));
    const tags = [...new Set(decoded.flatMap((d) => (d ? d.tags.map(([t]) => t) : [])))];
    const versions = tags.length
      ? await this.op('getMany', undefined, () => this.readVersions(tags), null)
      : new Map();
    const stale: string[] = [];
    const out = decoded.map((d, i) => {
      const key = keys[i]!;
      if (d && versions && this.fresh(d.tags, versions)) {
        try {
          const value = this.options.serializer.deserialize(d.raw);
          this.hit(key, d.codec, d.storedBytes);
          return value as T;
        } catch (e) {
          this.corrupt(key, new CacheCorruptEntryError('payload does not deserialize', { cause: e }));
        }
      } else if (d && versions) stale.push(this.entryKey(key)); // stale by tag version (not when unknown)
      this.miss(key);
      return undefined;
    });
    if (stale.length) await this.op('delete', undefined, () => this.store.delete(stale), 0);
    return out;
  }

  /** Writes many entries in one round trip (per cluster node). */
  async setMany<T>(entries: ReadonlyArray<CacheManyEntry<T>>): Promise<void> {
    if (entries.length === 0) return;
    const tags = [...new Set(entries.flatMap((e) => e.tags ?? []))];
    const versions = tags.length
      ? await this.op('setMany', undefined, () => this.readVersions(tags), SKIPPED)
      : new Map();
    if (versions === SKIPPED) return;
    await this.write(
      entries,
      entries.map(() => versions),
    );
  }

  /** Deletes many keys in one round trip (per cluster node); returns how many existed. Throws when the store fails. */
  async deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const n = await this.strict('deleteMany', () => this.store.delete(keys.map((k) => this.entryKey(k))));
    this.counters.deletes += n;
    publish('invalidate', () => ({
      namespace: this.options.namespace,
      kind: 'delete',
      target: keys,
      count: n,
    }));
    return n;
  }

  /**
   * Invalidates every entry written with any of `tags` (bumps per-tag version counters: correct on a Cluster,
   * and an entry whose load raced with the invalidation is never served). Throws when the store fails.
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    await this.strict('invalidateTags', () =>
      Promise.all(tags.map((t) => this.store.incr(this.tagPrefix + t))),
    );
    publish('invalidate', () => ({ namespace: this.options.namespace, kind: 'tags', target: tags }));
  }

  /**
   * Deletes entries whose key matches the Redis glob, inside this namespace only (SCAN + UNLINK on every master).
   * Returns how many were deleted.
   */
  async invalidatePattern(glob: string): Promise<number> {
    const n = await this.strict('invalidatePattern', () =>
      this.store.deleteMatching(this.entryPrefix + glob),
    );
    this.counters.deletes += n;
    publish('invalidate', () => ({
      namespace: this.options.namespace,
      kind: 'pattern',
      target: glob,
      count: n,
    }));
    return n;
  }

  /** Deletes every entry and tag counter of this namespace (other namespaces untouched). */
  async clear(): Promise<number> {
    const n = await this.strict('clear', () => this.store.deleteMatching(`${this.options.namespace}:*`));
    publish('invalidate', () => ({
      namespace: this.options.namespace,
      kind: 'clear',
      target: '*',
      count: n,
    }));
    return n;
  }

  /** Counters since creation (the contract monitoring reads). */
  stats(): QueryCacheStats {
    const c = this.counters;
    const reads = c.hits + c.misses;
    return {
      ...c,
      hitRate: reads ? c.hits / reads : 0,
      compressionRatio: c.bytesStored ? c.bytesRaw / c.bytesStored : 1,
      codecs: { ...this.codecCounts },
      errors: this.guard.errors,
      circuit: this.guard.circuit,
    };
  }

  /** Wraps a function so its results are cached; see {@link WrapOptions}. */
  wrap<A extends unknown[], R, This = unknown>(
    fn: (this: This, ...args: A) => R | Promise<R>,
    options: WrapOptions<A> = {},
  ): (this: This, ...args: A) => Promise<Awaited<R>> {
    return wrapFunction(this, fn, options);
  }

  /** A method decorator (standard TS 5 decorators and `experimentalDecorators`) that caches the method's results. */
  cached<A extends unknown[] = unknown[]>(options: CachedOptions<A> = {}): CachedMethodDecorator {
    return createCachedDecorator(this, options);
  }

  private entryKey(key: string): string {
    if (typeof key !== 'string' || key.length === 0)
      throw new ConfigError('cache key must be a non-empty string');
    return this.entryPrefix + key;
  }

  private async load<T>(key: string, loader: () => T | Promise<T>, options: CacheSetOptions): Promise<T> {
    const tags = options.tags ?? [];
    const found = await this.lookup(key, tags);
    if (found.hit) return found.value as T;
    this.counters.loaderCalls++;
    const t0 = performance.now();
    let value: T;
    try {
      value = await loader();
    } catch (error) {
      publish('loader', () => ({
        namespace: this.options.namespace,
        key,
        durationMs: performance.now() - t0,
        error,
      }));
      throw error;
    }
    publish('loader', () => ({ namespace: this.options.namespace, key, durationMs: performance.now() - t0 }));
    // Tag versions were read before the loader ran: an invalidation during the load makes this entry stale.
    await this.write([{ key, value, ...options }], [found.versions]);
    return value;
  }

  /** Reads an entry and (in the same round trip) the current versions of `tags` for a later write. */
  private async lookup(key: string, tags: readonly string[]): Promise<Lookup> {
    const full = this.entryKey(key);
    const res = await this.op(
      'get',
      key,
      // The common untagged read is a single GET; tagged reads fetch the tag versions in parallel.
      async (): Promise<[Buffer | null, Map<string, number>]> =>
        tags.length
          ? Promise.all([this.store.get(full), this.readVersions(tags)])
          : [await this.store.get(full), new Map<string, number>()],
      null,
    );
    if (res === null) {
      this.miss(key);
      return { hit: false, versions: new Map() };
    }
    const [frame, versions] = res;
    if (frame) {
      const d = this.decode(key, frame);
      if (d) {
        const missing = d.tags.map(([t]) => t).filter((t) => !versions.has(t));
        const current = missing.length
          ? new Map([
              ...versions,
              ...((await this.op('get', key, () => this.readVersions(missing), null)) ?? []),
            ])
          : versions;
        if (this.fresh(d.tags, current)) {
          try {
            const value = this.options.serializer.deserialize(d.raw);
            this.hit(key, d.codec, d.storedBytes);
            return { hit: true, value };
          } catch (e) {
            this.corrupt(key, new CacheCorruptEntryError('payload does not deserialize', { cause: e }));
          }
        } else await this.op('delete', key, () => this.store.delete([full]), 0);
      }
    }
    this.miss(key);
    return { hit: false, versions };
  }

  private fresh(tags: ReadonlyArray<[string, number]>, versions: Map<string, number>): boolean {
    return tags.every(([t, v]) => versions.has(t) && versions.get(t) === v);
  }

  private async readVersions(tags: readonly string[]): Promise<Map<string, number>> {
    const raw = await this.store.getMany(tags.map((t) => this.tagPrefix + t));
    return new Map(tags.map((t, i) => [t, raw[i] ? Number(raw[i]!.toString()) : 0]));
  }

  private decode(key: string, frame: Buffer) {
    try {
      return decodeCacheFrame(frame, this.options.maxDecompressedBytes);
    } catch (e) {
      this.corrupt(key, e);
      return undefined;
    }
  }

  private corrupt(key: string, error: unknown) {
    this.counters.corruptEntries++;
    publish('corrupt', () => ({ namespace: this.options.namespace, key, reason: (error as Error).message }));
    // Best effort: a corrupt entry is removed so the next read repopulates it.
    // (already counted and reported by `op`; with failOpen false there is no caller to throw to here)
    this.op('delete', key, () => this.store.delete([this.entryKey(key)]), 0).catch(() => {});
  }

  private async write(entries: ReadonlyArray<CacheManyEntry>, versions: ReadonlyArray<Map<string, number>>) {
    const o = this.options;
    const batch: CacheStoreEntry[] = [];
    const meta: Array<{ raw: number; stored: number; codec: string; key: string }> = [];
    entries.forEach((e, i) => {
      let raw: Buffer;
      try {
        raw = o.serializer.serialize(e.value);
      } catch (cause) {
        throw new CacheSerializeError(e.key, { cause });
      }
      const v = versions[i] ?? new Map<string, number>();
      const tags = (e.tags ?? []).map((t) => [t, v.get(t) ?? 0] as const);
      const { frame, codec } = encodeCacheFrame(
        raw,
        { codec: o.compression, thresholdBytes: o.thresholdBytes, minSavings: o.minSavings },
        tags,
      );
      const ttlMs = e.ttl === undefined ? o.ttlMs : parseCacheTtl(e.ttl);
      batch.push({ key: this.entryKey(e.key), value: frame, ttlMs });
      meta.push({ raw: raw.length, stored: frame.length, codec, key: e.key });
    });
    const done = await this.op(
      batch.length === 1 ? 'set' : 'setMany',
      batch.length === 1 ? entries[0]!.key : undefined,
      () =>
        batch.length === 1
          ? this.store.set(batch[0]!.key, batch[0]!.value, batch[0]!.ttlMs)
          : this.store.setMany(batch),
      SKIPPED,
    );
    if (done === SKIPPED) return;
    for (const m of meta) {
      this.counters.sets++;
      this.counters.bytesRaw += m.raw;
      this.counters.bytesStored += m.stored;
      this.codecCounts[m.codec] = (this.codecCounts[m.codec] ?? 0) + 1;
      publish('set', () => ({
        namespace: o.namespace,
        key: m.key,
        codec: m.codec,
        bytesRaw: m.raw,
        bytesStored: m.stored,
      }));
    }
  }

  private hit(key: string, codec: string, bytes: number) {
    this.counters.hits++;
    publish('hit', () => ({ namespace: this.options.namespace, key, codec, bytes }));
  }

  private miss(key: string) {
    this.counters.misses++;
    publish('miss', () => ({ namespace: this.options.namespace, key }));
  }

  /** Runs a store call behind the breaker and the timeout; on failure returns `fallback` (failOpen) or throws. */
  private async op<T, F>(
    operation: string,
    key: string | undefined,
    fn: () => Promise<T>,
    fallback: F,
  ): Promise<T | F> {
    try {
      return await this.guarded(operation, key, fn);
    } catch (e) {
      if (this.options.failOpen && e instanceof CacheStoreError) return fallback;
      throw e;
    }
  }

  /** Like `op` but always throws on failure (invalidation must not fail silently). */
  private strict<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.guarded(operation, undefined, fn);
  }

  private guarded<T>(operation: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    return this.guard.run(operation, key, fn);
  }
}

/**
 * Creates a {@link QueryCache} over Redis (`redis`) or any {@link CacheStore} (`store`).
 *
 * @example
 * ```ts
 * const cache = createQueryCache({ redis: new Redis(url), namespace: 'users', ttl: '5m' })
 * const user = await cache.getOrSet(`user:${id}`, () => findUser(id), { tags: [`user:${id}`] })
 * ```
 */
export function createQueryCache(options: QueryCacheOptions): QueryCache {
  return new QueryCache(options);
}
