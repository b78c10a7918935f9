/**
 * `npm run bench` runs every bench/*.bench.ts; `npm run bench -- <name> [<name> ...]` runs the named ones
 * (`cache` runs bench/cache.bench.ts). Each file exports `default async function (report: BenchReport)`.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BenchReport } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${all.join(', ') || '(none)'}`);
  process.exit(64);
}
for (const name of wanted.length ? wanted : all) {
  console.log(`\n=== bench: ${name} (node ${process.version}) ===`);
  const mod = (await import(pathToFileURL(join(here, `${name}.bench.ts`)).href)) as {
    default: (r: BenchReport) => Promise<void>;
  };
  const report = new BenchReport(name);
  await mod.default(report);
  report.write();
}
process.exit(0);
