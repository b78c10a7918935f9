import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { CacheStore, CacheStoreEntry } from './store.js';

/** Options of {@link redisStore} when it creates its own client. */
export interface RedisStoreOptions {
  /** redis:// URL. */
  url?: string;
  /** ioredis options, passed through. */
  redis?: RedisOptions;
  /** Cluster seed nodes: when set, an ioredis `Cluster` is created. */
  clusterNodes?: Array<{ host: string; port: number }>;
  /**
   * Keys per SCAN call when deleting by pattern.
   * @default 1000
   */
  scanCount?: number;
}

type Client = Redis | Cluster;

function isClient(x: unknown): x is Client {
  return x instanceof Redis || x instanceof Cluster;
}

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

/**
 * A {@link CacheStore} on ioredis: a `Redis` or `Cluster` you pass in (left open by `close()`), or options
 * to create one. Values are read with getBuffer (binary, never base64); batches are one pipeline, grouped
 * by the node that owns each hash slot on a Cluster; pattern deletes SCAN + UNLINK every master (never KEYS).
 *
 * @example
 * ```ts
 * const store = redisStore(new Redis(process.env.REDIS_URL!))
 * ```
 */
export function redisStore(clientOrOptions: Client | RedisStoreOptions): CacheStore & { client: Client } {
  const owned = !isClient(clientOrOptions);
  const opts: RedisStoreOptions = isClient(clientOrOptions) ? {} : clientOrOptions;
  let client: Client | undefined = isClient(clientOrOptions) ? clientOrOptions : undefined;
  const get = (): Client => {
    client ??= opts.clusterNodes
      ? new Cluster(opts.clusterNodes, { redisOptions: opts.redis ?? {} })
      : opts.url
        ? new Redis(opts.url, opts.redis ?? {})
        : new Redis(opts.redis ?? {});
    return client;
  };
  const scanCount = opts.scanCount ?? 1000;
  const isCluster = () => get() instanceof Cluster;

  /** Groups indexes of keys by the node group that serves their slot (one pipeline each). */
  const byNode = (keys: readonly string[]): number[][] => {
    const c = get() as Cluster;
    const groups = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const slot = redisKeySlot(k);
      const owner = c.slots[slot]?.join(',') ?? `slot:${slot}`;
      const g = groups.get(owner);
      if (g) g.push(i);
      else groups.set(owner, [i]);
    });
    return [...groups.values()];
  };

  const execPipeline = async (p: ReturnType<Client['pipeline']>): Promise<unknown[]> => {
    const res = (await p.exec()) ?? [];
    return res.map(([err, v]) => {
      if (err) throw err;
      return v;
    });
  };

  const masters = (): Redis[] => {
    const c = get();
    return c instanceof Cluster ? c.nodes('master') : [c];
  };

  async function* scanNode(node: Redis, pattern: string, batch: number): AsyncIterable<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', batch);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }

  return {
    kind: isClient(clientOrOptions)
      ? clientOrOptions instanceof Cluster
        ? 'redis-cluster'
        : 'redis'
      : opts.clusterNodes
        ? 'redis-cluster'
        : 'redis',
    get client() {
      return get();
    },
    async get(key) {
      return get().getBuffer(key);
    },
    async getMany(keys) {
      if (keys.length === 0) return [];
      if (!isCluster()) return (get() as Redis).mgetBuffer(...keys);
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
    },
    async set(key, value, ttlMs) {
      await get().set(key, value, 'PX', ttlMs);
    },
    async setMany(entries: readonly CacheStoreEntry[]) {
      if (entries.length === 0) return;
      const groups = isCluster() ? byNode(entries.map((e) => e.key)) : [entries.map((_, i) => i)];
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
      if (!isCluster()) return (get() as Redis).unlink(...keys);
      const counts = await Promise.all(
        byNode(keys).map(async (idx) => {
          const p = get().pipeline();
          for (const i of idx) p.unlink(keys[i]!);
          return (await execPipeline(p)).reduce<number>((n, v) => n + Number(v), 0);
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    },
    async incr(key) {
      return get().incr(key);
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
    async close() {
      if (owned && client) {
        await client.quit().catch(() => client?.disconnect());
        client = undefined;
      }
    },
  };
}
