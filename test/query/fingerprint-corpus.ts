/**
 * Fingerprint corpus: each inner array is a group of statements that mean the same query shape and differ
 * only in whitespace, case, quoting, comments, literal values or type-name spelling; dbkit must give each
 * group one fingerprint. Statements in different groups are compared with pg_query (libpg-query) in
 * fingerprint-corpus.test.ts: no two groups may share a fingerprint unless the parser says they are one
 * shape, and where the parser merges two groups that dbkit keeps apart, the reason must be one of the
 * documented refinements (README, "Fingerprints").
 */
export const corpus: string[][] = [
  // --- literals and parameters
  [
    'select * from users where id = 1',
    'select * from users where id = $1',
    'SELECT * FROM users WHERE id=$1',
    'select *\n  from users\n where id = 42',
    'select * from "users" where "id" = 7',
    'Select * From Users Where ID = -1',
    'select * from users where id = 1.5e3',
    "select * from users where id = '12'",
    'select * from users where id = 0x1F',
    'select * from users where id = null',
    '/* trace_id=abc */ select * from users where id = 1 -- from the repository',
    'select * from users where id = 1;',
    'select * from users /* a /* nested */ comment */ where id = 1',
  ],
  [
    'select * from users where email = $1',
    "select * from users where email = 'a@b.c'",
    "select * from users where email = E'a\\'b'",
    "select * from users where email = $$x'y$$",
    'select * from users where email = $tag$x$tag$',
    "select * from users where email = U&'d\\0061t'",
    "select * from users where email = 'it''s'",
  ],
  // N'...' is a national character literal: the parser reads it as '...'::bpchar
  [
    "select * from users where email = N'x'",
    "select * from users where email = 'x'::bpchar",
    "select * from users where email = bpchar 'x'",
  ],
  // a string ending in a backslash ends there (standard_conforming_strings = on)
  [
    "select 'C:\\' as p, name from users",
    "select 'D:\\' as q, name from users",
    "select 'C:\\\\' as p, name from users",
  ],
  ["select 'C:\\' as p from users", "select 'x' from users"],
  [
    "select * from files where path like 'C:\\%' escape '\\'",
    "select * from files where path like $1 escape '!'",
  ],
  ["select * from files where path like 'C:\\%'"],
  [
    "select * from users where note = E'\\\\' and name = 'x'",
    "select * from users where note = E'\\'' and name = $2",
  ],
  // IS TRUE / IS FALSE / IS NULL are tests, not literals
  ['select * from flags where on_call is true', 'SELECT * FROM flags WHERE on_call IS TRUE'],
  ['select * from flags where on_call is false', 'select * from flags where "on_call" is FALSE'],
  ['select * from flags where on_call is not true'],
  ['select * from flags where on_call is unknown'],
  ['select * from flags where on_call is null', 'select * from flags where on_call isnull'],
  ['select * from flags where on_call is not null', 'select * from flags where on_call notnull'],
  [
    'select * from flags where on_call = true',
    'select * from flags where on_call = false',
    'select * from flags where on_call = $1',
  ],
  // operators and whitespace
  ['select * from t where a >= 5', 'select * from t where a>=5', 'select * from t where a >=5'],
  ['select * from t where a > 5'],
  ['select * from t where a <> b', 'select * from t where a != b', 'select * from t where a<>b'],
  ["select data->>'name' from docs", "select data ->> 'name' from docs", 'select data->>$1 from docs'],
  ["select data->'name' from docs"],
  ["select data #>> '{a,b}' from docs", "select data#>>'{a}' from docs"],
  ['select data @> \'{"a":1}\' from docs', 'select data@>$1 from docs'],
  ['select n - 1 from t', 'select n -1 from t', 'select n-1 from t', 'select n - 2 from t'],
  ['select n + 1 from t'],
  ['select -n from t', 'select - n from t'],
  ['select n * -1 from t', 'select n*-1 from t', 'select n * - 5 from t'],
  [
    'select * from t where n between -5 and -1',
    'select * from t where n between 1 and 10',
    'select * from t where n between $1 and $2',
  ],
  ['select * from t where a = -$1'],
  ['select -5::int4 from t', 'select -1::int from t'],
  [
    'select 5::int4 from t',
    'select 7::integer from t',
    "select '5'::int from t",
    'select cast(5 as integer) from t',
  ],
  // casts and type-name spelling
  [
    'select a::int from t',
    'select a::integer from t',
    'select a::int4 from t',
    'select cast(a as int) from t',
    'select A::INT from T',
    'select a :: int from t',
    'select "a"::pg_catalog.int4 from t',
  ],
  ['select a::bigint from t', 'select a::int8 from t', 'select cast(a as bigint) from t'],
  ['select a::smallint from t', 'select a::int2 from t'],
  ['select a::boolean from t', 'select a::bool from t'],
  ['select a::double precision from t', 'select a::float8 from t', 'select a::float from t'],
  ['select a::real from t', 'select a::float4 from t', 'select a::float(10) from t'],
  ['select a::varchar from t', 'select a::character varying from t'],
  ['select a::varchar(20) from t', 'select a::character varying(20) from t'],
  ['select a::varchar(40) from t'],
  [
    'select a::numeric(10, 2) from t',
    'select a::decimal(10,2) from t',
    'select cast(a as dec(10, 2)) from t',
  ],
  ['select a::timestamptz from t', 'select a::timestamp with time zone from t'],
  ['select a::timestamp from t', 'select a::timestamp without time zone from t'],
  ['select a::char from t', 'select a::character from t'],
  ['select a::bpchar from t'],
  ['select a::text[] from t', 'select a::_text from t', 'select a::text array from t'],
  [
    'select a::int[] from t',
    'select a::int4[] from t',
    'select a::_int4 from t',
    'select a::integer[3] from t',
  ],
  ['select (a + b)::int8 from t', 'select cast(a + b as bigint) from t', 'select (a+b)::int8 from t'],
  ['select a + b::int8 from t'],
  [
    "select '2024-01-01'::date",
    "select date '2024-01-01'",
    "select cast('2024-01-01' as date)",
    "select DATE '2023-12-31'",
    'select $1::date',
  ],
  [
    "select '2024-01-01'::timestamptz",
    "select timestamptz '2024-01-01'",
    "select timestamp with time zone '2024-01-01'",
  ],
  [
    "select interval '5 minutes'",
    "select '2 days'::interval",
    "select cast('1 hour' as interval)",
    'select $1::interval',
  ],
  ["select interval '1' day", "select '3'::interval day"],
  ["select now() - interval '5 minutes' from t", "select now() - '2 days'::interval from t"],
  ["select 'x'"],
  ['select a::date from t', 'select cast(a as date) from t'],
  ['select date(a) from t'],
  // quoting and case of identifiers
  ['select "Name" from users', 'select "Name" from "users"'],
  [
    'select name from users',
    'select "name" from users',
    'SELECT NAME FROM USERS',
    'select Name from "users"',
  ],
  ['select "user" from accounts'],
  ['select "order" from accounts'],
  ['select "ÄRGER" from t'],
  ['select "ärger" from t', 'select ärger from t'],
  ['select * from "public"."users" where "users"."id" = $1', 'select * from public.users where users.id = 1'],
  [
    'select u.id from users u',
    'select u.id from users as u',
    'select "u"."id" from "users" "u"',
    'select u.id from users AS "u"',
  ],
  ['select v.id from users v'],
  // column aliases
  [
    'select count(*) as n from users',
    'select count(*) n from users',
    'select count(*) as total from users',
    'select count(*) as "Total" from users',
    'select count(*) from users',
    'SELECT COUNT(*) AS cnt FROM users',
  ],
  [
    'select a as x, b as y from t',
    'select a, b from t',
    'select a x, b y from t',
    'select a "X", b "Y" from t',
  ],
  ['select a + 1 as next_a from t', 'select a + 2 from t'],
  [
    'select max(created_at) latest from events where user_id = $1',
    'select max(created_at) from events where user_id = 3',
  ],
  [
    'select distinct on (user_id) user_id, created_at from events',
    'select distinct on (user_id) user_id u, created_at c from events',
  ],
  ['select (select max(a) from t) m from u', 'select (select max(a) mx from t) as m from u'],
  ['select exists(select 1 from t where a = 1) e', 'select exists (select 1 from t where a = 5)'],
  [
    'select * from t where a = 1 union all select * from t where a = 2',
    'select * from t where a = $1 union all select * from t where a = $2',
  ],
  ['select a as x from t union select b as y from u', 'select a from t union select b from u'],
  // IN lists and arrays
  [
    'select * from users where id in (1, 2, 3)',
    'select * from users where id in ($1,$2,$3,$4)',
    'select * from users where id in (7)',
    'select * from users where id IN (1,2)',
  ],
  ['select * from users where id = any($1)', 'select * from users where id = ANY($1)'],
  ['select * from users where id = any(array[1,2,3])', 'select * from users where id = any(ARRAY[5])'],
  [
    'select * from users where id = any($1::int4[])',
    'select * from users where id = any($1::integer[])',
    'select * from users where id = any($1::_int4)',
  ],
  ['select * from users where id not in (1, 2)', 'select * from users where id not in ($1)'],
  [
    'select * from users where (id, org) in ((1, 2), (3, 4))',
    'select * from users where (id, org) in (($1, $2))',
  ],
  [
    'select * from users where id in (select user_id from orders)',
    'select * from users where id in (select "user_id" from "orders")',
  ],
  // VALUES
  [
    'insert into t (a, b) values (1, 2)',
    'insert into t (a, b) values ($1, $2)',
    'insert into t (a, b) values (1, 2), (3, 4), (5, 6)',
    'insert into t (a, b) values (1, default), (default, 2)',
    'insert into t (a, b) values (default, default)',
    'INSERT INTO "t" ("a", "b") VALUES ($1, $2), ($3, $4)',
  ],
  [
    'insert into t (a, b) values (1, 2) returning id',
    'insert into t (a, b) values ($1, default) returning "id"',
  ],
  ['insert into t (a, b) values (1, 2) returning id as new_id'],
  [
    'insert into t (a, b) values (1, 2) on conflict (a) do update set b = excluded.b',
    'insert into t (a,b) values ($1,$2),($3,$4) on conflict (a) do update set b = excluded.b',
  ],
  ['insert into t (a, b) values (1, 2) on conflict do nothing'],
  ['insert into t default values'],
  [
    'insert into t (a, b) select id, name from u where id > 5',
    'insert into t (a, b) select id, name from u where id > $1',
  ],
  ['values (1, 2), (3, 4)', 'values ($1, $2)'],
  // LIMIT / OFFSET / FETCH
  [
    'select * from t order by id limit 10',
    'select * from t order by id limit $1',
    'select * from t order by id fetch first 10 rows only',
    'select * from t order by id fetch next 1 row only',
  ],
  [
    'select * from t order by id limit 10 offset 20',
    'select * from t order by id limit $1 offset $2',
    'select * from t order by id offset 20 rows fetch first 10 rows only',
  ],
  ['select * from t order by id desc limit 10'],
  ['select * from t order by id asc limit 10'],
  ['select * from t order by id nulls first limit 10'],
  // joins
  [
    'select * from users u join orders o on o.user_id = u.id',
    'select * from users u inner join orders o on o.user_id = u.id',
    'SELECT * FROM "users" "u" INNER JOIN "orders" "o" ON "o"."user_id" = "u"."id"',
  ],
  [
    'select * from users u left join orders o on o.user_id = u.id',
    'select * from users u left outer join orders o on o.user_id = u.id',
  ],
  ['select * from users u right join orders o on o.user_id = u.id'],
  [
    'select * from users u full join orders o on o.user_id = u.id',
    'select * from users u full outer join orders o on o.user_id = u.id',
  ],
  ['select * from users u cross join orders o'],
  [
    'select * from users join orders using (user_id)',
    'select * from users inner join orders using ("user_id")',
  ],
  // updates and deletes
  [
    'update users set name = $1 where id = $2',
    "update users set name = 'x' where id = 5",
    'UPDATE "users" SET "name" = $1 WHERE "id" = $2',
  ],
  ['update users set name = default where id = 1'],
  ['update users set name = $1, email = $2 where id = $3'],
  [
    'delete from users where id = $1',
    'delete from users where id = 10',
    'DELETE FROM "users" WHERE "id" = $1',
  ],
  ['delete from users where id = any($1)'],
  ['delete from users where id in (1, 2, 3)'],
  ['delete from users where id = $1 returning *'],
  // functions, aggregates, windows
  [
    'select coalesce(name, $1) from users',
    "select coalesce(name, 'anonymous') from users",
    'select COALESCE("name", \'?\') from users',
  ],
  ['select coalesce(nick, name) from users'],
  [
    "select count(*) from users where created_at > now() - interval '1 day'",
    "select count(*) from users where created_at > now() - '7 days'::interval",
  ],
  [
    "select date_trunc('day', created_at), count(*) from events group by 1",
    "select date_trunc('hour', created_at), count(*) from events group by 1",
  ],
  [
    'select user_id, sum(total) from orders group by user_id having sum(total) > 100',
    'select user_id, sum(total) from orders group by user_id having sum(total) > $1',
  ],
  [
    'select row_number() over (partition by user_id order by created_at desc) from events',
    'select row_number() over (partition by user_id order by created_at desc) rn from events',
  ],
  [
    'select sum(total) over (order by id rows between 1 preceding and current row) from orders',
    'select sum(total) over (order by id rows between 5 preceding and current row) as s from orders',
  ],
  [
    'select count(*) filter (where status = $1) from orders',
    "select count(*) filter (where status = 'paid') as paid from orders",
  ],
  [
    "select string_agg(name, ',' order by name) from users",
    "select string_agg(name, '; ' order by name) from users",
  ],
  ['select extract(year from created_at) from events', 'select extract(YEAR from created_at) y from events'],
  ['select extract(month from created_at) from events'],
  ['select substring(name from 1 for 3) from users', 'select substring(name from 2 for 10) from users'],
  [
    'select case when a > 0 then 1 else -1 end from t',
    'select case when a > 5 then 2 else 3 end as sign from t',
  ],
  ['select case when a > 0 then 1 else -1 end - 1 from t'],
  ['select greatest(a, 1) from t', 'select greatest(a, 5) from t'],
  ['select a collate "C" from t'],
  ['select now()', 'select NOW()'],
  ['select current_date - 1 from t', 'select current_date - 7 from t'],
  // CTEs and subqueries
  [
    'with x as (select id from users where active) select * from x',
    'WITH x AS (SELECT id FROM users WHERE active) SELECT * FROM x',
  ],
  ['with x as materialized (select id from users) select * from x'],
  [
    'with d as (delete from t where a = 1 returning *) select count(*) from d',
    'with d as (delete from t where a = $1 returning *) select count(*) from d',
  ],
  [
    'select * from (select id, name from users) s where s.id = 1',
    'select * from (select id, name n from users) as s where s.id = 2',
  ],
  ['select * from users where exists (select 1 from orders where orders.user_id = users.id)'],
  ['select * from users u where not exists (select 1 from orders o where o.user_id = u.id)'],
  // set operations, locking
  ['select id from t for update', 'select id from t FOR UPDATE'],
  ['select id from t for update skip locked'],
  ['select id from t for share'],
  // DDL and utility (fingerprinted too)
  ['create table t (a int primary key, b text not null)'],
  ['create index concurrently on t (a)'],
  ["set statement_timeout = '5s'", "set statement_timeout = '10s'", 'SET statement_timeout = 5000'],
  ["set local work_mem = '64MB'", "set local work_mem to '1GB'"],
  ['set search_path to app, public', 'SET search_path = app, public'],
  [
    "select * from events where day in (date '2024-01-01', date '2024-01-02')",
    "select * from events where day in ('2024-01-01'::date)",
    'select * from events where day in ($1::date, $2::date, $3::date)',
  ],
  ["select * from events where day in ('2024-01-01'::date, '2024-01-02')"],
  [
    'select cast(cast(x as int) as text) from t',
    'select x::int::text from t',
    'select cast(x::integer as text) from t',
  ],
  ['select round(price, 2) from items', 'select round(price, 4) from items'],
  ['select round(price) from items'],
  ['select a::pg_catalog.text from t', 'select a::text from t'],
  ['begin', 'BEGIN'],
  ['commit'],
  ['select pg_advisory_lock($1)', 'select pg_advisory_lock(42)'],
  ['select pg_advisory_unlock($1)'],
  // multiple statements keep their separator
  ['select 1; select 2', 'select 3;select 4;'],
  ['select 1'],
  // partition-like and schema-qualified names (kept apart by dbkit)
  ['select * from orders_2024_01 where id = 1'],
  ['select * from orders_2023_12 where id = 1'],
  ['select * from archive.users where id = 1'],
  ['select * from users u where u.id = 1'],
  ['select * from orders u where u.id = 1'],
  // order and duplicates are significant to dbkit
  ['select a, b from t where x = 1 and y = 2'],
  ['select b, a from t where y = 2 and x = 1'],
  ['select a, a from t where x = 1 and y = 2'],
  ['select * from t where x = 1 or y = 2'],
  ['select * from t where y = 2 or x = 1'],
  ['select substr(name, 1) from users'],
  ['select substr(name, 1, 2) from users'],
];
