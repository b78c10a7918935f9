import { describe, expect, it } from 'vitest';
import { fingerprintQuery, normalizeSql } from '../../src/query/index.js';

describe('normalizeSql', () => {
  it.each([
    ['select * from users where id = 1', 'select * from users where id = ?'],
    ['SELECT *\n\tFROM users  WHERE id=$1', 'select * from users where id = ?'],
    ["select * from t where name = 'O''Brien' and x = E'a\\'b'", 'select * from t where name = ? and x = ?'],
    ['select * from t where id in (1, 2, 3)', 'select * from t where id in (?)'],
    ['select * from t where id in ($1,$2,$3,$4)', 'select * from t where id in (?)'],
    ["insert into t (a, b) values (1, 'x'), (2, 'y'), ($1, $2)", 'insert into t (a, b) values (?)'],
    ['insert into t (a, b) values (1, default), (default, 2)', 'insert into t (a, b) values (?)'],
    ['select -1.5e3, 42, true, null from t', 'select ?, ?, ?, ? from t'],
    ['select $$a;b$$, $tag$x$tag$ from t', 'select ?, ? from t'],
    ['select 1 -- trailing\n/* block */ from t;', 'select ? from t'],
    ['select 1 /* outer /* nested */ still comment */ from t', 'select ? from t'],
    ['select "MixedCase"."Col" from "MixedCase"', 'select "MixedCase"."Col" from "MixedCase"'],
    ['select "users"."id" from "users"', 'select users.id from users'],
    ['select "select", "a b" from t', 'select "select", "a b" from t'],
    ['select * from t where a = any(array[1,2,3])', 'select * from t where a = any(array[?])'],
    ['select t1.c2 from t1', 'select t1.c2 from t1'],
    ['select abs(-1) - 2 from t', 'select abs(?) - ? from t'],
    // a standard string ends at its second quote: 'C:\' does not swallow the rest
    ["select 'C:\\' as p, x from t", 'select ?, x from t'],
    ["select x from t where y like 'a\\%' escape '\\'", 'select x from t where y like ? escape ?'],
    [
      'select * from f where x is true or y is not false',
      'select * from f where x is true or y is not false',
    ],
    ['select * from f where x isnull and y = null', 'select * from f where x is null and y = ?'],
    ['select * from t where a>=1 and b::int = 2', 'select * from t where a >= ? and b::int4 = ?'],
    ["select d->>'k', d #>> '{a}' from t", 'select d ->> ?, d #>> ? from t'],
    ['select n -1, n - 1, -n from t', 'select n - ?, n - ?, -n from t'],
    ['select * from t where n between -5 and -1', 'select * from t where n between ? and ?'],
    ['select -5::int, -$1 from t', 'select -?::int4, -? from t'],
    [
      'select a::integer, cast(b as bigint), c::timestamp with time zone from t',
      'select a::int4, b::int8, c::timestamptz from t',
    ],
    ["select date '2024-01-01', '2024-01-01'::date, cast('x' as date)", 'select ?::date, ?::date, ?::date'],
    [
      "select interval '5 minutes', '2 days'::interval, interval '1' day",
      'select ?::interval, ?::interval, ?::interval day',
    ],
    ["select U&'d\\0061t', N'x', b'01' from t", 'select ?, ?::bpchar, ? from t'],
    ['select a as x, b y, count(*) "Total" from t', 'select a, b, count(*) from t'],
    ['insert into t (a) values (1) returning a as x', 'insert into t (a) values (?) returning a x'],
    [
      'select * from users as u inner join o on o.a = u.a left outer join p using (x)',
      'select * from users u join o on o.a = u.a left join p using (x)',
    ],
    [
      'select * from t order by id offset 5 rows fetch first 10 rows only',
      'select * from t order by id limit ? offset ?',
    ],
    ["select 'a'\n  'b' from t", 'select ? from t'],
    ['select 1; select 2;', 'select ?; select ?'],
  ])('%s', (input, expected) => {
    expect(normalizeSql(input)).toBe(expected);
  });

  it('gives literal variants one id and different statements different ids', () => {
    const a = fingerprintQuery('select * from users where id = 1');
    const b = fingerprintQuery('SELECT * FROM "users" WHERE id=$1');
    const c = fingerprintQuery('select * from users where email = 1');
    expect(a.id).toBe(b.id);
    expect(a.id).not.toBe(c.id);
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps the documented refinements apart: = ?, IN (?), = ANY(?), LIMIT vs LIMIT OFFSET', () => {
    const ids = [
      'select * from t where id = $1',
      'select * from t where id in ($1, $2)',
      'select * from t where id = any($1)',
      'select * from t where id = $1 limit 1',
      'select * from t where id = $1 limit 1 offset 5',
    ].map((s) => fingerprintQuery(s).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('caches per SQL text and returns the same object', () => {
    const sql = `select * from cache_probe where id = ${Math.random()}`;
    expect(fingerprintQuery(sql)).toBe(fingerprintQuery(sql));
  });

  it('never throws on malformed or unterminated input', () => {
    for (const s of [
      "select 'open",
      'select "open',
      'select /* open',
      'select $a$ open',
      '::',
      '(((',
      ')))',
      '$',
      'U&"x',
    ])
      expect(typeof normalizeSql(s)).toBe('string');
  });
});
