/**
 * Call sites: the first stack frame outside dbkit, postgres.js, drizzle and node internals.
 * Stacks are captured cheaply (limited depth, no string formatting) and formatted only when read.
 */

/** dbkit's own folder (src/ in development, dist/ when built), found from this module's first stack frame. */
const selfDir: string = (() => {
  const line = new Error().stack?.split('\n')[1] ?? '';
  const m = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):\d+:\d+\)?\s*$/.exec(line);
  if (!m?.[1]) return '\0';
  const file = m[1].replace(/^file:\/\//, '');
  const parts = file.split(/[\\/]/);
  parts.pop();
  if (parts[parts.length - 1] === 'query') parts.pop();
  return `${parts.join('/')}/`;
})();

const DEFAULT_IGNORE = ['/node_modules/', 'node:internal', '(node:', 'internal/process'];

/** A captured stack, formatted on demand. */
export interface StackHolder {
  stack?: string;
}

/** Captures the current stack without formatting it (V8 formats `.stack` lazily on first read). */
export function captureStack(depth: number, below: Function): StackHolder {
  const holder: StackHolder = {};
  const prev = Error.stackTraceLimit;
  Error.stackTraceLimit = depth;
  Error.captureStackTrace(holder, below);
  Error.stackTraceLimit = prev;
  return holder;
}

/** The first frame (trimmed, without "at ") outside dbkit, node_modules and node internals. */
export function firstUserFrame(
  holder: StackHolder | undefined,
  ignore: ReadonlyArray<string | RegExp> = [],
): string | undefined {
  const stack = holder?.stack;
  if (!stack) return undefined;
  const lines = stack.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line.startsWith('at ')) continue;
    if (line.includes(selfDir)) continue;
    if (DEFAULT_IGNORE.some((p) => line.includes(p))) continue;
    if (ignore.some((p) => (typeof p === 'string' ? line.includes(p) : p.test(line)))) continue;
    return line.slice(3);
  }
  return undefined;
}
