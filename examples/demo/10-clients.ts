import {
  buildEventFilter,
  createClientManager,
  defineEventBus,
  isDbkitError,
  resolveClientManagerConfig,
} from '../../src/clients/index.js';
import { redactUrl } from '../../src/internal/redact.js';
import type { DemoContext } from './context.js';

export const order = 10;
export const title = 'Client manager and event bus (dbkit/clients)';

export async function run(ctx: DemoContext): Promise<void> {
  // 1. Config: object values win over the environment; pool defaults fill the rest.
  const resolved = resolveClientManagerConfig({
    env: {
      DATABASE_URL: 'postgres://app:s3cret@db.internal/app',
      REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000',
    },
    pool: { max: 20 },
  });
  console.log(
    `   config: databaseUrl=${redactUrl(resolved.databaseUrl ?? '')}, redis cluster nodes=${resolved.redisClusterNodes?.length}, pool=${JSON.stringify(resolved.pool)}`,
  );

  // 2. A manager over what this demo has: the real Postgres/Redis when set, nothing otherwise.
  const manager = createClientManager({
    env: {},
    ...(ctx.postgresKind === 'postgres' && process.env.DATABASE_URL
      ? { databaseUrl: process.env.DATABASE_URL }
      : {}),
    ...(ctx.redisUrl ? { redisUrl: ctx.redisUrl } : {}),
    projectId: 'dbkit-demo',
  });
  if (ctx.postgresKind === 'postgres') await manager.sql()`select 1`;
  else
    console.log(
      '   (PGlite run: no DATABASE_URL, so the manager has no Postgres; set it to see sql() and its health)',
    );
  if (ctx.redisUrl) await manager.redis().ping();
  const health = await manager.health({ timeoutMs: 1000 });
  const checks = Object.entries(health.checks).map(([k, c]) => `${k}=${c.status} ${c.latencyMs} ms`);
  console.log(
    `   health: ${health.status} (${checks.join(', ') || 'no clients created yet: nothing to check'})`,
  );
  // Getters are synchronous and cached: concurrent first calls share one client. (BigQuery needs no network to
  // construct; it is not health-checked here because that would need cloud credentials.)
  const loaded = manager.bigquery();
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: 1000 }, async () => manager.bigquery()));
  console.log(
    `   1,000 concurrent bigquery() calls -> ${manager.stats().created.bigquery} client created, all the same instance: ${all.every((c) => c === loaded)} (${(performance.now() - t0).toFixed(2)} ms)`,
  );

  // 3. Event bus routing and filters are computed locally, before any Pub/Sub request.
  const bus = defineEventBus({
    manager,
    topics: { marketing: { retention: 'standard' }, system: { retention: 'transient' } },
    routes: { 'marketing.*': 'marketing', 'system.*': 'system' },
  });
  const filter = buildEventFilter('campaigns', ['marketing.campaign.*', 'marketing.lead.won']);
  console.log(
    `   route marketing.campaign.created -> ${bus.route('marketing.campaign.created')}; filter (${Buffer.byteLength(filter.expression)}/256 bytes): ${filter.expression}`,
  );
  const unknown = await bus.publish('billing.invoice.paid', {}).catch((e: unknown) => e);
  console.log(
    `   publish of an unrouted type -> ${isDbkitError(unknown) ? unknown.code : 'no error?'} (nothing sent)`,
  );

  // 4. closeAll is ordered, bounded and idempotent; getters refuse afterwards.
  const first = await manager.closeAll({ timeoutMs: 5000 });
  const second = await manager.closeAll();
  let after = '';
  try {
    manager.bigquery();
  } catch (e) {
    after = isDbkitError(e) ? e.code : String(e);
  }
  console.log(
    `   closeAll: closed [${first.closed.join(', ')}] in ${first.durationMs} ms; second call same result: ${first === second}; getter after close -> ${after}`,
  );
  console.log(`   stats: ${JSON.stringify(manager.stats())}`);
}
