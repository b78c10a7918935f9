import { createServer } from 'node:http';
import { getClientManager } from '../src/clients/index.js';

const manager = getClientManager(); // DATABASE_URL and REDIS_URL from the environment
const sql = manager.sql(); // one pool per process; every query tracked and counted
const cache = manager.cache('quickstart', { ttl: '1m' }); // compressed, in Redis, fails open

const server = createServer(async (_req, res) => {
  const ready = manager.poolHealth().healthy; // false once shutdown has begun
  const now = await cache.getOrSet('now', async () => {
    const [row] = await sql<{ now: string }[]>`select now()::text as now`; // a cache hit runs no query
    return row?.now;
  });
  res.writeHead(ready ? 200 : 503).end(JSON.stringify({ now, ready }));
});
server.listen(Number(process.env.PORT ?? 3000));
// SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close every client once, exit 0.
manager.installShutdownHooks({ servers: [server] });
