import { describe, expect, it } from 'vitest';
import { detectNPlusOne, fingerprintQuery, type QueryEvent, suggestBatch } from '../../src/query/index.js';

/** A settled query as instrument() reports it, issued `at` ms into the scope, sequentially. */
function event(sql: string, at: number): QueryEvent {
  const fp = fingerprintQuery(sql);
  return {
    client: 'postgres',
    sql,
    params: [],
    fingerprint: fp.fingerprint,
    fingerprintId: fp.id,
    startedAt: 1_700_000_000_000 + at,
    startMs: at,
    endMs: at + 1,
    durationMs: 1,
    rows: 1,
    command: 'SELECT',
    kind: 'query',
    connection: 'pool',
    slow: false,
    callSite: 'repo.ts:10',
  } as unknown as QueryEvent;
}

describe('N+1 detection on fingerprints', () => {
  it('counts spellings of one statement as one N+1 (spacing, case, quoting, literals, casts)', () => {
    const spellings = [
      'select * from users where id = 1',
      'SELECT * FROM "users" WHERE "id"=$1',
      'select * from users where id = 2 -- from the loader',
      "select * from users where id = '3'",
      'select * from users /* a /* nested */ b */ where id = 4',
    ];
    const [report, ...others] = detectNPlusOne(spellings.map((s, i) => event(s, i * 2)));
    expect(others).toEqual([]);
    expect(report).toMatchObject({ count: 5, fingerprint: 'select * from users where id = ?' });
    expect(report!.suggestion).toContain('select * from users where id = any(?)');
  });

  it('keeps statements apart that a backslash-ended string used to merge (standard_conforming_strings)', () => {
    const a = Array.from({ length: 5 }, (_, i) =>
      event(`select 'C:\\' as p, name from users where id = ${i}`, i * 2),
    );
    const b = Array.from({ length: 5 }, (_, i) =>
      event(`select 'C:\\' as p from orders where id = ${i}`, 20 + i * 2),
    );
    const reports = detectNPlusOne([...a, ...b]);
    expect(reports.map((r) => r.fingerprint).sort()).toEqual([
      'select ? from orders where id = ?',
      'select ?, name from users where id = ?',
    ]);
  });

  it('rewrites the WHERE key of an UPDATE, not its SET list', () => {
    const s = suggestBatch('update users set name = ? where users.id = ?', 7);
    expect(s).toContain('update users set name = ? where users.id = any(?)');
    expect(suggestBatch('delete from users where id in (?)', 3)).toContain(
      'delete from users where id in (?)',
    );
    expect(suggestBatch('insert into users (id) values (?)', 3)).toContain('bulkInsert');
    expect(suggestBatch('select * from posts where posts.author_id in (?)', 4)).toContain(
      'select * from posts where posts.author_id = any(?)',
    );
  });
});
