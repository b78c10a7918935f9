/**
 * Interleaving per call, for overheads of a few percent on a call of tens of microseconds: every case makes
 * one call in turn (in a new random order on every step), each call timed on its own. Batches of sequential calls
 * per case (the harness's runGroup) leave each case on one connection for a whole sample, and on this 2-core
 * VM two identical postgres.js clients then differ by up to 10% in a run, depending on where the scheduler
 * put their backends; alternating call by call puts every case through the same machine states, and identical
 * clients come out within 1% of each other (measured 2026-12-01). Reports p10 and median of the per-call
 * times, and the median of the per-round ratios of medians, ours / each baseline.
 */
import type { BenchReport } from './harness.js';

export interface PerCallCase {
  name: string;
  /** true for a baseline; exactly one case is ours. */
  baseline?: boolean;
  /** One call (one query, one cache read). */
  fn: () => unknown | Promise<unknown>;
}

export interface PerCallSpec {
  title: string;
  cases: PerCallCase[];
  /** Rounds (default 20); each runs `perRound` calls of every case. */
  rounds?: number;
  /** Calls of each case per round (default 500). */
  perRound?: number;
  /** Untimed calls of each case first (default 200). */
  warmup?: number;
  /**
   * Runs before every round, untimed, followed by 20 untimed calls of each case: e.g. closing every
   * connection so each round gets new backends, placed anew by the scheduler.
   */
  between?: () => unknown | Promise<unknown>;
}

/** A small seeded PRNG (mulberry32): the same call orders in every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sortedCopy = (xs: ArrayLike<number>) => Float64Array.from(xs).sort();
const at = (s: Float64Array, q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (ms: number) => (ms * 1000).toFixed(1);

/**
 * Runs the cases interleaved call by call, prints a table and records the ratios as metrics
 * (`<title>: p10|median|median of per-round ratios, <ours> vs <baseline>`).
 *
 * @example
 * ```ts
 * await perCallGroup(report, { title: 'select 1', cases: [{ name: 'ours', fn: () => ours`select 1` }, { name: 'raw', baseline: true, fn: () => raw`select 1` }] });
 * ```
 */
export async function perCallGroup(
  report: BenchReport,
  spec: PerCallSpec,
): Promise<Map<string, { p10: number; median: number }>> {
  const { cases } = spec;
  const ours = cases.filter((c) => !c.baseline);
  if (ours.length !== 1) throw new Error(`per-call group "${spec.title}" needs exactly one case of ours`);
  // DBKIT_BENCH_ROUNDS=N overrides every per-call group's rounds (more rounds, tighter medians on a noisy VM).
  const rounds = Number(process.env.DBKIT_BENCH_ROUNDS) || spec.rounds || 20;
  const perRound = spec.perRound ?? 500;
  for (let i = 0; i < (spec.warmup ?? 200); i++) for (const c of cases) await c.fn();
  const all = cases.map(() => new Float64Array(rounds * perRound));
  const roundMedians = cases.map(() => [] as number[]);
  const k = cases.length;
  const random = prng(0x5eed);
  const order = cases.map((_, i) => i);
  for (let r = 0; r < rounds; r++) {
    if (spec.between) {
      await spec.between();
      // A client may learn that its connection closed only from the first call after: that one may fail.
      for (const c of cases) await Promise.resolve(c.fn()).catch(() => undefined);
      for (let i = 0; i < 20; i++) for (const c of cases) await c.fn();
    }
    const lat = cases.map(() => new Float64Array(perRound));
    for (let i = 0; i < perRound; i++) {
      // A new random order on every step: no case always follows the same one.
      for (let j = k - 1; j > 0; j--) {
        const x = Math.floor(random() * (j + 1));
        [order[j], order[x]] = [order[x]!, order[j]!];
      }
      for (let j = 0; j < k; j++) {
        const c = order[j]!;
        const t0 = performance.now();
        await cases[c]!.fn();
        lat[c]![i] = performance.now() - t0;
      }
    }
    for (let c = 0; c < k; c++) {
      all[c]!.set(lat[c]!, r * perRound);
      roundMedians[c]!.push(at(sortedCopy(lat[c]!), 0.5));
    }
  }
  const stats = new Map<string, { p10: number; median: number }>();
  const oi = cases.indexOf(ours[0]!);
  console.log(
    `\n${spec.title} (${rounds} rounds x ${perRound} calls per case, interleaved call by call${spec.between ? ', new connections every round' : ''})`,
  );
  const width = Math.max(...cases.map((c) => c.name.length)) + 2;
  console.log(`${'case'.padEnd(width)}  p10 us  median us  mean us  median vs ours`);
  const sorted = all.map(sortedCopy);
  cases.forEach((c, i) => {
    const s = sorted[i]!;
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    stats.set(c.name, { p10: at(s, 0.1), median: at(s, 0.5) });
    const vs = c.baseline ? `${(at(s, 0.5) / at(sorted[oi]!, 0.5)).toFixed(3)}x` : '1x (ours)';
    console.log(
      `${(c.baseline ? '  ' : '* ') + c.name.padEnd(width - 2)}  ${us(at(s, 0.1)).padStart(6)}  ${us(at(s, 0.5)).padStart(9)}  ${us(mean).padStart(7)}  ${vs.padStart(14)}`,
    );
  });
  const o = stats.get(ours[0]!.name)!;
  cases.forEach((c, i) => {
    if (!c.baseline) return;
    const b = stats.get(c.name)!;
    for (const stat of ['p10', 'median'] as const)
      report.metric({
        name: `${spec.title}: ${stat}, ${ours[0]!.name} vs ${c.name}`,
        ours: o[stat] * 1000,
        baseline: b[stat] * 1000,
        baselineName: c.name,
        unit: 'us/call',
      });
    report.metric({
      name: `${spec.title}: median of per-round ratios, ${ours[0]!.name} vs ${c.name}`,
      ours: medianOf(roundMedians[oi]!.map((v, r) => v / roundMedians[i]![r]!)),
      baseline: 1,
      baselineName: c.name,
      unit: 'x',
    });
  });
  return stats;
}

/**
 * A `between` for Postgres: ends every other session on the client's database (each client reconnects on
 * its next query, to a new backend) and waits until they are gone.
 *
 * @example
 * ```ts
 * await perCallGroup(report, { title, cases, between: reconnectAll(admin) });
 * ```
 */
export function reconnectAll(
  admin: (s: TemplateStringsArray) => PromiseLike<unknown[]>,
): () => Promise<void> {
  return async () => {
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`;
    for (let i = 0; i < 100; i++) {
      const left =
        (await admin`select 1 from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`) as unknown[];
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // The clients' sockets see the server's close in the next turns of the event loop.
    await new Promise((r) => setTimeout(r, 20));
  };
}
