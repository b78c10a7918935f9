import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import {
  type ExplainOptions,
  type ExplainResult,
  explain,
  fingerprintQuery,
  instrument,
  instrumentQueryable,
  trackQueries,
} from '../../src/query/index.js';
import type { DemoContext } from './context.js';

export const order = 30;
export const title = 'Query tracking: fingerprints, N+1 detection, EXPLAIN findings';

const customers = pgTable('demo_q_customers', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
});

/** A drizzle database over an instrumented client: postgres.js when DATABASE_URL is set, else PGlite. */
async function trackedDb(ctx: DemoContext) {
  if (ctx.sql) {
    const { drizzle } = await import('drizzle-orm/postgres-js');
    return drizzle(instrument(ctx.sql, { name: 'demo' }));
  }
  const { drizzle } = await import('drizzle-orm/pglite');
  return drizzle(instrumentQueryable(ctx.db.$client, { name: 'demo' }));
}

export async function run(ctx: DemoContext): Promise<void> {
  const fps = [
    'select * from users where id = 1',
    'SELECT *\n  FROM users WHERE id = $1',
    'select * from users where id in (4, 5, 6)',
  ].map((s) => fingerprintQuery(s));
  console.log(
    `   fingerprints: "${fps[0]!.fingerprint}" id ${fps[0]!.id}; same for $1 variant: ${fps[0]!.id === fps[1]!.id}`,
  );
  console.log(`                 "${fps[2]!.fingerprint}" (IN-list collapsed)`);

  const db = ctx.db;
  const exec = (q: string) => db.execute(q);
  await exec('drop table if exists demo_q_events, demo_q_tickets, demo_q_customers');
  try {
    await exec('create table demo_q_customers (id int primary key, name text not null)');
    await exec("insert into demo_q_customers select g, 'customer ' || g from generate_series(1, 2000) g");
    // ~40k rows x ~220 bytes (~1,300 pages): enough to spill sorts, hashes and bitmaps at work_mem = 64kB.
    await exec(
      `create table demo_q_events (id int primary key, customer_id int not null, payload text not null)`,
    );
    await exec(
      `insert into demo_q_events select g, g % 2000, repeat(md5(g::text), 7) from generate_series(1, 40000) g`,
    );
    await exec(
      'create table demo_q_tickets (id serial primary key, status text not null) with (autovacuum_enabled = false)',
    );
    await exec("insert into demo_q_tickets (status) select 'old' from generate_series(1, 500)");
    await exec('analyze demo_q_customers, demo_q_events, demo_q_tickets');
    await exec("insert into demo_q_tickets (status) select 'new' from generate_series(1, 20000)");

    // N+1: one query per customer id, caught by trackQueries.
    const tdb = await trackedDb(ctx);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const naive = await trackQueries(async () => {
      for (const id of ids) await tdb.select().from(customers).where(eq(customers.id, id)).execute();
    });
    const [n] = naive.nPlusOne;
    console.log(
      `   N+1 caught: ${n?.count}x ${n?.fingerprint} (${n?.totalMs.toFixed(1)} ms) at ${n?.callSite ?? '?'}`,
    );
    console.log(`   suggestion: ${n?.suggestion.slice(0, 110)}...`);
    const batched = await trackQueries(async () => {
      await tdb.execute(`select * from demo_q_customers where id = any('{${ids}}')`);
    });
    console.log(`   batched: ${batched.queries.length} query, N+1 found: ${batched.nPlusOne.length}`);

    // EXPLAIN findings, one query built to trigger each rule.
    const small: ExplainOptions = { analyze: true, set: { work_mem: '64kB' } };
    const cases: Array<[string, string, ExplainOptions]> = [
      [
        'seq scan + dominant node',
        'select * from demo_q_events where customer_id = 42',
        { analyze: true, dominantMinMs: 0 },
      ],
      ['misestimate', "select * from demo_q_tickets where status = 'new'", { analyze: true }],
      ['sort spill', 'select * from demo_q_events order by payload', small],
      [
        'hash spill',
        'select a.payload, b.payload from demo_q_events a join demo_q_events b on a.id = b.id + 0',
        { analyze: true, set: { work_mem: '64kB', enable_mergejoin: 'off', enable_nestloop: 'off' } },
      ],
      [
        'nested loop',
        'select count(*) from demo_q_customers c join demo_q_events e on e.id = c.id',
        { analyze: true, set: { enable_hashjoin: 'off', enable_mergejoin: 'off' } },
      ],
      [
        'lossy bitmap',
        'select count(*) from demo_q_events where id < 39000',
        {
          analyze: true,
          set: {
            work_mem: '64kB',
            enable_seqscan: 'off',
            enable_indexscan: 'off',
            enable_indexonlyscan: 'off',
          },
        },
      ],
      ['clean (pk lookup)', 'select * from demo_q_events where id = 5', { analyze: true }],
    ];
    const seen = new Set<string>();
    for (const [label, q, opts] of cases) {
      const r: ExplainResult = await explain(db, q, opts);
      const fresh = r.findings.filter((f) => !seen.has(f.rule));
      for (const f of r.findings) seen.add(f.rule);
      if (r.findings.length === 0) console.log(`   explain ${label}: no findings (${r.plan.nodeType})`);
      for (const f of fresh) {
        console.log(`   explain ${label}: [${f.severity}] ${f.rule}: ${f.message}`);
        console.log(`      fix: ${f.suggestion.slice(0, 140)}`);
      }
    }
    console.log(`   rules triggered: ${seen.size} of 7 (${[...seen].join(', ')})`);
  } finally {
    await exec('drop table if exists demo_q_events, demo_q_tickets, demo_q_customers');
  }
}
