import { ConfigError, DbkitError } from '../errors.js';
import { publish } from './channels.js';
import { CacheWarmError, type CacheWarmFailure } from './errors.js';
import type { CacheManyEntry, PreparedEntry } from './query-cache.js';

/** What `cache.warm()` reads entries from: an array, any iterable, or an async iterable (a DB cursor, a stream). */
export type CacheWarmSource<T = unknown> = Iterable<CacheManyEntry<T>> | AsyncIterable<CacheManyEntry<T>>;

/** Progress of a warm, after each batch. */
export interface CacheWarmProgress {
  /** Entries written so far. */
  written: number;
  /** Invalid entries skipped so far. */
  failed: number;
  /** Entries taken from the source so far. */
  seen: number;
}

/** Options of `cache.warm()`. */
export interface CacheWarmOptions {
  /**
   * Batches (pipelines) in flight at once.
   * @default 4
   */
  concurrency?: number;
  /**
   * Entries per pipelined batch (one round trip per Cluster node).
   * @default 500
   */
  batchSize?: number;
  /**
   * Called after every batch is written (errors it throws are ignored).
   * @default undefined
   */
  onProgress?: (progress: CacheWarmProgress) => void;
}

/** What `cache.warm()` resolves with when every entry was written. */
export interface CacheWarmResult extends CacheWarmProgress {
  durationMs: number;
}

/** The cache operations a warm uses (internal). */
export interface WarmTarget {
  /** Serializes and checks one entry; throws for an invalid one. */
  prepare(entry: CacheManyEntry): PreparedEntry;
  /** Writes a batch in one pipeline; throws `CacheStoreError` when the store fails. */
  write(batch: PreparedEntry[]): Promise<void>;
}

const MAX_LISTED_FAILURES = 100;

function positiveInt(field: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new ConfigError(`warm ${field} must be a positive integer, got ${String(v)}`, {
      context: { field },
    });
  }
  return v;
}

/**
 * Implementation of `cache.warm()`: pulls entries from the source as batches complete (an async source is never
 * read further ahead than `concurrency` batches), so memory stays bounded by `concurrency x batchSize` entries.
 *
 * @example
 * ```ts
 * await cache.warm([{ key: 'a', value: 1 }], { concurrency: 2 })
 * ```
 */
export async function warmCache<T>(
  namespace: string,
  source: CacheWarmSource<T>,
  options: CacheWarmOptions,
  target: WarmTarget,
): Promise<CacheWarmResult> {
  const concurrency = positiveInt('concurrency', options.concurrency, 4);
  const batchSize = positiveInt('batchSize', options.batchSize, 500);
  if (
    source === null ||
    typeof source !== 'object' ||
    (typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function' &&
      typeof (source as Iterable<unknown>)[Symbol.iterator] !== 'function')
  ) {
    throw new ConfigError(
      'warm() needs an array, an iterable or an async iterable of { key, value } entries',
    );
  }
  const t0 = performance.now();
  const progress: CacheWarmProgress = { written: 0, failed: 0, seen: 0 };
  const failures: CacheWarmFailure[] = [];
  let firstEntryError: unknown;
  let stop: { reason: 'store' | 'source'; cause: unknown } | undefined;
  const running = new Set<Promise<void>>();

  const report = (done: boolean) => {
    const snapshot = { ...progress };
    publish('warm', () => ({ namespace, ...snapshot, done }));
    if (!done && options.onProgress) {
      try {
        options.onProgress(snapshot);
      } catch {
        // A throwing progress callback must not abort the warm.
      }
    }
  };

  const launch = (batch: PreparedEntry[]) => {
    const p: Promise<void> = target.write(batch).then(
      () => {
        progress.written += batch.length;
        report(false);
      },
      (cause: unknown) => {
        stop ??= { reason: 'store', cause };
      },
    );
    running.add(p);
    void p.finally(() => running.delete(p));
  };

  let batch: PreparedEntry[] = [];
  try {
    for await (const entry of source as AsyncIterable<CacheManyEntry<T>>) {
      if (stop) break;
      progress.seen++;
      try {
        if (entry === null || typeof entry !== 'object')
          throw new ConfigError('warm entry must be { key, value }');
        batch.push(target.prepare(entry as CacheManyEntry));
      } catch (e) {
        progress.failed++;
        firstEntryError ??= e;
        if (failures.length < MAX_LISTED_FAILURES) {
          const key = (entry as { key?: unknown } | null)?.key;
          failures.push({
            key: typeof key === 'string' ? key : String(key),
            code: e instanceof DbkitError ? e.code : 'E_UNKNOWN',
          });
        }
      }
      if (batch.length >= batchSize) {
        launch(batch);
        batch = [];
        while (running.size >= concurrency && !stop) await Promise.race(running);
      }
    }
  } catch (cause) {
    stop ??= { reason: 'source', cause };
  }
  if (batch.length && !stop) launch(batch);
  await Promise.all(running);
  report(true);
  if (stop) throw new CacheWarmError(stop.reason, progress, failures, { cause: stop.cause });
  if (progress.failed) throw new CacheWarmError('entries', progress, failures, { cause: firstEntryError });
  return { ...progress, durationMs: performance.now() - t0 };
}
