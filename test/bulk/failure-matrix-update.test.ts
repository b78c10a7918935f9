/** Failure matrix of bulkUpdate and bulkDelete (the failures that apply to them): see failure-matrix.ts. */
import { registerMatrix } from './failure-matrix.js';

registerMatrix('upd', 'update', ['unnest']);
registerMatrix('del', 'delete', ['unnest']);
