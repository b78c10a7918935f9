/**
 * dbkit/clients: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
