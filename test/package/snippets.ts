/**
 * Type-checks the ```ts blocks of a Markdown file (the README) against dbkit's sources, so a snippet that
 * drifts from the API fails the suite. Used by readme-snippets.test.ts.
 *
 * Each block is compiled as its own ES module with the repository's compiler options, `dbkit` and
 * `dbkit/<subpath>` mapped to `src/` (no build needed). An HTML comment right above a block (blank lines
 * between are allowed) steers it:
 *
 * - `<!-- snippet: fragment: <reason> -->`: not compiled (the reason is required: a fragment is the exception);
 * - `<!-- snippet: prelude` + lines of code + `-->`: code compiled before the block but not shown on the page,
 *   e.g. `declare const userId: string;` for the reader's own values the snippet refers to;
 * - `<!-- snippet: file <path> -->`: the block must also be the file at `<path>` (relative to the repository),
 *   with `../src/<module>/index.js` imports written `dbkit/<module>`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export const repoRoot = join(import.meta.dirname, '../..');

/** One ```ts block of a Markdown document. */
export interface Snippet {
  /** Name of the document, for messages. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The code between the fences. */
  code: string;
  /** Hidden code compiled before it (from a `snippet: prelude` comment). */
  prelude: string;
  /** Why it is not compiled (from a `snippet: fragment` comment), or undefined. */
  fragment?: string;
  /** Repository path of the file the block must equal. */
  file?: string;
}

/** A problem found in a document: a compile error, an unmarked or unexplained fragment, a file mismatch. */
export interface SnippetProblem {
  doc: string;
  /** 1-based line in the document. */
  line: number;
  message: string;
}

const directive = /^<!--\s*snippet:\s*(fragment|prelude|file)\b([\s\S]*?)-->$/;

/** Splits a Markdown document into its ```ts blocks with their directives. */
export function extractSnippets(
  doc: string,
  markdown: string,
): { snippets: Snippet[]; problems: SnippetProblem[] } {
  const lines = markdown.split('\n');
  const snippets: Snippet[] = [];
  const problems: SnippetProblem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    const lang = open[2]!;
    if (lang === 'ts' || lang === 'typescript') {
      const snippet: Snippet = { doc, line: i + 1, code: lines.slice(i + 1, end).join('\n'), prelude: '' };
      // Directives: the HTML comments right above the fence, nearest last.
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() === '') j--;
      while (j >= 0 && lines[j]!.trimEnd().endsWith('-->')) {
        let start = j;
        while (start >= 0 && !lines[start]!.trimStart().startsWith('<!--')) start--;
        if (start < 0) break;
        const text = lines
          .slice(start, j + 1)
          .join('\n')
          .trim();
        const m = directive.exec(text);
        if (m) {
          const body = m[2]!;
          if (m[1] === 'fragment') {
            const reason = body.replace(/^\s*:?\s*/, '').trim();
            if (reason === '')
              problems.push({ doc, line: start + 1, message: 'a fragment marker needs a reason' });
            snippet.fragment = reason || '(no reason)';
          } else if (m[1] === 'prelude') {
            snippet.prelude = `${body.replace(/^[^\n]*\n/, '').trimEnd()}\n${snippet.prelude}`;
          } else {
            snippet.file = body.trim();
          }
        }
        j = start - 1;
        while (j >= 0 && lines[j]!.trim() === '') j--;
      }
      snippets.push(snippet);
    }
    i = end;
  }
  return { snippets, problems };
}

/** The block written as the repository file it mirrors: `dbkit/<m>` imports become `../src/<m>/index.js`. */
export function asRepositoryFile(code: string, file: string): string {
  const up = relative(join(repoRoot, file, '..'), join(repoRoot, 'src')) || '.';
  return code.replace(/from '(dbkit)(?:\/(\w+))?'/g, (_, __, sub?: string) =>
    sub ? `from '${up}/${sub}/index.js'` : `from '${up}/index.js'`,
  );
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(repoRoot, 'tsconfig.json');
  const parsed = ts.parseJsonConfigFileContent(
    ts.readConfigFile(configPath, (p) => ts.sys.readFile(p)).config,
    ts.sys,
    repoRoot,
  );
  return {
    ...parsed.options,
    noEmit: true,
    // A snippet shows a use of the API: locals it declares for the reader need not be used.
    noUnusedLocals: false,
    noUnusedParameters: false,
    paths: { dbkit: [join(repoRoot, 'src/index.ts')], 'dbkit/*': [join(repoRoot, 'src/*/index.ts')] },
  };
}

/**
 * Compiles every non-fragment snippet (one program, each snippet its own module) and checks `file` blocks
 * against their files. Returns every problem, with the document line it comes from.
 */
export function checkSnippets(snippets: Snippet[]): {
  problems: SnippetProblem[];
  compiled: number;
  resolved: Map<string, string>;
} {
  const problems: SnippetProblem[] = [];
  const dir = join(repoRoot, '.tmp', `readme-snippets-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const byFile = new Map<string, { snippet: Snippet; preludeLines: number }>();
  try {
    snippets.forEach((s, n) => {
      if (s.file !== undefined) {
        let actual: string | undefined;
        try {
          actual = readFileSync(join(repoRoot, s.file), 'utf8');
        } catch {
          problems.push({ doc: s.doc, line: s.line, message: `${s.file} does not exist` });
        }
        if (actual !== undefined && actual.trimEnd() !== asRepositoryFile(s.code, s.file).trimEnd())
          problems.push({
            doc: s.doc,
            line: s.line,
            message: `the block is not ${s.file} (with dbkit/<module> imports as ../src/<module>/index.js)`,
          });
      }
      if (s.fragment !== undefined) return;
      const prelude = s.prelude === '' ? '' : `${s.prelude}\n`;
      const path = join(dir, `snippet-${n}-line-${s.line}.ts`);
      writeFileSync(path, `${prelude}${s.code}\nexport {};\n`);
      byFile.set(path, { snippet: s, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 });
    });
    const program = ts.createProgram([...byFile.keys()], compilerOptions());
    const resolved = new Map<string, string>();
    for (const [path, { snippet, preludeLines }] of byFile) {
      const sf = program.getSourceFile(path)!;
      for (const imp of sf.statements) {
        if (!ts.isImportDeclaration(imp) || !ts.isStringLiteral(imp.moduleSpecifier)) continue;
        const name = imp.moduleSpecifier.text;
        const r = ts.resolveModuleName(name, path, program.getCompilerOptions(), ts.sys);
        if (r.resolvedModule) resolved.set(name, relative(repoRoot, r.resolvedModule.resolvedFileName));
      }
      const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
      for (const d of diagnostics) {
        const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
        const inPrelude = at < preludeLines;
        problems.push({
          doc: snippet.doc,
          line: inPrelude ? snippet.line - 1 : snippet.line + 1 + at - preludeLines,
          message: `${inPrelude ? '(in the prelude) ' : ''}TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
        });
      }
    }
    return { problems, compiled: byFile.size, resolved };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
