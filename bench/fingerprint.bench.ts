/**
 * dbkit/query fingerprints: nanoseconds per fingerprint, cold (a statement text seen for the first time: lex,
 * normalize, SHA-1) and cached (a text seen before: one Map lookup), against
 * - pg_query's fingerprint (npm libpg-query, the Postgres parser compiled to WASM) on the same texts,
 * - dbkit's previous fingerprintQuery (bench/fingerprint-previous.ts: a regex-assisted scanner, wrong on the
 *   cases of issue 11, with the same cache),
 * - SHA-1 of the raw text (the floor for any id),
 * interleaved in one run. The statements are the test corpus (test/query/fingerprint-corpus.ts): drizzle-style
 * selects, inserts with multi-row VALUES, updates, CTEs, casts, comments.
 */
import { createHash } from 'node:crypto';
import { fingerprintSync, loadModule } from 'libpg-query';
import { fingerprintQuery, normalizeSql } from '../src/query/index.js';
import { corpus } from '../test/query/fingerprint-corpus.js';
import { previousFingerprintQuery } from './fingerprint-previous.js';
import type { BenchReport } from './harness.js';

export default async function (report: BenchReport): Promise<void> {
  await loadModule();
  const texts = corpus.flat();
  const n = texts.length;
  const perSample = n * 10;
  let sink = 0;
  let serial = 0;
  // Cold: every call sees a text it has not seen before (a unique trailing comment defeats the cache, as
  // inline literals do in production).
  const fresh = () => {
    const base = serial++;
    return texts.map((t, i) => `${t} -- ${base}:${i}`);
  };
  const coldBatches: string[][] = [];
  const nextCold = () => coldBatches.pop() ?? fresh();
  const refill = () => {
    while (coldBatches.length < 10) coldBatches.push(fresh());
  };
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 16);
  // (the floor uses createHash like the previous implementation; dbkit now uses the one-shot crypto.hash)

  const cold = await report.group({
    title: `fingerprint, cold (${n} distinct statements x 10 per sample)`,
    unit: 'fingerprints',
    rounds: 25,
    cases: [
      {
        name: 'dbkit fingerprintQuery (cache miss)',
        before: refill,
        fn: () => {
          for (let r = 0; r < 10; r++) for (const t of nextCold()) sink += fingerprintQuery(t).id.length;
        },
        units: perSample,
      },
      {
        name: 'pg_query fingerprint (libpg-query WASM)',
        baseline: true,
        before: refill,
        fn: () => {
          for (let r = 0; r < 10; r++) for (const t of nextCold()) sink += fingerprintSync(t).length;
        },
        units: perSample,
      },
      {
        name: 'previous dbkit fingerprintQuery (cache miss)',
        baseline: true,
        before: refill,
        fn: () => {
          for (let r = 0; r < 10; r++)
            for (const t of nextCold()) sink += previousFingerprintQuery(t).id.length;
        },
        units: perSample,
      },
      {
        name: 'SHA-1 of the raw text (floor)',
        baseline: true,
        before: refill,
        fn: () => {
          for (let r = 0; r < 10; r++) for (const t of nextCold()) sink += sha1(t).length;
        },
        units: perSample,
      },
    ],
  });

  for (const t of texts) fingerprintQuery(t); // warm the cache
  const cached = await report.group({
    title: `fingerprint, cached (${n} statements seen before x 10 per sample)`,
    unit: 'fingerprints',
    rounds: 40,
    cases: [
      {
        name: 'dbkit fingerprintQuery (cache hit)',
        fn: () => {
          for (let r = 0; r < 10; r++) for (const t of texts) sink += fingerprintQuery(t).id.length;
        },
        units: perSample,
      },
      {
        name: 'dbkit normalizeSql (no cache)',
        baseline: true,
        fn: () => {
          for (let r = 0; r < 10; r++) for (const t of texts) sink += normalizeSql(t).length;
        },
        units: perSample,
      },
    ],
  });
  const ns = (g: typeof cold, i: number) => (g.cases[i]!.medianMs * 1e6) / perSample;
  for (const [i, name] of [
    [1, 'pg_query fingerprint'],
    [2, 'previous dbkit fingerprintQuery'],
    [3, 'SHA-1 of the raw text'],
  ] as const)
    report.metric({
      name: 'ns per fingerprint, cold',
      ours: ns(cold, 0),
      baseline: ns(cold, i),
      baselineName: name,
      unit: 'ns',
    });
  report.metric({
    name: 'ns per fingerprint, cached',
    ours: ns(cached, 0),
    baseline: ns(cached, 1),
    baselineName: 'normalizeSql without the cache',
    unit: 'ns',
  });
  if (sink === 42) console.log('');
}
