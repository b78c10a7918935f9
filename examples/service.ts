/**
 * One service, one data path: every client comes from getClientManager().
 * - a drizzle db whose queries are tracked (per-request query count, N+1 warnings) and monitored,
 * - a Redis query cache from the same manager,
 * - /ready from the pool's health score, /live, /metrics (Prometheus) for everything the manager made,
 * - a graceful shutdown: on SIGTERM the server stops accepting, in-flight requests finish (readiness
 *   fails meanwhile), then every client closes once.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
 *     PORT=3000 npx tsx examples/service.ts
 *   curl localhost:3000/users/1 -i ; curl localhost:3000/orders -i ; curl localhost:3000/ready ; curl localhost:3000/metrics
 */
import { createServer, type ServerResponse } from 'node:http';
import { eq, inArray } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { Registry } from 'prom-client';
import { getClientManager } from '../src/clients/index.js';
import { trackQueries } from '../src/query/index.js';

const customers = pgTable('example_customers', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
});
const orders = pgTable('example_orders', {
  id: integer('id').primaryKey(),
  customerId: integer('customer_id').notNull(),
});

// DATABASE_URL and REDIS_URL from the environment; sql()/db() are tracked and monitored by default.
const manager = getClientManager();
const db = manager.db();
const cache = manager.cache(process.env.CACHE_NAMESPACE ?? 'example-customers', { ttl: '5m' });
const registry = new Registry();
manager.metrics({ registry });

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** A customer, through the cache (a hit runs no query). */
const customer = (id: number) =>
  cache.getOrSet(
    `customer:${id}`,
    async () => (await db.select().from(customers).where(eq(customers.id, id)))[0] ?? null,
    {
      tags: [`customer:${id}`],
    },
  );

/** Recent orders with their customers: the N+1 way, to show the warning (one query per order). */
async function recentOrdersNPlusOne() {
  const list = await db.select().from(orders).orderBy(orders.id).limit(6);
  const out = [];
  for (const o of list) {
    const [c] = await db.select().from(customers).where(eq(customers.id, o.customerId)).execute();
    out.push({ id: o.id, customer: c?.name });
  }
  return out;
}

/** The same page in two queries. */
async function recentOrders() {
  const list = await db.select().from(orders).orderBy(orders.id).limit(6);
  const ids = [...new Set(list.map((o) => o.customerId))];
  const names = new Map(
    (await db.select().from(customers).where(inArray(customers.id, ids))).map((c) => [c.id, c.name]),
  );
  return list.map((o) => ({ id: o.id, customer: names.get(o.customerId) }));
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/live') return json(res, 200, { live: true });
    if (url.pathname === '/ready') {
      const { healthy, score, draining, stats } = manager.poolHealth();
      return json(res, healthy ? 200 : 503, {
        healthy,
        score,
        draining,
        inUse: stats.inUse,
        pending: stats.pending,
      });
    }
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType });
      return res.end(await registry.metrics());
    }
    // Application routes run tracked: the response says how many queries they took.
    const t = await trackQueries(async () => {
      const m = /^\/users\/(\d+)$/.exec(url.pathname);
      if (m) return customer(Number(m[1]));
      if (url.pathname === '/orders')
        return url.searchParams.has('batched') ? recentOrders() : recentOrdersNPlusOne();
      return undefined;
    });
    for (const n of t.nPlusOne)
      console.log(`N+1: ${n.count}x ${n.fingerprint} at ${n.callSite}; ${n.suggestion}`);
    if (t.result === undefined) return json(res, 404, { error: 'not found' });
    json(res, 200, t.result, {
      'x-db-queries': String(t.queries.length),
      'x-n-plus-one': String(t.nPlusOne.length),
    });
  } catch (e) {
    json(res, 500, { error: e instanceof Error ? e.message : String(e) });
  }
});

async function main() {
  const sql = manager.sql();
  await sql`create table if not exists example_customers (id int primary key, name text not null)`;
  await sql`create table if not exists example_orders (id int primary key, customer_id int not null)`;
  await sql`insert into example_customers select g, 'customer ' || g from generate_series(1, 20) g on conflict do nothing`;
  await sql`insert into example_orders select g, 1 + g % 20 from generate_series(1, 100) g on conflict do nothing`;
  server.listen(Number(process.env.PORT ?? 3000), () => {
    const addr = server.address();
    console.log(`listening on ${typeof addr === 'object' && addr ? addr.port : addr}`);
  });
  manager.installShutdownHooks({
    servers: [server],
    timeoutMs: 10_000,
    onClosed: (result, signal, drain) =>
      console.log(
        `${signal}: drained in ${drain.drainMs} ms, closed [${result.closed.join(', ')}] in ${result.durationMs} ms`,
        result.errors.length ? result.errors : '',
      ),
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
