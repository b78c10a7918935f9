/**
 * Synchronous loaders for dbkit's optional peers, one per module, each a literal `require('<name>')`.
 *
 * Why literal calls in a file of their own: bundlers (esbuild, webpack, Rollup's commonjs plugin) only see a
 * dependency written as `require('name')` or `import('name')` with a string literal. A `createRequire(...)(name)`
 * is invisible to them, so a bundled service could not find an installed peer. The client manager's getters are
 * synchronous (`manager.sql()`), so `import()` is not an option for them.
 *
 * This file is built WITHOUT bundling (tsup.config.ts: dist/internal/peers.js and .cjs, reached through the
 * package's private `#dbkit/peers` import), because esbuild would otherwise rewrite every `require` into its
 * `__require` shim, which a downstream bundler no longer recognises. For the same reason it imports nothing of
 * dbkit's own: src/internal/import-lib.ts turns its raw errors into MissingPeerDependencyError. The `imports`
 * map gives webpack the .cjs file (its `webpack` condition): webpack leaves `require` alone in a module it
 * parses as ESM, and it would replace `createRequire(import.meta.url)` with `undefined`.
 *
 * How each call resolves:
 * - dbkit's CJS build (plain Node): `require` is Node's own.
 * - dbkit's ESM build (plain Node): `require` is not defined, so the call throws a ReferenceError and we fall
 *   back to `createRequire(import.meta.url)`, which resolves from dbkit's own location like the call would.
 * - A bundle (ESM or CJS output) of a service that uses dbkit: the bundler replaces the call with the bundled
 *   module. If the peer was marked external, esbuild's ESM output throws "Dynamic require ... is not supported"
 *   and the fallback resolves it from the bundle's location; its CJS output has Node's `require`.
 * Each `require` sits inside a `try`, so bundling a service that does not install a peer is a warning at most
 * (esbuild and webpack treat a `require` in a `try` block as optional), and using it is a clear error.
 */
import { createRequire } from 'node:module';

let ownRequire: NodeJS.Require | undefined;

/** A `require` that resolves from this file (or the bundle it became part of), where one can be made. */
function requireFromHere(): NodeJS.Require | undefined {
  // `import.meta.url` is a string in ESM; esbuild's CJS output (of this file or of a bundle) makes it undefined,
  // where `__filename` is defined instead.
  const url: unknown = import.meta.url;
  const file = typeof __filename === 'string' ? __filename : typeof url === 'string' ? url : undefined;
  if (file) ownRequire ??= createRequire(file);
  return ownRequire;
}

function fallback(id: string, first: unknown): unknown {
  // Only two failures mean "this `require` could not be used here": ESM's ReferenceError (no `require`) and
  // esbuild's "Dynamic require of ... is not supported" (an ESM bundle that left the module out). Anything else,
  // such as Node's or webpack's MODULE_NOT_FOUND, or an error thrown while the peer loads, is final.
  const noRequire =
    first instanceof ReferenceError ||
    (first instanceof Error && first.message.startsWith('Dynamic require of ') && !('code' in first));
  if (!noRequire) throw first;
  const req = requireFromHere();
  if (!req) throw first;
  return req(id);
}

/** One loader per optional peer module dbkit uses at run time. Keys are the module specifiers. */
export const peerLoaders = {
  postgres: () => {
    try {
      return require('postgres');
    } catch (e) {
      return fallback('postgres', e);
    }
  },
  'drizzle-orm': () => {
    try {
      return require('drizzle-orm');
    } catch (e) {
      return fallback('drizzle-orm', e);
    }
  },
  'drizzle-orm/pg-core': () => {
    try {
      return require('drizzle-orm/pg-core');
    } catch (e) {
      return fallback('drizzle-orm/pg-core', e);
    }
  },
  'drizzle-orm/postgres-js': () => {
    try {
      return require('drizzle-orm/postgres-js');
    } catch (e) {
      return fallback('drizzle-orm/postgres-js', e);
    }
  },
  '@google-cloud/bigquery': () => {
    try {
      return require('@google-cloud/bigquery');
    } catch (e) {
      return fallback('@google-cloud/bigquery', e);
    }
  },
  '@google-cloud/pubsub': () => {
    try {
      return require('@google-cloud/pubsub');
    } catch (e) {
      return fallback('@google-cloud/pubsub', e);
    }
  },
  '@google-cloud/firestore': () => {
    try {
      return require('@google-cloud/firestore');
    } catch (e) {
      return fallback('@google-cloud/firestore', e);
    }
  },
  '@google-cloud/storage': () => {
    try {
      return require('@google-cloud/storage');
    } catch (e) {
      return fallback('@google-cloud/storage', e);
    }
  },
  'prom-client': () => {
    try {
      return require('prom-client');
    } catch (e) {
      return fallback('prom-client', e);
    }
  },
  // The BigQuery client's own dependency (for its PassThroughClient). Resolved from the BigQuery package first,
  // so the copy BigQuery itself uses is the one we get (pnpm does not hoist it where dbkit could see it).
  'google-auth-library': () => {
    try {
      const req = requireFromHere();
      if (req) return createRequire(req.resolve('@google-cloud/bigquery'))('google-auth-library');
    } catch {
      // Bundled, or an unusual layout: the literal require below (which a bundler resolves) decides.
    }
    try {
      return require('google-auth-library');
    } catch (e) {
      return fallback('google-auth-library', e);
    }
  },
} satisfies Record<string, () => unknown>;

/** A module specifier dbkit can load through {@link peerLoaders}. */
export type PeerModule = keyof typeof peerLoaders;
