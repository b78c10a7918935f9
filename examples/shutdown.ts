/**
 * A small HTTP service that shares one set of clients and shuts down cleanly on SIGTERM/SIGINT.
 *
 *   DATABASE_URL=postgres://... REDIS_URL=redis://... npx tsx examples/shutdown.ts
 *   curl localhost:3000/health ; curl localhost:3000/visits ; kill -TERM <pid>
 *
 * On the signal the hook first stops the server accepting and lets in-flight requests finish (closing idle
 * keep-alive connections; /health reports the failing `shutdown` check meanwhile), then closes every client
 * once, in order (subscriptions, topics, Pub/Sub, Firestore, Postgres, caches, Redis), all within 10 s,
 * prints what closed, and exits.
 */
import { createServer } from 'node:http';
import { getClientManager } from '../src/clients/index.js';

const manager = getClientManager(); // DATABASE_URL, REDIS_URL, ... from the environment

const server = createServer(async (req, res) => {
  try {
    if (req.url === '/health') {
      const health = await manager.health({ timeoutMs: 1000 });
      res.writeHead(health.status === 'fail' ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(health));
      return;
    }
    // Every request uses the same cached clients: no per-request connection setup.
    const visits = await manager.redis().incr('example:visits');
    const [row] = await manager.sql()<{ now: Date }[]>`select now() as now`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ visits, now: row?.now, clients: manager.stats().created }));
  } catch (e) {
    res.writeHead(500).end(e instanceof Error ? e.message : String(e));
  }
});

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on :${process.env.PORT ?? 3000} (pid ${process.pid}); send SIGTERM to stop`);
});

manager.installShutdownHooks({
  servers: [server],
  timeoutMs: 10_000,
  onClosed: (result, signal, drain) => {
    console.log(
      `${signal}: drained in ${drain.drainMs} ms, closed [${result.closed.join(', ')}] in ${result.durationMs} ms`,
      result.errors,
    );
  },
});
