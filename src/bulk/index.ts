/**
 * dbkit/bulk: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
export { type ProcessInBatchesOptions, processInBatches } from './batches.js';
export {
  BULK_BATCH_CHANNEL,
  BULK_TX_HOOK_ERROR_CHANNEL,
  BULK_TX_RETRY_CHANNEL,
} from './channels.js';
export {
  BulkAbortedError,
  BulkErrorCodes,
  BulkValidationError,
  BulkWriteError,
  type BulkWriteProgress,
  TransactionOutcomeUnknownError,
  TransactionRetriesExhaustedError,
} from './errors.js';
export {
  type BulkColumnKey,
  type BulkCopyFormat,
  type BulkInsertOptions,
  type BulkInsertProgress,
  type BulkInsertResult,
  type BulkOnConflict,
  type BulkUpsertOptions,
  bulkInsert,
  bulkUpsert,
  planInsertMethod,
} from './insert.js';
export {
  type BulkCommonOptions,
  type BulkMethod,
  type BulkProgress,
  resolveBulkOptions,
} from './options.js';
export type { RowSource as BulkRowSource } from './runner.js';
export {
  resolveTransactionOptions,
  type TransactionContext,
  type TransactionRetryInfo,
  type WithTransactionOptions,
  withTransaction,
} from './transaction.js';
export {
  type BulkDeleteOptions,
  type BulkDeleteResult,
  type BulkUpdateOptions,
  type BulkUpdateResult,
  bulkDelete,
  bulkUpdate,
} from './update.js';
