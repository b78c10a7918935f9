/**
 * Every ```ts block of README.md compiles against the current API (dbkit/<module> mapped to src/), so a
 * README that drifts from the code fails the suite. Blocks that cannot compile alone are marked
 * `<!-- snippet: fragment: <reason> -->`; see test/package/snippets.ts for the markers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSnippets, extractSnippets, repoRoot, type SnippetProblem } from './snippets.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

// A document with one snippet of each kind the checker must refuse, checked in the same program as the
// README: if the checker stopped reporting errors, the README would pass whatever it said.
const canary = [
  '```ts',
  "import { getClientManager } from 'dbkit/clients';",
  'getClientManager().notAMethod();',
  '```',
  '',
  '<!-- snippet: prelude',
  'declare const n: number;',
  '-->',
  '```ts',
  "import { createQueryCache } from 'dbkit/cache';",
  "const s: string = n; createQueryCache({ namespace: 'x' });",
  '```',
  '',
  '<!-- snippet: fragment -->',
  '```ts',
  'not even typescript',
  '```',
  '',
  '<!-- snippet: file examples/quickstart.ts -->',
  '```ts',
  "console.log('not the file');",
  '```',
].join('\n');

let readmeProblems: SnippetProblem[] = [];
let canaryProblems: SnippetProblem[] = [];
let compiled = 0;
let resolved = new Map<string, string>();
let fragments: { line: number; reason: string }[] = [];

beforeAll(() => {
  const a = extractSnippets('README.md', readme);
  const b = extractSnippets('canary.md', canary);
  fragments = a.snippets
    .filter((s) => s.fragment !== undefined)
    .map((s) => ({ line: s.line, reason: s.fragment! }));
  const r = checkSnippets([...a.snippets, ...b.snippets]);
  compiled = r.compiled;
  resolved = r.resolved;
  readmeProblems = [...a.problems, ...r.problems.filter((p) => p.doc === 'README.md')];
  canaryProblems = [...b.problems, ...r.problems.filter((p) => p.doc === 'canary.md')];
}, 120_000);

describe('README.md code', () => {
  it('every ```ts block compiles against the current API', () => {
    const report = readmeProblems.map((p) => `README.md:${p.line}: ${p.message}`).join('\n');
    expect(
      report,
      'fix the snippet, or declare what it needs in a <!-- snippet: prelude --> (test/package/snippets.ts)',
    ).toBe('');
    expect(compiled).toBeGreaterThan(10);
    // The blocks were checked against the sources, not against a stale build.
    expect(resolved.get('dbkit/clients')).toBe('src/clients/index.ts');
  });

  it('skips only the blocks marked as fragments, each with its reason', () => {
    for (const f of fragments) expect(f.reason, `README.md:${f.line}`).not.toBe('');
    expect(fragments.length).toBeLessThanOrEqual(3);
  });

  it('the checker reports a wrong call, a type error, a fragment without a reason and a file mismatch', () => {
    const at = (line: number) => canaryProblems.filter((p) => p.line === line).map((p) => p.message);
    expect(at(3).join('\n')).toMatch(/TS2339: Property 'notAMethod' does not exist/);
    expect(at(11).join('\n')).toMatch(/TS2322: Type 'number' is not assignable to type 'string'/);
    expect(at(11).join('\n')).toMatch(/TS2345|ttl/);
    expect(at(14).join('\n')).toMatch(/a fragment marker needs a reason/);
    expect(at(20).join('\n')).toMatch(/the block is not examples\/quickstart\.ts/);
  });

  it('links only to headings that exist (GitHub anchors)', () => {
    const anchors = new Set<string>();
    const seen = new Map<string, number>();
    let fence: string | undefined;
    for (const line of readme.split('\n')) {
      const f = /^(`{3,})/.exec(line);
      if (f) fence = fence === undefined ? f[1] : line.trim() === fence ? undefined : fence;
      const h = fence === undefined ? /^#{1,6} (.+)$/.exec(line) : null;
      if (!h) continue;
      const base = h[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
        .replace(/ /g, '-');
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(5);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
  });

  it('says nothing about internal reports', () => {
    expect(readme).not.toMatch(/module report|lead's report|the lead\b/i);
  });

  it('keeps the contributor commands the repository hooks look for', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
  });
});
