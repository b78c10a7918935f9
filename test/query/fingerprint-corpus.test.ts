/**
 * dbkit fingerprints against the Postgres parser (libpg-query) on a corpus of statements.
 *
 * - Within a corpus group (whitespace, case, quoting, comments, literals, type-name spelling): one dbkit
 *   fingerprint, and one parse tree once dbkit's normalizations are applied (the group is honest).
 * - No merges: two statements with one dbkit fingerprint have one pg_query fingerprint (after spelling
 *   internal type names the standard way, the one documented coarsening).
 * - Splits only where documented: when pg_query merges two statements dbkit keeps apart, their parse trees
 *   really differ (strict keys) and the difference is one of the documented refinements (relaxed keys equal).
 * - dbkit's grouping equals the strict parse-tree key exactly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprintQuery } from '../../src/query/index.js';
import { corpus } from './fingerprint-corpus.js';
import {
  canonicalTypeSpelling,
  loadOracle,
  pgFingerprint,
  relaxedKey,
  strictKey,
} from './fingerprint-oracle.js';

interface Row {
  sql: string;
  group: number;
  dbkit: string;
  pg: string;
  pgTypes: string;
  strict: string;
  relaxed: string;
}
let rows: Row[] = [];

beforeAll(async () => {
  await loadOracle();
  rows = corpus.flatMap((group, g) =>
    group.map((sql) => ({
      sql,
      group: g,
      dbkit: fingerprintQuery(sql).id,
      pg: pgFingerprint(sql),
      pgTypes: pgFingerprint(canonicalTypeSpelling(sql)),
      strict: strictKey(sql),
      relaxed: relaxedKey(sql),
    })),
  );
});

const pairs = function* (rs: Row[]) {
  for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) yield [rs[i]!, rs[j]!] as const;
};
const show = (a: Row, b: Row) => `\n  ${JSON.stringify(a.sql)}\n  ${JSON.stringify(b.sql)}`;

describe('fingerprints against the Postgres parser', () => {
  it('has a corpus of at least 240 statements that all parse', () => {
    expect(rows.length).toBeGreaterThanOrEqual(240);
    expect(corpus.length).toBeGreaterThanOrEqual(100);
  });

  it('gives every statement of a group one fingerprint (no split by spacing, case, quoting, comments, type spelling)', () => {
    const splits: string[] = [];
    for (const group of corpus) {
      const ids = new Map(group.map((sql) => [fingerprintQuery(sql).fingerprint, sql]));
      if (ids.size > 1)
        splits.push([...ids].map(([fp, sql]) => `${JSON.stringify(sql)} -> ${fp}`).join('\n  '));
    }
    expect(splits, splits.join('\n\n')).toEqual([]);
  });

  it('keeps each group honest: its statements have one parse tree under dbkit normalizations', () => {
    const bad = corpus
      .map((_, g) => rows.filter((r) => r.group === g))
      .filter((rs) => new Set(rs.map((r) => r.strict)).size > 1)
      .map((rs) => rs.map((r) => r.sql).join(' | '));
    expect(bad).toEqual([]);
  });

  it('never merges statements the parser keeps apart', () => {
    const merges: string[] = [];
    for (const [a, b] of pairs(rows))
      if (a.dbkit === b.dbkit && a.pgTypes !== b.pgTypes) merges.push(show(a, b));
    expect(merges, merges.join('\n')).toEqual([]);
  });

  it('uses the type-spelling coarsening only for type names (int4 vs integer), and it is exercised', () => {
    let viaTypes = 0;
    for (const [a, b] of pairs(rows))
      if (a.dbkit === b.dbkit && a.pg !== b.pg) {
        expect(
          canonicalTypeSpelling(a.sql) !== a.sql || canonicalTypeSpelling(b.sql) !== b.sql,
          show(a, b),
        ).toBe(true);
        viaTypes++;
      }
    expect(viaTypes).toBeGreaterThan(0);
  });

  it('keeps apart what pg_query merges only for the documented refinements', () => {
    const undocumented: string[] = [];
    let documented = 0;
    for (const [a, b] of pairs(rows)) {
      if (a.pg !== b.pg || a.dbkit === b.dbkit) continue;
      if (a.strict !== b.strict && a.relaxed === b.relaxed) documented++;
      else undocumented.push(show(a, b));
    }
    expect(undocumented, undocumented.join('\n')).toEqual([]);
    expect(documented).toBeGreaterThan(0);
  });

  it('groups exactly like the parse tree under dbkit normalizations', () => {
    const diff: string[] = [];
    for (const [a, b] of pairs(rows))
      if ((a.dbkit === b.dbkit) !== (a.strict === b.strict))
        diff.push(`${a.dbkit === b.dbkit ? 'dbkit merges' : 'dbkit splits'}:${show(a, b)}`);
    expect(diff, diff.join('\n')).toEqual([]);
  });

  it('fixes the merges and splits reported in issue 11', () => {
    const id = (s: string) => fingerprintQuery(s).id;
    // merges that hid N+1s
    expect(id("select 'C:\\' as p, name from users")).not.toBe(id("select 'C:\\' as p from users"));
    expect(id('select * from f where x is true')).not.toBe(id('select * from f where x is false'));
    expect(id('select * from f where x is true')).not.toBe(id('select * from f where x = true'));
    // splits
    for (const [a, b] of [
      ['select * from t where id=1', 'select * from t where id = 1'],
      ['select * from t where a>=1', 'select * from t where a >= 1'],
      ['select a::int from t', 'select a :: int from t'],
      ["select d->>'k' from t", "select d ->> 'k' from t"],
      ["select d#>>'{k}' from t", "select d #>> '{k}' from t"],
      ['select n -1 from t', 'select n - 1 from t'],
      ['select * from t where n between -5 and -1', 'select * from t where n between 1 and 5'],
      ['select "id" from "t"', 'select id from t'],
      ['select a::int from t', 'select a::integer from t'],
      ['select a::int4 from t', 'select a::integer from t'],
      ["select '2024-01-01'::date", "select date '2024-01-01'"],
      ["select cast('2024-01-01' as date)", "select date '2024-01-01'"],
      ["select interval '5 minutes'", "select '2 days'::interval"],
      ["select U&'d\\0061t'", "select 'x'"],
      ['select * from t where a = null', 'select * from t where a = 1'],
      ['select 1 /* a /* b */ c */ from t', 'select 1 from t'],
      ['select a as x from t', 'select a as y from t'],
      ['insert into t (a, b) values (1, default), (default, 2)', 'insert into t (a, b) values (1, 2)'],
    ] as const)
      expect(id(a), `${a} vs ${b}`).toBe(id(b));
  });
});
