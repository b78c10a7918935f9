import { createServer } from 'node:http';
import { getClientManager } from '../src/clients/index.js';

const manager = getClientManager(); // DATABASE_URL and REDIS_URL from the environment
const sql = manager.sql(); // one pool per process; every query tracked and counted
const cache = manager.cache('quickstart', { ttl: '1m' }); // compressed, in Redis, fails open

const server = createServer(async (req, res) => {
  // Readiness from the pool monitor's 0-100 score; false as soon as shutdown begins.
  if (req.url === '/ready') return res.writeHead(manager.poolHealth().healthy ? 200 : 503).end();
  try {
    const now = await cache.getOrSet('now', async () => {
      const [row] = await sql<{ now: string }[]>`select now()::text as now`; // a cache hit runs no query
      return row?.now;
    });
    res.end(JSON.stringify({ now }));
  } catch {
    res.writeHead(500).end(); // e.g. Postgres unreachable (Redis down is only a cache miss)
  }
});
server.listen(Number(process.env.PORT ?? 3000));
// SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close every client once, exit 0.
manager.installShutdownHooks({ servers: [server] });
