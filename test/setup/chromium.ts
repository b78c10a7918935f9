/**
 * Headless Chromium for tests that render a page (the doctor's HTML report). Uses Debian's `chromium` package
 * (/usr/bin/chromium) driven by playwright-core; when it is missing, installs it with apt-get (as root, or
 * through passwordless sudo), since CI runs only `npm ci && npm test` on the machine. When installation is
 * impossible the caller gets a reason to skip with, never a silent pass.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';

const run = promisify(execFile);
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags for a sandboxed test machine: no GPU, and no background networking (the machine has no network, and
 * Chromium otherwise keeps retrying Google's hosts).
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

async function apt(prefix: string[], args: string[]): Promise<{ ok: boolean; out: string }> {
  const [cmd, ...rest] = [...prefix, 'apt-get', ...args];
  try {
    const r = await run(cmd!, rest, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 15 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: true, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${x.stdout ?? ''}${x.stderr ?? ''}${x.message}` };
  }
}

let installing: Promise<{ path: string } | { skip: string }> | undefined;

/**
 * Makes sure Debian's Chromium is installed: returns its path, or `{ skip }` with the reason it cannot be.
 * Installing takes a minute or two; give the calling hook a long timeout.
 */
export function ensureChromium(): Promise<{ path: string } | { skip: string }> {
  installing ??= (async () => {
    if (existsSync(CHROMIUM_PATH)) return { path: CHROMIUM_PATH };
    if (process.env.CHROMIUM_PATH) return { skip: `CHROMIUM_PATH=${CHROMIUM_PATH} does not exist` };
    let prefix: string[] | undefined;
    if (process.getuid?.() === 0) prefix = [];
    else if (
      await run('sudo', ['-n', 'true']).then(
        () => true,
        () => false,
      )
    )
      prefix = ['sudo', '-n'];
    if (!prefix)
      return {
        skip: 'Chromium is not installed and apt-get needs root (or passwordless sudo) to install it',
      };
    // Wait for another apt run (another engineer, unattended upgrades) instead of failing on the lock.
    const install = ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', 'chromium'];
    let r = await apt(prefix, install);
    if (!r.ok && /Unable to locate package|no installation candidate|Failed to fetch/i.test(r.out)) {
      await apt(prefix, ['-o', 'DPkg::Lock::Timeout=600', 'update']);
      r = await apt(prefix, install);
    }
    if (!r.ok || !existsSync(CHROMIUM_PATH))
      return { skip: `apt-get install chromium failed: ${r.out.trim().split('\n').slice(-3).join(' | ')}` };
    return { path: CHROMIUM_PATH };
  })();
  return installing;
}

/**
 * Launches the Chromium found by {@link ensureChromium} through playwright-core (which gives it a throwaway
 * profile and removes it on close). Close the browser in afterAll.
 */
export async function launchChromium(path: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: path, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}
