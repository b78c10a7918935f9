import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { CliIo } from '../cli.js';
import { databaseFromUrl } from '../internal/pg-url.js';
import { redactSecrets, redactUrl } from '../internal/redact.js';
import { formatDoctorHtml } from './doctor-html.js';
import { type DoctorReport, runDoctorChecks } from './doctor-report.js';
import { formatDoctorReport } from './doctor-text.js';

/** What src/cli.ts passes to {@link runDoctor}. */
export interface DoctorCommandOptions {
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  json: boolean;
  /** Write the report as one self-contained HTML page to this path. */
  html?: string | undefined;
  /** Show statements with their literals (`--show-queries`); by default literals are replaced by `?`. */
  showQueries?: boolean;
  io: CliIo;
}

/** Exit codes of `dbkit doctor`. */
export const DOCTOR_EXIT = { healthy: 0, warnings: 1, failures: 2, usage: 64, cannotWrite: 73 } as const;

const passwordOf = (url: string | undefined) => {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
};

/** Writes `text` to `path` through a temp file in the same directory and a rename: never a half-written file. */
function writeAtomically(path: string, text: string): void {
  const full = resolve(path);
  const tmp = join(dirname(full), `.${basename(full)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, full);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * `dbkit doctor [DATABASE_URL] [--redis URL] [--json | --html FILE]`: runs every check, prints the report (or
 * JSON) on stdout, or writes it as an HTML page, with progress on stderr. Returns the exit code: 0 healthy,
 * 1 warnings, 2 failures, 64 usage, 73 the HTML file cannot be written.
 *
 * @example
 * ```ts
 * const code = await runDoctor({ databaseUrl, redisUrl: undefined, json: false, html: 'report.html', io });
 * ```
 */
export async function runDoctor(options: DoctorCommandOptions): Promise<number> {
  const { io } = options;
  if (!options.databaseUrl && !options.redisUrl) {
    io.stderr('dbkit doctor: pass a DATABASE_URL argument or set DATABASE_URL (and/or --redis URL).\n');
    return DOCTOR_EXIT.usage;
  }
  if (options.json && options.html) {
    io.stderr('dbkit doctor: --json and --html are exclusive.\n');
    return DOCTOR_EXIT.usage;
  }
  if (options.html === '') {
    io.stderr('dbkit doctor: --html needs a file name.\n');
    return DOCTOR_EXIT.usage;
  }
  const secrets = [passwordOf(options.databaseUrl), passwordOf(options.redisUrl)];
  const say = (s: string) => io.stderr(redactSecrets(s, secrets));
  const target = [options.databaseUrl, options.redisUrl]
    .filter(Boolean)
    .map((u) => redactUrl(u!))
    .join(' + ');
  const closers: Array<() => Promise<unknown>> = [];
  let report: DoctorReport;
  try {
    const targets: Parameters<typeof runDoctorChecks>[0] = {
      target,
      onProgress: (m) => say(`dbkit doctor: ${m}...\n`),
      showQueryText: options.showQueries ?? false,
    };
    if (options.databaseUrl) {
      const { default: postgres } = await import('postgres');
      // One connection: the checks run one after another, and the activity section can leave exactly the
      // doctor's own session out.
      const sql = postgres(options.databaseUrl, {
        ...databaseFromUrl(options.databaseUrl),
        max: 1,
        connect_timeout: 10,
        idle_timeout: 5,
        onnotice: () => {},
        connection: { application_name: 'dbkit doctor' },
      });
      closers.push(() => sql.end({ timeout: 2 }));
      targets.sql = sql;
    }
    if (options.redisUrl) {
      const { Redis } = await import('ioredis');
      const redis = new Redis(options.redisUrl, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        connectTimeout: 5000,
        retryStrategy: () => null,
      });
      redis.on('error', () => {});
      await redis.connect().catch(() => {});
      closers.push(async () => redis.disconnect());
      targets.redis = redis;
    }
    report = await runDoctorChecks(targets);
  } finally {
    for (const c of closers) await c().catch(() => {});
  }
  if (options.html) {
    try {
      writeAtomically(options.html, formatDoctorHtml(report, secrets));
    } catch (e) {
      say(`dbkit doctor: cannot write ${options.html}: ${(e as Error).message}\n`);
      return DOCTOR_EXIT.cannotWrite;
    }
    const s = report.summary;
    io.stdout(
      `dbkit doctor: wrote ${options.html}: ${s.critical} critical, ${s.warning} warnings, ${s.info} info\n`,
    );
  } else if (options.json) io.stdout(`${redactSecrets(JSON.stringify(report, null, 2), secrets)}\n`);
  else io.stdout(formatDoctorReport(report, secrets));
  return report.exitCode;
}
