import type { BigQuery, TableMetadata } from '@google-cloud/bigquery';
import { BigQueryRequestError, BigQueryValidationError, httpStatusOf } from './errors.js';
import {
  type BigQueryIssue,
  checkColumnName,
  checkDatasetName,
  checkLabels,
  checkTableName,
  quoteIdent,
  quoteTablePath,
} from './names.js';

/** A view as code. */
export interface BigQueryViewSpec {
  /** Dataset id. */
  dataset: string;
  /** View name. */
  name: string;
  /** GoogleSQL query (standard SQL, not legacy). */
  sql: string;
  /** View description. @default undefined */
  description?: string;
  /** Labels. @default undefined */
  labels?: Record<string, string>;
}

/**
 * Creates the view, or updates its query/description/labels when they differ; idempotent.
 *
 * @example
 * ```ts
 * await createView(bq, dailyCostSummaryView({ dataset: 'finops', source: 'finops.cost_line_items' }));
 * ```
 */
export async function createView(
  bigquery: BigQuery,
  spec: BigQueryViewSpec,
): Promise<{ action: 'created' | 'updated' | 'unchanged'; view: string }> {
  const issues: BigQueryIssue[] = [];
  checkDatasetName(spec.dataset, 'dataset', issues);
  checkTableName(spec.name, 'name', issues);
  if (!spec.sql.trim()) issues.push({ path: 'sql', message: 'must not be empty' });
  checkLabels(spec.labels, 'labels', issues);
  if (issues.length > 0) throw new BigQueryValidationError(`view ${spec.dataset}.${spec.name}`, issues);
  const view = `${spec.dataset}.${spec.name}`;
  const body: TableMetadata = { view: { query: spec.sql, useLegacySql: false } };
  if (spec.description !== undefined) body.description = spec.description;
  if (spec.labels) body.labels = { ...spec.labels };
  const dataset = bigquery.dataset(spec.dataset);
  try {
    await dataset.createTable(spec.name, body);
    return { action: 'created', view };
  } catch (e) {
    if (httpStatusOf(e) !== 409) throw new BigQueryRequestError('tables.insert', view, e);
  }
  const table = dataset.table(spec.name);
  let live: TableMetadata;
  try {
    [live] = (await table.getMetadata()) as unknown as [TableMetadata];
  } catch (e) {
    throw new BigQueryRequestError('tables.get', view, e);
  }
  const same =
    live.view?.query === spec.sql &&
    (spec.description === undefined || live.description === spec.description) &&
    Object.entries(spec.labels ?? {}).every(([k, v]) => live.labels?.[k] === v);
  if (same) return { action: 'unchanged', view };
  try {
    await table.setMetadata(body);
  } catch (e) {
    throw new BigQueryRequestError('tables.patch', view, e);
  }
  return { action: 'updated', view };
}

function checkSource(source: string, issues: BigQueryIssue[]): string[] {
  const parts = source.split('.');
  if (parts.length < 2 || parts.length > 3) {
    issues.push({ path: 'source', message: `"${source}" must be dataset.table or project.dataset.table` });
    return parts;
  }
  const table = parts[parts.length - 1] ?? '';
  const dataset = parts[parts.length - 2] ?? '';
  checkDatasetName(dataset, 'source', issues);
  checkTableName(table, 'source', issues);
  return parts;
}

function checkColumns<T extends Record<string, string>>(cols: T, issues: BigQueryIssue[]): T {
  for (const [k, v] of Object.entries(cols)) checkColumnName(v, `columns.${k}`, issues);
  return cols;
}

/** Source columns of {@link dailyCostSummaryView}; map each to your table's column name. */
export interface CostSummaryColumns {
  /** TIMESTAMP (or DATE/DATETIME) of the usage. @default 'usage_time' */
  time: string;
  /** STRING service name (e.g. 'BigQuery', 'checkout-api'). @default 'service' */
  service: string;
  /** STRING provider (e.g. 'gcp', 'aws', 'openai'). @default 'provider' */
  provider: string;
  /** NUMERIC/FLOAT64 cost of the line item. @default 'cost' */
  cost: string;
  /** STRING ISO currency code. @default 'currency' */
  currency: string;
}

/**
 * A view summing cost per day, service, provider and currency. Source table columns (rename through
 * `columns`): usage_time TIMESTAMP, service STRING, provider STRING, cost NUMERIC, currency STRING.
 * The output columns are day, service, provider, currency, total_cost, line_items.
 *
 * @example
 * ```ts
 * await createView(bq, dailyCostSummaryView({ dataset: 'finops', source: 'finops.cost_line_items' }));
 * ```
 */
export function dailyCostSummaryView(opts: {
  dataset: string;
  source: string;
  name?: string;
  columns?: Partial<CostSummaryColumns>;
}): BigQueryViewSpec {
  const issues: BigQueryIssue[] = [];
  const src = checkSource(opts.source, issues);
  const c = checkColumns(
    {
      time: 'usage_time',
      service: 'service',
      provider: 'provider',
      cost: 'cost',
      currency: 'currency',
      ...opts.columns,
    },
    issues,
  );
  if (issues.length > 0) throw new BigQueryValidationError('daily cost summary view', issues);
  const q = quoteIdent;
  const sql = [
    `SELECT DATE(${q(c.time)}) AS day, ${q(c.service)} AS service, ${q(c.provider)} AS provider,`,
    `  ${q(c.currency)} AS currency, SUM(${q(c.cost)}) AS total_cost, COUNT(*) AS line_items`,
    `FROM ${quoteTablePath(...src)}`,
    'GROUP BY day, service, provider, currency',
  ].join('\n');
  return {
    dataset: opts.dataset,
    name: opts.name ?? 'daily_cost_summary',
    sql,
    description: 'Cost per day, service, provider and currency (dbkit dailyCostSummaryView)',
  };
}

/** Source columns of {@link clientPerformanceView}; map each to your table's column name. */
export interface ClientPerformanceColumns {
  /** TIMESTAMP of the request. @default 'request_time' */
  time: string;
  /** STRING client (API key owner, tenant, app). @default 'client_id' */
  client: string;
  /** STRING endpoint or operation. @default 'endpoint' */
  endpoint: string;
  /** FLOAT64/INT64 latency in milliseconds. @default 'latency_ms' */
  latencyMs: string;
  /** INT64 HTTP status code. @default 'status_code' */
  status: string;
}

/**
 * A per-day, per-client, per-endpoint dashboard view: requests, error rate (status >= 500), average and
 * p50/p95/p99 latency (APPROX_QUANTILES). Source table columns (rename through `columns`): request_time
 * TIMESTAMP, client_id STRING, endpoint STRING, latency_ms FLOAT64, status_code INT64.
 *
 * @example
 * ```ts
 * await createView(bq, clientPerformanceView({ dataset: 'ops', source: 'ops.requests' }));
 * ```
 */
export function clientPerformanceView(opts: {
  dataset: string;
  source: string;
  name?: string;
  columns?: Partial<ClientPerformanceColumns>;
}): BigQueryViewSpec {
  const issues: BigQueryIssue[] = [];
  const src = checkSource(opts.source, issues);
  const c = checkColumns(
    {
      time: 'request_time',
      client: 'client_id',
      endpoint: 'endpoint',
      latencyMs: 'latency_ms',
      status: 'status_code',
      ...opts.columns,
    },
    issues,
  );
  if (issues.length > 0) throw new BigQueryValidationError('client performance view', issues);
  const q = quoteIdent;
  const sql = [
    `SELECT DATE(${q(c.time)}) AS day, ${q(c.client)} AS client_id, ${q(c.endpoint)} AS endpoint,`,
    '  COUNT(*) AS requests,',
    `  COUNTIF(${q(c.status)} >= 500) AS errors,`,
    `  SAFE_DIVIDE(COUNTIF(${q(c.status)} >= 500), COUNT(*)) AS error_rate,`,
    `  AVG(${q(c.latencyMs)}) AS avg_latency_ms,`,
    `  APPROX_QUANTILES(${q(c.latencyMs)}, 100)[OFFSET(50)] AS p50_latency_ms,`,
    `  APPROX_QUANTILES(${q(c.latencyMs)}, 100)[OFFSET(95)] AS p95_latency_ms,`,
    `  APPROX_QUANTILES(${q(c.latencyMs)}, 100)[OFFSET(99)] AS p99_latency_ms`,
    `FROM ${quoteTablePath(...src)}`,
    'GROUP BY day, client_id, endpoint',
  ].join('\n');
  return {
    dataset: opts.dataset,
    name: opts.name ?? 'client_performance',
    sql,
    description: 'Requests, error rate and latency percentiles per day, client and endpoint (dbkit)',
  };
}
