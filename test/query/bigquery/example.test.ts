import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

const run = promisify(execFile);
const example = fileURLToPath(new URL('../../../examples/bigquery-tables.ts', import.meta.url));
const GiB = 2 ** 30;
let fake: FakeGcpRest;

beforeAll(async () => {
  fake = await startFakeGcpRest('dbkit-example');
});
afterAll(() => fake.close());

const env = (extra: Record<string, string>) => {
  const { BIGQUERY_API_ENDPOINT: _drop, ...rest } = process.env;
  return { ...rest, ...extra };
};

describe('examples/bigquery-tables.ts', () => {
  it('prints the plan offline without any request', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', example], {
      env: env({}),
      timeout: 60_000,
    });
    expect(stdout).toContain('1. create analytics.events (tables.insert body)');
    expect(stdout).toContain('2. patch analytics.events: clustering, partitionExpiration');
    expect(stdout).toContain('PARTITION BY TIMESTAMP_TRUNC(`ts`, HOUR)');
    expect(stdout).toContain('"rangeElementType": {');
    expect(stdout).toContain('4 KiB read from 3 tables bills 31457280 bytes');
    expect(fake.requests).toHaveLength(0);
  }, 90_000);

  it('runs against the request-checking fake: both tables created, the query estimated, run and billed', async () => {
    fake.onQuery('FROM analytics.events', {
      tables: { 'analytics.events': 3 * GiB + 5 },
      schema: [
        { name: 'client_id', type: 'STRING' },
        { name: 'cost', type: 'NUMERIC' },
      ],
      rows: [{ client_id: 'acme', cost: '12.5' }],
    });
    const { stdout } = await run(process.execPath, ['--import', 'tsx', example], {
      env: env({ BIGQUERY_API_ENDPOINT: fake.url, GOOGLE_CLOUD_PROJECT: 'dbkit-example' }),
      timeout: 60_000,
    });
    expect(stdout).toContain('ensureTable analytics.events -> created');
    expect(stdout).toContain('ensureTable analytics.contracts -> created');
    expect(stdout).toMatch(/estimate: 3221225477 bytes processed, 3222274048 billed/);
    expect(stdout).toMatch(/1 rows, 3222274048 bytes billed, \$0\.018\d+/);
    expect([...fake.tables.keys()].sort()).toEqual(['analytics.contracts', 'analytics.events']);
    expect(fake.requests.filter((r) => r.status >= 400).map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 404',
      'POST 404',
      'GET 404',
    ]);
    expect(fake.jobLog.map((j) => j.labels)).toEqual([{ team: 'data', feature: 'example' }]);
  }, 90_000);
});
