import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { entries } from '../../tsup.config.js';

const root = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<
    string,
    string | { import: { types: string; default: string }; require: { types: string; default: string } }
  >;
  bin: Record<string, string>;
};
const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');
const moduleDirs = readdirSync(join(root, 'src'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'src', d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();

describe('package exports', () => {
  it('package.json exports, tsup entries and src/*/index.ts name the same modules', () => {
    const fromExports = subpaths.map((s) => (s === '.' ? 'index' : `${s.slice(2)}/index`)).sort();
    const fromTsup = Object.keys(entries).sort();
    const fromSrc = ['index', ...moduleDirs.map((d) => `${d}/index`)].sort();
    expect(fromTsup).toEqual(fromExports);
    expect(fromSrc).toEqual(fromExports);
    for (const [name, file] of Object.entries(entries)) {
      expect(file).toBe(`src/${name}.ts`);
    }
  });

  it('every export target points at the tsup output of its entry', () => {
    for (const s of subpaths) {
      const target = pkg.exports[s];
      if (typeof target !== 'object') throw new Error(`${s} must have import and require conditions`);
      const base = s === '.' ? 'index' : `${s.slice(2)}/index`;
      expect(target.import.default).toBe(`./dist/${base}.js`);
      expect(target.import.types).toBe(`./dist/${base}.d.ts`);
      expect(target.require.default).toBe(`./dist/${base}.cjs`);
      expect(target.require.types).toBe(`./dist/${base}.d.cts`);
      for (const f of [
        target.import.default,
        target.import.types,
        target.require.default,
        target.require.types,
      ]) {
        expect(existsSync(join(root, f)), `${f} exists (run npm run build)`).toBe(true);
      }
    }
  });

  it('the root entry re-exports every module', async () => {
    const rootMod = await import(pathToFileURL(join(root, 'dist/index.js')).href);
    for (const s of subpaths.filter((x) => x !== '.')) {
      const mod = await import(pathToFileURL(join(root, `dist/${s.slice(2)}/index.js`)).href);
      for (const name of Object.keys(mod))
        expect(rootMod, `dbkit re-exports ${name} from ${s}`).toHaveProperty(name);
    }
  });

  it.each(subpaths)('imports %s from the built ESM and CJS output by package name', (s) => {
    const spec = s === '.' ? 'dbkit' : `dbkit/${s.slice(2)}`;
    // A child process resolves the package through its own exports map, as a user's service would.
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(spec)}); console.log(Object.keys(m).length)`,
      ],
      { cwd: root },
    ).toString();
    const cjs = execFileSync(
      process.execPath,
      ['-e', `const m = require(${JSON.stringify(spec)}); console.log(Object.keys(m).length)`],
      { cwd: root },
    ).toString();
    expect(Number(esm)).toBeGreaterThan(0);
    expect(Number(cjs)).toBe(Number(esm));
    const req = createRequire(join(root, 'package.json'));
    expect(typeof req(spec).isDbkitError).toBe('function');
  });

  it('has a bin entry that exists in the build and prints usage', () => {
    const bin = join(root, pkg.bin.dbkit!);
    expect(existsSync(bin)).toBe(true);
    const out = execFileSync(process.execPath, [bin, '--help']).toString();
    expect(out).toContain('doctor [DATABASE_URL]');
  });
});

describe('optional peers in the build', () => {
  const optional = Object.entries(
    (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        peerDependenciesMeta: Record<string, { optional?: boolean }>;
      }
    ).peerDependenciesMeta,
  )
    .filter(([, m]) => m.optional)
    .map(([name]) => name);
  const isOptionalPeer = (spec: string) => optional.some((p) => spec === p || spec.startsWith(`${p}/`));
  // Static imports, side-effect imports, dynamic import() and require() with a literal specifier.
  const SPEC = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s*)["']([^"']+)["']/gm;

  /** Every dist file the library entries reach through relative imports (what a service's bundler reads). */
  function reachable(ext: '.js' | '.cjs'): Map<string, string[]> {
    const seen = new Map<string, string[]>();
    const queue = Object.keys(entries).map((e) => join(root, 'dist', `${e}${ext}`));
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      const specs = [...readFileSync(file, 'utf8').matchAll(SPEC)].map((m) => m[1] as string);
      seen.set(file, specs);
      for (const s of specs) if (s.startsWith('.')) queue.push(join(file, '..', s));
    }
    return seen;
  }

  it.each(['.js', '.cjs'] as const)(
    'the %s library files load optional peers only through #dbkit/peers',
    (ext) => {
      const files = reachable(ext);
      expect(files.size).toBeGreaterThan(Object.keys(entries).length);
      const offenders = [...files].flatMap(([file, specs]) =>
        specs.filter(isOptionalPeer).map((s) => `${file.slice(root.length + 1)} -> ${s}`),
      );
      // A static import fails `import 'dbkit'` without the peer; a bare import() breaks bundling without it
      // (esbuild: "Could not resolve"). Load it with importLib (src/internal/import-lib.ts) instead.
      expect(offenders).toEqual([]);
      expect([...files.values()].some((specs) => specs.includes('#dbkit/peers'))).toBe(true);
      // createRequire(import.meta.url) hides a module from bundlers, and an esbuild CJS bundle makes
      // import.meta.url undefined (a crash at startup when it runs at module level).
      const hidden = [...files.keys()].filter((f) => readFileSync(f, 'utf8').includes('createRequire('));
      expect(hidden.map((f) => f.slice(root.length + 1))).toEqual([]);
    },
  );

  it('the peer loaders are shipped unbundled, with one literal require per optional peer module', () => {
    for (const file of ['dist/internal/peers.js', 'dist/internal/peers.cjs']) {
      const text = readFileSync(join(root, file), 'utf8');
      expect(text, file).not.toContain('__require');
      const required = [...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]);
      for (const peer of ['postgres', 'drizzle-orm', '@google-cloud/bigquery', 'prom-client'])
        expect(required, `${file} requires ${peer}`).toContain(peer);
    }
  });
});

describe('package metadata', () => {
  const meta = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown> & {
    files: string[];
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
    dependencies: Record<string, string>;
    typesVersions: Record<string, Record<string, string[]>>;
  };

  it('is MIT with the license text, and names its repository, homepage, issue tracker and keywords', () => {
    expect(meta.license).toBe('MIT');
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} dbkit contributors\n/);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
    expect(meta.repository).toMatchObject({
      type: 'git',
      url: expect.stringMatching(/^git\+https:\/\/.+\.git$/),
    });
    expect(meta.homepage).toMatch(/^https:\/\//);
    expect(meta.bugs).toMatchObject({ url: expect.stringMatching(/^https:\/\/.+\/issues$/) });
    expect((meta.keywords as string[]).length).toBeGreaterThan(5);
    expect(meta.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE', 'CHANGELOG.md']));
    expect(readFileSync(join(root, 'CHANGELOG.md'), 'utf8')).toMatch(
      /^# Changelog\n[\s\S]*\n## \[Unreleased\]\n/,
    );
  });

  it('typesVersions gives node10 the declarations of every subpath', () => {
    const mapped = meta.typesVersions['*'] ?? {};
    expect(Object.keys(mapped).sort()).toEqual(
      subpaths
        .filter((s) => s !== '.')
        .map((s) => s.slice(2))
        .sort(),
    );
    for (const [sub, [file]] of Object.entries(mapped)) {
      expect(file).toBe(`./dist/${sub}/index.d.cts`);
      expect(existsSync(join(root, file as string)), `${file} exists`).toBe(true);
    }
  });

  it('ioredis is a required peer (5 or 6); every other peer is optional and none is a dependency', () => {
    expect(meta.peerDependencies.ioredis).toBe('^5.4.0 || ^6.0.0');
    expect(meta.peerDependenciesMeta.ioredis).toBeUndefined();
    for (const name of Object.keys(meta.peerDependencies).filter((n) => n !== 'ioredis')) {
      expect(meta.peerDependenciesMeta[name]?.optional, `${name} is optional`).toBe(true);
      expect(meta.dependencies[name], `${name} is not a dependency`).toBeUndefined();
    }
    expect(meta.dependencies.ioredis).toBeUndefined();
  });
});
