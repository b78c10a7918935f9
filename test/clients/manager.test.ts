import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import { Cluster } from 'ioredis';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type ClientManager,
  createClientManager,
  getClientManager,
  isDbkitError,
  resolveClientManagerConfig,
} from '../../src/clients/index.js';
import { ConfigError } from '../../src/errors.js';
import { createTestDatabase, databaseUrl, useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('clients');
const managers: ClientManager[] = [];
const track = (m: ClientManager) => {
  managers.push(m);
  return m;
};
afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 3000 })));
});

describe('config resolution', () => {
  const env = {
    DATABASE_URL: 'postgres://env@h1/db',
    DATABASE_REPLICA_URLS: 'postgres://r@h2/db, postgres://r@h3/db',
    REDIS_URL: 'redis://h4:6379',
    REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001',
    GOOGLE_CLOUD_PROJECT: 'env-project',
    PUBSUB_EMULATOR_HOST: 'localhost:8085',
    FIRESTORE_EMULATOR_HOST: 'localhost:8086',
    BIGQUERY_API_ENDPOINT: 'http://localhost:9050',
  };

  it('reads the environment for what the object leaves out and applies pool defaults', () => {
    const c = resolveClientManagerConfig({ env, pool: { max: 3 } });
    expect(c.databaseUrl).toBe('postgres://env@h1/db');
    expect(c.replicaUrls).toEqual(['postgres://r@h2/db', 'postgres://r@h3/db']);
    expect(c.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ]);
    expect(c.projectId).toBe('env-project');
    expect(c.pubsubEmulatorHost).toBe('localhost:8085');
    expect(c.firestoreEmulatorHost).toBe('localhost:8086');
    expect(c.bigqueryApiEndpoint).toBe('http://localhost:9050');
    expect(c.pool).toEqual({
      max: 3,
      idle_timeout: 30,
      max_lifetime: 1800,
      connect_timeout: 10,
      application_name: 'dbkit',
    });
  });

  it('lets object values win over the environment, and a Redis URL in the object drops env cluster nodes', () => {
    const c = resolveClientManagerConfig({
      env,
      databaseUrl: 'postgres://obj@h/db',
      replicaUrls: [],
      redisUrl: 'redis://obj:6379',
      projectId: 'obj-project',
    });
    expect(c.databaseUrl).toBe('postgres://obj@h/db');
    expect(c.replicaUrls).toEqual([]);
    expect(c.redisUrl).toBe('redis://obj:6379');
    expect(c.redisClusterNodes).toBeUndefined();
    expect(c.projectId).toBe('obj-project');
  });

  it('rejects bad URLs and pool values with a ConfigError that does not show the password', () => {
    const bad = () => resolveClientManagerConfig({ env: {}, databaseUrl: 'mysql://u:Hunter2pw@h/db' });
    expect(bad).toThrow(ConfigError);
    expect(() => resolveClientManagerConfig({ env: {}, pool: { max: 0 } })).toThrow(/pool.max/);
    expect(() => resolveClientManagerConfig({ env: { REDIS_CLUSTER_NODES: 'nohostport' } })).toThrow(
      /REDIS_CLUSTER_NODES/,
    );
    try {
      resolveClientManagerConfig({ env: {}, redisUrl: 'redis://:Hunter2pw@h:notaport' });
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
      expect(String((e as Error).message)).not.toContain('Hunter2pw');
    }
  });

  // postgres.js and ioredis both decodeURIComponent the password and throw a bare URIError on a lone `%`:
  // the manager says which URL is wrong, as a ConfigError, without the password.
  const undecodable = ['Hunter2%zz', 'Hunter2pw100%', '%Hunter2pw'];
  const urlFields: Record<string, (pw: string) => Parameters<typeof resolveClientManagerConfig>[0]> = {
    databaseUrl: (pw) => ({ env: {}, databaseUrl: `postgres://u:${pw}@h/db` }),
    'replicaUrls[0]': (pw) => ({ env: {}, replicaUrls: [`postgres://u:${pw}@h/db`] }),
    DATABASE_URL: (pw) => ({ env: { DATABASE_URL: `postgresql://u:${pw}@h/db` } }),
    redisUrl: (pw) => ({ env: {}, redisUrl: `redis://:${pw}@h:6379` }),
  };
  it.each(Object.keys(urlFields).flatMap((f) => undecodable.map((pw) => [f, pw])))(
    'rejects %s with a password %s that is not percent-encoded as a ConfigError naming the field',
    (field, pw) => {
      try {
        resolveClientManagerConfig(urlFields[field]!(pw));
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
        const text = `${(e as Error).message} ${JSON.stringify((e as ConfigError).context)}`;
        expect(text).toContain(field === 'DATABASE_URL' ? 'databaseUrl' : field);
        expect(text).toContain('%25');
        expect(text).not.toContain('Hunter2');
      }
    },
  );

  // postgres.js takes several hosts in one URL (`h1:5432,h2:5433`, failover with target_session_attrs);
  // WHATWG URL cannot parse that authority, so the manager refused it as "not a valid URL". And there
  // postgres.js splits the authority at the first `@`: an unencoded `@` in the password becomes part of the
  // first host name (the rest of the password then shows up in DNS errors).
  it('accepts a multi-host Postgres URL, and refuses one whose password has an unencoded @', () => {
    const c = resolveClientManagerConfig({
      env: {},
      databaseUrl: 'postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=primary',
      replicaUrls: ['postgresql://u@h3,h4/db'],
    });
    expect(c.databaseUrl).toBe('postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=primary');
    expect(c.secrets).toContain('pw');
    try {
      resolveClientManagerConfig({ env: {}, databaseUrl: 'postgres://u:Hunter2@pw@h1:5432,h2:5433/db' });
      expect.unreachable();
    } catch (e) {
      expect(isDbkitError(e, 'E_CONFIG')).toBe(true);
      expect((e as Error).message).toContain('%40');
      expect(`${(e as Error).message} ${JSON.stringify((e as ConfigError).context)}`).not.toContain(
        'Hunter2',
      );
    }
  });

  it('refuses a getter whose backend is not configured', () => {
    const m = track(createClientManager({ env: {} }));
    expect(() => m.sql()).toThrow(ConfigError);
    expect(() => m.redis()).toThrow(/No Redis configured/);
  });
});

describe('lazy cached clients', () => {
  it('creates nothing until asked', () => {
    const m = track(createClientManager({ env: {}, databaseUrl: db.url }));
    expect(m.stats()).toEqual({
      created: { postgres: 0, redis: 0, bigquery: 0, pubsub: 0, firestore: 0, storage: 0, topic: 0 },
      closed: false,
    });
  });

  it('1,000 concurrent first calls create exactly one client of each kind', async () => {
    const m = track(
      createClientManager({
        env: {},
        databaseUrl: db.url,
        redisUrl: inject('redisUrl'),
        projectId: 'dbkit-test',
        pubsubEmulatorHost: inject('pubsubEmulatorHost'),
        firestoreEmulatorHost: inject('firestoreEmulatorHost'),
        bigqueryApiEndpoint: 'http://127.0.0.1:1',
      }),
    );
    const calls = Array.from({ length: 1000 }, async (_, i) => {
      await Promise.resolve();
      const sql = m.sql();
      const r = m.redis();
      const t = m.topic(`t-${i % 2}`);
      return { sql, r, t, ps: m.pubsub(), fs: m.firestore(), bq: m.bigquery(), st: m.storage(), d: m.db() };
    });
    const got = await Promise.all(calls);
    expect(new Set(got.map((g) => g.sql)).size).toBe(1);
    expect(new Set(got.map((g) => g.r)).size).toBe(1);
    expect(new Set(got.map((g) => g.d)).size).toBe(1);
    expect(new Set(got.map((g) => g.t)).size).toBe(2);
    expect(m.stats().created).toEqual({
      postgres: 1,
      redis: 1,
      bigquery: 1,
      pubsub: 1,
      firestore: 1,
      storage: 1,
      topic: 2,
    });
    expect(await m.sql()`select 1 as one`).toEqual([{ one: 1 }]);
    expect(await m.redis().ping()).toBe('PONG');
    expect(m.bigquery().apiEndpoint).toBe('http://127.0.0.1:1');
  });

  it('applies the pool options to the postgres.js client', async () => {
    const m = track(
      createClientManager({ env: {}, databaseUrl: db.url, pool: { application_name: 'dbkit-pool-test' } }),
    );
    const [row] = await m.sql()<{ application_name: string }[]>`
      select application_name from pg_stat_activity where pid = pg_backend_pid()`;
    expect(row?.application_name).toBe('dbkit-pool-test');
    expect(m.sql().options.max).toBe(10);
  });

  it('db() is drizzle over the same pool, one instance per schema', async () => {
    const items = pgTable('items', { id: serial('id').primaryKey(), name: text('name').notNull() });
    const m = track(createClientManager({ env: {}, databaseUrl: db.url }));
    await m.sql()`create table items (id serial primary key, name text not null)`;
    const d = m.db({ items });
    expect(m.db({ items })).not.toBe(d); // a different schema object is a different instance
    expect(m.db()).toBe(m.db());
    await d.insert(items).values({ name: 'a' });
    expect(await d.select().from(items)).toEqual([{ id: 1, name: 'a' }]);
    expect(m.stats().created.postgres).toBe(1);
  });

  it('routes drizzle reads to the replicas and writes to the primary', async () => {
    const replica = await createTestDatabase('replica');
    try {
      const t = pgTable('kv', { k: text('k').primaryKey(), v: text('v') });
      const m = track(createClientManager({ env: {}, databaseUrl: db.url, replicaUrls: [replica.url] }));
      await m.sql()`create table kv (k text primary key, v text)`;
      await replica.sql()`create table kv (k text primary key, v text)`;
      await replica.sql()`insert into kv values ('where', 'replica')`;
      const d = m.db();
      await d.insert(t).values({ k: 'where', v: 'primary' });
      expect(await d.select().from(t)).toEqual([{ k: 'where', v: 'replica' }]);
      expect(await m.sql()`select v from kv`).toEqual([{ v: 'primary' }]);
      expect(m.stats().created.postgres).toBe(2);
      const h = await m.health();
      expect(Object.keys(h.checks).sort()).toEqual(['postgres', 'postgres:replica0']);
      await m.closeAll();
    } finally {
      await replica.drop();
    }
  });

  it('redis() returns a Cluster when cluster nodes are configured', async () => {
    const m = track(createClientManager({ env: {}, redisClusterNodes: inject('redisClusterNodes') }));
    const c = m.redis();
    expect(c).toBeInstanceOf(Cluster);
    await c.set('{dbkit}:cluster-check', 'ok');
    expect(await c.get('{dbkit}:cluster-check')).toBe('ok');
  });

  it('getClientManager returns one process-wide manager', () => {
    const a = getClientManager({ env: {}, databaseUrl: db.url });
    expect(getClientManager()).toBe(a);
    track(a);
  });
});

describe('database names in URLs', () => {
  it('connects to a database whose name needs percent-encoding', async () => {
    const name = `dbkit odd "db" ü ${Math.random().toString(36).slice(2, 8)}`;
    const admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
    await admin`create database ${admin(name)}`;
    try {
      const url = databaseUrl(encodeURIComponent(name));
      expect(url).toContain('%20');
      const m = track(createClientManager({ databaseUrl: url, env: {} }));
      const [row] = await m.sql()<{ db: string }[]>`select current_database() as db`;
      expect(row?.db).toBe(name);
      await m.closeAll({ timeoutMs: 3000 });
    } finally {
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end({ timeout: 2 });
    }
  });
});
