/**
 * The catalog queries behind pgChecks (thresholds are applied in the rule files). Each carries the
 * {@link DBKIT_QUERY_MARK} comment so pgQueryStats can leave dbkit's own statements out of the top lists.
 * Written for Postgres 12+ (pg_partition_tree, pg_stat_progress_create_index); the few newer columns are read
 * through to_jsonb() so the queries parse on older servers too.
 */
export const DBKIT_QUERY_MARK = '/* dbkit:monitoring */';

const SYSTEM_SCHEMA = `n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
      and n.nspname not like 'pg\\_temp\\_%'`;

export const PG_CHECK_QUERIES = {
  server: `${DBKIT_QUERY_MARK} select current_setting('server_version_num')::int as version,
      current_setting('autovacuum') as autovacuum, current_setting('track_counts') as track_counts`,
  indexes: `${DBKIT_QUERY_MARK} select format('%I.%I', n.nspname, t.relname) as table, format('%I.%I', n.nspname, c.relname) as index,
      c.relname as index_name, i.indrelid::int8 as table_oid, t.relkind as table_kind, c.relkind as index_kind,
      am.amname as method, i.indnkeyatts as nkeys, i.indnatts as natts, i.indkey::text as keys,
      i.indclass::text as opclasses, i.indcollation::text as collations, i.indoption::text as options,
      coalesce(pg_get_expr(i.indexprs, i.indrelid), '') as exprs, coalesce(pg_get_expr(i.indpred, i.indrelid), '') as pred,
      i.indisunique as unique, i.indisprimary as primary, i.indisexclusion as exclusion, i.indimmediate as immediate,
      i.indisreplident as replica_identity, coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::bool, false) as nulls_not_distinct,
      i.indisvalid as valid,
      exists (select 1 from pg_stat_progress_create_index p where p.index_relid = i.indexrelid) as building,
      exists (select 1 from pg_inherits h where h.inhrelid = i.indexrelid) as attached,
      quote_ident(con.conname) as constraint_name, con.contype as constraint_type,
      (select count(*)::int from pg_constraint f where f.contype = 'f' and f.conindid = i.indexrelid) as fk_refs,
      case when c.relkind = 'I' then (select coalesce(sum(s2.idx_scan), 0) from pg_partition_tree(i.indexrelid) pt
          join pg_stat_user_indexes s2 on s2.indexrelid = pt.relid)
        else coalesce(s.idx_scan, 0) end::float8 as scans,
      case when c.relkind = 'I' then (select coalesce(sum(pg_relation_size(pt.relid)), 0) from pg_partition_tree(i.indexrelid) pt)
        else pg_relation_size(i.indexrelid) end::float8 as bytes,
      pg_get_indexdef(i.indexrelid) as def,
      array(select pg_get_indexdef(i.indexrelid, k, true) from generate_series(1, i.indnatts) k) as columns,
      c.relpages::float8 as relpages, c.reltuples::float8 as reltuples,
      coalesce(substring(array_to_string(c.reloptions, ' ') from 'fillfactor=([0-9]+)')::int, 90) as fillfactor,
      (select sum(st.avg_width)::float8 from pg_attribute a
         join pg_stats st on st.schemaname = n.nspname and st.tablename = t.relname and st.attname = a.attname
        where a.attrelid = i.indrelid and a.attnum = any(i.indkey)) as avg_width,
      current_setting('block_size')::int as block_size
    from pg_index i
    join pg_class c on c.oid = i.indexrelid
    join pg_class t on t.oid = i.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    join pg_am am on am.oid = c.relam
    left join pg_stat_user_indexes s on s.indexrelid = i.indexrelid
    left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid and con.contype in ('p', 'u', 'x')
    where ${SYSTEM_SCHEMA}`,
  constraints: `${DBKIT_QUERY_MARK} select format('%I.%I', n.nspname, t.relname) as table, quote_ident(c.conname) as name,
      c.contype as type, c.convalidated as validated, c.conkey::text as keys, c.conrelid::int8 as table_oid,
      t.relkind as table_kind, c.conparentid <> 0 as inherited, c.confmatchtype as match_type,
      array(select quote_ident(a.attname) from unnest(c.conkey) with ordinality k(attnum, ord)
         join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.ord) as columns,
      case when c.contype = 'f' then c.confrelid::regclass::text end as ref_table,
      array(select quote_ident(a.attname) from unnest(c.confkey) with ordinality k(attnum, ord)
         join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.ord) as ref_columns,
      case when c.contype = 'c' then pg_get_expr(c.conbin, c.conrelid) end as check_expr
    from pg_constraint c
    join pg_class t on t.oid = c.conrelid
    join pg_namespace n on n.oid = t.relnamespace
    where ${SYSTEM_SCHEMA} and (c.contype = 'f' or not c.convalidated)`,
  tables: `${DBKIT_QUERY_MARK} select format('%I.%I', schemaname, relname) as table, seq_scan::float8 as seq_scans,
      coalesce(seq_tup_read, 0)::float8 as seq_rows, coalesce(idx_scan, 0)::float8 as idx_scans,
      n_live_tup::float8 as live, n_dead_tup::float8 as dead, pg_total_relation_size(relid)::float8 as bytes
    from pg_stat_user_tables`,
  // Tables (plain and partitioned roots) without a primary key, with a unique index that could become one.
  noPrimaryKey: `${DBKIT_QUERY_MARK} select format('%I.%I', n.nspname, c.relname) as table, c.relkind as kind,
      greatest(c.reltuples, 0)::float8 as rows,
      array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as column_names,
      (select quote_ident(ic.relname) from pg_index i join pg_class ic on ic.oid = i.indexrelid
        join pg_am am on am.oid = ic.relam
        where i.indrelid = c.oid and i.indisunique and i.indisvalid and i.indexprs is null and i.indpred is null
          and am.amname = 'btree' and i.indoption::text = array_to_string(array_fill(0, array[i.indnkeyatts]), ' ')
          and not exists (select 1 from pg_constraint x where x.conindid = i.indexrelid and x.conrelid = c.oid)
          and not exists (select 1 from unnest(i.indkey) k(attnum) join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
                          where not a.attnotnull)
        order by i.indnatts, ic.relname limit 1) as candidate_index
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and not c.relispartition and ${SYSTEM_SCHEMA}
      and not exists (select 1 from pg_constraint p where p.conrelid = c.oid and p.contype = 'p')
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`,
  autovacuum: `${DBKIT_QUERY_MARK} select format('%I.%I', n.nspname, c.relname) as table, c.relkind as kind,
      coalesce(array_to_string(c.reloptions, ' '), '') as options, coalesce(array_to_string(t.reloptions, ' '), '') as toast_options
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class t on t.oid = c.reltoastrelid
    where c.relkind in ('r', 'm') and ${SYSTEM_SCHEMA} and (c.reloptions is not null or t.reloptions is not null)`,
  cacheHit: `${DBKIT_QUERY_MARK} select (select sum(heap_blks_hit)::float8 from pg_statio_user_tables) as table_hit,
      (select sum(heap_blks_read)::float8 from pg_statio_user_tables) as table_read,
      (select sum(idx_blks_hit)::float8 from pg_statio_user_indexes) as index_hit,
      (select sum(idx_blks_read)::float8 from pg_statio_user_indexes) as index_read`,
  sequences: `${DBKIT_QUERY_MARK} select format('%I.%I', s.schemaname, s.sequencename)::regclass::oid::int8 as oid,
      format('%I.%I', s.schemaname, s.sequencename) as sequence, s.last_value::float8 as last_value,
      s.max_value::float8 as seq_max, s.min_value::float8 as seq_min, s.increment_by::float8 as increment,
      s.start_value::float8 as start, s.cycle,
      s.data_type::text as seq_type
    from pg_sequences s`,
  // Columns a sequence feeds: OWNED BY / identity (pg_depend 'a' and 'i'), and, as PgHero does, every column whose
  // DEFAULT is nextval('...'): such a column need not be OWNED BY its sequence (a hand-written DEFAULT, a shared
  // sequence). The name is parsed from the default (both the regclass and the old text form) and resolved with
  // to_regclass, which never raises; a text-form name that is not on the search_path is matched by name in JS.
  sequenceColumns: `${DBKIT_QUERY_MARK} select s.objid::int8 as seq_oid, format('%I.%I', n.nspname, c.relname) as table,
      quote_ident(a.attname) as column, format_type(a.atttypid, a.atttypmod) as column_type, true as owned,
      null::text as seq_name
    from pg_depend s
    join pg_class c on c.oid = s.refobjid
    join pg_attribute a on a.attrelid = s.refobjid and a.attnum = s.refobjsubid
    join pg_namespace n on n.oid = c.relnamespace
    where s.classid = 'pg_class'::regclass and s.refclassid = 'pg_class'::regclass and s.deptype in ('a', 'i')
      and s.refobjsubid > 0 and (select relkind from pg_class q where q.oid = s.objid) = 'S' and ${SYSTEM_SCHEMA}
    union all
    select coalesce(to_regclass(x.name), 0)::oid::int8, format('%I.%I', n.nspname, c.relname), quote_ident(a.attname),
      format_type(a.atttypid, a.atttypmod), false, x.name
    from pg_attrdef d
    cross join lateral (select replace((regexp_match(pg_get_expr(d.adbin, d.adrelid),
        $re$^nextval\\(\\(?'((?:[^']|'')+)'(?:::text\\))?::regclass\\)$re$))[1], '''''', '''') as name) x
    join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
    join pg_class c on c.oid = d.adrelid
    join pg_namespace n on n.oid = c.relnamespace
    where not a.attisdropped and a.attnum > 0 and pg_get_expr(d.adbin, d.adrelid) like 'nextval(%' and ${SYSTEM_SCHEMA}`,
  // PgHero's transaction_id_danger: 2^31 - 1M - age of the oldest unfrozen XID, table or its TOAST table.
  wraparound: `${DBKIT_QUERY_MARK} select format('%I.%I', n.nspname, c.relname) as table,
      (2146483648 - greatest(age(c.relfrozenxid), age(t.relfrozenxid)))::float8 as left
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class t on c.reltoastrelid = t.oid
    where c.relkind = 'r' and n.nspname not in ('information_schema') and n.nspname not like 'pg\\_toast%'`,
  statsReset: `${DBKIT_QUERY_MARK} select stats_reset as reset, extract(epoch from now() - stats_reset)::float8 * 1000 as age_ms
    from pg_stat_database where datname = current_database()`,
} as const;

export type PgCheckQuery = keyof typeof PG_CHECK_QUERIES;
