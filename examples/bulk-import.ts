/**
 * Bulk import of a CSV-like file with a terminal progress bar and resume after failure.
 *
 *   npx tsx examples/bulk-import.ts [file.csv]        # PGlite (embedded) by default
 *   DATABASE_URL=postgres://... npx tsx examples/bulk-import.ts
 *
 * Without a file it generates 50,000 lines, one of them invalid for the database (a negative quantity that a
 * CHECK constraint rejects). The import runs with `atomic: false`, so the committed batches stay, the error
 * says where to resume, and the second run continues from there after the line is fixed.
 *
 * Ctrl-C aborts the import through its AbortSignal: a COPY that is streaming is failed on the server, the
 * batch in flight is rolled back, and the message says which row to resume from.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { doublePrecision, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { BulkAbortedError, BulkWriteError, bulkInsert } from '../src/bulk/index.js';
import { openDemoContext } from './demo/context.js';

const products = pgTable('import_products', {
  sku: text('sku').primaryKey(),
  name: text('name').notNull(),
  qty: integer('qty').notNull(),
  price: doublePrecision('price').notNull(),
});

const LINES = 50_000;
const BAD_LINE = 31_337;

function generated(fixed: boolean): Readable {
  return Readable.from(
    (function* () {
      yield 'sku,name,qty,price\n';
      for (let i = 0; i < LINES; i++) {
        const qty = i === BAD_LINE && !fixed ? -5 : i % 100;
        yield `SKU-${i},Product ${i},${qty},${(i * 1.25).toFixed(2)}\n`;
      }
    })(),
  );
}

/** Parses lines into rows, skipping the first `skip` data rows (resume). */
async function* parse(input: Readable, skip: number) {
  let header = true;
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (header) {
      header = false;
      continue;
    }
    if (!line || n++ < skip) continue;
    const [sku = '', name = '', qty = '', price = ''] = line.split(',');
    yield { sku, name, qty: Number(qty), price: Number(price) };
  }
}

function bar(done: number, total: number, startedAt: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = Math.round(done / ((performance.now() - startedAt) / 1000));
  process.stdout.write(
    `\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString()}/${total.toLocaleString()} rows  ${rate.toLocaleString()} rows/s `,
  );
}

const ctx = await openDemoContext();
const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort(new Error('interrupted (Ctrl-C)')));
try {
  const db = ctx.db;
  console.log(`bulk import into ${ctx.postgresLabel}`);
  await db.execute(sql`drop table if exists import_products`);
  await db.execute(
    sql`create table import_products (sku text primary key, name text not null, qty integer not null check (qty >= 0), price float8 not null)`,
  );
  const file = process.argv[2];
  const open = (fixed: boolean) => (file ? createReadStream(file) : generated(fixed));
  const total = file ? Number.NaN : LINES;
  let resumeAt = 0;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const startedAt = performance.now();
    try {
      const r = await bulkInsert(db, products, parse(open(attempt > 1), resumeAt), {
        batchSize: 5_000,
        atomic: false,
        signal: interrupt.signal,
        onProgress: (p) => bar(resumeAt + p.done, Number.isNaN(total) ? resumeAt + p.done : total, startedAt),
      });
      console.log(
        `\n  done: ${r.rows.toLocaleString()} rows in ${r.batches} batches (${r.method}), ${Math.round(r.durationMs)} ms`,
      );
      break;
    } catch (e) {
      if (e instanceof BulkAbortedError) {
        console.log(
          `\n  aborted: ${e.progress.committedRows.toLocaleString()} rows committed; resume at row ${resumeAt + e.progress.firstUnwrittenRow}`,
        );
        process.exitCode = 130;
        break;
      }
      if (!(e instanceof BulkWriteError)) throw e;
      resumeAt += e.progress.firstUnwrittenRow;
      // e.sqlState / e.constraint say what the server rejected; the message carries no row values
      console.log(`\n  failed: ${e.message}`);
      console.log(
        `  ${e.progress.committedBatches} batches committed; fixing the input and resuming at row ${resumeAt}`,
      );
    }
  }
  const res = (await db.execute(sql`select count(*)::int as n from import_products`)) as
    | Array<{ n: number }>
    | { rows: Array<{ n: number }> };
  const counted = Array.isArray(res) ? res : res.rows;
  console.log(
    `  table now holds ${counted[0]?.n.toLocaleString()} rows (expected ${LINES.toLocaleString()})`,
  );
} finally {
  await ctx.close();
}
