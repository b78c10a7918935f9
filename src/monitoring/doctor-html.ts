import { redactSecrets } from '../internal/redact.js';
import type { DoctorFinding, DoctorReport } from './doctor-report.js';
import { formatFindingNumbers } from './doctor-text.js';
import type { BlockingNode } from './pg-activity.js';
import type { PgQueryStat } from './pg-query-stats.js';

const esc = (s: unknown) =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

const LABEL: Record<DoctorFinding['severity'], string> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
  ok: 'ok',
};

const STYLE = `
:root { color-scheme: light; --fg: #1d232a; --muted: #5b6570; --line: #d9dee3; --bg: #f6f7f9;
  --critical: #b42318; --warning: #b54708; --info: #175cd3; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
.meta { color: var(--muted); margin: 0 0 18px; }
.summary { display: flex; gap: 12px; flex-wrap: wrap; margin: 0 0 12px; }
.count { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--c); border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.count b { display: block; font-size: 24px; color: var(--c); }
.verdict { font-weight: 600; }
nav ul { list-style: none; padding: 0; margin: 0; display: flex; gap: 10px; flex-wrap: wrap; }
nav a { color: var(--info); text-decoration: none; }
.finding { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--c); border-radius: 6px; padding: 10px 14px; margin: 8px 0; }
.finding header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.badge { text-transform: uppercase; font-size: 11px; font-weight: 700; color: #fff; background: var(--c); border-radius: 4px; padding: 1px 6px; }
.check { color: var(--muted); }
.object { font-weight: 600; word-break: break-all; }
.detail, .suggestion, .numbers { margin: 6px 0 0; }
.numbers { color: var(--muted); }
.fix { position: relative; margin-top: 8px; }
.fix pre { margin: 0; background: #0f1720; color: #e6edf3; padding: 10px 80px 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.copy { position: absolute; top: 6px; right: 6px; font: inherit; font-size: 12px; padding: 3px 10px; border-radius: 4px; border: 1px solid #3b4652; background: #1f2a36; color: #e6edf3; cursor: pointer; }
.sev-critical { --c: var(--critical); } .sev-warning { --c: var(--warning); } .sev-info { --c: var(--info); } .sev-ok { --c: var(--ok); }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td code { word-break: break-word; }
td:first-child code { white-space: nowrap; }
ul.tree, ul.tree ul { list-style: none; margin: 4px 0 4px 18px; padding: 0; }
ul.tree li { margin: 3px 0; } ul.tree ul li::before { content: "└ "; color: var(--muted); }
.empty { color: var(--muted); }
`;

// Copies the fix next to the button: the Clipboard API where the page may use it, else select + execCommand
// (a file:// page is not always a secure context). The text is also left selected so Ctrl+C works.
const SCRIPT = `
document.addEventListener('click', async (ev) => {
  const btn = ev.target instanceof Element ? ev.target.closest('button.copy') : null;
  if (!btn) return;
  const code = btn.parentElement.querySelector('code');
  const text = code.textContent;
  let ok = false;
  try { if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; } } catch {}
  const range = document.createRange();
  range.selectNodeContents(code);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  if (!ok) { try { ok = document.execCommand('copy'); } catch {} }
  btn.textContent = ok ? 'Copied' : 'Press Ctrl+C';
  btn.dataset.copied = ok ? 'yes' : 'no';
  setTimeout(() => { btn.textContent = 'Copy'; }, 2000);
});
`;

function findingHtml(f: DoctorFinding): string {
  const numbers = f.severity === 'ok' ? '' : formatFindingNumbers(f);
  const fix = f.sql ?? f.command;
  return `<article class="finding sev-${f.severity}" data-check="${esc(f.check)}" data-severity="${f.severity}">
<header><span class="badge">${LABEL[f.severity]}</span><code class="check">${esc(f.check)}</code><span class="object">${esc(f.object)}</span></header>
<p class="detail">${esc(f.detail)}</p>${numbers ? `\n<p class="numbers">value ${esc(numbers)}${f.confidence ? `; ${esc(f.confidence)} confidence` : ''}</p>` : ''}${
    f.suggestion ? `\n<p class="suggestion">${esc(f.suggestion)}</p>` : ''
  }${fix ? `\n<div class="fix"><pre><code>${esc(fix)}</code></pre><button class="copy" type="button" title="Copy the fix">Copy</button></div>` : ''}
</article>`;
}

function treeHtml(n: BlockingNode): string {
  const state = `${n.state ?? 'unknown'}${n.stateSeconds != null ? ` ${Math.round(n.stateSeconds)} s` : ''}`;
  return `<li><b>pid ${n.pid}</b> <span class="check">${esc(state)}${n.waitEvent ? `, waiting on ${esc(n.waitEvent)}` : ''}${
    n.applicationName ? `, ${esc(n.applicationName)}` : ''
  }</span> <code>${esc(n.query.replace(/\s+/g, ' ').slice(0, 300))}</code>${
    n.blocks.length ? `<ul>${n.blocks.map(treeHtml).join('')}</ul>` : ''
  }</li>`;
}

function queryTable(title: string, rows: PgQueryStat[]): string {
  if (!rows.length) return '';
  return `<h3>${esc(title)}</h3><table><thead><tr><th>fingerprint</th><th>total ms</th><th>mean ms</th><th>calls</th><th>rows</th><th>% time</th><th>statement</th></tr></thead><tbody>${rows
    .map(
      (q) =>
        `<tr><td><code>${esc(q.id)}</code></td><td class="n">${q.totalMs.toFixed(0)}</td><td class="n">${q.meanMs.toFixed(2)}</td><td class="n">${q.calls}</td><td class="n">${q.rows}</td><td class="n">${q.percent.toFixed(1)}</td><td><code>${esc(q.fingerprint.slice(0, 400))}</code></td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function activityHtml(r: DoctorReport): string {
  const a = r.activity;
  if (!a) return '';
  const rows = Object.entries(a.byState)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td class="n">${v}</td></tr>`)
    .join('');
  const others = a.otherDatabases.length
    ? `<p>${a.otherDatabases.reduce((n, d) => n + d.sessions, 0)} session(s) on other databases: ${a.otherDatabases
        .map((d) => `${esc(d.database)} (${d.sessions})`)
        .join(', ')}.</p>`
    : '<p class="empty">No sessions on other databases.</p>';
  const trees = a.blocking.length
    ? `<h3>Blocking tree</h3><ul class="tree">${a.blocking.map(treeHtml).join('')}</ul>`
    : '<p class="empty">No session of this database blocks another.</p>';
  return `<p>${a.sessions} other session(s) on <b>${esc(a.database)}</b>; server: ${a.server.connections} of ${a.server.maxConnections} connections (${(a.server.usage * 100).toFixed(0)}%).</p>
${rows ? `<table class="states"><thead><tr><th>state</th><th>sessions</th></tr></thead><tbody>${rows}</tbody></table>` : ''}${others}${trees}`;
}

function queriesHtml(r: DoctorReport): string {
  const q = r.queries;
  if (!q?.available) return '';
  const worst = q.worst
    ? `<p><b>Worst statement</b> <code>${esc(q.worst.stat.id)}</code>: ${esc(q.worst.hint)}</p>${
        q.worst.sql
          ? `<div class="fix"><pre><code>${esc(q.worst.sql)}</code></pre><button class="copy" type="button" title="Copy">Copy</button></div>`
          : ''
      }`
    : '';
  return `${worst}${queryTable('By total time', q.byTotalTime)}${queryTable('By mean time', q.byMeanTime)}${queryTable('By calls', q.byCalls)}`;
}

/**
 * Renders a doctor report as one self-contained HTML page (inline styles and script, nothing loaded from
 * elsewhere, readable from a file:// URL): the summary with severity counts, then one section per area with
 * each finding's numbers and its fix behind a Copy button, the blocking trees and the top statements.
 *
 * @example
 * ```ts
 * writeFileSync('report.html', formatDoctorHtml(await runDoctorChecks({ sql, target: 'prod' })));
 * ```
 */
export function formatDoctorHtml(r: DoctorReport, secrets: ReadonlyArray<string | undefined> = []): string {
  const verdict = r.exitCode === 2 ? 'Failures' : r.exitCode === 1 ? 'Warnings' : 'Healthy';
  const ok = r.sections.flatMap((s) => s.findings).filter((f) => f.severity === 'ok').length;
  const counts = (
    [
      ['critical', r.summary.critical],
      ['warning', r.summary.warning],
      ['info', r.summary.info],
      ['ok', ok],
    ] as const
  )
    .map(([sev, n]) => `<div class="count sev-${sev}" data-severity="${sev}"><b>${n}</b>${sev}</div>`)
    .join('');
  const nav = r.sections
    .map((s) => {
      const bad = s.findings.filter((f) => f.severity === 'critical' || f.severity === 'warning').length;
      return `<li><a href="#sec-${s.id}">${esc(s.name)}${bad ? ` (${bad})` : ''}</a></li>`;
    })
    .join('');
  const sections = r.sections
    .map((s) => {
      const extra = s.id === 'activity' ? activityHtml(r) : s.id === 'queries' ? queriesHtml(r) : '';
      return `<section id="sec-${s.id}" data-section="${s.id}"><h2>${esc(s.name)}</h2>${extra}${
        s.findings.map(findingHtml).join('\n') || '<p class="empty">Nothing to report.</p>'
      }</section>`;
    })
    .join('\n');
  const meta = [
    r.database ? `database ${esc(r.database)}` : '',
    r.serverVersion ? esc(r.serverVersion) : '',
    esc(r.generatedAt),
  ]
    .filter(Boolean)
    .join(' · ');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>dbkit doctor: ${esc(r.target)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>dbkit doctor</h1>
<p class="meta">${esc(r.target)} · ${meta}</p>
<section id="summary"><div class="summary">${counts}</div>
<p class="verdict">${verdict}: ${r.summary.critical} critical, ${r.summary.warning} warnings, ${r.summary.info} info (exit code ${r.exitCode})</p>
<nav><ul>${nav}</ul></nav></section>
${sections}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
  return redactSecrets(html, secrets);
}
