/**
 * Loader calls for 100 concurrent misses of one key across 4 processes (25 each), against one redis-server:
 * dbkit `singleFlight: 'distributed'` (ours) vs dbkit 'process' and bentocache 1.6 (memory L1 + Redis L2 +
 * Redis bus: its stampede protection is per process). Every round uses a fresh key; the cases run interleaved
 * (order rotated every round) on long-lived worker processes (bench/fixtures/stampede-worker.ts), so process
 * start-up is not measured. The loader takes 50 ms. Reported: loader calls per round (median and min over
 * rounds) and the time until all 100 callers have their value.
 * Run: npm run bench -- cache-stampede
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { BenchReport } from './harness.js';
import { benchRedis } from './services.js';

const PROCESSES = 4;
const PER_PROCESS = 25;
const LOADER_MS = 50;
const ROUNDS = 15;

const worker = join(import.meta.dirname, 'fixtures/stampede-worker.ts');
type Kind = 'dbkit-distributed' | 'dbkit-process' | 'bentocache';

class Worker {
  private buffer = '';
  private readonly waiting = new Map<number, (r: { calls: number; ms: number }) => void>();
  private id = 0;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let ready!: () => void;
    this.ready = new Promise((r) => {
      ready = r;
    });
    this.exited = new Promise((r) => child.on('exit', () => r()));
    child.stdout!.setEncoding('utf8');
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
    child.stdout!.on('data', (c: string) => {
      this.buffer += c;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const m = JSON.parse(this.buffer.slice(0, nl)) as {
          ready?: true;
          id: number;
          calls: number;
          ms: number;
        };
        this.buffer = this.buffer.slice(nl + 1);
        if (m.ready) ready();
        else this.waiting.get(m.id)?.(m);
      }
    });
  }

  run(key: string): Promise<{ calls: number; ms: number }> {
    const id = ++this.id;
    const p = new Promise<{ calls: number; ms: number }>((r) => this.waiting.set(id, r));
    this.child.stdin!.write(`${JSON.stringify({ id, key, n: PER_PROCESS, loaderMs: LOADER_MS })}\n`);
    return p;
  }

  quit(): Promise<void> {
    this.child.stdin!.write(`${JSON.stringify({ quit: true })}\n`);
    return this.exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export default async function bench(report: BenchReport): Promise<void> {
  const svc = await benchRedis();
  const kinds: Kind[] = ['dbkit-distributed', 'dbkit-process', 'bentocache'];
  const pools = new Map<Kind, Worker[]>();
  try {
    for (const kind of kinds) {
      const ws = Array.from(
        { length: PROCESSES },
        () =>
          new Worker(
            spawn(process.execPath, ['--import', 'tsx', worker, kind, svc.url], {
              stdio: ['pipe', 'pipe', 'pipe'],
            }),
          ),
      );
      await Promise.all(ws.map((w) => w.ready));
      pools.set(kind, ws);
    }
    const calls = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    let round = 0;
    const oneRound = async (kind: Kind) => {
      const key = `stampede:${kind}:${round++}`;
      const replies = await Promise.all(pools.get(kind)!.map((w) => w.run(key)));
      calls.get(kind)!.push(replies.reduce((n, r) => n + r.calls, 0));
    };
    const label: Record<Kind, string> = {
      'dbkit-distributed': "dbkit singleFlight: 'distributed'",
      'dbkit-process': "dbkit singleFlight: 'process'",
      bentocache: 'bentocache (L1 memory + L2 redis + bus)',
    };
    await report.group({
      title: `100 concurrent misses of one key across ${PROCESSES} processes (loader ${LOADER_MS} ms): time until every caller has the value`,
      unit: 'stampedes',
      rounds: ROUNDS,
      warmup: 2,
      cases: kinds.map((kind) => ({
        name: label[kind],
        baseline: kind !== 'dbkit-distributed',
        fn: () => oneRound(kind),
      })),
    });
    // (the warmup rounds are in `calls` too: the counts do not depend on warmth, keep them all)
    const ours = calls.get('dbkit-distributed')!;
    for (const kind of kinds) {
      const c = calls.get(kind)!;
      console.log(
        `loader calls per round, ${label[kind]}: median ${median(c)}, min ${Math.min(...c)}, max ${Math.max(...c)} (${c.length} rounds)`,
      );
    }
    for (const kind of ['dbkit-process', 'bentocache'] as const) {
      const c = calls.get(kind)!;
      report.metric({
        name: `loader calls for 100 misses across ${PROCESSES} processes (median per round)`,
        ours: median(ours),
        baseline: median(c),
        baselineName: label[kind],
        unit: 'calls',
        note: `min ours ${Math.min(...ours)} vs ${Math.min(...c)}; max ours ${Math.max(...ours)} vs ${Math.max(...c)}`,
      });
    }
  } finally {
    await Promise.all([...pools.values()].flat().map((w) => w.quit()));
    await svc.dispose();
  }
}
