/**
 * dbkit: data-access primitives for Node.js services on Postgres, Redis and Google Cloud.
 * Each module is also available on its own subpath (`dbkit/cache`, ...): import the subpath
 * when you only need one module. Importing the root loads no optional peer either: each is loaded by the
 * function that needs it (and a missing one raises MissingPeerDependencyError naming the package).
 * @packageDocumentation
 * @module dbkit
 */

export * from './bulk/index.js';
export * from './cache/index.js';
export * from './clients/index.js';
export {
  ClientClosedError,
  ConfigError,
  DbkitError,
  type DbkitErrorContext,
  type DbkitErrorOptions,
  ErrorCodes,
  isDbkitError,
  MissingPeerDependencyError,
  TimeoutError,
} from './errors.js';
export * from './monitoring/index.js';
// Both dbkit/query (EXPLAIN findings) and dbkit/monitoring (pgChecks findings) export the same severity union.
export type { FindingSeverity } from './query/index.js';
export * from './query/index.js';
