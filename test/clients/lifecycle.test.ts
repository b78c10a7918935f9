import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  ClientClosedError,
  type ClientManager,
  type ClientsCloseResult,
  clientsChannels,
  createClientManager,
} from '../../src/clients/index.js';
import { spawnRedis, useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('clients_life');
const managers: ClientManager[] = [];
const make = (config: Parameters<typeof createClientManager>[0]) => {
  const m = createClientManager({ env: {}, ...config });
  managers.push(m);
  return m;
};
afterAll(async () => {
  await Promise.all(managers.map((m) => m.closeAll({ timeoutMs: 2000 })));
});

describe('health()', () => {
  it('reports pass with latencies for every client created so far, and nothing before', async () => {
    const redis = await spawnRedis();
    try {
      const m = make({ databaseUrl: db.url, redisUrl: redis.url });
      expect(await m.health()).toEqual({ status: 'pass', checks: {} });
      m.sql();
      m.redis();
      const h = await m.health();
      expect(h.status).toBe('pass');
      expect(Object.keys(h.checks).sort()).toEqual(['postgres', 'redis']);
      for (const c of Object.values(h.checks)) {
        expect(c.status).toBe('pass');
        expect(c.latencyMs).toBeGreaterThanOrEqual(0);
      }
      await m.closeAll();
    } finally {
      await redis.dispose();
    }
  });

  it('reports warn when a check answers slower than warnLatencyMs', async () => {
    const m = make({ databaseUrl: db.url });
    await m.sql()`select 1`;
    const h = await m.health({ warnLatencyMs: -1 });
    expect(h).toEqual({ status: 'warn', checks: { postgres: expect.objectContaining({ status: 'warn' }) } });
    expect(h.checks.postgres?.error).toBeUndefined();
  });

  it('fails a hung Redis within the timeout instead of hanging', async () => {
    const redis = await spawnRedis();
    const m = make({ databaseUrl: db.url, redisUrl: redis.url, logger: { warn: () => {} } });
    try {
      await m.redis().ping();
      m.sql();
      redis.pause();
      const h = await m.health({ timeoutMs: 300 });
      expect(h.status).toBe('fail');
      expect(h.checks.postgres?.status).toBe('pass');
      expect(h.checks.redis?.status).toBe('fail');
      expect(h.checks.redis?.error).toMatch(/did not finish within 300 ms/);
    } finally {
      redis.resume();
      await m.closeAll({ timeoutMs: 2000 });
      await redis.dispose();
    }
  });
});

describe('closeAll()', () => {
  it('closes in order, is idempotent, and makes every getter throw ClientClosedError', async () => {
    const redis = await spawnRedis();
    try {
      const m = make({ databaseUrl: db.url, redisUrl: redis.url });
      await m.sql()`select 1`;
      await m.redis().ping();
      const seen: ClientsCloseResult[] = [];
      const onClose = (msg: unknown) => seen.push(msg as ClientsCloseResult);
      subscribe(clientsChannels.close, onClose);
      const first = m.closeAll({ timeoutMs: 5000 });
      expect(m.stats().closed).toBe(true);
      const second = m.closeAll();
      expect(second).toBe(first);
      const r = await first;
      unsubscribe(clientsChannels.close, onClose);
      expect(r.closed).toEqual(['postgres', 'redis']);
      expect(r.errors).toEqual([]);
      expect(r.timedOut).toBe(false);
      expect(seen).toEqual([r]);
      for (const get of [
        () => m.sql(),
        () => m.db(),
        () => m.redis(),
        () => m.pubsub(),
        () => m.topic('x'),
        () => m.firestore(),
        () => m.bigquery(),
        () => m.storage(),
      ]) {
        expect(get).toThrow(ClientClosedError);
      }
      const h = await m.health();
      expect(h.status).toBe('fail');
      expect(h.checks.postgres?.error).toMatch(/after closeAll/);
    } finally {
      await redis.dispose();
    }
  });

  it('ends the Postgres pool and quits Redis (server sees the connections go)', async () => {
    const redis = await spawnRedis();
    try {
      const m = make({ databaseUrl: db.url, redisUrl: redis.url, pool: { application_name: 'dbkit-close' } });
      const sql = m.sql();
      await Promise.all([sql`select pg_sleep(0.05)`, sql`select pg_sleep(0.05)`]);
      const r = m.redis();
      await r.client('SETNAME', 'dbkit-close');
      await m.closeAll();
      const left = await db.sql()`
        select count(*)::int as n from pg_stat_activity where application_name = 'dbkit-close'`;
      expect(left).toEqual([{ n: 0 }]);
      expect(r.status).toBe('end');
      await expect(sql`select 1`).rejects.toThrow();
    } finally {
      await redis.dispose();
    }
  });

  it('is bounded by timeoutMs when a server hangs, and force-disconnects it', async () => {
    const redis = await spawnRedis();
    const m = make({ databaseUrl: db.url, redisUrl: redis.url, logger: { warn: () => {} } });
    try {
      await m.redis().ping();
      await m.sql()`select 1`;
      redis.pause();
      const r = await m.closeAll({ timeoutMs: 500 });
      expect(r.closed).toEqual(['postgres']);
      expect(r.errors.map((e) => e.step)).toEqual(['redis']);
      expect(r.timedOut).toBe(true);
      expect(r.durationMs).toBeLessThan(5000);
    } finally {
      redis.resume();
      await redis.dispose();
    }
  });
});

describe('passwords stay out of errors and logs', () => {
  const secret = 'Sup3rSecretPw';

  it('a Postgres login with a password that is refused: query error and health carry no password', async () => {
    // The local server trusts loopback, so a password is never checked; a role that may not log in is refused
    // at authentication (SQLSTATE 28000) with the password still in the URL.
    const role = `dbkit_nologin_${Math.random().toString(36).slice(2, 8)}`;
    const admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
    await admin`create role ${admin(role)} nologin password ${admin.unsafe(`'${secret}'`)}`;
    try {
      const u = new URL(db.url);
      u.username = role;
      u.password = secret;
      const m = make({ databaseUrl: u.toString(), pool: { connect_timeout: 3 } });
      const err = await m.sql()`select 1`.then(() => undefined).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('28000');
      expect((err as Error).message).toMatch(/not permitted to log in/);
      expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain(secret);
      const h = await m.health({ timeoutMs: 4000 });
      expect(h.status).toBe('fail');
      expect(h.checks.postgres?.error).toMatch(/not permitted/);
      expect(JSON.stringify(h)).not.toContain(secret);
      const r = await m.closeAll({ timeoutMs: 2000 });
      expect(JSON.stringify(r)).not.toContain(secret);
    } finally {
      await admin`drop role if exists ${admin(role)}`;
      await admin.end({ timeout: 2 });
    }
  });

  it('a Redis with requirepass and a wrong password: health and warnings carry no password', async () => {
    const redis = await spawnRedis();
    const lines: string[] = [];
    const setup = new Redis(redis.url);
    await setup.config('SET', 'requirepass', 'the-right-one');
    setup.disconnect();
    try {
      const m = make({
        redisUrl: `redis://default:${secret}@127.0.0.1:${redis.port}`,
        redis: { maxRetriesPerRequest: 0, retryStrategy: () => null },
        logger: { warn: (l) => lines.push(l) },
      });
      const err = await m
        .redis()
        .ping()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      const h = await m.health({ timeoutMs: 1000 });
      expect(h.status).toBe('fail');
      expect(lines.join('\n')).toMatch(/WRONGPASS|NOAUTH|invalid/i);
      expect(JSON.stringify({ h, lines, e: (err as Error).message })).not.toContain(secret);
      const r = await m.closeAll({ timeoutMs: 1000 });
      expect(JSON.stringify(r)).not.toContain(secret);
    } finally {
      await redis.dispose();
    }
  });
});
