import { describe, expect, it } from 'vitest';
import { fingerprintQuery, normalizeSql } from '../../src/query/index.js';

describe('normalizeSql', () => {
  it.each([
    ['select * from users where id = 1', 'select * from users where id = ?'],
    ['SELECT *\n\tFROM users  WHERE id = $1', 'select * from users where id = ?'],
    ["select * from t where name = 'O''Brien' and x = E'a\\'b'", 'select * from t where name = ? and x = ?'],
    ['select * from t where id in (1, 2, 3)', 'select * from t where id in (?)'],
    ['select * from t where id in ($1,$2,$3,$4)', 'select * from t where id in (?)'],
    ["insert into t (a, b) values (1, 'x'), (2, 'y'), ($1, $2)", 'insert into t (a, b) values (?)'],
    ['select -1.5e3, 42, true, null from t', 'select ?, ?, ?, null from t'],
    ['select $$a;b$$, $tag$x$tag$ from t', 'select ?, ? from t'],
    ['select 1 -- trailing\n/* block */ from t;', 'select ? from t'],
    ['select "MixedCase"."Col" from "MixedCase"', 'select "MixedCase"."Col" from "MixedCase"'],
    ['select * from t where a = any(array[1,2,3])', 'select * from t where a = any(array[?])'],
    ['select t1.c2 from t1', 'select t1.c2 from t1'],
    ['select abs(-1) - 2 from t', 'select abs(?) - ? from t'],
  ])('%s', (input, expected) => {
    expect(normalizeSql(input)).toBe(expected);
  });

  it('gives literal variants one id and different statements different ids', () => {
    const a = fingerprintQuery('select * from users where id = 1');
    const b = fingerprintQuery('select * from users where id = 2');
    const c = fingerprintQuery('select * from users where email = 1');
    expect(a.id).toBe(b.id);
    expect(a.id).not.toBe(c.id);
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
  });
});
