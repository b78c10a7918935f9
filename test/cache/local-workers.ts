/**
 * Drives test/cache/fixtures/local-worker.ts child processes (the multi-process local-tier test and bench).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const fixture = join(import.meta.dirname, 'fixtures/local-worker.ts');

/** One worker process with a local-tier cache. */
export class LocalWorker {
  readonly drops: number[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();

  /** `script`: another worker speaking the same protocol (bench/fixtures/bento-worker.ts). */
  constructor(major: number, target: string, namespace: string, invalidation = 'auto', script = fixture) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', script, String(major), target, namespace, invalidation],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { id?: number; ev?: string; at?: number; error?: string };
      if (m.ev === 'drop') {
        this.drops.push(m.at!);
        return;
      }
      const p = this.pending.get(m.id!);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.error) p.reject(new Error(`worker: ${m.error}`));
      else {
        const { id: _id, ...reply } = m;
        p.resolve(reply as never);
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        for (const p of this.pending.values()) p.reject(new Error(`worker exited (${code}): ${this.stderr}`));
        this.pending.clear();
        resolve(code);
      });
    });
  }

  /** Sends a command and waits for its reply. */
  call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }

  /** The first drop event at or after `at`. */
  dropAfter(at: number): number | undefined {
    return this.drops.find((t) => t >= at);
  }

  /** Asks it to exit; resolves with the exit code. */
  async stop(): Promise<number | null> {
    await this.call('exit').catch(() => {});
    return this.exited;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** Starts `n` workers on one namespace and waits until each one's local tier serves. */
export async function startWorkers(
  n: number,
  major: number,
  target: string,
  namespace: string,
  invalidation = 'auto',
  script?: string,
): Promise<LocalWorker[]> {
  const workers = Array.from(
    { length: n },
    () => new LocalWorker(major, target, namespace, invalidation, script),
  );
  try {
    await Promise.all(workers.map((w) => w.call('ready')));
  } catch (e) {
    for (const w of workers) w.kill();
    throw e;
  }
  return workers;
}
