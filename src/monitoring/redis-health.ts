import type { Cluster, Redis } from 'ioredis';
import type { Finding, FindingSeverity, FindingUnit } from './finding.js';
import { type RedisHealthOptions, resolveMonitoringOptions } from './options.js';

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
  /** maxmemory-policy (noeviction, allkeys-lru, volatile-lru, ...). */
  maxMemoryPolicy: string;
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

/** Checks of {@link redisHealth}. */
export type RedisCheckName =
  | 'memory'
  | 'no_maxmemory'
  | 'eviction_policy'
  | 'fragmentation'
  | 'evictions'
  | 'rejected_connections'
  | 'hit_rate'
  | 'unreachable';

/** A problem seen on a Redis server (`object` is the node, host:port). */
export interface RedisFinding extends Finding<RedisCheckName> {
  /** host:port (same as `object`). */
  node: string;
  /** A Redis command that fixes it on that node, as redis-cli takes it (CONFIG SET ...). */
  command?: string;
}

/** What {@link redisHealth} returns: per node and the total. */
export interface RedisHealth {
  status: 'pass' | 'warn' | 'fail';
  cluster: boolean;
  nodes: RedisNodeHealth[];
  total: Omit<
    RedisNodeHealth,
    'node' | 'status' | 'findings' | 'fragmentationRatio' | 'error' | 'windowSec' | 'maxMemoryPolicy'
  >;
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
    maxMemoryPolicy: '',
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
        object: node,
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
    maxMemoryPolicy: i.maxmemory_policy ?? '',
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
  type Extra = { value?: number; threshold?: number; unit?: FindingUnit; command?: string };
  const add = (
    check: RedisFinding['check'],
    severity: FindingSeverity,
    detail: string,
    suggestion: string,
    extra: Extra = {},
  ) => h.findings.push({ check, severity, node, object: node, detail, suggestion, ...extra });
  const policy = i.maxmemory_policy ?? '';
  if (maxMemory === 0) {
    // A starting point, to be reviewed: 3/4 of the machine, and never below twice what is in use now.
    const system = num(i, 'total_system_memory');
    const suggested = Math.max(
      2 * usedMemory,
      Math.floor((system || 4 * usedMemory) * 0.75),
      64 * 1024 * 1024,
    );
    const mb = Math.ceil(suggested / 1048576);
    add(
      'no_maxmemory',
      'warning',
      'maxmemory is not set: memory grows until the OS kills the server (no key is ever evicted)',
      `Set a limit (${mb} MB is 3/4 of the machine's memory, or twice what is in use if more: adjust it to what the host can spare), with maxmemory-policy volatile-lru so cache entries (they have TTLs) are evicted and tag counters are kept; persist with CONFIG REWRITE or redis.conf.`,
      { command: `CONFIG SET maxmemory ${mb}mb` },
    );
  }
  if (policy.startsWith('allkeys-')) {
    const volatile = policy.replace('allkeys-', 'volatile-');
    add(
      'eviction_policy',
      'warning',
      `maxmemory-policy is ${policy}: keys without a TTL can be evicted, including dbkit/cache tag counters (an evicted counter resets its tag's version, so invalidated entries can be served again)`,
      `Use ${volatile}: only keys with a TTL are evicted. Persist with CONFIG REWRITE or redis.conf.`,
      { command: `CONFIG SET maxmemory-policy ${volatile}` },
    );
  }
  if (memoryRatio !== null && memoryRatio >= o.memoryWarnRatio)
    add(
      'memory',
      memoryRatio >= 0.98 ? 'critical' : 'warning',
      `used_memory is ${(memoryRatio * 100).toFixed(0)}% of maxmemory`,
      'Raise maxmemory, shorten TTLs, or compress cached values.',
      { value: memoryRatio, threshold: o.memoryWarnRatio, unit: 'ratio' },
    );
  if (fragmentationRatio >= o.fragmentationWarnRatio && usedMemory > 100 * 1024 * 1024)
    add(
      'fragmentation',
      'warning',
      `mem_fragmentation_ratio ${fragmentationRatio}`,
      'Enable activedefrag or restart in a quiet hour.',
      { value: fragmentationRatio, threshold: o.fragmentationWarnRatio, unit: 'ratio' },
    );
  if (h.evictionsPerSec > 0)
    add(
      'evictions',
      'warning',
      `${h.evictionsPerSec.toFixed(1)} evictions/s`,
      'The cache is full: raise maxmemory or cache less.',
      { value: h.evictionsPerSec, threshold: 0, unit: 'per_second' },
    );
  if (h.rejectedConnectionsPerSec > 0)
    add(
      'rejected_connections',
      'critical',
      `${h.rejectedConnectionsPerSec.toFixed(1)} rejected connections/s`,
      'maxclients reached: pool connections in the application.',
      { value: h.rejectedConnectionsPerSec, threshold: 0, unit: 'per_second' },
    );
  if (windowHit !== null && windowHit < o.hitRateWarn)
    add(
      'hit_rate',
      'warning',
      `hit rate ${(windowHit * 100).toFixed(1)}% over ${dt.toFixed(1)} s`,
      'Check keys, TTLs and invalidation.',
      { value: windowHit, threshold: o.hitRateWarn, unit: 'ratio' },
    );
  h.status = h.findings.some((f) => f.severity === 'critical')
    ? 'fail'
    : h.findings.some((f) => f.severity === 'warning')
      ? 'warn'
      : 'pass';
  return h;
}
