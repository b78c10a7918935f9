/** Failure matrix, statement paths of bulkInsert (unnest, VALUES): see failure-matrix.ts. */
import { registerMatrix } from './failure-matrix.js';

registerMatrix('stmt', 'insert', ['unnest', 'values']);
