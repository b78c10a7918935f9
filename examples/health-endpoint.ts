/**
 * A node:http server exposing /live, /ready (pool health score) and /metrics (Prometheus).
 * Run: DATABASE_URL=postgres://... npx tsx examples/health-endpoint.ts  (PORT defaults to 3000)
 */
import { createServer } from 'node:http';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { collectMetrics, monitorPool } from '../src/monitoring/index.js';

const pool = monitorPool(
  postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', { max: 10 }),
  {
    name: 'main',
  },
);
const registry = new Registry();
collectMetrics({ registry, pools: [pool] });

const server = createServer(async (req, res) => {
  if (req.url === '/live') {
    res.writeHead(200).end('ok');
  } else if (req.url === '/ready') {
    const stats = pool.stats();
    const ready = pool.isHealthy(50);
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ready,
        score: stats.score,
        inUse: stats.inUse,
        max: stats.max,
        pending: stats.pending,
      }),
    );
  } else if (req.url === '/metrics') {
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  } else {
    res.writeHead(404).end();
  }
});
server.listen(Number(process.env.PORT ?? 3000), () =>
  console.log(`health endpoint on :${process.env.PORT ?? 3000}`),
);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => server.close(() => void pool.sql.end({ timeout: 5 })));
