import type { Cluster, Redis } from 'ioredis';
import { type RedisHealthOptions, resolveMonitoringOptions } from './options.js';
import type { FindingSeverity } from './pg-check-rules.js';

/** Health figures of one Redis server. */
export interface RedisNodeHealth {
  /** host:port. */
  node: string;
  status: 'pass' | 'warn' | 'fail';
  /** Hit rate over the sampling window (0..1; null when no lookups happened in it). */
  hitRate: number | null;
  /** Hit rate since the server started (0..1; null when no lookups). */
  lifetimeHitRate: number | null;
  usedMemory: number;
  /** 0 when no limit. */
  maxMemory: number;
  /** usedMemory / maxMemory (null when no limit). */
  memoryRatio: number | null;
  fragmentationRatio: number;
  evictionsPerSec: number;
  rejectedConnectionsPerSec: number;
  connectedClients: number;
  blockedClients: number;
  keyspaceHits: number;
  keyspaceMisses: number;
  evictedKeys: number;
  /** Seconds the rates were computed over (0: single sample). */
  windowSec: number;
  findings: RedisFinding[];
  error?: string;
}

/** A problem seen on a Redis server. */
export interface RedisFinding {
  check: 'memory' | 'fragmentation' | 'evictions' | 'rejected_connections' | 'hit_rate' | 'unreachable';
  severity: FindingSeverity;
  node: string;
  detail: string;
  suggestion: string;
}

/** What {@link redisHealth} returns: per node and the total. */
export interface RedisHealth {
  status: 'pass' | 'warn' | 'fail';
  cluster: boolean;
  nodes: RedisNodeHealth[];
  total: Omit<RedisNodeHealth, 'node' | 'status' | 'findings' | 'fragmentationRatio' | 'error' | 'windowSec'>;
  findings: RedisFinding[];
  /** Raw samples: pass this result as `since` to the next call to get rates without sleeping. */
  samples: Record<string, { at: number; info: Record<string, string> }>;
}

/**
 * Parses `INFO` output into a flat record (`used_memory` -> '1234').
 *
 * @example
 * ```ts
 * parseRedisInfo(await redis.info()).used_memory
 * ```
 */
export function parseRedisInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

const num = (info: Record<string, string>, k: string) => Number(info[k] ?? 0) || 0;
const rate = (hits: number, misses: number) => (hits + misses > 0 ? hits / (hits + misses) : null);

/**
 * Redis health from INFO: status, hit rate (from INFO deltas over a window, or against a previous
 * result), memory vs maxmemory, fragmentation, evictions and rejected connections per second,
 * connected and blocked clients. On a Cluster, every master is checked and summed.
 *
 * @example
 * ```ts
 * const h = await redisHealth(redis, { sampleMs: 1000 });
 * console.log(h.status, h.total.hitRate, h.nodes.map((n) => n.usedMemory));
 * ```
 */
export async function redisHealth(
  redis: Redis | Cluster,
  options: Partial<RedisHealthOptions> = {},
): Promise<RedisHealth> {
  const o = resolveMonitoringOptions('redis', options);
  const isCluster = (redis as { isCluster?: boolean }).isCluster === true;
  // A Cluster knows its masters only after the first slots refresh: one round trip gets it there.
  if (isCluster && (redis as Cluster).nodes('master').length === 0) await redis.ping().catch(() => {});
  const targets: Redis[] = isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  const sample = async (): Promise<Record<string, { at: number; info: Record<string, string> } | Error>> => {
    const entries = await Promise.all(
      targets.map(async (r) => {
        const name = `${r.options.host ?? 'localhost'}:${r.options.port ?? 6379}`;
        try {
          const text = await r.info();
          return [name, { at: Date.now(), info: parseRedisInfo(text) }] as const;
        } catch (e) {
          return [name, e instanceof Error ? e : new Error(String(e))] as const;
        }
      }),
    );
    return Object.fromEntries(entries);
  };
  let before = o.since?.samples;
  if (!before && o.sampleMs > 0) {
    const first = await sample();
    before = Object.fromEntries(Object.entries(first).filter(([, v]) => !(v instanceof Error))) as Record<
      string,
      { at: number; info: Record<string, string> }
    >;
    await new Promise((r) => setTimeout(r, o.sampleMs));
  }
  const now = await sample();
  const nodes: RedisNodeHealth[] = [];
  const samples: RedisHealth['samples'] = {};
  for (const [node, s] of Object.entries(now)) {
    if (s instanceof Error) {
      nodes.push(failedNode(node, s));
      continue;
    }
    samples[node] = s;
    nodes.push(nodeHealth(node, s, before?.[node], o));
  }
  const sum = (k: keyof RedisNodeHealth) => nodes.reduce((a, n) => a + (Number(n[k]) || 0), 0);
  const ok = nodes.filter((n) => !n.error);
  const windowHits = ok.reduce((a, n) => a + (n.hitRate === null ? 0 : 1), 0);
  const totalWindow = windowHits ? aggregateWindowHitRate(ok, before) : null;
  const maxMemory = sum('maxMemory');
  const findings = nodes.flatMap((n) => n.findings);
  return {
    status: nodes.some((n) => n.status === 'fail')
      ? 'fail'
      : nodes.some((n) => n.status === 'warn')
        ? 'warn'
        : 'pass',
    cluster: isCluster,
    nodes,
    total: {
      hitRate: totalWindow,
      lifetimeHitRate: rate(sum('keyspaceHits'), sum('keyspaceMisses')),
      usedMemory: sum('usedMemory'),
      maxMemory,
      memoryRatio: maxMemory && ok.every((n) => n.maxMemory > 0) ? sum('usedMemory') / maxMemory : null,
      evictionsPerSec: sum('evictionsPerSec'),
      rejectedConnectionsPerSec: sum('rejectedConnectionsPerSec'),
      connectedClients: sum('connectedClients'),
      blockedClients: sum('blockedClients'),
      keyspaceHits: sum('keyspaceHits'),
      keyspaceMisses: sum('keyspaceMisses'),
      evictedKeys: sum('evictedKeys'),
    },
    findings,
    samples,
  };
}

function aggregateWindowHitRate(
  nodes: RedisNodeHealth[],
  before: Record<string, { at: number; info: Record<string, string> }> | undefined,
): number | null {
  let h = 0;
  let m = 0;
  for (const n of nodes) {
    const b = before?.[n.node]?.info;
    h += n.keyspaceHits - (b ? num(b, 'keyspace_hits') : 0);
    m += n.keyspaceMisses - (b ? num(b, 'keyspace_misses') : 0);
  }
  return rate(h, m);
}

function failedNode(node: string, e: Error): RedisNodeHealth {
  return {
    node,
    status: 'fail',
    hitRate: null,
    lifetimeHitRate: null,
    usedMemory: 0,
    maxMemory: 0,
    memoryRatio: null,
    fragmentationRatio: 0,
    evictionsPerSec: 0,
    rejectedConnectionsPerSec: 0,
    connectedClients: 0,
    blockedClients: 0,
    keyspaceHits: 0,
    keyspaceMisses: 0,
    evictedKeys: 0,
    windowSec: 0,
    error: e.message,
    findings: [
      {
        check: 'unreachable',
        severity: 'critical',
        node,
        detail: e.message,
        suggestion: 'Check the server and network.',
      },
    ],
  };
}

function nodeHealth(
  node: string,
  s: { at: number; info: Record<string, string> },
  b: { at: number; info: Record<string, string> } | undefined,
  o: RedisHealthOptions,
): RedisNodeHealth {
  const i = s.info;
  const hits = num(i, 'keyspace_hits');
  const misses = num(i, 'keyspace_misses');
  const evicted = num(i, 'evicted_keys');
  const rejected = num(i, 'rejected_connections');
  // A restarted server has smaller counters than the previous sample: rates from that sample are meaningless.
  const usable = b && num(b.info, 'keyspace_hits') <= hits && s.at > b.at ? b : undefined;
  const dt = usable ? (s.at - usable.at) / 1000 : 0;
  const d = (k: string, v: number) => (usable ? v - num(usable.info, k) : 0);
  const usedMemory = num(i, 'used_memory');
  const maxMemory = num(i, 'maxmemory');
  const memoryRatio = maxMemory > 0 ? usedMemory / maxMemory : null;
  const fragmentationRatio = num(i, 'mem_fragmentation_ratio');
  const windowHit = usable ? rate(d('keyspace_hits', hits), d('keyspace_misses', misses)) : null;
  const h: RedisNodeHealth = {
    node,
    status: 'pass',
    hitRate: windowHit,
    lifetimeHitRate: rate(hits, misses),
    usedMemory,
    maxMemory,
    memoryRatio,
    fragmentationRatio,
    evictionsPerSec: dt > 0 ? d('evicted_keys', evicted) / dt : 0,
    rejectedConnectionsPerSec: dt > 0 ? d('rejected_connections', rejected) / dt : 0,
    connectedClients: num(i, 'connected_clients'),
    blockedClients: num(i, 'blocked_clients'),
    keyspaceHits: hits,
    keyspaceMisses: misses,
    evictedKeys: evicted,
    windowSec: dt,
    findings: [],
  };
  const add = (check: RedisFinding['check'], severity: FindingSeverity, detail: string, suggestion: string) =>
    h.findings.push({ check, severity, node, detail, suggestion });
  if (memoryRatio !== null && memoryRatio >= o.memoryWarnRatio)
    add(
      'memory',
      memoryRatio >= 0.98 ? 'critical' : 'warning',
      `used_memory is ${(memoryRatio * 100).toFixed(0)}% of maxmemory`,
      'Raise maxmemory, shorten TTLs, or compress cached values.',
    );
  if (fragmentationRatio >= o.fragmentationWarnRatio && usedMemory > 100 * 1024 * 1024)
    add(
      'fragmentation',
      'warning',
      `mem_fragmentation_ratio ${fragmentationRatio}`,
      'Enable activedefrag or restart in a quiet hour.',
    );
  if (h.evictionsPerSec > 0)
    add(
      'evictions',
      'warning',
      `${h.evictionsPerSec.toFixed(1)} evictions/s`,
      'The cache is full: raise maxmemory or cache less.',
    );
  if (h.rejectedConnectionsPerSec > 0)
    add(
      'rejected_connections',
      'critical',
      `${h.rejectedConnectionsPerSec.toFixed(1)} rejected connections/s`,
      'maxclients reached: pool connections in the application.',
    );
  if (windowHit !== null && windowHit < o.hitRateWarn)
    add(
      'hit_rate',
      'warning',
      `hit rate ${(windowHit * 100).toFixed(1)}% over ${dt.toFixed(1)} s`,
      'Check keys, TTLs and invalidation.',
    );
  h.status = h.findings.some((f) => f.severity === 'critical')
    ? 'fail'
    : h.findings.some((f) => f.severity === 'warning')
      ? 'warn'
      : 'pass';
  return h;
}
