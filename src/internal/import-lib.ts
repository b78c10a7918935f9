import { MissingPeerDependencyError } from '../errors.js';
// A relative import here, so tests and tsx run the source; the build keeps it external and points it at the
// unbundled dist/internal/peers.{js,cjs} through the package's `#dbkit/peers` import (see tsup.config.ts).
import { type PeerModule, peerLoaders } from './peers.js';

export type { PeerModule } from './peers.js';

const cache = new Map<string, unknown>();

/** The npm package that provides a module specifier: `drizzle-orm/pg-core` -> `drizzle-orm`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/**
 * True when `e` says that `specifier` itself (not one of its own dependencies) could not be found:
 * Node's MODULE_NOT_FOUND / ERR_MODULE_NOT_FOUND naming it, webpack's "Cannot find module 'x'", or esbuild's
 * "Dynamic require of "x" is not supported" (a bundle that left the peer out).
 */
export function isNotFound(e: unknown, specifier: string): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  const names = (m: string) =>
    m.includes(`'${specifier}'`) || m.includes(`"${specifier}"`) || m.includes(`'${packageOf(specifier)}'`);
  if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') return names(e.message);
  return e.message.startsWith('Dynamic require of ') && names(e.message);
}

/**
 * Loads `specifier` with `load` once and caches it; a missing module becomes a MissingPeerDependencyError that
 * names the npm package to install and the feature that needs it. Any other error (the peer is installed but
 * fails to load) is rethrown as it is.
 */
export function loadPeer<T>(specifier: string, feature: string, load: () => unknown): T {
  if (cache.has(specifier)) return cache.get(specifier) as T;
  let mod: unknown;
  try {
    mod = load();
  } catch (e) {
    if (isNotFound(e, specifier)) throw new MissingPeerDependencyError(packageOf(specifier), feature, e);
    throw e;
  }
  cache.set(specifier, mod);
  return mod as T;
}

/**
 * Synchronously loads an optional peer dependency, with an error that names the package to install.
 * Every peer loads through a literal `require('<name>')` in src/internal/peers.ts, so bundlers see it.
 */
export function importLib<T>(specifier: PeerModule, feature: string): T {
  return loadPeer<T>(specifier, feature, peerLoaders[specifier]);
}
