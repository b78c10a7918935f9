import { canonicalType, isFieldType } from './field-types.js';
import {
  CLUSTERABLE_TYPES,
  COLUMN_DESCRIPTION_MAX_CHARS,
  charLength,
  FIELD_MODES,
  MAX_CLUSTERING_FIELDS,
  MAX_COLUMNS,
  MAX_NESTING_DEPTH,
  MAX_PARTITIONS,
  RANGE_ELEMENT_TYPES,
  TABLE_DESCRIPTION_MAX_CHARS,
  TIME_PARTITION_COLUMN_TYPES,
  TIME_PARTITION_TYPES,
} from './limits.js';
import {
  type BigQueryIssue,
  checkColumnName,
  checkDatasetName,
  checkLabels,
  checkTableName,
} from './names.js';
import type { BigQueryFieldSpec, BigQueryTableSpec } from './table-spec.js';

const DAY_MS = 86_400_000;
const has = (list: readonly string[], v: unknown) => typeof v === 'string' && list.includes(v);
// Not a type guard: the spec is typed, these checks are for JavaScript callers and specs read from JSON.
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const orList = (list: readonly string[]) => `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;

function checkFields(
  fields: ReadonlyArray<BigQueryFieldSpec> | undefined,
  path: string,
  issues: BigQueryIssue[],
  depth: number,
  count: { n: number },
): void {
  if (!Array.isArray(fields) || fields.length === 0) {
    issues.push({ path, message: 'needs at least one column' });
    return;
  }
  if (depth > MAX_NESTING_DEPTH)
    issues.push({ path, message: `RECORD columns nest at most ${MAX_NESTING_DEPTH} levels` });
  // "Duplicate column names are not allowed even if the case differs" (https://cloud.google.com/bigquery/docs/schemas#column_names).
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    count.n++;
    const p = `${path}[${i}]`;
    if (!isObject(f)) {
      issues.push({ path: p, message: 'must be a column object ({ name, type, ... })' });
      return;
    }
    checkColumnName(f.name, `${p}.name`, issues);
    const lower = String(f.name).toLowerCase();
    if (seen.has(lower))
      issues.push({
        path: `${p}.name`,
        message: `duplicate column "${f.name}" (names are case-insensitive)`,
      });
    seen.add(lower);
    if (!isFieldType(f.type)) issues.push({ path: `${p}.type`, message: `unknown type "${String(f.type)}"` });
    if (f.mode !== undefined && !has(FIELD_MODES, f.mode))
      issues.push({
        path: `${p}.mode`,
        message: `must be ${orList(FIELD_MODES)}, got "${String(f.mode)}"`,
      });
    if (f.description !== undefined && charLength(f.description) > COLUMN_DESCRIPTION_MAX_CHARS)
      issues.push({
        path: `${p}.description`,
        message: `at most ${COLUMN_DESCRIPTION_MAX_CHARS} characters, got ${charLength(f.description)}`,
      });
    const type = canonicalType(f.type);
    if (type === 'RECORD') checkFields(f.fields, `${p}.fields`, issues, depth + 1, count);
    else if (f.fields !== undefined)
      issues.push({ path: `${p}.fields`, message: 'only RECORD/STRUCT columns have fields' });
    if (type === 'RANGE') {
      if (!has(RANGE_ELEMENT_TYPES, f.rangeElementType))
        issues.push({
          path: `${p}.rangeElementType`,
          message: `RANGE columns need rangeElementType ${orList(RANGE_ELEMENT_TYPES)}`,
        });
    } else if (f.rangeElementType !== undefined)
      issues.push({ path: `${p}.rangeElementType`, message: 'only RANGE columns have rangeElementType' });
  });
}

function checkPartitioning(
  spec: BigQueryTableSpec,
  byName: Map<string, BigQueryFieldSpec>,
  issues: BigQueryIssue[],
) {
  const p = spec.partitioning;
  const rp = spec.rangePartitioning;
  for (const [name, v] of [
    ['partitioning', p],
    ['rangePartitioning', rp],
  ] as const)
    if (v !== undefined && v !== null && !isObject(v)) {
      issues.push({ path: name, message: 'must be an object' });
      return;
    }
  if (p && rp)
    issues.push({
      path: 'rangePartitioning',
      message: 'a table has time partitioning or range partitioning, not both',
    });
  if (p) {
    if (!has(TIME_PARTITION_TYPES, p.type))
      issues.push({
        path: 'partitioning.type',
        message: `must be ${orList(TIME_PARTITION_TYPES)}, got "${String(p.type)}"`,
      });
    const col = byName.get(p.field);
    const type = col ? canonicalType(col.type) : undefined;
    if (!col)
      issues.push({
        path: 'partitioning.field',
        message: `"${p.field}" is not a top-level column of the schema`,
      });
    else if (!has(TIME_PARTITION_COLUMN_TYPES, type))
      issues.push({
        path: 'partitioning.field',
        message: `"${p.field}" is ${col.type}; needs ${orList(TIME_PARTITION_COLUMN_TYPES)}`,
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
    // TimePartitioning.expirationMs: "0 is an invalid value"; it is an int64 of milliseconds.
    const exp = p.expirationDays;
    if (exp !== undefined && exp !== null) {
      const ms = Number.isFinite(exp) ? Math.round(exp * DAY_MS) : Number.NaN;
      if (!(ms >= 1 && Number.isSafeInteger(ms)))
        issues.push({
          path: 'partitioning.expirationDays',
          message: `must be a positive number of days (at least 1 ms) or null, got ${exp}`,
        });
    }
  }
  if (rp) {
    const col = byName.get(rp.field);
    if (!col)
      issues.push({
        path: 'rangePartitioning.field',
        message: `"${rp.field}" is not a top-level column of the schema`,
      });
    // RangePartitioning.field: "a top-level, INT64 column whose mode is NULLABLE or REQUIRED".
    else if (canonicalType(col.type) !== 'INTEGER' || col.mode === 'REPEATED')
      issues.push({
        path: 'rangePartitioning.field',
        message: `"${rp.field}" is ${col.mode === 'REPEATED' ? 'REPEATED ' : ''}${col.type}; needs a non-repeated INT64`,
      });
    const ints = (['start', 'end', 'interval'] as const).filter((k) => !Number.isSafeInteger(rp[k]));
    for (const k of ints)
      issues.push({ path: `rangePartitioning.${k}`, message: `must be an integer, got ${String(rp[k])}` });
    if (ints.length === 0) {
      if (rp.interval <= 0) issues.push({ path: 'rangePartitioning.interval', message: 'must be positive' });
      else if (rp.end <= rp.start)
        issues.push({ path: 'rangePartitioning.end', message: 'must be greater than start' });
      else if (Math.ceil((rp.end - rp.start) / rp.interval) > MAX_PARTITIONS)
        issues.push({
          path: 'rangePartitioning',
          message: `would create ${Math.ceil((rp.end - rp.start) / rp.interval)} partitions; at most ${MAX_PARTITIONS}`,
        });
    }
  }
  if (!p && !rp && spec.requirePartitionFilter)
    issues.push({ path: 'requirePartitionFilter', message: 'needs partitioning or rangePartitioning' });
}

function checkClustering(
  spec: BigQueryTableSpec,
  byName: Map<string, BigQueryFieldSpec>,
  issues: BigQueryIssue[],
) {
  const clustering = spec.clustering ?? [];
  if (!Array.isArray(clustering)) {
    issues.push({ path: 'clustering', message: 'must be an array of column names' });
    return;
  }
  if (clustering.length > MAX_CLUSTERING_FIELDS)
    issues.push({
      path: 'clustering',
      message: `at most ${MAX_CLUSTERING_FIELDS} clustering columns, got ${clustering.length}`,
    });
  const seen = new Set<string>();
  clustering.forEach((name, i) => {
    const key = String(name).toLowerCase();
    if (seen.has(key)) {
      issues.push({ path: `clustering[${i}]`, message: `"${name}" is listed twice` });
      return;
    }
    seen.add(key);
    const col = byName.get(name);
    if (!col) issues.push({ path: `clustering[${i}]`, message: `"${name}" is not a top-level column` });
    else if (col.mode === 'REPEATED' || !has(CLUSTERABLE_TYPES, canonicalType(col.type)))
      issues.push({
        path: `clustering[${i}]`,
        message: `"${name}" (${col.mode === 'REPEATED' ? 'REPEATED ' : ''}${col.type}) cannot be clustered on`,
      });
  });
}

/** Every problem with `spec` against the API's documented limits, in spec order (empty: valid). */
export function checkTableSpec(spec: BigQueryTableSpec): BigQueryIssue[] {
  const issues: BigQueryIssue[] = [];
  if (!isObject(spec)) return [{ path: 'spec', message: 'must be a table spec object' }];
  checkDatasetName(spec.dataset, 'dataset', issues);
  checkTableName(spec.table, 'table', issues);
  const count = { n: 0 };
  checkFields(spec.schema, 'schema', issues, 1, count);
  if (count.n > MAX_COLUMNS)
    issues.push({
      path: 'schema',
      message: `at most ${MAX_COLUMNS} columns (nested included), got ${count.n}`,
    });
  const byName = new Map(
    (Array.isArray(spec.schema) ? spec.schema : [])
      .filter((f) => isObject(f))
      .map((f) => [f.name as string, f]),
  );
  checkPartitioning(spec, byName, issues);
  checkClustering(spec, byName, issues);
  checkLabels(spec.labels, 'labels', issues);
  if (spec.description !== undefined && charLength(spec.description) > TABLE_DESCRIPTION_MAX_CHARS)
    issues.push({ path: 'description', message: `at most ${TABLE_DESCRIPTION_MAX_CHARS} characters` });
  return issues;
}
