import { channel } from 'node:diagnostics_channel';

/** Published after every bulk batch: `{ operation, table, method, rows, batch, durationMs }`. */
export const BULK_BATCH_CHANNEL = 'dbkit:bulk:batch';
/** Published when withTransaction retries: `{ attempt, sqlState, delayMs }`. */
export const BULK_TX_RETRY_CHANNEL = 'dbkit:bulk:tx-retry';
/** Published when an onCommit hook throws (the transaction is committed): `{ error }`. */
export const BULK_TX_HOOK_ERROR_CHANNEL = 'dbkit:bulk:tx-hook-error';

export const batchChannel = channel(BULK_BATCH_CHANNEL);
export const retryChannel = channel(BULK_TX_RETRY_CHANNEL);
export const hookErrorChannel = channel(BULK_TX_HOOK_ERROR_CHANNEL);
