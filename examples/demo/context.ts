import { redactUrl } from '../../src/internal/redact.js';

/** What every demo section gets. */
export interface DemoContext {
  /** 'pglite' (embedded, default) or 'postgres' (DATABASE_URL). */
  postgresKind: 'pglite' | 'postgres';
  postgresLabel: string;
  /** A drizzle database: drizzle-orm/pglite or drizzle-orm/postgres-js. */
  // biome-ignore lint/suspicious/noExplicitAny: both drizzle flavours are accepted by the sections
  db: any;
  /** The postgres.js client when postgresKind is 'postgres'. */
  sql?: import('postgres').Sql;
  /** REDIS_URL when set; otherwise sections use the in-memory cache store. */
  redisUrl?: string;
  redisLabel: string;
  close(): Promise<void>;
}

export async function openDemoContext(): Promise<DemoContext> {
  const closers: Array<() => Promise<unknown>> = [];
  const redisUrl = process.env.REDIS_URL;
  const base = {
    ...(redisUrl ? { redisUrl } : {}),
    redisLabel: redisUrl ? `Redis at ${redactUrl(redisUrl)}` : 'in-memory store (set REDIS_URL for Redis)',
    close: async () => {
      for (const c of closers.reverse()) await c();
    },
  };
  if (process.env.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const sql = postgres(process.env.DATABASE_URL, { onnotice: () => {} });
    closers.push(() => sql.end({ timeout: 5 }));
    return {
      ...base,
      postgresKind: 'postgres',
      postgresLabel: redactUrl(process.env.DATABASE_URL),
      db: drizzle(sql),
      sql,
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const client = new PGlite();
  closers.push(() => client.close());
  return {
    ...base,
    postgresKind: 'pglite',
    postgresLabel: 'PGlite (embedded; set DATABASE_URL for a real server)',
    db: drizzle(client),
  };
}
