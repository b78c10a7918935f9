import { rmSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

/** One entry per public subpath; test/package/exports.test.ts keeps this list, package.json and src/ in step. */
export const entries = {
  index: 'src/index.ts',
  'clients/index': 'src/clients/index.ts',
  'cache/index': 'src/cache/index.ts',
  'bulk/index': 'src/bulk/index.ts',
  'query/index': 'src/query/index.ts',
  'monitoring/index': 'src/monitoring/index.ts',
} as const;

/** The private import (package.json `imports`) through which the bundles reach the unbundled peer loaders. */
export const PEERS_IMPORT = '#dbkit/peers';

/**
 * src/internal/import-lib.ts imports './peers.js'. In the library bundles that import stays external, as
 * `#dbkit/peers`, so the loaders' literal `require('<peer>')` calls reach dist/ untouched (bundling them would
 * rewrite each into esbuild's `__require` shim, which a service's own bundler no longer recognises).
 */
const peersExternal: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'dbkit-peers-external',
  setup(build) {
    build.onResolve({ filter: /^\.\/peers\.js$/ }, (args) =>
      args.importer.replaceAll('\\', '/').endsWith('/src/internal/import-lib.ts')
        ? { path: PEERS_IMPORT, external: true }
        : undefined,
    );
  },
};

export default defineConfig(() => {
  // Cleaned here, once, before the configs below build in parallel (tsup's per-config `clean` would race them).
  rmSync('dist', { recursive: true, force: true });
  return [
    {
      entry: entries,
      format: ['esm', 'cjs'],
      dts: true,
      sourcemap: true,
      splitting: true,
      shims: true,
      target: 'node20',
      // esbuild renames a class that refers to itself (`class _X`), which would make `new.target.name`, and so
      // an error's `name`, read "_StorageRequestError"; keepNames keeps every class and function name.
      keepNames: true,
      outDir: 'dist',
      esbuildPlugins: [peersExternal],
      esbuildOptions(options, { format }) {
        // tsup turns the split CJS chunks into CommonJS with sucrase, which rewrites a class with static fields
        // into an anonymous `_class`, so `new.target.name` (every DbkitError's `name`) read "_class" in the CJS
        // build. esbuild lowering static fields first keeps the classes named.
        if (format === 'cjs') options.supported = { ...options.supported, 'class-static-field': false };
      },
    },
    {
      // The peer loaders, transpiled file by file (no bundling, see src/internal/peers.ts), for both formats.
      entry: { 'internal/peers': 'src/internal/peers.ts' },
      format: ['esm', 'cjs'],
      bundle: false,
      dts: false,
      sourcemap: false,
      target: 'node20',
      outDir: 'dist',
      // `require` in the ESM file and `import.meta` in the CJS file are intended (see src/internal/peers.ts).
      esbuildOptions(options) {
        options.logOverride = { 'unsupported-require-call': 'silent', 'empty-import-meta': 'silent' };
      },
    },
    {
      // The CLI: ESM only, with a shebang, not part of the library's exports.
      entry: { cli: 'src/cli.ts' },
      format: ['esm'],
      dts: false,
      sourcemap: true,
      shims: true,
      target: 'node20',
      outDir: 'dist',
      esbuildPlugins: [peersExternal],
      banner: { js: '#!/usr/bin/env node' },
    },
  ];
});
