/**
 * Helpers of consumer.test.ts: pack dbkit, install the tarball into throwaway projects, run commands in them.
 * Everything lives under one temporary directory that the test removes.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '../..');
const fixtures = join(root, 'test/fixtures/consumer');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};

/** The version package-lock.json pins for a package (or npm alias) of this repo, so installs hit the npm cache. */
export function locked(name: string): string {
  const v = lock.packages[`node_modules/${name}`]?.version;
  if (!v) throw new Error(`${name} is not in package-lock.json`);
  return v;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment for child processes, without the npm_* variables `npm test` sets (npm would read them). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Runs a command to completion; never rejects (the exit code is part of what tests assert). */
export function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
  });
}

/** Fails with the command's output, so a red test says what went wrong. */
export function expectOk(r: RunResult, what: string): RunResult {
  if (r.code !== 0)
    throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}

/** `npm pack` of the built package into `dir`; returns the tarball's path. */
export async function packDbkit(dir: string): Promise<string> {
  const r = expectOk(
    await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root }),
    'npm pack',
  );
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string }>;
  if (!info) throw new Error(`npm pack printed no file: ${r.stdout}`);
  return join(dir, info.filename);
}

/** The files `npm pack` puts in the tarball. */
export async function packedFiles(): Promise<string[]> {
  const r = expectOk(
    await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root }),
    'npm pack',
  );
  const [info] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  return (info?.files ?? []).map((f) => f.path).sort();
}

/** Compiler settings a strict service would use; `skipLibCheck: false` checks dbkit's declarations too. */
const strict = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  // Emit even when another package's declarations have errors (the test decides which errors count).
  noEmitOnError: false,
  target: 'es2022',
  lib: ['es2023'],
  types: ['node'],
};

/** The three ways a TypeScript service resolves and emits modules (tsconfig without skipLibCheck, see below). */
export const compileModes = {
  // nodenext ESM: app.mts -> build/app.mjs
  'nodenext-esm': {
    tsconfig: { compilerOptions: { ...strict, module: 'nodenext', outDir: 'build' }, files: ['app.mts'] },
    output: 'build/app.mjs',
  },
  // nodenext CJS: app.cts -> build/app.cjs
  'nodenext-cjs': {
    tsconfig: { compilerOptions: { ...strict, module: 'nodenext', outDir: 'build' }, files: ['app.cts'] },
    output: 'build/app.cjs',
  },
  // A classic CommonJS project (NestJS's default): module commonjs resolves as node10, which ignores `exports`.
  node10: {
    tsconfig: {
      compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node10', outDir: 'build/node10' },
      files: ['app.ts'],
    },
    output: 'build/node10/app.js',
  },
} as const;
export type CompileMode = keyof typeof compileModes;

export interface ConsumerProject {
  name: string;
  dir: string;
  /** Peers this project installs besides dbkit (what a bundler may inline). */
  peers: string[];
  /** Compile modes with `skipLibCheck: false` (the others set it to true). */
  libCheckModes: readonly CompileMode[];
}

/**
 * Creates a project that depends on the tarball and `deps` (exact versions), with the fixture `app` copied to
 * app.mts, app.cts and app.ts and one tsconfig per compile mode (`skipLibCheck: false` in `libCheckModes`), and
 * installs it with npm (cache first).
 */
export async function createProject(
  work: string,
  name: string,
  app: string,
  tarball: string,
  deps: Record<string, string>,
  libCheckModes: readonly CompileMode[],
): Promise<ConsumerProject> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const pkg = {
    name: `consumer-${name}`,
    version: '1.0.0',
    private: true,
    dependencies: { dbkit: `file:${tarball}`, ...deps, '@types/node': locked('@types/node') },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  for (const ext of ['mts', 'cts', 'ts']) cpSync(join(fixtures, app), join(dir, `app.${ext}`));
  for (const [mode, { tsconfig }] of Object.entries(compileModes)) {
    const skipLibCheck = !libCheckModes.includes(mode as CompileMode);
    const config = { ...tsconfig, compilerOptions: { ...tsconfig.compilerOptions, skipLibCheck } };
    writeFileSync(join(dir, `tsconfig.${mode}.json`), `${JSON.stringify(config, null, 2)}\n`);
  }
  expectOk(
    await run(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: dir, timeoutMs: 300_000 },
    ),
    `npm install in ${name}`,
  );
  return { name, dir, peers: Object.keys(deps), libCheckModes };
}

/**
 * A directory to run a bundle from, as a deployment would: its node_modules holds only the native addons
 * (which no bundler can inline), so every peer must come from the bundle itself.
 */
export function deployDir(project: ConsumerProject, natives: string[]): string {
  const dir = join(project.dir, 'deploy');
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  const link = (name: string) => {
    const from = join(project.dir, 'node_modules', name);
    const to = join(dir, 'node_modules', name);
    if (!existsSync(from) || existsSync(to)) return;
    mkdirSync(join(to, '..'), { recursive: true });
    symlinkSync(from, to, 'dir');
  };
  for (const name of natives) {
    link(name);
    // Their prebuilt binaries come as optional per-platform packages.
    const meta = JSON.parse(
      readFileSync(join(project.dir, 'node_modules', name, 'package.json'), 'utf8'),
    ) as {
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(meta.optionalDependencies ?? {})) link(dep);
  }
  return dir;
}

/** The JSON object a fixture app prints as its last line of output. */
export function lastJsonLine(stdout: string): unknown {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`expected a JSON line, got:\n${stdout}`);
  }
}

export interface TscDiagnostic {
  file: string;
  text: string;
}

/** Parses `tsc` output into diagnostics (the first line of each). */
export function parseTsc(output: string): TscDiagnostic[] {
  const out: TscDiagnostic[] = [];
  for (const line of output.split('\n')) {
    const m = /^(.+?)\(\d+,\d+\): error TS\d+: /.exec(line);
    if (m?.[1]) out.push({ file: m[1], text: line });
    else if (/error TS\d+/.test(line)) out.push({ file: '', text: line });
  }
  return out;
}

/** True for a diagnostic in another package's declarations (not dbkit's, not the app's). */
export const isThirdParty = (d: TscDiagnostic) =>
  d.file.includes('node_modules/') && !d.file.includes('node_modules/dbkit/');
