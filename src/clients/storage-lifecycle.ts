/**
 * Cloud Storage bucket lifecycle rules as a typed builder (temp files deleted after 7 days, logs to NEARLINE
 * after 30, archives to COLDLINE after 90, plus custom rules) and `applyBucketLifecycle`, which converges a
 * bucket's rules with one conditional PATCH (https://cloud.google.com/storage/docs/lifecycle).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Storage, StorageOptions } from '@google-cloud/storage';
import { DbkitError } from '../errors.js';
import { importLib } from '../internal/import-lib.js';

/** Storage classes a lifecycle rule can move objects to, warmest first. */
export type GcsStorageClass = 'STANDARD' | 'NEARLINE' | 'COLDLINE' | 'ARCHIVE';

/** Lifecycle condition (all given fields must hold). Dates are `YYYY-MM-DD` (or a Date, converted in UTC). */
export interface GcsLifecycleCondition {
  /** Days since the object was created. */
  age?: number;
  createdBefore?: string | Date;
  customTimeBefore?: string | Date;
  daysSinceCustomTime?: number;
  daysSinceNoncurrentTime?: number;
  /** true: live objects only; false: noncurrent versions only. */
  isLive?: boolean;
  matchesPrefix?: string[];
  matchesSuffix?: string[];
  matchesStorageClass?: string[];
  noncurrentTimeBefore?: string | Date;
  numNewerVersions?: number;
}

/** One lifecycle rule in the JSON API shape. */
export interface GcsLifecycleRule {
  action:
    | { type: 'Delete' }
    | { type: 'SetStorageClass'; storageClass: GcsStorageClass }
    | { type: 'AbortIncompleteMultipartUpload' };
  condition: GcsLifecycleCondition;
}

/** Which objects a builder step applies to. */
export interface GcsObjectMatch {
  /** Object name prefixes, e.g. ['tmp/']. @default undefined (all objects) */
  prefix?: string | string[];
  /** Object name suffixes, e.g. ['.log']. @default undefined */
  suffix?: string | string[];
}

/** Published after applyBucketLifecycle: `{ bucket, action, rules }`. */
export const STORAGE_LIFECYCLE_APPLIED_CHANNEL = 'dbkit:storage:lifecycle-applied';
const appliedChannel = diagnosticsChannel.channel(STORAGE_LIFECYCLE_APPLIED_CHANNEL);

const CLASS_ORDER: GcsStorageClass[] = ['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE'];
const MAX_RULES = 100;

/**
 * A lifecycle rule set is invalid (negative age, empty condition, a move to a warmer class, over 100 rules).
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_STORAGE_LIFECYCLE_VALIDATION')) console.log(e.context.issues) }
 * ```
 */
export class StorageLifecycleValidationError extends DbkitError {
  static readonly code = 'E_STORAGE_LIFECYCLE_VALIDATION';
  constructor(issues: string[]) {
    super(StorageLifecycleValidationError.code, `Invalid lifecycle rules: ${issues.join('; ')}`, {
      context: { issues },
    });
  }
}

/**
 * A Cloud Storage API call failed; the client's error is the `cause`.
 *
 * @example
 * ```ts
 * catch (e) { if (isDbkitError(e, 'E_STORAGE_REQUEST')) console.log(e.context.bucket, e.cause) }
 * ```
 */
export class StorageRequestError extends DbkitError {
  static readonly code = 'E_STORAGE_REQUEST';
  constructor(operation: string, bucket: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(StorageRequestError.code, `Cloud Storage ${operation} on bucket ${bucket} failed: ${detail}`, {
      cause,
      context: { operation, bucket },
    });
  }
}

const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
const isoDay = (d: string | Date) => (d instanceof Date ? d.toISOString().slice(0, 10) : d);

function matchCondition(match: GcsObjectMatch = {}): GcsLifecycleCondition {
  const c: GcsLifecycleCondition = {};
  const prefix = list(match.prefix);
  const suffix = list(match.suffix);
  if (prefix) c.matchesPrefix = prefix;
  if (suffix) c.matchesSuffix = suffix;
  return c;
}

/**
 * Builds lifecycle rules step by step; `build()` validates and returns them in the JSON API shape.
 *
 * @example
 * ```ts
 * const rules = storageLifecycle().preset().deleteAfter(365, { prefix: 'exports/' }).build();
 * ```
 */
export class StorageLifecycleBuilder {
  readonly #rules: GcsLifecycleRule[] = [];

  /** Deletes matching objects `days` after creation. */
  deleteAfter(days: number, match?: GcsObjectMatch): this {
    this.#rules.push({ action: { type: 'Delete' }, condition: { age: days, ...matchCondition(match) } });
    return this;
  }

  /**
   * Moves matching objects to `storageClass` `days` after creation. Only objects in a warmer class are
   * matched (matchesStorageClass is filled in), so a rule never tries to warm an object up.
   */
  moveTo(storageClass: GcsStorageClass, days: number, match?: GcsObjectMatch): this {
    const warmer = CLASS_ORDER.slice(0, Math.max(CLASS_ORDER.indexOf(storageClass), 0));
    this.#rules.push({
      action: { type: 'SetStorageClass', storageClass },
      condition: { age: days, ...matchCondition(match), matchesStorageClass: warmer },
    });
    return this;
  }

  /** Aborts incomplete XML API multipart uploads `days` after they started. */
  abortIncompleteUploadsAfter(days: number): this {
    this.#rules.push({ action: { type: 'AbortIncompleteMultipartUpload' }, condition: { age: days } });
    return this;
  }

  /** Adds a custom rule as is (validated by build()). */
  rule(rule: GcsLifecycleRule): this {
    this.#rules.push(rule);
    return this;
  }

  /** Adds the standard preset: see {@link standardStorageLifecycle}. */
  preset(options: StandardLifecycleOptions = {}): this {
    this.#rules.push(...standardStorageLifecycle(options));
    return this;
  }

  /** Validates and returns the rules (dates normalised to YYYY-MM-DD). */
  build(): GcsLifecycleRule[] {
    return validateLifecycleRules(this.#rules);
  }
}

/**
 * Starts a lifecycle rule builder.
 *
 * @example
 * ```ts
 * await applyBucketLifecycle(storage, 'my-bucket', storageLifecycle().preset().build());
 * ```
 */
export function storageLifecycle(): StorageLifecycleBuilder {
  return new StorageLifecycleBuilder();
}

/** Prefixes and ages of {@link standardStorageLifecycle}. */
export interface StandardLifecycleOptions {
  /** Prefix of temporary files. @default 'tmp/' */
  tempPrefix?: string;
  /** Days before temporary files are deleted. @default 7 */
  tempDays?: number;
  /** Prefix of logs. @default 'logs/' */
  logsPrefix?: string;
  /** Days before logs move to NEARLINE. @default 30 */
  logsDays?: number;
  /** Prefix of archives. @default 'archives/' */
  archivesPrefix?: string;
  /** Days before archives move to COLDLINE. @default 90 */
  archivesDays?: number;
}

const presetDefaults = {
  tempPrefix: 'tmp/',
  tempDays: 7,
  logsPrefix: 'logs/',
  logsDays: 30,
  archivesPrefix: 'archives/',
  archivesDays: 90,
} as const;

/** Fills {@link StandardLifecycleOptions} defaults. */
export function resolveStorageLifecycleOptions(opts: StandardLifecycleOptions = {}) {
  return { ...presetDefaults, ...opts };
}

/**
 * The standard preset: temp files deleted after 7 days, logs to NEARLINE after 30, archives to COLDLINE after 90.
 *
 * @example
 * ```ts
 * const rules = standardStorageLifecycle({ tempPrefix: 'scratch/' });
 * ```
 */
export function standardStorageLifecycle(options: StandardLifecycleOptions = {}): GcsLifecycleRule[] {
  const o = resolveStorageLifecycleOptions(options);
  return new StorageLifecycleBuilder()
    .deleteAfter(o.tempDays, { prefix: o.tempPrefix })
    .moveTo('NEARLINE', o.logsDays, { prefix: o.logsPrefix })
    .moveTo('COLDLINE', o.archivesDays, { prefix: o.archivesPrefix })
    .build();
}

/** Validates rules and normalises dates; throws {@link StorageLifecycleValidationError}. */
export function validateLifecycleRules(rules: ReadonlyArray<GcsLifecycleRule>): GcsLifecycleRule[] {
  const issues: string[] = [];
  if (rules.length > MAX_RULES) issues.push(`a bucket holds at most ${MAX_RULES} rules, got ${rules.length}`);
  const out = rules.map((r, i) => {
    const at = `rule[${i}]`;
    const c: GcsLifecycleCondition = { ...r.condition };
    if (Object.keys(c).length === 0) issues.push(`${at}: needs at least one condition`);
    for (const k of ['age', 'daysSinceCustomTime', 'daysSinceNoncurrentTime', 'numNewerVersions'] as const) {
      const v = c[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0))
        issues.push(`${at}.${k}: must be a non-negative integer, got ${v}`);
    }
    for (const k of ['createdBefore', 'customTimeBefore', 'noncurrentTimeBefore'] as const) {
      const v = c[k];
      if (v === undefined) continue;
      c[k] = isoDay(v);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(c[k] as string))
        issues.push(`${at}.${k}: must be YYYY-MM-DD or a Date`);
    }
    for (const k of ['matchesPrefix', 'matchesSuffix'] as const) {
      const v = c[k];
      if (
        v !== undefined &&
        (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || !s))
      )
        issues.push(`${at}.${k}: must be a non-empty list of non-empty strings`);
    }
    const a = r.action;
    if (!['Delete', 'SetStorageClass', 'AbortIncompleteMultipartUpload'].includes(a.type))
      issues.push(`${at}.action.type: unknown action "${a.type}"`);
    if (a.type === 'SetStorageClass') {
      const target = CLASS_ORDER.indexOf(a.storageClass);
      if (target < 0) issues.push(`${at}.action.storageClass: unknown class "${a.storageClass}"`);
      for (const from of c.matchesStorageClass ?? []) {
        const idx = CLASS_ORDER.indexOf(from as GcsStorageClass);
        if (idx >= target)
          issues.push(`${at}: cannot move ${from} objects to ${a.storageClass} (not colder)`);
      }
    }
    return { action: { ...a }, condition: c } as GcsLifecycleRule;
  });
  if (issues.length > 0) throw new StorageLifecycleValidationError(issues);
  return out;
}

/** Options of {@link applyBucketLifecycle}. */
export interface ApplyBucketLifecycleOptions {
  /** 'replace': the bucket ends with exactly these rules; 'merge': rules already there are kept. @default 'replace' */
  mode?: 'replace' | 'merge';
}

/** What {@link applyBucketLifecycle} did. */
export interface ApplyBucketLifecycleResult {
  bucket: string;
  action: 'updated' | 'unchanged';
  /** The bucket's rules afterwards. */
  rules: GcsLifecycleRule[];
}

// Key-order independent form of a rule, for comparison with what the API returns.
function canonical(rule: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, x]) => [k, sort(x)]),
          )
        : v;
  return JSON.stringify(sort(rule));
}

/**
 * Sets a bucket's lifecycle rules (bucket get, then one PATCH guarded by ifMetagenerationMatch so a concurrent
 * change is not overwritten); no PATCH when the bucket already has them. `storage` is a Storage client or its
 * options (the package is then loaded lazily).
 *
 * @example
 * ```ts
 * const r = await applyBucketLifecycle(manager.storage(), 'acme-data', storageLifecycle().preset().build());
 * console.log(r.action); // 'updated' the first time, 'unchanged' after
 * ```
 */
export async function applyBucketLifecycle(
  storage: Storage | StorageOptions,
  bucket: string,
  rules: ReadonlyArray<GcsLifecycleRule> | StorageLifecycleBuilder,
  options: ApplyBucketLifecycleOptions = {},
): Promise<ApplyBucketLifecycleResult> {
  const desired = rules instanceof StorageLifecycleBuilder ? rules.build() : validateLifecycleRules(rules);
  const mode = options.mode ?? 'replace';
  const client =
    typeof (storage as Storage).bucket === 'function'
      ? (storage as Storage)
      : new (importLib<typeof import('@google-cloud/storage')>(
          '@google-cloud/storage',
          'applyBucketLifecycle',
        ).Storage)(storage as StorageOptions);
  const b = client.bucket(bucket);
  let live: { lifecycle?: { rule?: unknown[] } | null; metageneration?: string | number };
  try {
    [live] = (await b.getMetadata()) as unknown as [typeof live];
  } catch (e) {
    throw new StorageRequestError('buckets.get', bucket, e);
  }
  const liveRules = (live.lifecycle?.rule ?? []) as GcsLifecycleRule[];
  const want = new Set(desired.map(canonical));
  const next = mode === 'merge' ? [...liveRules.filter((r) => !want.has(canonical(r))), ...desired] : desired;
  const unchanged =
    next.length === liveRules.length && next.every((r, i) => canonical(r) === canonical(liveRules[i]));
  if (unchanged) {
    if (appliedChannel.hasSubscribers)
      appliedChannel.publish({ bucket, action: 'unchanged', rules: next.length });
    return { bucket, action: 'unchanged', rules: liveRules };
  }
  if (next.length > MAX_RULES)
    throw new StorageLifecycleValidationError([`merged rules exceed ${MAX_RULES}`]);
  try {
    const precondition =
      live.metageneration === undefined ? {} : { ifMetagenerationMatch: Number(live.metageneration) };
    await b.setMetadata({ lifecycle: { rule: next } }, precondition);
  } catch (e) {
    throw new StorageRequestError('buckets.patch', bucket, e);
  }
  if (appliedChannel.hasSubscribers)
    appliedChannel.publish({ bucket, action: 'updated', rules: next.length });
  return { bucket, action: 'updated', rules: next };
}
