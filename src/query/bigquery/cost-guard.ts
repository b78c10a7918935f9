import type { BigQuery, JobMetadata, Query } from '@google-cloud/bigquery';
import { ConfigError } from '../../errors.js';
import { publishBudgetRefused, publishEstimate } from './channels.js';
import {
  BigQueryBudgetError,
  BigQueryRequestError,
  BigQueryValidationError,
  errorReasonOf,
} from './errors.js';
import { type BigQueryIssue, checkLabels } from './names.js';

/** Bytes in one tebibyte (2^40): on-demand pricing is per TiB. */
export const BYTES_PER_TIB = 2 ** 40;

/**
 * BigQuery on-demand compute list price in USD per TiB scanned: $6.25, valid from 2023-07-05 (the last change,
 * from $5.00) and still the list price for the US and EU multi-regions when this was written (2026-11).
 * Some regions cost more and the first TiB of each month is free: pass `pricePerTiB` for your contract.
 */
export const BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD = 6.25;

/** Options of {@link estimateQuery} and {@link runGuarded}. */
export interface BigQueryCostOptions {
  /** Refuse queries estimated to scan more bytes than this. @default undefined (no byte limit) */
  maxBytes?: number;
  /** Refuse queries estimated to cost more than this (USD). @default undefined (no cost limit) */
  maxCostUsd?: number;
  /** Price per TiB scanned, USD. @default 6.25 ({@link BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD}) */
  pricePerTiB?: number;
  /** Job labels for cost attribution (visible in INFORMATION_SCHEMA.JOBS and billing). @default {} */
  labels?: Record<string, string>;
  /** Accept a LOWER_BOUND/UPPER_BOUND estimate (e.g. federated or scripted queries). @default false */
  allowInexactEstimate?: boolean;
  /** runGuarded: maximumBytesBilled = estimate x (1 + headroom), at least `minimumBytesBilled`. @default 0.1 */
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

/** Fills and validates {@link BigQueryCostOptions}. */
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
  /** Estimated cost, USD, at `pricePerTiB`. */
  costUsd: number;
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
  const estimate: BigQueryEstimate = {
    bytes,
    costUsd: (bytes / BYTES_PER_TIB) * o.pricePerTiB,
    accuracy,
    // LOWER_BOUND can be exceeded; UPPER_BOUND and UNKNOWN carry no guarantee either: only PRECISE is safe.
    exact: accuracy === 'PRECISE',
    statementType: stats?.query?.statementType ?? undefined,
    pricePerTiB: o.pricePerTiB,
  };
  publishEstimate({ bytes, costUsd: estimate.costUsd, accuracy, labels: o.labels });
  return estimate;
}

function checkBudget(e: BigQueryEstimate, o: Resolved): void {
  const ctx = { bytes: e.bytes, costUsd: e.costUsd, maxBytes: o.maxBytes, maxCostUsd: o.maxCostUsd };
  if (!e.exact && !o.allowInexactEstimate)
    refuse(
      'inexact-estimate',
      `The dry run reported a ${e.accuracy} estimate (${e.bytes} bytes); it cannot bound the cost. Pass allowInexactEstimate to accept it.`,
      { ...ctx, accuracy: e.accuracy },
    );
  if (o.maxBytes !== undefined && e.bytes > o.maxBytes)
    refuse('max-bytes', `The query would process ${e.bytes} bytes, over maxBytes ${o.maxBytes}.`, ctx);
  if (o.maxCostUsd !== undefined && e.costUsd > o.maxCostUsd)
    refuse(
      'max-cost',
      `The query would cost $${e.costUsd.toFixed(4)}, over maxCostUsd $${o.maxCostUsd} (at $${e.pricePerTiB}/TiB).`,
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
}

/**
 * Estimates, checks the budget, then runs `sql` with maximumBytesBilled = estimate plus headroom (so a data
 * change between the dry run and the run cannot overspend) and the labels for cost attribution.
 *
 * @example
 * ```ts
 * const { rows } = await runGuarded<{ n: number }>(bq, 'SELECT COUNT(*) AS n FROM analytics.events', {
 *   maxCostUsd: 0.5, labels: { team: 'growth', feature: 'dashboard' },
 * });
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
  let limit = Math.max(Math.ceil(estimate.bytes * (1 + o.headroom)), o.minimumBytesBilled);
  // Never above the caller's budget, even if that leaves no headroom.
  if (o.maxBytes !== undefined) limit = Math.min(limit, o.maxBytes);
  try {
    const [rows] = await bigquery.query({
      query: sql,
      useLegacySql: false,
      maximumBytesBilled: String(limit),
      ...(Object.keys(o.labels).length > 0 ? { labels: o.labels } : {}),
      ...(o.params !== undefined ? { params: o.params } : {}),
      ...(o.location !== undefined ? { location: o.location } : {}),
    });
    return { rows: rows as Row[], estimate, maximumBytesBilled: limit };
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
}
