/**
 * BigQuery naming rules (https://cloud.google.com/bigquery/docs/datasets#dataset-naming,
 * .../tables#table_naming, .../schemas#column_names, .../labels-intro#requirements), checked locally so a bad
 * name fails before any request.
 */

import { COLUMN_NAME_MAX_CHARS, MAX_LABELS } from './limits.js';

/** One validation problem. */
export interface BigQueryIssue {
  path: string;
  message: string;
}

const DATASET = /^[A-Za-z0-9_]{1,1024}$/;
// Table names: Unicode letters, marks, numbers, connectors (incl. _), dashes and spaces; at most 1024 UTF-8 bytes.
const TABLE = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
// TableFieldSchema.name: "must contain only letters (a-z, A-Z), numbers (0-9), or underscores (_), and must start
// with a letter or underscore. The maximum length is 300 characters." BigQuery's opt-in "flexible column names"
// (spaces, dashes, a leading digit) are not accepted: the REST reference still documents this rule.
const COLUMN = new RegExp(`^[A-Za-z_][A-Za-z0-9_]{0,${COLUMN_NAME_MAX_CHARS - 1}}$`);
// Reserved column-name prefixes (case-insensitive).
const RESERVED_COLUMN_PREFIXES = [
  '_table_',
  '_file_',
  '_partition',
  '_row_timestamp',
  '__root__',
  '_colidentifier',
];
// Label keys: lowercase letters (international allowed), digits, _ and -; start with a letter; 1-63 chars.
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
const PROJECT = /^[a-z][a-z0-9.:-]{4,61}[a-z0-9]$|^[a-z][a-z0-9-]{0,62}$/;
const REGION = /^[a-z]+(?:-[a-z0-9]+)*$/;

export function checkDatasetName(name: string, path: string, issues: BigQueryIssue[]): void {
  if (typeof name !== 'string' || !DATASET.test(name))
    issues.push({ path, message: `"${name}" must be 1-1024 letters, digits or underscores` });
}

export function checkTableName(name: string, path: string, issues: BigQueryIssue[]): void {
  if (typeof name !== 'string' || !TABLE.test(name) || Buffer.byteLength(name) > 1024)
    issues.push({
      path,
      message: `"${name}" must be 1-1024 bytes of letters, marks, numbers, underscores, dashes or spaces`,
    });
}

export function checkColumnName(name: string, path: string, issues: BigQueryIssue[]): void {
  if (typeof name !== 'string' || !COLUMN.test(name)) {
    issues.push({
      path,
      message: `"${name}" must start with a letter or underscore and hold only letters, digits, underscores (max ${COLUMN_NAME_MAX_CHARS})`,
    });
    return;
  }
  const lower = name.toLowerCase();
  const reserved = RESERVED_COLUMN_PREFIXES.find((p) => lower.startsWith(p));
  if (reserved) issues.push({ path, message: `"${name}" uses the reserved prefix "${reserved}"` });
}

export function checkLabels(
  labels: Record<string, string> | undefined,
  path: string,
  issues: BigQueryIssue[],
) {
  if (labels === undefined || labels === null) return;
  if (typeof labels !== 'object' || Array.isArray(labels)) {
    issues.push({ path, message: 'must be an object of label key to value' });
    return;
  }
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS)
    issues.push({ path, message: `at most ${MAX_LABELS} labels, got ${entries.length}` });
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k))
      issues.push({
        path: `${path}.${k}`,
        message: 'label keys are 1-63 lowercase letters, digits, _ or -, starting with a letter',
      });
    if (typeof v !== 'string' || !LABEL_VALUE.test(v))
      issues.push({
        path: `${path}.${k}`,
        message: 'label values are 0-63 lowercase letters, digits, _ or -',
      });
  }
}

export function checkProjectId(id: string, path: string, issues: BigQueryIssue[]): void {
  if (!PROJECT.test(id)) issues.push({ path, message: `"${id}" is not a valid project id` });
}

export function checkRegion(region: string, path: string, issues: BigQueryIssue[]): void {
  if (!REGION.test(region))
    issues.push({
      path,
      message: `"${region}" is not a region or multi-region name (e.g. us, eu, europe-west1)`,
    });
}

/** Backtick-quotes a `project.dataset.table` path; names were validated, so a backtick cannot occur. */
export function quoteTablePath(...parts: string[]): string {
  return `\`${parts.join('.')}\``;
}

/** Backtick-quotes one column identifier (validated by checkColumnName). */
export function quoteIdent(name: string): string {
  return `\`${name}\``;
}
