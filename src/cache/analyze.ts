import { peekCacheFrame } from './frame.js';
import { CacheKeyspace } from './keys.js';
import { type ClientOps, type IoRedisClient, ops } from './redis-client.js';

/** Options of {@link analyzeCacheMemory}. */
export interface AnalyzeCacheMemoryOptions {
  /** The cache namespace to analyze. */
  namespace: string;
  /**
   * How many keys get MEMORY USAGE and a header read (the key count covers all keys).
   * @default 200
   */
  sample?: number;
  /**
   * How many of the largest sampled keys to return.
   * @default 10
   */
  top?: number;
}

/** Result of {@link analyzeCacheMemory}. */
export interface CacheMemoryReport {
  /** INFO memory used_memory, summed over masters. */
  usedMemoryBytes: number;
  /** Entry keys of the namespace (all masters). */
  keyCount: number;
  sampled: number;
  /** Largest sampled keys by MEMORY USAGE. */
  largestKeys: Array<{ key: string; bytes: number }>;
  /** Mean MEMORY USAGE of the sampled keys. */
  averageEntryBytes: number;
  /** Uncompressed bytes / stored bytes over the sampled entries (1 = no compression; headers count as stored). */
  averageCompressionRatio: number;
  /** Sampled entries per codec. */
  codecs: Record<string, number>;
}

const analyzeDefaults = { sample: 200, top: 10 } as const;

/**
 * Reports how much Redis memory a cache namespace uses: INFO memory, key count, the largest keys
 * (MEMORY USAGE on a SCAN sample) and the average compression ratio of the sampled entries.
 *
 * @example
 * ```ts
 * const report = await analyzeCacheMemory(redis, { namespace: 'users', sample: 500 })
 * ```
 */
export async function analyzeCacheMemory(
  redis: IoRedisClient,
  options: AnalyzeCacheMemoryOptions,
): Promise<CacheMemoryReport> {
  const sample = options.sample ?? analyzeDefaults.sample;
  const top = options.top ?? analyzeDefaults.top;
  const client = ops(redis);
  const nodes = client.isCluster ? client.nodes!('master') : [client];
  const pattern = new CacheKeyspace(options.namespace).entryPattern('*');
  let used = 0;
  let keyCount = 0;
  const sampled: Array<{ node: ClientOps; key: string }> = [];
  for (const node of nodes) {
    const info = await node.info('memory');
    used += Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keyCount += keys.length;
      for (const key of keys) if (sampled.length < sample) sampled.push({ node, key });
    } while (cursor !== '0');
  }
  const sizes: Array<{ key: string; bytes: number }> = [];
  const codecs: Record<string, number> = {};
  let rawSum = 0;
  let storedSum = 0;
  // One pipeline per master: MEMORY USAGE, the 8-byte header and the stored length of each sampled key.
  const perNode = new Map<ClientOps, string[]>();
  for (const { node, key } of sampled) perNode.set(node, [...(perNode.get(node) ?? []), key]);
  for (const [node, keys] of perNode) {
    const p = node.pipeline();
    for (const key of keys) {
      p.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      p.getrangeBuffer(key, 0, 7);
      p.strlen(key);
    }
    const res = (await p.exec()) ?? [];
    keys.forEach((key, i) => {
      const [bytes, head, len] = [res[i * 3]?.[1], res[i * 3 + 1]?.[1], res[i * 3 + 2]?.[1]];
      if (bytes === null || bytes === undefined) return; // expired between SCAN and now
      sizes.push({ key, bytes: Number(bytes) });
      const peek = Buffer.isBuffer(head) ? peekCacheFrame(head) : undefined;
      if (peek && Number(len) > 0) {
        codecs[peek.codec] = (codecs[peek.codec] ?? 0) + 1;
        rawSum += peek.rawLength;
        storedSum += Number(len);
      }
    });
  }
  sizes.sort((a, b) => b.bytes - a.bytes);
  return {
    usedMemoryBytes: used,
    keyCount,
    sampled: sizes.length,
    largestKeys: sizes.slice(0, top),
    averageEntryBytes: sizes.length ? sizes.reduce((n, s) => n + s.bytes, 0) / sizes.length : 0,
    averageCompressionRatio: storedSum ? rawSum / storedSum : 1,
    codecs,
  };
}
