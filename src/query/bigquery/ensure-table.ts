import type { BigQuery, TableField, TableMetadata } from '@google-cloud/bigquery';
import { publishEnsureTable } from './channels.js';
import { BigQueryRequestError, httpStatusOf } from './errors.js';
import { type BigQueryRebuildPlan, buildRebuildPlan } from './rebuild-plan.js';
import {
  type BigQueryTableDefinition,
  type BigQueryTableSpec,
  defineTable,
  expirationMs,
  toRestFields,
  toTableResource,
  typeKey,
} from './table-spec.js';

/** Options of {@link ensureTable}. */
export interface EnsureTableOptions {
  /** Run the rebuild plan (create-as-select, then swap) when the table cannot be patched. @default false */
  applyRebuild?: boolean;
  /** Create the dataset when it does not exist. @default true */
  createDataset?: boolean;
  /** Location for a dataset created here and for rebuild jobs. @default undefined (the client's default) */
  location?: string;
  /** Suffix of the rebuild and previous table names. @default UTC timestamp `YYYYMMDDHHmmss` */
  rebuildSuffix?: string;
}

/** What {@link ensureTable} did. `fields` names the table properties patched. */
export type EnsureTableResult =
  | { action: 'created'; table: string; datasetCreated: boolean }
  | { action: 'patched'; table: string; fields: string[]; addedColumns: string[] }
  | { action: 'unchanged'; table: string }
  | { action: 'rebuild-needed'; table: string; plan: BigQueryRebuildPlan }
  | { action: 'rebuilt'; table: string; plan: BigQueryRebuildPlan };

const ensureDefaults = { applyRebuild: false, createDataset: true } as const;

/**
 * Fills {@link EnsureTableOptions} defaults.
 *
 * @example
 * ```ts
 * resolveEnsureTableOptions({ location: 'EU' }).applyRebuild // false
 * ```
 */
export function resolveEnsureTableOptions(opts: EnsureTableOptions = {}) {
  return {
    applyRebuild: opts.applyRebuild ?? ensureDefaults.applyRebuild,
    createDataset: opts.createDataset ?? ensureDefaults.createDataset,
    location: opts.location,
    rebuildSuffix: opts.rebuildSuffix ?? new Date().toISOString().replace(/\D/g, '').slice(0, 14),
  };
}

interface SchemaDiff {
  fields: TableField[];
  changed: boolean;
  added: string[];
  reasons: string[];
}

// Merges the spec into the live schema: live order kept, new columns appended (BigQuery only appends), a
// REQUIRED -> NULLABLE relaxation and description edits allowed; anything else is a rebuild reason.
function diffFields(live: TableField[], spec: TableField[], prefix: string): SchemaDiff {
  const out: SchemaDiff = { fields: [], changed: false, added: [], reasons: [] };
  const specByName = new Map(spec.map((f) => [f.name, f]));
  for (const l of live) {
    const s = specByName.get(l.name);
    const path = `${prefix}${l.name}`;
    if (!s) {
      out.reasons.push(`column ${path} was removed`);
      out.fields.push(l);
      continue;
    }
    const lt = typeKey(l);
    const st = typeKey(s);
    const lm = l.mode ?? 'NULLABLE';
    const sm = s.mode ?? 'NULLABLE';
    const merged: TableField = { ...l };
    if (lt !== st) out.reasons.push(`column ${path} changes type ${lt} -> ${st}`);
    if (lm !== sm) {
      if (lm === 'REQUIRED' && sm === 'NULLABLE') {
        merged.mode = 'NULLABLE';
        out.changed = true;
      } else out.reasons.push(`column ${path} changes mode ${lm} -> ${sm}`);
    }
    if (s.description !== undefined && s.description !== l.description) {
      merged.description = s.description;
      out.changed = true;
    }
    if (lt === 'RECORD' && st === 'RECORD') {
      const sub = diffFields(l.fields ?? [], s.fields ?? [], `${path}.`);
      merged.fields = sub.fields;
      out.changed ||= sub.changed;
      out.added.push(...sub.added);
      out.reasons.push(...sub.reasons);
    }
    out.fields.push(merged);
  }
  const liveNames = new Set(live.map((f) => f.name));
  for (const s of spec) {
    if (liveNames.has(s.name)) continue;
    const path = `${prefix}${s.name}`;
    if (s.mode === 'REQUIRED') out.reasons.push(`column ${path} is added as REQUIRED`);
    out.fields.push(s);
    out.added.push(path);
    out.changed = true;
  }
  return out;
}

/** Computes the patch body and rebuild reasons for `def` against live metadata. Exported for tests. */
export function diffTable(
  def: BigQueryTableDefinition,
  live: TableMetadata,
): { patch: TableMetadata; fields: string[]; addedColumns: string[]; reasons: string[] } {
  const reasons: string[] = [];
  const patch: TableMetadata = {};
  const fields: string[] = [];
  const lp = live.timePartitioning;
  const p = def.partitioning;
  const lr = live.rangePartitioning;
  const r = def.rangePartitioning;
  const rangeText = (x: { field?: unknown; start?: unknown; end?: unknown; interval?: unknown }) =>
    `range partitioning on ${String(x.field)} [${String(x.start)}, ${String(x.end)}) by ${String(x.interval)}`;
  const liveRange = lr
    ? { field: lr.field, start: lr.range?.start, end: lr.range?.end, interval: lr.range?.interval }
    : undefined;
  if (lr && !r) reasons.push(`${rangeText(liveRange!)} would be removed`);
  if (r && !lr) reasons.push(`${rangeText(r)} would be added`);
  if (r && liveRange && rangeText(r) !== rangeText(liveRange))
    reasons.push(`${rangeText(liveRange)} changes to ${rangeText(r)}`);
  if (!p && lp) reasons.push(`partitioning ${lp.type} on ${lp.field ?? '_PARTITIONTIME'} would be removed`);
  if (p && !lp) reasons.push(`partitioning ${p.type} on ${p.field} would be added`);
  if (p && lp && (lp.type !== p.type || (lp.field ?? '_PARTITIONTIME') !== p.field))
    reasons.push(
      `partitioning changes ${lp.type} on ${lp.field ?? '_PARTITIONTIME'} -> ${p.type} on ${p.field}`,
    );
  const schema = diffFields(live.schema?.fields ?? [], toRestFields(def.schema), '');
  reasons.push(...schema.reasons);
  if (schema.changed) {
    patch.schema = { fields: schema.fields };
    fields.push('schema');
  }
  const liveClustering = live.clustering?.fields ?? [];
  if (liveClustering.join('\u0000') !== def.clustering.join('\u0000')) {
    // An empty clustering spec removes clustering: the API takes `clustering: null`.
    patch.clustering = def.clustering.length > 0 ? { fields: [...def.clustering] } : (null as never);
    fields.push('clustering');
  }
  if (p && lp && lp.type === p.type && lp.field === p.field) {
    const want = expirationMs(def);
    const have = lp.expirationMs == null ? undefined : String(lp.expirationMs);
    if (want !== have) {
      patch.timePartitioning = { type: p.type, field: p.field, expirationMs: (want ?? null) as never };
      fields.push('partitionExpiration');
    }
  }
  const liveRpf = live.requirePartitionFilter ?? lp?.requirePartitionFilter ?? false;
  if ((p || r) && liveRpf !== def.requirePartitionFilter) {
    patch.requirePartitionFilter = def.requirePartitionFilter;
    fields.push('requirePartitionFilter');
  }
  const liveLabels = live.labels ?? {};
  const labelChanges = Object.entries(def.labels).filter(([k, v]) => liveLabels[k] !== v);
  if (labelChanges.length > 0) {
    // Labels the spec does not name are left alone: other tools (billing exports, owners) set their own.
    patch.labels = Object.fromEntries(labelChanges);
    fields.push('labels');
  }
  if (def.description !== undefined && def.description !== live.description) {
    patch.description = def.description;
    fields.push('description');
  }
  return { patch, fields, addedColumns: schema.added, reasons };
}

/** What ensureTable would do, computed offline from a spec and the live metadata (undefined: table absent). */
export type BigQueryTablePlan =
  | { action: 'create'; table: string; body: TableMetadata }
  | { action: 'patch'; table: string; fields: string[]; addedColumns: string[]; patch: TableMetadata }
  | { action: 'unchanged'; table: string }
  | { action: 'rebuild'; table: string; plan: BigQueryRebuildPlan };

/**
 * Computes, without any request, the change ensureTable would make: the create body, the patch, or the rebuild plan.
 *
 * @example
 * ```ts
 * const plan = planTableChanges(events, liveMetadataOrUndefined);
 * if (plan.action === 'rebuild') console.log(plan.plan.statements.join(';\n'));
 * ```
 */
export function planTableChanges(
  spec: BigQueryTableSpec | BigQueryTableDefinition,
  live: TableMetadata | undefined,
  options: Pick<EnsureTableOptions, 'rebuildSuffix'> = {},
): BigQueryTablePlan {
  const def = defineTable(spec as BigQueryTableSpec);
  const table = `${def.dataset}.${def.table}`;
  if (!live) return { action: 'create', table, body: toTableResource(def) };
  const diff = diffTable(def, live);
  if (diff.reasons.length > 0) {
    const suffix = resolveEnsureTableOptions(options).rebuildSuffix;
    return { action: 'rebuild', table, plan: buildRebuildPlan(def, live, diff.reasons, suffix) };
  }
  if (diff.fields.length === 0) return { action: 'unchanged', table };
  return { action: 'patch', table, fields: diff.fields, addedColumns: diff.addedColumns, patch: diff.patch };
}

/**
 * Creates the table if absent; otherwise patches what can change (clustering, partition expiration,
 * requirePartitionFilter, labels, description, added columns) and returns a rebuild plan for what cannot
 * (partition type or field, column type changes, removed columns), applied only with `applyRebuild: true`.
 *
 * @example
 * ```ts
 * const result = await ensureTable(manager.bigquery(), events);
 * if (result.action === 'rebuild-needed') console.log(result.plan.reasons, result.plan.statements);
 * ```
 */
export async function ensureTable(
  bigquery: BigQuery,
  spec: BigQueryTableSpec | BigQueryTableDefinition,
  options: EnsureTableOptions = {},
): Promise<EnsureTableResult> {
  const def = defineTable(spec as BigQueryTableSpec);
  const opts = resolveEnsureTableOptions(options);
  const name = `${def.dataset}.${def.table}`;
  const dataset = bigquery.dataset(def.dataset, opts.location ? { location: opts.location } : {});
  const table = dataset.table(def.table);
  const finish = (result: EnsureTableResult): EnsureTableResult => {
    publishEnsureTable({
      table: name,
      action: result.action,
      fields: 'fields' in result ? result.fields : [],
    });
    return result;
  };

  let live: TableMetadata | undefined = await getMetadata(table, name);
  if (!live) {
    const body = toTableResource(def);
    let datasetCreated = false;
    try {
      await dataset.createTable(def.table, body);
      return finish({ action: 'created', table: name, datasetCreated });
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 404 && opts.createDataset) {
        // bigquery.createDataset, not dataset.create(): the latter also copies `projectId` into the Dataset body.
        await call('datasets.insert', def.dataset, () =>
          bigquery.createDataset(def.dataset, opts.location ? { location: opts.location } : {}),
        ).catch((err: unknown) => {
          if (httpStatusOf((err as { cause?: unknown }).cause) !== 409) throw err;
        });
        datasetCreated = true;
        await call('tables.insert', name, () => dataset.createTable(def.table, body));
        return finish({ action: 'created', table: name, datasetCreated });
      }
      // 409: created concurrently by another caller; converge on what is there now.
      if (status !== 409) throw new BigQueryRequestError('tables.insert', name, e);
      live = await getMetadata(table, name);
      if (!live) throw new BigQueryRequestError('tables.get', name, e);
    }
  }

  const diff = diffTable(def, live);
  if (diff.reasons.length > 0) {
    const plan = buildRebuildPlan(def, live, diff.reasons, opts.rebuildSuffix);
    if (!opts.applyRebuild) return finish({ action: 'rebuild-needed', table: name, plan });
    for (const query of plan.statements) {
      await call('jobs.query', name, () =>
        bigquery.query({
          query,
          useLegacySql: false,
          labels: { dbkit_operation: 'ensure-table-rebuild' },
          ...(opts.location ? { location: opts.location } : {}),
        }),
      );
    }
    return finish({ action: 'rebuilt', table: name, plan });
  }
  if (diff.fields.length === 0) return finish({ action: 'unchanged', table: name });
  await call('tables.patch', name, () => table.setMetadata(diff.patch));
  return finish({ action: 'patched', table: name, fields: diff.fields, addedColumns: diff.addedColumns });
}

async function getMetadata(
  table: ReturnType<ReturnType<BigQuery['dataset']>['table']>,
  name: string,
): Promise<TableMetadata | undefined> {
  try {
    const [meta] = await table.getMetadata();
    return meta as TableMetadata;
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw new BigQueryRequestError('tables.get', name, e);
  }
}

async function call<T>(operation: string, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new BigQueryRequestError(operation, target, e);
  }
}
