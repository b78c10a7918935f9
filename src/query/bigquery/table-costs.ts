import type { BigQuery, Table, TableMetadata } from '@google-cloud/bigquery';
import { ConfigError } from '../../errors.js';
import { costOf } from './billing.js';
import { BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD } from './cost-guard.js';
import { BigQueryRequestError, BigQueryValidationError } from './errors.js';
import { type BigQueryIssue, checkDatasetName, checkLabels, checkRegion } from './names.js';

const GIB = 2 ** 30;

/**
 * Logical storage list prices, USD per GiB per month (US multi-region, valid from 2023-07-05):
 * active $0.02, long-term (unmodified for 90 days) $0.01. Pass your own through `prices`.
 */
export const BIGQUERY_STORAGE_PRICES_USD = { activePerGiBMonth: 0.02, longTermPerGiBMonth: 0.01 } as const;

/** Size and storage cost of one table. */
export interface BigQueryTableCost {
  table: string;
  /** TABLE, VIEW, MATERIALIZED_VIEW, EXTERNAL, SNAPSHOT, CLONE. */
  type: string;
  /** Logical bytes (numBytes). */
  sizeBytes: number;
  rows: number;
  /** sizeBytes / rows (0 for an empty table). */
  bytesPerRow: number;
  /** Logical bytes not modified for 90 days (numLongTermBytes). */
  longTermBytes: number;
  /** Logical bytes modified in the last 90 days (numActiveLogicalBytes, or numBytes - numLongTermBytes). */
  activeBytes: number;
  /** Estimated monthly storage cost, USD, at the given logical storage prices. */
  monthlyStorageUsd: number;
  lastModified: Date | undefined;
}

/**
 * Per-table size, rows, bytes per row, long-term vs active bytes and last modification of a dataset, biggest
 * first (tables.list, then tables.get per table, 4 at a time).
 *
 * @example
 * ```ts
 * for (const t of await tableCosts(bq, 'analytics')) console.log(t.table, t.sizeBytes, t.longTermBytes);
 * ```
 */
export async function tableCosts(
  bigquery: BigQuery,
  dataset: string,
  options: { prices?: { activePerGiBMonth: number; longTermPerGiBMonth: number }; concurrency?: number } = {},
): Promise<BigQueryTableCost[]> {
  const issues: BigQueryIssue[] = [];
  checkDatasetName(dataset, 'dataset', issues);
  if (issues.length > 0) throw new BigQueryValidationError('dataset name', issues);
  const prices = options.prices ?? BIGQUERY_STORAGE_PRICES_USD;
  const ds = bigquery.dataset(dataset);
  let tables: Table[];
  try {
    [tables] = (await ds.getTables()) as unknown as [Table[]];
  } catch (e) {
    throw new BigQueryRequestError('tables.list', dataset, e);
  }
  const out: BigQueryTableCost[] = [];
  const queue = [...tables];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      let meta: TableMetadata;
      try {
        [meta] = (await t.getMetadata()) as unknown as [TableMetadata];
      } catch (e) {
        throw new BigQueryRequestError('tables.get', `${dataset}.${t.id}`, e);
      }
      const num = (v: unknown) => (v === undefined || v === null ? 0 : Number(v));
      const size = num(meta.numBytes);
      const rows = num(meta.numRows);
      const longTerm = num(meta.numLongTermBytes);
      const active =
        meta.numActiveLogicalBytes == null ? Math.max(size - longTerm, 0) : num(meta.numActiveLogicalBytes);
      out.push({
        table: `${dataset}.${t.id}`,
        type: meta.type ?? 'TABLE',
        sizeBytes: size,
        rows,
        bytesPerRow: rows > 0 ? size / rows : 0,
        longTermBytes: longTerm,
        activeBytes: active,
        monthlyStorageUsd:
          (active / GIB) * prices.activePerGiBMonth + (longTerm / GIB) * prices.longTermPerGiBMonth,
        lastModified: meta.lastModifiedTime ? new Date(Number(meta.lastModifiedTime)) : undefined,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return out.sort((a, b) => b.sizeBytes - a.sizeBytes || a.table.localeCompare(b.table));
}

/** Options of {@link jobCosts}. */
export interface JobCostsOptions {
  /** Region or multi-region of the jobs (`us`, `eu`, `europe-west1`): reads `region-<r>`.INFORMATION_SCHEMA. */
  region: string;
  /** Look-back window in days (JOBS_BY_PROJECT keeps 180). @default 7 */
  days?: number;
  /** Group by the value of one job label, by user, or by day. @default 'label' */
  groupBy?: 'label' | 'user' | 'day';
  /** Label key whose values are the groups, when grouping by label. @default 'team' */
  labelKey?: string;
  /** USD per TiB billed, for `costUsd`. @default 6.25 */
  pricePerTiB?: number;
}

/** One group of {@link jobCosts}. */
export interface BigQueryJobCost {
  /** Label value, user email or day (YYYY-MM-DD); null for jobs without the label. */
  group: string | null;
  jobs: number;
  /** Jobs answered from the query cache (billed nothing). */
  cacheHits: number;
  /** total_bytes_billed summed: what on-demand billing charged (rounded up per table, 10 MiB minimums applied). */
  bytesBilled: number;
  bytesProcessed: number;
  slotMs: number;
  costUsd: number;
}

const jobDefaults = { days: 7, groupBy: 'label', labelKey: 'team' } as const;

/**
 * Fills and validates {@link JobCostsOptions}; throws `BigQueryValidationError` for a bad region, label key or range.
 *
 * @example
 * ```ts
 * resolveJobCostsOptions({ region: 'region-eu' }) // { region: 'eu', days: 7, groupBy: 'label', labelKey: 'team', ... }
 * ```
 */
export function resolveJobCostsOptions(opts: JobCostsOptions) {
  const r = {
    region: opts.region.replace(/^region-/, ''),
    days: opts.days ?? jobDefaults.days,
    groupBy: opts.groupBy ?? jobDefaults.groupBy,
    labelKey: opts.labelKey ?? jobDefaults.labelKey,
    pricePerTiB: opts.pricePerTiB ?? BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD,
  };
  const issues: BigQueryIssue[] = [];
  checkRegion(r.region, 'region', issues);
  checkLabels({ [r.labelKey]: '' }, 'labelKey', issues);
  if (!Number.isInteger(r.days) || r.days < 1 || r.days > 180)
    issues.push({ path: 'days', message: 'must be an integer from 1 to 180' });
  if (!['label', 'user', 'day'].includes(r.groupBy))
    issues.push({ path: 'groupBy', message: "must be 'label', 'user' or 'day'" });
  if (issues.length > 0) throw new BigQueryValidationError('jobCosts options', issues);
  if (!(r.pricePerTiB >= 0)) throw new ConfigError('pricePerTiB must be a non-negative number');
  return r;
}

/**
 * The INFORMATION_SCHEMA query {@link jobCosts} runs (exported so it can be reviewed or run elsewhere).
 *
 * @example
 * ```ts
 * console.log(jobCostsSql({ region: 'us', groupBy: 'user', days: 30 })) // run it with the query parameters days and label_key
 * ```
 */
export function jobCostsSql(opts: JobCostsOptions): string {
  const r = resolveJobCostsOptions(opts);
  const group = {
    label: '(SELECT l.value FROM UNNEST(labels) AS l WHERE l.key = @label_key)',
    user: 'user_email',
    day: 'CAST(DATE(creation_time) AS STRING)',
  }[r.groupBy];
  // Parent SCRIPT jobs repeat their children's bytes: leave them out so nothing is counted twice.
  return [
    `SELECT ${group} AS grp, COUNT(*) AS jobs, COUNTIF(IFNULL(cache_hit, FALSE)) AS cache_hits,`,
    '  SUM(IFNULL(total_bytes_billed, 0)) AS bytes_billed,',
    '  SUM(IFNULL(total_bytes_processed, 0)) AS bytes_processed, SUM(IFNULL(total_slot_ms, 0)) AS slot_ms',
    `FROM \`region-${r.region}\`.INFORMATION_SCHEMA.JOBS_BY_PROJECT`,
    'WHERE creation_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL @days DAY)',
    "  AND job_type = 'QUERY' AND IFNULL(statement_type, '') != 'SCRIPT'",
    'GROUP BY grp',
    'ORDER BY bytes_billed DESC',
  ].join('\n');
}

/**
 * Bytes billed, slot time and cost of the project's query jobs over the last `days`, grouped by a job label
 * (cost attribution), user or day, from `region-<r>`.INFORMATION_SCHEMA.JOBS_BY_PROJECT.
 *
 * @example
 * ```ts
 * const byTeam = await jobCosts(bq, { region: 'us', days: 30, groupBy: 'label', labelKey: 'team' });
 * ```
 */
export async function jobCosts(bigquery: BigQuery, options: JobCostsOptions): Promise<BigQueryJobCost[]> {
  const r = resolveJobCostsOptions(options);
  const params: Record<string, unknown> = { days: r.days };
  if (r.groupBy === 'label') params.label_key = r.labelKey;
  let rows: Array<Record<string, unknown>>;
  try {
    [rows] = await bigquery.query({
      query: jobCostsSql(options),
      useLegacySql: false,
      params,
      labels: { dbkit_operation: 'job-costs' },
      location: r.region,
    });
  } catch (e) {
    throw new BigQueryRequestError('jobs.query', `region-${r.region}.INFORMATION_SCHEMA.JOBS_BY_PROJECT`, e);
  }
  return rows.map((row) => {
    const billed = Number(row.bytes_billed ?? 0);
    return {
      group: row.grp === null || row.grp === undefined ? null : String(row.grp),
      jobs: Number(row.jobs ?? 0),
      cacheHits: Number(row.cache_hits ?? 0),
      bytesBilled: billed,
      bytesProcessed: Number(row.bytes_processed ?? 0),
      slotMs: Number(row.slot_ms ?? 0),
      costUsd: costOf(billed, r.pricePerTiB),
    };
  });
}
