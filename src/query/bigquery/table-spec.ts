import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { BigQueryValidationError } from './errors.js';
import { type BigQueryFieldType, type BigQueryRangeElementType, canonicalType } from './field-types.js';
import { checkTableSpec } from './table-validation.js';

export { type BigQueryFieldType, type BigQueryRangeElementType, canonicalType } from './field-types.js';

/** Column mode. */
export type BigQueryFieldMode = 'NULLABLE' | 'REQUIRED' | 'REPEATED';

/** One column of a table spec. */
export interface BigQueryFieldSpec<Name extends string = string> {
  /** Column name: letters, digits, underscores; starts with a letter or underscore; at most 300 characters. */
  name: Name;
  /** Column type. */
  type: BigQueryFieldType;
  /** Column mode. @default 'NULLABLE' */
  mode?: BigQueryFieldMode;
  /** Column description, at most 1,024 characters. @default undefined */
  description?: string;
  /** Sub-fields of a RECORD/STRUCT column (required for those, at least one). @default undefined */
  fields?: ReadonlyArray<BigQueryFieldSpec>;
  /** Element type of a RANGE column (required for RANGE, only for RANGE). @default undefined */
  rangeElementType?: BigQueryRangeElementType;
}

/** Time-unit partition granularity. */
export type BigQueryTimePartitionType = 'DAY' | 'HOUR' | 'MONTH' | 'YEAR';

/** Time-unit partitioning on a column. */
export interface BigQueryPartitioningSpec<Name extends string = string> {
  /** Partition granularity. HOUR needs a TIMESTAMP or DATETIME column. */
  type: BigQueryTimePartitionType;
  /** The top-level DATE, TIMESTAMP or DATETIME column to partition on. */
  field: Name;
  /** Days after which a partition is deleted (at least 1 ms); `null` keeps partitions forever. @default 90 */
  expirationDays?: number | null;
}

/** Integer-range partitioning: partitions [start, start + interval), ... up to end (exclusive); at most 10,000. */
export interface BigQueryRangePartitioningSpec<Name extends string = string> {
  /** The top-level, non-repeated INT64 column to partition on. */
  field: Name;
  /** First partition's lower bound (inclusive). */
  start: number;
  /** Upper bound of the last partition (exclusive); greater than start. */
  end: number;
  /** Width of each partition; positive. */
  interval: number;
}

/** A table as code: what {@link defineTable} validates and {@link ensureTable} converges. */
export interface BigQueryTableSpec<Name extends string = string> {
  /** Dataset id. */
  dataset: string;
  /** Table id. */
  table: string;
  /** Columns, in order. */
  schema: ReadonlyArray<BigQueryFieldSpec<Name>>;
  /** Time-unit column partitioning (exclusive with `rangePartitioning`). @default undefined (unpartitioned) */
  partitioning?: BigQueryPartitioningSpec<NoInfer<Name>>;
  /** Integer-range partitioning (exclusive with `partitioning`). @default undefined */
  rangePartitioning?: BigQueryRangePartitioningSpec<NoInfer<Name>>;
  /** Up to 4 distinct top-level clustering columns, most filtered first. @default [] */
  clustering?: ReadonlyArray<NoInfer<Name>>;
  /** Reject queries without a filter on the partition column. @default false */
  requirePartitionFilter?: boolean;
  /** Labels for cost attribution (keys and values: lowercase, digits, _ and -; at most 64). @default {} */
  labels?: Record<string, string>;
  /** Table description, at most 16,384 characters. @default undefined */
  description?: string;
}

/** A validated table spec with its defaults applied. */
export interface BigQueryTableDefinition {
  readonly dataset: string;
  readonly table: string;
  readonly schema: ReadonlyArray<BigQueryFieldSpec>;
  readonly partitioning:
    | { type: BigQueryTimePartitionType; field: string; expirationDays: number | null }
    | undefined;
  readonly rangePartitioning: BigQueryRangePartitioningSpec | undefined;
  readonly clustering: ReadonlyArray<string>;
  readonly requirePartitionFilter: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string | undefined;
}

const DAY_MS = 86_400_000;
const tableDefaults = { partitionExpirationDays: 90, requirePartitionFilter: false } as const;

/**
 * Validates a table spec against the BigQuery v2 API's documented limits and applies its defaults (90-day partition
 * expiration); throws {@link BigQueryValidationError} listing every issue, before any request.
 *
 * @example
 * ```ts
 * const events = defineTable({
 *   dataset: 'analytics', table: 'events',
 *   schema: [
 *     { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
 *     { name: 'client_id', type: 'STRING' },
 *     { name: 'valid', type: 'RANGE', rangeElementType: 'DATE' },
 *   ],
 *   partitioning: { type: 'DAY', field: 'ts' }, clustering: ['client_id'], labels: { team: 'data' },
 * });
 * ```
 */
export function defineTable<const Name extends string>(
  spec: BigQueryTableSpec<Name>,
): BigQueryTableDefinition {
  const issues = checkTableSpec(spec as BigQueryTableSpec);
  if (issues.length > 0)
    throw new BigQueryValidationError(
      typeof spec === 'object' && spec !== null ? `table spec ${spec.dataset}.${spec.table}` : 'table spec',
      issues,
    );
  const p = spec.partitioning;
  const rp = spec.rangePartitioning;
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
    rangePartitioning: rp
      ? { field: rp.field, start: rp.start, end: rp.end, interval: rp.interval }
      : undefined,
    clustering: [...(spec.clustering ?? [])],
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
    if (f.rangeElementType !== undefined) out.rangeElementType = { type: f.rangeElementType };
    return out;
  });
}

/** Partition expiration in milliseconds as the REST API carries it (an int64 decimal string), or undefined. */
export function expirationMs(def: BigQueryTableDefinition): string | undefined {
  const d = def.partitioning?.expirationDays;
  return d === null || d === undefined ? undefined : String(Math.round(d * DAY_MS));
}

/**
 * The REST `Table` resource body that creates this table (tables.insert).
 *
 * @example
 * ```ts
 * toTableResource(defineTable({ dataset: 'a', table: 'events', schema: [{ name: 'ts', type: 'TIMESTAMP' }],
 *   partitioning: { type: 'DAY', field: 'ts' } }))
 * // { schema: { fields: [...] }, timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '7776000000' }, ... }
 * ```
 */
export function toTableResource(def: BigQueryTableDefinition): TableMetadata {
  const body: TableMetadata = { schema: { fields: toRestFields(def.schema) } };
  if (def.partitioning) {
    const ms = expirationMs(def);
    body.timePartitioning = {
      type: def.partitioning.type,
      field: def.partitioning.field,
      ...(ms ? { expirationMs: ms } : {}),
    };
  }
  const rp = def.rangePartitioning;
  if (rp)
    body.rangePartitioning = {
      field: rp.field,
      range: { start: String(rp.start), end: String(rp.end), interval: String(rp.interval) },
    };
  if (def.partitioning || rp) body.requirePartitionFilter = def.requirePartitionFilter;
  if (def.clustering.length > 0) body.clustering = { fields: [...def.clustering] };
  if (Object.keys(def.labels).length > 0) body.labels = { ...def.labels };
  if (def.description !== undefined) body.description = def.description;
  return body;
}

/** GoogleSQL type text of a column (`ARRAY<STRUCT<a INT64>>`, `RANGE<DATE>`), used in CAST for rebuild plans. */
export function sqlTypeOf(f: TableField): string {
  const t = canonicalType(f.type ?? 'STRING');
  const base =
    t === 'RECORD'
      ? `STRUCT<${(f.fields ?? []).map((s) => `${s.name} ${sqlTypeOf(s)}`).join(', ')}>`
      : t === 'RANGE'
        ? `RANGE<${f.rangeElementType?.type ?? 'DATE'}>`
        : (({ INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL' } as Record<string, string>)[t] ?? t);
  return f.mode === 'REPEATED' ? `ARRAY<${base}>` : base;
}

/** A column's type identity for diffs: canonical type plus the RANGE element type. */
export function typeKey(f: TableField): string {
  const t = canonicalType(f.type ?? '');
  return t === 'RANGE' ? `RANGE<${f.rangeElementType?.type ?? '?'}>` : t;
}
