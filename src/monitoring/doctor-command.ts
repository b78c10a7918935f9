import type { CliIo } from '../cli.js';

export interface DoctorCommandOptions {
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  json: boolean;
  io: CliIo;
}

/** Entry point of `dbkit doctor`; replaced by the full report in dbkit/monitoring. */
export async function runDoctor(options: DoctorCommandOptions): Promise<number> {
  if (!options.databaseUrl) {
    options.io.stderr('dbkit doctor: pass a DATABASE_URL argument or set DATABASE_URL.\n');
    return 64;
  }
  options.io.stderr('dbkit doctor: the checks arrive with dbkit/monitoring.\n');
  return 2;
}
