import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { Agent, get } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../setup/index.js';

const run = promisify(execFile);
const db = useTestDatabase('clients_hooks');

describe('installShutdownHooks()', () => {
  it('closes every client once on SIGTERM (a second signal is ignored) and exits 0', async () => {
    const fixture = join(import.meta.dirname, 'fixtures/shutdown-child.ts');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture, db.url, inject('redisUrl')], {
      timeout: 25_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('ready');
    expect(lines).toHaveLength(2);
    const report = JSON.parse(lines[1]!) as {
      signal: string;
      closed: string[];
      errors: unknown[];
      closeCalls: number;
      stats: { closed: boolean; created: Record<string, number> };
    };
    expect(report.signal).toBe('SIGTERM');
    expect(report.closed).toEqual(['postgres', 'redis']);
    expect(report.errors).toEqual([]);
    expect(report.closeCalls).toBe(1);
    expect(report.stats.closed).toBe(true);
    expect(report.stats.created.postgres).toBe(1);
  });
});

/** A drain-child process with its stdout lines as they come. */
function startService(mode: 'normal' | 'hang') {
  const fixture = join(import.meta.dirname, 'fixtures/drain-child.ts');
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture, db.url, mode], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8');
  let buf = '';
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = async (pred: (l: string) => boolean, ms = 20_000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find(pred);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no matching line; got ${JSON.stringify(lines)} ${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { child, line, exited, stderr: () => stderr, lines };
}

const fetchText = (port: number, path: string, agent?: Agent) =>
  new Promise<{ status: number; body: string; socket: Socket }>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, ...(agent ? { agent } : { agent: false }) }, (res) => {
      // Taken now: a keep-alive agent detaches the socket from the response when it ends.
      const socket = res.socket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket }));
      res.on('error', reject);
    }).on('error', reject);
  });

describe('installShutdownHooks({ servers }) with a real HTTP server', () => {
  it('on SIGTERM stops accepting, fails readiness, lets the in-flight request finish, then closes and exits 0', async () => {
    const svc = startService('normal');
    const port = Number((await svc.line((l) => l.startsWith('listening '))).split(' ')[1]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ready = await fetchText(port, '/ready', agent);
    expect(ready.status).toBe(200);
    const idleSocket = ready.socket;
    const idleClosed = new Promise<number>((r) => idleSocket.once('close', () => r(Date.now())));

    const slow = fetchText(port, '/slow');
    await svc.line((l) => l === 'slow-started');
    const signalledAt = Date.now();
    svc.child.kill('SIGTERM');

    // New connections are refused once the server stopped accepting.
    await new Promise((r) => setTimeout(r, 300));
    await expect(fetchText(port, '/ready')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // The idle keep-alive connection was closed at once, not at its keep-alive timeout.
    expect((await idleClosed) - signalledAt).toBeLessThan(1000);

    // The in-flight request gets its whole response, computed while readiness was failing.
    const r = await slow;
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as {
      health: string;
      shutdown: string;
      poolHealthy: boolean;
      pad: string;
    };
    expect(body).toMatchObject({ health: 'fail', shutdown: 'fail', poolHealthy: false });
    expect(body.pad).toHaveLength(64 * 1024);

    const code = await svc.exited;
    expect(code).toBe(0);
    expect(svc.stderr()).toBe('');
    const report = JSON.parse(svc.lines.at(-1)!) as {
      signal: string;
      events: string[];
      closed: string[];
      errors: unknown[];
      drain: { drainMs: number; drainTimedOut: boolean; beforeCloseError?: string };
    };
    expect(report.signal).toBe('SIGTERM');
    // Drain first (the answer went out), then beforeClose with the server closed, then closeAll.
    expect(report.events).toEqual(['signal', 'slow-answered', 'beforeClose(listening=false)', 'closed']);
    expect(report.closed).toEqual(['postgres']);
    expect(report.errors).toEqual([]);
    expect(report.drain.drainTimedOut).toBe(false);
    expect(report.drain.drainMs).toBeGreaterThan(0);
    agent.destroy();
  });

  it('closes connections still busy at drainTimeoutMs and still exits within timeoutMs', async () => {
    const svc = startService('hang');
    const port = Number((await svc.line((l) => l.startsWith('listening '))).split(' ')[1]);
    const hung = fetchText(port, '/hang');
    await svc.line((l) => l === 'hang-started');
    const t0 = Date.now();
    svc.child.kill('SIGTERM');
    await expect(hung).rejects.toMatchObject({ code: 'ECONNRESET' });
    const code = await svc.exited;
    const elapsed = Date.now() - t0;
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(3000 + 2000);
    expect(svc.stderr()).toBe('');
    const report = JSON.parse(svc.lines.at(-1)!) as { drain: { drainTimedOut: boolean }; closed: string[] };
    expect(report.drain.drainTimedOut).toBe(true);
    expect(report.closed).toEqual(['postgres']);
  });
});
