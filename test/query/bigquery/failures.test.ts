import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type BigQueryTableSpec,
  createView,
  defineTable,
  ensureTable,
  estimateQuery,
  isDbkitError,
  jobCosts,
  runGuarded,
  tableCosts,
  toTableResource,
} from '../../../src/query/index.js';
import { type FakeFault, type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

// Failure matrix: every API call the BigQuery helpers make x every failure the client hands back without retrying
// (its default retries 408/429/5xx and rate limits; those are tested below by recovery). Each cell: settles in
// bounded time, E_BQ_REQUEST naming the operation with the client's ApiError (code, reason) as cause, nothing
// written, and the same client works for the next call.

const run = promisify(execFile);
let fake: FakeGcpRest;
let bq: BigQuery;
beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
});
afterAll(() => fake.close());

const spec = {
  dataset: 'analytics',
  table: 'events',
  schema: [
    { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'client_id', type: 'STRING' },
  ],
  partitioning: { type: 'DAY', field: 'ts' },
  clustering: ['client_id'],
} satisfies BigQueryTableSpec;
const existing = () => fake.putTable('analytics', 'events', toTableResource(defineTable(spec)) as never);

beforeEach(() => {
  fake.requests.length = 0;
  fake.jobLog.length = 0;
  fake.tables.clear();
  fake.datasets.clear();
  fake.datasets.set('analytics', { datasetReference: { datasetId: 'analytics' } });
  fake.onQuery('FROM analytics.events', { tables: { 'analytics.events': 1000 }, rows: [] });
  fake.onQuery('INFORMATION_SCHEMA.JOBS_BY_PROJECT', { rows: [] });
});

interface Method {
  name: string;
  operation: string;
  at: { method: string; path: string };
  arrange?: () => void;
  act: () => Promise<unknown>;
}

const methods: Method[] = [
  {
    name: 'ensureTable reading the table',
    operation: 'tables.get',
    at: { method: 'GET', path: '/tables/events' },
    act: () => ensureTable(bq, spec),
  },
  {
    name: 'ensureTable creating the table',
    operation: 'tables.insert',
    at: { method: 'POST', path: '/datasets/analytics/tables' },
    act: () => ensureTable(bq, spec),
  },
  {
    name: 'ensureTable patching the table',
    operation: 'tables.patch',
    at: { method: 'PATCH', path: '/tables/events' },
    arrange: existing,
    act: () => ensureTable(bq, { ...spec, description: 'raw events' }),
  },
  {
    name: 'createView inserting the view',
    operation: 'tables.insert',
    at: { method: 'POST', path: '/datasets/analytics/tables' },
    act: () => createView(bq, { dataset: 'analytics', name: 'v', sql: 'SELECT 1' }),
  },
  {
    name: 'createView reading the existing view',
    operation: 'tables.get',
    at: { method: 'GET', path: '/tables/v' },
    arrange: () => fake.putTable('analytics', 'v', { view: { query: 'SELECT 0', useLegacySql: false } }),
    act: () => createView(bq, { dataset: 'analytics', name: 'v', sql: 'SELECT 1' }),
  },
  {
    name: 'estimateQuery dry-running',
    operation: 'jobs.insert (dry run)',
    at: { method: 'POST', path: '/jobs' },
    act: () => estimateQuery(bq, 'SELECT * FROM analytics.events'),
  },
  {
    name: 'runGuarded dry-running',
    operation: 'jobs.insert (dry run)',
    at: { method: 'POST', path: '/jobs' },
    act: () => runGuarded(bq, 'SELECT * FROM analytics.events', { labels: { team: 'data' } }),
  },
  {
    name: 'runGuarded running',
    operation: 'jobs.query',
    at: { method: 'POST', path: '/queries' },
    act: () => runGuarded(bq, 'SELECT * FROM analytics.events', { labels: { team: 'data' } }),
  },
  {
    name: 'tableCosts listing the tables',
    operation: 'tables.list',
    at: { method: 'GET', path: '/datasets/analytics/tables' },
    arrange: existing,
    act: () => tableCosts(bq, 'analytics'),
  },
  {
    name: 'tableCosts reading a table',
    operation: 'tables.get',
    at: { method: 'GET', path: '/tables/events' },
    arrange: existing,
    act: () => tableCosts(bq, 'analytics'),
  },
  {
    name: 'jobCosts querying INFORMATION_SCHEMA',
    operation: 'jobs.query',
    at: { method: 'POST', path: '/queries' },
    act: () => jobCosts(bq, { region: 'us' }),
  },
];

const kinds: Array<{ status: number; reason: string }> = [
  { status: 400, reason: 'invalid' },
  { status: 403, reason: 'accessDenied' },
  { status: 403, reason: 'quotaExceeded' },
  { status: 401, reason: 'authError' },
];

const state = () =>
  structuredClone({ tables: [...fake.tables], datasets: [...fake.datasets], jobs: fake.jobLog });

describe('BigQuery helpers under API failures', () => {
  for (const m of methods) {
    for (const k of kinds) {
      it(`${m.name} x ${k.status} ${k.reason}`, async () => {
        m.arrange?.();
        const before = state();
        fake.fail(m.at, k as FakeFault);
        const started = Date.now();
        const err = await m.act().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(isDbkitError(err, 'E_BQ_REQUEST'), String(err)).toBe(true);
        const e = err as Error & {
          context: { operation: string };
          cause: { code: number; errors: Array<{ reason: string }> };
        };
        expect(e.context.operation).toBe(m.operation);
        expect(e.cause).toMatchObject({ code: k.status, errors: [{ reason: k.reason }] });
        expect(fake.requests.filter((q) => q.status === k.status)).toHaveLength(1); // not retried
        expect(state()).toEqual(before);
        // The client is not left broken: the same call succeeds once the API does.
        await expect(m.act()).resolves.toBeDefined();
      });
    }
  }
});

describe('failures the client retries by default', () => {
  it('recovers from a transient 503 on the guarded run: one job, billed once', async () => {
    fake.fail({ method: 'POST', path: '/queries' }, { status: 503, reason: 'backendError' });
    const r = await runGuarded(bq, 'SELECT * FROM analytics.events', { labels: { team: 'data' } });
    expect(r.totalBytesBilled).toBe(10 * 2 ** 20);
    expect(fake.sent('POST', '/queries').map((q) => q.status)).toEqual([503, 200]);
    expect(fake.jobLog).toHaveLength(1);
  }, 30_000);

  it('converges when tables.insert succeeded but its response was lost (retry gets 409, table re-read)', async () => {
    fake.fail({ method: 'POST', path: '/datasets/analytics/tables' }, 'drop-response');
    const r = await ensureTable(bq, spec);
    expect(r).toEqual({ action: 'unchanged', table: 'analytics.events' });
    expect(fake.sent('POST', '/tables').map((q) => q.status)).toEqual([0, 409]);
    expect(fake.tables.get('analytics.events')).toMatchObject(toTableResource(defineTable(spec)));
    expect(fake.sent('PATCH', '/tables')).toHaveLength(0);
  }, 30_000);

  it('keeps the rows of a paged run when the jobs.get for its bill fails: totalBytesBilled is null', async () => {
    const rows = Array.from({ length: 4 }, (_, i) => ({ id: i }));
    fake.onQuery('FROM analytics.paged', {
      tables: { 'analytics.paged': 1 },
      schema: [{ name: 'id', type: 'INTEGER' }],
      rows,
      pageSize: 2,
    });
    fake.fail({ method: 'GET', path: '/jobs/' }, { status: 403, reason: 'accessDenied' });
    const r = await runGuarded<{ id: number }>(bq, 'SELECT id FROM analytics.paged');
    expect(r.rows).toEqual(rows);
    expect(r).toMatchObject({ totalBytesBilled: null, billedCostUsd: null, cacheHit: false });
    expect(fake.jobLog.map((j) => j.totalBytesBilled)).toEqual([10 * 2 ** 20]);
  });
});

describe('a host whose BigQuery endpoint drops every connection', () => {
  it('gets a rejected promise from every helper, and nothing escapes them (child process)', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/connections-dropped.ts', import.meta.url));
    const child = await run(process.execPath, ['--import', 'tsx', fixture], { timeout: 60_000 }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(child.stderr).not.toMatch(/unhandledRejection|uncaughtException/);
    expect(child.code).toBe(0);
    const lines = child.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.slice(0, -1).sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
      ['createView', 'ensureTable', 'estimateQuery', 'jobCosts', 'runGuarded', 'tableCosts'].map((name) => ({
        name,
        settled: 'rejected',
        code: 'E_BQ_REQUEST',
        cause: 'ECONNRESET',
      })),
    );
    // Each call was tried twice (the client's retry), none more.
    expect(lines.at(-1)).toEqual({ requests: 12 });
  }, 90_000);
});
