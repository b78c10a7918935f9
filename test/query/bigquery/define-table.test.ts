import { describe, expect, it } from 'vitest';
import {
  type BigQueryTableSpec,
  BigQueryValidationError,
  defineTable,
  isDbkitError,
  planTableChanges,
  toTableResource,
} from '../../../src/query/index.js';

const base = {
  dataset: 'analytics',
  table: 'events',
  schema: [
    { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'day', type: 'DATE' },
    { name: 'client_id', type: 'STRING' },
    { name: 'service', type: 'STRING' },
    { name: 'provider', type: 'STRING' },
    { name: 'region', type: 'STRING' },
    { name: 'cost', type: 'FLOAT64' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'payload', type: 'RECORD', fields: [{ name: 'kind', type: 'STRING' }] },
  ],
  partitioning: { type: 'DAY', field: 'ts' },
  clustering: ['client_id', 'service'],
  labels: { team: 'data', env: 'prod' },
} satisfies BigQueryTableSpec;

function issuesOf(spec: unknown): string[] {
  try {
    defineTable(spec as BigQueryTableSpec);
  } catch (e) {
    expect(isDbkitError(e, 'E_BQ_VALIDATION')).toBe(true);
    return (e as BigQueryValidationError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a validation error');
}

describe('defineTable', () => {
  it('applies the 90-day partition expiration and builds the REST table body', () => {
    const def = defineTable(base);
    expect(def.partitioning).toEqual({ type: 'DAY', field: 'ts', expirationDays: 90 });
    expect(def.requirePartitionFilter).toBe(false);
    expect(toTableResource(def)).toEqual({
      schema: {
        fields: [
          { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
          { name: 'day', type: 'DATE', mode: 'NULLABLE' },
          { name: 'client_id', type: 'STRING', mode: 'NULLABLE' },
          { name: 'service', type: 'STRING', mode: 'NULLABLE' },
          { name: 'provider', type: 'STRING', mode: 'NULLABLE' },
          { name: 'region', type: 'STRING', mode: 'NULLABLE' },
          { name: 'cost', type: 'FLOAT', mode: 'NULLABLE' },
          { name: 'tags', type: 'STRING', mode: 'REPEATED' },
          {
            name: 'payload',
            type: 'RECORD',
            mode: 'NULLABLE',
            fields: [{ name: 'kind', type: 'STRING', mode: 'NULLABLE' }],
          },
        ],
      },
      timePartitioning: { type: 'DAY', field: 'ts', expirationMs: String(90 * 86_400_000) },
      requirePartitionFilter: false,
      clustering: { fields: ['client_id', 'service'] },
      labels: { team: 'data', env: 'prod' },
    });
  });

  it('keeps partitions forever with expirationDays null', () => {
    const def = defineTable({ ...base, partitioning: { type: 'MONTH', field: 'day', expirationDays: null } });
    expect(toTableResource(def).timePartitioning).toEqual({ type: 'MONTH', field: 'day' });
  });

  it('refuses 5 clustering fields', () => {
    expect(issuesOf({ ...base, clustering: ['client_id', 'service', 'provider', 'region', 'day'] })).toEqual([
      'clustering: at most 4 clustering columns, got 5',
    ]);
  });

  it('refuses a partition field missing from the schema or of the wrong type', () => {
    expect(issuesOf({ ...base, partitioning: { type: 'DAY', field: 'nope' } })).toEqual([
      'partitioning.field: "nope" is not a top-level column of the schema',
    ]);
    expect(issuesOf({ ...base, partitioning: { type: 'DAY', field: 'client_id' } })).toEqual([
      'partitioning.field: "client_id" is STRING; needs DATE, TIMESTAMP or DATETIME',
    ]);
    expect(issuesOf({ ...base, partitioning: { type: 'HOUR', field: 'day' } })).toEqual([
      'partitioning.type: HOUR partitioning needs a TIMESTAMP or DATETIME column',
    ]);
  });

  it('refuses bad dataset, table and column names and reserved prefixes', () => {
    const issues = issuesOf({
      ...base,
      dataset: 'my-dataset',
      table: 'events`; DROP',
      schema: [...base.schema, { name: '1st', type: 'STRING' }, { name: '_PARTITIONTIME', type: 'STRING' }],
    });
    expect(issues).toHaveLength(4);
    expect(issues[0]).toMatch(/^dataset: "my-dataset"/);
    expect(issues[1]).toMatch(/^table: /);
    expect(issues[2]).toMatch(/^schema\[9\]\.name: "1st"/);
    expect(issues[3]).toMatch(/reserved prefix "_partition"/);
  });

  it('refuses bad labels, duplicate columns and unclusterable columns', () => {
    const issues = issuesOf({
      ...base,
      schema: [...base.schema, { name: 'COST', type: 'STRING' }],
      clustering: ['cost', 'tags'],
      labels: { Team: 'x', env: 'Prod!' },
    });
    expect(issues).toEqual([
      'schema[9].name: duplicate column "COST" (names are case-insensitive)',
      'clustering[0]: "cost" (FLOAT64) cannot be clustered on',
      'clustering[1]: "tags" (REPEATED STRING) cannot be clustered on',
      'labels.Team: label keys are 1-63 lowercase letters, digits, _ or -, starting with a letter',
      'labels.env: label values are 0-63 lowercase letters, digits, _ or -',
    ]);
  });

  it('rejects clustering on a column not in the schema at the type level', () => {
    expect(() =>
      defineTable({
        dataset: 'a',
        table: 'b',
        schema: [{ name: 'ts', type: 'TIMESTAMP' }],
        partitioning: { type: 'DAY', field: 'ts' },
        // @ts-expect-error 'nope' is not a column name of this schema
        clustering: ['nope'],
      }),
    ).toThrow(BigQueryValidationError);
  });
});

describe('planTableChanges', () => {
  it('plans create, patch, unchanged and rebuild offline, with no client at all', () => {
    const def = defineTable(base);
    const created = planTableChanges(def, undefined);
    expect(created).toEqual({ action: 'create', table: 'analytics.events', body: toTableResource(def) });
    const live = { ...toTableResource(def) };
    expect(planTableChanges(def, live)).toEqual({ action: 'unchanged', table: 'analytics.events' });
    expect(planTableChanges({ ...base, description: 'd' }, live)).toMatchObject({
      action: 'patch',
      fields: ['description'],
      patch: { description: 'd' },
    });
    const rebuild = planTableChanges({ ...base, partitioning: { type: 'MONTH', field: 'day' } }, live, {
      rebuildSuffix: 's',
    });
    expect(rebuild).toMatchObject({
      action: 'rebuild',
      plan: {
        reasons: ['partitioning changes DAY on ts -> MONTH on day'],
        rebuildTable: 'analytics.events__rebuild_s',
      },
    });
    if (rebuild.action === 'rebuild')
      expect(rebuild.plan.statements[0]).toContain('PARTITION BY DATE_TRUNC(`day`, MONTH)');
  });
});
