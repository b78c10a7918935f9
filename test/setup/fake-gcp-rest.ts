/**
 * A request-checking stand-in for the few BigQuery v2 and Cloud Storage JSON API endpoints dbkit uses. There is no
 * BigQuery emulator that runs offline, so tests drive the REAL @google-cloud/bigquery and @google-cloud/storage
 * clients at this server (apiEndpoint). It is not a mock of dbkit: it knows nothing about dbkit and imports nothing
 * from src/. Every BigQuery request body is checked
 *  - for shape against the v2 schema read from the types.d.ts shipped in @google-cloud/bigquery
 *    (bigquery-rest-schema.ts: unknown field or wrong JSON type -> 400, like the API's JSON parser), and
 *  - for the API's documented rules (bigquery-rest-rules.ts: names, lengths, enums, modes, RANGE, partitioning,
 *    clustering, labels, int64 encodings, patch evolution -> 400 `invalid`),
 * then applied to in-memory datasets, tables and buckets, and kept in `requests` so tests can assert exactly what
 * was sent. SQL is not executed: tests register results per query with `onQuery`; a dry run reports the registered
 * bytes, a run is billed by the on-demand rule (10 MiB minimum per referenced table) and enforces maximumBytesBilled.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { PassThroughClient } from 'google-auth-library';
import {
  ApiRuleError,
  checkDataset,
  checkJob,
  checkQueryRequest,
  checkTableResource,
  onDemandBytesBilled,
} from './bigquery-rest-rules.js';
import { checkRestValue, loadBigQueryRestSchema } from './bigquery-rest-schema.js';
import { BUCKET_SHAPE, checkShape } from './storage-rest-shape.js';

/** One request as the server received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. /bigquery/v2/projects/p/datasets/d/tables. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** The error the server answered with, if any: `{ reason, message }`. */
  error?: { reason: string; message: string };
  /** The Authorization header, if the client sent one. */
  authorization?: string;
}

/** What a registered query returns. */
export interface FakeQueryResult {
  /** Bytes a dry run reports and a run processes. @default sum of `tables`, else 0 */
  bytesProcessed?: number;
  /** Bytes read per referenced table (`dataset.table`): the dry run lists them in referencedTables, billing rounds each. */
  tables?: Record<string, number>;
  /** Bytes the run bills, overriding the on-demand rule (e.g. the data grew after the dry run). */
  bytesBilled?: number;
  /** Served from the query cache: the run processes and bills 0 bytes; the dry run reports cacheHit too. */
  cacheHit?: boolean;
  /** statistics.query.totalBytesProcessedAccuracy of the dry run. @default 'PRECISE' */
  accuracy?: string;
  statementType?: string;
  schema?: Array<{ name: string; type: string; mode?: string }>;
  rows?: Array<Record<string, unknown>>;
  /** Rows per result page: jobs.query returns the first page and a pageToken, getQueryResults the rest. */
  pageSize?: number;
  /** Runs (not dry runs) call this to change the in-memory state (DDL). */
  run?: (fake: FakeGcpRest) => void;
}

/** The request a query handler sees. */
export interface FakeQueryRequest {
  sql: string;
  dryRun: boolean;
  /** Named query parameters, values as sent (`parameterValue.value`). */
  params: Record<string, unknown>;
  labels: Record<string, string>;
}

/** A completed (non-dry-run) query job, as INFORMATION_SCHEMA.JOBS would list it. */
export interface FakeJobRecord {
  jobId: string;
  query: string;
  labels: Record<string, string>;
  statementType: string;
  totalBytesProcessed: number;
  totalBytesBilled: number;
  cacheHit: boolean;
  creationTime: Date;
}

/**
 * An injected failure: an API error response; `reset`: the connection dropped before the request is handled;
 * `drop-response`: the request is handled (state changes) but the connection drops before the response.
 */
export type FakeFault = { status: number; reason: string; message?: string } | 'reset' | 'drop-response';

type Json = Record<string, unknown>;
type Handler = FakeQueryResult | ((sql: string, request: FakeQueryRequest) => FakeQueryResult);

export interface FakeGcpRest {
  url: string;
  projectId: string;
  requests: RecordedRequest[];
  datasets: Map<string, Json>;
  /** Keyed `dataset.table`. */
  tables: Map<string, Json>;
  buckets: Map<string, Json>;
  /** Query jobs that ran, oldest first. */
  jobLog: FakeJobRecord[];
  /**
   * Makes the next `times` requests whose method is `method` (any, if omitted) and whose path contains `path` fail
   * with `fault` before the server looks at them.
   */
  fail(match: { method?: string; path: string }, fault: FakeFault, times?: number): void;
  /** Registers the result of queries containing `match` (or matching it); the latest registration wins. */
  onQuery(match: string | RegExp, result: Handler): void;
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

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
};

// QueryParameterValue.value is a string in the discovery document, but the Node client sends numbers and booleans
// as JSON numbers and booleans there (bigquery.js valueToQueryParameter_) and the API's JSON parser accepts them.
// Everywhere else a JSON number for a string field is refused, int64 fields included: the discovery document
// encodes int64 as decimal strings and dbkit is held to that.
const LENIENT = new Set(['QueryParameterValue.value']);

/** Shape check against the shipped v2 schema: `type` is a types.d.ts resource name without the `I`. */
function checkRest(type: string, body: unknown, what: string): void {
  const problem = checkRestValue(loadBigQueryRestSchema(), { kind: 'ref', name: type }, body, what, LENIENT);
  if (problem) throw new HttpError(400, 'invalid', problem);
}

function encodeValue(v: unknown, type: string): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => ({ v: encodeValue(x, type) }));
  if (v instanceof Date) return type === 'TIMESTAMP' ? String(v.getTime() * 1000) : v.toISOString();
  return String(v);
}

function namedParams(params: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of (params as Json[] | undefined) ?? [])
    if (typeof p.name === 'string') out[p.name] = (p.parameterValue as Json | undefined)?.value;
  return out;
}

/** Starts the fake on a free 127.0.0.1 port. */
export async function startFakeGcpRest(projectId = 'dbkit-test'): Promise<FakeGcpRest> {
  const handlers: Array<{ match: string | RegExp; result: Handler }> = [];
  const faults: Array<{ method: string | undefined; path: string; fault: FakeFault; left: number }> = [];
  const jobs = new Map<string, { job: Json; result: FakeQueryResult }>();
  let fake: FakeGcpRest;

  const resolveQuery = (sql: string, request: FakeQueryRequest): FakeQueryResult => {
    // The latest registration wins, so a test can override what an earlier one registered.
    const h = handlers.findLast((x) =>
      typeof x.match === 'string' ? sql.includes(x.match) : x.match.test(sql),
    );
    if (!h) throw new HttpError(400, 'invalidQuery', `fake-gcp-rest: no result registered for query: ${sql}`);
    return typeof h.result === 'function' ? h.result(sql, request) : h.result;
  };
  const processedOf = (r: FakeQueryResult) =>
    r.bytesProcessed ?? Object.values(r.tables ?? {}).reduce((s, b) => s + b, 0);
  const billedFor = (r: FakeQueryResult) => {
    if (r.cacheHit) return 0; // cached results are free (https://cloud.google.com/bigquery/docs/cached-results)
    if (r.bytesBilled !== undefined) return r.bytesBilled;
    return onDemandBytesBilled(r.tables ? Object.values(r.tables) : [processedOf(r)]);
  };
  const runQuery = (r: FakeQueryResult, maximumBytesBilled: unknown) => {
    const billed = billedFor(r);
    if (maximumBytesBilled !== undefined && billed > Number(maximumBytesBilled))
      throw new HttpError(
        400,
        'bytesBilledLimitExceeded',
        `Query exceeded limit for bytes billed: ${maximumBytesBilled}. ${billed} or higher required.`,
      );
    r.run?.(fake);
  };
  const queryStats = (r: FakeQueryResult, dry: boolean) => {
    const processed = !dry && r.cacheHit ? 0 : processedOf(r);
    return {
      totalBytesProcessed: String(processed),
      query: {
        totalBytesProcessed: String(processed),
        totalBytesProcessedAccuracy: r.accuracy ?? 'PRECISE',
        statementType: r.statementType ?? 'SELECT',
        cacheHit: r.cacheHit ?? false,
        referencedTables: Object.keys(r.tables ?? {}).map((t) => {
          const [datasetId, tableId] = t.split('.');
          return { projectId, datasetId, tableId };
        }),
        // A dry run bills nothing and says so: totalBytesBilled "0" (r-dbi/bigrquery#402).
        totalBytesBilled: String(dry ? 0 : billedFor(r)),
      },
    };
  };
  const page = (r: FakeQueryResult, offset: number, max: number | undefined) => {
    const fields = r.schema ?? [];
    const all = r.rows ?? [];
    const size = Math.min(max ?? Number.POSITIVE_INFINITY, r.pageSize ?? Number.POSITIVE_INFINITY);
    const rows = all
      .slice(offset, offset + size)
      .map((row) => ({ f: fields.map((f) => ({ v: encodeValue(row[f.name], f.type) })) }));
    const next = offset + rows.length;
    return {
      schema: { fields },
      rows,
      totalRows: String(all.length),
      ...(next < all.length ? { pageToken: String(next) } : {}),
      totalBytesProcessed: String(r.cacheHit ? 0 : processedOf(r)),
      jobComplete: true,
      cacheHit: r.cacheHit ?? false,
    };
  };
  const record = (jobId: string, sql: string, labels: unknown, r: FakeQueryResult) =>
    fake.jobLog.push({
      jobId,
      query: sql,
      labels: { ...(labels as Record<string, string> | undefined) },
      statementType: r.statementType ?? 'SELECT',
      totalBytesProcessed: r.cacheHit ? 0 : processedOf(r),
      totalBytesBilled: billedFor(r),
      cacheHit: r.cacheHit ?? false,
      creationTime: new Date(),
    });
  const notFound = (what: string) => new HttpError(404, 'notFound', `Not found: ${what}`);
  const tableKey = (d: string, t: string) => `${d}.${t}`;

  const bigqueryRoute = (
    method: string,
    parts: string[],
    body: Json | undefined,
    query: Record<string, string>,
  ): unknown => {
    // parts after /bigquery/v2: projects/:p/...
    const [, project, kind, a, sub, b] = parts;
    if (kind === 'datasets' && a === undefined && method === 'POST') {
      checkRest('Dataset', body, 'dataset');
      checkDataset(body ?? {});
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
      checkRest('Table', body, 'table');
      const tableId = (body?.tableReference as Json | undefined)?.tableId as string;
      checkTableResource(body ?? {}, String(tableId));
      if (fake.tables.has(tableKey(a, tableId)))
        throw new HttpError(409, 'duplicate', `Already Exists: Table ${project}:${a}.${tableId}`);
      fake.putTable(a, tableId, body ?? {});
      return fake.tables.get(tableKey(a, tableId));
    }
    if (kind === 'datasets' && a && sub === 'tables' && b) {
      const t = fake.tables.get(tableKey(a, b));
      if (!t) throw notFound(`Table ${project}:${a}.${b}`);
      if (method === 'GET') return t;
      checkRest('Table', body, 'table');
      // Validate the table as it would be after the patch; apply only if all of it is valid.
      const next = structuredClone(t);
      applyTablePatch(next, body ?? {});
      checkTableResource(next, b);
      fake.tables.set(tableKey(a, b), next);
      return next;
    }
    if (kind === 'jobs' && a === undefined && method === 'POST') {
      checkRest('Job', body, 'job');
      checkJob(body ?? {});
      const config = body?.configuration as Json;
      const q = config?.query as Json | undefined;
      if (!q) throw new HttpError(400, 'invalid', 'fake-gcp-rest: only query jobs are implemented');
      const ref: Json = { location: 'US', ...(body?.jobReference as Json) };
      const dry = config.dryRun === true;
      const sql = q.query as string;
      const labels = (config.labels as Record<string, string> | undefined) ?? {};
      const r = resolveQuery(sql, { sql, dryRun: dry, params: namedParams(q.queryParameters), labels });
      if (!dry) runQuery(r, q.maximumBytesBilled);
      const job = {
        ...body,
        kind: 'bigquery#job',
        id: `${project}:US.${ref.jobId}`,
        jobReference: ref,
        status: { state: 'DONE' },
        statistics: queryStats(r, dry),
      };
      if (!dry) {
        jobs.set(String(ref.jobId), { job, result: r });
        record(String(ref.jobId), sql, labels, r);
      }
      return job;
    }
    if (kind === 'jobs' && a && method === 'GET') {
      const j = jobs.get(a);
      if (!j) throw notFound(`Job ${project}:${a}`);
      return j.job;
    }
    if (kind === 'queries' && a === undefined && method === 'POST') {
      checkRest('QueryRequest', body, 'query request');
      checkQueryRequest(body ?? {});
      const sql = body?.query as string;
      const labels = (body?.labels as Record<string, string> | undefined) ?? {};
      const dry = body?.dryRun === true;
      const r = resolveQuery(sql, { sql, dryRun: dry, params: namedParams(body?.queryParameters), labels });
      const jobReference = { projectId: project, jobId: randomUUID(), location: 'US' };
      if (dry) return { kind: 'bigquery#queryResponse', jobReference, ...page({ ...r, rows: [] }, 0, 0) };
      runQuery(r, body?.maximumBytesBilled);
      const stats = queryStats(r, false);
      const job = { kind: 'bigquery#job', jobReference, status: { state: 'DONE' }, statistics: stats };
      jobs.set(jobReference.jobId, { job, result: r });
      record(jobReference.jobId, sql, labels, r);
      return {
        kind: 'bigquery#queryResponse',
        jobReference,
        ...page(r, 0, body?.maxResults as number | undefined),
        // jobs.query, unlike getQueryResults, reports the bytes billed (QueryResponse.totalBytesBilled).
        totalBytesBilled: stats.query.totalBytesBilled,
      };
    }
    if (kind === 'queries' && a && method === 'GET') {
      const j = jobs.get(a);
      if (!j) throw notFound(`Job ${project}:${a}`);
      const offset = Number(query.pageToken ?? query.startIndex ?? 0);
      const max = query.maxResults === undefined ? undefined : Number(query.maxResults);
      return {
        kind: 'bigquery#getQueryResultsResponse',
        jobReference: j.job.jobReference,
        ...page(j.result, offset, max),
      };
    }
    throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${method} ${parts.join('/')}`);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = Buffer.concat(chunks).toString('utf8');
      const method = req.method ?? 'GET';
      const rec: RecordedRequest = {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: undefined,
        status: 200,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      };
      fake.requests.push(rec);
      const injected = faults.find(
        (f) => f.left > 0 && (f.method === undefined || f.method === method) && url.pathname.includes(f.path),
      );
      if (injected) injected.left--;
      if (injected?.fault === 'reset') {
        rec.status = 0;
        rec.error = { reason: 'reset', message: 'connection dropped by the fake' };
        req.socket.destroy();
        return;
      }
      let status = 200;
      let out: unknown;
      try {
        if (injected && typeof injected.fault === 'object') {
          const f = injected.fault;
          throw new HttpError(
            f.status,
            f.reason,
            f.message ?? `fake-gcp-rest: injected ${f.status} ${f.reason}`,
          );
        }
        if (raw) {
          try {
            rec.body = JSON.parse(raw);
          } catch {
            throw new HttpError(400, 'parseError', 'Parse Error');
          }
        }
        const parts = url.pathname.split('/').filter(Boolean);
        const body = rec.body as Json | undefined;
        if (parts[0] === 'bigquery' && parts[1] === 'v2')
          out = bigqueryRoute(method, parts.slice(2), body, rec.query);
        else if (parts[0] === 'storage' && parts[1] === 'v1')
          out = storageRoute(fake, method, parts.slice(2), body, rec.query);
        else throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${url.pathname}`);
      } catch (e) {
        const err =
          e instanceof HttpError
            ? e
            : e instanceof ApiRuleError
              ? new HttpError(e.status, e.reason, e.message)
              : new HttpError(500, 'backendError', String(e));
        status = err.status;
        rec.error = { reason: err.reason, message: err.message };
        out = {
          error: {
            code: err.status,
            message: err.message,
            errors: [{ domain: 'global', reason: err.reason, message: err.message }],
            status: STATUS_TEXT[err.status] ?? 'INTERNAL',
          },
        };
      }
      rec.status = status;
      if (injected?.fault === 'drop-response') {
        rec.status = 0;
        rec.error = {
          reason: 'drop-response',
          message: `handled with ${status}, response dropped by the fake`,
        };
        req.socket.destroy();
        return;
      }
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
    jobLog: [],
    fail(match, fault, times = 1) {
      faults.push({ method: match.method, path: match.path, fault, left: times });
    },
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

function storageRoute(
  fake: FakeGcpRest,
  method: string,
  parts: string[],
  body: Json | undefined,
  query: Record<string, string>,
): unknown {
  const [b, name] = parts;
  if (b !== 'b' || !name) throw new HttpError(404, 'notFound', `fake-gcp-rest: no route ${parts.join('/')}`);
  const bucket = fake.buckets.get(name);
  if (!bucket) throw new HttpError(404, 'notFound', 'The specified bucket does not exist.');
  if (method === 'GET') return bucket;
  if (method !== 'PATCH') throw new HttpError(405, 'invalid', `${method} not implemented`);
  const problem = checkShape(BUCKET_SHAPE, body, 'bucket');
  if (problem) throw new HttpError(400, 'invalid', `Invalid JSON payload received. ${problem}`);
  const expected = query.ifMetagenerationMatch;
  if (expected !== undefined && expected !== String(bucket.metageneration ?? 1))
    throw new HttpError(
      412,
      'conditionNotMet',
      'At least one of the pre-conditions you specified did not hold.',
    );
  const rules = ((body?.lifecycle as Json | undefined)?.rule as Json[] | undefined) ?? [];
  if (rules.length > 100) throw new HttpError(400, 'invalid', 'A bucket holds at most 100 lifecycle rules.');
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
  if (
    patch.rangePartitioning !== undefined &&
    JSON.stringify(patch.rangePartitioning) !== JSON.stringify(t.rangePartitioning)
  )
    throw new HttpError(400, 'invalid', 'Cannot change the range partitioning of a table.');
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
  const bad = (m: string) => new HttpError(400, 'invalid', `Provided Schema does not match Table. ${m}`);
  for (const l of live) {
    const n = next.find((x) => x.name === l.name);
    const path = `${prefix}${l.name}`;
    if (!n) throw bad(`Field ${path} is missing in new schema`);
    if (n.type !== l.type) throw bad(`Field ${path} has changed type from ${l.type} to ${n.type}`);
    const lm = l.mode ?? 'NULLABLE';
    const nm = n.mode ?? 'NULLABLE';
    if (lm !== nm && !(lm === 'REQUIRED' && nm === 'NULLABLE'))
      throw bad(`Field ${path} has changed mode from ${lm} to ${nm}`);
    checkSchemaEvolution((l.fields as Json[]) ?? [], (n.fields as Json[]) ?? [], `${path}.`);
  }
  for (const n of next)
    if (!live.some((l) => l.name === n.name) && n.mode === 'REQUIRED')
      throw bad(`Cannot add required field ${n.name}`);
}
