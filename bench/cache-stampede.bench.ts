/**
 * Loader calls for 100 concurrent misses of one key across 4 processes (25 each), against one redis-server:
 * dbkit `singleFlight: 'distributed'` (ours) vs dbkit 'process' and bentocache 1.6 (memory L1 + Redis L2 +
 * Redis bus: its stampede protection is per process). Every round uses a fresh key; the cases run interleaved
 * (in a balanced order, bench/harness.ts) on long-lived worker processes (bench/fixtures/stampede-worker.ts), so process
 * start-up is not measured. The loader takes 50 ms. Reported: loader calls per round (median and min over
 * rounds) and the time until all 100 callers have their value.
 * Run: npm run bench -- cache-stampede
 */
import { join } from 'node:path';
import type { BenchReport } from './harness.js';
import { benchRedis } from './services.js';
import { WorkerProcess } from './worker-process.js';

const PROCESSES = 4;
const PER_PROCESS = 25;
const LOADER_MS = 50;
const ROUNDS = 15;

const worker = join(import.meta.dirname, 'fixtures/stampede-worker.ts');
type Kind = 'dbkit-distributed' | 'dbkit-process' | 'bentocache';

type Reply = { id: number; calls: number; ms: number };
const run = (w: WorkerProcess<Reply>, key: string) => w.run({ key, n: PER_PROCESS, loaderMs: LOADER_MS });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export default async function bench(report: BenchReport): Promise<void> {
  const svc = await benchRedis();
  const kinds: Kind[] = ['dbkit-distributed', 'dbkit-process', 'bentocache'];
  const pools = new Map<Kind, WorkerProcess<Reply>[]>();
  try {
    for (const kind of kinds) {
      const ws = Array.from({ length: PROCESSES }, () => new WorkerProcess<Reply>(worker, [kind, svc.url]));
      await Promise.all(ws.map((w) => w.ready));
      pools.set(kind, ws);
    }
    const calls = new Map<Kind, number[]>(kinds.map((k) => [k, []]));
    let round = 0;
    const oneRound = async (kind: Kind) => {
      const key = `stampede:${kind}:${round++}`;
      const replies = await Promise.all(pools.get(kind)!.map((w) => run(w, key)));
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
