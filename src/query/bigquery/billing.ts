/**
 * On-demand query billing (https://cloud.google.com/bigquery/pricing#on_demand_pricing): charges are rounded up to
 * the nearest MB, with a minimum of 10 MB processed per table referenced by the query and 10 MB per query (also
 * https://adriennevermorel.com/notes/bigquery-on-demand-billing-mechanics/). MB here is 2^20 bytes: a tiny query
 * reports totalBytesBilled 10485760, and 179.27 MiB processed bills 180.00 MiB (observed in ofek/pypinfo#168).
 * Cached results bill nothing
 * (https://cloud.google.com/bigquery/docs/cached-results). A dry run reports totalBytesBilled 0 (r-dbi/bigrquery#402),
 * so the bill of a query not yet run is computed here from its totalBytesProcessed and referencedTables.
 */

/** Bytes in one tebibyte (2^40): on-demand pricing is per TiB. */
export const BYTES_PER_TIB = 2 ** 40;
/** Billing rounds up to this unit (1 MiB). */
export const BILLING_ROUNDING_BYTES = 2 ** 20;
/** Minimum billed per referenced table, and per query (10 MiB). */
export const MIN_BYTES_BILLED_PER_TABLE = 10 * 2 ** 20;

const roundUp = (bytes: number) => Math.ceil(bytes / BILLING_ROUNDING_BYTES) * BILLING_ROUNDING_BYTES;

/**
 * The bytes a query that processes `bytesProcessed` over `referencedTables` tables will be billed on demand. The
 * dry run gives the total, not each table's share, so the bill is a range: `min` when the bytes are spread so that
 * every table reaches the 10 MiB minimum (exact for 0 or 1 tables), `max` when all of them come from one table and
 * the others are billed their minimum.
 *
 * @example
 * ```ts
 * estimateBytesBilled(1000, 3); // { min: 31457280, max: 31457280 }: 3 tables x 10 MiB
 * estimateBytesBilled(5 * 2 ** 30, 2); // { min: 5368709120, max: 5379194880 }: 5 GiB, or 5 GiB + 10 MiB
 * ```
 */
export function estimateBytesBilled(
  bytesProcessed: number,
  referencedTables: number,
): { min: number; max: number } {
  const n = Math.max(1, Math.floor(referencedTables));
  const rounded = roundUp(Math.max(0, bytesProcessed));
  const floor = MIN_BYTES_BILLED_PER_TABLE * n;
  // Each table bills max(10 MiB, its bytes rounded up). With k tables above 10 MiB, the sum of their rounded bytes is
  // at most rounded + (k - 1) MiB, so the total is at most rounded + 10 MiB x (n - 1) for k >= 1, and 10 MiB x n
  // for k = 0.
  return {
    min: Math.max(floor, rounded),
    max: Math.max(floor, rounded + MIN_BYTES_BILLED_PER_TABLE * (n - 1)),
  };
}

/** USD for `bytes` at `pricePerTiB`. */
export function costOf(bytes: number, pricePerTiB: number): number {
  return (bytes / BYTES_PER_TIB) * pricePerTiB;
}
