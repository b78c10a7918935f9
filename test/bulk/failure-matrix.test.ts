/**
 * Failure matrix, COPY paths (text and binary) of bulkInsert: every failure x mode x failing row position,
 * 3,000 rows in batches of 1,000. The axes and the per-cell assertions are in failure-matrix.ts; the unnest
 * and VALUES slice and the bulkUpdate/bulkDelete slice are their own files so the three run in parallel.
 */
import { registerMatrix } from './failure-matrix.js';

registerMatrix('copy', 'insert', ['copy-text', 'copy-binary']);
