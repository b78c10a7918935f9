import * as ioredis from 'ioredis';
import { ConfigError } from '../errors.js';
import {
  type ClientOps,
  type IoRedisClient,
  type IoRedisLib,
  isIoRedisClient,
  ops,
  type PipelineLike,
  watchConnection,
} from './redis-client.js';
import type { CacheStore, CacheStoreEntry } from './store.js';

/** Options of {@link redisStore} when it creates its own client. */
export interface RedisStoreOptions {
  /** redis:// URL. */
  url?: string;
  /** ioredis options, passed through (`RedisOptions`, or `redisOptions` of every Cluster node). */
  redis?: object;
  /** Cluster seed nodes: when set, an ioredis `Cluster` is created. */
  clusterNodes?: Array<{ host: string; port: number }>;
  /**
   * Keys per SCAN call when deleting by pattern.
   * @default 1000
   */
  scanCount?: number;
  /**
   * The ioredis library to create the client with (`import * as ioredis from 'ioredis'`), when the host has
   * more than one copy.
   * @default the `ioredis` peer dependency
   */
  lib?: IoRedisLib;
}

const OPTION_KEYS = new Set(['url', 'redis', 'clusterNodes', 'scanCount', 'lib']);

// CRC16/XMODEM as Redis Cluster uses it for hash slots (keys with {tag} hash only the tag).
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/**
 * The Redis Cluster hash slot of a key.
 *
 * @example
 * ```ts
 * redisKeySlot('{user}:1') === redisKeySlot('{user}:2') // true
 * ```
 */
export function redisKeySlot(key: string): number {
  let k = Buffer.from(key, 'utf8');
  const open = k.indexOf(0x7b);
  if (open >= 0) {
    const close = k.indexOf(0x7d, open + 1);
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of k) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc & 0x3fff;
}

function checkOptions(o: unknown): RedisStoreOptions {
  if (typeof o !== 'object' || o === null) {
    throw new ConfigError(
      'redisStore() needs an ioredis Redis or Cluster (5 or 6), or { url | clusterNodes }',
    );
  }
  const unknown = Object.keys(o).filter((k) => !OPTION_KEYS.has(k));
  if (unknown.length) {
    // An object that is neither an ioredis client nor options (a node-redis client, a wrapper): refusing it is
    // better than silently connecting a client of our own to localhost.
    throw new ConfigError(
      `redisStore() got an object that is not an ioredis 5/6 Redis or Cluster, nor redisStore options (unknown keys: ${unknown.slice(0, 5).join(', ')})`,
    );
  }
  return o as RedisStoreOptions;
}

/**
 * A {@link CacheStore} on ioredis 5 or 6: a `Redis` or `Cluster` you pass in (left open by `close()`), or options
 * to create one. Values are read with getBuffer (binary, never base64); batches are one pipeline, grouped
 * by the node that owns each hash slot on a Cluster; pattern deletes SCAN + UNLINK every master (never KEYS).
 * The client's connection events (`close`, `end`, `reconnecting`, `ready`) are reported to the cache, which
 * stops waiting on Redis the moment the connection drops.
 *
 * @example
 * ```ts
 * const store = redisStore(new Redis(process.env.REDIS_URL!))
 * ```
 */
export function redisStore(clientOrOptions: IoRedisClient | RedisStoreOptions): CacheStore & {
  client: IoRedisClient;
} {
  const given = isIoRedisClient(clientOrOptions) ? clientOrOptions : undefined;
  const opts: RedisStoreOptions = given ? {} : checkOptions(clientOrOptions);
  const lib = (opts.lib ?? ioredis) as unknown as {
    Redis: new (...a: unknown[]) => IoRedisClient;
    Cluster: new (...a: unknown[]) => IoRedisClient;
  };
  const listeners: Array<(up: boolean, cause?: unknown) => void> = [];
  let client: IoRedisClient | undefined = given;
  let c: ClientOps | undefined = given ? ops(given) : undefined;
  const get = (): ClientOps => {
    if (c) return c;
    client = opts.clusterNodes
      ? new lib.Cluster(opts.clusterNodes, { redisOptions: opts.redis ?? {} })
      : opts.url
        ? new lib.Redis(opts.url, opts.redis ?? {})
        : new lib.Redis(opts.redis ?? {});
    for (const l of listeners) watchConnection(client, l);
    c = ops(client);
    return c;
  };
  const scanCount = opts.scanCount ?? 1000;
  const clustered = given ? given.isCluster : opts.clusterNodes !== undefined;

  /** Groups indexes of keys by the node group that serves their slot (one pipeline each). */
  const byNode = (keys: readonly string[]): number[][] => {
    const slots = get().slots ?? [];
    const groups = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const slot = redisKeySlot(k);
      const owner = slots[slot]?.join(',') ?? `slot:${slot}`;
      const g = groups.get(owner);
      if (g) g.push(i);
      else groups.set(owner, [i]);
    });
    return [...groups.values()];
  };

  const execPipeline = async (p: PipelineLike): Promise<unknown[]> => {
    const res = (await p.exec()) ?? [];
    return res.map(([err, v]) => {
      if (err) throw err;
      return v;
    });
  };

  /** getMany on a Cluster: one pipeline per node, results back in key order. */
  const clusterGetMany = async (keys: readonly string[]): Promise<Array<Buffer | null>> => {
    const out: Array<Buffer | null> = new Array(keys.length).fill(null);
    await Promise.all(
      byNode(keys).map(async (idx) => {
        const p = get().pipeline();
        for (const i of idx) p.getBuffer(keys[i]!);
        const res = await execPipeline(p);
        idx.forEach((i, j) => {
          out[i] = (res[j] as Buffer | null) ?? null;
        });
      }),
    );
    return out;
  };

  const masters = (): ClientOps[] => {
    const x = get();
    return x.isCluster ? x.nodes!('master') : [x];
  };

  async function* scanNode(node: ClientOps, pattern: string, batch: number): AsyncIterable<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', batch);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }

  return {
    kind: clustered ? 'redis-cluster' : 'redis',
    get client() {
      get();
      return client!;
    },
    // No `async` on the hot paths: the ioredis promise is returned as is (one promise hop less per call).
    get(key) {
      return get().getBuffer(key);
    },
    getMany(keys) {
      if (keys.length === 0) return Promise.resolve([]);
      // (one Redis: ioredis' own promise, as `get` does)
      return clustered ? clusterGetMany(keys) : get().mgetBuffer(...keys);
    },
    async set(key, value, ttlMs) {
      await get().set(key, value, 'PX', ttlMs);
    },
    async setMany(entries: readonly CacheStoreEntry[]) {
      if (entries.length === 0) return;
      const groups = clustered ? byNode(entries.map((e) => e.key)) : [entries.map((_, i) => i)];
      await Promise.all(
        groups.map(async (idx) => {
          const p = get().pipeline();
          for (const i of idx) {
            const e = entries[i]!;
            p.set(e.key, e.value, 'PX', e.ttlMs);
          }
          await execPipeline(p);
        }),
      );
    },
    async delete(keys) {
      if (keys.length === 0) return 0;
      if (!clustered) return get().unlink(...keys);
      const counts = await Promise.all(
        byNode(keys).map(async (idx) => {
          const p = get().pipeline();
          for (const i of idx) p.unlink(keys[i]!);
          return (await execPipeline(p)).reduce<number>((n, v) => n + Number(v), 0);
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    incr(key) {
      return get().incr(key);
    },
    pttl(key) {
      return get().pttl(key);
    },
    async deleteMatching(pattern) {
      const counts = await Promise.all(
        masters().map(async (node) => {
          let n = 0;
          for await (const keys of scanNode(node, pattern, scanCount)) {
            // One UNLINK per key: on a Cluster node the batch spans slots, and multi-key UNLINK would be CROSSSLOT.
            const p = node.pipeline();
            for (const k of keys) p.unlink(k);
            n += (await execPipeline(p)).reduce<number>((a, v) => a + Number(v), 0);
          }
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    async *scan(pattern, batch = scanCount) {
      for (const node of masters()) yield* scanNode(node, pattern, batch);
    },
    async ping() {
      await get().ping();
    },
    onConnectionChange(listener) {
      if (client) watchConnection(client, listener);
      else listeners.push(listener);
    },
    async close() {
      if (!given && c) {
        const x = c;
        c = undefined;
        client = undefined;
        await x.quit().catch(() => x.disconnect());
      }
    },
  };
}
