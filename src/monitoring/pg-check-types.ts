import type { Finding } from './finding.js';

/** Names of the checks pgChecks runs. */
export type PgCheckName =
  | 'stats_reset'
  | 'invalid_index'
  | 'not_validated_constraint'
  | 'duplicate_index'
  | 'unused_index'
  | 'foreign_key_without_index'
  | 'missing_index'
  | 'no_primary_key'
  | 'cache_hit_ratio'
  | 'relation_size'
  | 'table_bloat'
  | 'index_bloat'
  | 'sequence_overflow'
  | 'transaction_id_wraparound'
  | 'autovacuum_disabled';

/** One problem (or fact) a Postgres check found. */
export type PgFinding = Finding<PgCheckName>;

/** A row of the `indexes` catalog query. */
export interface IndexRow {
  table: string;
  index: string;
  index_name: string;
  table_oid: string | number;
  /** 'r' table, 'p' partitioned table, 'm' materialized view. */
  table_kind: string;
  /** 'i' index, 'I' partitioned index (no storage of its own). */
  index_kind: string;
  method: string;
  nkeys: number;
  natts: number;
  /** int2vector text: attribute numbers, 0 for an expression. Key columns first, then INCLUDE columns. */
  keys: string;
  opclasses: string;
  collations: string;
  /** int2vector text, one per key column: bit 0 DESC, bit 1 NULLS FIRST. */
  options: string;
  exprs: string;
  pred: string;
  unique: boolean;
  primary: boolean;
  exclusion: boolean;
  immediate: boolean;
  replica_identity: boolean;
  nulls_not_distinct: boolean;
  valid: boolean;
  /** A CREATE INDEX CONCURRENTLY is building it right now (it is invalid until it finishes). */
  building: boolean;
  /** The index of a partition, attached to its parent's partitioned index (it is dropped with the parent). */
  attached: boolean;
  /** The PRIMARY KEY, UNIQUE or EXCLUDE constraint the index backs. */
  constraint_name: string | null;
  constraint_type: string | null;
  /** Foreign keys that reference the table through this index (it cannot be dropped while they exist). */
  fk_refs: number;
  scans: number;
  bytes: number;
  def: string;
  /** Each column's definition (column name or expression), keys then INCLUDE columns. */
  columns: string[];
  relpages: number;
  reltuples: number;
  fillfactor: number;
  avg_width: number | null;
  block_size: number;
}

/** A row of the `constraints` catalog query (foreign keys, and every NOT VALID constraint). */
export interface ConstraintRow {
  table: string;
  name: string;
  type: string;
  validated: boolean;
  keys: string;
  table_oid: string | number;
  table_kind: string;
  /** Cloned onto a partition from its parent's constraint. */
  inherited: boolean;
  /** Foreign keys: 'f' MATCH FULL, 's' MATCH SIMPLE, 'p' MATCH PARTIAL. */
  match_type: string;
  /** Quoted column names, in key order. */
  columns: string[];
  ref_table: string | null;
  ref_columns: string[];
  check_expr: string | null;
}

/** A row of the `tables` statistics query. */
export interface TableRow {
  table: string;
  seq_scans: number;
  /** Rows read by sequential scans (pg_stat_user_tables.seq_tup_read). */
  seq_rows: number;
  idx_scans: number;
  live: number;
  dead: number;
  bytes: number;
}

/** A sequence from pg_sequences. */
export interface SequenceRow {
  oid: string | number;
  sequence: string;
  last_value: number | null;
  seq_max: number;
  seq_min: number;
  increment: number;
  start: number;
  cycle: boolean;
  seq_type: string;
}

/** A column a sequence feeds. */
export interface SequenceColumnRow {
  seq_oid: string | number;
  table: string;
  column: string;
  column_type: string;
  /** OWNED BY or identity (false: only a DEFAULT nextval(...) points at the sequence). */
  owned: boolean;
  /** The sequence name as the DEFAULT spells it (set for defaults; used when it did not resolve). */
  seq_name: string | null;
}

export interface NoPrimaryKeyRow {
  table: string;
  kind: string;
  rows: number;
  column_names: string[];
  /** A unique, NOT NULL, non-partial B-tree index that ADD PRIMARY KEY USING INDEX accepts (quoted name). */
  candidate_index: string | null;
}

export interface AutovacuumRow {
  table: string;
  /** 'r' table, 'm' materialized view. */
  kind: string;
  options: string;
  toast_options: string;
}

export interface ServerRow {
  version: number;
  autovacuum: string;
  track_counts: string;
}

/** What the read-only probes found (see pg-check-probes.ts): null when the probe could not tell. */
export interface ProbeResults {
  /** Invalid unique indexes: does the table hold rows that break uniqueness? */
  duplicates: Map<string, boolean | null>;
  /** NOT VALID constraints (by `table.name`): do existing rows violate them? */
  violations: Map<string, boolean | null>;
}

/** Splits `int2vector`/`oidvector` text ("1 2", "{1,2}") into numbers. */
export const ints = (s: string) => s.replace(/[{}]/g, '').split(/[ ,]+/).filter(Boolean).map(Number);
