import type { TableField, TableMetadata } from '@google-cloud/bigquery';
import { quoteIdent, quoteTablePath } from './names.js';
import {
  type BigQueryFieldSpec,
  type BigQueryTableDefinition,
  canonicalType,
  sqlTypeOf,
  toRestFields,
  typeKey,
} from './table-spec.js';

/** How a table that cannot be patched into shape is rebuilt: create-as-select into a new table, then swap. */
export interface BigQueryRebuildPlan {
  /** `dataset.table` being rebuilt. */
  table: string;
  /** Why a patch is not enough (partition change, column type change, removed column, ...). */
  reasons: string[];
  /** The new table the data is copied into (renamed to `table` by the swap). */
  rebuildTable: string;
  /** What the current table is renamed to; it is kept, never dropped, so nothing is lost. */
  previousTable: string;
  /** GoogleSQL statements, run in order: CREATE TABLE ... AS SELECT, then two ALTER TABLE ... RENAME TO. */
  statements: string[];
}

function partitionExpr(def: BigQueryTableDefinition, liveFields: TableField[]): string | undefined {
  const rp = def.rangePartitioning;
  if (rp)
    return `RANGE_BUCKET(${quoteIdent(rp.field)}, GENERATE_ARRAY(${rp.start}, ${rp.end}, ${rp.interval}))`;
  const p = def.partitioning;
  if (!p) return undefined;
  const col = def.schema.find((f) => f.name === p.field);
  const type = canonicalType(col?.type ?? liveFields.find((f) => f.name === p.field)?.type ?? 'DATE');
  const id = quoteIdent(p.field);
  if (type === 'DATE') return p.type === 'DAY' ? id : `DATE_TRUNC(${id}, ${p.type})`;
  return `${type === 'TIMESTAMP' ? 'TIMESTAMP_TRUNC' : 'DATETIME_TRUNC'}(${id}, ${p.type})`;
}

function columnDefinition(f: TableField): string {
  const parts = [quoteIdent(f.name ?? ''), columnType(f)];
  if (f.description) parts.push(`OPTIONS(description = ${JSON.stringify(f.description)})`);
  return parts.join(' ');
}

function columnType(f: TableField): string {
  const t = canonicalType(f.type ?? 'STRING');
  const base =
    t === 'RECORD'
      ? `STRUCT<${(f.fields ?? []).map((s) => `${quoteIdent(s.name ?? '')} ${columnType(s)}`).join(', ')}>`
      : sqlTypeOf({ type: t, ...(f.rangeElementType ? { rangeElementType: f.rangeElementType } : {}) });
  if (f.mode === 'REPEATED') return `ARRAY<${base}>`;
  return f.mode === 'REQUIRED' ? `${base} NOT NULL` : base;
}

function sameShape(a: TableField, b: TableField): boolean {
  if (typeKey(a) !== typeKey(b)) return false;
  if (((a.mode ?? 'NULLABLE') === 'REPEATED') !== ((b.mode ?? 'NULLABLE') === 'REPEATED')) return false;
  const af = a.fields ?? [];
  const bf = b.fields ?? [];
  return af.length === bf.length && af.every((f, i) => f.name === bf[i]?.name && sameShape(f, bf[i]!));
}

function selectExpr(spec: TableField, live: TableField | undefined): string {
  const id = quoteIdent(spec.name ?? '');
  const type = sqlTypeOf(spec);
  if (!live) return `CAST(NULL AS ${type}) AS ${id}`;
  return sameShape(spec, live) ? id : `CAST(${id} AS ${type}) AS ${id}`;
}

function optionsClause(def: BigQueryTableDefinition): string {
  const opts: string[] = [];
  const exp = def.partitioning?.expirationDays;
  if (def.partitioning && exp !== null && exp !== undefined) opts.push(`partition_expiration_days = ${exp}`);
  if (def.partitioning || def.rangePartitioning)
    opts.push(`require_partition_filter = ${def.requirePartitionFilter}`);
  const labels = Object.entries(def.labels);
  if (labels.length > 0)
    opts.push(
      `labels = [${labels.map(([k, v]) => `(${JSON.stringify(k)}, ${JSON.stringify(v)})`).join(', ')}]`,
    );
  if (def.description !== undefined) opts.push(`description = ${JSON.stringify(def.description)}`);
  return opts.length > 0 ? `OPTIONS (${opts.join(', ')})` : '';
}

/**
 * Builds the rebuild plan for `def` over the live table. The column list keeps REQUIRED modes and column
 * descriptions (a bare CREATE TABLE AS SELECT would make every column NULLABLE); columns the live table lacks are
 * filled with typed NULLs, changed types are CAST (a value that does not convert fails the CREATE, before the swap).
 */
export function buildRebuildPlan(
  def: BigQueryTableDefinition,
  live: TableMetadata,
  reasons: string[],
  suffix: string,
): BigQueryRebuildPlan {
  const liveFields = live.schema?.fields ?? [];
  const specFields = toRestFields(def.schema as ReadonlyArray<BigQueryFieldSpec>);
  const rebuildName = `${def.table}__rebuild_${suffix}`;
  const previousName = `${def.table}__previous_${suffix}`;
  const source = quoteTablePath(def.dataset, def.table);
  const target = quoteTablePath(def.dataset, rebuildName);
  const partition = partitionExpr(def, liveFields);
  const create = [
    `CREATE TABLE ${target} (${specFields.map(columnDefinition).join(', ')})`,
    partition ? `PARTITION BY ${partition}` : '',
    def.clustering.length > 0 ? `CLUSTER BY ${def.clustering.map(quoteIdent).join(', ')}` : '',
    optionsClause(def),
    `AS SELECT ${specFields
      .map((f) =>
        selectExpr(
          f,
          liveFields.find((l) => l.name === f.name),
        ),
      )
      .join(', ')} FROM ${source}`,
  ]
    .filter(Boolean)
    .join('\n');
  return {
    table: `${def.dataset}.${def.table}`,
    reasons,
    rebuildTable: `${def.dataset}.${rebuildName}`,
    previousTable: `${def.dataset}.${previousName}`,
    statements: [
      create,
      `ALTER TABLE ${source} RENAME TO ${quoteIdent(previousName)}`,
      `ALTER TABLE ${target} RENAME TO ${quoteIdent(def.table)}`,
    ],
  };
}
