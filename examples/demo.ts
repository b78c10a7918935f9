/**
 * `npm run demo`: shows dbkit's primitives working, with figures.
 * With no DATABASE_URL it runs on PGlite (embedded Postgres in WebAssembly); with no REDIS_URL the cache
 * uses the in-memory store. Set either to run against real servers.
 *
 * Each module adds a section file under examples/demo/ that exports `order`, `title` and `run(ctx)`.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type DemoContext, openDemoContext } from './demo/context.js';

interface DemoSection {
  order: number;
  title: string;
  run(ctx: DemoContext): Promise<void>;
}

const here = join(dirname(fileURLToPath(import.meta.url)), 'demo');
const files = readdirSync(here).filter((f) => f.endsWith('.ts') && f !== 'context.ts');
const sections: DemoSection[] = [];
for (const f of files) sections.push((await import(pathToFileURL(join(here, f)).href)) as DemoSection);
sections.sort((a, b) => a.order - b.order);

const ctx = await openDemoContext();
console.log(`dbkit demo: Postgres = ${ctx.postgresLabel}, cache store = ${ctx.redisLabel}\n`);
let failed = 0;
try {
  for (const s of sections) {
    console.log(`\n== ${s.title} ==`);
    const t0 = performance.now();
    try {
      await s.run(ctx);
      console.log(`   (${(performance.now() - t0).toFixed(0)} ms)`);
    } catch (e) {
      failed++;
      console.error(`   FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
} finally {
  await ctx.close();
}
console.log(failed ? `\n${failed} demo section(s) failed.` : '\nAll demo sections ran.');
process.exit(failed ? 1 : 0);
