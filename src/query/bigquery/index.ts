/** BigQuery table optimizer and cost guard (part of dbkit/query). */
export {
  BILLING_ROUNDING_BYTES,
  estimateBytesBilled,
  MIN_BYTES_BILLED_PER_TABLE,
} from './billing.js';
export {
  BIGQUERY_BUDGET_REFUSED_CHANNEL,
  BIGQUERY_ENSURE_TABLE_CHANNEL,
  BIGQUERY_ESTIMATE_CHANNEL,
  BIGQUERY_QUERY_BILLED_CHANNEL,
} from './channels.js';
export {
  BIGQUERY_ON_DEMAND_PRICE_PER_TIB_USD,
  type BigQueryCostOptions,
  type BigQueryEstimate,
  BYTES_PER_TIB,
  estimateQuery,
  type GuardedQueryResult,
  resolveBigQueryCostOptions,
  runGuarded,
} from './cost-guard.js';
export {
  type BigQueryTablePlan,
  type EnsureTableOptions,
  type EnsureTableResult,
  ensureTable,
  planTableChanges,
  resolveEnsureTableOptions,
} from './ensure-table.js';
export {
  BigQueryBudgetError,
  BigQueryErrorCodes,
  BigQueryRequestError,
  BigQueryValidationError,
} from './errors.js';
export type { BigQueryRebuildPlan } from './rebuild-plan.js';
export {
  BIGQUERY_STORAGE_PRICES_USD,
  type BigQueryJobCost,
  type BigQueryTableCost,
  type JobCostsOptions,
  jobCosts,
  jobCostsSql,
  resolveJobCostsOptions,
  tableCosts,
} from './table-costs.js';
export {
  type BigQueryFieldMode,
  type BigQueryFieldSpec,
  type BigQueryFieldType,
  type BigQueryPartitioningSpec,
  type BigQueryRangeElementType,
  type BigQueryRangePartitioningSpec,
  type BigQueryTableDefinition,
  type BigQueryTableSpec,
  type BigQueryTimePartitionType,
  defineTable,
  toTableResource,
} from './table-spec.js';
export {
  type BigQueryViewSpec,
  type ClientPerformanceColumns,
  type CostSummaryColumns,
  clientPerformanceView,
  createView,
  dailyCostSummaryView,
} from './views.js';
