/**
 * What the BigQuery v2 API checks beyond JSON shape, for the bodies dbkit sends: Table (tables.insert and the merged
 * result of tables.patch), Dataset, Job and QueryRequest. Each limit is taken from the field description in the
 * shipped types.d.ts where Google documents it there (extracted by a pattern that throws when the wording changes,
 * so a new client version cannot silently loosen the fake), otherwise from the cited documentation page.
 *
 * Deliberately independent of src/: nothing here imports dbkit, so a bug in dbkit's own validation shows up as a
 * disagreement with this file instead of being copied into it.
 */
import { loadBigQueryRestSchema } from './bigquery-rest-schema.js';

type Json = Record<string, unknown>;

/** A request the real API answers with 400 `invalid`. */
export class ApiRuleError extends Error {
  readonly status = 400;
  constructor(
    message: string,
    readonly reason = 'invalid',
  ) {
    super(message);
  }
}

const MiB = 1024 * 1024;

/** Limits read from the field descriptions of types.d.ts; throws if a description no longer says what we expect. */
export interface DocumentedLimits {
  /** TableFieldSchema.type: "Possible values include: * STRING * BYTES * INTEGER (or INT64) ...". Alias -> canonical. */
  fieldTypes: ReadonlyMap<string, string>;
  /** TableFieldSchema.mode: "Possible values include NULLABLE, REQUIRED and REPEATED". */
  fieldModes: readonly string[];
  /** TableFieldSchema.name: "The maximum length is 300 characters". */
  fieldNameMax: number;
  /** TableFieldSchema.description: "The maximum length is 1,024 characters". */
  fieldDescriptionMax: number;
  /** TimePartitioning.type: "The supported types are DAY, HOUR, MONTH, and YEAR". */
  timePartitioningTypes: readonly string[];
  /** Table.labels / JobConfiguration.labels / QueryRequest.labels: "no longer than 63 characters". */
  labelMax: number;
  /** DatasetReference.datasetId: "The maximum length is 1,024 characters". */
  datasetIdMax: number;
  /** TableReference.tableId: "The maximum length is 1,024 characters". */
  tableIdMax: number;
}

function extract(path: string, pattern: RegExp): RegExpExecArray {
  const doc = loadBigQueryRestSchema().doc(path);
  const m = pattern.exec(doc);
  if (!m)
    throw new Error(
      `bigquery-rest-rules: the description of ${path} no longer matches ${pattern} (the discovery document changed; review the rule): ${doc}`,
    );
  return m;
}
const num = (s: string) => Number(s.replace(/,/g, ''));

let limits: DocumentedLimits | undefined;

export function documentedLimits(): DocumentedLimits {
  if (limits) return limits;
  const typeList = extract(
    'TableFieldSchema.type',
    /Possible values include:((?:\s*\*\s*\w+(?:\s*\(or \w+\))?)+)/,
  )[1]!;
  const fieldTypes = new Map<string, string>();
  for (const m of typeList.matchAll(/\*\s*(\w+)(?:\s*\(or (\w+)\))?/g)) {
    fieldTypes.set(m[1]!, m[1]!);
    if (m[2]) fieldTypes.set(m[2], m[1]!);
  }
  const modes = extract(
    'TableFieldSchema.mode',
    /Possible values include ([A-Z]+(?:, [A-Z]+)* and [A-Z]+)/,
  )[1]!;
  // The field-name character rule is the sentence itself; FIELD_NAME below encodes it. If Google rewords it, this
  // throws and FIELD_NAME must be reviewed (the API also has "flexible column names", not described there).
  extract(
    'TableFieldSchema.name',
    /must contain only letters \(a-z, A-Z\), numbers \(0-9\), or underscores \(_\), and must start with a letter or underscore/,
  );
  extract(
    'TableReference.tableId',
    /category L \(letter\), M \(mark\), N \(number\), Pc \(connector, including underscore\), Pd \(dash\), and Zs \(space\)/,
  );
  extract(
    'DatasetReference.datasetId',
    /must contain only letters \(a-z, A-Z\), numbers \(0-9\), or underscores/,
  );
  extract('TimePartitioning.expirationMs', /0 is an invalid value/);
  extract('RangePartitioning.field', /top-level, INT64 column whose mode is NULLABLE or REQUIRED/);
  const labelDocs = ['Table.labels', 'JobConfiguration.labels', 'QueryRequest.labels'].map(
    (p) => extract(p, /no longer than (\d+) characters, can only contain lowercase letters/)[1]!,
  );
  limits = {
    fieldTypes,
    fieldModes: modes.split(/, | and /),
    fieldNameMax: num(extract('TableFieldSchema.name', /maximum length is ([\d,]+) characters/)[1]!),
    fieldDescriptionMax: num(
      extract('TableFieldSchema.description', /maximum length is ([\d,]+) characters/)[1]!,
    ),
    timePartitioningTypes: extract('TimePartitioning.type', /supported types are ([A-Z, ]+?),? and ([A-Z]+)/)
      .slice(1)
      .join(',')
      .split(/,\s*/),
    labelMax: Math.min(...labelDocs.map(num)),
    datasetIdMax: num(extract('DatasetReference.datasetId', /maximum length is ([\d,]+) characters/)[1]!),
    tableIdMax: num(extract('TableReference.tableId', /maximum length is ([\d,]+) characters/)[1]!),
  };
  return limits;
}

// ---- Limits documented outside the field descriptions -------------------------------------------------------------
/** "You can specify up to four clustering columns" (https://cloud.google.com/bigquery/docs/clustered-tables#limitations). */
export const MAX_CLUSTERING_FIELDS = 4;
/** Clustering column types, same page: top-level, non-repeated columns of these types. */
const CLUSTERABLE = new Set([
  'BIGNUMERIC',
  'BOOLEAN',
  'DATE',
  'DATETIME',
  'GEOGRAPHY',
  'INTEGER',
  'NUMERIC',
  'RANGE',
  'STRING',
  'TIMESTAMP',
]);
/** "Each resource can have up to 64 labels" (https://cloud.google.com/bigquery/docs/labels-intro#requirements). */
export const MAX_LABELS = 64;
/** Table description: 16,384 characters (https://cloud.google.com/bigquery/quotas#table_limits). */
export const TABLE_DESCRIPTION_MAX = 16_384;
/** 10,000 columns including nested ones, 15 levels of nesting (https://cloud.google.com/bigquery/docs/schemas#nested_and_repeated_columns, .../quotas#table_limits). */
export const MAX_COLUMNS = 10_000;
export const MAX_NESTING = 15;
/** 10,000 partitions per table (https://cloud.google.com/bigquery/quotas#partitioned_tables). */
export const MAX_PARTITIONS = 10_000;
/**
 * Time-unit column partitioning takes DATE, TIMESTAMP or DATETIME; HOUR needs TIMESTAMP or DATETIME
 * (https://cloud.google.com/bigquery/docs/partitioned-tables#date_timestamp_partitioned_tables). The
 * TimePartitioning.field description still says "TIMESTAMP or DATE", which predates DATETIME support.
 */
const TIME_PARTITION_TYPES = new Set(['DATE', 'TIMESTAMP', 'DATETIME']);
/** RANGE<T> with T one of DATE, DATETIME, TIMESTAMP (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#range_type). */
const RANGE_ELEMENT_TYPES = new Set(['DATE', 'DATETIME', 'TIMESTAMP']);
/** Reserved column-name prefixes, case-insensitive (https://cloud.google.com/bigquery/docs/schemas#column_names). */
const RESERVED_PREFIXES = ['_table_', '_file_', '_partition', '_row_timestamp', '__root__', '_colidentifier'];
/** On-demand billing rounds up to the MB (2^20 bytes), at least 10 MB per table referenced by the query and 10 MB per query (https://cloud.google.com/bigquery/pricing#on_demand_pricing). */
export const MIN_BILLED_PER_TABLE = 10 * MiB;

/** TableFieldSchema.name, as its description words it (checked in documentedLimits()). */
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DATASET_ID = /^[A-Za-z0-9_]+$/;
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
/** Label keys and values: lowercase letters (international allowed), digits, `_`, `-`; keys start with a letter. */
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]*$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]*$/u;
const INT64 = /^-?\d{1,19}$/;

function fail(message: string): never {
  throw new ApiRuleError(message);
}

/** int64 fields travel as decimal strings in the discovery document's JSON encoding. */
function int64(v: unknown, path: string): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !INT64.test(v)) fail(`Invalid int64 value at '${path}': ${JSON.stringify(v)}`);
  return BigInt(v);
}

export function checkLabels(labels: unknown, what: string): void {
  if (labels === undefined || labels === null) return;
  const { labelMax } = documentedLimits();
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS)
    fail(`Too many labels on ${what}: ${entries.length}; at most ${MAX_LABELS}.`);
  for (const [k, v] of entries) {
    if (k.length === 0 || [...k].length > labelMax || !LABEL_KEY.test(k))
      fail(
        `Invalid label key "${k}" on ${what}: keys are 1-${labelMax} lowercase letters, digits, underscores or dashes and start with a letter.`,
      );
    if (v === null) continue; // null deletes a label in a patch
    if (typeof v !== 'string' || [...v].length > labelMax || !LABEL_VALUE.test(v))
      fail(
        `Invalid label value ${JSON.stringify(v)} for key "${k}" on ${what}: values are 0-${labelMax} lowercase letters, digits, underscores or dashes.`,
      );
  }
}

// INTERVAL is a GoogleSQL column type (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#interval_type,
// and TableFieldSchema.Type.INTERVAL of the Storage v1 API) that the v2 TableFieldSchema.type description omits.
const UNLISTED_FIELD_TYPES = new Map([['INTERVAL', 'INTERVAL']]);

function canonical(type: unknown): string | undefined {
  if (typeof type !== 'string') return undefined;
  return documentedLimits().fieldTypes.get(type) ?? UNLISTED_FIELD_TYPES.get(type);
}

function checkFields(fields: Json[], prefix: string, depth: number, count: { n: number }): void {
  const L = documentedLimits();
  if (depth > MAX_NESTING) fail(`Field ${prefix} nests deeper than ${MAX_NESTING} levels.`);
  const seen = new Map<string, string>();
  for (const f of fields) {
    count.n++;
    const name = f.name;
    if (typeof name !== 'string' || name.length === 0)
      fail(`A field in ${prefix || 'the schema'} has no name.`);
    const path = `${prefix}${name}`;
    if (name.length > L.fieldNameMax || !FIELD_NAME.test(name))
      fail(
        `Invalid field name "${name}". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most ${L.fieldNameMax} characters long.`,
      );
    const lower = name.toLowerCase();
    const reserved = RESERVED_PREFIXES.find((p) => lower.startsWith(p));
    if (reserved) fail(`Invalid field name "${name}": the prefix "${reserved}" is reserved.`);
    // "Duplicate column names are not allowed even if the case differs" (schemas#column_names).
    const dup = seen.get(lower);
    if (dup !== undefined)
      fail(`Field ${path} already exists in schema (as "${prefix}${dup}"; names are case-insensitive).`);
    seen.set(lower, name);
    const type = canonical(f.type);
    if (f.type === undefined) fail(`Field ${path} has no type.`);
    if (!type) fail(`Invalid type "${String(f.type)}" for field ${path}.`);
    if (f.mode !== undefined && f.mode !== null && !L.fieldModes.includes(f.mode as string))
      fail(`Invalid mode "${String(f.mode)}" for field ${path}.`);
    if (typeof f.description === 'string' && [...f.description].length > L.fieldDescriptionMax)
      fail(`The description of field ${path} is too long: at most ${L.fieldDescriptionMax} characters.`);
    const sub = f.fields as Json[] | undefined | null;
    if (type === 'RECORD') {
      if (!sub || sub.length === 0) fail(`Field ${path} is type RECORD but has no schema.`);
      checkFields(sub, `${path}.`, depth + 1, count);
    } else if (sub && sub.length > 0)
      fail(`Field ${path} is type ${type}; only RECORD fields have sub-fields.`);
    const ret = (f.rangeElementType as Json | undefined | null)?.type;
    if (type === 'RANGE') {
      if (typeof ret !== 'string' || !RANGE_ELEMENT_TYPES.has(ret))
        fail(`Field ${path} is type RANGE and needs rangeElementType.type DATE, DATETIME or TIMESTAMP.`);
    } else if (f.rangeElementType)
      fail(`Field ${path} is type ${type}; only RANGE fields have rangeElementType.`);
    // maxLength only for STRING/BYTES; precision and scale only for NUMERIC/BIGNUMERIC (TableFieldSchema docs).
    if (f.maxLength != null && type !== 'STRING' && type !== 'BYTES')
      fail(`Field ${path}: maxLength is only valid for STRING and BYTES.`);
    int64(f.maxLength, `${path}.maxLength`);
    if ((f.precision != null || f.scale != null) && type !== 'NUMERIC' && type !== 'BIGNUMERIC')
      fail(`Field ${path}: precision and scale are only valid for NUMERIC and BIGNUMERIC.`);
  }
  if (count.n > MAX_COLUMNS) fail(`Too many columns: at most ${MAX_COLUMNS}, nested columns included.`);
}

/** The checks tables.insert applies to a Table resource (tables.patch: to the table as it would be after the patch). */
export function checkTableResource(t: Json, tableId: string): void {
  const L = documentedLimits();
  if (tableId.length > L.tableIdMax || !TABLE_ID.test(tableId)) fail(`Invalid table ID "${tableId}".`);
  if (typeof t.description === 'string' && [...t.description].length > TABLE_DESCRIPTION_MAX)
    fail(`The table description is too long: at most ${TABLE_DESCRIPTION_MAX} characters.`);
  checkLabels(t.labels, `table ${tableId}`);
  int64(t.expirationTime, 'table.expirationTime');
  const fields = ((t.schema as Json | undefined)?.fields as Json[] | undefined) ?? [];
  if (t.schema && fields.length === 0 && !t.view) fail('A table schema needs at least one field.');
  checkFields(fields, '', 1, { n: 0 });
  const top = new Map(fields.map((f) => [String(f.name), f]));
  const tp = t.timePartitioning as Json | undefined | null;
  const rp = t.rangePartitioning as Json | undefined | null;
  if (tp && rp) fail('A table can have time partitioning or range partitioning, not both.');
  if (tp) {
    if (!L.timePartitioningTypes.includes(tp.type as string))
      fail(
        `Invalid timePartitioning.type "${String(tp.type)}": one of ${L.timePartitioningTypes.join(', ')}.`,
      );
    const exp = int64(tp.expirationMs, 'timePartitioning.expirationMs');
    if (exp !== undefined && exp <= 0n) fail(`timePartitioning.expirationMs must be positive, got ${exp}.`);
    if (tp.field !== undefined && tp.field !== null) {
      if (tp.field === '') fail('timePartitioning.field cannot be empty.');
      const col = top.get(String(tp.field));
      if (!col)
        fail(`The field specified for partitioning cannot be found in the schema: ${String(tp.field)}.`);
      const type = canonical(col.type)!;
      if (!TIME_PARTITION_TYPES.has(type))
        fail(
          `The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: ${type}.`,
        );
      if (col.mode === 'REPEATED') fail(`The partitioning field ${String(tp.field)} cannot be REPEATED.`);
      if (tp.type === 'HOUR' && type === 'DATE')
        fail('HOUR partitioning needs a TIMESTAMP or DATETIME field.');
    }
  }
  if (rp) {
    const col = top.get(String(rp.field));
    if (!col)
      fail(`The field specified for range partitioning cannot be found in the schema: ${String(rp.field)}.`);
    if (canonical(col.type) !== 'INTEGER' || col.mode === 'REPEATED')
      fail(
        `The field specified for range partitioning must be a top-level INT64 column, NULLABLE or REQUIRED.`,
      );
    const range = (rp.range as Json | undefined) ?? {};
    const start = int64(range.start, 'rangePartitioning.range.start');
    const end = int64(range.end, 'rangePartitioning.range.end');
    const interval = int64(range.interval, 'rangePartitioning.range.interval');
    if (start === undefined || end === undefined || interval === undefined)
      fail('rangePartitioning.range needs start, end and interval.');
    if (interval <= 0n) fail('rangePartitioning.range.interval must be positive.');
    if (end <= start) fail('rangePartitioning.range.end must be greater than start.');
    const partitions = (end - start + interval - 1n) / interval;
    if (partitions > BigInt(MAX_PARTITIONS))
      fail(`Range partitioning would create ${partitions} partitions; at most ${MAX_PARTITIONS}.`);
  }
  const clustering = ((t.clustering as Json | undefined | null)?.fields as string[] | undefined) ?? [];
  if (clustering.length > MAX_CLUSTERING_FIELDS)
    fail(`Too many clustering fields: ${clustering.length}; at most ${MAX_CLUSTERING_FIELDS}.`);
  const seen = new Set<string>();
  for (const name of clustering) {
    const key = name.toLowerCase();
    if (seen.has(key)) fail(`Duplicate clustering field "${name}".`);
    seen.add(key);
    const col = [...top.values()].find((f) => String(f.name).toLowerCase() === key);
    if (!col) fail(`The field specified for clustering cannot be found in the schema: ${name}.`);
    const type = canonical(col.type)!;
    if (col.mode === 'REPEATED' || !CLUSTERABLE.has(type))
      fail(
        `Field ${name} of type ${col.mode === 'REPEATED' ? 'REPEATED ' : ''}${type} cannot be used for clustering.`,
      );
  }
}

export function checkDataset(ds: Json): void {
  const L = documentedLimits();
  const id = (ds.datasetReference as Json | undefined)?.datasetId;
  if (typeof id !== 'string' || id.length === 0 || id.length > L.datasetIdMax || !DATASET_ID.test(id))
    fail(`Invalid dataset ID "${String(id)}".`);
  checkLabels(ds.labels, `dataset ${id}`);
  int64(ds.defaultTableExpirationMs, 'dataset.defaultTableExpirationMs');
  int64(ds.defaultPartitionExpirationMs, 'dataset.defaultPartitionExpirationMs');
}

export function checkJob(job: Json): void {
  const config = (job.configuration as Json | undefined) ?? {};
  checkLabels(config.labels, 'job');
  int64(config.jobTimeoutMs, 'configuration.jobTimeoutMs');
  const q = config.query as Json | undefined;
  if (q) {
    if (typeof q.query !== 'string' || q.query.trim() === '') fail('configuration.query.query is required.');
    int64(q.maximumBytesBilled, 'configuration.query.maximumBytesBilled');
  }
}

export function checkQueryRequest(req: Json): void {
  if (typeof req.query !== 'string' || req.query.trim() === '') fail('query is required.');
  checkLabels(req.labels, 'query');
  int64(req.maximumBytesBilled, 'maximumBytesBilled');
  int64(req.jobTimeoutMs, 'jobTimeoutMs');
}

/**
 * Bytes billed on demand for `perTable` bytes read: each referenced table rounded up to the MiB and billed at least
 * 10 MiB, and at least 10 MiB per query (the pricing rule quoted at MIN_BILLED_PER_TABLE; the API reports the result
 * as statistics.query.totalBytesBilled, e.g. 10485760 for a tiny query).
 */
export function onDemandBytesBilled(perTable: readonly number[]): number {
  const billed = perTable.reduce((s, b) => s + Math.max(MIN_BILLED_PER_TABLE, Math.ceil(b / MiB) * MiB), 0);
  return Math.max(billed, MIN_BILLED_PER_TABLE);
}
