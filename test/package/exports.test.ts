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
