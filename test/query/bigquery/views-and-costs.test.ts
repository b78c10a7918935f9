import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  clientPerformanceView,
  createView,
  dailyCostSummaryView,
  isDbkitError,
  jobCosts,
  jobCostsSql,
  runGuarded,
  tableCosts,
} from '../../../src/query/index.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

let fake: FakeGcpRest;
let bq: BigQuery;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.tables.clear();
  fake.datasets.clear();
  fake.datasets.set('finops', { datasetReference: { datasetId: 'finops' } });
});

describe('views', () => {
  it('builds the daily cost summary SQL from the documented source columns', () => {
    const v = dailyCostSummaryView({ dataset: 'finops', source: 'finops.cost_line_items' });
    expect(v.name).toBe('daily_cost_summary');
    expect(v.sql).toBe(
      [
        'SELECT DATE(`usage_time`) AS day, `service` AS service, `provider` AS provider,',
        '  `currency` AS currency, SUM(`cost`) AS total_cost, COUNT(*) AS line_items',
        'FROM `finops.cost_line_items`',
        'GROUP BY day, service, provider, currency',
      ].join('\n'),
    );
    const renamed = dailyCostSummaryView({
      dataset: 'finops',
      source: 'billing-prj.exports.lines',
      columns: { time: 'usage_start_time', cost: 'amount' },
    });
    expect(renamed.sql).toContain('DATE(`usage_start_time`)');
    expect(renamed.sql).toContain('SUM(`amount`)');
    expect(renamed.sql).toContain('FROM `billing-prj.exports.lines`');
  });

  it('builds the client performance dashboard with percentiles and error rate', () => {
    const v = clientPerformanceView({ dataset: 'finops', source: 'ops.requests' });
    expect(v.sql).toContain('APPROX_QUANTILES(`latency_ms`, 100)[OFFSET(95)] AS p95_latency_ms');
    expect(v.sql).toContain('SAFE_DIVIDE(COUNTIF(`status_code` >= 500), COUNT(*)) AS error_rate');
    expect(v.sql).toContain('GROUP BY day, client_id, endpoint');
  });

  it('refuses an injected column name before building SQL', () => {
    expect(() =>
      clientPerformanceView({ dataset: 'finops', source: 'ops.requests', columns: { client: 'x`; DROP' } }),
    ).toThrow(expect.objectContaining({ code: 'E_BQ_VALIDATION' }));
  });

  it('creates a view, then is unchanged, then updates the query: idempotent', async () => {
    const v = dailyCostSummaryView({ dataset: 'finops', source: 'finops.cost_line_items' });
    expect(await createView(bq, v)).toEqual({ action: 'created', view: 'finops.daily_cost_summary' });
    expect(fake.requests[0]?.body).toEqual({
      view: { query: v.sql, useLegacySql: false },
      description: v.description,
      tableReference: { datasetId: 'finops', projectId: 'dbkit-test', tableId: 'daily_cost_summary' },
    });
    expect(fake.tables.get('finops.daily_cost_summary')?.type).toBe('VIEW');
    expect((await createView(bq, v)).action).toBe('unchanged');
    const changed = { ...v, sql: `${v.sql}\nHAVING total_cost > 0` };
    expect((await createView(bq, changed)).action).toBe('updated');
    expect(fake.sent('PATCH', '/tables/daily_cost_summary')[0]?.body).toEqual({
      view: { query: changed.sql, useLegacySql: false },
      description: v.description,
    });
  });
});

describe('tableCosts', () => {
  it('reports size, rows, bytes per row, long-term vs active bytes and last modified, biggest first', async () => {
    fake.putTable('finops', 'events', {
      numBytes: String(300 * GiB),
      numRows: '3000000',
      numLongTermBytes: String(200 * GiB),
      numActiveLogicalBytes: String(100 * GiB),
      lastModifiedTime: '1767225600000',
    });
    fake.putTable('finops', 'small', { numBytes: '0', numRows: '0' });
    const costs = await tableCosts(bq, 'finops');
    expect(costs).toEqual([
      {
        table: 'finops.events',
        type: 'TABLE',
        sizeBytes: 300 * GiB,
        rows: 3_000_000,
        bytesPerRow: (300 * GiB) / 3_000_000,
        longTermBytes: 200 * GiB,
        activeBytes: 100 * GiB,
        monthlyStorageUsd: 100 * 0.02 + 200 * 0.01,
        lastModified: new Date(1767225600000),
      },
      expect.objectContaining({ table: 'finops.small', sizeBytes: 0, rows: 0, bytesPerRow: 0 }),
    ]);
    expect(
      fake.requests
        .map((q) => `${q.method} ${q.path.replace('/bigquery/v2/projects/dbkit-test', '')}`)
        .sort(),
    ).toEqual([
      'GET /datasets/finops/tables',
      'GET /datasets/finops/tables/events',
      'GET /datasets/finops/tables/small',
    ]);
  });
});

describe('jobCosts', () => {
  it('groups JOBS_BY_PROJECT by a label value with query parameters', async () => {
    fake.onQuery('INFORMATION_SCHEMA.JOBS_BY_PROJECT', {
      schema: [
        { name: 'grp', type: 'STRING' },
        { name: 'jobs', type: 'INTEGER' },
        { name: 'cache_hits', type: 'INTEGER' },
        { name: 'bytes_billed', type: 'INTEGER' },
        { name: 'bytes_processed', type: 'INTEGER' },
        { name: 'slot_ms', type: 'INTEGER' },
      ],
      rows: [
        {
          grp: 'growth',
          jobs: 12,
          cache_hits: 2,
          bytes_billed: 2 ** 40,
          bytes_processed: 2 ** 40,
          slot_ms: 5000,
        },
        { grp: null, jobs: 3, cache_hits: 0, bytes_billed: 0, bytes_processed: 10, slot_ms: 10 },
      ],
    });
    const r = await jobCosts(bq, { region: 'eu', days: 30, groupBy: 'label', labelKey: 'team' });
    expect(r).toEqual([
      {
        group: 'growth',
        jobs: 12,
        cacheHits: 2,
        bytesBilled: 2 ** 40,
        bytesProcessed: 2 ** 40,
        slotMs: 5000,
        costUsd: 6.25,
      },
      { group: null, jobs: 3, cacheHits: 0, bytesBilled: 0, bytesProcessed: 10, slotMs: 10, costUsd: 0 },
    ]);
    const body = fake.requests[0]?.body as Record<string, unknown>;
    expect(body.query).toBe(jobCostsSql({ region: 'eu', days: 30, groupBy: 'label', labelKey: 'team' }));
    expect(body.query).toContain('FROM `region-eu`.INFORMATION_SCHEMA.JOBS_BY_PROJECT');
    expect(body.location).toBe('eu');
    expect(body.queryParameters).toEqual([
      { name: 'days', parameterType: { type: 'INT64' }, parameterValue: { value: 30 } },
      { name: 'label_key', parameterType: { type: 'STRING' }, parameterValue: { value: 'team' } },
    ]);
  });

  it('groups what runGuarded billed by label: per-table minimums and cache hits included', async () => {
    // The fake's stand-in for INFORMATION_SCHEMA.JOBS_BY_PROJECT: its own job log, grouped by the label the query
    // asks for (@label_key), SCRIPT parents left out, biggest bill first, as jobCostsSql says.
    fake.jobLog.length = 0;
    fake.onQuery('INFORMATION_SCHEMA.JOBS_BY_PROJECT', (_sql, req) => {
      const key = req.params.label_key as string;
      const groups = new Map<
        string | null,
        { jobs: number; hits: number; billed: number; processed: number }
      >();
      for (const j of fake.jobLog) {
        if (j.statementType === 'SCRIPT') continue;
        const g = j.labels[key] ?? null;
        const acc = groups.get(g) ?? { jobs: 0, hits: 0, billed: 0, processed: 0 };
        groups.set(g, {
          jobs: acc.jobs + 1,
          hits: acc.hits + (j.cacheHit ? 1 : 0),
          billed: acc.billed + j.totalBytesBilled,
          processed: acc.processed + j.totalBytesProcessed,
        });
      }
      return {
        schema: ['grp', 'jobs', 'cache_hits', 'bytes_billed', 'bytes_processed', 'slot_ms'].map((name) => ({
          name,
          type: name === 'grp' ? 'STRING' : 'INTEGER',
        })),
        rows: [...groups]
          .sort((a, b) => b[1].billed - a[1].billed)
          .map(([grp, g]) => ({
            grp,
            jobs: g.jobs,
            cache_hits: g.hits,
            bytes_billed: g.billed,
            bytes_processed: g.processed,
            slot_ms: 0,
          })),
      };
    });
    fake.onQuery('FROM growth.small', { tables: { 'growth.small': 1000, 'growth.dims': 10 }, rows: [] });
    fake.onQuery('FROM growth.cached', { tables: { 'growth.cached': 5 * GiB }, cacheHit: true, rows: [] });
    fake.onQuery('FROM data.big', { tables: { 'data.big': 3 * GiB + 1 }, rows: [] });
    const runs = [
      await runGuarded(bq, 'SELECT 1 FROM growth.small JOIN growth.dims', { labels: { team: 'growth' } }),
      await runGuarded(bq, 'SELECT 1 FROM growth.cached', { labels: { team: 'growth' } }),
      await runGuarded(bq, 'SELECT 1 FROM data.big', { labels: { team: 'data' } }),
      await runGuarded(bq, 'SELECT 1 FROM growth.small JOIN growth.dims'),
    ];
    expect(runs.map((r) => r.totalBytesBilled)).toEqual([20 * MiB, 0, 3 * GiB + MiB, 20 * MiB]);
    const byTeam = await jobCosts(bq, { region: 'us', groupBy: 'label', labelKey: 'team' });
    expect(byTeam).toEqual([
      {
        group: 'data',
        jobs: 1,
        cacheHits: 0,
        bytesBilled: 3 * GiB + MiB,
        bytesProcessed: 3 * GiB + 1,
        slotMs: 0,
        costUsd: ((3 * GiB + MiB) / 2 ** 40) * 6.25,
      },
      {
        group: 'growth',
        jobs: 2,
        cacheHits: 1,
        bytesBilled: 20 * MiB,
        bytesProcessed: 1010,
        slotMs: 0,
        costUsd: ((20 * MiB) / 2 ** 40) * 6.25,
      },
      {
        group: null,
        jobs: 1,
        cacheHits: 0,
        bytesBilled: 20 * MiB,
        bytesProcessed: 1010,
        slotMs: 0,
        costUsd: ((20 * MiB) / 2 ** 40) * 6.25,
      },
    ]);
    // What jobCosts reports per label is what runGuarded said each run was billed.
    expect(byTeam.find((g) => g.group === 'growth')?.bytesBilled).toBe(
      (runs[0]!.totalBytesBilled ?? 0) + (runs[1]!.totalBytesBilled ?? 0),
    );
  });

  it('refuses a region that could inject SQL and a window over 180 days', async () => {
    for (const opts of [{ region: 'us`; DROP' }, { region: 'us', days: 400 }]) {
      await expect(jobCosts(bq, opts)).rejects.toSatisfy((e) => isDbkitError(e, 'E_BQ_VALIDATION'));
    }
    expect(fake.requests).toHaveLength(0);
  });
});
