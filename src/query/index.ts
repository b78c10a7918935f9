/**
 * dbkit/query: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
export * from './bigquery/index.js';
