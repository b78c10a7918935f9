import { TimeoutError } from '../errors.js';
import { publish } from './channels.js';
import { CacheCircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { CacheStoreError } from './errors.js';
import type { ResolvedQueryCacheOptions } from './options.js';
import type { CacheStore } from './store.js';

/**
 * Puts every store call behind the operation timeout and the circuit breaker, and reports failures
 * (counter, `onError`, `dbkit:cache:error`). While the circuit is not closed no caller waits on the store:
 * the half-open probe is a PING run in the background, and calls keep skipping the store until it succeeds.
 */
export class StoreGuard {
  /** Store failures and timeouts so far (probes included). */
  errors = 0;
  private readonly breaker: CacheCircuitBreaker | undefined;
  private circuitOpen: CacheStoreError | undefined;

  constructor(
    private readonly store: CacheStore,
    private readonly options: ResolvedQueryCacheOptions,
  ) {
    const cb = options.circuitBreaker;
    const namespace = options.namespace;
    this.breaker = cb
      ? new CacheCircuitBreaker(cb, (from, to) => publish('circuit', () => ({ namespace, from, to })))
      : undefined;
  }

  get circuit(): CircuitState {
    return this.breaker?.state ?? 'closed';
  }

  /** Runs `fn` against the store; throws `CacheStoreError` on failure, timeout or open circuit. */
  async run<T>(operation: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    const b = this.breaker;
    if (b && b.state !== 'closed') {
      if (b.state === 'half-open' && b.allow()) this.probe(b);
      // One shared instance: skipping the store must cost next to nothing (no stack capture per call).
      this.circuitOpen ??= new CacheStoreError('circuit-open', {
        context: { namespace: this.options.namespace, reason: 'circuit breaker open: the store is skipped' },
      });
      throw this.circuitOpen;
    }
    try {
      const result = await this.withTimeout(operation, fn);
      b?.success();
      return result;
    } catch (cause) {
      b?.failure();
      throw this.report(operation, key, cause);
    }
  }

  private probe(b: CacheCircuitBreaker): void {
    this.withTimeout('probe', () => this.store.ping()).then(
      () => b.success(),
      (cause) => {
        b.failure();
        this.report('probe', undefined, cause);
      },
    );
  }

  private async withTimeout<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const ms = this.options.operationTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError(`cache ${operation}`, ms)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private report(operation: string, key: string | undefined, cause: unknown): CacheStoreError {
    this.errors++;
    const namespace = this.options.namespace;
    const error = new CacheStoreError(operation, {
      cause,
      context: { namespace, ...(key === undefined ? {} : { key }) },
    });
    publish('error', () => ({ namespace, operation, error }));
    try {
      this.options.onError?.(error, { namespace, operation, ...(key === undefined ? {} : { key }) });
    } catch {
      // A throwing onError must not turn a fail-open read into a failure.
    }
    return error;
  }
}
