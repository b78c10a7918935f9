/** The catalog queries behind pgChecks (one per check; thresholds are applied in pg-check-rules.ts). */
export const PG_CHECK_QUERIES = {
  indexes: `select format('%I.%I', n.nspname, t.relname) as table, format('%I.%I', n.nspname, c.relname) as index,
      i.indrelid::int8 as table_oid, am.amname as method, i.indnkeyatts as nkeys, i.indkey::text as keys,
      i.indclass::text as opclasses, coalesce(pg_get_expr(i.indexprs, i.indrelid), '') as exprs,
      coalesce(pg_get_expr(i.indpred, i.indrelid), '') as pred, i.indisunique as unique, i.indisprimary as primary,
      i.indisvalid as valid, coalesce(s.idx_scan, 0)::float8 as scans, pg_relation_size(i.indexrelid)::float8 as bytes,
      pg_get_indexdef(i.indexrelid) as def, c.relpages::float8 as relpages, c.reltuples::float8 as reltuples,
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
    where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`,
  constraints: `select format('%I.%I', n.nspname, t.relname) as table, quote_ident(c.conname) as name, c.contype as type,
      c.convalidated as validated, c.conkey::text as keys, c.conrelid::int8 as table_oid,
      (select string_agg(quote_ident(a.attname), ', ' order by array_position(c.conkey, a.attnum))
         from pg_attribute a where a.attrelid = c.conrelid and a.attnum = any(c.conkey)) as columns
    from pg_constraint c
    join pg_class t on t.oid = c.conrelid
    join pg_namespace n on n.oid = t.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema') and (c.contype = 'f' or not c.convalidated)`,
  tables: `select format('%I.%I', schemaname, relname) as table, seq_scan::float8 as seq_scans,
      coalesce(idx_scan, 0)::float8 as idx_scans, n_live_tup::float8 as live, n_dead_tup::float8 as dead,
      pg_total_relation_size(relid)::float8 as bytes
    from pg_stat_user_tables`,
  cacheHit: `select (select sum(heap_blks_hit)::float8 from pg_statio_user_tables) as table_hit,
      (select sum(heap_blks_read)::float8 from pg_statio_user_tables) as table_read,
      (select sum(idx_blks_hit)::float8 from pg_statio_user_indexes) as index_hit,
      (select sum(idx_blks_read)::float8 from pg_statio_user_indexes) as index_read`,
  sequences: `select format('%I.%I', s.schemaname, s.sequencename) as sequence, coalesce(s.last_value, 0)::float8 as last_value,
      s.max_value::float8 as seq_max, dep.column_type, dep.table, dep.column
    from pg_sequences s
    left join lateral (
      select format_type(a.atttypid, a.atttypmod) as column_type, d.refobjid::regclass::text as table,
        quote_ident(a.attname) as column
      from pg_depend d join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
      where d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
        and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
      limit 1) dep on true`,
  // PgHero's transaction_id_danger: 2^31 - 1M - age of the oldest unfrozen XID, table or its TOAST table.
  wraparound: `select format('%I.%I', n.nspname, c.relname) as table,
      (2146483648 - greatest(age(c.relfrozenxid), age(t.relfrozenxid)))::float8 as left
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class t on c.reltoastrelid = t.oid
    where c.relkind = 'r' and n.nspname not in ('information_schema') and n.nspname not like 'pg_toast%'`,
  statsReset: `select stats_reset as reset, extract(epoch from now() - stats_reset)::float8 * 1000 as age_ms
    from pg_stat_database where datname = current_database()`,
} as const;
