/**
 * monitorPool overhead: the same `select 1` (and a batch of 20 concurrent ones) through the monitored
 * client vs the raw postgres.js client on the same server, interleaved in one run.
 */
import postgres from 'postgres';
import { monitorPool } from '../src/monitoring/index.js';
import type { BenchReport } from './harness.js';
import { benchDatabase } from './services.js';

export default async function (report: BenchReport): Promise<void> {
  const db = await benchDatabase('monitoring');
  const raw = postgres(db.url, { max: 4, onnotice: () => {} });
  const other = postgres(db.url, { max: 4, onnotice: () => {} });
  const mon = monitorPool(other, { name: 'bench' });
  try {
    await report.group({
      title: 'select 1 x 200 sequential',
      unit: 'queries',
      rounds: 15,
      cases: [
        {
          name: 'monitorPool(sql)',
          units: 200,
          fn: async () => {
            for (let i = 0; i < 200; i++) await mon.sql`select 1`;
          },
        },
        {
          name: 'raw postgres.js',
          baseline: true,
          units: 200,
          fn: async () => {
            for (let i = 0; i < 200; i++) await raw`select 1`;
          },
        },
      ],
    });
    await report.group({
      title: 'select 1 x 200 concurrent (max 4)',
      unit: 'queries',
      rounds: 15,
      cases: [
        {
          name: 'monitorPool(sql)',
          units: 200,
          fn: () => Promise.all(Array.from({ length: 200 }, () => mon.sql`select 1`)),
        },
        {
          name: 'raw postgres.js',
          baseline: true,
          units: 200,
          fn: () => Promise.all(Array.from({ length: 200 }, () => raw`select 1`)),
        },
      ],
    });
  } finally {
    await raw.end({ timeout: 2 });
    await other.end({ timeout: 2 });
    await db.drop();
  }
}
