import diagnosticsChannel from 'node:diagnostics_channel';

/** Published after ensureTable decides: `{ table, action, fields }`. */
export const BIGQUERY_ENSURE_TABLE_CHANNEL = 'dbkit:bigquery:ensure-table';
/** Published after every dry-run estimate: `{ bytes, costUsd, accuracy, labels }`. */
export const BIGQUERY_ESTIMATE_CHANNEL = 'dbkit:bigquery:estimate';
/** Published when a query is refused or stopped by its budget: `{ reason, bytes, maxBytes }`. */
export const BIGQUERY_BUDGET_REFUSED_CHANNEL = 'dbkit:bigquery:budget-refused';

const ensureTableChannel = diagnosticsChannel.channel(BIGQUERY_ENSURE_TABLE_CHANNEL);
const estimateChannel = diagnosticsChannel.channel(BIGQUERY_ESTIMATE_CHANNEL);
const budgetChannel = diagnosticsChannel.channel(BIGQUERY_BUDGET_REFUSED_CHANNEL);

export function publishEnsureTable(message: Record<string, unknown>): void {
  if (ensureTableChannel.hasSubscribers) ensureTableChannel.publish(message);
}
export function publishEstimate(message: Record<string, unknown>): void {
  if (estimateChannel.hasSubscribers) estimateChannel.publish(message);
}
export function publishBudgetRefused(message: Record<string, unknown>): void {
  if (budgetChannel.hasSubscribers) budgetChannel.publish(message);
}
