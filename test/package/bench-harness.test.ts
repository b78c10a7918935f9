import { describe, expect, it } from 'vitest';
import { balancedOrders, reportedMs, runGroup } from '../../bench/harness.js';

describe('benchmark harness (bench/harness.ts)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9])(
    'balancedOrders(%i): permutations; each case first and right after each other case equally often',
    (n) => {
      const rows = balancedOrders(n);
      expect(rows.length).toBe(n % 2 === 0 ? n : 2 * n);
      const firsts = new Map<number, number>();
      const follows = new Map<string, number>();
      for (const row of rows) {
        expect([...row].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        firsts.set(row[0]!, (firsts.get(row[0]!) ?? 0) + 1);
        for (let i = 1; i < n; i++) {
          const k = `${row[i - 1]}>${row[i]}`;
          follows.set(k, (follows.get(k) ?? 0) + 1);
        }
      }
      expect(firsts.size).toBe(n);
      expect(new Set(firsts.values()).size).toBe(1);
      // every ordered pair of distinct cases, each the same number of times
      expect(follows.size).toBe(n * (n - 1));
      expect(new Set(follows.values()).size).toBeLessThanOrEqual(1);
    },
  );

  it('a reported case is timed by what it resolves to, not by the clock around it', async () => {
    let calls = 0;
    const g = await runGroup({
      title: 't',
      rounds: 5,
      warmup: 1,
      cases: [
        {
          name: 'ours',
          reported: true,
          fn: async () => {
            calls++;
            await new Promise((r) => setTimeout(r, 5));
            return 0.25;
          },
        },
        { name: 'base', baseline: true, fn: () => new Promise((r) => setTimeout(r, 5)) },
      ],
    });
    expect(calls).toBe(6);
    const ours = g.cases.find((c) => c.name === 'ours')!;
    const base = g.cases.find((c) => c.name === 'base')!;
    expect(ours.samples).toBe(5);
    expect(ours.medianMs).toBe(0.25);
    expect(base.medianMs).toBeGreaterThanOrEqual(4);
  });

  it('a reported case that resolves to something other than a time fails the group', async () => {
    for (const bad of [undefined, 'x', -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => reportedMs({ name: 'c', fn: () => 0, reported: true }, bad)).toThrow(/not a time in ms/);
    }
    await expect(
      runGroup({ title: 't', rounds: 1, warmup: 0, cases: [{ name: 'c', reported: true, fn: () => 'x' }] }),
    ).rejects.toThrow(/bench case "c" is reported/);
  });
});
