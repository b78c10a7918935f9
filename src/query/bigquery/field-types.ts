/**
 * BigQuery column types. TableFieldSchema.type (https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#TableFieldSchema):
 * "STRING, BYTES, INTEGER (or INT64), FLOAT (or FLOAT64), BOOLEAN (or BOOL), TIMESTAMP, DATE, TIME, DATETIME,
 * GEOGRAPHY, NUMERIC, BIGNUMERIC, JSON, RECORD (or STRUCT), RANGE"; INTERVAL is accepted as a GoogleSQL type too.
 */
export type BigQueryFieldType =
  | 'STRING'
  | 'BYTES'
  | 'INTEGER'
  | 'INT64'
  | 'FLOAT'
  | 'FLOAT64'
  | 'NUMERIC'
  | 'BIGNUMERIC'
  | 'BOOLEAN'
  | 'BOOL'
  | 'TIMESTAMP'
  | 'DATE'
  | 'TIME'
  | 'DATETIME'
  | 'GEOGRAPHY'
  | 'JSON'
  | 'INTERVAL'
  | 'RECORD'
  | 'STRUCT'
  | 'RANGE';

/** Element type of a RANGE column. */
export type BigQueryRangeElementType = 'DATE' | 'DATETIME' | 'TIMESTAMP';

const CANONICAL: Record<BigQueryFieldType, string> = {
  STRING: 'STRING',
  BYTES: 'BYTES',
  INTEGER: 'INTEGER',
  INT64: 'INTEGER',
  FLOAT: 'FLOAT',
  FLOAT64: 'FLOAT',
  NUMERIC: 'NUMERIC',
  BIGNUMERIC: 'BIGNUMERIC',
  BOOLEAN: 'BOOLEAN',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'DATETIME',
  GEOGRAPHY: 'GEOGRAPHY',
  JSON: 'JSON',
  INTERVAL: 'INTERVAL',
  RECORD: 'RECORD',
  STRUCT: 'RECORD',
  RANGE: 'RANGE',
};

/** Whether `type` is one of {@link BigQueryFieldType}. */
export function isFieldType(type: unknown): type is BigQueryFieldType {
  return typeof type === 'string' && Object.hasOwn(CANONICAL, type);
}

/** The type name the REST API reports for `type` (INT64 -> INTEGER, STRUCT -> RECORD, ...). */
export function canonicalType(type: string): string {
  return isFieldType(type) ? CANONICAL[type] : type;
}
