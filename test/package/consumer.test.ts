/**
 * dbkit as a user gets it: `npm pack`, the tarball installed into fresh projects (cache-only with ioredis 5 and
 * with ioredis 6; full with postgres and drizzle-orm), strict TypeScript with skipLibCheck off under nodenext
 * ESM, nodenext CJS and node10, the compiled output run against real Postgres and Redis, and bundles (esbuild
 * ESM and CJS for every project, webpack and Rollup ESM and CJS for the full one) run from a directory where only
 * the native addons are installed, so the peers must come from the bundle.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import commonjsModule from '@rollup/plugin-commonjs';
import jsonModule from '@rollup/plugin-json';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { build as esbuild, transform } from 'esbuild';
import { rollup } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpack from 'webpack';
import { createTestDatabase, type SpawnedRedis, spawnRedis, type TestDatabase } from '../setup/index.js';
import {
  type CompileMode,
  type ConsumerProject,
  cleanEnv,
  compileModes,
  createProject,
  deployDir,
  expectOk,
  isThirdParty,
  lastJsonLine,
  locked,
  packDbkit,
  parseTsc,
  root,
  run,
} from './consumer-helpers.js';

// The plugins' declarations describe CommonJS (default under `.default`) while Node loads their ESM build.
const interop = <T extends { default: unknown }>(m: T) =>
  ((m as { default?: unknown }).default ?? m) as T['default'];
const commonjs = interop(commonjsModule);
const json = interop(jsonModule);

const tsc = join(root, 'node_modules/typescript/bin/tsc');
/** Native addons dbkit depends on: a bundle keeps them external and the deployment installs them. */
const NATIVE = ['lz4-napi'];

const expectedCache = {
  loads: 1,
  date: true,
  bigint: true,
  set: ['a', 'b'],
  missing: [
    'MissingPeerDependencyError:postgres',
    'MissingPeerDependencyError:drizzle-orm',
    'MissingPeerDependencyError:@google-cloud/bigquery',
    'MissingPeerDependencyError:drizzle-orm',
  ],
  score: 100,
  tracked: 42,
  sqlTypeIsAny: true,
};
const expectedFull = {
  inserted: 2500,
  // 2,500 rows on postgres.js: binary COPY, which needs dbkit to recognise drizzle's postgres-js session.
  method: 'copy',
  batches: 3,
  seen: 2500,
  renamed: 'renamed',
  cached: ['renamed', 'renamed'],
  loads: 1,
  tracked: 1,
  health: 'pass',
  checks: ['postgres', 'redis'],
  sqlTypeIsAny: false,
  wrong: 'number',
};

const allModes = Object.keys(compileModes) as CompileMode[];

const specs = {
  'cache-ioredis5': {
    app: 'cache-app.ts',
    deps: () => ({ ioredis: locked('ioredis') }),
    expected: expectedCache,
    libCheckModes: allModes,
  },
  'cache-ioredis6': {
    app: 'cache-app.ts',
    deps: () => ({ ioredis: locked('ioredis6') }),
    expected: expectedCache,
    libCheckModes: allModes,
  },
  full: {
    app: 'full-app.ts',
    deps: () => ({
      ioredis: locked('ioredis'),
      postgres: locked('postgres'),
      'drizzle-orm': locked('drizzle-orm'),
    }),
    expected: expectedFull,
    // dbkit's declarations are checked against the real postgres and drizzle types once (nodenext ESM; the .d.cts
    // files have the same content). drizzle-orm's own declarations do not pass skipLibCheck: false
    // (drizzle-orm#5187: missing mysql2 types, TS2420/TS2515 in its query builders), so a drizzle service runs
    // with skipLibCheck on anyway, and checking drizzle's ~500 declaration files in every mode would only cost time.
    libCheckModes: ['nodenext-esm'] as CompileMode[],
  },
};
type ProjectName = keyof typeof specs;
const names = Object.keys(specs) as ProjectName[];

let work: string;
let tarball: string;
let redis: SpawnedRedis;
let database: TestDatabase;
const projects = {} as Record<ProjectName, ConsumerProject>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dbkit-consumer-'));
  tarball = await packDbkit(work);
  const [r, d] = await Promise.all([
    spawnRedis(),
    createTestDatabase('consumer'),
    ...names.map(async (n) => {
      const spec = specs[n];
      projects[n] = await createProject(work, n, spec.app, tarball, spec.deps(), spec.libCheckModes);
    }),
  ]);
  redis = r as SpawnedRedis;
  database = d as TestDatabase;
}, 600_000);

afterAll(async () => {
  await redis?.dispose();
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a built app of `project` with the services' URLs and checks its exit code, stderr and JSON output. */
async function runApp(project: ProjectName, variant: string, file: string, cwd: string) {
  const r = await run(process.execPath, [file], {
    cwd,
    env: cleanEnv({ DATABASE_URL: database.url, REDIS_URL: redis.url, VARIANT: variant }),
    timeoutMs: 60_000,
  });
  expectOk(r, `${project} ${variant}`);
  expect(r.stderr).toBe('');
  expect(lastJsonLine(r.stdout)).toEqual(specs[project].expected);
}

describe.each(names)('%s project', (name) => {
  it.each(allModes)(
    'compiles under %s, strict, and the output runs',
    async (mode) => {
      const p = projects[name];
      const r = await run(process.execPath, [tsc, '-p', `tsconfig.${mode}.json`], { cwd: p.dir });
      const diagnostics = parseTsc(r.stdout + r.stderr);
      // Errors in dbkit's declarations or in the app fail; another package's own declaration errors are its own.
      const ours = diagnostics.filter((d) => !isThirdParty(d));
      expect(
        ours.map((d) => d.text),
        'no error in dbkit declarations or the app',
      ).toEqual([]);
      if (!p.libCheckModes.includes(mode) || name !== 'full') {
        expect(r.stdout + r.stderr, 'tsc reports no error at all').toBe('');
        expect(r.code).toBe(0);
      }
      await runApp(name, `${name}_${mode}`.replaceAll('-', '_'), compileModes[mode].output, p.dir);
    },
    180_000,
  );

  it.each(['esm', 'cjs'] as const)(
    'runs as an esbuild %s bundle, with the peers inlined',
    async (format) => {
      const p = projects[name];
      const out = join(deployDir(p, NATIVE), `esbuild.${format === 'esm' ? 'mjs' : 'cjs'}`);
      const result = await esbuild({
        absWorkingDir: p.dir,
        entryPoints: ['app.mts'],
        bundle: true,
        platform: 'node',
        target: 'node20',
        format,
        outfile: out,
        external: NATIVE,
        logLevel: 'silent',
        metafile: true,
        // The usual banner for ESM bundles of CommonJS packages (ioredis) that require Node built-ins.
        ...(format === 'esm'
          ? {
              banner: {
                js: "import { createRequire as __dbkitCreateRequire } from 'node:module'; const require = __dbkitCreateRequire(import.meta.url);",
              },
            }
          : {}),
      });
      expect(result.errors).toEqual([]);
      const inputs = Object.keys(result.metafile.inputs);
      for (const peer of p.peers) {
        expect(
          inputs.some((i) => i.startsWith(`node_modules/${peer}/`)),
          `${peer} is bundled`,
        ).toBe(true);
      }
      await runApp(name, `${name}_esbuild_${format}`.replaceAll('-', '_'), out, join(out, '..'));
    },
    180_000,
  );
});

describe('full project with other bundlers', () => {
  /** The app as plain ESM JavaScript (types stripped), which is what webpack and Rollup take in. */
  async function entry(): Promise<string> {
    const p = projects.full;
    const file = join(p.dir, 'entry.mjs');
    const { code } = await transform(readFileSync(join(p.dir, 'app.mts'), 'utf8'), {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
    });
    writeFileSync(file, code);
    return file;
  }

  it.each(['esm', 'cjs'] as const)(
    'runs as a webpack %s bundle, with the peers inlined',
    async (format) => {
      const p = projects.full;
      const dir = deployDir(p, NATIVE);
      const filename = `webpack.${format === 'esm' ? 'mjs' : 'cjs'}`;
      const input = await entry();
      const stats = await new Promise<webpack.Stats>((resolve, reject) => {
        webpack(
          {
            mode: 'none',
            target: 'node20',
            context: p.dir,
            entry: input,
            output: {
              path: dir,
              filename,
              module: format === 'esm',
              chunkFormat: format === 'esm' ? 'module' : 'commonjs',
              ...(format === 'esm' ? { library: { type: 'module' } } : {}),
            },
            experiments: { outputModule: format === 'esm' },
            externals: Object.fromEntries(
              NATIVE.map((n) => [n, `${format === 'esm' ? 'module' : 'commonjs'} ${n}`]),
            ),
            optimization: { minimize: false },
            infrastructureLogging: { level: 'none' },
          },
          (err, s) => (err || !s ? reject(err ?? new Error('webpack gave no stats')) : resolve(s)),
        );
      });
      const info = stats.toJson({ all: false, errors: true, modules: true });
      expect(info.errors ?? []).toEqual([]);
      for (const peer of p.peers) {
        expect(
          (info.modules ?? []).some((m) => (m.name ?? '').includes(`node_modules/${peer}/`)),
          `${peer} is bundled`,
        ).toBe(true);
      }
      await runApp('full', `full_webpack_${format}`, join(dir, filename), dir);
    },
    180_000,
  );

  it.each(['esm', 'cjs'] as const)(
    'runs as a Rollup %s bundle, with the peers inlined',
    async (format) => {
      const p = projects.full;
      const dir = deployDir(p, NATIVE);
      const file = join(dir, `rollup.${format === 'esm' ? 'mjs' : 'cjs'}`);
      const bundle = await rollup({
        input: await entry(),
        external: [...NATIVE, ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
        plugins: [
          nodeResolve({ exportConditions: ['node'], preferBuiltins: true }),
          // The README's recipe: convert dbkit's peer require() calls for the peers this service installs.
          commonjs({
            transformMixedEsModules: true,
            ignoreTryCatch: (id) => !p.peers.some((peer) => id === peer || id.startsWith(`${peer}/`)),
          }),
          json(),
        ],
        onwarn: () => {},
      });
      const { output } = await bundle.write({
        file,
        format: format === 'esm' ? 'es' : 'cjs',
        inlineDynamicImports: true,
      });
      await bundle.close();
      const modules = output.flatMap((o) => (o.type === 'chunk' ? Object.keys(o.modules) : []));
      for (const peer of p.peers) {
        expect(
          modules.some((m) => m.includes(`/node_modules/${peer}/`)),
          `${peer} is bundled`,
        ).toBe(true);
      }
      await runApp('full', `full_rollup_${format}`, file, dir);
    },
    180_000,
  );
});

describe('the packed tarball', () => {
  it('holds the build, the peer loaders, README, LICENSE and CHANGELOG, and no sources or tests', async () => {
    const r = expectOk(await run('tar', ['-tzf', tarball], { cwd: work }), 'tar -tzf');
    const files = r.stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
      'dist/cli.js',
      'dist/internal/peers.js',
      'dist/internal/peers.cjs',
    ])
      expect(files, f).toContain(f);
    expect(
      files.filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$|CHANGELOG\.md$)/.test(f)),
    ).toEqual([]);
  });

  it('has no problem for @arethetypeswrong/cli (node10, node16 CJS and ESM, bundler)', async () => {
    const attw = join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const r = await run(process.execPath, [attw, tarball, '--format', 'json'], { cwd: work });
    const report = JSON.parse(r.stdout) as {
      analysis: {
        problems: unknown[];
        entrypoints: Record<string, { resolutions: Record<string, unknown> }>;
      };
    };
    expect(report.analysis.problems).toEqual([]);
    expect(r.code).toBe(0);
    // Every subpath was resolved under each of the four resolution modes.
    for (const [sub, ep] of Object.entries(report.analysis.entrypoints)) {
      expect(Object.keys(ep.resolutions).sort(), sub).toEqual([
        'bundler',
        'node10',
        'node16-cjs',
        'node16-esm',
      ]);
    }
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(
      ['.', './bulk', './cache', './clients', './monitoring', './package.json', './query'].sort(),
    );
  }, 120_000);

  it('has no problem for publint (strict: warnings count)', async () => {
    const publint = join(root, 'node_modules/publint/src/cli.js');
    const r = await run(process.execPath, [publint, 'run', tarball, '--strict'], { cwd: work });
    expect(r.stdout).toContain('All good!');
    expect(r.code).toBe(0);
  }, 120_000);

  it('`dbkit --version` prints dbkit version, not the host package version', async () => {
    const p = projects['cache-ioredis5'];
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
      .version;
    const r = await run(join(p.dir, 'node_modules/.bin/dbkit'), ['--version'], {
      cwd: p.dir,
      // What `npm run` in the host application sets.
      env: cleanEnv({ npm_package_version: '99.1.2' }),
    });
    expectOk(r, 'dbkit --version');
    expect(r.stdout).toBe(`${version}\n`);
  });
});
