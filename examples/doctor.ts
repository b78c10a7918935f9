/**
 * dbkit doctor from code: run every check, print the text report, write the HTML page, and fail a deploy
 * step on critical findings. The same as `npx dbkit doctor $DATABASE_URL --redis $REDIS_URL --html report.html`.
 * Run: DATABASE_URL=postgres://... [REDIS_URL=redis://...] npx tsx examples/doctor.ts [report.html]
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import {
  formatDoctorHtml,
  formatDoctorReport,
  pgQueryStats,
  runDoctorChecks,
} from '../src/monitoring/index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: 'dbkit doctor' } });
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL, { lazyConnect: true }) : undefined;

try {
  await redis?.connect();
  const report = await runDoctorChecks({
    sql,
    ...(redis ? { redis } : {}),
    target: 'example',
    // Thresholds are options; these are PgHero's defaults except where noted.
    activity: { longRunningMs: 60_000, idleInTransactionMs: 30_000 },
    checks: { unusedIndexMinBytes: 10 * 1024 * 1024 },
    queryStats: { limit: 5 },
  });
  process.stdout.write(formatDoctorReport(report));
  const file = process.argv[2] ?? 'doctor-report.html';
  writeFileSync(file, formatDoctorHtml(report));
  console.log(`wrote ${file}`);

  // Findings are data: value/threshold/unit where a threshold decided them, a runnable sql where there is a fix.
  for (const f of report.sections.flatMap((s) => s.findings).filter((x) => x.severity === 'critical'))
    console.log(
      `CRITICAL ${f.check} ${f.object}: ${f.value} ${f.unit ?? ''} (threshold ${f.threshold}) -> ${f.sql ?? f.suggestion}`,
    );

  // The Queries section on its own: pg_stat_statements, grouped by dbkit/query fingerprints.
  const stats = await pgQueryStats(sql, { limit: 3 });
  if (stats.available)
    for (const q of stats.byTotalTime) console.log(q.id, q.totalMs.toFixed(0), 'ms', q.fingerprint);
  else console.log('query stats:', stats.findings[0]?.suggestion, stats.findings[0]?.sql ?? '');

  process.exitCode = report.exitCode === 2 ? 1 : 0;
} finally {
  await sql.end({ timeout: 2 });
  redis?.disconnect();
}
