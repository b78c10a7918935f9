import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fixture = join(import.meta.dirname, 'fixtures/flight-worker.ts');

/** Where the workers connect: a standalone Redis URL or Cluster seed nodes. */
export type FlightTarget = { url: string } | { nodes: Array<{ host: string; port: number }> };

/** One settled getOrSet call, as a worker reports it. */
export type FlightResult =
  | { ok: true; value: { key: string; loadedBy: number } }
  | { ok: false; name: string; code?: string; message: string };

/** A worker's answer to `run`. */
export interface FlightReply {
  results: FlightResult[];
  stats: {
    loaderCalls: number;
    lockWaits: number;
    lockTimeouts: number;
    staleServes: number;
    errors: number;
    circuit: string;
  };
}

/** What a worker runs: `n` concurrent getOrSet of `key` on a cache with these options. */
export interface FlightRun {
  cache: {
    namespace: string;
    ttl: number | string;
    singleFlight: 'process' | 'distributed';
    lockTtl?: string;
    lockTimeout?: string;
    grace?: string;
  };
  key: string;
  n: number;
  loader: 'ok' | 'throw' | 'hang';
  loaderMs: number;
  countFile: string;
}

/** A long-lived child process running test/cache/fixtures/flight-worker.ts. */
export class FlightWorker {
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private nextId = 1;
  private buffer = '';
  private readonly replies = new Map<number, (r: FlightReply) => void>();
  private readonly loading = new Map<number, () => void>();
  private ready!: () => void;
  readonly started = new Promise<void>((r) => {
    this.ready = r;
  });

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf('\n');
        const m = JSON.parse(line) as { event?: string; id?: number; fatal?: string } & FlightReply;
        if (m.event === 'ready') this.ready();
        else if (m.event === 'loading') this.loading.get(m.id!)?.();
        else if (m.fatal) this.stderr += `fatal: ${m.fatal}\n`;
        else this.replies.get(m.id!)?.(m);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      this.stderr += c;
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(major: number, target: FlightTarget): Promise<FlightWorker> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, String(major), JSON.stringify(target)],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const w = new FlightWorker(child);
    await Promise.race([
      w.started,
      w.exited.then((e) => {
        throw new Error(`flight worker exited before ready (${JSON.stringify(e)}): ${w.stderr}`);
      }),
    ]);
    return w;
  }

  /** Starts a run; `loading` resolves when this worker's loader is first called. */
  run(r: FlightRun): { reply: Promise<FlightReply>; loading: Promise<void> } {
    const id = this.nextId++;
    const reply = new Promise<FlightReply>((resolve) => this.replies.set(id, resolve));
    const loading = new Promise<void>((resolve) => this.loading.set(id, resolve));
    this.child.stdin!.write(`${JSON.stringify({ id, cmd: 'run', ...r })}\n`);
    return { reply, loading };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Asks the worker to close its client and waits for it to exit on its own. */
  async quit(): Promise<{ code: number | null; signal: string | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.stdin!.write(`${JSON.stringify({ cmd: 'quit' })}\n`);
    return this.exited;
  }
}

/** A fresh file the workers' loaders append one line per call to. */
export function countFile(label: string): string {
  const f = join(mkdtempSync(join(tmpdir(), `dbkit-flight-${label}-`)), 'calls');
  writeFileSync(f, '');
  return f;
}

/** Loader calls recorded in a count file (SIGKILLed workers included). */
export function loaderCalls(file: string): number {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
}
