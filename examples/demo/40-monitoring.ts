import {
  monitorPool,
  pgChecks,
  pgQueryStats,
  poolHealthBand,
  poolHealthScore,
} from '../../src/monitoring/index.js';
import type { DemoContext } from './context.js';

export const order = 40;
export const title = 'Monitoring: pool health score, Postgres checks and query statistics';

export async function run(ctx: DemoContext): Promise<void> {
  console.log('   poolHealthScore on the reference points (max = 10, nothing pending):');
  for (const inUse of [0, 5, 6, 7, 8, 9, 10]) {
    const s = poolHealthScore({ inUse, max: 10, pending: 0 });
    console.log(
      `     ${String(inUse * 10).padStart(3)}% in use -> ${String(s).padStart(5)} (${poolHealthBand(s)})`,
    );
  }
  console.log(
    `   with 5 pending: ${poolHealthScore({ inUse: 4, max: 10, pending: 5 })}; with p99 wait 300 ms: ${poolHealthScore({ inUse: 4, max: 10, pending: 0, waitP99Ms: 300 })}`,
  );
  if (!ctx.sql) {
    console.log(
      '   monitorPool, pgActivity and pgChecks need postgres.js on a real server: set DATABASE_URL to see them.',
    );
    return;
  }
  const mon = monitorPool(ctx.sql, { name: 'demo' });
  await Promise.all(Array.from({ length: 5 }, () => mon.sql`select 1`));
  const st = mon.stats();
  console.log(
    `   monitorPool: ${st.total.queries} queries, score ${st.score}, p99 wait ${st.waitP99Ms.toFixed(2)} ms`,
  );
  const { findings, ran } = await pgChecks(ctx.sql);
  console.log(`   pgChecks ran ${ran.length} checks, ${findings.length} findings; top 5:`);
  for (const f of findings.slice(0, 5)) {
    const numbers =
      f.value === undefined
        ? ''
        : ` [value ${f.value}${f.threshold === undefined ? '' : `, threshold ${f.threshold}`} ${f.unit ?? ''}]`;
    console.log(`     ${f.severity} ${f.check} ${f.object}: ${f.detail}${numbers}`);
    if (f.sql) console.log(`       fix: ${f.sql}`);
  }
  const stats = await pgQueryStats(ctx.sql, { limit: 3 });
  if (stats.available) {
    console.log('   pg_stat_statements, top 3 by total time (dbkit fingerprints):');
    for (const q of stats.byTotalTime)
      console.log(`     ${q.id} ${q.totalMs.toFixed(0)} ms x${q.calls}: ${q.fingerprint.slice(0, 80)}`);
  } else
    console.log(
      `   pg_stat_statements: ${stats.findings[0]?.detail} -> ${stats.findings[0]?.sql ?? stats.findings[0]?.suggestion}`,
    );
  console.log('   The same as a page: npx dbkit doctor "$DATABASE_URL" --html report.html');
}
