import { createRequire } from 'node:module';
import { MissingPeerDependencyError } from '../errors.js';

// One require for both builds: tsup shims import.meta.url in the CJS output.
const requireFromHere = createRequire(import.meta.url);
const cache = new Map<string, unknown>();

/**
 * Synchronously loads an optional peer dependency, with an error that names the package to install.
 * All peers used this way ship CommonJS entry points, so `require` works from both builds.
 */
export function importLib<T>(packageName: string, feature: string): T {
  if (cache.has(packageName)) return cache.get(packageName) as T;
  let mod: unknown;
  try {
    mod = requireFromHere(packageName);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new MissingPeerDependencyError(packageName, feature, e);
    }
    throw e;
  }
  cache.set(packageName, mod);
  return mod as T;
}
