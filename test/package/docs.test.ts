/**
 * The API reference builds (`npm run docs` = TypeDoc) with every export documented: typedoc.json turns
 * warnings into errors and validates notDocumented, invalid links and referenced-but-unexported types.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root, run } from './consumer-helpers.js';

const out = mkdtempSync(join(tmpdir(), 'dbkit-docs-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('API reference', () => {
  it('typedoc.json fails the build on any warning, including an undocumented export', () => {
    const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as {
      treatWarningsAsErrors?: boolean;
      validation?: Record<string, boolean>;
      out?: string;
    };
    expect(config.treatWarningsAsErrors).toBe(true);
    expect(config.validation).toMatchObject({ notDocumented: true, invalidLink: true, notExported: true });
    expect(config.out).toBe('docs/api');
    expect(readFileSync(join(root, '.gitignore'), 'utf8').split('\n')).toContain('docs/api/');
  });

  it('builds with no warning, one page per module', async () => {
    const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
    const r = await run(process.execPath, [typedoc, '--out', out], { cwd: root, timeoutMs: 240_000 });
    expect(r.stdout + r.stderr).not.toMatch(/\[warning\]|\[error\]/);
    expect(r.code).toBe(0);
    for (const m of ['dbkit', 'clients', 'cache', 'bulk', 'query', 'monitoring']) {
      expect(existsSync(join(out, 'modules', `${m}.html`)), `${m} page`).toBe(true);
    }
    // A documented export's JSDoc (summary and @example) reaches its page.
    const page = readFileSync(join(out, 'functions', 'cache.createQueryCache.html'), 'utf8');
    expect(page).toContain('Creates a ');
    expect(page).toContain('getOrSet');
  }, 240_000);
});
