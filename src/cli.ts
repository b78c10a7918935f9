/**
 * The `dbkit` command. `dbkit doctor [DATABASE_URL] [--redis URL] [--json | --html FILE]` runs the health
 * checks (see dbkit/monitoring). Exit codes: 0 healthy, 1 warnings, 2 failures, 64 usage error, 73 the HTML
 * report cannot be written.
 */
import { parseArgs } from 'node:util';
// dbkit's own version, inlined at build time (npm_package_version would be the host application's).
import packageJson from '../package.json' with { type: 'json' };
import { redactUrl } from './internal/redact.js';

const USAGE = `Usage: dbkit <command> [options]

Commands:
  doctor [DATABASE_URL] [--redis URL] [--json | --html FILE] [--show-queries]
                  Check Postgres (and Redis) health: print a report, JSON, or write one HTML page.
                  Statements are shown with literals replaced by ? unless --show-queries.

Options:
  -h, --help      Show this help.
  -v, --version   Print the version.
`;

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.stderr(`${redactUrl((e as Error).message)}\n\n${USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.stdout(`${packageJson.version}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.stdout(USAGE);
    return command || values.help ? 0 : 64;
  }
  if (command === 'doctor') {
    const { runDoctor } = await import('./monitoring/doctor-command.js');
    const databaseUrl = rest[0] ?? io.env.DATABASE_URL;
    const redisUrl = values.redis ?? io.env.REDIS_URL;
    return runDoctor({
      databaseUrl,
      redisUrl,
      json: values.json ?? false,
      html: values.html,
      showQueries: values['show-queries'] ?? false,
      io,
    });
  }
  io.stderr(`Unknown command "${command}".\n\n${USAGE}`);
  return 64;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      redis: { type: 'string' },
      'show-queries': { type: 'boolean' },
    },
  });
}

main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`dbkit: ${redactUrl(e instanceof Error ? e.message : String(e))}\n`);
    process.exitCode = 2;
  },
);
