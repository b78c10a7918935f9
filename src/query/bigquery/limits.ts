/**
 * The BigQuery v2 API limits defineTable enforces, each from the API reference (the field descriptions of the
 * discovery document, https://cloud.google.com/bigquery/docs/reference/rest/v2/tables) or the cited page.
 */

/** TableFieldSchema.name: "The maximum length is 300 characters." */
export const COLUMN_NAME_MAX_CHARS = 300;
/** TableFieldSchema.description: "The maximum length is 1,024 characters." */
export const COLUMN_DESCRIPTION_MAX_CHARS = 1024;
/** Table description: 16,384 characters (https://cloud.google.com/bigquery/quotas#table_limits). */
export const TABLE_DESCRIPTION_MAX_CHARS = 16_384;
/** Columns per table, nested columns included (https://cloud.google.com/bigquery/quotas#table_limits). */
export const MAX_COLUMNS = 10_000;
/** RECORD columns nest at most 15 levels (https://cloud.google.com/bigquery/docs/nested-repeated#limitations). */
export const MAX_NESTING_DEPTH = 15;
/** "You can specify up to four clustering columns" (https://cloud.google.com/bigquery/docs/clustered-tables#limitations). */
export const MAX_CLUSTERING_FIELDS = 4;
/** Partitions per table; bounds an integer-range spec (https://cloud.google.com/bigquery/quotas#partitioned_tables). */
export const MAX_PARTITIONS = 10_000;
/** Labels per resource (https://cloud.google.com/bigquery/docs/labels-intro#requirements). */
export const MAX_LABELS = 64;

/** TableFieldSchema.mode: "Possible values include NULLABLE, REQUIRED and REPEATED." */
export const FIELD_MODES = ['NULLABLE', 'REQUIRED', 'REPEATED'] as const;
/** TimePartitioning.type: "The supported types are DAY, HOUR, MONTH, and YEAR." */
export const TIME_PARTITION_TYPES = ['DAY', 'HOUR', 'MONTH', 'YEAR'] as const;
/**
 * Column types a time-unit partition column may have: DATE, TIMESTAMP, DATETIME; HOUR granularity needs TIMESTAMP
 * or DATETIME (https://cloud.google.com/bigquery/docs/partitioned-tables#date_timestamp_partitioned_tables).
 */
export const TIME_PARTITION_COLUMN_TYPES = ['DATE', 'TIMESTAMP', 'DATETIME'] as const;
/** RANGE<T>: T is DATE, DATETIME or TIMESTAMP (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#range_type). */
export const RANGE_ELEMENT_TYPES = ['DATE', 'DATETIME', 'TIMESTAMP'] as const;
/**
 * Clustering columns: top-level, non-repeated, of these types (REST names)
 * (https://cloud.google.com/bigquery/docs/clustered-tables#limitations).
 */
export const CLUSTERABLE_TYPES = [
  'STRING',
  'INTEGER',
  'NUMERIC',
  'BIGNUMERIC',
  'BOOLEAN',
  'DATE',
  'DATETIME',
  'TIMESTAMP',
  'GEOGRAPHY',
  'RANGE',
] as const;

/** Counts characters as the API does (code points, not UTF-16 units). */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
