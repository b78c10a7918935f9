/**
 * The benchmark harness every bench/*.bench.ts uses. Ours and the baselines run interleaved in one
 * process (round-robin, one sample of each case per round, in a balanced order: see {@link balancedOrders}) so
 * machine noise hits them alike; the table prints medians, p99 and the ratio of each case to ours from the same run.
 * Results go to bench/results/<bench>-<timestamp>.{json,csv} (git-ignored).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchCase {
  /** Shown in the table, e.g. 'dbkit bulkInsert (COPY)' or 'row-by-row INSERT'. */
  name: string;
  /** true for a baseline; exactly one case per group is ours (baseline false/undefined). */
  baseline?: boolean;
  /**
   * One sample. The return value is ignored unless `reported` is set. Throwing fails the benchmark.
   */
  fn: () => unknown | Promise<unknown>;
  /**
   * The sample's time is what `fn` resolves to (ms, measured by the case itself) instead of the harness's clock
   * around the call: for a case that runs in another process, so the IPC round trip is not part of the sample.
   */
  reported?: boolean;
  /** Units one call processes (rows, keys): the table adds a units/s column. Default 1. */
  units?: number;
  /** Runs before every sample, untimed (e.g. truncate a table). */
  before?: () => unknown | Promise<unknown>;
}

export interface BenchGroupSpec {
  title: string;
  cases: BenchCase[];
  /** Timed rounds (one sample of every case per round). Default 30. */
  rounds?: number;
  /** Untimed rounds first. Default 3. */
  warmup?: number;
  /** Name of the unit for throughput, e.g. 'rows'. Default 'ops'. */
  unit?: string;
  /** Stop adding rounds after this many ms (at least 3 rounds run). Default 60 000. */
  maxMs?: number;
}

export interface CaseResult {
  name: string;
  baseline: boolean;
  samples: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
  unitsPerSec: number;
  /** median(this) / median(ours): above 1 means this case is slower than ours. */
  timeRatioToOurs: number;
}

export interface GroupResult {
  title: string;
  unit: string;
  cases: CaseResult[];
}

export interface MetricResult {
  name: string;
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  /** ours / baseline */
  ratio: number;
  note?: string;
}

const quantile = (sorted: number[], q: number) => {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
};

/**
 * The order of the cases in each round: a Williams design (a balanced Latin square). Every case runs first
 * equally often, and every case runs right after every other case equally often (once per cycle of n rounds
 * for an even n, twice per 2n for an odd n). A plain rotation (the harness before 2026-12-02) kept the cyclic
 * order, so a case always ran right after the same neighbour: after cache-manager, whose 150 KB reads leave a
 * major GC (and its concurrent marking and sweeping threads, pinned to the same CPU under bench:pinned) for the
 * next case to pay, ours read 0.70x raw in the hit group and 0.64x in the codec table of the same run.
 */
export function balancedOrders(n: number): number[][] {
  const first = Array.from({ length: n }, (_, k) => (k === 0 ? 0 : k % 2 === 1 ? (k + 1) / 2 : n - k / 2));
  const rows = Array.from({ length: n }, (_, r) => first.map((c) => (c + r) % n));
  return n % 2 === 0 ? rows : [...rows, ...rows.map((row) => [...row].reverse())];
}

/** The time a `reported` case's sample resolved to. */
export function reportedMs(c: BenchCase, out: unknown): number {
  if (typeof out !== 'number' || !Number.isFinite(out) || out < 0)
    throw new Error(
      `bench case "${c.name}" is reported but its sample resolved to ${String(out)}, not a time in ms`,
    );
  return out;
}

/** Runs one group of cases interleaved and returns the medians and ratios. */
export async function runGroup(spec: BenchGroupSpec): Promise<GroupResult> {
  const ours = spec.cases.filter((c) => !c.baseline);
  if (ours.length !== 1) throw new Error(`bench group "${spec.title}" needs exactly one case of ours`);
  const rounds = spec.rounds ?? 30;
  const warmup = spec.warmup ?? 3;
  const maxMs = spec.maxMs ?? 60_000;
  const samples = new Map<string, number[]>(spec.cases.map((c) => [c.name, []]));
  const orders = balancedOrders(spec.cases.length);
  const started = performance.now();
  for (let r = 0; r < warmup + rounds; r++) {
    const order = orders[r % orders.length]!.map((i) => spec.cases[i]!);
    for (const c of order) {
      await c.before?.();
      const t0 = performance.now();
      const out = await c.fn();
      const dt = c.reported ? reportedMs(c, out) : performance.now() - t0;
      if (r >= warmup) samples.get(c.name)!.push(dt);
    }
    if (r >= warmup + 2 && performance.now() - started > maxMs) break;
  }
  const oursMedian = median(samples.get(ours[0]!.name)!);
  return {
    title: spec.title,
    unit: spec.unit ?? 'ops',
    cases: spec.cases.map((c) => {
      const s = [...samples.get(c.name)!].sort((a, b) => a - b);
      const med = quantile(s, 0.5);
      return {
        name: c.name,
        baseline: c.baseline ?? false,
        samples: s.length,
        medianMs: med,
        p99Ms: quantile(s, 0.99),
        meanMs: s.reduce((a, b) => a + b, 0) / s.length,
        unitsPerSec: ((c.units ?? 1) * 1000) / med,
        timeRatioToOurs: med / oursMedian,
      };
    }),
  };
}

function median(xs: number[]): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

const fmt = (n: number, digits = 3) =>
  !Number.isFinite(n)
    ? String(n)
    : Math.abs(n) >= 1000
      ? Math.round(n).toLocaleString('en-US')
      : Number(n.toPrecision(digits)).toString();

/** Prints a group as a table. */
export function printGroup(g: GroupResult): void {
  const rows = g.cases.map((c) => [
    `${c.baseline ? '  ' : '* '}${c.name}`,
    fmt(c.medianMs),
    fmt(c.p99Ms),
    fmt(c.unitsPerSec),
    c.baseline ? `${fmt(c.timeRatioToOurs, 3)}x` : '1x (ours)',
  ]);
  const head = ['case', 'median ms', 'p99 ms', `${g.unit}/s`, 'time vs ours'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${g.title}`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('(time vs ours: median of that case / median of ours; above 1x means ours is faster)');
}

/** Collects the groups and metrics of one benchmark file and writes them to bench/results/. */
export class BenchReport {
  readonly groups: GroupResult[] = [];
  readonly metrics: MetricResult[] = [];
  constructor(readonly bench: string) {}

  /** Runs, prints and records a group. */
  async group(spec: BenchGroupSpec): Promise<GroupResult> {
    const g = await runGroup(spec);
    printGroup(g);
    this.groups.push(g);
    return g;
  }

  /** Records and prints a figure that is not a timing (memory per entry, loader calls, rows/s of a single run). */
  metric(m: Omit<MetricResult, 'ratio'>): MetricResult {
    const r = { ...m, ratio: m.ours / m.baseline };
    this.metrics.push(r);
    console.log(
      `${m.name}: ours ${fmt(m.ours)} ${m.unit} vs ${m.baselineName} ${fmt(m.baseline)} ${m.unit} -> ratio ${fmt(r.ratio)}x${m.note ? `  (${m.note})` : ''}`,
    );
    return r;
  }

  /** Writes JSON and CSV under bench/results/. Returns the JSON path. */
  write(): string {
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = join(dir, `${this.bench}-${stamp}`);
    writeFileSync(
      `${base}.json`,
      JSON.stringify(
        {
          bench: this.bench,
          at: new Date().toISOString(),
          node: process.version,
          groups: this.groups,
          metrics: this.metrics,
        },
        null,
        2,
      ),
    );
    const csv = ['bench,group,case,baseline,samples,median_ms,p99_ms,units_per_sec,time_ratio_to_ours'];
    for (const g of this.groups)
      for (const c of g.cases)
        csv.push(
          [
            this.bench,
            JSON.stringify(g.title),
            JSON.stringify(c.name),
            c.baseline,
            c.samples,
            c.medianMs,
            c.p99Ms,
            c.unitsPerSec,
            c.timeRatioToOurs,
          ].join(','),
        );
    for (const m of this.metrics)
      csv.push(
        [this.bench, 'metric', JSON.stringify(m.name), false, 1, m.ours, m.baseline, '', m.ratio].join(','),
      );
    writeFileSync(`${base}.csv`, `${csv.join('\n')}\n`);
    console.log(`\nresults: ${base}.json (.csv)`);
    return `${base}.json`;
  }
}
