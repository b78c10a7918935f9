import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BigQueryTableSpec, defineTable, ensureTable, isDbkitError } from '../../../src/query/index.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

const spec = {
  dataset: 'analytics',
  table: 'events',
  schema: [
    { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'client_id', type: 'STRING' },
    { name: 'service', type: 'STRING' },
  ],
  partitioning: { type: 'DAY', field: 'ts' },
  clustering: ['client_id'],
  labels: { team: 'data' },
} satisfies BigQueryTableSpec;

let fake: FakeGcpRest;
let bq: BigQuery;
const P = '/bigquery/v2/projects/dbkit-test';

beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.tables.clear();
  fake.datasets.clear();
});

describe('ensureTable', () => {
  it('creates the dataset and the table when absent, sending exactly these requests', async () => {
    const r = await ensureTable(bq, defineTable(spec));
    expect(r).toEqual({ action: 'created', table: 'analytics.events', datasetCreated: true });
    expect(fake.requests.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      `GET ${P}/datasets/analytics/tables/events 404`,
      `POST ${P}/datasets/analytics/tables 404`,
      `POST ${P}/datasets 200`,
      `POST ${P}/datasets/analytics/tables 200`,
    ]);
    expect(fake.requests[2]?.body).toEqual({ datasetReference: { datasetId: 'analytics' } });
    expect(fake.requests[3]?.body).toEqual({
      schema: {
        fields: [
          { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
          { name: 'client_id', type: 'STRING', mode: 'NULLABLE' },
          { name: 'service', type: 'STRING', mode: 'NULLABLE' },
        ],
      },
      timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '7776000000' },
      requirePartitionFilter: false,
      clustering: { fields: ['client_id'] },
      labels: { team: 'data' },
      tableReference: { datasetId: 'analytics', projectId: 'dbkit-test', tableId: 'events' },
    });
  });

  it('is unchanged the second time and sends only the GET', async () => {
    await ensureTable(bq, spec);
    fake.requests.length = 0;
    expect(await ensureTable(bq, spec)).toEqual({ action: 'unchanged', table: 'analytics.events' });
    expect(fake.requests.map((q) => q.method)).toEqual(['GET']);
  });

  it('patches clustering, expiration, requirePartitionFilter, labels, description and added columns', async () => {
    await ensureTable(bq, spec);
    fake.requests.length = 0;
    const next = {
      ...spec,
      schema: [...spec.schema, { name: 'provider', type: 'STRING' }],
      partitioning: { type: 'DAY', field: 'ts', expirationDays: 30 },
      clustering: ['client_id', 'service', 'provider'],
      requirePartitionFilter: true,
      labels: { team: 'data', cost_center: 'cc-42' },
      description: 'raw events',
    } satisfies BigQueryTableSpec;
    const r = await ensureTable(bq, next);
    expect(r).toEqual({
      action: 'patched',
      table: 'analytics.events',
      fields: [
        'schema',
        'clustering',
        'partitionExpiration',
        'requirePartitionFilter',
        'labels',
        'description',
      ],
      addedColumns: ['provider'],
    });
    const patches = fake.sent('PATCH', '/tables/events');
    expect(patches).toHaveLength(1);
    expect(patches[0]?.status).toBe(200);
    expect(patches[0]?.body).toEqual({
      schema: {
        fields: [
          { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
          { name: 'client_id', type: 'STRING', mode: 'NULLABLE' },
          { name: 'service', type: 'STRING', mode: 'NULLABLE' },
          { name: 'provider', type: 'STRING', mode: 'NULLABLE' },
        ],
      },
      clustering: { fields: ['client_id', 'service', 'provider'] },
      timePartitioning: { type: 'DAY', field: 'ts', expirationMs: String(30 * 86_400_000) },
      requirePartitionFilter: true,
      labels: { cost_center: 'cc-42' },
      description: 'raw events',
    });
    // The patched table now matches: a third run is a no-op.
    expect((await ensureTable(bq, next)).action).toBe('unchanged');
  });

  it('relaxes REQUIRED to NULLABLE with a patch and clears the expiration with null', async () => {
    await ensureTable(bq, spec);
    const relaxed = {
      ...spec,
      schema: [{ name: 'ts', type: 'TIMESTAMP', mode: 'NULLABLE' }, ...spec.schema.slice(1)],
      partitioning: { type: 'DAY', field: 'ts', expirationDays: null },
    } satisfies BigQueryTableSpec;
    const r = await ensureTable(bq, relaxed);
    expect(r).toMatchObject({
      action: 'patched',
      fields: ['schema', 'partitionExpiration'],
      addedColumns: [],
    });
    expect(fake.sent('PATCH', '/tables/events')[0]?.body).toMatchObject({
      timePartitioning: { type: 'DAY', field: 'ts', expirationMs: null },
    });
    expect(fake.tables.get('analytics.events')?.timePartitioning).toEqual({ type: 'DAY', field: 'ts' });
    expect((await ensureTable(bq, relaxed)).action).toBe('unchanged');
  });

  it('returns a rebuild plan, without writing, when partitioning, a type or a column changes', async () => {
    await ensureTable(bq, spec);
    fake.requests.length = 0;
    const next = {
      ...spec,
      schema: [
        { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
        { name: 'day', type: 'DATE' },
        { name: 'client_id', type: 'INT64' },
      ],
      partitioning: { type: 'DAY', field: 'day' },
    } satisfies BigQueryTableSpec;
    const r = await ensureTable(bq, next, { rebuildSuffix: '20260101' });
    if (r.action !== 'rebuild-needed') throw new Error(`expected rebuild-needed, got ${r.action}`);
    expect(r.plan.reasons).toEqual([
      'partitioning changes DAY on ts -> DAY on day',
      'column client_id changes type STRING -> INTEGER',
      'column service was removed',
    ]);
    expect(r.plan.statements).toEqual([
      [
        'CREATE TABLE `analytics.events__rebuild_20260101` (`ts` TIMESTAMP NOT NULL, `day` DATE, `client_id` INT64)',
        'PARTITION BY `day`',
        'CLUSTER BY `client_id`',
        'OPTIONS (partition_expiration_days = 90, require_partition_filter = false, labels = [("team", "data")])',
        'AS SELECT `ts`, CAST(NULL AS DATE) AS `day`, CAST(`client_id` AS INT64) AS `client_id` FROM `analytics.events`',
      ].join('\n'),
      'ALTER TABLE `analytics.events` RENAME TO `events__previous_20260101`',
      'ALTER TABLE `analytics.events__rebuild_20260101` RENAME TO `events`',
    ]);
    expect(r.plan.previousTable).toBe('analytics.events__previous_20260101');
    expect(fake.requests.map((q) => q.method)).toEqual(['GET']);
  });

  it('applies the rebuild plan only when asked, statement by statement with labels', async () => {
    await ensureTable(bq, spec);
    const hourly = { ...spec, partitioning: { type: 'HOUR', field: 'ts' } } satisfies BigQueryTableSpec;
    fake.onQuery('CREATE TABLE `analytics.events__rebuild_x`', { statementType: 'CREATE_TABLE_AS_SELECT' });
    fake.onQuery('ALTER TABLE `analytics.events` RENAME', {
      statementType: 'ALTER_TABLE',
      run: (f) => {
        f.tables.set('analytics.events__previous_x', f.tables.get('analytics.events')!);
        f.tables.delete('analytics.events');
      },
    });
    fake.onQuery('ALTER TABLE `analytics.events__rebuild_x`', {
      statementType: 'ALTER_TABLE',
      run: (f) => f.putTable('analytics', 'events', { timePartitioning: { type: 'HOUR', field: 'ts' } }),
    });
    fake.requests.length = 0;
    const r = await ensureTable(bq, hourly, { applyRebuild: true, rebuildSuffix: 'x' });
    expect(r.action).toBe('rebuilt');
    const queries = fake.sent('POST', '/queries');
    expect(queries.map((q) => (q.body as { query: string }).query.split('\n')[0])).toEqual([
      'CREATE TABLE `analytics.events__rebuild_x` (`ts` TIMESTAMP NOT NULL, `client_id` STRING, `service` STRING)',
      'ALTER TABLE `analytics.events` RENAME TO `events__previous_x`',
      'ALTER TABLE `analytics.events__rebuild_x` RENAME TO `events`',
    ]);
    expect(queries.map((q) => q.status)).toEqual([200, 200, 200]);
    for (const q of queries) {
      expect(q.body).toMatchObject({
        useLegacySql: false,
        labels: { dbkit_operation: 'ensure-table-rebuild' },
      });
    }
    expect(String((queries[0]?.body as { query?: string } | undefined)?.query)).toContain(
      'PARTITION BY TIMESTAMP_TRUNC(`ts`, HOUR)',
    );
    expect(fake.tables.has('analytics.events__previous_x')).toBe(true);
  });

  it('converges when two callers create the same table at once (409 -> re-read)', async () => {
    fake.datasets.set('analytics', { datasetReference: { datasetId: 'analytics' } });
    const results = await Promise.all([ensureTable(bq, spec), ensureTable(bq, spec)]);
    expect(results.map((r) => r.action).sort()).toEqual(['created', 'unchanged']);
    expect(
      fake
        .sent('POST', '/tables')
        .map((q) => q.status)
        .sort(),
    ).toEqual([200, 409]);
    expect(fake.sent('PATCH', '/tables')).toHaveLength(0);
  });

  it('validates the spec before any request', async () => {
    const bad = { ...spec, clustering: ['client_id', 'service', 'ts', 'client_id', 'service'] };
    await expect(ensureTable(bq, bad as BigQueryTableSpec)).rejects.toSatisfy((e) =>
      isDbkitError(e, 'E_BQ_VALIDATION'),
    );
    expect(fake.requests).toHaveLength(0);
  });

  it('wraps API errors with the client error as cause', async () => {
    fake.datasets.set('analytics', { datasetReference: { datasetId: 'analytics' } });
    const err = await ensureTable(bq, spec, { createDataset: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(fake.sent('POST', '/tables')).toHaveLength(1);
    expect(err).toBeUndefined();
    fake.datasets.clear();
    fake.tables.clear();
    const missing = await ensureTable(bq, spec, { createDataset: false }).catch((e: unknown) => e);
    expect(isDbkitError(missing, 'E_BQ_REQUEST')).toBe(true);
    expect((missing as Error & { cause: { code: number } }).cause.code).toBe(404);
  });
});

describe('ensureTable with RANGE columns, YEAR and integer-range partitioning', () => {
  const yearly = {
    dataset: 'analytics',
    table: 'contracts',
    schema: [
      { name: 'signed', type: 'DATE', mode: 'REQUIRED' },
      { name: 'customer_id', type: 'INT64' },
      { name: 'validity', type: 'RANGE', rangeElementType: 'DATE' },
    ],
    partitioning: { type: 'YEAR', field: 'signed', expirationDays: null },
    clustering: ['validity', 'customer_id'],
  } satisfies BigQueryTableSpec;
  const ranged = {
    dataset: 'analytics',
    table: 'customers',
    schema: [
      { name: 'customer_id', type: 'INT64', mode: 'REQUIRED' },
      { name: 'name', type: 'STRING' },
    ],
    rangePartitioning: { field: 'customer_id', start: 0, end: 100_000, interval: 100 },
  } satisfies BigQueryTableSpec;

  it('creates them with bodies the v2 schema accepts, then finds them unchanged', async () => {
    expect((await ensureTable(bq, yearly)).action).toBe('created');
    expect((await ensureTable(bq, ranged)).action).toBe('created');
    expect(fake.sent('POST', '/tables').map((q) => q.status)).toEqual([404, 200, 200]);
    expect(fake.tables.get('analytics.contracts')).toMatchObject({
      timePartitioning: { type: 'YEAR', field: 'signed' },
      schema: {
        fields: expect.arrayContaining([expect.objectContaining({ rangeElementType: { type: 'DATE' } })]),
      },
    });
    expect(fake.tables.get('analytics.customers')?.rangePartitioning).toEqual({
      field: 'customer_id',
      range: { start: '0', end: '100000', interval: '100' },
    });
    expect((await ensureTable(bq, yearly)).action).toBe('unchanged');
    expect((await ensureTable(bq, ranged)).action).toBe('unchanged');
  });

  it('patches requirePartitionFilter on a range-partitioned table', async () => {
    await ensureTable(bq, ranged);
    const r = await ensureTable(bq, { ...ranged, requirePartitionFilter: true });
    expect(r).toMatchObject({ action: 'patched', fields: ['requirePartitionFilter'] });
    expect(fake.tables.get('analytics.customers')?.requirePartitionFilter).toBe(true);
  });

  it('plans a rebuild for a changed range or RANGE element type, with RANGE_BUCKET and RANGE<T> in the SQL', async () => {
    await ensureTable(bq, ranged);
    await ensureTable(bq, yearly);
    fake.requests.length = 0;
    const wider = await ensureTable(
      bq,
      { ...ranged, rangePartitioning: { ...ranged.rangePartitioning, end: 200_000 } },
      { rebuildSuffix: 's' },
    );
    if (wider.action !== 'rebuild-needed') throw new Error(`expected a rebuild, got ${wider.action}`);
    expect(wider.plan.reasons).toEqual([
      'range partitioning on customer_id [0, 100000) by 100 changes to range partitioning on customer_id [0, 200000) by 100',
    ]);
    expect(wider.plan.statements[0]).toContain(
      'PARTITION BY RANGE_BUCKET(`customer_id`, GENERATE_ARRAY(0, 200000, 100))',
    );
    const retyped = await ensureTable(
      bq,
      {
        ...yearly,
        schema: [
          ...yearly.schema.slice(0, 2),
          { name: 'validity', type: 'RANGE', rangeElementType: 'TIMESTAMP' },
        ],
      },
      { rebuildSuffix: 's' },
    );
    if (retyped.action !== 'rebuild-needed') throw new Error(`expected a rebuild, got ${retyped.action}`);
    expect(retyped.plan.reasons).toEqual(['column validity changes type RANGE<DATE> -> RANGE<TIMESTAMP>']);
    expect(retyped.plan.statements[0]).toContain('`validity` RANGE<TIMESTAMP>');
    expect(retyped.plan.statements[0]).toContain('PARTITION BY DATE_TRUNC(`signed`, YEAR)');
    expect(retyped.plan.statements[0]).toContain('CAST(`validity` AS RANGE<TIMESTAMP>) AS `validity`');
    expect(fake.requests.map((q) => q.method)).toEqual(['GET', 'GET']);
  });
});

describe('the fake REST server', () => {
  it('rejects an unknown field and a wrong type with 400 like the real API', async () => {
    fake.datasets.set('analytics', { datasetReference: { datasetId: 'analytics' } });
    const table = bq.dataset('analytics').table('t');
    const unknown = await bq
      .dataset('analytics')
      .createTable('t', {
        schema: { fields: [{ name: 'a', type: 'STRING' }] },
        clusteringFields: ['a'],
      } as never)
      .catch((e: unknown) => e as { code: number; message: string });
    expect(unknown).toMatchObject({ code: 400 });
    expect((unknown as { message: string }).message).toContain('Unknown name "clusteringFields"');
    const wrongType = await bq
      .dataset('analytics')
      .createTable('t', { schema: { fields: [{ name: 'a', type: 'TEXT' }] } })
      .catch((e: unknown) => e as { code: number; message: string });
    expect(wrongType).toMatchObject({ code: 400 });
    await expect(table.exists()).resolves.toEqual([false]);
  });

  it('serves jobs.insert, jobs.get and getQueryResults for a query job', async () => {
    fake.onQuery('SELECT 42', { schema: [{ name: 'x', type: 'INTEGER' }], rows: [{ x: 42 }] });
    const [job] = await bq.createQueryJob({ query: 'SELECT 42 AS x', labels: { team: 'data' } });
    const [rows] = await job.getQueryResults();
    expect(rows).toEqual([{ x: 42 }]);
    const [meta] = await job.getMetadata();
    expect(meta.status?.state).toBe('DONE');
    expect(
      fake.requests.map((q) => `${q.method} ${q.path.split('/').slice(5, 6).join('')} ${q.status}`),
    ).toEqual(['POST jobs 200', 'GET queries 200', 'GET jobs 200']);
  });
});
