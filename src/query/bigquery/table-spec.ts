import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { BigQueryValidationError } from './errors.js';
import {
  type BigQueryIssue,
  checkColumnName,
  checkDatasetName,
  checkLabels,
  checkTableName,
} from './names.js';

/** BigQuery column types (GoogleSQL names and their legacy aliases). */
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
  | 'STRUCT';

/** Column mode. */
export type BigQueryFieldMode = 'NULLABLE' | 'REQUIRED' | 'REPEATED';

/** One column of a table spec. */
export interface BigQueryFieldSpec<Name extends string = string> {
  /** Column name (letters, digits, underscores; starts with a letter or underscore). */
  name: Name;
  /** Column type. */
  type: BigQueryFieldType;
  /** Column mode. @default 'NULLABLE' */
  mode?: BigQueryFieldMode;
  /** Column description. @default undefined */
  description?: string;
  /** Sub-fields of a RECORD/STRUCT column. @default undefined */
  fields?: ReadonlyArray<BigQueryFieldSpec>;
}

/** Time-unit partitioning on a column. */
export interface BigQueryPartitioningSpec<Name extends string = string> {
  /** Partition granularity. HOUR needs a TIMESTAMP or DATETIME column. */
  type: 'DAY' | 'HOUR' | 'MONTH';
  /** The top-level DATE, TIMESTAMP or DATETIME column to partition on. */
  field: Name;
  /** Days after which a partition is deleted; `null` keeps partitions forever. @default 90 */
  expirationDays?: number | null;
}

/** A table as code: what {@link defineTable} validates and {@link ensureTable} converges. */
export interface BigQueryTableSpec<Name extends string = string> {
  /** Dataset id. */
  dataset: string;
  /** Table id. */
  table: string;
  /** Columns, in order. */
  schema: ReadonlyArray<BigQueryFieldSpec<Name>>;
  /** Time partitioning. @default undefined (unpartitioned) */
  partitioning?: BigQueryPartitioningSpec<NoInfer<Name>>;
  /** Up to 4 top-level clustering columns, most filtered first. @default [] */
  clustering?: ReadonlyArray<NoInfer<Name>>;
  /** Reject queries without a filter on the partition column. @default false */
  requirePartitionFilter?: boolean;
  /** Labels for cost attribution (keys and values: lowercase, digits, _ and -). @default {} */
  labels?: Record<string, string>;
  /** Table description. @default undefined */
  description?: string;
}

/** A validated table spec with its defaults applied. */
export interface BigQueryTableDefinition {
  readonly dataset: string;
  readonly table: string;
  readonly schema: ReadonlyArray<BigQueryFieldSpec>;
  readonly partitioning:
    | { type: 'DAY' | 'HOUR' | 'MONTH'; field: string; expirationDays: number | null }
    | undefined;
  readonly clustering: ReadonlyArray<string>;
  readonly requirePartitionFilter: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string | undefined;
}

const DAY_MS = 86_400_000;
const tableDefaults = { partitionExpirationDays: 90, requirePartitionFilter: false } as const;

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
};
// Clustering accepts these column types (https://cloud.google.com/bigquery/docs/clustered-tables#limitations).
const CLUSTERABLE = new Set([
  'STRING',
  'INTEGER',
  'NUMERIC',
  'BIGNUMERIC',
  'BOOLEAN',
  'DATE',
  'DATETIME',
  'TIMESTAMP',
  'GEOGRAPHY',
]);

/** The type name the REST API reports for `type` (INT64 -> INTEGER, STRUCT -> RECORD, ...). */
export function canonicalType(type: string): string {
  return CANONICAL[type as BigQueryFieldType] ?? type;
}

function checkFields(
  fields: ReadonlyArray<BigQueryFieldSpec>,
  path: string,
  issues: BigQueryIssue[],
  depth: number,
): void {
  if (fields.length === 0) issues.push({ path, message: 'needs at least one column' });
  if (depth > 15) issues.push({ path, message: 'RECORD columns nest at most 15 levels' });
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    const p = `${path}[${i}]`;
    checkColumnName(f.name, `${p}.name`, issues);
    const lower = f.name.toLowerCase();
    if (seen.has(lower)) issues.push({ path: `${p}.name`, message: `duplicate column "${f.name}"` });
    seen.add(lower);
    if (!(f.type in CANONICAL)) issues.push({ path: `${p}.type`, message: `unknown type "${f.type}"` });
    if (f.mode && !['NULLABLE', 'REQUIRED', 'REPEATED'].includes(f.mode))
      issues.push({ path: `${p}.mode`, message: `unknown mode "${f.mode}"` });
    const isRecord = canonicalType(f.type) === 'RECORD';
    if (isRecord) checkFields(f.fields ?? [], `${p}.fields`, issues, depth + 1);
    else if (f.fields)
      issues.push({ path: `${p}.fields`, message: 'only RECORD/STRUCT columns have fields' });
  });
}

/**
 * Validates a table spec and applies its defaults (90-day partition expiration); throws before any request.
 *
 * @example
 * ```ts
 * const events = defineTable({
 *   dataset: 'analytics', table: 'events',
 *   schema: [{ name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' }, { name: 'client_id', type: 'STRING' }],
 *   partitioning: { type: 'DAY', field: 'ts' }, clustering: ['client_id'], labels: { team: 'data' },
 * });
 * ```
 */
export function defineTable<const Name extends string>(
  spec: BigQueryTableSpec<Name>,
): BigQueryTableDefinition {
  const issues: BigQueryIssue[] = [];
  checkDatasetName(spec.dataset, 'dataset', issues);
  checkTableName(spec.table, 'table', issues);
  checkFields(spec.schema, 'schema', issues, 1);
  const byName = new Map(spec.schema.map((f) => [f.name as string, f]));
  const p = spec.partitioning;
  if (p) {
    if (!['DAY', 'HOUR', 'MONTH'].includes(p.type))
      issues.push({ path: 'partitioning.type', message: `must be DAY, HOUR or MONTH, got "${p.type}"` });
    const col = byName.get(p.field);
    const type = col ? canonicalType(col.type) : undefined;
    if (!col)
      issues.push({ path: 'partitioning.field', message: `"${p.field}" is not a column of the schema` });
    else if (type !== 'DATE' && type !== 'TIMESTAMP' && type !== 'DATETIME')
      issues.push({
        path: 'partitioning.field',
        message: `"${p.field}" is ${col.type}; needs DATE, TIMESTAMP or DATETIME`,
      });
    else if (col.mode === 'REPEATED')
      issues.push({
        path: 'partitioning.field',
        message: `"${p.field}" is REPEATED; partition columns cannot be`,
      });
    else if (type === 'DATE' && p.type === 'HOUR')
      issues.push({
        path: 'partitioning.type',
        message: 'HOUR partitioning needs a TIMESTAMP or DATETIME column',
      });
    const exp = p.expirationDays;
    if (exp !== undefined && exp !== null && !(Number.isFinite(exp) && exp > 0))
      issues.push({
        path: 'partitioning.expirationDays',
        message: 'must be a positive number of days or null',
      });
  } else if (spec.requirePartitionFilter) {
    issues.push({ path: 'requirePartitionFilter', message: 'needs partitioning' });
  }
  const clustering = spec.clustering ?? [];
  if (clustering.length > 4)
    issues.push({ path: 'clustering', message: `at most 4 clustering columns, got ${clustering.length}` });
  if (new Set(clustering).size !== clustering.length)
    issues.push({ path: 'clustering', message: 'clustering columns must be distinct' });
  clustering.forEach((name, i) => {
    const col = byName.get(name);
    if (!col) issues.push({ path: `clustering[${i}]`, message: `"${name}" is not a top-level column` });
    else if (col.mode === 'REPEATED' || !CLUSTERABLE.has(canonicalType(col.type)))
      issues.push({
        path: `clustering[${i}]`,
        message: `"${name}" (${col.mode === 'REPEATED' ? 'REPEATED ' : ''}${col.type}) cannot be clustered on`,
      });
  });
  checkLabels(spec.labels, 'labels', issues);
  if (spec.description !== undefined && spec.description.length > 16_384)
    issues.push({ path: 'description', message: 'at most 16384 characters' });
  if (issues.length > 0)
    throw new BigQueryValidationError(`table spec ${spec.dataset}.${spec.table}`, issues);
  return Object.freeze({
    dataset: spec.dataset,
    table: spec.table,
    schema: spec.schema,
    partitioning: p
      ? {
          type: p.type,
          field: p.field,
          expirationDays:
            p.expirationDays === undefined ? tableDefaults.partitionExpirationDays : p.expirationDays,
        }
      : undefined,
    clustering: [...clustering],
    requirePartitionFilter: spec.requirePartitionFilter ?? tableDefaults.requirePartitionFilter,
    labels: { ...spec.labels },
    description: spec.description,
  });
}

/** The REST `TableFieldSchema` list for a spec schema (canonical type names, explicit modes). */
export function toRestFields(fields: ReadonlyArray<BigQueryFieldSpec>): TableField[] {
  return fields.map((f) => {
    const out: TableField = { name: f.name, type: canonicalType(f.type), mode: f.mode ?? 'NULLABLE' };
    if (f.description !== undefined) out.description = f.description;
    if (f.fields) out.fields = toRestFields(f.fields);
    return out;
  });
}

/** Partition expiration in milliseconds as the REST API carries it (a decimal string), or undefined. */
export function expirationMs(def: BigQueryTableDefinition): string | undefined {
  const d = def.partitioning?.expirationDays;
  return d === null || d === undefined ? undefined : String(Math.round(d * DAY_MS));
}

/** The REST `Table` resource body that creates this table (tables.insert). */
export function toTableResource(def: BigQueryTableDefinition): TableMetadata {
  const body: TableMetadata = { schema: { fields: toRestFields(def.schema) } };
  if (def.partitioning) {
    const ms = expirationMs(def);
    body.timePartitioning = {
      type: def.partitioning.type,
      field: def.partitioning.field,
      ...(ms ? { expirationMs: ms } : {}),
    };
    body.requirePartitionFilter = def.requirePartitionFilter;
  }
  if (def.clustering.length > 0) body.clustering = { fields: [...def.clustering] };
  if (Object.keys(def.labels).length > 0) body.labels = { ...def.labels };
  if (def.description !== undefined) body.description = def.description;
  return body;
}

/** GoogleSQL type text of a column (`ARRAY<STRUCT<a INT64>>`), used in CAST for rebuild plans. */
export function sqlTypeOf(f: TableField): string {
  const t = canonicalType(f.type ?? 'STRING');
  const base =
    t === 'RECORD'
      ? `STRUCT<${(f.fields ?? []).map((s) => `${s.name} ${sqlTypeOf(s)}`).join(', ')}>`
      : (({ INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL' } as Record<string, string>)[t] ?? t);
  return f.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
}
