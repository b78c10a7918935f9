import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { freePort, useTestDatabase } from '../setup/index.js';
import { usePgCluster } from '../setup/pg-cluster.js';
import { TEST_OUTPUT, useDoctorCli } from './doctor-cli-build.js';

const db = useTestDatabase('mondoctor');
const cluster = usePgCluster({});
const doctor = useDoctorCli();
const PASSWORD = 'Sup3rS3cretPw';

/** The test servers trust loopback, so a password in the URL is accepted and never checked. */
const withPassword = (url: string) => {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
};

interface JsonFinding {
  check: string;
  severity: string;
  object: string;
  value?: number;
  threshold?: number;
  unit?: string;
  sql?: string;
}

describe('dbkit doctor (built CLI)', () => {
  it('exits 0 on a healthy database of a well-configured server, JSON without the password', async () => {
    await cluster().admin('create database healthy');
    const r = await doctor([withPassword(cluster().url('healthy')), '--json']);
    expect(r.stderr).toMatch(/check duplicate_index/);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.exitCode).toBe(0);
    expect(report.sections.map((s: { id: string }) => s.id)).toEqual([
      'activity',
      'queries',
      'indexes',
      'space',
      'sequences',
      'maintenance',
    ]);
    expect(report.database).toBe('healthy');
    expect(report.activity).toMatchObject({ database: 'healthy', sessions: 0, otherDatabases: [] });
    // pg_stat_statements is not preloaded there: an info finding that says how, not a warning.
    expect(report.sections[1].findings).toContainEqual(
      expect.objectContaining({
        check: 'query_stats',
        severity: 'info',
        sql: expect.stringMatching(/^ALTER SYSTEM/),
      }),
    );
    expect(report.target).toContain(':***@');
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('exits 1 with warnings: sections, numbers and fixes in the text report, with Redis', async () => {
    await db.sql().unsafe(`create table t (id int primary key, a int, b int);
      create index t_a on t (a); create index t_a_b on t (a, b);
      create sequence s; create table u (id int default nextval('s') primary key);
      select setval('s', 2100000000);`);
    const r = await doctor([withPassword(db.url), '--redis', inject('redisUrl')]);
    expect(r.code).toBe(1);
    for (const name of [
      'Connections & activity',
      'Queries',
      'Indexes & constraints',
      'Sequences',
      'Maintenance',
      'Redis',
    ])
      expect(r.stdout).toContain(`== ${name} ==`);
    expect(r.stdout).toMatch(/WARN {2}duplicate_index {2}public\.t_a\n/);
    expect(r.stdout).toContain('fix: DROP INDEX CONCURRENTLY public.t_a;');
    expect(r.stdout).toMatch(
      /WARN {2}sequence_overflow {2}public\.s\n.*without OWNED BY.*\n {8}value: 97\.8% \(threshold 90\.0%\)/,
    );
    expect(r.stdout).toContain('fix: ALTER TABLE public.u ALTER COLUMN id TYPE bigint;');
    expect(r.stdout).toMatch(/ok {4}sessions {2}dbkit_t_/);
    expect(r.stdout).toMatch(/== Redis ==\n(?: {2}.*\n)* {2}ok {4}redis/);
    expect(r.stdout).toMatch(/WARNINGS: 0 critical, \d+ warnings, \d+ info\n$/);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('gives value, threshold and unit in --json for every finding a threshold decides', async () => {
    const r = await doctor([db.url, '--json']);
    const report = JSON.parse(r.stdout) as { sections: Array<{ findings: JsonFinding[] }> };
    const findings = report.sections.flatMap((s) => s.findings);
    const decided = new Set([
      'connections',
      'long_running_query',
      'idle_in_transaction',
      'unused_index',
      'missing_index',
      'cache_hit_ratio',
      'relation_size',
      'table_bloat',
      'index_bloat',
      'sequence_overflow',
      'transaction_id_wraparound',
      'stats_reset',
      'slow_query',
    ]);
    const seen = findings.filter((f) => decided.has(f.check));
    expect(seen.map((f) => f.check)).toEqual(expect.arrayContaining(['connections', 'sequence_overflow']));
    for (const f of seen) {
      expect(typeof f.value, `${f.check} ${f.object}`).toBe('number');
      expect(typeof f.threshold, `${f.check} ${f.object}`).toBe('number');
      expect(typeof f.unit, `${f.check} ${f.object}`).toBe('string');
    }
    // Small tables are not listed for capacity planning.
    expect(findings.filter((f) => f.check === 'relation_size')).toEqual([]);
  });

  it('exits 2 when Postgres is unreachable, still without the password', async () => {
    const port = await freePort();
    const r = await doctor([`postgres://app:${PASSWORD}@127.0.0.1:${port}/nope`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/FAIL {2}connection/);
    expect(r.stdout).toContain(`app:***@127.0.0.1:${port}`);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('checks a database whose name needs percent-encoding in the URL', async () => {
    // postgres.js does not decode the URL path (porsager/postgres#1057 is the same gap for hosts).
    const name = 'Odd "db" name%';
    await cluster().admin(`create database "${name.replaceAll('"', '""')}"`);
    const r = await doctor([cluster().url(encodeURIComponent(name)), '--json']);
    expect(r.stdout).not.toMatch(/does not exist/);
    expect(JSON.parse(r.stdout).database).toBe(name);
  });

  it('keeps a password with an unencoded @ and : out of text, --json and --html', async () => {
    // ioredis and postgres.js both take `p@ss:w` as the password of `redis://:p@ss:w@host`.
    const secret = 'Sup3r@Secret:Pw';
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    const args = [
      `postgres://app:${secret}@127.0.0.1:${pgPort}/nope`,
      '--redis',
      `redis://:${secret}@127.0.0.1:${redisPort}`,
    ];
    mkdirSync(TEST_OUTPUT, { recursive: true });
    const html = join(TEST_OUTPUT, 'doctor-unencoded-password.html');
    for (const mode of [[], ['--json'], ['--html', html]]) {
      const r = await doctor([...args, ...mode]);
      expect(r.code, mode.join(' ')).toBe(2);
      const page = mode[0] === '--html' ? readFileSync(html, 'utf8') : '';
      expect(r.stdout + page, mode.join(' ')).toContain(`app:***@127.0.0.1:${pgPort}`);
      for (const part of ['Secret', 'Pw'])
        expect(r.stdout + r.stderr + page, mode.join(' ')).not.toContain(part);
    }
  });

  it('exits 64 on usage errors and 73 when the HTML file cannot be written, leaving no file', async () => {
    expect((await doctor([])).code).toBe(64);
    const both = await doctor([db.url, '--json', '--html', 'x.html']);
    expect(both.code).toBe(64);
    expect(both.stderr).toMatch(/exclusive/);
    mkdirSync(TEST_OUTPUT, { recursive: true });
    const missingDir = join(TEST_OUTPUT, 'no-such-dir');
    const r = await doctor([db.url, '--html', join(missingDir, 'report.html')]);
    expect(r.code).toBe(73);
    expect(r.stderr).toMatch(/cannot write/);
    expect(existsSync(missingDir)).toBe(false);
    expect(readdirSync(TEST_OUTPUT).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
