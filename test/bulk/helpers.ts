import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import type { AnyPgDatabase } from '../../src/bulk/driver.js';

export interface Driver {
  name: 'postgres-js' | 'node-postgres' | 'pglite';
  db: AnyPgDatabase;
  close(): Promise<void>;
}

/** Runs DDL (possibly several statements) on a drizzle db. */
export async function ddl(db: AnyPgDatabase, ...statements: SQL[]): Promise<void> {
  for (const s of statements) await db.execute(s);
}

export function postgresJs(url: string): Driver & { sql: postgres.Sql } {
  const client = postgres(url, { max: 4, onnotice: () => {} });
  return {
    name: 'postgres-js',
    db: drizzlePostgres(client),
    sql: client,
    close: () => client.end({ timeout: 2 }),
  };
}

export function nodePostgres(url: string): Driver {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return { name: 'node-postgres', db: drizzlePg(pool), close: () => pool.end() };
}

export async function pglite(): Promise<Driver> {
  const client = new PGlite();
  await client.waitReady;
  return { name: 'pglite', db: drizzlePglite(client), close: () => client.close() };
}
