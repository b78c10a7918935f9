/**
 * Stampede protection across processes: 4 worker processes (test/cache/fixtures/flight-worker.ts), 25 concurrent
 * getOrSet of one missing key each, against a spawned Redis and a spawned 3-node Cluster, on both ioredis majors.
 * The failure matrix is faults x singleFlight modes; loader calls are counted in a file (a SIGKILLed holder too).
 * Both servers are this file's own (the 'redis ...' faults kill and SIGSTOP every node of them).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type SpawnedCluster,
  type SpawnedRedis,
  sleep,
  spawnRedis,
  spawnRedisCluster,
  waitFor,
} from '../setup/index.js';
import {
  countFile,
  type FlightReply,
  type FlightRun,
  type FlightTarget,
  FlightWorker,
  loaderCalls,
} from './flight-workers.js';
import { ioredisMajors, namespace } from './helpers.js';

const PROCESSES = 4;
const PER_PROCESS = 25;
const LOADER_MS = 200;
const LOCK_TTL_MS = 1000;
// Generous: the machine is shared. A cell that does not settle within it fails.
const SETTLE_MS = 20_000;

const modes = ['process', 'distributed'] as const;
type Mode = (typeof modes)[number];
const faults = [
  'none',
  'loader throws',
  'loader hangs',
  'holder dies',
  'redis down',
  'redis hangs',
  'redis down while waiting',
  'subscriber killed',
] as const;
type Fault = (typeof faults)[number];

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms).then(() => {
      throw new Error(`${what} did not settle within ${ms} ms`);
    }),
  ]);
}

const exec = promisify(execFile);

/** Clients subscribed to a channel on these servers: the workers' lock subscribers (`<ns>:c:flight`). */
async function subscribers(ports: number[]): Promise<number> {
  let n = 0;
  for (const port of ports) {
    const { stdout } = await exec('redis-cli', ['-p', String(port), 'CLIENT', 'LIST'], { timeout: 2000 });
    n += stdout.split('\n').filter((line) => / sub=[1-9]/.test(line)).length;
  }
  return n;
}

const sum = (replies: FlightReply[], f: (r: FlightReply) => number) => replies.reduce((n, r) => n + f(r), 0);

function expectValues(replies: FlightReply[], key: string) {
  for (const r of replies) {
    expect(r.results).toHaveLength(PER_PROCESS);
    for (const x of r.results) {
      expect(x, JSON.stringify(x)).toMatchObject({ ok: true, value: { key } });
    }
  }
}

const targets = ['redis', 'cluster'] as const;

/** What the 'redis ...' faults do to a target: a standalone server or every node of the Cluster. */
type Breakable = Pick<SpawnedRedis, 'stop' | 'start' | 'pause'> & { resume(): void | Promise<void> };

// One Cluster for every cluster cell of the file (both majors), spawned by the first one that needs it.
let ownCluster: Promise<SpawnedCluster> | undefined;
afterAll(async () => {
  await (await ownCluster)?.dispose();
}, 30_000);

describe.each(ioredisMajors.flatMap((m) => targets.map((t) => [m, t] as const)))(
  `single-flight across ${PROCESSES} processes: ioredis %i, %s`,
  (major, target) => {
    let redis: SpawnedRedis | undefined;
    let server: Breakable;
    let ports: number[];
    let workers: FlightWorker[] = [];
    let dest: FlightTarget;

    beforeAll(async () => {
      if (target === 'redis') {
        redis = await spawnRedis();
        server = redis;
        ports = [redis.port];
        dest = { url: redis.url };
      } else {
        ownCluster ??= spawnRedisCluster(3);
        const cluster = await ownCluster;
        server = cluster;
        ports = cluster.servers.map((s) => s.port);
        dest = { nodes: cluster.nodes };
      }
      workers = await Promise.all(Array.from({ length: PROCESSES }, () => FlightWorker.start(major, dest)));
    }, 120_000);

    afterAll(async () => {
      const exits = await Promise.all(workers.map((w) => within(w.quit(), SETTLE_MS, 'worker exit')));
      for (const [i, w] of workers.entries()) {
        expect(w.stderr, `worker ${i} stderr`).toBe('');
        expect(exits[i]).toEqual({ code: 0, signal: null });
      }
      await redis?.dispose();
    });

    /** Replaces a killed (or hung) worker, so later cells have 4 again. */
    async function replace(i: number) {
      const old = workers[i]!;
      old.kill();
      await old.exited;
      expect(old.stderr, `worker ${i} stderr`).toBe('');
      workers[i] = await FlightWorker.start(major, dest);
    }

    /**
     * Waits until every worker reaches the server again after a fault (a probe getOrSet on a fresh cache meets
     * no store error and a closed circuit), so the next cell starts from a working connection.
     */
    async function recovered() {
      const file = countFile(`${major}-${target}-probe`);
      await waitFor(
        'the workers to reach Redis again',
        async () => {
          const ns = namespace('sf-probe');
          const replies = await within(
            Promise.all(
              workers.map(
                (w) =>
                  w.run({
                    cache: { namespace: ns, ttl: 1, singleFlight: 'process' },
                    key: 'probe',
                    n: 1,
                    loader: 'ok',
                    loaderMs: 0,
                    countFile: file,
                  }).reply,
              ),
            ),
            SETTLE_MS,
            'probe',
          );
          return replies.every((r) => r.stats.errors === 0 && r.stats.circuit === 'closed');
        },
        SETTLE_MS,
      );
    }

    for (const fault of faults)
      for (const mode of modes) {
        it(`${fault} x ${mode}`, { timeout: 60_000 }, async () => {
          const key = `hot:${fault.replace(/ /g, '-')}`;
          const file = countFile(`${major}-${target}`);
          const ns = namespace(`sf-${mode}`);
          const run = (loader: FlightRun['loader']): FlightRun => ({
            cache: {
              namespace: ns,
              ttl: 60,
              singleFlight: mode as Mode,
              lockTtl: `${LOCK_TTL_MS}ms`,
              // Only the hang cell relies on lockTimeout; elsewhere it is far away, so a pass is not a timeout.
              lockTimeout: fault === 'loader hangs' ? '1s' : '30s',
            },
            key,
            n: PER_PROCESS,
            loader,
            loaderMs: LOADER_MS,
            countFile: file,
          });
          await cell(fault as Fault, mode as Mode, run, key, file);
        });
      }

    async function cell(
      fault: Fault,
      mode: Mode,
      run: (loader: FlightRun['loader']) => FlightRun,
      key: string,
      file: string,
    ) {
      const all = (loader: FlightRun['loader'], ws = workers) =>
        within(Promise.all(ws.map((w) => w.run(run(loader)).reply)), SETTLE_MS, `${fault} x ${mode}`);
      switch (fault) {
        case 'none': {
          const replies = await all('ok');
          expectValues(replies, key);
          // Every caller of a process got its process's single load (or the distributed one).
          for (const r of replies)
            expect(new Set(r.results.map((x) => x.ok && x.value.loadedBy)).size).toBe(1);
          // Each load is one process's: as many calls as processes whose value was handed out, so no process
          // loaded twice. 'process' gives one per process; a process whose first miss came after another
          // process had written the value (its worker started late on a loaded machine) gets a hit instead.
          const loaders = new Set(replies.flatMap((r) => r.results.map((x) => x.ok && x.value.loadedBy)));
          expect(loaderCalls(file)).toBe(loaders.size);
          if (mode === 'distributed') expect(loaders.size).toBe(1);
          else expect(loaders.size).toBeLessThanOrEqual(PROCESSES);
          expect(sum(replies, (r) => r.stats.lockTimeouts)).toBe(0);
          if (mode === 'process') expect(sum(replies, (r) => r.stats.lockWaits)).toBe(0);
          return;
        }
        case 'loader throws': {
          const replies = await all('throw');
          for (const r of replies)
            for (const x of r.results)
              expect(x).toMatchObject({ ok: false, name: 'Error', message: 'loader failed on purpose' });
          // Errors are not cached: each process calls the loader once (in 'distributed', one after the other).
          expect(loaderCalls(file)).toBe(PROCESSES);
          expect(sum(replies, (r) => r.stats.lockTimeouts)).toBe(0);
          return;
        }
        case 'loader hangs':
        case 'holder dies': {
          const [holder, ...others] = workers;
          const h = holder!.run(run('hang'));
          await within(h.loading, SETTLE_MS, 'the holder to start loading');
          const pending = all('ok', others);
          if (fault === 'holder dies') {
            await sleep(300); // let the others find the lock taken
            holder!.kill();
          }
          const killedAt = performance.now();
          const replies = await pending;
          const afterKill = performance.now() - killedAt;
          expectValues(replies, key);
          const calls = loaderCalls(file);
          if (mode === 'process') {
            expect(calls).toBe(PROCESSES);
          } else if (fault === 'holder dies') {
            // The dead holder's lock expired (no renewal) and exactly one successor loaded.
            expect(calls).toBe(2);
            expect(sum(replies, (r) => r.stats.lockTimeouts)).toBe(0);
            expect(afterKill).toBeLessThan(LOCK_TTL_MS + SETTLE_MS / 2);
          } else {
            // A hung holder keeps renewing: the others wait lockTimeout, then load themselves.
            expect(calls).toBeGreaterThanOrEqual(2);
            expect(calls).toBeLessThanOrEqual(PROCESSES);
            expect(sum(replies, (r) => r.stats.lockTimeouts)).toBeGreaterThanOrEqual(1);
          }
          await replace(0);
          return;
        }
        case 'redis down while waiting': {
          // An outage while workers wait on a lock: their lock subscribers are open when every node dies. On a
          // Cluster, a `cluster.duplicate()` subscriber made ioredis's ClusterSubscriber reconnect in a tight loop
          // (redis/ioredis#2030, MaxListenersExceededWarning on stderr); ours must back off and stay quiet.
          const [holder, ...others] = workers;
          const h = holder!.run(run('hang'));
          await within(h.loading, SETTLE_MS, 'the holder to start loading');
          const pending = all('ok', others);
          if (mode === 'distributed')
            await waitFor(
              'every waiter to subscribe',
              async () => (await subscribers(ports)) >= others.length,
              SETTLE_MS,
            );
          await server.stop();
          let replies: FlightReply[];
          try {
            replies = await pending;
          } finally {
            await server.start();
          }
          expectValues(replies, key);
          // The hung holder's call plus one load per waiting process once the store failed.
          expect(loaderCalls(file)).toBe(PROCESSES);
          expect(sum(replies, (r) => r.stats.lockTimeouts)).toBe(0);
          if (mode === 'distributed')
            for (const r of replies) expect(r.stats.lockWaits).toBeGreaterThanOrEqual(1);
          await replace(0);
          await recovered();
          for (const [i, w] of workers.entries()) expect(w.stderr, `worker ${i} stderr`).toBe('');
          return;
        }
        case 'subscriber killed': {
          // The waiters' lock subscriber connections are killed server-side while the holder loads: each
          // reconnects on its own (our backoff; ioredis does not reconnect it), and closes after the last waiter.
          const [holder, ...others] = workers;
          const h = holder!.run({ ...run('ok'), loaderMs: 3000 });
          await within(h.loading, SETTLE_MS, 'the holder to start loading');
          const pending = all('ok', others);
          if (mode === 'distributed') {
            const subscribed = async () => (await subscribers(ports)) >= others.length;
            await waitFor('every waiter to subscribe', subscribed, SETTLE_MS);
            for (const port of ports)
              await exec('redis-cli', ['-p', String(port), 'CLIENT', 'KILL', 'TYPE', 'pubsub'], {
                timeout: 2000,
              });
            await waitFor('every waiter to subscribe again', subscribed, SETTLE_MS);
          }
          const replies = [await within(h.reply, SETTLE_MS, 'holder'), ...(await pending)];
          expectValues(replies, key);
          expect(loaderCalls(file)).toBe(mode === 'distributed' ? 1 : PROCESSES);
          expect(sum(replies, (r) => r.stats.lockTimeouts + r.stats.errors)).toBe(0);
          if (mode === 'distributed')
            await waitFor(
              'lock subscribers to close',
              async () => (await subscribers(ports)) === 0,
              SETTLE_MS,
            );
          return;
        }
        case 'redis hangs':
        case 'redis down': {
          // The cell is an outage while misses arrive, when no worker waits on a lock, so it starts once the
          // previous cell's lock subscribers have closed (1 s after their last waiter). An outage while one is open
          // is another case: on a Cluster, ioredis's ClusterSubscriber then reconnects in a tight loop and leaks a
          // 'close' listener per attempt (MaxListenersExceededWarning on stderr), ioredis 5.11.1 and 6.0.0.
          await waitFor('lock subscribers to close', async () => (await subscribers(ports)) === 0, 10_000);
          // down: SIGKILL (connections drop, the circuit opens at once); hangs: SIGSTOP (every call times out).
          // On the Cluster every node at once: with one node left the lock could still be taken.
          if (fault === 'redis down') await server.stop();
          else server.pause();
          try {
            const replies = await all('ok');
            expectValues(replies, key);
            // Per-process single-flight: one load per process, nothing waits on a lock it cannot take.
            expect(loaderCalls(file)).toBe(PROCESSES);
            expect(sum(replies, (r) => r.stats.lockWaits)).toBe(0);
            for (const r of replies)
              expect(r.stats.errors + Number(r.stats.circuit !== 'closed')).toBeGreaterThan(0);
          } finally {
            if (fault === 'redis down') await server.start();
            else await server.resume();
          }
          await recovered();
          return;
        }
      }
    }
  },
);

describe.each(ioredisMajors)('single-flight with an unreachable Cluster, ioredis %i', (major) => {
  let workers: FlightWorker[] = [];
  beforeAll(async () => {
    const dead = { nodes: [{ host: '127.0.0.1', port: await freePort() }] };
    workers = await Promise.all(Array.from({ length: PROCESSES }, () => FlightWorker.start(major, dead)));
  });
  afterAll(async () => {
    const exits = await Promise.all(workers.map((w) => within(w.quit(), SETTLE_MS, 'worker exit')));
    for (const [i, w] of workers.entries()) {
      expect(w.stderr, `worker ${i} stderr`).toBe('');
      expect(exits[i]).toEqual({ code: 0, signal: null });
    }
  });
  for (const mode of modes)
    it(`redis down x ${mode}: one load per process, values served`, { timeout: 60_000 }, async () => {
      const file = countFile(`${major}-dead-cluster`);
      const ns = namespace(`sf-dead-${mode}`);
      const replies = await within(
        Promise.all(
          workers.map(
            (w) =>
              w.run({
                cache: { namespace: ns, ttl: 60, singleFlight: mode, lockTtl: '1s', lockTimeout: '30s' },
                key: 'hot',
                n: PER_PROCESS,
                loader: 'ok',
                loaderMs: LOADER_MS,
                countFile: file,
              }).reply,
          ),
        ),
        SETTLE_MS,
        `dead cluster x ${mode}`,
      );
      expectValues(replies, 'hot');
      expect(loaderCalls(file)).toBe(PROCESSES);
      expect(sum(replies, (r) => r.stats.lockWaits)).toBe(0);
    });
});
