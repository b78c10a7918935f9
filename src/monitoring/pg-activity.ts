import { cancelChannel } from './channels.js';
import { BackendNotFoundError, CancelRefusedError } from './errors.js';
import { type CancelBackendOptions, type PgActivityOptions, resolveMonitoringOptions } from './options.js';
import type { AnySql } from './pool-monitor.js';

/** One client backend from pg_stat_activity. */
export interface PgBackend {
  pid: number;
  database: string | null;
  user: string | null;
  applicationName: string;
  state: string | null;
  waitEvent: string | null;
  /** Seconds since the current query started (null when never ran one). */
  querySeconds: number | null;
  /** Seconds in the current state. */
  stateSeconds: number | null;
  query: string;
  /** pids this backend waits for (pg_blocking_pids). */
  blockedBy: number[];
}

/**
 * A node of a blocking tree: a backend and the backends waiting on it. The roots block others and are not
 * blocked themselves. Within one tree each backend appears once, even when it waits on several of them
 * (F <- G, F+G <- H: H is under G only, and F blocks 2).
 */
export interface BlockingNode {
  pid: number;
  query: string;
  state: string | null;
  database: string | null;
  applicationName: string;
  /** Seconds in the current state (for a root idle in transaction: how long it has held its locks idle). */
  stateSeconds: number | null;
  waitEvent: string | null;
  blocks: BlockingNode[];
  /** Distinct backends below this node. */
  blockedCount: number;
}

/** What {@link pgActivity} returns. */
export interface PgActivity {
  maxConnections: number;
  /** Client backends (all databases). */
  total: number;
  /** total / maxConnections. */
  usage: number;
  byState: Record<string, number>;
  longRunning: PgBackend[];
  idleInTransaction: PgBackend[];
  /** Roots of blocking trees. */
  blocking: BlockingNode[];
  /** Every client backend except the one that ran this query. */
  backends: PgBackend[];
}

/**
 * Connections by state vs max_connections, long-running queries, idle-in-transaction sessions and
 * blocking trees (pg_blocking_pids).
 *
 * @example
 * ```ts
 * const a = await pgActivity(sql, { longRunningMs: 30_000 });
 * for (const root of a.blocking) console.log(root.pid, 'blocks', root.blocks.map((b) => b.pid));
 * ```
 */
export async function pgActivity(sql: AnySql, options: Partial<PgActivityOptions> = {}): Promise<PgActivity> {
  const opts = resolveMonitoringOptions('activity', options);
  const rows = await sql<
    {
      pid: number;
      datname: string | null;
      usename: string | null;
      application_name: string;
      state: string | null;
      wait_event: string | null;
      query_s: number | null;
      state_s: number | null;
      query: string;
      blocked_by: number[];
      me: boolean;
      max_conn: number;
    }[]
  >`select pid, datname, usename, application_name, state,
      case when wait_event is null then null else wait_event_type || ':' || wait_event end as wait_event,
      extract(epoch from now() - query_start)::float8 as query_s,
      extract(epoch from now() - state_change)::float8 as state_s,
      left(query, 1000) as query, pg_blocking_pids(pid) as blocked_by, pid = pg_backend_pid() as me,
      current_setting('max_connections')::int as max_conn
    from pg_stat_activity where backend_type = 'client backend'`;
  const maxConnections = rows[0]?.max_conn ?? 0;
  const byState: Record<string, number> = {};
  const backends: PgBackend[] = [];
  for (const r of rows) {
    const state = r.state ?? 'unknown';
    byState[state] = (byState[state] ?? 0) + 1;
    if (r.me) continue;
    backends.push({
      pid: r.pid,
      database: r.datname,
      user: r.usename,
      applicationName: r.application_name,
      state: r.state,
      waitEvent: r.wait_event,
      querySeconds: r.query_s,
      stateSeconds: r.state_s,
      query: r.query,
      blockedBy: (r.blocked_by ?? []).map(Number),
    });
  }
  const longRunning = backends.filter(
    (b) => b.state === 'active' && (b.querySeconds ?? 0) * 1000 >= opts.longRunningMs,
  );
  const idleInTransaction = backends.filter(
    (b) =>
      (b.state ?? '').startsWith('idle in transaction') &&
      (b.stateSeconds ?? 0) * 1000 >= opts.idleInTransactionMs,
  );
  return {
    maxConnections,
    total: rows.length,
    usage: maxConnections ? rows.length / maxConnections : 0,
    byState,
    longRunning,
    idleInTransaction,
    blocking: blockingTrees(backends),
    backends,
  };
}

function blockingTrees(backends: PgBackend[]): BlockingNode[] {
  const byPid = new Map(backends.map((b) => [b.pid, b]));
  const children = new Map<number, number[]>();
  for (const b of backends) for (const p of b.blockedBy) children.set(p, [...(children.get(p) ?? []), b.pid]);
  // Depth first with one `seen` set per tree, checked when a child is reached (not when its siblings are
  // listed): a backend waiting on two blockers of the same tree is counted once.
  const build = (pid: number, seen: Set<number>): BlockingNode => {
    const b = byPid.get(pid);
    seen.add(pid);
    const blocks: BlockingNode[] = [];
    // Blockers first, so a backend waiting on both F and F's waiter G shows up under G (the longer chain).
    const kids = [...(children.get(pid) ?? [])].sort(
      (a, b) => Number(children.has(b)) - Number(children.has(a)),
    );
    for (const c of kids) if (!seen.has(c)) blocks.push(build(c, seen));
    return {
      pid,
      query: b?.query ?? '',
      state: b?.state ?? null,
      database: b?.database ?? null,
      applicationName: b?.applicationName ?? '',
      stateSeconds: b?.stateSeconds ?? null,
      waitEvent: b?.waitEvent ?? null,
      blocks,
      blockedCount: blocks.reduce((n, x) => n + 1 + x.blockedCount, 0),
    };
  };
  // pg_blocking_pids can name a backend this query does not list (another user's, a prepared transaction's 0):
  // it is still a root.
  const roots = [...children.keys()].filter((pid) => (byPid.get(pid)?.blockedBy.length ?? 0) === 0);
  return roots.map((r) => build(r, new Set()));
}

/** What {@link cancelBackend} did (or would do, with dryRun). */
export interface CancelResult {
  pid: number;
  /** 'cancel' (pg_cancel_backend was enough), 'terminate' (escalated), or 'none' (dry run, or it was already idle). */
  action: 'cancel' | 'terminate' | 'none';
  /** What would be done first in a dry run. */
  planned: 'cancel' | 'terminate';
  dryRun: boolean;
  applicationName: string;
  query: string;
}

const REFUSED_TYPES: Record<string, 'autovacuum' | 'walsender'> = {
  'autovacuum worker': 'autovacuum',
  'autovacuum launcher': 'autovacuum',
  walsender: 'walsender',
};

/**
 * Cancels a backend's query, escalating to pg_terminate_backend when `terminate` is set and it is
 * still busy after `escalateAfterMs`. Refuses its own backend, autovacuum, WAL senders, other
 * non-client processes and application names outside `allowApplicationNames`.
 *
 * @example
 * ```ts
 * await cancelBackend(sql, 4242, { terminate: true, allowApplicationNames: ['reporting'] });
 * ```
 */
export async function cancelBackend(
  sql: AnySql,
  pid: number,
  options: Partial<CancelBackendOptions> = {},
): Promise<CancelResult> {
  const opts = resolveMonitoringOptions('cancel', options);
  const [row] = await sql<
    {
      backend_type: string;
      application_name: string;
      state: string | null;
      query: string;
      me: number;
      xact: Date | null;
    }[]
  >`select backend_type, application_name, state, left(query, 1000) as query, pg_backend_pid() as me,
      xact_start as xact
    from pg_stat_activity where pid = ${pid}`;
  if (!row) throw new BackendNotFoundError(pid);
  if (Number(row.me) === pid)
    throw new CancelRefusedError(pid, 'own-backend', 'it is the backend running this check');
  const refusedType = REFUSED_TYPES[row.backend_type];
  if (refusedType) throw new CancelRefusedError(pid, refusedType, `it is a ${row.backend_type}`);
  if (row.backend_type !== 'client backend')
    throw new CancelRefusedError(
      pid,
      'not-client-backend',
      `it is a ${row.backend_type}, not a client backend`,
    );
  if (opts.allowApplicationNames && !opts.allowApplicationNames.includes(row.application_name))
    throw new CancelRefusedError(
      pid,
      'not-allowed-application',
      `application_name "${row.application_name}" is not in allowApplicationNames`,
    );
  // An idle-in-transaction session has no query to cancel: it holds locks until it ends.
  const idleInTx = (row.state ?? '').startsWith('idle in transaction');
  const planned = idleInTx && opts.terminate ? 'terminate' : 'cancel';
  const base = { pid, planned, applicationName: row.application_name, query: row.query } as const;
  if (opts.dryRun) return { ...base, action: 'none', dryRun: true };
  if (row.state === 'idle' && !opts.terminate) return { ...base, action: 'none', dryRun: false };

  let action: CancelResult['action'] = 'cancel';
  if (planned === 'cancel') {
    await sql`select pg_cancel_backend(${pid})`;
    if (opts.terminate && (await stillBusy(sql, pid, row.xact, opts.escalateAfterMs))) {
      await sql`select pg_terminate_backend(${pid})`;
      action = 'terminate';
    }
  } else {
    await sql`select pg_terminate_backend(${pid})`;
    action = 'terminate';
  }
  if (cancelChannel.hasSubscribers) cancelChannel.publish({ pid, action, dryRun: false });
  return { ...base, action, dryRun: false };
}

async function stillBusy(sql: AnySql, pid: number, xact: Date | null, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [r] = await sql<{ state: string | null; xact: Date | null }[]>`
      select state, xact_start as xact from pg_stat_activity where pid = ${pid}`;
    // Gone, no longer running a statement, or in a new transaction: the cancel took effect.
    if (r?.state !== 'active' || String(r.xact) !== String(xact)) return false;
    if (Date.now() >= deadline) return true;
    await new Promise((res) => setTimeout(res, Math.min(50, waitMs)));
  }
}
