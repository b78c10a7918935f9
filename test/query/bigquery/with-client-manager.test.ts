import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLocalHttpEndpoint } from '../../../src/clients/gcp-clients.js';
import { applyBucketLifecycle, createClientManager, storageLifecycle } from '../../../src/clients/index.js';
import { ensureTable, runGuarded } from '../../../src/query/index.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

let fake: FakeGcpRest;

beforeAll(async () => {
  fake = await startFakeGcpRest('dbkit-manager');
});
afterAll(() => fake.close());

describe('with clients from the client manager', () => {
  it('ensureTable, runGuarded and applyBucketLifecycle work on manager.bigquery() and manager.storage()', async () => {
    const manager = createClientManager({
      projectId: 'dbkit-manager',
      bigqueryApiEndpoint: fake.url,
      // No authClient here: the manager talks to a loopback http endpoint without credentials by itself.
      storage: { apiEndpoint: fake.url },
    });
    try {
      const spec = {
        dataset: 'm',
        table: 't',
        schema: [{ name: 'ts', type: 'TIMESTAMP' }],
        partitioning: { type: 'DAY', field: 'ts' },
      } as const;
      expect((await ensureTable(manager.bigquery(), spec)).action).toBe('created');
      fake.onQuery('FROM m.t', { bytesProcessed: 1, rows: [] });
      await runGuarded(manager.bigquery(), 'SELECT 1 FROM m.t', { labels: { team: 'data' } });
      fake.buckets.set('b', { name: 'b', metageneration: '1' });
      const r = await applyBucketLifecycle(manager.storage(), 'b', storageLifecycle().preset());
      expect(r.action).toBe('updated');
      expect(
        fake.requests.every(
          (q) => q.path.includes('/projects/dbkit-manager/') || q.path.startsWith('/storage/'),
        ),
      ).toBe(true);
      expect(
        fake.requests.filter((q) => q.status >= 400).map((q) => `${q.method} ${q.path} ${q.status}`),
      ).toEqual([
        'GET /bigquery/v2/projects/dbkit-manager/datasets/m/tables/t 404',
        'POST /bigquery/v2/projects/dbkit-manager/datasets/m/tables 404',
      ]);
      expect(fake.requests.filter((q) => q.authorization !== undefined)).toEqual([]);
      // Without the default no-auth client this asks Google's credential chain, which fails on a machine without
      // credentials (and would hand a real token to the local server on one that has them).
      const auth = (
        manager.bigquery() as unknown as { authClient: { getRequestHeaders(): Promise<unknown> } }
      ).authClient;
      const headers = await auth.getRequestHeaders();
      expect(headers instanceof Headers ? [...headers.keys()] : Object.keys(headers as object)).toEqual([]);
      expect(manager.stats().created).toMatchObject({ bigquery: 1, storage: 1 });
    } finally {
      await manager.closeAll({ timeoutMs: 5000 });
    }
  });
});

describe('isLocalHttpEndpoint', () => {
  it('is true only for plain http on loopback', () => {
    expect(isLocalHttpEndpoint('http://127.0.0.1:9050')).toBe(true);
    expect(isLocalHttpEndpoint('http://localhost:9050')).toBe(true);
    expect(isLocalHttpEndpoint('http://[::1]:9050')).toBe(true);
    expect(isLocalHttpEndpoint('https://127.0.0.1:9050')).toBe(false);
    expect(isLocalHttpEndpoint('https://bigquery.googleapis.com')).toBe(false);
    expect(isLocalHttpEndpoint('http://bigquery.internal.example:80')).toBe(false);
    expect(isLocalHttpEndpoint('not a url')).toBe(false);
  });
});
