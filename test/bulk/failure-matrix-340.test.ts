/**
 * Failure matrix on postgres.js 3.4.0, the lowest version of the peer range (its COPY and close handling
 * differ from 3.4.9): the COPY text and unnest paths of bulkInsert. See failure-matrix.ts.
 */
import { registerMatrix } from './failure-matrix.js';

registerMatrix('v340', 'insert', ['copy-text', 'unnest'], '3.4.0');
