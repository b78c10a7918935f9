/** State of a {@link CacheCircuitBreaker}. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options of the cache's circuit breaker. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive store failures that open the circuit.
   * @default 5
   */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before a half-open probe (a background PING) is started (ms).
   * @default 5000
   */
  resetTimeoutMs?: number;
}

/**
 * Stops the cache from waiting on a failing store: after `failureThreshold` consecutive failures it opens
 * (calls skip the store), after `resetTimeoutMs` it lets one probe through (half-open), and closes on success.
 *
 * @example
 * ```ts
 * const b = new CacheCircuitBreaker({ failureThreshold: 3 }); if (b.allow()) { ... b.success() }
 * ```
 */
export class CacheCircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private current: CircuitState = 'closed';
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;

  constructor(
    options: Required<CircuitBreakerOptions>,
    private readonly onChange: (from: CircuitState, to: CircuitState) => void = () => {},
  ) {
    this.failureThreshold = options.failureThreshold;
    this.resetTimeoutMs = options.resetTimeoutMs;
  }

  /** Current state (an open circuit past its reset timeout reports 'half-open'). */
  get state(): CircuitState {
    if (this.current === 'open' && Date.now() - this.openedAt >= this.resetTimeoutMs) return 'half-open';
    return this.current;
  }

  /** True when a store call may go ahead. In half-open state only one probe at a time. */
  allow(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.probing) return false;
    this.probing = true;
    this.move('half-open');
    return true;
  }

  /** Records a successful store call: closes the breaker and resets the failure count. */
  success(): void {
    this.failures = 0;
    this.probing = false;
    this.move('closed');
  }

  /** Opens the circuit at once, whatever the failure count (the store reported its connection down). */
  trip(): void {
    this.probing = false;
    this.failures = Math.max(this.failures, this.failureThreshold);
    this.openedAt = Date.now();
    this.move('open');
  }

  /** Ends the open period early, so the next call starts a probe (the store reported its connection back). */
  expire(): void {
    if (this.current === 'open') this.openedAt = Date.now() - this.resetTimeoutMs;
  }

  /** Records a failed store call: opens the breaker at the threshold, or when the half-open probe fails. */
  failure(): void {
    this.failures++;
    const probeFailed = this.current === 'half-open';
    this.probing = false;
    if (probeFailed || this.failures >= this.failureThreshold) {
      this.openedAt = Date.now();
      this.move('open');
    }
  }

  private move(to: CircuitState) {
    if (this.current === to) return;
    const from = this.current;
    this.current = to;
    this.onChange(from, to);
  }
}
