import type { BigQuery } from '@google-cloud/bigquery';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { documentedLimits } from '../../setup/bigquery-rest-rules.js';
import { loadBigQueryRestSchema } from '../../setup/bigquery-rest-schema.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

// The request-checking fake must refuse what the real API refuses, or it cannot catch our bugs. These requests
// are sent by the real @google-cloud/bigquery client, raw (no dbkit code involved), and each must come back 400
// with nothing written.

type Json = Record<string, unknown>;
let fake: FakeGcpRest;
let bq: BigQuery;

beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.tables.clear();
  fake.datasets.clear();
  fake.datasets.set('d', { datasetReference: { datasetId: 'd' } });
});

const field = (name: string, type: string, more: Json = {}): Json => ({
  name,
  type,
  mode: 'NULLABLE',
  ...more,
});
const valid = (): Json => ({
  schema: {
    fields: [
      field('ts', 'TIMESTAMP', { mode: 'REQUIRED' }),
      field('day', 'DATE'),
      field('n', 'INTEGER'),
      ...['s1', 's2', 's3', 's4', 's5'].map((s) => field(s, 'STRING')),
      field('tags', 'STRING', { mode: 'REPEATED' }),
      field('f', 'FLOAT'),
      field('payload', 'RECORD', { fields: [field('kind', 'STRING')] }),
      field('valid', 'RANGE', { rangeElementType: { type: 'DATE' } }),
    ],
  },
  timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '7776000000' },
  clustering: { fields: ['s1'] },
  labels: { team: 'data' },
});
const withFields = (t: Json, ...extra: Json[]): Json => ({
  ...t,
  schema: { fields: [...((t.schema as Json).fields as Json[]), ...extra] },
});
const nest = (depth: number): Json =>
  depth === 1 ? field('leaf', 'STRING') : field(`l${depth}`, 'RECORD', { fields: [nest(depth - 1)] });

interface Case {
  name: string;
  body: (t: Json) => Json;
  message: RegExp;
  /** How the same change fails as a tables.patch, if differently (the patch rules can refuse it first). */
  patch?: RegExp;
}

const cases: Case[] = [
  {
    name: '5 clustering fields',
    body: (t) => ({ ...t, clustering: { fields: ['s1', 's2', 's3', 's4', 's5'] } }),
    message: /Too many clustering fields: 5; at most 4/,
  },
  {
    name: 'duplicate clustering fields',
    body: (t) => ({ ...t, clustering: { fields: ['s1', 's2', 's1'] } }),
    message: /Duplicate clustering field "s1"/,
  },
  {
    name: 'a clustering field missing from the schema',
    body: (t) => ({ ...t, clustering: { fields: ['nope'] } }),
    message: /clustering cannot be found in the schema: nope/,
  },
  {
    name: 'clustering on a FLOAT column',
    body: (t) => ({ ...t, clustering: { fields: ['f'] } }),
    message: /Field f of type FLOAT cannot be used for clustering/,
  },
  {
    name: 'a partition field missing from the schema',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 'nope' } }),
    message: /partitioning cannot be found in the schema: nope/,
    patch: /Cannot change partitioning/,
  },
  {
    name: 'a partition field of a non-time type',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 's1' } }),
    message: /can only be of type TIMESTAMP, DATE or DATETIME. The type found is: STRING/,
    patch: /Cannot change partitioning/,
  },
  {
    name: 'HOUR partitioning on a DATE column',
    body: (t) => ({ ...t, timePartitioning: { type: 'HOUR', field: 'day' } }),
    message: /HOUR partitioning needs a TIMESTAMP or DATETIME field/,
    patch: /Cannot change partitioning/,
  },
  {
    name: 'expirationMs "0"',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '0' } }),
    message: /expirationMs must be positive, got 0/,
  },
  {
    name: 'a negative expirationMs',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '-86400000' } }),
    message: /expirationMs must be positive/,
  },
  {
    name: 'expirationMs that is not an int64',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 'ts', expirationMs: '90 days' } }),
    message: /Invalid int64 value at 'timePartitioning.expirationMs'/,
  },
  {
    name: 'expirationMs as a JSON number instead of the int64 string encoding',
    body: (t) => ({ ...t, timePartitioning: { type: 'DAY', field: 'ts', expirationMs: 7776000000 } }),
    message: /Invalid value at 'table.timePartitioning.expirationMs' \(TYPE_STRING\)/,
  },
  {
    name: 'an uppercase label key',
    body: (t) => ({ ...t, labels: { Team: 'data' } }),
    message: /Invalid label key "Team"/,
  },
  {
    name: 'an uppercase label value',
    body: (t) => ({ ...t, labels: { team: 'Data' } }),
    message: /Invalid label value "Data" for key "team"/,
  },
  {
    name: '65 labels',
    body: (t) => ({ ...t, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
    message: /Too many labels on table t: 65; at most 64/,
    patch: /Too many labels on table t: 66; at most 64/, // labels merge: the patch adds 65 to the existing one
  },
  {
    name: 'timePartitioning together with rangePartitioning',
    body: (t) => ({
      ...t,
      rangePartitioning: { field: 'n', range: { start: '0', end: '100', interval: '10' } },
    }),
    message: /time partitioning or range partitioning, not both/,
    patch: /Cannot change the range partitioning/,
  },
  {
    name: 'range partitioning on a STRING column',
    body: (t) => ({
      ...t,
      timePartitioning: undefined,
      rangePartitioning: { field: 's1', range: { start: '0', end: '100', interval: '10' } },
    }),
    message: /range partitioning must be a top-level INT64 column/,
    patch: /Cannot change the range partitioning/,
  },
  {
    name: 'range partitioning into 10,001 partitions',
    body: (t) => ({
      ...t,
      timePartitioning: undefined,
      rangePartitioning: { field: 'n', range: { start: '0', end: '10001', interval: '1' } },
    }),
    message: /would create 10001 partitions; at most 10000/,
    patch: /Cannot change the range partitioning/,
  },
  {
    name: 'a column description over 1,024 characters',
    body: (t) => withFields(t, field('x', 'STRING', { description: 'd'.repeat(1025) })),
    message: /The description of field x is too long: at most 1024 characters/,
  },
  {
    name: 'a table description over 16,384 characters',
    body: (t) => ({ ...t, description: 'd'.repeat(16_385) }),
    message: /table description is too long: at most 16384/,
  },
  {
    name: 'the field name "1-bad name"',
    body: (t) => withFields(t, field('1-bad name', 'STRING')),
    message: /Invalid field name "1-bad name". Fields must contain only letters, numbers, and underscores/,
  },
  {
    name: 'a field name of 301 characters',
    body: (t) => withFields(t, field('a'.repeat(301), 'STRING')),
    message: /Invalid field name "a+".*at most 300 characters/,
  },
  {
    name: 'a reserved field-name prefix',
    body: (t) => withFields(t, field('_PARTITIONTIME', 'TIMESTAMP')),
    message: /the prefix "_partition" is reserved/,
  },
  {
    name: 'column names differing only in case',
    body: (t) => withFields(t, field('S1', 'STRING')),
    message: /Field S1 already exists in schema \(as "s1"; names are case-insensitive\)/,
  },
  {
    name: 'nested column names differing only in case',
    body: (t) =>
      withFields(t, field('rec', 'RECORD', { fields: [field('a', 'STRING'), field('A', 'STRING')] })),
    message: /Field rec.A already exists in schema/,
  },
  {
    name: 'a RECORD without fields',
    body: (t) => withFields(t, field('rec', 'RECORD')),
    message: /Field rec is type RECORD but has no schema/,
  },
  {
    name: 'a RECORD with an empty field list',
    body: (t) => withFields(t, field('rec', 'RECORD', { fields: [] })),
    message: /Field rec is type RECORD but has no schema/,
  },
  {
    // Nested: for top-level fields the Node client itself turns anything with `fields` into a RECORD.
    name: 'sub-fields on a nested STRING',
    body: (t) =>
      withFields(
        t,
        field('rec', 'RECORD', { fields: [field('s', 'STRING', { fields: [field('x', 'STRING')] })] }),
      ),
    message: /Field rec.s is type STRING; only RECORD fields have sub-fields/,
  },
  {
    name: 'a RANGE without rangeElementType',
    body: (t) => withFields(t, field('r', 'RANGE')),
    message: /Field r is type RANGE and needs rangeElementType.type DATE, DATETIME or TIMESTAMP/,
  },
  {
    name: 'a RANGE of INT64',
    body: (t) => withFields(t, field('r', 'RANGE', { rangeElementType: { type: 'INT64' } })),
    message: /needs rangeElementType.type DATE, DATETIME or TIMESTAMP/,
  },
  {
    name: 'rangeElementType on a non-RANGE column',
    body: (t) => withFields(t, field('r', 'DATE', { rangeElementType: { type: 'DATE' } })),
    message: /only RANGE fields have rangeElementType/,
  },
  {
    name: 'an unknown column type',
    body: (t) => withFields(t, field('x', 'VARCHAR')),
    message: /Invalid type "VARCHAR" for field x/,
  },
  {
    name: 'an unknown mode',
    body: (t) => withFields(t, field('x', 'STRING', { mode: 'OPTIONAL' })),
    message: /Invalid mode "OPTIONAL" for field x/,
  },
  {
    name: '16 levels of RECORD nesting',
    body: (t) => withFields(t, nest(16)),
    message: /nests deeper than 15 levels/,
  },
  {
    name: 'an unknown TimePartitioning.type',
    body: (t) => ({ ...t, timePartitioning: { type: 'WEEK', field: 'ts' } }),
    message: /Invalid timePartitioning.type "WEEK": one of DAY, HOUR, MONTH, YEAR/,
    patch: /Cannot change partitioning/,
  },
  {
    name: 'a field that TableFieldSchema does not have',
    body: (t) => withFields(t, field('x', 'STRING', { nullable: true })),
    message: /Unknown name "nullable" at 'table.schema.fields\[\d+\]': Cannot find field/,
  },
  {
    name: 'a value outside a string enum of types.d.ts',
    body: (t) => ({ ...t, defaultRoundingMode: 'ROUND_UP' }),
    message:
      /Invalid value at 'table.defaultRoundingMode' \(TYPE_ENUM, one of ROUNDING_MODE_UNSPECIFIED, ROUND_HALF_AWAY_FROM_ZERO, ROUND_HALF_EVEN\)/,
  },
];

async function apiError(p: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  const e = (await p.then(
    () => undefined,
    (err: unknown) => err,
  )) as { code?: number; errors?: Array<{ reason: string }>; message?: string } | undefined;
  if (!e) throw new Error('expected the request to be refused');
  return { code: e.code ?? 0, reason: e.errors?.[0]?.reason ?? '', message: e.message ?? '' };
}

describe('the fake refuses what the v2 API refuses', () => {
  for (const c of cases) {
    it(`tables.insert with ${c.name}: 400, nothing created`, async () => {
      const e = await apiError(bq.dataset('d').createTable('t', c.body(valid())));
      expect(e).toMatchObject({ code: 400, reason: 'invalid' });
      expect(e.message).toMatch(c.message);
      expect(fake.tables.has('d.t')).toBe(false);
    });
    it(`tables.patch to ${c.name}: 400, table unchanged`, async () => {
      await bq.dataset('d').createTable('t', valid());
      const before = structuredClone(fake.tables.get('d.t'));
      const e = await apiError(bq.dataset('d').table('t').setMetadata(c.body(valid())));
      expect(e).toMatchObject({ code: 400, reason: 'invalid' });
      expect(e.message).toMatch(c.patch ?? c.message);
      expect(fake.tables.get('d.t')).toEqual(before);
    });
  }

  it('accepts the valid neighbours: RANGE, YEAR, range partitioning and every limit at its edge', async () => {
    const edge = withFields(
      {
        ...valid(),
        timePartitioning: { type: 'YEAR', field: 'day', expirationMs: '1' },
        clustering: { fields: ['s1', 'S2', 'valid', 'n'] },
        labels: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v'.repeat(63)])),
        description: 'd'.repeat(16_384),
      },
      field('a'.repeat(300), 'STRING', { description: '😀'.repeat(1024) }),
      nest(15),
      field('_part', 'RANGE', { rangeElementType: { type: 'TIMESTAMP' } }),
    );
    await bq.dataset('d').createTable('edge', edge);
    await bq.dataset('d').createTable('ranged', {
      schema: { fields: [field('customer_id', 'INTEGER')] },
      rangePartitioning: { field: 'customer_id', range: { start: '0', end: '10000', interval: '1' } },
      managedTableType: 'NATIVE', // only in types.d.ts (the old hand-kept list did not have it)
    });
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200]);
    await bq
      .dataset('d')
      .table('edge')
      .setMetadata({ labels: { k0: null as unknown as string, team: 'growth' } });
    expect(fake.tables.get('d.edge')?.labels).toMatchObject({ k1: 'v'.repeat(63), team: 'growth' });
    expect(fake.tables.get('d.edge')?.labels).not.toHaveProperty('k0');
  });

  it('refuses bad labels and non-int64 maximumBytesBilled on query jobs, dry runs and jobs.query alike', async () => {
    fake.onQuery('SELECT 1', { rows: [] });
    const refusals = [
      bq.createQueryJob({ query: 'SELECT 1', dryRun: true, labels: { Team: 'x' } }),
      bq.createQueryJob({ query: 'SELECT 1', labels: { team: 'X' } }),
      bq.query({ query: 'SELECT 1', labels: { team: 'Growth' } }),
      bq.query({ query: 'SELECT 1', maximumBytesBilled: '10 MiB' }),
      bq.query({ query: 'SELECT 1', maximumBytesBilled: 10485760 as never }),
    ];
    const errors = await Promise.all(refusals.map(apiError));
    expect(errors.map((e) => [e.code, e.reason])).toEqual(Array(5).fill([400, 'invalid']));
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/Invalid label key "Team" on job/),
      expect.stringMatching(/Invalid label value "X" for key "team" on job/),
      expect.stringMatching(/Invalid label value "Growth" for key "team" on query/),
      expect.stringMatching(/Invalid int64 value at 'maximumBytesBilled'/),
      expect.stringMatching(/Invalid value at 'query request.maximumBytesBilled' \(TYPE_STRING\)/),
    ]);
    expect(fake.jobLog).toEqual([]);
  });

  it('refuses dataset ids outside letters, digits and underscores', async () => {
    const e = await apiError(bq.createDataset('my-dataset'));
    expect(e).toMatchObject({ code: 400, reason: 'invalid', message: 'Invalid dataset ID "my-dataset".' });
    expect(fake.datasets.has('my-dataset')).toBe(false);
  });
});

describe('where the fake gets its schema', () => {
  it('reads the v2 resources from the types.d.ts shipped in @google-cloud/bigquery', () => {
    const s = loadBigQueryRestSchema();
    expect(s.source).toMatch(/node_modules\/@google-cloud\/bigquery\/build\/src\/types\.d\.ts$/);
    expect(s.revision).toMatch(/^20\d{6}$/);
    expect(s.types.size).toBeGreaterThan(150);
    const table = s.resolve({ kind: 'ref', name: 'Table' });
    expect(table.kind === 'object' && Object.keys(table.fields)).toEqual(
      expect.arrayContaining(['schema', 'timePartitioning', 'rangePartitioning', 'clustering', 'labels']),
    );
  });

  it('takes the documented limits from the field descriptions', () => {
    const l = documentedLimits();
    expect(l).toMatchObject({
      fieldNameMax: 300,
      fieldDescriptionMax: 1024,
      labelMax: 63,
      datasetIdMax: 1024,
      tableIdMax: 1024,
      fieldModes: ['NULLABLE', 'REQUIRED', 'REPEATED'],
      timePartitioningTypes: ['DAY', 'HOUR', 'MONTH', 'YEAR'],
    });
    expect(Object.fromEntries(l.fieldTypes)).toEqual({
      STRING: 'STRING',
      BYTES: 'BYTES',
      INTEGER: 'INTEGER',
      INT64: 'INTEGER',
      FLOAT: 'FLOAT',
      FLOAT64: 'FLOAT',
      BOOLEAN: 'BOOLEAN',
      BOOL: 'BOOLEAN',
      TIMESTAMP: 'TIMESTAMP',
      DATE: 'DATE',
      TIME: 'TIME',
      DATETIME: 'DATETIME',
      GEOGRAPHY: 'GEOGRAPHY',
      NUMERIC: 'NUMERIC',
      BIGNUMERIC: 'BIGNUMERIC',
      JSON: 'JSON',
      RECORD: 'RECORD',
      STRUCT: 'RECORD',
      RANGE: 'RANGE',
    });
  });
});
