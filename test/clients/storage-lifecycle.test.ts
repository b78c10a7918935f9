import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyBucketLifecycle,
  type GcsLifecycleRule,
  StorageLifecycleValidationError,
  standardStorageLifecycle,
  storageLifecycle,
} from '../../src/clients/storage-lifecycle.js';
import { isDbkitError } from '../../src/errors.js';
import { type FakeGcpRest, startFakeGcpRest } from '../setup/fake-gcp-rest.js';

let fake: FakeGcpRest;
let storage: Storage;

beforeAll(async () => {
  fake = await startFakeGcpRest();
  storage = fake.storage();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.buckets.clear();
  fake.buckets.set('acme-data', { kind: 'storage#bucket', name: 'acme-data', metageneration: '1' });
});

const preset: GcsLifecycleRule[] = [
  { action: { type: 'Delete' }, condition: { age: 7, matchesPrefix: ['tmp/'] } },
  {
    action: { type: 'SetStorageClass', storageClass: 'NEARLINE' },
    condition: { age: 30, matchesPrefix: ['logs/'], matchesStorageClass: ['STANDARD'] },
  },
  {
    action: { type: 'SetStorageClass', storageClass: 'COLDLINE' },
    condition: { age: 90, matchesPrefix: ['archives/'], matchesStorageClass: ['STANDARD', 'NEARLINE'] },
  },
];

describe('storage lifecycle builder', () => {
  it('builds the standard preset: tmp deleted at 7 days, logs NEARLINE at 30, archives COLDLINE at 90', () => {
    expect(standardStorageLifecycle()).toEqual(preset);
    expect(storageLifecycle().preset().build()).toEqual(preset);
  });

  it('adds custom rules and normalises dates', () => {
    const rules = storageLifecycle()
      .deleteAfter(365, { prefix: ['exports/', 'reports/'], suffix: '.csv' })
      .moveTo('ARCHIVE', 180)
      .abortIncompleteUploadsAfter(1)
      .rule({ action: { type: 'Delete' }, condition: { isLive: false, numNewerVersions: 3 } })
      .rule({ action: { type: 'Delete' }, condition: { createdBefore: new Date(Date.UTC(2025, 0, 31)) } })
      .build();
    expect(rules).toEqual([
      {
        action: { type: 'Delete' },
        condition: { age: 365, matchesPrefix: ['exports/', 'reports/'], matchesSuffix: ['.csv'] },
      },
      {
        action: { type: 'SetStorageClass', storageClass: 'ARCHIVE' },
        condition: { age: 180, matchesStorageClass: ['STANDARD', 'NEARLINE', 'COLDLINE'] },
      },
      { action: { type: 'AbortIncompleteMultipartUpload' }, condition: { age: 1 } },
      { action: { type: 'Delete' }, condition: { isLive: false, numNewerVersions: 3 } },
      { action: { type: 'Delete' }, condition: { createdBefore: '2025-01-31' } },
    ]);
  });

  it('rejects invalid rules with every issue listed', () => {
    let err: unknown;
    try {
      storageLifecycle()
        .deleteAfter(-1)
        .rule({ action: { type: 'Delete' }, condition: {} })
        .rule({
          action: { type: 'SetStorageClass', storageClass: 'NEARLINE' },
          condition: { age: 1, matchesStorageClass: ['COLDLINE'] },
        })
        .rule({ action: { type: 'Delete' }, condition: { createdBefore: '31/01/2025' } })
        .build();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageLifecycleValidationError);
    expect(isDbkitError(err, 'E_STORAGE_LIFECYCLE_VALIDATION')).toBe(true);
    expect((err as StorageLifecycleValidationError).context.issues).toEqual([
      'rule[0].age: must be a non-negative integer, got -1',
      'rule[1]: needs at least one condition',
      'rule[2]: cannot move COLDLINE objects to NEARLINE (not colder)',
      'rule[3].createdBefore: must be YYYY-MM-DD or a Date',
    ]);
  });
});

describe('applyBucketLifecycle', () => {
  it('sends one conditional PATCH with exactly the rules, then nothing when unchanged', async () => {
    const r = await applyBucketLifecycle(storage, 'acme-data', storageLifecycle().preset());
    expect(r).toEqual({ bucket: 'acme-data', action: 'updated', rules: preset });
    expect(fake.requests.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      'GET /storage/v1/b/acme-data 200',
      'PATCH /storage/v1/b/acme-data 200',
    ]);
    expect(fake.requests[1]?.query).toMatchObject({ ifMetagenerationMatch: '1' });
    expect(fake.requests[1]?.body).toEqual({ lifecycle: { rule: preset } });
    expect(fake.buckets.get('acme-data')?.lifecycle).toEqual({ rule: preset });

    fake.requests.length = 0;
    const again = await applyBucketLifecycle(storage, 'acme-data', preset);
    expect(again.action).toBe('unchanged');
    expect(fake.requests.map((q) => q.method)).toEqual(['GET']);
  });

  it('merge keeps rules already on the bucket; replace drops them', async () => {
    const existing = { action: { type: 'Delete' }, condition: { age: 1000 } };
    fake.buckets.set('acme-data', {
      name: 'acme-data',
      metageneration: '4',
      lifecycle: { rule: [existing] },
    });
    const merged = await applyBucketLifecycle(storage, 'acme-data', preset, { mode: 'merge' });
    expect(merged.rules).toEqual([existing, ...preset]);
    const replaced = await applyBucketLifecycle(storage, 'acme-data', preset);
    expect(replaced).toMatchObject({ action: 'updated', rules: preset });
    expect(fake.buckets.get('acme-data')?.lifecycle).toEqual({ rule: preset });
  });

  it('creates the client lazily from options', async () => {
    const r = await applyBucketLifecycle(
      { projectId: fake.projectId, apiEndpoint: fake.url },
      'acme-data',
      preset,
    );
    expect(r.action).toBe('updated');
  });

  it('validates before any request and wraps API errors', async () => {
    await expect(
      applyBucketLifecycle(storage, 'acme-data', [{ action: { type: 'Delete' }, condition: { age: 1.5 } }]),
    ).rejects.toBeInstanceOf(StorageLifecycleValidationError);
    expect(fake.requests).toHaveLength(0);
    const missing = await applyBucketLifecycle(storage, 'nope', preset).catch((e: unknown) => e);
    expect(isDbkitError(missing, 'E_STORAGE_REQUEST')).toBe(true);
    expect((missing as { cause: { code: number } }).cause.code).toBe(404);
  });

  it('the fake rejects a malformed lifecycle body like the real API', async () => {
    const bad = await storage
      .bucket('acme-data')
      .setMetadata({
        lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: '7' } }] },
      } as never)
      .catch((e: unknown) => e as { code: number; message: string });
    expect(bad).toMatchObject({ code: 400 });
    expect((bad as { message: string }).message).toContain('lifecycle.rule[0].condition.age');
  });
});
