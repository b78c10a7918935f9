import type { Cluster, Redis } from 'ioredis';
import { redactSecrets } from '../internal/redact.js';
import { pgActivity } from './pg-activity.js';
import type { FindingSeverity } from './pg-check-rules.js';
import { pgChecks } from './pg-checks.js';
import type { AnySql } from './pool-monitor.js';
import { redisHealth } from './redis-health.js';

/** One line of the doctor report. */
export interface DoctorFinding {
  severity: FindingSeverity | 'ok';
  check: string;
  object: string;
  detail: string;
  suggestion?: string;
  sql?: string;
}

/** A section of the doctor report (Connection, Activity, Postgres checks, Redis). */
export interface DoctorSection {
  name: string;
  findings: DoctorFinding[];
}

/** The whole report: sections, counts per severity and the exit code (0 healthy, 1 warnings, 2 failures). */
export interface DoctorReport {
  target: string;
  sections: DoctorSection[];
  summary: { critical: number; warning: number; info: number };
  exitCode: 0 | 1 | 2;
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
   * Seconds between the two Redis INFO samples.
   * @default 1000
   */
  redisSampleMs?: number;
}

/**
 * Runs every check the doctor knows (connection, activity, pgChecks, Redis) and builds the report.
 *
 * @example
 * ```ts
 * const report = await runDoctorChecks({ sql, target: 'prod' });
 * console.log(formatDoctorReport(report));
 * ```
 */
export async function runDoctorChecks(t: DoctorTargets): Promise<DoctorReport> {
  const progress = t.onProgress ?? (() => {});
  const sections: DoctorSection[] = [];
  if (t.sql) {
    const sql = t.sql;
    progress('connecting to Postgres');
    const conn: DoctorSection = { name: 'Connection', findings: [] };
    sections.push(conn);
    const started = performance.now();
    let connected = false;
    try {
      const [v] = await sql<
        { version: string; db: string }[]
      >`select version() as version, current_database() as db`;
      connected = true;
      conn.findings.push({
        severity: 'ok',
        check: 'connection',
        object: v?.db ?? '',
        detail: `connected in ${Math.round(performance.now() - started)} ms: ${(v?.version ?? '').split(',')[0]}`,
      });
    } catch (e) {
      conn.findings.push({
        severity: 'critical',
        check: 'connection',
        object: 'postgres',
        detail: `cannot connect: ${(e as Error).message}`,
        suggestion: 'Check the URL, the network and that the server is up.',
      });
    }
    if (connected) {
      progress('reading pg_stat_activity');
      sections.push(await activitySection(sql));
      const checks: DoctorSection = { name: 'Postgres checks', findings: [] };
      sections.push(checks);
      const r = await pgChecks(sql, { onProgress: (c) => progress(`check ${c}`) });
      for (const f of r.findings) checks.findings.push({ ...f });
      for (const f of r.failed)
        checks.findings.push({
          severity: 'warning',
          check: f.check,
          object: 'check',
          detail: f.error.message,
        });
      if (r.findings.length === 0 && r.failed.length === 0)
        checks.findings.push({
          severity: 'ok',
          check: 'pg_checks',
          object: 'database',
          detail: `${r.ran.length} checks passed`,
        });
    }
  }
  if (t.redis) {
    progress('sampling Redis INFO');
    const sec: DoctorSection = { name: 'Redis', findings: [] };
    sections.push(sec);
    const h = await redisHealth(t.redis, { sampleMs: t.redisSampleMs ?? 1000 });
    for (const f of h.findings)
      sec.findings.push({
        severity: f.severity,
        check: f.check,
        object: f.node,
        detail: f.detail,
        suggestion: f.suggestion,
      });
    for (const n of h.nodes.filter((x) => !x.error)) {
      const mem = n.maxMemory ? `${((n.memoryRatio ?? 0) * 100).toFixed(0)}% of maxmemory` : 'no maxmemory';
      const hit = n.hitRate ?? n.lifetimeHitRate;
      sec.findings.push({
        severity: 'ok',
        check: 'redis',
        object: n.node,
        detail: `${(n.usedMemory / 1048576).toFixed(1)} MB used (${mem}), ${n.connectedClients} clients, hit rate ${hit === null ? 'n/a' : `${(hit * 100).toFixed(1)}%`}`,
      });
    }
  }
  const all = sections.flatMap((s) => s.findings);
  const summary = {
    critical: all.filter((f) => f.severity === 'critical').length,
    warning: all.filter((f) => f.severity === 'warning').length,
    info: all.filter((f) => f.severity === 'info').length,
  };
  return { target: t.target, sections, summary, exitCode: summary.critical ? 2 : summary.warning ? 1 : 0 };
}

async function activitySection(sql: AnySql): Promise<DoctorSection> {
  const sec: DoctorSection = { name: 'Activity', findings: [] };
  const [{ db } = { db: '' }] = await sql<{ db: string }[]>`select current_database() as db`;
  const a = await pgActivity(sql, { longRunningMs: 60_000, idleInTransactionMs: 60_000 });
  const here = (b: { database: string | null }) => b.database === db;
  const usage = a.usage;
  sec.findings.push({
    severity: usage >= 0.9 ? 'critical' : usage >= 0.8 ? 'warning' : 'ok',
    check: 'connections',
    object: 'server',
    detail: `${a.total} of ${a.maxConnections} connections (${(usage * 100).toFixed(0)}%): ${Object.entries(
      a.byState,
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
    ...(usage >= 0.8 ? { suggestion: 'Put a pooler (PgBouncer) in front or lower the pool sizes.' } : {}),
  });
  for (const b of a.longRunning.filter(here))
    sec.findings.push({
      severity: 'warning',
      check: 'long_running_query',
      object: `pid ${b.pid}`,
      detail: `running ${Math.round(b.querySeconds ?? 0)} s (${b.applicationName}): ${b.query.slice(0, 200)}`,
      sql: `SELECT pg_cancel_backend(${b.pid});`,
    });
  for (const b of a.idleInTransaction.filter(here))
    sec.findings.push({
      severity: 'warning',
      check: 'idle_in_transaction',
      object: `pid ${b.pid}`,
      detail: `idle in transaction for ${Math.round(b.stateSeconds ?? 0)} s (${b.applicationName}): ${b.query.slice(0, 200)}`,
      suggestion:
        'Find the code path that leaves the transaction open; set idle_in_transaction_session_timeout.',
      sql: `SELECT pg_terminate_backend(${b.pid});`,
    });
  const local = new Set(a.backends.filter(here).map((b) => b.pid));
  for (const root of a.blocking.filter((r) => local.has(r.pid)))
    sec.findings.push({
      severity: 'warning',
      check: 'blocking',
      object: `pid ${root.pid}`,
      detail: `blocks ${countBlocked(root)} backend(s): ${root.query.slice(0, 200)}`,
      sql: `SELECT pg_cancel_backend(${root.pid});`,
    });
  return sec;
}

function countBlocked(n: { blocks: Array<{ blocks: unknown[] }> }): number {
  return n.blocks.reduce((acc, c) => acc + 1 + countBlocked(c as typeof n), 0);
}

const LABEL: Record<DoctorFinding['severity'], string> = {
  ok: 'ok  ',
  info: 'INFO',
  warning: 'WARN',
  critical: 'FAIL',
};

/**
 * Renders a doctor report as readable text (sections, severities, fixes), with secrets redacted.
 *
 * @example
 * ```ts
 * process.stdout.write(formatDoctorReport(report, [password]));
 * ```
 */
export function formatDoctorReport(r: DoctorReport, secrets: ReadonlyArray<string | undefined> = []): string {
  const lines = [`dbkit doctor: ${r.target}`, ''];
  for (const s of r.sections) {
    lines.push(`== ${s.name} ==`);
    for (const f of s.findings) {
      lines.push(`  ${LABEL[f.severity]}  ${f.check}  ${f.object}`);
      lines.push(`        ${f.detail}`);
      if (f.suggestion) lines.push(`        -> ${f.suggestion}`);
      if (f.sql) lines.push(`        fix: ${f.sql}`);
    }
    lines.push('');
  }
  const verdict = r.exitCode === 2 ? 'FAILURES' : r.exitCode === 1 ? 'WARNINGS' : 'HEALTHY';
  lines.push(
    `${verdict}: ${r.summary.critical} critical, ${r.summary.warning} warnings, ${r.summary.info} info`,
  );
  return `${redactSecrets(lines.join('\n'), secrets)}\n`;
}
