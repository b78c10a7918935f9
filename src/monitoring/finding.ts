/** How bad a finding is: 'critical' makes the doctor exit 2, 'warning' 1; 'info' is for the record. */
export type FindingSeverity = 'info' | 'warning' | 'critical';

/**
 * Unit of a finding's `value` and `threshold`: `ratio` is 0..1, `percent` 0..100, `per_second` a rate,
 * `rows_per_scan` rows read per sequential scan.
 */
export type FindingUnit =
  | 'bytes'
  | 'ratio'
  | 'percent'
  | 'ms'
  | 'seconds'
  | 'rows_per_scan'
  | 'transactions'
  | 'backends'
  | 'per_second';

/** How sure a usage-based finding is (missing and unused indexes depend on how long statistics have run). */
export type FindingConfidence = 'low' | 'medium' | 'high';

/**
 * One problem (or fact) a check found. `value` and `threshold` are set wherever a threshold decides the finding
 * (a dashboard can plot `value` and alert at `threshold`), in `unit`. Every `sql` runs as given (one statement,
 * or several that may share one implicit transaction: never CONCURRENTLY or VACUUM next to another statement).
 */
export interface Finding<Check extends string = string> {
  check: Check;
  severity: FindingSeverity;
  /** The table, index, sequence, session, query or server concerned. */
  object: string;
  /** What was found, with its numbers. */
  detail: string;
  /** What to do about it. */
  suggestion: string;
  /** SQL that fixes it (or, where a fix cannot be given blind, the query that finds what blocks it). */
  sql?: string;
  /** The measured figure the threshold was applied to. */
  value?: number;
  threshold?: number;
  unit?: FindingUnit;
  /** Set on usage-based findings (missing index, unused index). */
  confidence?: FindingConfidence;
}

export const SEVERITY_ORDER: Record<FindingSeverity, number> = { critical: 0, warning: 1, info: 2 };

/** Sorts most severe first, keeping the check order within a severity. */
export function bySeverity<T extends { severity: string }>(xs: T[]): T[] {
  const rank = (s: string) => SEVERITY_ORDER[s as FindingSeverity] ?? 3;
  return xs.sort((a, b) => rank(a.severity) - rank(b.severity));
}

/** `12.3 MB` style sizes for messages. */
export function formatBytes(b: number): string {
  if (b >= 1024 ** 3) return `${(b / 1024 ** 3).toFixed(1)} GB`;
  if (b >= 1024 ** 2) return `${(b / 1024 ** 2).toFixed(1)} MB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} kB`;
  return `${b} B`;
}

/** Quotes a string as an SQL literal. */
export const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;
