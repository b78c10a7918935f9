import diagnosticsChannel from 'node:diagnostics_channel';
import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BIGQUERY_BUDGET_REFUSED_CHANNEL,
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

beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
  fake.onQuery('FROM analytics.small', {
    bytesProcessed: 2 * GiB,
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
    const limit = Math.ceil(2 * GiB * 1.1);
    expect(r.maximumBytesBilled).toBe(limit);
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
    expect(e.context).toMatchObject({ bytes: 20 * GiB, maximumBytesBilled: Math.ceil(20 * GiB * 1.1) });
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
