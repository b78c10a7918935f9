/**
 * Space, maintenance and schema rules of pgChecks (index rules are in pg-index-rules.ts). Defaults follow PgHero
 * where it has one (lib/pghero.rb, methods/sequences.rb, methods/maintenance.rb, home_controller.rb).
 */
import { type FindingSeverity, formatBytes } from './finding.js';
import type { PgCheckOptions } from './options.js';
import type {
  AutovacuumRow,
  IndexRow,
  NoPrimaryKeyRow,
  PgFinding,
  SequenceColumnRow,
  SequenceRow,
  ServerRow,
  TableRow,
} from './pg-check-types.js';

type Opts = PgCheckOptions;

/** Cache hit ratio below cacheHitRateMin for tables or indexes (PgHero: cache_hit_rate_threshold = 99). */
export function cacheHitRatio(
  r: {
    table_hit: number | null;
    table_read: number | null;
    index_hit: number | null;
    index_read: number | null;
  },
  o: Opts,
): PgFinding[] {
  const out: PgFinding[] = [];
  for (const [kind, hit, read] of [
    ['tables', r.table_hit ?? 0, r.table_read ?? 0],
    ['indexes', r.index_hit ?? 0, r.index_read ?? 0],
  ] as const) {
    if (hit + read === 0) continue;
    const ratio = hit / (hit + read);
    if (ratio < o.cacheHitRateMin)
      out.push({
        check: 'cache_hit_ratio',
        severity: 'warning',
        object: kind,
        detail: `${kind} cache hit ratio ${(ratio * 100).toFixed(2)}% (< ${(o.cacheHitRateMin * 100).toFixed(0)}%)`,
        suggestion:
          'The working set does not fit in shared_buffers: add memory, or find the queries reading the most blocks.',
        value: ratio,
        threshold: o.cacheHitRateMin,
        unit: 'ratio',
      });
  }
  return out;
}

/** The largest tables and indexes at or above relationSizeMinBytes (info, for capacity planning). */
export function relationSizes(tables: TableRow[], idx: IndexRow[], o: Opts): PgFinding[] {
  const top = <T>(xs: T[], size: (x: T) => number) =>
    xs
      .filter((x) => size(x) >= o.relationSizeMinBytes)
      .sort((a, b) => size(b) - size(a))
      .slice(0, o.largestRelations);
  return [
    ...top(tables, (t) => t.bytes).map((t) => ({
      object: t.table,
      bytes: t.bytes,
      kind: 'table (with indexes and TOAST)',
    })),
    ...top(idx, (i) => i.bytes).map((i) => ({ object: i.index, bytes: i.bytes, kind: 'index' })),
  ].map((x) => ({
    check: 'relation_size' as const,
    severity: 'info' as const,
    object: x.object,
    detail: `${x.kind}: ${formatBytes(x.bytes)}`,
    suggestion: 'For capacity planning.',
    value: x.bytes,
    threshold: o.relationSizeMinBytes,
    unit: 'bytes' as const,
  }));
}

/** Table bloat estimate from dead tuples (n_dead_tup / (live + dead)). */
export function tableBloat(rows: TableRow[], o: Opts): PgFinding[] {
  return rows
    .filter(
      (r) =>
        r.dead >= o.tableBloatMinDeadTuples && r.dead / Math.max(1, r.live + r.dead) >= o.tableBloatMinRatio,
    )
    .map((r) => {
      const ratio = r.dead / (r.live + r.dead);
      return {
        check: 'table_bloat',
        severity: 'warning',
        object: r.table,
        detail: `${r.dead} dead tuples (${(100 * ratio).toFixed(0)}% of the table)`,
        suggestion:
          'Vacuum it and check autovacuum keeps up (or a long transaction holds the xmin horizon back).',
        sql: `VACUUM (ANALYZE) ${r.table};`,
        value: ratio,
        threshold: o.tableBloatMinRatio,
        unit: 'ratio',
      };
    });
}

/**
 * B-tree index bloat estimate: expected pages from reltuples x (8-byte tuple header + MAXALIGN'd key
 * width + 4-byte line pointer) over the usable page space at the index's fillfactor; bloat is the rest.
 * Needs ANALYZE statistics (skipped for expression indexes and indexes without pg_stats rows).
 */
export function indexBloat(rows: IndexRow[], o: Opts, version: number): PgFinding[] {
  const out: PgFinding[] = [];
  for (const r of rows) {
    if (r.method !== 'btree' || r.exprs || r.avg_width == null || r.relpages < 2 || !r.valid) continue;
    const tuple = 8 + Math.ceil(r.avg_width / 8) * 8 + 4;
    const usable = ((r.block_size - 24 - 16) * r.fillfactor) / 100;
    const expectedPages = Math.ceil((Math.max(0, r.reltuples) * tuple) / usable) + 1;
    const bloatBytes = Math.max(0, r.relpages - expectedPages) * r.block_size;
    const ratio = bloatBytes / (r.relpages * r.block_size);
    if (bloatBytes < o.indexBloatMinBytes || ratio < o.indexBloatMinRatio) continue;
    // REINDEX CONCURRENTLY (12+) cannot rebuild an exclusion constraint's index.
    const online = version >= 120000 && !r.exclusion;
    out.push({
      check: 'index_bloat',
      severity: 'warning',
      object: r.index,
      detail: `~${formatBytes(bloatBytes)} of ${formatBytes(r.relpages * r.block_size)} is bloat (${(ratio * 100).toFixed(0)}%)`,
      suggestion: online
        ? 'Rebuild it without blocking writes.'
        : 'Rebuild it (this REINDEX blocks writes to the table while it runs).',
      sql: `REINDEX INDEX${online ? ' CONCURRENTLY' : ''} ${r.index};`,
      value: bloatBytes,
      threshold: o.indexBloatMinBytes,
      unit: 'bytes',
    });
  }
  return out;
}

const TYPE_RANGE: Record<string, [number, number]> = {
  smallint: [-32768, 32767],
  integer: [-2147483648, 2147483647],
  bigint: [-(2 ** 63), 2 ** 63 - 1],
};

/**
 * Sequences above sequenceMaxRatio of the first limit they will hit: their own MAXVALUE (MINVALUE when
 * descending) or the type of a column they feed. Fed columns come from OWNED BY / identity and, as PgHero
 * does, from every DEFAULT nextval('...'), since a column can use a sequence it does not own.
 */
export function sequenceOverflow(seqs: SequenceRow[], columns: SequenceColumnRow[], o: Opts): PgFinding[] {
  const feeders = new Map<string, SequenceColumnRow[]>();
  // PgHero fills in a missing schema when the name is unique; an unresolved DEFAULT is matched the same way.
  const lastName = (q: string) => {
    const m = /(?:^|\.)("(?:[^"]|"")+"|[^."]+)$/.exec(q);
    const part = m?.[1] ?? q;
    return part.startsWith('"') ? part.slice(1, -1).replace(/""/g, '"') : part.toLowerCase();
  };
  for (const c of columns) {
    let oid = String(c.seq_oid);
    if (oid === '0' && c.seq_name) {
      const named = seqs.filter((s) => lastName(s.sequence) === lastName(c.seq_name!));
      if (named.length !== 1) continue;
      oid = String(named[0]!.oid);
    }
    const list = feeders.get(oid) ?? [];
    const same = list.find((x) => x.table === c.table && x.column === c.column);
    if (same) same.owned ||= c.owned;
    else list.push({ ...c });
    feeders.set(oid, list);
  }
  const out: PgFinding[] = [];
  for (const s of seqs) {
    if (s.last_value == null) continue;
    const up = s.increment > 0;
    const fed = feeders.get(String(s.oid)) ?? [];
    let limit = up ? s.seq_max : s.seq_min;
    let by: SequenceColumnRow | undefined;
    for (const f of fed) {
      const range = TYPE_RANGE[f.column_type];
      if (!range) continue;
      const bound = up ? range[1] : range[0];
      // At a tie (a serial: an integer sequence on an integer column) the column is the one to widen.
      if (up ? bound <= limit : bound >= limit) [limit, by] = [bound, f];
    }
    // A CYCLE sequence wraps at its own bound instead of failing.
    if (s.cycle && !by) continue;
    const sameSign = (limit > 0 && s.last_value >= 0) || (limit < 0 && s.last_value <= 0);
    const ratio = sameSign ? s.last_value / limit : (s.last_value - s.start) / (limit - s.start);
    if (!(ratio >= o.sequenceMaxRatio)) continue;
    const narrow = fed.filter((f) => f.column_type === 'smallint' || f.column_type === 'integer');
    const sql = by
      ? [
          ...narrow.map((f) => `ALTER TABLE ${f.table} ALTER COLUMN ${f.column} TYPE bigint;`),
          ...(s.seq_type === 'bigint' ? [] : [`ALTER SEQUENCE ${s.sequence} AS bigint;`]),
        ].join(' ')
      : `ALTER SEQUENCE ${s.sequence}${s.seq_type === 'bigint' ? '' : ' AS bigint'} ${up ? 'NO MAXVALUE' : 'NO MINVALUE'};`;
    const unowned = fed.filter((f) => !f.owned);
    out.push({
      check: 'sequence_overflow',
      severity: (ratio >= 0.99 ? 'critical' : 'warning') as FindingSeverity,
      object: s.sequence,
      detail: `${(ratio * 100).toFixed(2)}% used (${s.last_value} of ${limit}: ${
        by
          ? `${by.table}.${by.column} is ${by.column_type}${by.owned ? '' : ', fed by DEFAULT nextval() without OWNED BY'}`
          : `the sequence's own ${up ? 'MAXVALUE' : 'MINVALUE'}`
      }); inserts fail once it is reached`,
      suggestion: `${
        by
          ? 'Widen the column(s) and the sequence to bigint before inserts start failing (ALTER COLUMN TYPE rewrites the table under an ACCESS EXCLUSIVE lock; widen foreign keys that reference it too).'
          : `Lift the sequence's own ${up ? 'MAXVALUE' : 'MINVALUE'}.`
      }${
        unowned.length
          ? ` ${unowned.map((f) => `${f.table}.${f.column}`).join(', ')} use(s) it without OWNED BY: consider ALTER SEQUENCE ${s.sequence} OWNED BY ... so it is dropped with its column.`
          : ''
      }`,
      sql,
      value: ratio,
      threshold: o.sequenceMaxRatio,
      unit: 'ratio',
    });
  }
  return out;
}

/**
 * Tables with fewer than wraparoundMinLeft transaction IDs before wraparound (PgHero's overview page:
 * transaction_id_danger(threshold: 1500000000)); critical under 100 million.
 */
export function wraparound(rows: Array<{ table: string; left: number }>, o: Opts): PgFinding[] {
  return rows
    .filter((r) => r.left < o.wraparoundMinLeft)
    .map((r) => ({
      check: 'transaction_id_wraparound',
      severity: r.left < 100_000_000 ? 'critical' : 'warning',
      object: r.table,
      detail: `${r.left} transaction IDs left before wraparound`,
      suggestion:
        'Freeze it now and check why autovacuum has not (long transactions, abandoned replication slots).',
      sql: `VACUUM (FREEZE, VERBOSE) ${r.table};`,
      value: r.left,
      threshold: o.wraparoundMinLeft,
      unit: 'transactions',
    }));
}

/** When the statistics were reset: usage-based checks need time to be meaningful. */
export function statsReset(
  r: { reset: Date | null; age_ms: number | null } | undefined,
  o: Opts,
): PgFinding[] {
  if (!r?.reset || r.age_ms == null || r.age_ms >= o.statsMinAgeMs) return [];
  return [
    {
      check: 'stats_reset',
      severity: 'info',
      object: 'database',
      detail: `statistics were reset ${(r.age_ms / 3600000).toFixed(1)} h ago (${r.reset.toISOString()})`,
      suggestion:
        'Unused- and missing-index findings are low confidence until statistics cover a full week of traffic.',
      value: r.age_ms,
      threshold: o.statsMinAgeMs,
      unit: 'ms',
    },
  ];
}

/**
 * Tables without a primary key: logical replication cannot replicate their UPDATEs and DELETEs, duplicate
 * rows cannot be told apart, and most ORMs need one. The fix promotes a unique NOT NULL index when there is
 * one, else adds an identity column (a table rewrite).
 */
export function noPrimaryKey(rows: NoPrimaryKeyRow[]): PgFinding[] {
  return rows.map((r) => {
    const base = {
      check: 'no_primary_key' as const,
      severity: 'warning' as const,
      object: r.table,
      detail: `${r.table} has no primary key (~${Math.round(r.rows)} rows)`,
    };
    if (r.kind === 'p')
      return {
        ...base,
        suggestion:
          'Add a primary key that includes the partition key columns (ALTER TABLE ... ADD PRIMARY KEY (partition key, ...)).',
      };
    if (r.candidate_index)
      return {
        ...base,
        suggestion: `Promote the unique index ${r.candidate_index} (its columns are NOT NULL): it becomes the primary key without a rebuild.`,
        sql: `ALTER TABLE ${r.table} ADD PRIMARY KEY USING INDEX ${r.candidate_index};`,
      };
    const taken = new Set(r.column_names);
    const name = ['id', 'row_id', 'pk_id'].find((n) => !taken.has(n)) ?? `id_${taken.size + 1}`;
    return {
      ...base,
      suggestion: `Add a surrogate key. This rewrites the table under an ACCESS EXCLUSIVE lock, and INSERTs without a column list must then name their columns; on a large table plan it for a quiet hour.`,
      sql: `ALTER TABLE ${r.table} ADD COLUMN ${name} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;`,
    };
  });
}

const OFF = /(?:^|\s)autovacuum_enabled=(?:false|off|no|0|f|n)(?:\s|$)/i;

/** Tables with autovacuum switched off (reloption, or the TOAST table's), and the server-wide settings. */
export function autovacuumDisabled(rows: AutovacuumRow[], server: ServerRow | undefined): PgFinding[] {
  const out: PgFinding[] = [];
  const off = (v: string | undefined) => v !== undefined && /^(off|false|0|no)$/i.test(v);
  if (server && off(server.autovacuum))
    out.push({
      check: 'autovacuum_disabled',
      severity: 'warning',
      object: 'server',
      detail:
        'autovacuum = off: dead rows pile up and statistics go stale (only anti-wraparound vacuums still run)',
      suggestion:
        'Turn it back on, then reload the configuration: SELECT pg_reload_conf(); (on a managed service, change the parameter group or flags instead).',
      sql: 'ALTER SYSTEM SET autovacuum = on;',
    });
  if (server && off(server.track_counts))
    out.push({
      check: 'autovacuum_disabled',
      severity: 'warning',
      object: 'server',
      detail:
        'track_counts = off: autovacuum cannot see which tables need vacuuming, and usage statistics are empty',
      suggestion: 'Turn it back on, then SELECT pg_reload_conf();',
      sql: 'ALTER SYSTEM SET track_counts = on;',
    });
  for (const r of rows) {
    const heap = OFF.test(r.options);
    const toast = OFF.test(r.toast_options);
    if (!heap && !toast) continue;
    const what = [heap ? 'autovacuum_enabled' : '', toast ? 'toast.autovacuum_enabled' : ''].filter(Boolean);
    out.push({
      check: 'autovacuum_disabled',
      severity: 'warning',
      object: r.table,
      detail: `${what.join(' and ')} = false on ${r.table}: it is vacuumed only to prevent wraparound`,
      suggestion: 'Reset the storage parameter so autovacuum takes care of it again.',
      sql: `ALTER ${r.kind === 'm' ? 'MATERIALIZED VIEW' : 'TABLE'} ${r.table} RESET (${what.join(', ')});`,
    });
  }
  return out;
}
