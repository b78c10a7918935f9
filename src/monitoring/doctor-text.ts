import { redactSecrets } from '../internal/redact.js';
import type { DoctorFinding, DoctorReport } from './doctor-report.js';
import { formatBytes } from './finding.js';
import type { BlockingNode } from './pg-activity.js';

const LABEL: Record<DoctorFinding['severity'], string> = {
  ok: 'ok  ',
  info: 'INFO',
  warning: 'WARN',
  critical: 'FAIL',
};

/** `value unit (threshold ...)` for a finding that carries numbers. */
export function formatFindingNumbers(f: Pick<DoctorFinding, 'value' | 'threshold' | 'unit'>): string {
  if (f.value === undefined) return '';
  const fmt = (v: number) =>
    f.unit === 'ratio'
      ? `${(v * 100).toFixed(v >= 0.995 && v < 1 ? 2 : 1)}%`
      : f.unit === 'bytes'
        ? formatBytes(v)
        : Number.isInteger(v)
          ? String(v)
          : v.toFixed(1);
  const unit = f.unit === 'ratio' || f.unit === 'bytes' || !f.unit ? '' : ` ${f.unit.replace(/_/g, ' ')}`;
  return `${fmt(f.value)}${unit}${f.threshold !== undefined ? ` (threshold ${fmt(f.threshold)}${unit})` : ''}`;
}

/** A blocking tree as indented lines. */
export function formatBlockingTree(n: BlockingNode, depth = 0): string[] {
  const state = `${n.state ?? 'unknown'}${n.stateSeconds != null ? ` ${Math.round(n.stateSeconds)} s` : ''}`;
  const wait = n.waitEvent ? `, waiting on ${n.waitEvent}` : '';
  const line = `${'  '.repeat(depth)}${depth ? '└ ' : ''}pid ${n.pid} (${state}${wait}) ${n.query.replace(/\s+/g, ' ').slice(0, 120)}`;
  return [line, ...n.blocks.flatMap((c) => formatBlockingTree(c, depth + 1))];
}

/**
 * Renders a doctor report as readable text (sections, severities, numbers, fixes, the blocking trees and the
 * top queries), with secrets redacted.
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
      const numbers = formatFindingNumbers(f);
      if (numbers && f.severity !== 'ok') lines.push(`        value: ${numbers}`);
      if (f.suggestion) lines.push(`        -> ${f.suggestion}`);
      if (f.sql) lines.push(`        fix: ${f.sql}`);
      if (f.command) lines.push(`        fix: ${f.command}`);
    }
    if (s.id === 'activity' && r.activity?.blocking.length) {
      lines.push('  blocking trees:');
      for (const root of r.activity.blocking)
        for (const l of formatBlockingTree(root)) lines.push(`        ${l}`);
    }
    if (s.id === 'queries' && r.queries?.available && r.queries.byTotalTime.length) {
      lines.push('  top statements by total time:');
      for (const q of r.queries.byTotalTime.slice(0, 5))
        lines.push(
          `        ${q.id}  ${q.totalMs.toFixed(0)} ms total, ${q.meanMs.toFixed(2)} ms mean, ${q.calls} calls (${q.percent.toFixed(1)}%): ${q.fingerprint.slice(0, 100)}`,
        );
      if (r.queries.worst) {
        lines.push(`        worst: ${r.queries.worst.hint}`);
        if (r.queries.worst.sql) lines.push(`        ${r.queries.worst.sql.slice(0, 300)}`);
      }
    }
    lines.push('');
  }
  const verdict = r.exitCode === 2 ? 'FAILURES' : r.exitCode === 1 ? 'WARNINGS' : 'HEALTHY';
  lines.push(
    `${verdict}: ${r.summary.critical} critical, ${r.summary.warning} warnings, ${r.summary.info} info`,
  );
  return `${redactSecrets(lines.join('\n'), secrets)}\n`;
}
