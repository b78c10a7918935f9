/**
 * A request-checking fake of the few BigQuery v2 and Cloud Storage JSON API endpoints dbkit uses. There is no
 * BigQuery emulator that runs offline, so tests drive the REAL @google-cloud/bigquery and @google-cloud/storage
 * clients at this server (apiEndpoint). Every request body is validated against the REST resource shapes
 * (unknown field or wrong type: 400 like the real API), kept in `requests` so tests can assert exactly what was
 * sent, and applied to in-memory datasets, tables and buckets. SQL is not executed: tests register results per
 * query with `onQuery` (a dry run reports the registered bytes; a run enforces maximumBytesBilled).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { PassThroughClient } from 'google-auth-library';

/** One request as the server received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. /bigquery/v2/projects/p/datasets/d/tables. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** The Authorization header, if the client sent one. */
  authorization?: string;
}

/** What a registered query returns. */
export interface FakeQueryResult {
  /** Bytes a dry run reports and a run processes. @default 0 */
  bytesProcessed?: number;
  /** Bytes the real run would bill (defaults to bytesProcessed rounded up to 1 MiB, at least 10 MiB). */
  bytesBilled?: number;
  /** statistics.query.totalBytesProcessedAccuracy of the dry run. @default 'PRECISE' */
  accuracy?: string;
  statementType?: string;
  schema?: Array<{ name: string; type: string; mode?: string }>;
  rows?: Array<Record<string, unknown>>;
  /** Runs (not dry runs) call this to change the in-memory state (DDL). */
  run?: (fake: FakeGcpRest) => void;
}

type Json = Record<string, unknown>;

export interface FakeGcpRest {
  url: string;
  projectId: string;
  requests: RecordedRequest[];
  datasets: Map<string, Json>;
  /** Keyed `dataset.table`. */
  tables: Map<string, Json>;
  buckets: Map<string, Json>;
  onQuery(match: string | RegExp, result: FakeQueryResult | ((sql: string) => FakeQueryResult)): void;
  /** Requests whose path contains `fragment` (and method, when given), bodies only. */
  sent(method: string, fragment: string): RecordedRequest[];
  putTable(dataset: string, table: string, resource: Json): void;
  bigquery(): BigQuery;
  storage(): Storage;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const MiB = 1024 * 1024;
const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
};

function check(shape: Shape, body: unknown, what: string): void {
  const problem = validateShape(shape, body, what);
  if (problem) throw new HttpError(400, 'invalid', `Invalid JSON payload received. ${problem}`);
}

function encodeValue(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => ({ v: encodeValue(x, type) }));
  if (v instanceof Date) return type === 'TIMESTAMP' ? String(v.getTime() * 1000) : v.toISOString();
  return String(v);
}

/** Starts the fake on a free 127.0.0.1 port. */
export async function startFakeGcpRest(projectId = 'dbkit-test'): Promise<FakeGcpRest> {
  const handlers: Array<{
    match: string | RegExp;
    result: FakeQueryResult | ((sql: string) => FakeQueryResult);
  }> = [];
  const jobs = new Map<string, { job: Json; result: FakeQueryResult }>();
  let fake: FakeGcpRest;

  const resolveQuery = (sql: string): FakeQueryResult => {
    const h = handlers.find((x) => (typeof x.match === 'string' ? sql.includes(x.match) : x.match.test(sql)));
    if (!h) throw new HttpError(400, 'invalidQuery', `fake-gcp-rest: no result registered for query: ${sql}`);
    return typeof h.result === 'function' ? h.result(sql) : h.result;
  };
  const billedFor = (r: FakeQueryResult) =>
    r.bytesBilled ?? Math.max(10 * MiB, Math.ceil((r.bytesProcessed ?? 0) / MiB) * MiB);
  const runQuery = (r: FakeQueryResult, maximumBytesBilled: unknown) => {
    const billed = billedFor(r);
    if (maximumBytesBilled !== undefined && billed > Number(maximumBytesBilled))
      throw new HttpError(
        400,
        'bytesBilledLimitExceeded',
        `Query exceeded limit for bytes billed: ${maximumBytesBilled}. ${billed} or higher required.`,
      );
    r.run?.(fake);
    return billed;
  };
  const queryStats = (r: FakeQueryResult, dry: boolean) => ({
    totalBytesProcessed: String(r.bytesProcessed ?? 0),
    query: {
      totalBytesProcessed: String(r.bytesProcessed ?? 0),
      totalBytesProcessedAccuracy: r.accuracy ?? 'PRECISE',
      statementType: r.statementType ?? 'SELECT',
      ...(dry ? {} : { totalBytesBilled: String(billedFor(r)) }),
    },
  });
  const resultBody = (r: FakeQueryResult, jobReference: Json) => {
    const fields = r.schema ?? [];
    const rows = (r.rows ?? []).map((row) => ({
      f: fields.map((f) => ({ v: encodeValue(row[f.name], f.type) })),
    }));
    return {
      kind: 'bigquery#getQueryResultsResponse',
      jobReference,
      schema: { fields },
      rows,
      totalRows: String(rows.length),
      totalBytesProcessed: String(r.bytesProcessed ?? 0),
      jobComplete: true,
      cacheHit: false,
    };
  };
  const notFound = (what: string) => new HttpError(404, 'notFound', `Not found: ${what}`);
  const tableKey = (d: string, t: string) => `${d}.${t}`;

  const bigqueryRoute = (method: string, parts: string[], body: Json | undefined): unknown => {
    // parts after /bigquery/v2: projects/:p/...
    const [, project, kind, a, sub, b] = parts;
    if (kind === 'datasets' && a === undefined && method === 'POST') {
      check(SHAPES.Dataset, body, 'dataset');
      const id = (body?.datasetReference as Json | undefined)?.datasetId as string;
      if (fake.datasets.has(id))
        throw new HttpError(409, 'duplicate', `Already Exists: Dataset ${project}:${id}`);
      const ds = { kind: 'bigquery#dataset', id: `${project}:${id}`, location: 'US', ...body };
      fake.datasets.set(id, ds);
      return ds;
    }
    if (kind === 'datasets' && a && sub === undefined && method === 'GET') {
      const ds = fake.datasets.get(a);
      if (!ds) throw notFound(`Dataset ${project}:${a}`);
      return ds;
    }
    if (kind === 'datasets' && a && sub === 'tables' && b === undefined) {
      if (!fake.datasets.has(a)) throw notFound(`Dataset ${project}:${a}`);
      if (method === 'GET') {
        const tables = [...fake.tables.entries()]
          .filter(([k]) => k.startsWith(`${a}.`))
          .map(([, t]) => ({ kind: t.kind, id: t.id, tableReference: t.tableReference, type: t.type }));
        return { kind: 'bigquery#tableList', tables, totalItems: tables.length };
      }
      check(SHAPES.Table, body, 'table');
      const tableId = (body?.tableReference as Json | undefined)?.tableId as string;
      if (fake.tables.has(tableKey(a, tableId)))
        throw new HttpError(409, 'duplicate', `Already Exists: Table ${project}:${a}.${tableId}`);
      fake.putTable(a, tableId, body ?? {});
      return fake.tables.get(tableKey(a, tableId));
    }
    if (kind === 'datasets' && a && sub === 'tables' && b) {
      const t = fake.tables.get(tableKey(a, b));
      if (!t) throw notFound(`Table ${project}:${a}.${b}`);
      if (method === 'GET') return t;
      check(SHAPES.Table, body, 'table');
      applyTablePatch(t, body ?? {});
      return t;
    }
    if (kind === 'jobs' && a === undefined && method === 'POST') {
      check(SHAPES.Job, body, 'job');
      const config = body?.configuration as Json;
      const query = config?.query as Json | undefined;
      if (!query) throw new HttpError(400, 'invalid', 'fake-gcp-rest: only query jobs are implemented');
      const ref: Json = { location: 'US', ...(body?.jobReference as Json) };
      const r = resolveQuery(query.query as string);
      const dry = config.dryRun === true;
      if (!dry) runQuery(r, query.maximumBytesBilled);
      const job = {
        ...body,
        kind: 'bigquery#job',
        id: `${project}:US.${ref.jobId}`,
        jobReference: ref,
        status: { state: 'DONE' },
        statistics: queryStats(r, dry),
      };
      if (!dry) jobs.set(String(ref.jobId), { job, result: r });
      return job;
    }
    if (kind === 'jobs' && a && method === 'GET') {
      const j = jobs.get(a);
      if (!j) throw notFound(`Job ${project}:${a}`);
      return j.job;
    }
    if (kind === 'queries' && a === undefined && method === 'POST') {
      check(SHAPES.QueryRequest, body, 'query request');
      const r = resolveQuery(body?.query as string);
      const jobReference = { projectId: project, jobId: randomUUID(), location: 'US' };
      if (body?.dryRun === true)
        return { ...resultBody({ ...r, rows: [] }, jobReference), jobComplete: true };
      runQuery(r, body?.maximumBytesBilled);
      const job = { jobReference, status: { state: 'DONE' }, statistics: queryStats(r, false) };
      jobs.set(jobReference.jobId, { job, result: r });
      return { ...resultBody(r, jobReference), kind: 'bigquery#queryResponse' };
    }
    if (kind === 'queries' && a && method === 'GET') {
      const j = jobs.get(a);
      if (!j) throw notFound(`Job ${project}:${a}`);
      return resultBody(j.result, j.job.jobReference as Json);
    }
    throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${method} ${parts.join('/')}`);
  };

  const storageRoute = (
    method: string,
    parts: string[],
    body: Json | undefined,
    query: Record<string, string>,
  ): unknown => {
    const [b, name] = parts;
    if (b !== 'b' || !name)
      throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${parts.join('/')}`);
    const bucket = fake.buckets.get(name);
    if (!bucket) throw new HttpError(404, 'notFound', 'The specified bucket does not exist.');
    if (method === 'GET') return bucket;
    if (method !== 'PATCH') throw new HttpError(405, 'invalid', `${method} not implemented`);
    check(SHAPES.Bucket, body, 'bucket');
    const expected = query.ifMetagenerationMatch;
    if (expected !== undefined && expected !== String(bucket.metageneration ?? 1))
      throw new HttpError(
        412,
        'conditionNotMet',
        'At least one of the pre-conditions you specified did not hold.',
      );
    const rules = ((body?.lifecycle as Json | undefined)?.rule as Json[] | undefined) ?? [];
    if (rules.length > 100)
      throw new HttpError(400, 'invalid', 'A bucket holds at most 100 lifecycle rules.');
    for (const [i, r] of rules.entries()) {
      const action = r.action as Json;
      const cond = (r.condition as Json | undefined) ?? {};
      if (action.type === 'SetStorageClass' && !action.storageClass)
        throw new HttpError(400, 'invalid', `lifecycle.rule[${i}]: SetStorageClass needs storageClass`);
      if (action.type !== 'SetStorageClass' && action.storageClass)
        throw new HttpError(
          400,
          'invalid',
          `lifecycle.rule[${i}]: storageClass only goes with SetStorageClass`,
        );
      if (Object.keys(cond).length === 0)
        throw new HttpError(400, 'invalid', `lifecycle.rule[${i}]: a rule needs at least one condition`);
    }
    for (const [k, v] of Object.entries(body ?? {})) {
      if (v === null) delete bucket[k];
      else bucket[k] = v;
    }
    bucket.metageneration = String(Number(bucket.metageneration ?? 1) + 1);
    return bucket;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = Buffer.concat(chunks).toString('utf8');
      const method = req.method ?? 'GET';
      const record: RecordedRequest = {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: undefined,
        status: 200,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      };
      fake.requests.push(record);
      let status = 200;
      let out: unknown;
      try {
        if (raw) {
          try {
            record.body = JSON.parse(raw);
          } catch {
            throw new HttpError(400, 'parseError', 'Parse Error');
          }
        }
        const parts = url.pathname.split('/').filter(Boolean);
        const body = record.body as Json | undefined;
        if (parts[0] === 'bigquery' && parts[1] === 'v2') out = bigqueryRoute(method, parts.slice(2), body);
        else if (parts[0] === 'storage' && parts[1] === 'v1')
          out = storageRoute(method, parts.slice(2), body, record.query);
        else throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${url.pathname}`);
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(500, 'backendError', String(e));
        status = err.status;
        out = {
          error: {
            code: err.status,
            message: err.message,
            errors: [{ domain: 'global', reason: err.reason, message: err.message }],
            status: STATUS_TEXT[err.status] ?? 'INTERNAL',
          },
        };
      }
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  fake = {
    url,
    projectId,
    requests: [],
    datasets: new Map(),
    tables: new Map(),
    buckets: new Map(),
    onQuery(match, result) {
      handlers.push({ match, result });
    },
    sent(method, fragment) {
      return fake.requests.filter((r) => r.method === method && r.path.includes(fragment));
    },
    putTable(dataset, table, resource) {
      const now = String(Date.now());
      fake.tables.set(tableKey(dataset, table), {
        kind: 'bigquery#table',
        id: `${projectId}:${dataset}.${table}`,
        type: resource.view ? 'VIEW' : 'TABLE',
        numBytes: '0',
        numRows: '0',
        numLongTermBytes: '0',
        creationTime: now,
        lastModifiedTime: now,
        location: 'US',
        ...resource,
        tableReference: { projectId, datasetId: dataset, tableId: table },
        etag: randomUUID(),
      });
    },
    bigquery() {
      // PassThroughClient: google-auth-library's documented no-auth client for emulators and tests.
      return new BigQuery({ projectId, apiEndpoint: url, authClient: new PassThroughClient() });
    },
    storage() {
      // A custom apiEndpoint makes the Storage client skip auth (useAuthWithCustomEndpoint defaults to false).
      return new Storage({ projectId, apiEndpoint: url });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return fake;
}

// tables.patch semantics of the real API: top-level fields replace, null clears, labels merge (null deletes a
// label); a schema patch may only append columns and relax REQUIRED to NULLABLE; partitioning cannot change.
function applyTablePatch(t: Json, patch: Json): void {
  const liveFields = ((t.schema as Json | undefined)?.fields as Json[] | undefined) ?? [];
  const newFields = (patch.schema as Json | undefined)?.fields as Json[] | undefined;
  if (newFields) checkSchemaEvolution(liveFields, newFields, '');
  const lp = t.timePartitioning as Json | undefined;
  const np = patch.timePartitioning as Json | undefined;
  if (np && lp && (np.type !== lp.type || np.field !== lp.field))
    throw new HttpError(
      400,
      'invalid',
      'Cannot change partitioning/clustering spec for a partitioned table.',
    );
  if (np && !lp)
    throw new HttpError(400, 'invalid', 'Cannot convert a non-partitioned table to partitioned.');
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'labels' && v) {
      const labels = { ...(t.labels as Json | undefined) };
      for (const [lk, lv] of Object.entries(v as Json)) {
        if (lv === null) delete labels[lk];
        else labels[lk] = lv;
      }
      t.labels = labels;
    } else if (k === 'timePartitioning' && v) {
      const merged: Json = { ...lp, ...(v as Json) };
      for (const [pk, pv] of Object.entries(merged)) if (pv === null) delete merged[pk];
      t.timePartitioning = merged;
    } else if (v === null) delete t[k];
    else t[k] = v;
  }
  t.lastModifiedTime = String(Date.now());
  t.etag = randomUUID();
}

function checkSchemaEvolution(live: Json[], next: Json[], prefix: string): void {
  for (const l of live) {
    const n = next.find((x) => x.name === l.name);
    const path = `${prefix}${l.name}`;
    if (!n)
      throw new HttpError(
        400,
        'invalid',
        `Provided Schema does not match Table. Field ${path} is missing in new schema`,
      );
    if (n.type !== l.type)
      throw new HttpError(
        400,
        'invalid',
        `Provided Schema does not match Table. Field ${path} has changed type from ${l.type} to ${n.type}`,
      );
    const lm = l.mode ?? 'NULLABLE';
    const nm = n.mode ?? 'NULLABLE';
    if (lm !== nm && !(lm === 'REQUIRED' && nm === 'NULLABLE'))
      throw new HttpError(
        400,
        'invalid',
        `Provided Schema does not match Table. Field ${path} has changed mode from ${lm} to ${nm}`,
      );
    checkSchemaEvolution((l.fields as Json[]) ?? [], (n.fields as Json[]) ?? [], `${path}.`);
  }
  for (const n of next)
    if (!live.some((l) => l.name === n.name) && n.mode === 'REQUIRED')
      throw new HttpError(
        400,
        'invalid',
        `Provided Schema does not match Table. Cannot add required field ${n.name}`,
      );
}

// ---- REST resource shapes (https://cloud.google.com/bigquery/docs/reference/rest/v2, .../storage/docs/json_api/v1)
// Only what dbkit and the clients send plus the documented neighbours; output-only fields are accepted (the real
// API ignores them on input). Any JSON value may be null (proto3 JSON: "clear this field").

type Shape =
  | 'string'
  | 'int64'
  | 'int'
  | 'boolean'
  | 'date'
  | 'scalar'
  | 'any'
  | { enum: readonly string[] }
  | { array: Shape }
  | { map: Shape }
  | { object: () => Record<string, Shape> };

const obj = (fields: Record<string, Shape>): Shape => ({ object: () => fields });
const lazy = (fields: () => Record<string, Shape>): Shape => ({ object: fields });
const strings: Shape = { array: 'string' };
const labels: Shape = { map: 'string' };

const FIELD_TYPES = [
  'STRING',
  'BYTES',
  'INTEGER',
  'INT64',
  'FLOAT',
  'FLOAT64',
  'NUMERIC',
  'BIGNUMERIC',
  'BOOLEAN',
  'BOOL',
  'TIMESTAMP',
  'DATE',
  'TIME',
  'DATETIME',
  'GEOGRAPHY',
  'JSON',
  'INTERVAL',
  'RECORD',
  'STRUCT',
  'RANGE',
] as const;
const tableReference = obj({ projectId: 'string', datasetId: 'string', tableId: 'string' });
const datasetReference = obj({ projectId: 'string', datasetId: 'string' });
const fieldSchema: Shape = lazy(() => ({
  name: 'string',
  type: { enum: FIELD_TYPES },
  mode: { enum: ['NULLABLE', 'REQUIRED', 'REPEATED'] },
  fields: { array: fieldSchema },
  description: 'string',
  policyTags: obj({ names: strings }),
  maxLength: 'int64',
  precision: 'int64',
  scale: 'int64',
  roundingMode: 'string',
  collation: 'string',
  defaultValueExpression: 'string',
  rangeElementType: obj({ type: 'string' }),
  foreignTypeDefinition: 'string',
}));
const timePartitioning = obj({
  type: { enum: ['DAY', 'HOUR', 'MONTH', 'YEAR'] },
  expirationMs: 'int64',
  field: 'string',
  requirePartitionFilter: 'boolean',
});
const clustering = obj({ fields: strings });
const encryption = obj({ kmsKeyName: 'string' });
const paramType: Shape = lazy(() => ({
  type: 'string',
  arrayType: paramType,
  structTypes: { array: obj({ name: 'string', type: paramType, description: 'string' }) },
  rangeElementType: paramType,
}));
// parameterValue.value is a string in the discovery document, but the API's JSON parser also takes a JSON number or
// boolean there, and the Node client sends numbers as numbers.
const paramValue: Shape = lazy(() => ({
  value: 'scalar',
  arrayValues: { array: paramValue },
  structValues: { map: paramValue },
  rangeValue: 'any',
}));
const queryParameters: Shape = {
  array: obj({ name: 'string', parameterType: paramType, parameterValue: paramValue }),
};
const connectionProperties: Shape = { array: obj({ key: 'string', value: 'string' }) };
// A plain string in the discovery document; the Node client sends it lowercase ('named') and the API accepts it.
const parameterMode: Shape = { enum: ['NAMED', 'POSITIONAL', 'named', 'positional'] };

const SHAPES = {
  Dataset: obj({
    kind: 'string',
    etag: 'string',
    id: 'string',
    selfLink: 'string',
    datasetReference,
    friendlyName: 'string',
    description: 'string',
    defaultTableExpirationMs: 'int64',
    defaultPartitionExpirationMs: 'int64',
    labels,
    access: { array: 'any' },
    creationTime: 'int64',
    lastModifiedTime: 'int64',
    location: 'string',
    defaultEncryptionConfiguration: encryption,
    defaultCollation: 'string',
    defaultRoundingMode: 'string',
    maxTimeTravelHours: 'int64',
    storageBillingModel: { enum: ['STORAGE_BILLING_MODEL_UNSPECIFIED', 'LOGICAL', 'PHYSICAL'] },
    isCaseInsensitive: 'boolean',
    resourceTags: labels,
    type: 'string',
  }),
  Table: obj({
    kind: 'string',
    etag: 'string',
    id: 'string',
    selfLink: 'string',
    tableReference,
    friendlyName: 'string',
    description: 'string',
    labels,
    schema: obj({ fields: { array: fieldSchema } }),
    timePartitioning,
    rangePartitioning: 'any',
    clustering,
    requirePartitionFilter: 'boolean',
    expirationTime: 'int64',
    view: obj({
      query: 'string',
      useLegacySql: 'boolean',
      userDefinedFunctionResources: { array: 'any' },
      useExplicitColumnNames: 'boolean',
      privacyPolicy: 'any',
    }),
    materializedView: 'any',
    encryptionConfiguration: encryption,
    defaultCollation: 'string',
    defaultRoundingMode: 'string',
    tableConstraints: 'any',
    resourceTags: labels,
    maxStaleness: 'string',
    externalDataConfiguration: 'any',
    biglakeConfiguration: 'any',
    numBytes: 'int64',
    numRows: 'int64',
    numLongTermBytes: 'int64',
    numActiveLogicalBytes: 'int64',
    creationTime: 'int64',
    lastModifiedTime: 'int64',
    location: 'string',
    type: 'string',
  }),
  Job: obj({
    kind: 'string',
    etag: 'string',
    id: 'string',
    selfLink: 'string',
    user_email: 'string',
    jobReference: obj({ projectId: 'string', jobId: 'string', location: 'string' }),
    configuration: obj({
      jobType: 'string',
      dryRun: 'boolean',
      jobTimeoutMs: 'int64',
      labels,
      reservation: 'string',
      maxSlots: 'int',
      load: 'any',
      copy: 'any',
      extract: 'any',
      query: obj({
        query: 'string',
        destinationTable: tableReference,
        tableDefinitions: 'any',
        userDefinedFunctionResources: { array: 'any' },
        createDisposition: { enum: ['CREATE_IF_NEEDED', 'CREATE_NEVER'] },
        writeDisposition: { enum: ['WRITE_TRUNCATE', 'WRITE_APPEND', 'WRITE_EMPTY', 'WRITE_TRUNCATE_DATA'] },
        defaultDataset: datasetReference,
        priority: { enum: ['INTERACTIVE', 'BATCH'] },
        preserveNulls: 'boolean',
        allowLargeResults: 'boolean',
        useQueryCache: 'boolean',
        flattenResults: 'boolean',
        maximumBillingTier: 'int',
        maximumBytesBilled: 'int64',
        useLegacySql: 'boolean',
        parameterMode,
        queryParameters,
        systemVariables: 'any',
        schemaUpdateOptions: strings,
        timePartitioning,
        rangePartitioning: 'any',
        clustering,
        destinationEncryptionConfiguration: encryption,
        scriptOptions: 'any',
        connectionProperties,
        createSession: 'boolean',
        continuous: 'boolean',
        writeIncrementalResults: 'boolean',
      }),
    }),
    statistics: 'any',
    status: 'any',
    principal_subject: 'string',
    jobCreationReason: 'any',
  }),
  QueryRequest: obj({
    kind: 'string',
    query: 'string',
    maxResults: 'int',
    defaultDataset: datasetReference,
    timeoutMs: 'int',
    jobTimeoutMs: 'int64',
    destinationEncryptionConfiguration: encryption,
    dryRun: 'boolean',
    preserveNulls: 'boolean',
    useQueryCache: 'boolean',
    useLegacySql: 'boolean',
    parameterMode,
    queryParameters,
    location: 'string',
    formatOptions: obj({ useInt64Timestamp: 'boolean', timestampOutputFormat: 'string' }),
    connectionProperties,
    labels,
    maximumBytesBilled: 'int64',
    requestId: 'string',
    createSession: 'boolean',
    jobCreationMode: {
      enum: ['JOB_CREATION_MODE_UNSPECIFIED', 'JOB_CREATION_REQUIRED', 'JOB_CREATION_OPTIONAL'],
    },
    continuous: 'boolean',
    writeIncrementalResults: 'boolean',
    reservation: 'string',
    maxSlots: 'int',
  }),
  Bucket: obj({
    labels,
    storageClass: 'string',
    versioning: obj({ enabled: 'boolean' }),
    lifecycle: obj({
      rule: {
        array: obj({
          action: obj({
            type: { enum: ['Delete', 'SetStorageClass', 'AbortIncompleteMultipartUpload'] },
            storageClass: {
              enum: [
                'STANDARD',
                'NEARLINE',
                'COLDLINE',
                'ARCHIVE',
                'MULTI_REGIONAL',
                'REGIONAL',
                'DURABLE_REDUCED_AVAILABILITY',
              ],
            },
          }),
          condition: obj({
            age: 'int',
            createdBefore: 'date',
            customTimeBefore: 'date',
            daysSinceCustomTime: 'int',
            daysSinceNoncurrentTime: 'int',
            isLive: 'boolean',
            matchesPattern: 'string',
            matchesPrefix: strings,
            matchesSuffix: strings,
            matchesStorageClass: strings,
            noncurrentTimeBefore: 'date',
            numNewerVersions: 'int',
          }),
        }),
      },
    }),
  }),
} as const;

function validateShape(shape: Shape, v: unknown, path: string): string | undefined {
  if (v === null || shape === 'any') return undefined;
  const wrong = (want: string) => `Invalid value at '${path}' (${want}): ${JSON.stringify(v)}`;
  if (shape === 'string') return typeof v === 'string' ? undefined : wrong('TYPE_STRING');
  if (shape === 'scalar')
    return ['string', 'number', 'boolean'].includes(typeof v) ? undefined : wrong('TYPE_STRING');
  if (shape === 'boolean') return typeof v === 'boolean' ? undefined : wrong('TYPE_BOOL');
  if (shape === 'int64')
    return (typeof v === 'string' && /^-?\d+$/.test(v)) || Number.isSafeInteger(v)
      ? undefined
      : wrong('TYPE_INT64');
  if (shape === 'int') return Number.isSafeInteger(v) ? undefined : wrong('TYPE_INT32');
  if (shape === 'date')
    return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? undefined : wrong('date YYYY-MM-DD');
  if ('enum' in shape)
    return typeof v === 'string' && shape.enum.includes(v)
      ? undefined
      : wrong(`one of ${shape.enum.join('|')}`);
  if ('array' in shape) {
    if (!Array.isArray(v)) return wrong('TYPE_ARRAY');
    for (const [i, x] of v.entries()) {
      const p = validateShape(shape.array, x, `${path}[${i}]`);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) return wrong('TYPE_MESSAGE');
  for (const [k, x] of Object.entries(v)) {
    const sub = 'map' in shape ? shape.map : shape.object()[k];
    if (!sub) return `Unknown name "${k}" at '${path}': Cannot find field.`;
    const p = validateShape(sub, x, `${path}.${k}`);
    if (p) return p;
  }
  return undefined;
}
