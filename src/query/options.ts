import { QueryOptionsError } from './errors.js';
import type { NPlusOneReport } from './n-plus-one.js';
import type { QueryEvent } from './query-event.js';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Label carried by every event (e.g. 'primary', 'replica'). @default 'postgres' */
  name?: string;
  /** Called after every query settles (success or error). Must not throw; errors are swallowed. @default undefined */
  onQuery?: (event: QueryEvent) => void;
  /** Called for queries taking at least `slowQueryMs`. @default undefined */
  onSlowQuery?: (event: QueryEvent) => void;
  /** Slow-query threshold in milliseconds. @default 200 */
  slowQueryMs?: number;
  /** Called when a tracking scope ends with an N+1 pattern among this client's queries. @default undefined */
  onNPlusOne?: (report: NPlusOneReport) => void;
  /** Capture the stack at query creation to report the call site outside dbkit. @default true */
  callSite?: boolean;
  /** Stack frames captured per query (more frames find deeper call sites, at a small cost). @default 24 */
  stackDepth?: number;
  /** Extra frames to skip when looking for the call site (substring or RegExp), e.g. your repository base class. @default [] */
  ignoreFrames?: ReadonlyArray<string | RegExp>;
}

/** Options of {@link trackQueries}. */
export interface TrackQueriesOptions {
  /** Executions of one fingerprint in a scope that make an N+1. @default 5 */
  threshold?: number;
  /** Only report an N+1 when its executions add up to at least this many ms. @default 0 */
  minTotalDurationMs?: number;
  /** Slow threshold for the `slow` list; when unset each client's own `slowQueryMs` applies. @default undefined */
  slowQueryMs?: number;
  /** Called once per N+1 found when the scope ends. @default undefined */
  onNPlusOne?: (report: NPlusOneReport) => void;
}

/** Options of {@link expectQueries}. */
export interface ExpectQueriesOptions extends TrackQueriesOptions {
  /** Most queries allowed. @default Infinity */
  max?: number;
  /** Throw when an N+1 is found. @default true */
  noNPlusOne?: boolean;
}

const defaults = {
  instrument: {
    name: 'postgres',
    slowQueryMs: 200,
    callSite: true,
    stackDepth: 24,
    ignoreFrames: [] as ReadonlyArray<string | RegExp>,
  },
  track: { threshold: 5, minTotalDurationMs: 0 },
  expect: { threshold: 5, minTotalDurationMs: 0, max: Number.POSITIVE_INFINITY, noNPlusOne: true },
  explain: {
    analyze: false,
    buffers: false,
    settings: false,
    largeTableRows: 10_000,
    selectivity: 0.1,
    misestimateRatio: 10,
    misestimateMinRows: 50,
    nestedLoopMinLoops: 1_000,
    dominantShare: 0.5,
    dominantMinMs: 1,
  },
  slowLog: {
    thresholdMs: 200,
    sampleRate: 1,
    redactParams: true,
    maxPerInterval: 10,
    intervalMs: 60_000,
  },
} as const;

type Defaults = typeof defaults;

function checkNumber(kind: string, field: string, v: unknown, min: number, max = Number.POSITIVE_INFINITY) {
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max)
    throw new QueryOptionsError(`${kind}: ${field} must be a number in [${min}, ${max}], got ${String(v)}`, {
      option: field,
      value: v,
    });
}

/**
 * Fills one option set of dbkit/query from the single `defaults` const and validates the numbers.
 * (One resolver for the module: instrument, track, expect, explain and slowLog options.)
 */
export function resolveQueryOptions<K extends keyof Defaults, O extends object>(
  kind: K,
  options: O | undefined,
): Omit<O, keyof Defaults[K]> & {
  -readonly [P in keyof Defaults[K]]: Defaults[K][P] extends number
    ? number
    : Defaults[K][P] extends boolean
      ? boolean
      : Defaults[K][P];
} {
  const merged: Record<string, unknown> = { ...defaults[kind] };
  for (const [k, v] of Object.entries(options ?? {})) if (v !== undefined) merged[k] = v;
  for (const [k, d] of Object.entries(defaults[kind])) {
    const v = merged[k];
    if (typeof d === 'number') {
      const bounds: Record<string, [number, number]> = {
        sampleRate: [0, 1],
        threshold: [2, Number.POSITIVE_INFINITY],
        stackDepth: [1, 200],
        selectivity: [0, 1],
        dominantShare: [0, 1],
        misestimateRatio: [1, Number.POSITIVE_INFINITY],
        maxPerInterval: [1, Number.POSITIVE_INFINITY],
        intervalMs: [1, Number.POSITIVE_INFINITY],
      };
      const [min, max] = bounds[k] ?? [0, Number.POSITIVE_INFINITY];
      checkNumber(kind, k, v, min, max);
    } else if (typeof d === 'boolean' && typeof v !== 'boolean') {
      throw new QueryOptionsError(`${kind}: ${k} must be a boolean, got ${String(v)}`, {
        option: k,
        value: v,
      });
    }
  }
  if ('slowQueryMs' in merged && merged.slowQueryMs !== undefined)
    checkNumber(kind, 'slowQueryMs', merged.slowQueryMs, 0);
  // biome-ignore lint/suspicious/noExplicitAny: the mapped return type is checked by the callers' usage
  return merged as any;
}
