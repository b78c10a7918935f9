/**
 * N+1 queries: a repository that loads orders and then each order's customer one by one, how trackQueries
 * reports it (count, time, call site, the batched rewrite), and the fixed repository.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx examples/n-plus-one.ts
 */
import postgres from 'postgres';
import { expectQueries, formatQueryReport, instrument, trackQueries } from '../src/query/index.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// One connection: the example uses temp tables, which live on one connection.
const sql = instrument(postgres(url, { max: 1, onnotice: () => {} }), {
  onNPlusOne: (n) => console.warn(`[onNPlusOne] ${n.count}x ${n.fingerprint}`),
});

interface Order {
  id: number;
  customer_id: number;
  total: number;
}

/** The N+1 version: one query for the page, then one per order. */
const naiveRepository = {
  async recentOrdersWithCustomers(limit: number) {
    const orders = await sql<
      Order[]
    >`select id, customer_id, total from orders order by id desc limit ${limit}`;
    const result = [];
    for (const order of orders) {
      const [customer] = await sql<
        { name: string }[]
      >`select name from customers where id = ${order.customer_id}`;
      result.push({ ...order, customer: customer?.name });
    }
    return result;
  },
};

/** The fixed version: the page, then all its customers in one `= any($1)` query. */
const batchedRepository = {
  async recentOrdersWithCustomers(limit: number) {
    const orders = await sql<
      Order[]
    >`select id, customer_id, total from orders order by id desc limit ${limit}`;
    const ids = [...new Set(orders.map((o) => o.customer_id))];
    const customers = await sql<
      { id: number; name: string }[]
    >`select id, name from customers where id = any(${ids})`;
    const byId = new Map(customers.map((c) => [c.id, c.name]));
    return orders.map((o) => ({ ...o, customer: byId.get(o.customer_id) }));
  },
};

async function main() {
  await sql`create temp table customers (id int primary key, name text not null)`;
  await sql`create temp table orders (id int primary key, customer_id int not null, total int not null)`;
  await sql`insert into customers select g, 'customer ' || g from generate_series(1, 50) g`;
  await sql`insert into orders select g, 1 + g % 50, g * 10 from generate_series(1, 500) g`;

  console.log('--- naive repository ---');
  const naive = await trackQueries(() => naiveRepository.recentOrdersWithCustomers(20));
  console.log(formatQueryReport(naive));

  console.log('\n--- batched repository ---');
  const fixed = await trackQueries(() => batchedRepository.recentOrdersWithCustomers(20));
  console.log(formatQueryReport(fixed));
  console.log(
    `\nsame result: ${JSON.stringify(naive.result) === JSON.stringify(fixed.result)}; queries ${naive.queries.length} -> ${fixed.queries.length}`,
  );

  console.log('\n--- expectQueries in a test suite ---');
  await expectQueries(() => batchedRepository.recentOrdersWithCustomers(20), { max: 2 });
  console.log('batched: passes { max: 2 }');
  try {
    await expectQueries(() => naiveRepository.recentOrdersWithCustomers(20), { max: 2 });
  } catch (e) {
    console.log(
      `naive: throws ${(e as Error).name}:\n${(e as Error).message.split('\n').slice(0, 3).join('\n')}\n...`,
    );
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => sql.end({ timeout: 2 }));
