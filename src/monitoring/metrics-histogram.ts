import type { MsHistogram } from './pool-monitor.js';

type Labels = Record<string, string>;

interface Series {
  labels: Labels;
  /** Per-bucket counts (not cumulative), one more than the bounds (+Inf). */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram that can start from counts observed before it existed: prom-client's Histogram can
 * only `observe()` one value at a time, so a pool monitor's earlier bucket counts and sum could not be carried
 * over. Registered on a prom-client Registry as a custom metric (`get()` in prom-client's shape).
 */
export class SeededHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds in seconds, ascending. */
    readonly bounds: number[],
  ) {}

  private seriesFor(labels: Labels): Series {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  observe(labels: Labels, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const s = this.seriesFor(labels);
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /**
   * Adds a pool monitor's histogram (ms) to `labels`. Only when its bucket bounds are ours: counts cannot be
   * re-bucketed without inventing values. Returns whether it was added.
   */
  seed(labels: Labels, h: MsHistogram): boolean {
    if (h.count === 0) return true;
    const same =
      h.bucketsMs.length === this.bounds.length &&
      h.bucketsMs.every((b, i) => Math.abs(b / 1000 - this.bounds[i]!) < 1e-12) &&
      h.counts.length === this.bounds.length + 1;
    if (!same) return false;
    const s = this.seriesFor(labels);
    for (const [i, c] of h.counts.entries()) s.counts[i]! += c;
    s.sum += h.sumMs / 1000;
    s.count += h.count;
    return true;
  }

  /** prom-client's metric shape (what Registry.metrics() and getMetricsAsJSON() read). */
  async get() {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (const [i, b] of this.bounds.entries()) {
        acc += s.counts[i]!;
        values.push({ value: acc, labels: { ...s.labels, le: b }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}
