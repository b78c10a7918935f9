/**
 * `dbkit doctor <url> --html report.html` opened in headless Chromium (Debian's, through playwright-core;
 * test/setup/chromium.ts installs it when missing): the page renders from a file:// URL without loading anything
 * else, shows the severity counts and every finding's object, the fix behind a Copy button lands on the
 * clipboard, and a screenshot is written to test-output/ (gitignored).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureChromium, launchChromium } from '../setup/chromium.js';
import { type SpawnedRedis, spawnRedis, waitFor } from '../setup/index.js';
import { usePgCluster } from '../setup/pg-cluster.js';
import { TEST_OUTPUT, useDoctorCli } from './doctor-cli-build.js';

const cluster = usePgCluster({ shared_preload_libraries: 'pg_stat_statements' });
const doctor = useDoctorCli();
let browser: Browser | undefined;
let skipReason: string | undefined;
let redisServer: SpawnedRedis;
const held: postgres.Sql[] = [];

beforeAll(async () => {
  const c = await ensureChromium();
  if ('skip' in c) skipReason = c.skip;
  else browser = await launchChromium(c.path);
  redisServer = await spawnRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
}, 20 * 60_000);
afterAll(async () => {
  await browser?.close();
  for (const h of held) await h.end({ timeout: 1 });
  await redisServer?.dispose();
});

/** A database with something for every section: slow queries, a blocking chain, index, space and sequence problems. */
async function troubledDatabase(): Promise<string> {
  const c = cluster();
  await c.admin('create database shop');
  const sql = c.sql('shop');
  await sql.unsafe(`
    create extension pg_stat_statements;
    create table orders (id serial primary key, customer int, note text);
    create table "<b>odd</b>" (x int);
    insert into orders (customer, note) select g % 100, 'n' || g from generate_series(1, 2000) g;
    create index orders_customer on orders (customer);
    create index orders_customer_id on orders (customer, id);
    create table audit (at timestamptz, what text) with (autovacuum_enabled = false);
    create table parent (id int primary key);
    create table child (id int primary key, parent_id int references parent (id));
    create sequence legacy_seq; create table legacy (id int default nextval('legacy_seq'));
    select setval('legacy_seq', 2140000000);
    select setval('orders_id_seq', 2000000000);`);
  for (let i = 0; i < 101; i++) await sql`select pg_sleep(${0.021})`;
  // A blocking chain on this database: an idle-in-transaction holder and a waiter.
  const holder = postgres(c.url('shop'), {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'holder' },
  });
  const waiter = postgres(c.url('shop'), {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'waiter' },
  });
  held.push(holder, waiter);
  const h = await holder.reserve();
  await h`begin`;
  await h`select * from orders where id = 1 for update`;
  void waiter`update orders set note = 'x' where id = 1`.execute().catch(() => {});
  await waitFor('the waiter to block', async () => {
    const [r] =
      await sql`select count(*)::int as n from pg_stat_activity where application_name = 'waiter' and wait_event_type = 'Lock'`;
    return (r?.n ?? 0) === 1;
  });
  return c.url('shop');
}

describe('dbkit doctor --html in headless Chromium', () => {
  it('renders the summary, every finding with its numbers and a fix that copies', {
    timeout: 120_000,
  }, async (ctx) => {
    if (!browser) ctx.skip(`Chromium unavailable: ${skipReason}`);
    const url = await troubledDatabase();
    const redisUrl = redisServer.url;
    // Make the Redis section non-trivial too: a key and an allkeys-* policy (a finding).
    const r = new Redis(redisUrl);
    await r.set('k', 'v');
    r.disconnect();

    const json = await doctor([url, '--redis', redisUrl, '--json']);
    // legacy_seq is at 99.65% of int: critical.
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout) as {
      summary: { critical: number; warning: number; info: number };
      sections: Array<{
        id: string;
        findings: Array<{ object: string; check: string; severity: string; sql?: string; command?: string }>;
      }>;
    };
    mkdirSync(TEST_OUTPUT, { recursive: true });
    const file = join(TEST_OUTPUT, 'doctor-report.html');
    const out = await doctor([url, '--redis', redisUrl, '--html', file]);
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/wrote .*doctor-report\.html: \d+ critical, \d+ warnings, \d+ info/);
    const html = readFileSync(file, 'utf8');
    // Self-contained: no external scripts, styles, fonts or images.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(/i);
    // Names are escaped: the table "<b>odd</b>" (no primary key) is text, not markup.
    expect(html).toContain('public.&quot;&lt;b&gt;odd&lt;/b&gt;&quot;');
    expect(html).not.toContain('<b>odd</b>');

    const context = await browser!.newContext({ viewport: { width: 1200, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write']).catch(() => {});
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (q) => requests.push(q.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const href = pathToFileURL(file).href;
    await page.goto(href);
    expect(await page.title()).toMatch(/^dbkit doctor: postgres:\/\/postgres@127\.0\.0\.1:\d+\/shop/);

    // Summary counts are the report's.
    for (const sev of ['critical', 'warning', 'info'] as const)
      expect(Number(await page.locator(`.count[data-severity="${sev}"] b`).textContent()), sev).toBe(
        report.summary[sev],
      );
    // The sections, in order.
    const ids = await page
      .locator('section[data-section]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-section')));
    expect(ids).toEqual(['activity', 'queries', 'indexes', 'space', 'sequences', 'maintenance', 'redis']);
    // Every finding's object is on the page, in a finding card of its check.
    const cards = await page.locator('article.finding').evaluateAll((els) =>
      els.map((e) => ({
        check: e.getAttribute('data-check'),
        object: e.querySelector('.object')?.textContent ?? '',
        visible: (e as unknown as { offsetHeight: number }).offsetHeight > 0,
      })),
    );
    for (const s of report.sections)
      for (const f of s.findings)
        expect(
          cards.some((c) => c.check === f.check && c.object === f.object && c.visible),
          `${f.check} ${f.object}`,
        ).toBe(true);
    for (const want of [
      'public.orders_customer',
      'public.legacy_seq',
      'public.orders_id_seq',
      'public.child.child_parent_id_fkey',
      'public.audit',
      'public."<b>odd</b>"',
    ])
      expect(cards.map((c) => c.object)).toContain(want);
    // The blocking tree and the top statements are there.
    await expect(page.locator('ul.tree li').first().textContent()).resolves.toMatch(
      /pid \d+ idle in transaction/,
    );
    expect(await page.locator('ul.tree ul li').count()).toBe(1);
    expect(await page.locator('#sec-queries table').first().textContent()).toMatch(/select pg_sleep\(\?\)/);

    // Copy a fix: the clipboard gets exactly the fix text.
    const card = page.locator('article.finding[data-check="duplicate_index"]').first();
    const fix = (await card.locator('.fix code').textContent())!;
    expect(fix).toBe('DROP INDEX CONCURRENTLY public.orders_customer;');
    await card.locator('button.copy').click();
    await expect.poll(() => card.locator('button.copy').getAttribute('data-copied')).toBe('yes');
    expect(
      await page.evaluate(() =>
        (globalThis as unknown as { getSelection(): { toString(): string } | null })
          .getSelection()
          ?.toString(),
      ),
    ).toBe(fix);
    const clip = await page.evaluate(() =>
      (
        globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
      ).navigator.clipboard
        .readText()
        .catch((e: Error) => `unreadable: ${e.message}`),
    );
    expect(clip).toBe(fix);

    await page.screenshot({ path: join(TEST_OUTPUT, 'doctor-report.png'), fullPage: true });
    expect(requests).toEqual([href]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
