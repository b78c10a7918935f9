import type { BigQuery } from '@google-cloud/bigquery';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BigQueryTableDefinition,
  type BigQueryTableSpec,
  type BigQueryValidationError,
  defineTable,
  estimateBytesBilled,
  isDbkitError,
  toTableResource,
} from '../../../src/query/index.js';
import { onDemandBytesBilled } from '../../setup/bigquery-rest-rules.js';
import { type FakeGcpRest, startFakeGcpRest } from '../../setup/fake-gcp-rest.js';

// dbkit's defineTable and the fake's API rules are written independently (the fake imports nothing from src/).
// Here they judge the same random table specs: every spec dbkit accepts must be accepted by the fake when sent by
// the real client, and every spec dbkit refuses must be refused by it. A disagreement is a bug in one of them.

let fake: FakeGcpRest;
let bq: BigQuery;
beforeAll(async () => {
  fake = await startFakeGcpRest();
  bq = fake.bigquery();
  fake.datasets.set('d', { datasetReference: { datasetId: 'd' } });
});
afterAll(() => fake.close());

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
type Field = Record<string, unknown> & { name: string; type: string; mode?: string };
const compact = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const TIME = new Set(['TIMESTAMP', 'DATE', 'DATETIME']);
const CLUSTERABLE = new Set(['STRING', 'INT64', 'BOOL', 'TIMESTAMP', 'DATE', 'DATETIME', 'RANGE']);

// A spec dbkit's reading of the docs accepts...
const field = fc
  .record({
    type: pick([
      'STRING',
      'INT64',
      'FLOAT64',
      'BOOL',
      'TIMESTAMP',
      'DATE',
      'DATETIME',
      'JSON',
      'RANGE',
      'RECORD',
      'STRUCT',
    ]),
    mode: pick([undefined, 'NULLABLE', 'REQUIRED', 'REPEATED']),
    description: pick([undefined, 'x', 'd'.repeat(1024), '😀'.repeat(1024)]),
    element: pick(['DATE', 'DATETIME', 'TIMESTAMP']),
    sub: pick([
      [{ name: 'a', type: 'STRING' }],
      [
        { name: 'a', type: 'STRING' },
        { name: 'b', type: 'RANGE', rangeElementType: 'DATE' },
      ],
    ]),
  })
  .map(({ element, sub, ...f }) =>
    compact({
      ...f,
      rangeElementType: f.type === 'RANGE' ? element : undefined,
      fields: f.type === 'RECORD' || f.type === 'STRUCT' ? sub : undefined,
    }),
  );
const validSpec = fc
  .record({
    fields: fc.array(field, { minLength: 1, maxLength: 6 }),
    names: fc.shuffledSubarray(['ts', 'day', 'dt', 'n', 's', 's2', 'rec', 'r', 'x', 'a'.repeat(300)], {
      minLength: 6,
      maxLength: 6,
    }),
    partition: pick(['none', 'time', 'range']),
    granularity: pick(['DAY', 'HOUR', 'MONTH', 'YEAR']),
    expirationDays: pick([undefined, null, 1, 0.5, 90]),
    clusterCount: fc.nat({ max: 4 }),
    labels: pick([{}, { team: 'data' }, { équipe: 'données', empty: '' }]),
    description: pick([undefined, 'x'.repeat(16_384)]),
  })
  .map((g) => {
    const schema = g.fields.map((f, i) => ({ ...f, name: g.names[i]! }) as Field);
    const usable = (f: Field) => f.mode !== 'REPEATED';
    const time = schema.find((f) => usable(f) && TIME.has(f.type));
    const int = schema.find((f) => usable(f) && f.type === 'INT64');
    const partitioning =
      g.partition === 'time' && time
        ? compact({
            type: time.type === 'DATE' && g.granularity === 'HOUR' ? 'DAY' : g.granularity,
            field: time.name,
            expirationDays: g.expirationDays,
          })
        : undefined;
    const rangePartitioning =
      g.partition === 'range' && int ? { field: int.name, start: 0, end: 1000, interval: 10 } : undefined;
    const clustering = schema
      .filter((f) => usable(f) && CLUSTERABLE.has(f.type))
      .slice(0, g.clusterCount)
      .map((f) => f.name);
    return compact({
      dataset: 'd',
      table: 't',
      schema,
      partitioning,
      rangePartitioning,
      clustering,
      labels: g.labels,
      description: g.description,
    });
  });

// ...and the faults the issue lists (and their neighbours), applied 0-2 at a time.
type Spec = Record<string, unknown> & { schema: Field[]; clustering: string[] };
const add = (s: Spec, ...f: Field[]): Spec => ({ ...s, schema: [...s.schema, ...f] });
const FAULTS: Array<(s: Spec) => Spec> = [
  (s) => add(s, { name: '1-bad name', type: 'STRING' }),
  (s) => add(s, { name: s.schema[0]!.name.toUpperCase(), type: 'STRING' }),
  (s) => ({ ...s, schema: [{ ...s.schema[0]!, description: 'd'.repeat(1025) }, ...s.schema.slice(1)] }),
  (s) => add(s, { name: 'rec9', type: 'RECORD' }),
  (s) =>
    add(s, {
      name: 'rec9',
      type: 'RECORD',
      fields: [
        { name: 'a', type: 'STRING' },
        { name: 'A', type: 'STRING' },
      ],
    }),
  (s) => add(s, { name: 'r9', type: 'RANGE' }),
  (s) => add(s, { name: 'r9', type: 'RANGE', rangeElementType: 'INT64' }),
  (s) => add(s, { name: '_PARTITIONTIME', type: 'TIMESTAMP' }),
  (s) => add(s, { name: 'v9', type: 'VARCHAR' }),
  (s) => add(s, { name: 'm9', type: 'STRING', mode: 'OPTIONAL' }),
  (s) => ({
    ...add(s, ...['c1', 'c2', 'c3', 'c4', 'c5'].map((name) => ({ name, type: 'STRING' }))),
    clustering: ['c1', 'c2', 'c3', 'c4', 'c5'],
  }),
  (s) => ({ ...s, clustering: [...s.clustering, s.schema[0]!.name, s.schema[0]!.name] }),
  (s) => ({ ...add(s, { name: 'f9', type: 'FLOAT64' }), clustering: ['f9'] }),
  (s) => ({ ...add(s, { name: 'j9', type: 'JSON' }), clustering: ['j9'] }),
  (s) => ({ ...add(s, { name: 'rep9', type: 'STRING', mode: 'REPEATED' }), clustering: ['rep9'] }),
  (s) => ({ ...s, clustering: ['missing'] }),
  (s) => ({ ...s, partitioning: { type: 'DAY', field: 'missing' } }),
  (s) => ({ ...add(s, { name: 'str9', type: 'STRING' }), partitioning: { type: 'DAY', field: 'str9' } }),
  (s) => ({ ...add(s, { name: 'd9', type: 'DATE' }), partitioning: { type: 'HOUR', field: 'd9' } }),
  (s) => ({
    ...add(s, { name: 'd9', type: 'DATE' }),
    partitioning: { type: 'DAY', field: 'd9', expirationDays: 0 },
  }),
  (s) => ({
    ...add(s, { name: 'd9', type: 'DATE' }),
    partitioning: { type: 'DAY', field: 'd9', expirationDays: 1e-9 },
  }),
  (s) => ({ ...add(s, { name: 'd9', type: 'DATE' }), partitioning: { type: 'WEEK', field: 'd9' } }),
  (s) => ({
    ...add(s, { name: 'd9', type: 'DATE' }, { name: 'i9', type: 'INT64' }),
    partitioning: { type: 'DAY', field: 'd9' },
    rangePartitioning: { field: 'i9', start: 0, end: 10, interval: 1 },
  }),
  (s) => ({
    ...add(s, { name: 'i9', type: 'INT64' }),
    partitioning: undefined,
    rangePartitioning: { field: 'i9', start: 0, end: 10_001, interval: 1 },
  }),
  (s) => ({
    ...add(s, { name: 'i9', type: 'STRING' }),
    partitioning: undefined,
    rangePartitioning: { field: 'i9', start: 0, end: 10, interval: 1 },
  }),
  (s) => ({ ...s, labels: { Team: 'data' } }),
  (s) => ({ ...s, labels: { team: 'Data' } }),
  (s) => ({ ...s, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, ''])) }),
  (s) => ({ ...s, description: 'x'.repeat(16_385) }),
];
const spec = fc
  .tuple(
    validSpec,
    fc.array(fc.nat({ max: FAULTS.length - 1 }), { minLength: 1, maxLength: 2 }),
    fc.nat({ max: 9 }),
  )
  .map(([s, faults, dice]) => (dice < 4 ? s : faults.reduce((acc, i) => FAULTS[i]!(acc as Spec), s as Spec)))
  .map((s) => compact(s) as unknown as BigQueryTableSpec);

/** What defineTable would build, without validating: the body the fake judges for a refused spec. */
function unvalidated(s: BigQueryTableSpec): BigQueryTableDefinition {
  const p = s.partitioning;
  return {
    dataset: s.dataset,
    table: s.table,
    schema: s.schema,
    partitioning: p
      ? { ...p, expirationDays: p.expirationDays === undefined ? 90 : p.expirationDays }
      : undefined,
    rangePartitioning: s.rangePartitioning,
    clustering: s.clustering ?? [],
    requirePartitionFilter: false,
    labels: s.labels ?? {},
    description: s.description,
  };
}

describe('dbkit and the fake agree on table specs', () => {
  it('accept and refuse the same random specs (300 runs, tables.insert through the real client)', async () => {
    const tally = { accepted: 0, refused: 0 };
    let n = 0;
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        let issues: string[] = [];
        try {
          defineTable(s);
        } catch (e) {
          if (!isDbkitError(e, 'E_BQ_VALIDATION')) throw e;
          issues = (e as BigQueryValidationError).issues.map((i) => `${i.path}: ${i.message}`);
        }
        const table = `t${n++}`;
        const sent = await bq
          .dataset('d')
          .createTable(table, toTableResource(unvalidated({ ...s, table })))
          .then(
            () => ({ status: 200, message: '' }),
            (e: { code?: number; message?: string }) => ({ status: e.code ?? 0, message: e.message ?? '' }),
          );
        expect([200, 400]).toContain(sent.status);
        const verdicts = {
          dbkit: issues.length === 0 ? 'accepts' : `refuses (${issues.join('; ')})`,
          fake: sent.status === 200 ? 'accepts' : `refuses (${sent.message})`,
        };
        expect(verdicts.dbkit.startsWith('accepts'), JSON.stringify(verdicts)).toBe(
          verdicts.fake.startsWith('accepts'),
        );
        tally[issues.length === 0 ? 'accepted' : 'refused']++;
      }),
      { numRuns: 300, seed: 17 },
    );
    // Both verdicts are well represented, so agreement is not the trivial "everything refused".
    expect(tally.accepted).toBeGreaterThan(100);
    expect(tally.refused).toBeGreaterThan(100);
  });
});

describe('the billed-bytes estimate and the fake agree on the on-demand rule', () => {
  it('bounds the bill of any split of the processed bytes over the referenced tables', () => {
    const MiB = 2 ** 20;
    const bytes = fc.oneof(
      fc.nat({ max: 30 * MiB }),
      fc.nat({ max: 2 ** 45 }),
      pick([0, 1, MiB, 10 * MiB, 10 * MiB + 1]),
    );
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 0, maxLength: 6 }), (perTable) => {
        const total = perTable.reduce((a, b) => a + b, 0);
        const { min, max } = estimateBytesBilled(total, perTable.length);
        const billed = onDemandBytesBilled(perTable);
        expect(billed).toBeGreaterThanOrEqual(min);
        expect(billed).toBeLessThanOrEqual(max);
        if (perTable.length <= 1) expect([min, max]).toEqual([billed, billed]);
      }),
      { numRuns: 2000, seed: 17 },
    );
  });

  it('reaches both bounds: even spread bills the minimum, one big table the maximum', () => {
    const MiB = 2 ** 20;
    expect(estimateBytesBilled(30 * MiB, 3)).toEqual({ min: 30 * MiB, max: 50 * MiB });
    expect(onDemandBytesBilled([10 * MiB, 10 * MiB, 10 * MiB])).toBe(30 * MiB);
    expect(onDemandBytesBilled([30 * MiB, 0, 0])).toBe(50 * MiB);
  });
});
