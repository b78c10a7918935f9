import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isDbkitError,
  poolHealthBand,
  poolHealthScore,
  resolveMonitoringOptions,
} from '../../src/monitoring/index.js';

describe('poolHealthScore', () => {
  it.each([
    [0, 100],
    [25, 100],
    [50, 100],
    [65, 65],
    [80, 50],
    [90, 25],
    [100, 0],
    [150, 0],
  ])('scores %i%% utilisation of 100 connections as %d', (inUse, score) => {
    expect(poolHealthScore({ inUse, max: 100, pending: 0 })).toBe(score);
  });

  it('falls from 80 just above 50% (warning band starts at 80)', () => {
    expect(poolHealthScore({ inUse: 501, max: 1000, pending: 0 })).toBe(79.9);
    expect(poolHealthBand(poolHealthScore({ inUse: 6, max: 10, pending: 0 }))).toBe('warning');
    expect(poolHealthBand(poolHealthScore({ inUse: 9, max: 10, pending: 0 }))).toBe('critical');
  });

  it('lowers the score for pending requests and a p99 wait above target', () => {
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 5 })).toBe(75);
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 10 })).toBe(50);
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 0, waitP99Ms: 100 })).toBe(100);
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 0, waitP99Ms: 200 })).toBe(75);
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 0, waitP99Ms: 1000 })).toBe(50);
    expect(poolHealthScore({ inUse: 2, max: 10, pending: 0, waitP99Ms: 40, waitTargetMs: 20 })).toBe(75);
  });

  it('rejects impossible input with a typed error', () => {
    for (const bad of [
      { inUse: 1, max: 0, pending: 0 },
      { inUse: -1, max: 5, pending: 0 },
      { inUse: 1, max: 5, pending: Number.NaN },
      { inUse: 1, max: 5, pending: 0, waitTargetMs: 0 },
    ]) {
      expect(() => poolHealthScore(bad)).toThrow(expect.objectContaining({ code: 'E_MONITORING_INPUT' }));
    }
  });

  const input = fc.record({
    inUse: fc.integer({ min: 0, max: 500 }),
    max: fc.integer({ min: 1, max: 200 }),
    pending: fc.integer({ min: 0, max: 500 }),
    waitP99Ms: fc.double({ min: 0, max: 1e5, noNaN: true }),
  });

  it('stays within 0..100 (property)', () => {
    fc.assert(
      fc.property(input, (i) => {
        const s = poolHealthScore(i);
        return s >= 0 && s <= 100;
      }),
    );
  });

  it('never rises when in-use, pending or p99 wait rise (property)', () => {
    fc.assert(
      fc.property(
        input,
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        (i, dUse, dPending, dWait) => {
          const s = poolHealthScore(i);
          return (
            poolHealthScore({ ...i, inUse: i.inUse + dUse }) <= s &&
            poolHealthScore({ ...i, pending: i.pending + dPending }) <= s &&
            poolHealthScore({ ...i, waitP99Ms: i.waitP99Ms + dWait }) <= s
          );
        },
      ),
    );
  });
});

describe('resolveMonitoringOptions', () => {
  it('fills PgHero defaults and rejects unknown or negative options', () => {
    const o = resolveMonitoringOptions('checks', { unusedIndexMinBytes: 0 });
    expect(o).toMatchObject({ unusedIndexMinBytes: 0, missingIndexMinRows: 10_000, cacheHitRateMin: 0.99 });
    expect(resolveMonitoringOptions('checks').unusedIndexMinBytes).toBe(10 * 1024 * 1024);
    expect(() => resolveMonitoringOptions('pool', { slowQueryMs: -1 })).toThrow(/slowQueryMs/);
    try {
      resolveMonitoringOptions('pool', { nope: 1 } as never);
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
    }
  });
});
