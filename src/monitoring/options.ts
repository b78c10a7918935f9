import { ConfigError } from '../errors.js';

/** Options of {@link monitorPool}. */
export interface PoolMonitorOptions {
  /**
   * Name used in metrics and events (`db.client.connection.pool.name`).
   * @default 'default'
   */
  name: string;
  /**
   * Sets `application_name` for connections opened after this call, so {@link PoolMonitor.crossCheck}
   * can find this pool's sessions in pg_stat_activity. When unset the client's own name is used.
   * @default undefined
   */
  applicationName: string | undefined;
  /**
   * A query slower than this counts as slow (alerts: slow queries per minute).
   * @default 1000
   */
  slowQueryMs: number;
  /**
   * p99 acquire wait the health score accepts.
   * @default 100
   */
  waitTargetMs: number;
  /**
   * A reservation (`sql.reserve()`) held longer than this is reported as a possible leak.
   * @default 60000
   */
  leakThresholdMs: number;
  /**
   * Sessions idle in transaction longer than this are reported by crossCheck().
   * @default 10000
   */
  idleInTransactionMs: number;
  /**
   * Upper bounds (ms) of the acquire-wait and duration histograms.
   * @default [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
   */
  bucketsMs: number[];
}

/** Options of {@link pgChecks}. */
export interface PgCheckOptions {
  /**
   * Unused index: at most this many scans...
   * @default 0
   */
  unusedIndexMaxScans: number;
  /**
   * ...and at least this many bytes (PgHero: 10 MB).
   * @default 10485760
   */
  unusedIndexMinBytes: number;
  /**
   * Missing index: tables with fewer than this % of index scans (PgHero: 95), or none at all...
   * @default 95
   */
  missingIndexMaxPercent: number;
  /**
   * ...at least this many live rows (PgHero: 10,000)...
   * @default 10000
   */
  missingIndexMinRows: number;
  /**
   * ...and evidence: at least this many sequential scans (50, PgHero's "rarely used" scan count)...
   * @default 50
   */
  missingIndexMinSeqScans: number;
  /**
   * ...reading at least this many rows each on average (half of missingIndexMinRows: a full scan of the
   * smallest table that qualifies, with room for the odd short scan).
   * @default 5000
   */
  missingIndexMinRowsPerScan: number;
  /**
   * Cache hit ratio below this (0..1) is a warning (PgHero: 99%).
   * @default 0.99
   */
  cacheHitRateMin: number;
  /**
   * Sequences above this share of their column type's maximum (PgHero: 90%).
   * @default 0.9
   */
  sequenceMaxRatio: number;
  /**
   * Transaction IDs left before wraparound below which a table is flagged (PgHero: 1.5 billion).
   * @default 1500000000
   */
  wraparoundMinLeft: number;
  /**
   * Table bloat: dead tuples at least this share of all tuples...
   * @default 0.2
   */
  tableBloatMinRatio: number;
  /**
   * ...and at least this many dead tuples.
   * @default 10000
   */
  tableBloatMinDeadTuples: number;
  /**
   * Index bloat: estimated wasted bytes at least this (PgHero: 100 MB)...
   * @default 104857600
   */
  indexBloatMinBytes: number;
  /**
   * ...and at least this share of the index.
   * @default 0.3
   */
  indexBloatMinRatio: number;
  /**
   * Statistics younger than this make usage-based checks low-confidence.
   * @default 604800000 (7 days)
   */
  statsMinAgeMs: number;
  /**
   * How many of the largest tables and indexes to list (info findings)...
   * @default 5
   */
  largestRelations: number;
  /**
   * ...of those at least this big.
   * @default 1073741824 (1 GiB)
   */
  relationSizeMinBytes: number;
  /**
   * Time limit of each read-only probe that tells whether a fix can work (duplicate keys behind an invalid
   * unique index, rows that break a NOT VALID constraint). 0 skips the probes: those findings then give the
   * query that lists the rows instead of the fix.
   * @default 5000
   */
  probeTimeoutMs: number;
  /**
   * Only these checks run (all when unset).
   * @default undefined
   */
  only: string[] | undefined;
  /**
   * Called before each check runs (the doctor prints progress with it).
   * @default undefined
   */
  onProgress: ((check: string) => void) | undefined;
}

/** Options of {@link pgQueryStats} (PgHero: slow_query_ms 20, slow_query_calls 100). */
export interface PgQueryStatsOptions {
  /**
   * Statements in each top list.
   * @default 10
   */
  limit: number;
  /**
   * A statement whose mean time is at least this...
   * @default 20
   */
  slowQueryMs: number;
  /**
   * ...over at least this many calls is a slow_query finding.
   * @default 100
   */
  slowQueryMinCalls: number;
  /**
   * Most pg_stat_statements rows read (the view holds pg_stat_statements.max, 5000 by default).
   * @default 5000
   */
  maxStatements: number;
}

/** Options of {@link pgActivity}. */
export interface PgActivityOptions {
  /**
   * Queries running longer than this are long-running.
   * @default 60000
   */
  longRunningMs: number;
  /**
   * Sessions idle in transaction longer than this are listed.
   * @default 0
   */
  idleInTransactionMs: number;
}

/** Options of {@link cancelBackend}. */
export interface CancelBackendOptions {
  /**
   * Escalate to pg_terminate_backend when the backend is still busy `escalateAfterMs` after the cancel
   * (idle-in-transaction sessions ignore a cancel).
   * @default false
   */
  terminate: boolean;
  /**
   * Only backends whose application_name is in this list may be touched (any when unset).
   * @default undefined
   */
  allowApplicationNames: string[] | undefined;
  /**
   * Report what would be done without doing it.
   * @default false
   */
  dryRun: boolean;
  /**
   * How long to wait for a cancel to take effect before escalating.
   * @default 2000
   */
  escalateAfterMs: number;
}

/** Options of {@link redisHealth}. */
export interface RedisHealthOptions {
  /**
   * Time between the two INFO samples that rates (hit rate, evictions/s) are computed from.
   * Ignored when `since` is given. 0 takes one sample (rates from lifetime counters).
   * @default 1000
   */
  sampleMs: number;
  /**
   * A previous result: rates are computed against its samples instead of sleeping.
   * @default undefined
   */
  since: { samples: Record<string, { at: number; info: Record<string, string> }> } | undefined;
  /**
   * used_memory / maxmemory above this is a warning.
   * @default 0.9
   */
  memoryWarnRatio: number;
  /**
   * mem_fragmentation_ratio above this is a warning (only when used_memory > 100 MB, as small
   * instances always look fragmented).
   * @default 1.5
   */
  fragmentationWarnRatio: number;
  /**
   * Hit rate below this (0..1) over the window is a warning.
   * @default 0.8
   */
  hitRateWarn: number;
}

/** Options of {@link createAlerts}. A rule with no threshold is off. */
export interface AlertOptions {
  /**
   * Fire when a pool's slow queries over the last minute reach this.
   * @default undefined
   */
  slowQueriesPerMinute: number | undefined;
  /**
   * Fire when a pool's utilisation (inUse / max, 0..1) reaches this.
   * @default undefined
   */
  poolUsage: number | undefined;
  /**
   * Fire when a cache's hit rate (0..1) falls below this.
   * @default undefined
   */
  cacheHitRate: number | undefined;
  /**
   * Fire when a pool's errors / queries over the last minute (0..1) reach this.
   * @default undefined
   */
  errorRate: number | undefined;
  /**
   * Rates (error rate, cache hit rate) are judged only after this many queries / lookups.
   * @default 20
   */
  minSamples: number;
  /**
   * The same rule on the same pool or cache fires at most once per cooldown.
   * @default 60000
   */
  cooldownMs: number;
  /**
   * How often start() evaluates the rules.
   * @default 15000
   */
  intervalMs: number;
}

const defaults = {
  pool: {
    name: 'default',
    applicationName: undefined,
    slowQueryMs: 1000,
    waitTargetMs: 100,
    leakThresholdMs: 60_000,
    idleInTransactionMs: 10_000,
    bucketsMs: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
  } satisfies PoolMonitorOptions,
  checks: {
    unusedIndexMaxScans: 0,
    unusedIndexMinBytes: 10 * 1024 * 1024,
    missingIndexMaxPercent: 95,
    missingIndexMinRows: 10_000,
    missingIndexMinSeqScans: 50,
    missingIndexMinRowsPerScan: 5000,
    cacheHitRateMin: 0.99,
    sequenceMaxRatio: 0.9,
    wraparoundMinLeft: 1_500_000_000,
    tableBloatMinRatio: 0.2,
    tableBloatMinDeadTuples: 10_000,
    indexBloatMinBytes: 100 * 1024 * 1024,
    indexBloatMinRatio: 0.3,
    statsMinAgeMs: 7 * 24 * 3600 * 1000,
    largestRelations: 5,
    relationSizeMinBytes: 1024 ** 3,
    probeTimeoutMs: 5000,
    only: undefined,
    onProgress: undefined,
  } satisfies PgCheckOptions,
  activity: { longRunningMs: 60_000, idleInTransactionMs: 0 } satisfies PgActivityOptions,
  queryStats: {
    limit: 10,
    slowQueryMs: 20,
    slowQueryMinCalls: 100,
    maxStatements: 5000,
  } satisfies PgQueryStatsOptions,
  cancel: {
    terminate: false,
    allowApplicationNames: undefined,
    dryRun: false,
    escalateAfterMs: 2000,
  } satisfies CancelBackendOptions,
  alerts: {
    slowQueriesPerMinute: undefined,
    poolUsage: undefined,
    cacheHitRate: undefined,
    errorRate: undefined,
    minSamples: 20,
    cooldownMs: 60_000,
    intervalMs: 15_000,
  } satisfies AlertOptions,
  redis: {
    sampleMs: 1000,
    since: undefined,
    memoryWarnRatio: 0.9,
    fragmentationWarnRatio: 1.5,
    hitRateWarn: 0.8,
  } satisfies RedisHealthOptions,
};

/** Option sections of dbkit/monitoring and their resolved types. */
export interface MonitoringOptionSections {
  pool: PoolMonitorOptions;
  checks: PgCheckOptions;
  activity: PgActivityOptions;
  queryStats: PgQueryStatsOptions;
  cancel: CancelBackendOptions;
  redis: RedisHealthOptions;
  alerts: AlertOptions;
}

type Loose<T> = { [K in keyof T]?: T[K] | undefined };

/**
 * Fills one option section from the module's single `defaults` const and validates numbers.
 *
 * @example
 * ```ts
 * resolveMonitoringOptions('checks', { unusedIndexMinBytes: 0 }).missingIndexMinRows // 10000
 * ```
 */
export function resolveMonitoringOptions<K extends keyof MonitoringOptionSections>(
  section: K,
  options: Loose<MonitoringOptionSections[K]> = {},
): MonitoringOptionSections[K] {
  const base = defaults[section] as MonitoringOptionSections[K];
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue;
    if (!(k in base)) throw new ConfigError(`Unknown ${section} option "${k}"`, { context: { option: k } });
    const d = (base as unknown as Record<string, unknown>)[k];
    const numeric = typeof d === 'number' || (section === 'alerts' && d === undefined);
    if (numeric && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new ConfigError(`${section}.${k} must be a finite number >= 0 (got ${String(v)})`, {
        context: { option: k, value: v },
      });
    }
    out[k] = v;
  }
  return out as unknown as MonitoringOptionSections[K];
}
