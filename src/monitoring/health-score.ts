import { MonitoringInputError } from './errors.js';

/** Input of {@link poolHealthScore}. */
export interface PoolScoreInput {
  /** Connections busy right now (queries, transactions, reservations holding one). */
  inUse: number;
  /** The pool size (postgres.js `options.max`). */
  max: number;
  /** Units of work waiting for a connection. */
  pending: number;
  /** p99 time to get a connection, in ms. */
  waitP99Ms?: number;
  /**
   * The p99 acquire wait you accept, in ms.
   * @default 100
   */
  waitTargetMs?: number;
}

const WAIT_TARGET_DEFAULT_MS = 100;

/**
 * Pool health, 0 (critical) to 100 (healthy).
 *
 * Formula, with u = min(1, inUse / max):
 * - base = 100 when u <= 0.5; 80 - 30 * (u - 0.5) / 0.3 when 0.5 < u <= 0.8 (80 -> 50, warning);
 *   50 - 50 * (u - 0.8) / 0.2 when 0.8 < u <= 1 (50 -> 0, critical).
 * - pending penalty = 50 * min(1, pending / max): a queue as long as the pool costs 50 points.
 * - wait penalty = min(50, 25 * (waitP99Ms / waitTargetMs - 1)) when waitP99Ms > waitTargetMs:
 *   a p99 wait of twice the target costs 25 points, three times or more costs 50.
 * - score = clamp(base - pending penalty - wait penalty, 0, 100), rounded to 2 decimals.
 *
 * The score never rises when inUse, pending or waitP99Ms rise (property-tested).
 *
 * @example
 * ```ts
 * poolHealthScore({ inUse: 7, max: 10, pending: 0 }) // 60
 * ```
 */
export function poolHealthScore(input: PoolScoreInput): number {
  const { inUse, max, pending } = input;
  check('max', max, max > 0);
  check('inUse', inUse, inUse >= 0);
  check('pending', pending, pending >= 0);
  const target = input.waitTargetMs ?? WAIT_TARGET_DEFAULT_MS;
  check('waitTargetMs', target, target > 0);
  const wait = input.waitP99Ms ?? 0;
  check('waitP99Ms', wait, wait >= 0);

  const u = Math.min(1, inUse / max);
  let base: number;
  if (u <= 0.5) base = 100;
  else if (u <= 0.8) base = 80 - (30 * (u - 0.5)) / 0.3;
  else base = 50 - (50 * (u - 0.8)) / 0.2;
  const pendingPenalty = 50 * Math.min(1, pending / max);
  const waitPenalty = wait > target ? Math.min(50, 25 * (wait / target - 1)) : 0;
  const score = Math.max(0, Math.min(100, base - pendingPenalty - waitPenalty));
  return Math.round(score * 100) / 100;
}

/** The band a score falls in: >= 80 healthy, >= 50 warning, below critical. */
export type PoolHealthBand = 'healthy' | 'warning' | 'critical';

/**
 * Names the band of a pool health score (the same cut points as the reference scale).
 *
 * @example
 * ```ts
 * poolHealthBand(65) // 'warning'
 * ```
 */
export function poolHealthBand(score: number): PoolHealthBand {
  return score >= 80 ? 'healthy' : score >= 50 ? 'warning' : 'critical';
}

function check(field: string, value: number, ok: boolean): void {
  if (!Number.isFinite(value) || !ok) {
    throw new MonitoringInputError(
      field,
      value,
      field === 'max' || field === 'waitTargetMs' ? 'a finite number > 0' : 'a finite number >= 0',
    );
  }
}
