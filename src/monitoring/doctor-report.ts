import type { Cluster, Redis } from 'ioredis';
import { normalizeSql } from '../query/index.js';
import { bySeverity, type Finding, type FindingSeverity } from './finding.js';
import type { PgActivityOptions, PgCheckOptions, PgQueryStatsOptions } from './options.js';
import { type BlockingNode, type PgBackend, pgActivity } from './pg-activity.js';
import type { PgCheckName } from './pg-check-types.js';
import { pgChecks } from './pg-checks.js';
import { type PgQueryStats, pgQueryStats } from './pg-query-stats.js';
import type { AnySql } from './pool-monitor.js';
import { redisHealth } from './redis-health.js';

/** The sections of a doctor report, in order. */
export type DoctorSectionId =
  | 'activity'
  | 'queries'
  | 'indexes'
  | 'space'
  | 'sequences'
  | 'maintenance'
  | 'redis';

/**
 * Section titles, in report order.
 *
 * @example
 * ```ts
 * for (const s of report.sections) console.log(DOCTOR_SECTIONS[s.id], s.findings.length);
 * ```
 */
export const DOCTOR_SECTIONS: Record<DoctorSectionId, string> = {
  activity: 'Connections & activity',
  queries: 'Queries',
  indexes: 'Indexes & constraints',
  space: 'Space & bloat',
  sequences: 'Sequences',
  maintenance: 'Maintenance',
  redis: 'Redis',
};

const CHECK_SECTION: Record<PgCheckName, DoctorSectionId> = {
  stats_reset: 'maintenance',
  invalid_index: 'indexes',
  not_validated_constraint: 'indexes',
  duplicate_index: 'indexes',
  unused_index: 'indexes',
  foreign_key_without_index: 'indexes',
  missing_index: 'indexes',
  no_primary_key: 'indexes',
  cache_hit_ratio: 'queries',
  relation_size: 'space',
  table_bloat: 'space',
  index_bloat: 'space',
  sequence_overflow: 'sequences',
  transaction_id_wraparound: 'maintenance',
  autovacuum_disabled: 'maintenance',
};

/** One line of the doctor report: a finding, or an 'ok' fact. */
export interface DoctorFinding extends Omit<Finding, 'severity' | 'suggestion'> {
  severity: FindingSeverity | 'ok';
  suggestion?: string;
  /** A Redis command that fixes it (CONFIG SET ...), where the fix is not SQL. */
  command?: string;
}

/** A section of the doctor report. */
export interface DoctorSection {
  id: DoctorSectionId;
  name: string;
  findings: DoctorFinding[];
}

/** The sessions of the checked database (the doctor's own excluded), and what else the server runs. */
export interface DoctorActivity {
  database: string;
  server: { connections: number; maxConnections: number; usage: number };
  /** Client sessions on this database, by state. */
  sessions: number;
  byState: Record<string, number>;
  /** Sessions on the other databases of the server (they count against max_connections too). */
  otherDatabases: Array<{ database: string; sessions: number }>;
  longRunning: PgBackend[];
  idleInTransaction: PgBackend[];
  /** Blocking trees whose root is on this database. */
  blocking: BlockingNode[];
  /** Sessions of this database waiting on a lock held by another. */
  waiting: number;
}

/** The whole report: sections, counts per severity and the exit code (0 healthy, 1 warnings, 2 failures). */
export interface DoctorReport {
  target: string;
  /** ISO time the report was made. */
  generatedAt: string;
  database?: string;
  serverVersion?: string;
  sections: DoctorSection[];
  summary: { critical: number; warning: number; info: number };
  exitCode: 0 | 1 | 2;
  activity?: DoctorActivity;
  queries?: Omit<PgQueryStats, 'findings'>;
}

/** What {@link runDoctorChecks} needs. */
export interface DoctorTargets {
  sql?: AnySql;
  redis?: Redis | Cluster;
  /** Shown at the top of the report (redact it first). */
  target: string;
  /** Progress messages while checks run. */
  onProgress?: (message: string) => void;
  /**
   * Milliseconds between the two Redis INFO samples.
   * @default 1000
   */
  redisSampleMs?: number;
  /** pgChecks options (thresholds). */
  checks?: Partial<PgCheckOptions>;
  /**
   * Long-running and idle-in-transaction thresholds.
   * @default { longRunningMs: 60000, idleInTransactionMs: 60000 } (PgHero: long_running_query_sec = 60)
   */
  activity?: Partial<PgActivityOptions>;
  /** pgQueryStats options. */
  queryStats?: Partial<PgQueryStatsOptions>;
  /**
   * Show the activity section's statements as the server has them. By default their literals are replaced by
   * `?` (dbkit's fingerprint text): `pg_stat_activity.query` holds customer data and secrets
   * (`alter role ... password '...'`), and a report is pasted into tickets and chats.
   * @default false
   */
  showQueryText?: boolean;
}

/**
 * Runs every check the doctor knows (connection, activity of the checked database, query statistics, pgChecks,
 * Redis) and builds the report, grouped in sections.
 *
 * @example
 * ```ts
 * const report = await runDoctorChecks({ sql, target: 'prod' });
 * console.log(formatDoctorReport(report));
 * ```
 */
export async function runDoctorChecks(t: DoctorTargets): Promise<DoctorReport> {
  const progress = t.onProgress ?? (() => {});
  const sections = new Map<DoctorSectionId, DoctorSection>();
  const section = (id: DoctorSectionId) => {
    let s = sections.get(id);
    if (!s) {
      s = { id, name: DOCTOR_SECTIONS[id], findings: [] };
      sections.set(id, s);
    }
    return s;
  };
  const report: Omit<DoctorReport, 'sections' | 'summary' | 'exitCode'> = {
    target: t.target,
    generatedAt: new Date().toISOString(),
  };
  if (t.sql) await postgresSections(t, report, section, progress);
  if (t.redis) await redisSection(t.redis, t.redisSampleMs ?? 1000, section('redis'), progress);

  const ordered = (Object.keys(DOCTOR_SECTIONS) as DoctorSectionId[])
    .map((id) => sections.get(id))
    .filter((s): s is DoctorSection => s !== undefined);
  for (const s of ordered) bySeverityWithOk(s.findings);
  const all = ordered.flatMap((s) => s.findings);
  const summary = {
    critical: all.filter((f) => f.severity === 'critical').length,
    warning: all.filter((f) => f.severity === 'warning').length,
    info: all.filter((f) => f.severity === 'info').length,
  };
  return {
    ...report,
    sections: ordered,
    summary,
    exitCode: summary.critical ? 2 : summary.warning ? 1 : 0,
  };
}

/** Most severe first; the 'ok' facts last. */
function bySeverityWithOk(xs: DoctorFinding[]): void {
  const ok = xs.filter((f) => f.severity === 'ok');
  const rest = bySeverity(xs.filter((f) => f.severity !== 'ok'));
  xs.splice(0, xs.length, ...rest, ...ok);
}

async function postgresSections(
  t: DoctorTargets,
  report: Omit<DoctorReport, 'sections' | 'summary' | 'exitCode'>,
  section: (id: DoctorSectionId) => DoctorSection,
  progress: (m: string) => void,
): Promise<void> {
  const sql = t.sql!;
  progress('connecting to Postgres');
  const act = section('activity');
  const started = performance.now();
  let db: string;
  try {
    const [v] = await sql<
      { version: string; db: string }[]
    >`select version() as version, current_database() as db`;
    db = v?.db ?? '';
    report.database = db;
    report.serverVersion = (v?.version ?? '').split(',')[0] ?? '';
    act.findings.push({
      severity: 'ok',
      check: 'connection',
      object: db,
      detail: `connected in ${Math.round(performance.now() - started)} ms: ${report.serverVersion}`,
    });
  } catch (e) {
    act.findings.push({
      severity: 'critical',
      check: 'connection',
      object: 'postgres',
      detail: `cannot connect: ${(e as Error).message}`,
      suggestion: 'Check the URL, the network and that the server is up.',
    });
    return;
  }

  progress('reading pg_stat_activity');
  const activity = await activityFindings(sql, db, t.activity ?? {}, act, t.showQueryText ?? false);
  report.activity = activity;

  progress('reading pg_stat_statements');
  const q = section('queries');
  try {
    const { findings, ...stats } = await pgQueryStats(sql, t.queryStats ?? {});
    report.queries = stats;
    q.findings.push(...findings);
    if (stats.available)
      q.findings.push({
        severity: 'ok',
        check: 'query_stats',
        object: 'pg_stat_statements',
        detail: `${(stats.totalMs / 1000).toFixed(1)} s of statement time on ${db}${stats.since ? ` since ${stats.since.toISOString()}` : ''}; top statement: ${stats.byTotalTime[0] ? `${stats.byTotalTime[0].id} (${stats.byTotalTime[0].percent.toFixed(1)}%)` : 'none'}`,
      });
  } catch (e) {
    q.findings.push({
      severity: 'warning',
      check: 'query_stats',
      object: 'pg_stat_statements',
      detail: `could not read query statistics: ${(e as Error).message}`,
    });
  }

  const r = await pgChecks(sql, { ...t.checks, onProgress: (c) => progress(`check ${c}`) });
  for (const f of r.findings) section(CHECK_SECTION[f.check]).findings.push({ ...f });
  for (const f of r.failed)
    section(CHECK_SECTION[f.check]).findings.push({
      severity: 'warning',
      check: f.check,
      object: 'check',
      detail: f.error.message,
      suggestion: 'The check could not run (permissions?): its problems, if any, are not reported.',
    });
  for (const id of ['queries', 'indexes', 'space', 'sequences', 'maintenance'] as const) {
    const s = section(id);
    const passed = r.ran.filter((c) => CHECK_SECTION[c] === id && !r.findings.some((f) => f.check === c));
    if (passed.length)
      s.findings.push({
        severity: 'ok',
        check: 'checks',
        object: db,
        detail: `passed: ${passed.join(', ')}`,
      });
  }
}

async function activityFindings(
  sql: AnySql,
  db: string,
  options: Partial<PgActivityOptions>,
  sec: DoctorSection,
  showQueryText: boolean,
): Promise<DoctorActivity> {
  const longRunningMs = options.longRunningMs ?? 60_000;
  const idleInTransactionMs = options.idleInTransactionMs ?? 60_000;
  const a = hideLiterals(await pgActivity(sql, { longRunningMs, idleInTransactionMs }), showQueryText);
  const here = (b: { database: string | null }) => b.database === db;
  const local = a.backends.filter(here);
  const byState: Record<string, number> = {};
  for (const b of local) byState[b.state ?? 'unknown'] = (byState[b.state ?? 'unknown'] ?? 0) + 1;
  const others = new Map<string, number>();
  for (const b of a.backends)
    if (!here(b)) others.set(b.database ?? '(none)', (others.get(b.database ?? '(none)') ?? 0) + 1);
  const otherDatabases = [...others.entries()]
    .map(([database, sessions]) => ({ database, sessions }))
    .sort((x, y) => y.sessions - x.sessions || x.database.localeCompare(y.database));
  const localPids = new Set(local.map((b) => b.pid));
  const activity: DoctorActivity = {
    database: db,
    server: { connections: a.total, maxConnections: a.maxConnections, usage: a.usage },
    sessions: local.length,
    byState,
    otherDatabases,
    longRunning: a.longRunning.filter(here),
    idleInTransaction: a.idleInTransaction.filter(here),
    blocking: a.blocking.filter((r) => localPids.has(r.pid)),
    waiting: local.filter((b) => b.blockedBy.length > 0).length,
  };

  const usage = a.usage;
  sec.findings.push({
    severity: usage >= 0.9 ? 'critical' : usage >= 0.8 ? 'warning' : 'ok',
    check: 'connections',
    object: 'server',
    detail: `${a.total} of ${a.maxConnections} connections in use on the server (${(usage * 100).toFixed(0)}%, all databases)`,
    ...(usage >= 0.8 ? { suggestion: 'Put a pooler (PgBouncer) in front or lower the pool sizes.' } : {}),
    value: usage,
    threshold: 0.8,
    unit: 'ratio',
  });
  const states = Object.entries(byState)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  sec.findings.push({
    severity: 'ok',
    check: 'sessions',
    object: db,
    detail: `${local.length} other session(s) on ${db}${states ? `: ${states}` : ''}; ${
      otherDatabases.length
        ? `${otherDatabases.reduce((n, d) => n + d.sessions, 0)} session(s) on other databases: ${otherDatabases
            .slice(0, 8)
            .map((d) => `${d.database} (${d.sessions})`)
            .join(', ')}${otherDatabases.length > 8 ? ', ...' : ''}`
        : 'no sessions on other databases'
    }`,
  });
  for (const b of activity.longRunning)
    sec.findings.push({
      severity: 'warning',
      check: 'long_running_query',
      object: `pid ${b.pid}`,
      detail: `running ${Math.round(b.querySeconds ?? 0)} s (${b.applicationName || 'no application_name'}${b.waitEvent ? `, waiting on ${b.waitEvent}` : ''}): ${b.query.slice(0, 200)}`,
      suggestion: 'Cancel it if it should not run this long (the statement fails; the session stays).',
      sql: `SELECT pg_cancel_backend(${b.pid});`,
      value: b.querySeconds ?? 0,
      threshold: longRunningMs / 1000,
      unit: 'seconds',
    });
  for (const b of activity.idleInTransaction)
    sec.findings.push({
      severity: 'warning',
      check: 'idle_in_transaction',
      object: `pid ${b.pid}`,
      detail: `idle in transaction for ${Math.round(b.stateSeconds ?? 0)} s (${b.applicationName || 'no application_name'}): ${b.query.slice(0, 200)}`,
      suggestion:
        'It holds its locks and the xmin horizon: find the code path that leaves the transaction open; set idle_in_transaction_session_timeout. Terminating it rolls the transaction back.',
      sql: `SELECT pg_terminate_backend(${b.pid});`,
      value: b.stateSeconds ?? 0,
      threshold: idleInTransactionMs / 1000,
      unit: 'seconds',
    });
  for (const root of activity.blocking) {
    const idle = (root.state ?? '').startsWith('idle in transaction');
    sec.findings.push({
      severity: 'warning',
      check: 'blocking',
      object: `pid ${root.pid}`,
      detail: `blocks ${root.blockedCount} backend(s) (${flatten(root)
        .slice(1)
        .map((n) => n.pid)
        .join(
          ', ',
        )}); it is ${root.state ?? 'unknown'}${root.stateSeconds != null ? ` for ${Math.round(root.stateSeconds)} s` : ''}: ${root.query.slice(0, 200)}`,
      suggestion: idle
        ? 'It is idle in transaction, so a cancel does nothing: terminate it (its transaction rolls back) and fix the code that leaves it open.'
        : 'Cancel its statement if it should not hold the others back.',
      sql: idle ? `SELECT pg_terminate_backend(${root.pid});` : `SELECT pg_cancel_backend(${root.pid});`,
      value: root.blockedCount,
      unit: 'backends',
    });
  }
  return activity;
}

/** The statement with its literals replaced by `?`; a text the scanner cannot read is hidden whole. */
function withoutLiterals(query: string): string {
  if (!query) return query;
  try {
    return normalizeSql(query);
  } catch {
    return '(statement hidden: pass showQueryText to see it)';
  }
}

/** pgActivity's result with every statement's literals hidden (unless the caller asked for the text). */
function hideLiterals(a: Awaited<ReturnType<typeof pgActivity>>, show: boolean): typeof a {
  if (show) return a;
  const backend = <B extends { query: string }>(b: B): B => ({ ...b, query: withoutLiterals(b.query) });
  const node = (n: BlockingNode): BlockingNode => ({ ...backend(n), blocks: n.blocks.map(node) });
  return {
    ...a,
    backends: a.backends.map(backend),
    longRunning: a.longRunning.map(backend),
    idleInTransaction: a.idleInTransaction.map(backend),
    blocking: a.blocking.map(node),
  };
}

/** The nodes of a blocking tree, depth first (root first). */
export function flatten(n: BlockingNode): BlockingNode[] {
  return [n, ...n.blocks.flatMap(flatten)];
}

async function redisSection(
  redis: Redis | Cluster,
  sampleMs: number,
  sec: DoctorSection,
  progress: (m: string) => void,
): Promise<void> {
  progress('sampling Redis INFO');
  const h = await redisHealth(redis, { sampleMs });
  for (const { node: _node, ...f } of h.findings) sec.findings.push({ ...f });
  for (const n of h.nodes.filter((x) => !x.error)) {
    const mem = n.maxMemory ? `${((n.memoryRatio ?? 0) * 100).toFixed(0)}% of maxmemory` : 'no maxmemory';
    const hit = n.hitRate ?? n.lifetimeHitRate;
    sec.findings.push({
      severity: 'ok',
      check: 'redis',
      object: n.node,
      detail: `${(n.usedMemory / 1048576).toFixed(1)} MB used (${mem}, policy ${n.maxMemoryPolicy || 'unknown'}), ${n.connectedClients} clients, hit rate ${hit === null ? 'n/a' : `${(hit * 100).toFixed(1)}%`}`,
    });
  }
}
