/**
 * What a reused client saves: N "requests" each doing one `select 1` (or one Redis GET) on the manager's
 * cached client, against the common mistake of creating (and closing) a client per request.
 */
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { createClientManager } from '../src/clients/index.js';
import type { BenchReport } from './harness.js';
import { benchDatabase, benchRedis } from './services.js';

const REQUESTS = 100;

export default async function (report: BenchReport): Promise<void> {
  const db = await benchDatabase('clients');
  const redis = await benchRedis();
  const manager = createClientManager({ env: {}, databaseUrl: db.url, redisUrl: redis.url });
  let freshPg = 0;
  let freshRedis = 0;
  try {
    await report.group({
      title: `${REQUESTS} requests x select 1: manager.sql() vs a new postgres.js client per request`,
      unit: 'requests',
      rounds: 8,
      warmup: 1,
      cases: [
        {
          name: 'dbkit manager.sql() (reused pool)',
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) await manager.sql()`select 1`;
          },
        },
        {
          name: 'new postgres() per request',
          baseline: true,
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) {
              const sql = postgres(db.url, { max: 1, onnotice: () => {} });
              freshPg++;
              await sql`select 1`;
              await sql.end();
            }
          },
        },
      ],
    });
    await manager.redis().set('bench:k', 'v');
    await report.group({
      title: `${REQUESTS} requests x GET: manager.redis() vs a new ioredis client per request`,
      unit: 'requests',
      rounds: 8,
      warmup: 1,
      cases: [
        {
          name: 'dbkit manager.redis() (reused connection)',
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) await manager.redis().get('bench:k');
          },
        },
        {
          name: 'new Redis() per request',
          baseline: true,
          units: REQUESTS,
          fn: async () => {
            for (let i = 0; i < REQUESTS; i++) {
              const r = new Redis(redis.url);
              freshRedis++;
              await r.get('bench:k');
              await r.quit();
            }
          },
        },
      ],
    });
    const created = manager.stats().created;
    report.metric({
      name: 'postgres clients created',
      ours: created.postgres,
      baseline: freshPg,
      baselineName: 'client per request',
      unit: 'clients',
      note: 'from manager.stats().created',
    });
    report.metric({
      name: 'redis clients created',
      ours: created.redis,
      baseline: freshRedis,
      baselineName: 'client per request',
      unit: 'clients',
    });
  } finally {
    await manager.closeAll({ timeoutMs: 5000 });
    await db.drop();
    await redis.dispose();
  }
}
