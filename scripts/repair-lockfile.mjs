#!/usr/bin/env node
/**
 * Adds the optional platform packages (biome, rollup, esbuild, msgpackr-extract, lz4-napi builds for other
 * OS/CPU) that npm 11 leaves out of package-lock.json when it installs on one platform (npm/cli#8320).
 * Without them `npm ci` refuses the lockfile as "out of sync". Purely additive: it never changes a version
 * that is already locked. Run after `npm install`: `node scripts/repair-lockfile.mjs`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;

function resolvedLocation(parentPath, name) {
  // Node resolution: the parent's own node_modules, then each ancestor's, then the root.
  let base = parentPath;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (pkgs[candidate]) return candidate;
    const i = base.lastIndexOf('/node_modules/');
    if (base === '') return null;
    base = i === -1 ? '' : base.slice(0, i);
  }
}

function view(spec) {
  try {
    const out = JSON.parse(
      execFileSync('npm', ['view', spec, '--json'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );
    return Array.isArray(out) ? out[out.length - 1] : out;
  } catch {
    return undefined;
  }
}

function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj[k]).map((k) => [k, obj[k]]));
}

function inferPlatform(name) {
  const os = [
    'android',
    'darwin',
    'win32',
    'freebsd',
    'openbsd',
    'netbsd',
    'linux',
    'openharmony',
    'sunos',
    'aix',
  ].find((o) => name.includes(o));
  const cpu = ['arm64', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'arm'].find((c) =>
    name.includes(`-${c}`),
  );
  const out = {};
  if (os) out.os = [os];
  if (cpu) out.cpu = [cpu];
  if (name.includes('musl')) out.libc = ['musl'];
  else if (os === 'linux' && name.includes('gnu')) out.libc = ['glibc'];
  return out;
}

for (const [path, entry] of Object.entries({ ...pkgs })) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolvedLocation(path, name)) continue;
    // The platform builds are pinned to exact versions by their parent. A registry mirror may not carry the
    // builds for other platforms: then take os/cpu/libc from any version it has, or from the package name.
    // Such an entry is never fetched on a machine it does not match, which is all npm ci needs.
    const exact = view(`${name}@${spec}`);
    const meta = exact ?? view(name) ?? {};
    const out = { version: exact?.version ?? spec };
    if (exact?.dist) Object.assign(out, { resolved: exact.dist.tarball, integrity: exact.dist.integrity });
    const platform = { ...inferPlatform(name), ...pick(meta, ['os', 'cpu', 'libc']) };
    Object.assign(out, platform);
    if (entry.dev) out.dev = true;
    out.optional = true;
    pkgs[`node_modules/${name}`] = out;
    added++;
    console.log(
      `added node_modules/${name}@${out.version}${exact ? '' : ' (not in this registry: platform-only entry)'}`,
    );
  }
}
lock.packages = Object.fromEntries(
  Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`${added} optional platform package(s) added to package-lock.json`);
