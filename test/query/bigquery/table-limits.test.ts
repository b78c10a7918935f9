import { describe, expect, it } from 'vitest';
import {
  type BigQueryFieldSpec,
  type BigQueryTableSpec,
  type BigQueryValidationError,
  defineTable,
  isDbkitError,
  toTableResource,
} from '../../../src/query/index.js';

// Every documented limit defineTable enforces, as a pair: the spec at the limit (accepted) and just past it
// (refused with the issue named). Sources are cited in src/query/bigquery/limits.ts and names.ts.

const base: BigQueryTableSpec = {
  dataset: 'd',
  table: 't',
  schema: [
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'day', type: 'DATE' },
    { name: 'dt', type: 'DATETIME' },
    { name: 'n', type: 'INT64' },
    { name: 's1', type: 'STRING' },
    { name: 's2', type: 'STRING' },
    { name: 's3', type: 'STRING' },
    { name: 's4', type: 'STRING' },
    { name: 's5', type: 'STRING' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'f', type: 'FLOAT64' },
    { name: 'j', type: 'JSON' },
    { name: 'r', type: 'RANGE', rangeElementType: 'DATE' },
  ],
};

type Spec = BigQueryTableSpec;
const col = (f: BigQueryFieldSpec): Spec => ({ ...base, schema: [...base.schema, f] });
const nested = (depth: number): BigQueryFieldSpec =>
  depth === 1
    ? { name: 'leaf', type: 'STRING' }
    : { name: `l${depth}`, type: 'RECORD', fields: [nested(depth - 1)] };
const columns = (n: number): Spec => ({
  ...base,
  schema: Array.from({ length: n }, (_, i) => ({ name: `c${i}`, type: 'STRING' as const })),
});
const labels = (n: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
const DAY_MS = 86_400_000;

function issues(spec: unknown): string[] {
  try {
    defineTable(spec as Spec);
    return [];
  } catch (e) {
    if (!isDbkitError(e, 'E_BQ_VALIDATION')) throw e;
    return (e as BigQueryValidationError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}

interface Limit {
  limit: string;
  ok: Spec[];
  bad: Array<[Spec, RegExp]>;
}

const limits: Limit[] = [
  {
    limit: 'column description at most 1,024 characters (code points)',
    ok: [
      col({ name: 'x', type: 'STRING', description: 'd'.repeat(1024) }),
      col({ name: 'x', type: 'STRING', description: '😀'.repeat(1024) }),
    ],
    bad: [
      [
        col({ name: 'x', type: 'STRING', description: 'd'.repeat(1025) }),
        /^schema\[13\]\.description: at most 1024 characters, got 1025$/,
      ],
    ],
  },
  {
    limit: 'column name at most 300 characters',
    ok: [col({ name: 'a'.repeat(300), type: 'STRING' })],
    bad: [
      [col({ name: 'a'.repeat(301), type: 'STRING' }), /^schema\[13\]\.name: "a+" must start with a letter/],
    ],
  },
  {
    limit: 'column names: letters, digits, underscores, not starting with a digit',
    ok: [col({ name: '_Ok_Name_1', type: 'STRING' })],
    bad: ['1-bad name', 'bad-name', 'has space', 'é', '1st', ''].map((name) => [
      col({ name, type: 'STRING' }),
      /^schema\[13\]\.name: ".*" must start with a letter or underscore/,
    ]),
  },
  {
    limit: 'reserved column-name prefixes, case-insensitive',
    ok: [col({ name: '_part', type: 'STRING' }), col({ name: 'table_x', type: 'STRING' })],
    bad: [
      '_PARTITIONTIME',
      '_table_suffix',
      '_FILE_NAME',
      '_row_timestamp',
      '__ROOT__',
      '_colidentifier1',
    ].map((name) => [col({ name, type: 'STRING' }), /^schema\[13\]\.name: ".*" uses the reserved prefix/]),
  },
  {
    limit: 'column names unique regardless of case, at every level',
    ok: [col({ name: 'rec', type: 'RECORD', fields: [{ name: 'ts', type: 'STRING' }] })],
    bad: [
      [col({ name: 'TS', type: 'STRING' }), /^schema\[13\]\.name: duplicate column "TS"/],
      [
        col({
          name: 'rec',
          type: 'RECORD',
          fields: [
            { name: 'a', type: 'STRING' },
            { name: 'A', type: 'INT64' },
          ],
        }),
        /^schema\[13\]\.fields\[1\]\.name: duplicate column "A"/,
      ],
    ],
  },
  {
    limit: 'RECORD needs at least one sub-field; only RECORD has fields',
    ok: [col({ name: 'rec', type: 'STRUCT', fields: [{ name: 'a', type: 'STRING' }] })],
    bad: [
      [col({ name: 'rec', type: 'RECORD' }), /^schema\[13\]\.fields: needs at least one column$/],
      [col({ name: 'rec', type: 'RECORD', fields: [] }), /^schema\[13\]\.fields: needs at least one column$/],
      [
        col({ name: 'x', type: 'STRING', fields: [{ name: 'a', type: 'STRING' }] }),
        /only RECORD\/STRUCT columns have fields/,
      ],
    ],
  },
  {
    limit: 'RANGE needs rangeElementType DATE, DATETIME or TIMESTAMP; only RANGE has one',
    ok: (['DATE', 'DATETIME', 'TIMESTAMP'] as const).map((t) =>
      col({ name: 'x', type: 'RANGE', rangeElementType: t }),
    ),
    bad: [
      [col({ name: 'x', type: 'RANGE' }), /^schema\[13\]\.rangeElementType: RANGE columns need/],
      [
        col({ name: 'x', type: 'RANGE', rangeElementType: 'INT64' as never }),
        /RANGE columns need rangeElementType/,
      ],
      [
        col({ name: 'x', type: 'STRING', rangeElementType: 'DATE' }),
        /only RANGE columns have rangeElementType/,
      ],
    ],
  },
  {
    limit: 'column types and modes from the API enums',
    ok: [col({ name: 'x', type: 'BIGNUMERIC', mode: 'REQUIRED' }), col({ name: 'x', type: 'INTERVAL' })],
    bad: [
      [col({ name: 'x', type: 'VARCHAR' as never }), /^schema\[13\]\.type: unknown type "VARCHAR"$/],
      [
        col({ name: 'x', type: 'STRING', mode: 'OPTIONAL' as never }),
        /^schema\[13\]\.mode: must be NULLABLE, REQUIRED or REPEATED, got "OPTIONAL"$/,
      ],
    ],
  },
  {
    limit: 'RECORD nesting at most 15 levels',
    ok: [col(nested(15))],
    bad: [[col(nested(16)), /RECORD columns nest at most 15 levels/]],
  },
  {
    limit: 'at most 10,000 columns, nested included',
    ok: [columns(10_000)],
    bad: [
      [columns(10_001), /^schema: at most 10000 columns \(nested included\), got 10001$/],
      [
        {
          ...columns(9_999),
          schema: [
            ...columns(9_999).schema,
            { name: 'rec', type: 'RECORD', fields: [{ name: 'a', type: 'STRING' }] },
          ],
        },
        /got 10001$/,
      ],
    ],
  },
  {
    limit: 'time partitioning DAY, HOUR, MONTH, YEAR on DATE, TIMESTAMP, DATETIME (HOUR not on DATE)',
    ok: [
      ...(['DAY', 'HOUR', 'MONTH', 'YEAR'] as const).map((type) => ({
        ...base,
        partitioning: { type, field: 'ts' },
      })),
      ...(['DAY', 'MONTH', 'YEAR'] as const).map((type) => ({
        ...base,
        partitioning: { type, field: 'day' },
      })),
      { ...base, partitioning: { type: 'YEAR', field: 'dt' } },
      { ...base, partitioning: { type: 'HOUR', field: 'dt' } },
    ],
    bad: [
      [
        { ...base, partitioning: { type: 'WEEK' as never, field: 'ts' } },
        /^partitioning\.type: must be DAY, HOUR, MONTH or YEAR, got "WEEK"$/,
      ],
      [
        { ...base, partitioning: { type: 'HOUR', field: 'day' } },
        /^partitioning\.type: HOUR partitioning needs a TIMESTAMP or DATETIME/,
      ],
    ],
  },
  {
    limit: 'the time partition field is a top-level, non-repeated DATE/TIMESTAMP/DATETIME column',
    ok: [{ ...base, partitioning: { type: 'DAY', field: 'dt' } }],
    bad: [
      [
        { ...base, partitioning: { type: 'DAY', field: 'nope' } },
        /^partitioning\.field: "nope" is not a top-level column/,
      ],
      [
        { ...base, partitioning: { type: 'DAY', field: 's1' } },
        /^partitioning\.field: "s1" is STRING; needs DATE, TIMESTAMP or DATETIME$/,
      ],
      [{ ...base, partitioning: { type: 'DAY', field: 'n' } }, /"n" is INT64; needs DATE/],
      [
        {
          ...col({ name: 'many', type: 'DATE', mode: 'REPEATED' }),
          partitioning: { type: 'DAY', field: 'many' },
        },
        /"many" is REPEATED/,
      ],
      [
        {
          ...col({ name: 'rec', type: 'RECORD', fields: [{ name: 'inner', type: 'DATE' }] }),
          partitioning: { type: 'DAY', field: 'inner' },
        },
        /"inner" is not a top-level column/,
      ],
    ],
  },
  {
    limit: 'partition expiration is at least 1 ms (expirationMs "0" is invalid) or null',
    ok: [1 / DAY_MS, 0.5, 90, null].map((expirationDays) => ({
      ...base,
      partitioning: { type: 'DAY', field: 'ts', expirationDays },
    })),
    bad: [0, -1, 1e-9, Number.NaN, Number.POSITIVE_INFINITY, 1e15].map((expirationDays) => [
      { ...base, partitioning: { type: 'DAY', field: 'ts', expirationDays } },
      /^partitioning\.expirationDays: must be a positive number of days/,
    ]),
  },
  {
    limit:
      'integer-range partitioning on a non-repeated INT64, start < end, interval > 0, at most 10,000 partitions',
    ok: [
      { ...base, rangePartitioning: { field: 'n', start: 0, end: 10_000, interval: 1 } },
      { ...base, rangePartitioning: { field: 'n', start: -50, end: 50, interval: 7 } },
    ],
    bad: [
      [
        { ...base, rangePartitioning: { field: 'n', start: 0, end: 10_001, interval: 1 } },
        /^rangePartitioning: would create 10001 partitions; at most 10000$/,
      ],
      [
        { ...base, rangePartitioning: { field: 's1', start: 0, end: 10, interval: 1 } },
        /^rangePartitioning\.field: "s1" is STRING; needs a non-repeated INT64$/,
      ],
      [
        { ...base, rangePartitioning: { field: 'nope', start: 0, end: 10, interval: 1 } },
        /"nope" is not a top-level column/,
      ],
      [
        { ...base, rangePartitioning: { field: 'n', start: 0, end: 10, interval: 0 } },
        /^rangePartitioning\.interval: must be positive$/,
      ],
      [
        { ...base, rangePartitioning: { field: 'n', start: 10, end: 10, interval: 1 } },
        /^rangePartitioning\.end: must be greater than start$/,
      ],
      [
        { ...base, rangePartitioning: { field: 'n', start: 0.5, end: 10, interval: 1 } },
        /^rangePartitioning\.start: must be an integer/,
      ],
    ],
  },
  {
    limit: 'time partitioning and range partitioning are exclusive',
    ok: [{ ...base, partitioning: { type: 'DAY', field: 'ts' } }],
    bad: [
      [
        {
          ...base,
          partitioning: { type: 'DAY', field: 'ts' },
          rangePartitioning: { field: 'n', start: 0, end: 10, interval: 1 },
        },
        /^rangePartitioning: a table has time partitioning or range partitioning, not both$/,
      ],
    ],
  },
  {
    limit: 'requirePartitionFilter needs a partitioning',
    ok: [
      {
        ...base,
        rangePartitioning: { field: 'n', start: 0, end: 10, interval: 1 },
        requirePartitionFilter: true,
      },
    ],
    bad: [[{ ...base, requirePartitionFilter: true }, /^requirePartitionFilter: needs partitioning/]],
  },
  {
    limit: 'at most 4 distinct, top-level, clusterable clustering columns',
    ok: [
      { ...base, clustering: ['s1', 's2', 's3', 's4'] },
      { ...base, clustering: ['ts', 'day', 'n', 'r'] },
    ],
    bad: [
      [
        { ...base, clustering: ['s1', 's2', 's3', 's4', 's5'] },
        /^clustering: at most 4 clustering columns, got 5$/,
      ],
      [{ ...base, clustering: ['s1', 's1'] }, /^clustering\[1\]: "s1" is listed twice$/],
      [{ ...base, clustering: ['nope'] }, /^clustering\[0\]: "nope" is not a top-level column$/],
      [{ ...base, clustering: ['f'] }, /"f" \(FLOAT64\) cannot be clustered on/],
      [{ ...base, clustering: ['j'] }, /"j" \(JSON\) cannot be clustered on/],
      [{ ...base, clustering: ['tags'] }, /"tags" \(REPEATED STRING\) cannot be clustered on/],
    ],
  },
  {
    limit: 'labels: at most 64; keys 1-63 lowercase starting with a letter; values 0-63 lowercase',
    ok: [
      { ...base, labels: labels(64) },
      {
        ...base,
        labels: { ['k'.repeat(63)]: 'v'.repeat(63), équipe: 'données', empty: '', 'a-b_c': '1-2_3' },
      },
    ],
    bad: [
      [{ ...base, labels: labels(65) }, /^labels: at most 64 labels, got 65$/],
      [{ ...base, labels: { ['k'.repeat(64)]: 'v' } }, /^labels\.k+: label keys are 1-63/],
      [{ ...base, labels: { k: 'v'.repeat(64) } }, /^labels\.k: label values are 0-63/],
      [{ ...base, labels: { Team: 'x' } }, /^labels\.Team: label keys/],
      [{ ...base, labels: { team: 'Data' } }, /^labels\.team: label values/],
      [{ ...base, labels: { '1team': 'x' } }, /^labels\.1team: label keys/],
      [{ ...base, labels: { '': 'x' } }, /label keys/],
    ],
  },
  {
    limit: 'table description at most 16,384 characters',
    ok: [{ ...base, description: 'x'.repeat(16_384) }],
    bad: [[{ ...base, description: 'x'.repeat(16_385) }, /^description: at most 16384 characters$/]],
  },
  {
    limit: 'dataset ids: 1-1,024 letters, digits, underscores',
    ok: [
      { ...base, dataset: 'D_1' },
      { ...base, dataset: 'd'.repeat(1024) },
    ],
    bad: [
      [{ ...base, dataset: 'my-dataset' }, /^dataset: "my-dataset" must be/],
      [{ ...base, dataset: 'd'.repeat(1025) }, /^dataset: /],
      [{ ...base, dataset: '' }, /^dataset: /],
    ],
  },
  {
    limit: 'table ids: letters, marks, numbers, connectors, dashes, spaces; at most 1,024 UTF-8 bytes',
    ok: [
      { ...base, table: 'table 01' },
      { ...base, table: 'étudiant-01' },
      { ...base, table: '00_お客様' },
      { ...base, table: 't'.repeat(1024) },
    ],
    bad: [
      [{ ...base, table: 't'.repeat(1025) }, /^table: /],
      [{ ...base, table: 'é'.repeat(513) }, /^table: /],
      [{ ...base, table: 'x`; DROP' }, /^table: /],
    ],
  },
];

describe('defineTable enforces the v2 API limits', () => {
  for (const l of limits) {
    it(`accepts at the limit: ${l.limit}`, () => {
      for (const spec of l.ok) expect(issues(spec)).toEqual([]);
    });
    it(`refuses past the limit: ${l.limit}`, () => {
      for (const [spec, want] of l.bad) {
        const got = issues(spec);
        expect(got, JSON.stringify(got)).toHaveLength(1);
        expect(got[0]).toMatch(want);
      }
    });
  }

  it('reports every issue at once, before any request', () => {
    const got = issues({
      ...base,
      schema: [
        ...base.schema,
        { name: '1-bad name', type: 'RECORD' },
        { name: 'S1', type: 'STRING', description: 'x'.repeat(2000) },
      ],
      partitioning: { type: 'DAY', field: 's1', expirationDays: 0 },
      rangePartitioning: { field: 'n', start: 0, end: 10, interval: 1 },
      clustering: ['s1', 's2', 's3', 's4', 's5'],
      labels: { Team: 'X' },
    });
    expect(got.map((i) => i.split(':')[0])).toEqual([
      'schema[13].name',
      'schema[13].fields',
      'schema[14].name',
      'schema[14].description',
      'rangePartitioning',
      'partitioning.field',
      'partitioning.expirationDays',
      'clustering',
      'labels.Team',
      'labels.Team',
    ]);
  });
});

describe('defineTable on a spec of the wrong shape (JavaScript callers, specs read from JSON)', () => {
  // Each is a BigQueryValidationError naming the path, never a TypeError from inside the checks.
  const cases: Array<[string, unknown, string]> = [
    ['no spec', undefined, 'spec'],
    ['a null spec', null, 'spec'],
    ['a string spec', 'events', 'spec'],
    ['a null column', { ...base, schema: [null] }, 'schema[0]'],
    ['a string column', { ...base, schema: ['ts'] }, 'schema[0]'],
    [
      'a null nested column',
      { ...base, schema: [{ name: 'r', type: 'RECORD', fields: [null] }] },
      'schema[0].fields[0]',
    ],
    ['clustering as a string', { ...base, clustering: 's1' }, 'clustering'],
    ['labels as a string', { ...base, labels: 'team' }, 'labels'],
    ['partitioning as a string', { ...base, partitioning: 'DAY' }, 'partitioning'],
    ['rangePartitioning as a number', { ...base, rangePartitioning: 10 }, 'rangePartitioning'],
  ];
  it.each(cases)('%s', (_name, spec, path) => {
    const got = issues(spec);
    expect(got.length, JSON.stringify(got)).toBeGreaterThan(0);
    expect(got[0]!.split(':')[0]).toBe(path);
  });
});

describe('REST body for the newer features', () => {
  it('sends RANGE columns with rangeElementType, YEAR partitioning and int64 range bounds as strings', () => {
    const yearly = defineTable({
      dataset: 'd',
      table: 'yearly',
      schema: [
        { name: 'day', type: 'DATE', mode: 'REQUIRED' },
        { name: 'valid', type: 'RANGE', rangeElementType: 'TIMESTAMP', description: 'validity' },
      ],
      partitioning: { type: 'YEAR', field: 'day', expirationDays: 3650 },
      clustering: ['valid'],
    });
    expect(toTableResource(yearly)).toEqual({
      schema: {
        fields: [
          { name: 'day', type: 'DATE', mode: 'REQUIRED' },
          {
            name: 'valid',
            type: 'RANGE',
            mode: 'NULLABLE',
            description: 'validity',
            rangeElementType: { type: 'TIMESTAMP' },
          },
        ],
      },
      timePartitioning: { type: 'YEAR', field: 'day', expirationMs: String(3650 * DAY_MS) },
      requirePartitionFilter: false,
      clustering: { fields: ['valid'] },
    });
    const ranged = defineTable({
      dataset: 'd',
      table: 'ranged',
      schema: [{ name: 'customer_id', type: 'INT64' }],
      rangePartitioning: { field: 'customer_id', start: 0, end: 1_000_000, interval: 1000 },
      requirePartitionFilter: true,
    });
    expect(ranged.partitioning).toBeUndefined();
    expect(toTableResource(ranged)).toEqual({
      schema: { fields: [{ name: 'customer_id', type: 'INTEGER', mode: 'NULLABLE' }] },
      rangePartitioning: { field: 'customer_id', range: { start: '0', end: '1000000', interval: '1000' } },
      requirePartitionFilter: true,
    });
  });
});
