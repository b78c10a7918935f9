import diagnosticsChannel from 'node:diagnostics_channel';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BIGQUERY_BUDGET_REFUSED_CHANNEL,
  BIGQUERY_QUERY_BILLED_CHANNEL,
  type BigQueryBudgetError,
  BYTES_PER_TIB,
  estimateQuery,
  isDbkitError,
  runGuarded,
} from '../../../src/query/index.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

let fake: FakeGcpRest;
let bq: BigQuery;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
  fake.onQuery('FROM analytics.small', {
    tables: { 'analytics.small': 2 * GiB },
    schema: [
      { name: 'client_id', type: 'STRING' },
      { name: 'n', type: 'INTEGER' },
    ],
    rows: [
      { client_id: 'a', n: 3 },
      { client_id: 'b', n: 5 },
    ],
  });
  fake.onQuery('FROM analytics.huge', { bytesProcessed: 3 * BYTES_PER_TIB });
  fake.onQuery('FROM external.sheet', { bytesProcessed: 1000, accuracy: 'LOWER_BOUND' });
  fake.onQuery('FROM script.upper', { bytesProcessed: 1000, accuracy: 'UPPER_BOUND' });
  // The data grew between the dry run and the run: the run would bill far more than estimated.
  fake.onQuery('FROM analytics.growing', { bytesProcessed: 20 * GiB, bytesBilled: 40 * GiB });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

async function budgetError(p: Promise<unknown>): Promise<BigQueryBudgetError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isDbkitError(e, 'E_BQ_BUDGET')) throw new Error(`expected E_BQ_BUDGET, got ${String(e)}`);
  return e as BigQueryBudgetError;
}

describe('estimateQuery', () => {
  it('dry-runs with labels and converts bytes to cost at $6.25/TiB by default', async () => {
    const est = await estimateQuery(bq, 'SELECT client_id FROM analytics.small', {
      labels: { team: 'growth' },
    });
    expect(est).toEqual({
      bytes: 2 * GiB,
      costUsd: (2 / 1024) * 6.25,
      totalBytesBilled: 2 * GiB,
      maxBytesBilled: 2 * GiB,
      billedCostUsd: (2 / 1024) * 6.25,
      cacheHit: false,
      referencedTables: ['dbkit-test.analytics.small'],
      accuracy: 'PRECISE',
      exact: true,
      statementType: 'SELECT',
      pricePerTiB: 6.25,
    });
    expect(fake.requests).toHaveLength(1);
    const body = fake.requests[0]?.body as { configuration: unknown };
    expect(fake.requests[0]?.path).toBe('/bigquery/v2/projects/dbkit-test/jobs');
    expect(body.configuration).toEqual({
      query: { query: 'SELECT client_id FROM analytics.small', useLegacySql: false },
      dryRun: true,
      labels: { team: 'growth' },
    });
  });

  it('uses a custom price', async () => {
    const est = await estimateQuery(bq, 'SELECT * FROM analytics.huge', { pricePerTiB: 5 });
    expect(est.costUsd).toBe(15);
  });

  it('refuses over maxBytes and over maxCostUsd with E_BQ_BUDGET', async () => {
    const e1 = await budgetError(
      estimateQuery(bq, 'SELECT * FROM analytics.huge', { maxBytes: BYTES_PER_TIB }),
    );
    expect(e1.reason).toBe('max-bytes');
    expect(e1.context).toMatchObject({ bytes: 3 * BYTES_PER_TIB, maxBytes: BYTES_PER_TIB });
    const e2 = await budgetError(estimateQuery(bq, 'SELECT * FROM analytics.huge', { maxCostUsd: 10 }));
    expect(e2.reason).toBe('max-cost');
    expect(e2.context.costUsd).toBe(18.75);
  });

  it('treats LOWER_BOUND and UPPER_BOUND estimates as unsafe unless allowed', async () => {
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    diagnosticsChannel.subscribe(BIGQUERY_BUDGET_REFUSED_CHANNEL, listener);
    try {
      const e = await budgetError(estimateQuery(bq, 'SELECT * FROM external.sheet'));
      expect(e.reason).toBe('inexact-estimate');
      expect(e.context.accuracy).toBe('LOWER_BOUND');
      expect((await budgetError(estimateQuery(bq, 'SELECT * FROM script.upper'))).reason).toBe(
        'inexact-estimate',
      );
    } finally {
      diagnosticsChannel.unsubscribe(BIGQUERY_BUDGET_REFUSED_CHANNEL, listener);
    }
    expect(seen).toHaveLength(2);
    const ok = await estimateQuery(bq, 'SELECT * FROM external.sheet', { allowInexactEstimate: true });
    expect(ok).toMatchObject({ bytes: 1000, accuracy: 'LOWER_BOUND', exact: false });
  });

  it('rejects bad labels before any request', async () => {
    await expect(
      estimateQuery(bq, 'SELECT 1 FROM analytics.small', { labels: { Team: 'x' } }),
    ).rejects.toSatisfy((e) => isDbkitError(e, 'E_BQ_VALIDATION'));
    expect(fake.requests).toHaveLength(0);
  });
});

describe('runGuarded', () => {
  it('runs with maximumBytesBilled = estimate + 10% and the labels, after the dry run', async () => {
    const r = await runGuarded<{ client_id: string; n: number }>(
      bq,
      'SELECT client_id, COUNT(*) AS n FROM analytics.small GROUP BY 1',
      { labels: { team: 'growth', feature: 'dashboard' }, maxBytes: 10 * GiB },
    );
    expect(r.rows).toEqual([
      { client_id: 'a', n: 3 },
      { client_id: 'b', n: 5 },
    ]);
    // The billing rule over 10% more bytes: 2.2 GiB rounded up to the MiB.
    const limit = Math.ceil((2 * GiB * 1.1) / MiB) * MiB;
    expect(r.maximumBytesBilled).toBe(limit);
    expect(r).toMatchObject({ totalBytesProcessed: 2 * GiB, totalBytesBilled: 2 * GiB, cacheHit: false });
    expect(r.billedCostUsd).toBeCloseTo((2 / 1024) * 6.25, 12);
    expect(fake.requests.map((q) => `${q.method} ${q.path.split('/').pop()} ${q.status}`)).toEqual([
      'POST jobs 200',
      'POST queries 200',
    ]);
    expect(fake.requests[1]?.body).toMatchObject({
      query: 'SELECT client_id, COUNT(*) AS n FROM analytics.small GROUP BY 1',
      useLegacySql: false,
      maximumBytesBilled: String(limit),
      labels: { team: 'growth', feature: 'dashboard' },
    });
  });

  it('never sets the limit above maxBytes and never below the 10 MiB minimum', async () => {
    const capped = await runGuarded(bq, 'SELECT 1 FROM analytics.small', {
      maxBytes: 2 * GiB + 1,
      headroom: 1,
    });
    expect(capped.maximumBytesBilled).toBe(2 * GiB + 1);
    fake.onQuery('FROM analytics.tiny', { bytesProcessed: 100, rows: [] });
    const tiny = await runGuarded(bq, 'SELECT 1 FROM analytics.tiny');
    expect(tiny.maximumBytesBilled).toBe(10 * 1024 * 1024);
  });

  it('refuses before running when over budget: only the dry run is sent', async () => {
    await budgetError(runGuarded(bq, 'SELECT * FROM analytics.huge', { maxCostUsd: 1 }));
    expect(fake.requests.map((q) => q.path.split('/').pop())).toEqual(['jobs']);
  });

  it('turns BigQuery stopping the query at maximumBytesBilled into E_BQ_BUDGET with the API error as cause', async () => {
    const e = await budgetError(runGuarded(bq, 'SELECT * FROM analytics.growing'));
    expect(e.reason).toBe('bytes-billed-limit');
    expect(e.context).toMatchObject({ bytes: 20 * GiB, maximumBytesBilled: 22 * GiB });
    expect((e.cause as { errors: Array<{ reason: string }> }).errors[0]?.reason).toBe(
      'bytesBilledLimitExceeded',
    );
    expect(fake.requests[1]?.status).toBe(400);
  });

  it('passes named query parameters in the REST shape', async () => {
    fake.onQuery('FROM analytics.params', { bytesProcessed: 10, rows: [] });
    await runGuarded(bq, 'SELECT 1 FROM analytics.params WHERE client_id = @c AND n > @n', {
      params: { c: 'acme', n: 3 },
    });
    const run = fake.requests[1]?.body as Record<string, unknown>;
    expect(run.parameterMode).toBe('named');
    expect(run.queryParameters).toEqual([
      { name: 'c', parameterType: { type: 'STRING' }, parameterValue: { value: 'acme' } },
      { name: 'n', parameterType: { type: 'INT64' }, parameterValue: { value: 3 } },
    ]);
  });
});

describe('what was billed', () => {
  const KiB = 1024;

  it('reports the bytes BigQuery billed: each referenced table rounded up to the MiB, at least 10 MiB', async () => {
    // Three small tables: 30 MiB billed for 3 KiB processed. With a 10 MiB limit (the old rule) this query failed.
    fake.onQuery('FROM shop.orders JOIN shop.items JOIN shop.users', {
      tables: { 'shop.orders': KiB, 'shop.items': 2 * KiB, 'shop.users': 0 },
      rows: [],
    });
    const r = await runGuarded(bq, 'SELECT 1 FROM shop.orders JOIN shop.items JOIN shop.users');
    expect(r.estimate).toMatchObject({
      bytes: 3 * KiB,
      totalBytesBilled: 30 * MiB,
      maxBytesBilled: 30 * MiB,
      referencedTables: ['dbkit-test.shop.orders', 'dbkit-test.shop.items', 'dbkit-test.shop.users'],
    });
    expect(r.maximumBytesBilled).toBe(30 * MiB);
    expect(r).toMatchObject({ totalBytesProcessed: 3 * KiB, totalBytesBilled: 30 * MiB, cacheHit: false });
    expect(r.totalBytesBilled).toBe(fake.jobLog.at(-1)?.totalBytesBilled);
    expect(r.billedCostUsd).toBeCloseTo((30 * MiB * 6.25) / BYTES_PER_TIB, 15);
  });

  it('bounds an uneven split between the estimate and its maximum, and bills the truth at the configured price', async () => {
    fake.onQuery('FROM big.events JOIN big.dims', { tables: { 'big.events': 5 * GiB + 1, 'big.dims': 100 } });
    const r = await runGuarded(bq, 'SELECT 1 FROM big.events JOIN big.dims', { pricePerTiB: 5 });
    const billed = 5 * GiB + MiB + 10 * MiB; // 5 GiB + 1 byte rounds up a MiB; the small table bills its 10 MiB
    expect(r.totalBytesBilled).toBe(billed);
    expect(r.estimate.totalBytesBilled).toBeLessThanOrEqual(billed);
    expect(r.estimate.maxBytesBilled).toBeGreaterThanOrEqual(billed);
    expect(r.maximumBytesBilled).toBeGreaterThanOrEqual(billed);
    expect(r.billedCostUsd).toBe((billed / BYTES_PER_TIB) * 5);
  });

  it('shows that a cached rerun cost nothing, and still allows an uncached run', async () => {
    fake.onQuery('FROM warm.cached', { tables: { 'warm.cached': 3 * GiB }, cacheHit: true, rows: [] });
    const est = await estimateQuery(bq, 'SELECT * FROM warm.cached');
    expect(est).toMatchObject({
      cacheHit: true,
      totalBytesBilled: 0,
      billedCostUsd: 0,
      maxBytesBilled: 3 * GiB,
    });
    const r = await runGuarded(bq, 'SELECT * FROM warm.cached');
    expect(r).toMatchObject({
      cacheHit: true,
      totalBytesBilled: 0,
      totalBytesProcessed: 0,
      billedCostUsd: 0,
    });
    // If the cache had expired in between, the run would still have fitted under the limit.
    expect(r.maximumBytesBilled).toBeGreaterThanOrEqual(3 * GiB);
  });

  it('reads the bill from jobs.get when the rows came in several pages', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ id: i }));
    fake.onQuery('FROM paged.rows', {
      tables: { 'paged.rows': 50 * MiB + 5 },
      schema: [{ name: 'id', type: 'INTEGER' }],
      rows,
      pageSize: 3,
    });
    const r = await runGuarded<{ id: number }>(bq, 'SELECT id FROM paged.rows');
    expect(r.rows).toEqual(rows);
    expect(r.totalBytesBilled).toBe(51 * MiB);
    expect(
      fake.requests.map(
        (q) =>
          `${q.method} ${q.path
            .split('/')
            .slice(5)
            .join('/')
            .replace(r.jobId ?? '?', ':id')}`,
      ),
    ).toEqual(['POST jobs', 'POST queries', 'GET queries/:id', 'GET queries/:id', 'GET jobs/:id']);
  });

  it('caps maximumBytesBilled at what maxCostUsd buys, so a run never bills more', async () => {
    fake.onQuery('FROM costly.table', { tables: { 'costly.table': 100 * GiB }, rows: [] });
    const cap = Math.floor((0.65 / 6.25) * BYTES_PER_TIB + 1e-6); // about 106.5 GiB, under 110 GiB of headroom
    const r = await runGuarded(bq, 'SELECT * FROM costly.table', { maxCostUsd: 0.65 });
    expect(r.maximumBytesBilled).toBe(cap);
    expect(r.billedCostUsd).toBeLessThanOrEqual(0.65);
    // The data grew: BigQuery stops it at the cap instead of billing $0.73.
    fake.onQuery('FROM costly.growing', { tables: { 'costly.growing': 100 * GiB }, bytesBilled: 120 * GiB });
    const e = await budgetError(runGuarded(bq, 'SELECT * FROM costly.growing', { maxCostUsd: 0.65 }));
    expect(e.reason).toBe('bytes-billed-limit');
    expect(e.context.maximumBytesBilled).toBe(cap);
  });

  it('refuses by the billed cost and bytes, 10 MiB minimums included, before running', async () => {
    fake.onQuery('FROM tiny.one', { tables: { 'tiny.one': 1000 }, rows: [] });
    // 1,000 bytes cost $5.7e-9 processed, but BigQuery bills 10 MiB: $6.0e-5.
    const cost = await budgetError(runGuarded(bq, 'SELECT * FROM tiny.one', { maxCostUsd: 1e-5 }));
    expect(cost.reason).toBe('max-cost');
    expect(cost.context).toMatchObject({ bytes: 1000, totalBytesBilled: 10 * MiB });
    const bytes = await budgetError(runGuarded(bq, 'SELECT * FROM tiny.one', { maxBytes: 5 * MiB }));
    expect(bytes.reason).toBe('max-bytes');
    expect(bytes.message).toMatch(
      /billed at least 10485760 bytes \(10 MiB minimum per referenced table\), over maxBytes 5242880/,
    );
    expect(fake.requests.map((q) => q.path.split('/').pop())).toEqual(['jobs', 'jobs']);
  });

  it('publishes each guarded run’s bill on dbkit:bigquery:query-billed', async () => {
    fake.onQuery('FROM chan.t', { tables: { 'chan.t': 12 * MiB + 1 }, rows: [] });
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    diagnosticsChannel.subscribe(BIGQUERY_QUERY_BILLED_CHANNEL, listener);
    try {
      const r = await runGuarded(bq, 'SELECT * FROM chan.t', { labels: { team: 'growth' } });
      expect(seen).toEqual([
        {
          jobId: r.jobId,
          totalBytesProcessed: 12 * MiB + 1,
          totalBytesBilled: 13 * MiB,
          cacheHit: false,
          billedCostUsd: (13 * MiB * 6.25) / BYTES_PER_TIB,
          labels: { team: 'growth' },
        },
      ]);
    } finally {
      diagnosticsChannel.unsubscribe(BIGQUERY_QUERY_BILLED_CHANNEL, listener);
    }
  });
});
