import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';

export type Sql = postgres.Sql;

/** A database created for one test file (or one test) and dropped afterwards. */
export interface TestDatabase {
  readonly name: string;
  /** Connection URL for the new database (no password: the local server trusts loopback). */
  readonly url: string;
  /** A postgres.js client on the database, created on first use and ended by `drop()`. */
  sql(): Sql;
  drop(): Promise<void>;
}

function adminSql(): Sql {
  return postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
}

/** Creates a fresh database named `dbkit_t_<run>_<label>_<random>` on the test server. */
export async function createTestDatabase(label = 'db'): Promise<TestDatabase> {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20);
  const name = `dbkit_t_${inject('runId')}_${clean}_${randomBytes(3).toString('hex')}`;
  const admin = adminSql();
  try {
    await admin`create database ${admin(name)}`;
  } finally {
    await admin.end({ timeout: 2 });
  }
  const u = new URL(inject('pgAdminUrl'));
  u.pathname = `/${name}`;
  const url = u.toString();
  let client: Sql | undefined;
  return {
    name,
    url,
    sql() {
      client ??= postgres(url, { max: 5, onnotice: () => {} });
      return client;
    },
    async drop() {
      await client?.end({ timeout: 2 });
      client = undefined;
      const a = adminSql();
      try {
        await a`drop database if exists ${a(name)} with (force)`;
      } finally {
        await a.end({ timeout: 2 });
      }
    },
  };
}

/**
 * Registers beforeAll/afterAll hooks that create a database for this test file and drop it.
 *
 * ```ts
 * const db = useTestDatabase('bulk');
 * it('...', async () => { await db.sql()`select 1`; });
 * ```
 */
export function useTestDatabase(label = 'db'): TestDatabase {
  let current: TestDatabase | undefined;
  beforeAll(async () => {
    current = await createTestDatabase(label);
  });
  afterAll(async () => {
    await current?.drop();
  });
  const get = () => {
    if (!current)
      throw new Error('useTestDatabase(): the database is created in beforeAll; use it inside tests');
    return current;
  };
  return {
    get name() {
      return get().name;
    },
    get url() {
      return get().url;
    },
    sql: () => get().sql(),
    drop: () => get().drop(),
  };
}

/** Terminates a Postgres backend from outside (as an operator or a failover would). */
export async function terminateBackend(pid: number): Promise<boolean> {
  const a = adminSql();
  try {
    const [row] = await a<{ ok: boolean }[]>`select pg_terminate_backend(${pid}) as ok`;
    return row?.ok ?? false;
  } finally {
    await a.end({ timeout: 2 });
  }
}

/** Terminates every backend connected to `database` except the caller's. */
export async function terminateDatabaseBackends(database: string): Promise<number> {
  const a = adminSql();
  try {
    const rows = await a`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${database} and pid <> pg_backend_pid()`;
    return rows.length;
  } finally {
    await a.end({ timeout: 2 });
  }
}

/** The admin URL with the database path replaced (for tests that need a URL variant). */
export function databaseUrl(database: string, patch: (u: URL) => void = () => {}): string {
  const u = new URL(inject('pgAdminUrl'));
  u.pathname = `/${database}`;
  patch(u);
  return u.toString();
}
