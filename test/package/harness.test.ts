import { execFileSync } from 'node:child_process';
import postgres from 'postgres';
import { describe, expect, inject, it } from 'vitest';
import { createTestDatabase, keyPrefix, spawnRedis, useTestDatabase } from '../setup/index.js';

const db = useTestDatabase('harness');

describe('test harness', () => {
  it('gives each file its own fresh database', async () => {
    const [row] = await db.sql()`select current_database() as name, count(*)::int as tables
      from information_schema.tables where table_schema = 'public'`;
    expect(row?.name).toBe(db.name);
    expect(row?.name).toMatch(new RegExp(`^dbkit_t_${inject('runId')}_harness_`));
    expect(row?.tables).toBe(0);
  });

  it('drops a created database', async () => {
    const tmp = await createTestDatabase('dropme');
    await tmp.sql()`create table t (id int)`;
    await tmp.drop();
    const admin = postgres(inject('pgAdminUrl'), { max: 1 });
    const rows = await admin`select 1 from pg_database where datname = ${tmp.name}`;
    await admin.end();
    expect(rows.length).toBe(0);
  });

  it('spawns a redis-server that can be paused, stopped and restarted', async () => {
    const r = await spawnRedis();
    const cli = (...a: string[]) =>
      execFileSync('redis-cli', ['-p', String(r.port), ...a], { timeout: 2000 })
        .toString()
        .trim();
    try {
      const k = `${keyPrefix()}k`;
      expect(cli('SET', k, 'v')).toBe('OK');
      r.pause();
      expect(() => execFileSync('redis-cli', ['-p', String(r.port), 'PING'], { timeout: 500 })).toThrow();
      r.resume();
      expect(cli('GET', k)).toBe('v');
      await r.stop();
      expect(() => execFileSync('redis-cli', ['-p', String(r.port), 'PING'], { timeout: 1000 })).toThrow();
      await r.start();
      expect(cli('GET', k)).toBe(''); // a restarted server keeps nothing
    } finally {
      await r.dispose();
    }
  });

  it('provides a 3-master Redis Cluster', () => {
    const nodes = inject('redisClusterNodes');
    expect(nodes).toHaveLength(3);
    const info = execFileSync('redis-cli', ['-p', String(nodes[0]!.port), 'CLUSTER', 'INFO']).toString();
    expect(info).toContain('cluster_state:ok');
    expect(info).toContain('cluster_size:3');
  });

  it('provides the Pub/Sub and Firestore emulators', async () => {
    for (const host of [inject('pubsubEmulatorHost'), inject('firestoreEmulatorHost')]) {
      const res = await fetch(`http://${host}/`);
      expect(res.ok).toBe(true);
    }
  });
});
