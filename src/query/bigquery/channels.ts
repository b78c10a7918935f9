import diagnosticsChannel from 'node:diagnostics_channel';

/** Published after ensureTable decides: `{ table, action, fields }`. */
export const BIGQUERY_ENSURE_TABLE_CHANNEL = 'dbkit:bigquery:ensure-table';
/** Published after every dry-run estimate: `{ bytes, costUsd, totalBytesBilled, billedCostUsd, cacheHit, accuracy, labels }`. */
export const BIGQUERY_ESTIMATE_CHANNEL = 'dbkit:bigquery:estimate';
/** Published after every guarded run: `{ jobId, totalBytesProcessed, totalBytesBilled, cacheHit, billedCostUsd, labels }`. */
export const BIGQUERY_QUERY_BILLED_CHANNEL = 'dbkit:bigquery:query-billed';
/** Published when a query is refused or stopped by its budget: `{ reason, bytes, maxBytes }`. */
export const BIGQUERY_BUDGET_REFUSED_CHANNEL = 'dbkit:bigquery:budget-refused';

const ensureTableChannel = diagnosticsChannel.channel(BIGQUERY_ENSURE_TABLE_CHANNEL);
const estimateChannel = diagnosticsChannel.channel(BIGQUERY_ESTIMATE_CHANNEL);
const budgetChannel = diagnosticsChannel.channel(BIGQUERY_BUDGET_REFUSED_CHANNEL);
const billedChannel = diagnosticsChannel.channel(BIGQUERY_QUERY_BILLED_CHANNEL);

export function publishEnsureTable(message: Record<string, unknown>): void {
  if (ensureTableChannel.hasSubscribers) ensureTableChannel.publish(message);
}
export function publishEstimate(message: Record<string, unknown>): void {
  if (estimateChannel.hasSubscribers) estimateChannel.publish(message);
}
export function publishBudgetRefused(message: Record<string, unknown>): void {
  if (budgetChannel.hasSubscribers) budgetChannel.publish(message);
}
export function publishQueryBilled(message: Record<string, unknown>): void {
  if (billedChannel.hasSubscribers) billedChannel.publish(message);
}
