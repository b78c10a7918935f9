/** processInBatches: keyset pagination (never OFFSET) over a drizzle table. */
import type { SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { ConfigError } from '../errors.js';
import { and, sql } from '../internal/drizzle-lib.js';
import { type ColumnInfo, tableInfo } from './columns.js';
import type { AnyPgDatabase } from './driver.js';
import { BulkAbortedError } from './errors.js';
import type { BulkColumnKey } from './insert.js';

/** Options of {@link processInBatches}. */
export interface ProcessInBatchesOptions<T extends PgTable> {
  /** Rows per batch (one query each). @default 1000 */
  batchSize?: number;
  /** Filter (drizzle SQL) applied to every page. @default undefined */
  where?: SQL;
  /** Unique, non-null key column(s) to paginate on. @default the table's primary key */
  key?: BulkColumnKey<T> | readonly BulkColumnKey<T>[];
  /** Stops before the next page with a BulkAbortedError. @default undefined */
  signal?: AbortSignal;
}

/**
 * Iterates a table in key order, one batch at a time (`WHERE (k1, k2) > (last) ORDER BY k1, k2 LIMIT n`),
 * holding one batch in memory.
 *
 * @example
 * ```ts
 * for await (const batch of processInBatches(db, users, { batchSize: 500, where: eq(users.active, true) })) {
 *   await reindex(batch)
 * }
 * ```
 */
export async function* processInBatches<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  opts: ProcessInBatchesOptions<T> = {},
): AsyncGenerator<Array<T['$inferSelect']>, void, undefined> {
  const info = tableInfo(table);
  const batchSize = opts.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
  const keyNames =
    opts.key === undefined
      ? info.primaryKey.map((c) => c.key)
      : typeof opts.key === 'string'
        ? [opts.key]
        : opts.key;
  if (keyNames.length === 0)
    throw new ConfigError(`processInBatches: ${info.name} has no primary key; pass key`);
  const keyCols = keyNames.map((k) => {
    const c = info.byKey.get(k);
    if (!c) throw new ConfigError(`processInBatches: "${k}" is not a column of ${info.name}`);
    return c;
  });
  const tuple = sql.join(
    keyCols.map((c) => c.column),
    sql`, `,
  );
  let last: Array<unknown> | undefined;
  let batches = 0;
  let done = 0;
  for (;;) {
    if (opts.signal?.aborted)
      throw new BulkAbortedError(
        {
          table: info.name,
          committedBatches: batches,
          committedRows: done,
          firstUnwrittenRow: done,
          failedBatch: batches,
          method: 'select',
        },
        opts.signal.reason,
      );
    const after = last
      ? sql`(${tuple}) > (${sql.join(
          last.map((v, i) => sql.param(v, (keyCols[i] as ColumnInfo).column)),
          sql`, `,
        )})`
      : undefined;
    const rows = (await db
      .select()
      .from(table as PgTable)
      .where(and(opts.where, after))
      .orderBy(...keyCols.map((c) => c.column))
      .limit(batchSize)) as Array<T['$inferSelect']>;
    if (rows.length === 0) return;
    const tail = rows[rows.length - 1] as Record<string, unknown>;
    last = keyCols.map((c) => tail[c.key]);
    batches++;
    done += rows.length;
    yield rows;
    if (rows.length < batchSize) return;
  }
}
