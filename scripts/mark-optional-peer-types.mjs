#!/usr/bin/env node
/**
 * Run after tsup (`npm run build`): puts `// @ts-ignore` before every line of dist/**\/*.d.ts and *.d.cts that
 * names an optional peer (package.json `peerDependenciesMeta`, e.g. `import { BigQuery } from '@google-cloud/bigquery'`).
 *
 * Why: a service that installs dbkit without, say, @google-cloud/bigquery and compiles with `skipLibCheck: false`
 * would otherwise get "TS2307: Cannot find module '@google-cloud/bigquery'" from dbkit's own declarations.
 * With the comment, TypeScript resolves the import when the peer is installed (full types: `manager.bigquery()`
 * is a `BigQuery`) and treats its names as `any` when it is not, without an error. TypeScript honours
 * `@ts-ignore` in declaration files; `@ts-expect-error` would fail whenever the peer IS installed.
 *
 * It runs on the emitted files, not in src/, because tsup's declaration bundler (rollup-plugin-dts) drops
 * comments on the imports it hoists, and so that a type-only peer import anyone adds to src/ is covered
 * without remembering to annotate it. test/package/consumer.test.ts compiles against the packed declarations with
 * and without the peers installed, so a form this script misses fails the suite.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const optional = new Set(
  Object.entries(pkg.peerDependenciesMeta ?? {})
    .filter(([, meta]) => meta?.optional)
    .map(([name]) => name),
);

export const MARKER = '// @ts-ignore -- optional peer: its own types when installed, `any` when not';

/** `drizzle-orm/pg-core` -> `drizzle-orm`, `@google-cloud/bigquery/x` -> `@google-cloud/bigquery`. */
const packageOf = (spec) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

// Module specifiers in import/export declarations, side-effect imports and `import('x')` types.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)(['"])([^'"]+)\1/g;
// A triple-slash reference to an optional peer's types cannot be ignored: the build must not emit one.
const REFERENCE = /^\s*\/\/\/\s*<reference\s+types\s*=\s*(['"])([^'"]+)\1/;

function* declarationFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* declarationFiles(p);
    else if (/\.d\.c?ts$/.test(e.name)) yield p;
  }
}

let marked = 0;
const problems = [];
for (const file of declarationFiles(join(root, 'dist'))) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out = [];
  for (const line of lines) {
    // JSDoc and comment lines (examples like "import postgres from 'postgres'") are text, not imports.
    const comment = /^\s*(\*|\/\*|\/\/)/.test(line);
    const peers = comment
      ? []
      : [...line.matchAll(SPECIFIER)].map((m) => m[2]).filter((s) => optional.has(packageOf(s)));
    if (peers.length > 0) {
      if (out.at(-1) !== MARKER) {
        out.push(MARKER);
        marked++;
      }
    }
    const ref = REFERENCE.exec(line);
    if (ref && optional.has(packageOf(ref[2]))) problems.push(`${file}: ${line.trim()}`);
    out.push(line);
  }
  writeFileSync(file, out.join('\n'));
}

if (problems.length > 0) {
  console.error(
    `mark-optional-peer-types: optional peers referenced by a triple-slash directive:\n  ${problems.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`mark-optional-peer-types: ${marked} optional-peer import lines marked in dist/**/*.d.{ts,cts}`);
