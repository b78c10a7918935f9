import { defineConfig } from 'tsup';

/** One entry per public subpath; test/package/exports.test.ts keeps this list, package.json and src/ in step. */
export const entries = {
  index: 'src/index.ts',
  'clients/index': 'src/clients/index.ts',
  'cache/index': 'src/cache/index.ts',
  'bulk/index': 'src/bulk/index.ts',
  'query/index': 'src/query/index.ts',
  'monitoring/index': 'src/monitoring/index.ts',
} as const;

export default defineConfig([
  {
    entry: entries,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    shims: true,
    target: 'node20',
    outDir: 'dist',
  },
  {
    // The CLI: ESM only, with a shebang, not part of the library's exports.
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    shims: true,
    target: 'node20',
    outDir: 'dist',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
