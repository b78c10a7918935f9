/**
 * BigQuery tables as code and a cost guard that reports what was billed.
 *
 *   npx tsx examples/bigquery-tables.ts
 *     No BIGQUERY_API_ENDPOINT: prints what it would do (create body, patch, rebuild SQL) without any request.
 *   BIGQUERY_API_ENDPOINT=http://127.0.0.1:9050 GOOGLE_CLOUD_PROJECT=my-project npx tsx examples/bigquery-tables.ts
 *     Runs ensureTable (two tables), estimateQuery (with a budget) and runGuarded against that endpoint, printing
 *     the bytes billed. A custom endpoint is called without Google credentials (a proxy or a test server); leave it
 *     unset for the real API with ADC.
 */
import {
  type BigQueryTableSpec,
  defineTable,
  ensureTable,
  estimateBytesBilled,
  estimateQuery,
  isDbkitError,
  planTableChanges,
  runGuarded,
  toTableResource,
} from '../src/query/index.js';

const eventsSpec = {
  dataset: 'analytics',
  table: 'events',
  schema: [
    { name: 'ts', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'client_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'service', type: 'STRING' },
    { name: 'provider', type: 'STRING' },
    { name: 'cost', type: 'NUMERIC' },
  ],
  partitioning: { type: 'DAY', field: 'ts' }, // partitions expire after 90 days unless expirationDays says otherwise
  clustering: ['client_id', 'service'],
  requirePartitionFilter: true,
  labels: { team: 'data', cost_center: 'analytics' },
  description: 'Raw usage events, one row per billable call',
} satisfies BigQueryTableSpec;
const events = defineTable(eventsSpec); // validates now: a bad spec throws E_BQ_VALIDATION before any request

// Yearly partitions and a RANGE column: one row per contract, valid over a date range.
const contracts = defineTable({
  dataset: 'analytics',
  table: 'contracts',
  schema: [
    { name: 'signed_on', type: 'DATE', mode: 'REQUIRED' },
    { name: 'client_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'validity', type: 'RANGE', rangeElementType: 'DATE', description: 'first and last day of cover' },
  ],
  partitioning: { type: 'YEAR', field: 'signed_on', expirationDays: null },
  clustering: ['client_id', 'validity'],
  labels: { team: 'data' },
});

const budget = { maxBytes: 50 * 2 ** 30, labels: { team: 'data', feature: 'example' } };
const sql = `SELECT client_id, SUM(cost) AS cost FROM analytics.events
WHERE ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY) GROUP BY client_id`;

async function offline(): Promise<void> {
  console.log('BIGQUERY_API_ENDPOINT is not set: printing the plan, no request is sent.\n');
  const create = planTableChanges(events, undefined);
  console.log(`1. ${create.action} ${create.table} (tables.insert body):`);
  console.log(JSON.stringify(toTableResource(events), null, 2));

  // Suppose the live table was created before clustering on provider and a 30-day expiration were decided.
  const live = toTableResource(events);
  const patch = planTableChanges(
    {
      ...events,
      clustering: ['client_id', 'service', 'provider'],
      partitioning: { type: 'DAY', field: 'ts', expirationDays: 30 },
    },
    live,
  );
  if (patch.action === 'patch') {
    console.log(`\n2. patch ${patch.table}: ${patch.fields.join(', ')} (tables.patch body):`);
    console.log(JSON.stringify(patch.patch, null, 2));
  }

  // Moving to hourly partitions cannot be patched: ensureTable returns this plan and applies it only when asked.
  const rebuild = planTableChanges({ ...eventsSpec, partitioning: { type: 'HOUR', field: 'ts' } }, live);
  if (rebuild.action === 'rebuild') {
    console.log(`\n3. rebuild ${rebuild.table}: ${rebuild.plan.reasons.join('; ')}`);
    for (const s of rebuild.plan.statements) console.log(`${s};`);
  }
  console.log(`\n4. contracts (tables.insert body):\n${JSON.stringify(toTableResource(contracts), null, 2)}`);
  const tiny = estimateBytesBilled(4096, 3);
  console.log(
    `\n5. estimateQuery would dry-run the report query and refuse it above ${budget.maxBytes} bytes or on a LOWER_BOUND estimate.` +
      `\n   Billing rounds up per table: 4 KiB read from 3 tables bills ${tiny.min} bytes (3 x 10 MiB).`,
  );
}

async function online(apiEndpoint: string): Promise<void> {
  const { BigQuery } = await import('@google-cloud/bigquery');
  // No credentials for a custom endpoint: google-auth-library's PassThroughClient adds no auth header.
  const { PassThroughClient } = await import('google-auth-library');
  const bigquery = new BigQuery({
    projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'dbkit-example',
    apiEndpoint,
    authClient: new PassThroughClient(),
  });
  for (const table of [events, contracts]) {
    const result = await ensureTable(bigquery, table);
    console.log(`ensureTable ${result.table} -> ${result.action}`);
  }
  try {
    const est = await estimateQuery(bigquery, sql, budget);
    console.log(
      `estimate: ${est.bytes} bytes processed, ${est.totalBytesBilled} billed, $${est.billedCostUsd.toFixed(6)} at $${est.pricePerTiB}/TiB (${est.accuracy}${est.cacheHit ? ', cached' : ''})`,
    );
    const run = await runGuarded(bigquery, sql, budget);
    console.log(
      `ran with maximumBytesBilled=${run.maximumBytesBilled}: ${run.rows.length} rows, ${run.totalBytesBilled} bytes billed, $${run.billedCostUsd?.toFixed(6)}${run.cacheHit ? ' (cache hit: free)' : ''}`,
    );
  } catch (e) {
    if (isDbkitError(e, 'E_BQ_BUDGET')) console.log(`refused by the budget: ${e.message}`);
    else throw e;
  }
}

const endpoint = process.env.BIGQUERY_API_ENDPOINT;
await (endpoint ? online(endpoint) : offline());
