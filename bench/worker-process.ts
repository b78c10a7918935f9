/**
 * A long-lived benchmark worker process that speaks JSON lines (bench/fixtures/*-worker.ts): it prints
 * `{ ready: true }` once it is set up, then answers every `{ id, ... }` command with one `{ id, ... }` line;
 * `{ quit: true }` makes it close its clients and exit. Its stderr goes to ours.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export class WorkerProcess<Reply extends { id: number }> {
  private buffer = '';
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private id = 0;
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  /** Starts `script` (TypeScript, through tsx) with `args`. */
  constructor(script: string, args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const child = this.child;
    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.exited = new Promise((r) =>
      child.on('exit', (code, signal) => {
        const e = new Error(`bench worker ${script} ${args.join(' ')} exited (${code ?? signal})`);
        failed(e);
        for (const w of this.waiting.values()) w.reject(e);
        r();
      }),
    );
    child.stdout!.setEncoding('utf8');
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
    child.stdout!.on('data', (c: string) => {
      this.buffer += c;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const m = JSON.parse(this.buffer.slice(0, nl)) as Reply & { ready?: true };
        this.buffer = this.buffer.slice(nl + 1);
        if (m.ready) ready();
        else this.waiting.get(m.id)?.resolve(m);
      }
    });
  }

  /** Sends one command and resolves with the worker's answer to it. */
  run(command: object): Promise<Reply> {
    const id = ++this.id;
    const p = new Promise<Reply>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    return p.finally(() => this.waiting.delete(id));
  }

  /** Asks the worker to close its clients and exit; resolves when it has. */
  quit(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null)
      this.child.stdin!.write(`${JSON.stringify({ quit: true })}\n`);
    return this.exited;
  }
}

/**
 * The worker's side of {@link WorkerProcess}: answers each command line with `{ id, ...await handle(command) }`,
 * and on `{ quit: true }` stops reading and runs `close` (the process then exits once nothing else is open).
 * Call it when the worker is set up: it prints `{ ready: true }`.
 */
export function serveCommands<Command extends { id: number }>(
  handle: (command: Command) => Promise<object>,
  close: () => Promise<unknown>,
): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const m = JSON.parse(line) as Command | { quit: true };
    if ('quit' in m) {
      rl.close();
      process.stdin.destroy();
      await close().catch(() => {});
      return;
    }
    process.stdout.write(`${JSON.stringify({ ...(await handle(m)), id: m.id })}\n`);
  });
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
}
