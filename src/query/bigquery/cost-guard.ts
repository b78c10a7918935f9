import type { BigQuery, JobMetadata, Query } from '@google-cloud/bigquery';
import { ConfigError } from '../../errors.js';
import { BYTES_PER_TIB, costOf, estimateBytesBilled } from './billing.js';
import { publishBudgetRefused, publishEstimate, publishQueryBilled } from './channels.js';
import {
  BigQueryBudgetError,
  BigQueryRequestError,
  BigQueryValidationError,
  errorReasonOf,
} from './errors.js';
import { type BigQueryIssue, checkLabels } from './names.js';

export { BYTES_PER_TIB } from './billing.js';

/**
 * BigQuery on-demand compute list price in USD per TiB scanned: $6.25, valid from 2023-07-05 (the last change,
 * from $5.00) and still the list price for the US and EU multi-regions when this was written (2026-11).
 * Some regions cost more and the first TiB of each month is free: pass `pricePerTiB` for your contract.
 */
export const BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD = 6.25;

/** Options of {@link estimateQuery} and {@link runGuarded}. */
export interface BigQueryCostOptions {
  /**
   * Refuse queries estimated to process more bytes than this, or certain to be billed more (the 10 MiB minimum per
   * referenced table); runGuarded also caps maximumBytesBilled at it. @default undefined (no byte limit)
   */
  maxBytes?: number;
  /**
   * Refuse queries whose billed cost (at `pricePerTiB`) is certain to exceed this (USD); runGuarded also caps
   * maximumBytesBilled at the bytes this buys, so a run never bills more. @default undefined (no cost limit)
   */
  maxCostUsd?: number;
  /** Price per TiB scanned, USD. @default 6.25 ({@link BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD}) */
  pricePerTiB?: number;
  /** Job labels for cost attribution (visible in INFORMATION_SCHEMA.JOBS and billing). @default {} */
  labels?: Record<string, string>;
  /** Accept a LOWER_BOUND/UPPER_BOUND estimate (e.g. federated or scripted queries). @default false */
  allowInexactEstimate?: boolean;
  /**
   * runGuarded: maximumBytesBilled is the most the billing rule can charge for the estimate x (1 + headroom) bytes,
   * so data that grows a little between the dry run and the run does not fail the query. @default 0.1
   */
  headroom?: number;
  /** runGuarded: lower bound of maximumBytesBilled; BigQuery bills at least 10 MiB per query. @default 10485760 */
  minimumBytesBilled?: number;
  /** Query parameters (named object or positional array), passed to the client. @default undefined */
  params?: Query['params'];
  /** Job location. @default undefined (the client's default) */
  location?: string;
}

const costDefaults = {
  pricePerTiB: BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD,
  allowInexactEstimate: false,
  headroom: 0.1,
  minimumBytesBilled: 10 * 1024 * 1024,
} as const;

/**
 * Fills and validates {@link BigQueryCostOptions}; throws `ConfigError` for a negative or non-finite number and
 * `BigQueryValidationError` for bad labels.
 *
 * @example
 * ```ts
 * resolveBigQueryCostOptions({ maxCostUsd: 1 }).pricePerTiB // 6.25
 * ```
 */
export function resolveBigQueryCostOptions(opts: BigQueryCostOptions = {}) {
  const r = {
    maxBytes: opts.maxBytes,
    maxCostUsd: opts.maxCostUsd,
    pricePerTiB: opts.pricePerTiB ?? costDefaults.pricePerTiB,
    labels: { ...opts.labels },
    allowInexactEstimate: opts.allowInexactEstimate ?? costDefaults.allowInexactEstimate,
    headroom: opts.headroom ?? costDefaults.headroom,
    minimumBytesBilled: opts.minimumBytesBilled ?? costDefaults.minimumBytesBilled,
    params: opts.params,
    location: opts.location,
  };
  const bad = (v: number | undefined) => v !== undefined && !(Number.isFinite(v) && v >= 0);
  for (const k of ['maxBytes', 'maxCostUsd', 'pricePerTiB', 'headroom', 'minimumBytesBilled'] as const)
    if (bad(r[k])) throw new ConfigError(`${k} must be a non-negative finite number, got ${r[k]}`);
  const issues: BigQueryIssue[] = [];
  checkLabels(r.labels, 'labels', issues);
  if (issues.length > 0) throw new BigQueryValidationError('query labels', issues);
  return r;
}

/** A dry-run estimate. */
export interface BigQueryEstimate {
  /** Bytes the query would process (statistics.query.totalBytesProcessed). */
  bytes: number;
  /** Cost of `bytes`, USD, at `pricePerTiB` (before billing rounds; see `billedCostUsd`). */
  costUsd: number;
  /**
   * Bytes the run would be billed on demand: `bytes` rounded up to the MiB, at least 10 MiB per referenced table and
   * per query; 0 when the dry run reports a cache hit. A dry run itself reports no billed bytes, so this is computed
   * (the least the run can bill for `bytes`; exact when at most one table is referenced).
   */
  totalBytesBilled: number;
  /** The most the run can be billed for `bytes` (all bytes from one table, the others at their minimum), cache or not. */
  maxBytesBilled: number;
  /** `totalBytesBilled` in USD at `pricePerTiB`. */
  billedCostUsd: number;
  /** The dry run found the result in the query cache (statistics.query.cacheHit): running it now bills nothing. */
  cacheHit: boolean;
  /** Tables the query reads (statistics.query.referencedTables), as `project.dataset.table`. */
  referencedTables: string[];
  /** 'PRECISE', 'LOWER_BOUND', 'UPPER_BOUND' or 'UNKNOWN' (statistics.query.totalBytesProcessedAccuracy). */
  accuracy: string;
  /** Whether the estimate can be trusted for a budget (PRECISE or reported without accuracy). */
  exact: boolean;
  /** Statement type (SELECT, CREATE_TABLE_AS_SELECT, SCRIPT, ...), when reported. */
  statementType: string | undefined;
  /** Price used, USD per TiB. */
  pricePerTiB: number;
}

type Resolved = ReturnType<typeof resolveBigQueryCostOptions>;

function refuse(reason: BigQueryBudgetError['reason'], message: string, ctx: Record<string, unknown>): never {
  publishBudgetRefused({ reason, ...ctx });
  throw new BigQueryBudgetError(reason, message, ctx);
}

async function dryRun(bigquery: BigQuery, sql: string, o: Resolved): Promise<BigQueryEstimate> {
  let meta: JobMetadata | undefined;
  try {
    const [job] = await bigquery.createQueryJob({
      query: sql,
      dryRun: true,
      useLegacySql: false,
      ...(Object.keys(o.labels).length > 0 ? { labels: o.labels } : {}),
      ...(o.params !== undefined ? { params: o.params } : {}),
      ...(o.location !== undefined ? { location: o.location } : {}),
    });
    meta = job.metadata as JobMetadata;
  } catch (e) {
    throw new BigQueryRequestError('jobs.insert (dry run)', 'query', e);
  }
  const stats = meta?.statistics;
  const raw = stats?.query?.totalBytesProcessed ?? stats?.totalBytesProcessed ?? '0';
  const bytes = Number(raw);
  const accuracy = stats?.query?.totalBytesProcessedAccuracy ?? 'PRECISE';
  const cacheHit = stats?.query?.cacheHit === true;
  const referencedTables = (stats?.query?.referencedTables ?? []).map((t) =>
    [t.projectId, t.datasetId, t.tableId].filter(Boolean).join('.'),
  );
  const billed = estimateBytesBilled(bytes, referencedTables.length);
  const totalBytesBilled = cacheHit ? 0 : billed.min;
  const estimate: BigQueryEstimate = {
    bytes,
    costUsd: costOf(bytes, o.pricePerTiB),
    totalBytesBilled,
    maxBytesBilled: billed.max,
    billedCostUsd: costOf(totalBytesBilled, o.pricePerTiB),
    cacheHit,
    referencedTables,
    accuracy,
    // LOWER_BOUND can be exceeded; UPPER_BOUND and UNKNOWN carry no guarantee either: only PRECISE is safe.
    exact: accuracy === 'PRECISE',
    statementType: stats?.query?.statementType ?? undefined,
    pricePerTiB: o.pricePerTiB,
  };
  publishEstimate({
    bytes,
    costUsd: estimate.costUsd,
    totalBytesBilled,
    billedCostUsd: estimate.billedCostUsd,
    cacheHit,
    accuracy,
    labels: o.labels,
  });
  return estimate;
}

function checkBudget(e: BigQueryEstimate, o: Resolved): void {
  const ctx = {
    bytes: e.bytes,
    totalBytesBilled: e.totalBytesBilled,
    costUsd: e.costUsd,
    billedCostUsd: e.billedCostUsd,
    maxBytes: o.maxBytes,
    maxCostUsd: o.maxCostUsd,
  };
  if (!e.exact && !o.allowInexactEstimate)
    refuse(
      'inexact-estimate',
      `The dry run reported a ${e.accuracy} estimate (${e.bytes} bytes); it cannot bound the cost. Pass allowInexactEstimate to accept it.`,
      { ...ctx, accuracy: e.accuracy },
    );
  if (o.maxBytes !== undefined && e.bytes > o.maxBytes)
    refuse('max-bytes', `The query would process ${e.bytes} bytes, over maxBytes ${o.maxBytes}.`, ctx);
  if (o.maxBytes !== undefined && e.totalBytesBilled > o.maxBytes)
    refuse(
      'max-bytes',
      `The query would be billed at least ${e.totalBytesBilled} bytes (10 MiB minimum per referenced table), over maxBytes ${o.maxBytes}.`,
      ctx,
    );
  if (o.maxCostUsd !== undefined && e.billedCostUsd > o.maxCostUsd)
    refuse(
      'max-cost',
      `The query would be billed $${e.billedCostUsd.toFixed(4)}, over maxCostUsd $${o.maxCostUsd} (at $${e.pricePerTiB}/TiB).`,
      ctx,
    );
}

/**
 * Dry-runs `sql` and converts the bytes it would process into a cost; throws {@link BigQueryBudgetError}
 * (E_BQ_BUDGET) when over `maxBytes`/`maxCostUsd` or when the estimate is only a bound.
 *
 * @example
 * ```ts
 * const est = await estimateQuery(bq, 'SELECT * FROM analytics.events WHERE ts > @since', {
 *   params: { since: new Date('2026-01-01') }, maxBytes: 50 * 2 ** 30,
 * });
 * console.log(est.bytes, est.costUsd);
 * ```
 */
export async function estimateQuery(
  bigquery: BigQuery,
  sql: string,
  options: BigQueryCostOptions = {},
): Promise<BigQueryEstimate> {
  const o = resolveBigQueryCostOptions(options);
  const estimate = await dryRun(bigquery, sql, o);
  checkBudget(estimate, o);
  return estimate;
}

/** What {@link runGuarded} returns. */
export interface GuardedQueryResult<Row> {
  rows: Row[];
  estimate: BigQueryEstimate;
  /** The maximumBytesBilled the query ran with. */
  maximumBytesBilled: number;
  /** The job that ran (undefined for a stateless query BigQuery answered without a job). */
  jobId: string | undefined;
  /** Bytes the run processed (totalBytesProcessed; 0 for a cache hit). */
  totalBytesProcessed: number;
  /**
   * Bytes BigQuery billed (totalBytesBilled, from jobs.query or, when the results came in several pages, jobs.get):
   * 0 for a cache hit, at least 10 MiB per referenced table otherwise. null only if BigQuery reported it nowhere.
   */
  totalBytesBilled: number | null;
  /** The result came from the query cache (cacheHit): nothing was billed. */
  cacheHit: boolean;
  /** `totalBytesBilled` in USD at the configured `pricePerTiB` (null when totalBytesBilled is). */
  billedCostUsd: number | null;
}

type RunResponse = {
  jobReference?: { jobId?: string | null; location?: string | null } | null;
  totalBytesBilled?: string | null;
  totalBytesProcessed?: string | null;
  cacheHit?: boolean | null;
};

// bigquery.query() resolves [rows, nextQuery, response] with the response of the LAST page: jobs.query's
// QueryResponse carries totalBytesBilled, getQueryResults' pages do not, so a paged result needs jobs.get.
async function runStatistics(
  bigquery: BigQuery,
  response: RunResponse | undefined,
  location: string | undefined,
) {
  const jobId = response?.jobReference?.jobId ?? undefined;
  let billed = response?.totalBytesBilled ?? undefined;
  let processed = response?.totalBytesProcessed ?? undefined;
  let cacheHit = response?.cacheHit ?? undefined;
  if (billed === undefined && jobId) {
    const loc = response?.jobReference?.location ?? location;
    try {
      const [meta] = await bigquery.job(jobId, loc ? { location: loc } : {}).getMetadata();
      const q = (meta as JobMetadata).statistics?.query;
      billed = q?.totalBytesBilled ?? undefined;
      processed ??= q?.totalBytesProcessed ?? undefined;
      cacheHit ??= q?.cacheHit ?? undefined;
    } catch {
      // The rows are in hand and paid for: losing them over a statistics read would be worse than a null bill.
    }
  }
  return {
    jobId,
    totalBytesProcessed: Number(processed ?? 0),
    totalBytesBilled: billed === undefined ? null : Number(billed),
    cacheHit: cacheHit === true,
  };
}

/**
 * Estimates, checks the budget, then runs `sql` with maximumBytesBilled capped by the billing rule over the estimate
 * plus headroom (so a data change between the dry run and the run cannot overspend), by `maxBytes` and by what
 * `maxCostUsd` buys, with the labels for cost attribution. Returns what was actually billed.
 *
 * @example
 * ```ts
 * const r = await runGuarded<{ n: number }>(bq, 'SELECT COUNT(*) AS n FROM analytics.events', {
 *   maxCostUsd: 0.5, labels: { team: 'growth', feature: 'dashboard' },
 * });
 * console.log(r.rows, r.totalBytesBilled, r.cacheHit, r.billedCostUsd);
 * ```
 */
export async function runGuarded<Row = Record<string, unknown>>(
  bigquery: BigQuery,
  sql: string,
  options: BigQueryCostOptions = {},
): Promise<GuardedQueryResult<Row>> {
  const o = resolveBigQueryCostOptions(options);
  const estimate = await dryRun(bigquery, sql, o);
  checkBudget(estimate, o);
  const grown = estimateBytesBilled(estimate.bytes * (1 + o.headroom), estimate.referencedTables.length);
  let limit = Math.max(grown.max, o.minimumBytesBilled);
  // Never above the caller's budget, even if that leaves no headroom.
  if (o.maxBytes !== undefined) limit = Math.min(limit, o.maxBytes);
  if (o.maxCostUsd !== undefined && o.pricePerTiB > 0)
    limit = Math.min(limit, Math.floor((o.maxCostUsd / o.pricePerTiB) * BYTES_PER_TIB + 1e-6));
  let rows: unknown[];
  let response: RunResponse | undefined;
  try {
    [rows, , response] = (await bigquery.query({
      query: sql,
      useLegacySql: false,
      maximumBytesBilled: String(limit),
      ...(Object.keys(o.labels).length > 0 ? { labels: o.labels } : {}),
      ...(o.params !== undefined ? { params: o.params } : {}),
      ...(o.location !== undefined ? { location: o.location } : {}),
    })) as unknown as [unknown[], unknown, RunResponse | undefined];
  } catch (e) {
    if (errorReasonOf(e) === 'bytesBilledLimitExceeded') {
      const ctx = { bytes: estimate.bytes, maximumBytesBilled: limit };
      publishBudgetRefused({ reason: 'bytes-billed-limit', ...ctx });
      throw new BigQueryBudgetError(
        'bytes-billed-limit',
        `BigQuery stopped the query at maximumBytesBilled ${limit} (estimate was ${estimate.bytes}).`,
        ctx,
        e,
      );
    }
    throw new BigQueryRequestError('jobs.query', 'query', e);
  }
  const stats = await runStatistics(bigquery, response, o.location);
  const billedCostUsd =
    stats.totalBytesBilled === null ? null : costOf(stats.totalBytesBilled, o.pricePerTiB);
  publishQueryBilled({ ...stats, billedCostUsd, labels: o.labels });
  return { rows: rows as Row[], estimate, maximumBytesBilled: limit, ...stats, billedCostUsd };
}
