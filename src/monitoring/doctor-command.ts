import type { CliIo } from '../cli.js';
import { redactSecrets, redactUrl } from '../internal/redact.js';
import { type DoctorReport, formatDoctorReport, runDoctorChecks } from './doctor-report.js';

/** What src/cli.ts passes to {@link runDoctor}. */
export interface DoctorCommandOptions {
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  json: boolean;
  io: CliIo;
}

const passwordOf = (url: string | undefined) => {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * `dbkit doctor [DATABASE_URL] [--redis URL] [--json]`: runs every check, prints the report (or JSON)
 * on stdout and progress on stderr. Returns the exit code: 0 healthy, 1 warnings, 2 failures, 64 usage.
 *
 * @example
 * ```ts
 * const code = await runDoctor({ databaseUrl, redisUrl: undefined, json: false, io });
 * ```
 */
export async function runDoctor(options: DoctorCommandOptions): Promise<number> {
  const { io } = options;
  if (!options.databaseUrl && !options.redisUrl) {
    io.stderr('dbkit doctor: pass a DATABASE_URL argument or set DATABASE_URL (and/or --redis URL).\n');
    return 64;
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
    };
    if (options.databaseUrl) {
      const { default: postgres } = await import('postgres');
      const sql = postgres(options.databaseUrl, {
        max: 2,
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
  if (options.json) io.stdout(`${redactSecrets(JSON.stringify(report, null, 2), secrets)}\n`);
  else io.stdout(formatDoctorReport(report, secrets));
  return report.exitCode;
}
