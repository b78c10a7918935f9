import type { AnySql, MsHistogram } from './pool-monitor.js';

/** One query, transaction or reservation tracked by a pool monitor. */
export interface Unit {
  kind: 'query' | 'transaction' | 'reservation';
  start: number;
  holdsSlot: boolean;
  hasSlot: boolean;
  done: boolean;
}

/** Tokens of queries that took a free slot at once, or needed none (inside a transaction or reservation). */
const HAS_SLOT = 1;
const NO_SLOT = 0;

const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', '57014']);
const WINDOW_S = 60;

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bucketsMs: number[]) {
    this.counts = new Array(bucketsMs.length + 1).fill(0);
  }
  observe(ms: number): void {
    let i = 0;
    while (i < this.bucketsMs.length && ms > this.bucketsMs[i]!) i++;
    this.counts[i]!++;
    this.sum += ms;
    this.count++;
  }
  /** observe(0) without the bucket search: 0 falls in the first bucket (bounds are >= 0). */
  observeZero(): void {
    this.counts[0]!++;
    this.count++;
  }
  snapshot(): MsHistogram {
    return { bucketsMs: [...this.bucketsMs], counts: [...this.counts], sumMs: this.sum, count: this.count };
  }
}

/**
 * Models the pool as `max` slots handed out first-come first-served (as postgres.js queues work):
 * a unit that starts while all slots are taken waits until one frees; that wait is the acquire wait.
 * Units inside a transaction or reservation do not take a slot (their connection is already held).
 */
export class UnitLedger {
  inFlight = 0;
  slotsUsed = 0;
  transactions = 0;
  readonly queue: Unit[] = [];
  readonly reservations = new Set<Unit>();
  readonly wait: Histogram;
  readonly duration: Histogram;
  readonly total = { queries: 0, errors: 0, timeouts: 0, slow: 0, waited: 0 };
  onWait: (ms: number) => void = () => {};
  // Non-zero waits of the last minute for the p99 (ring of [performance.now(), ms]); zero waits, the
  // common case, are only counted per second (window[4]) so a query that got a connection at once costs a
  // counter increment, not a ring write.
  private readonly recentAt = new Float64Array(2048);
  private readonly recentMs = new Float64Array(2048);
  private recentN = 0;
  // Per-second buckets for the last minute (seconds of performance.now()): [second, queries, errors, slow, zeroWaits].
  private readonly window = Array.from({ length: WINDOW_S }, () => [0, 0, 0, 0, 0] as number[]);
  // The current second's bucket, valid until curEnd (performance.now() ms): most units start and end in it.
  private cur: number[] = [0, 0, 0, 0, 0];
  private curEnd = Number.NEGATIVE_INFINITY;

  constructor(
    readonly max: number,
    bucketsMs: number[],
    readonly slowMs: number,
  ) {
    this.wait = new Histogram(bucketsMs);
    this.duration = new Histogram(bucketsMs);
  }

  /**
   * A query's start. Returns a Unit only when it has to wait for a slot (it is queued); a query that took a
   * free slot or needs none gets a shared token, so the common query allocates nothing here.
   * {@link endQuery} takes the same holdsSlot and start time.
   */
  startQuery(holdsSlot: boolean, now: number): Unit | typeof HAS_SLOT | typeof NO_SLOT {
    if (!holdsSlot) return NO_SLOT;
    this.inFlight++;
    if (this.slotsUsed < this.max) {
      this.slotsUsed++;
      this.recordWait(0, now);
      return HAS_SLOT;
    }
    const u: Unit = { kind: 'query', start: now, holdsSlot, hasSlot: false, done: false };
    this.queue.push(u);
    return u;
  }

  /** Finishes a query started with {@link startQuery}; returns its duration in ms. */
  endQuery(token: Unit | typeof HAS_SLOT | typeof NO_SLOT, start: number, err: unknown, now: number): number {
    if (token === NO_SLOT) return this.count(now - start, err, now);
    if (token === HAS_SLOT) {
      this.inFlight--;
      this.freeSlot(now);
      return this.count(now - start, err, now);
    }
    return this.end(token, err, now);
  }

  start(kind: Unit['kind'], holdsSlot: boolean, now: number = performance.now()): Unit {
    const u: Unit = { kind, start: now, holdsSlot, hasSlot: false, done: false };
    if (kind === 'transaction') this.transactions++;
    if (!holdsSlot) return u;
    this.inFlight++;
    if (this.slotsUsed < this.max) {
      this.slotsUsed++;
      u.hasSlot = true;
      this.recordWait(0, now);
    } else this.queue.push(u);
    return u;
  }

  /** Finishes a unit; returns its duration in ms, or -1 when it was already finished. */
  end(u: Unit, err: unknown, now: number = performance.now()): number {
    if (u.done) return -1;
    u.done = true;
    const durationMs = now - u.start;
    if (u.kind === 'transaction') this.transactions--;
    if (u.holdsSlot) {
      this.inFlight--;
      if (u.hasSlot) this.freeSlot(now);
      else {
        const i = this.queue.indexOf(u);
        if (i >= 0) this.queue.splice(i, 1);
      }
    }
    // Counters are per query: a failed transaction already counted the query that failed inside it.
    if (u.kind !== 'query') return durationMs;
    return this.count(durationMs, err, now);
  }

  /** A slot was freed: the first queued unit takes it. */
  private freeSlot(now: number): void {
    const next = this.queue.shift();
    if (next) {
      next.hasSlot = true;
      this.recordWait(now - next.start, now);
    } else this.slotsUsed--;
  }

  /** Counts one finished query. */
  private count(durationMs: number, err: unknown, now: number): number {
    this.duration.observe(durationMs);
    const slow = durationMs >= this.slowMs;
    this.total.queries++;
    if (slow) this.total.slow++;
    if (err) {
      this.total.errors++;
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && TIMEOUT_CODES.has(code)) this.total.timeouts++;
    }
    const b = this.bucket(now);
    b[1]!++;
    if (err) b[2]!++;
    if (slow) b[3]!++;
    return durationMs;
  }

  private bucket(now: number): number[] {
    if (now < this.curEnd && now >= this.curEnd - 1000) return this.cur;
    const sec = Math.floor(now / 1000);
    const b = this.window[sec % WINDOW_S]!;
    if (b[0] !== sec) {
      b[0] = sec;
      b[1] = 0;
      b[2] = 0;
      b[3] = 0;
      b[4] = 0;
    }
    this.cur = b;
    this.curEnd = (sec + 1) * 1000;
    return b;
  }

  private recordWait(ms: number, now: number): void {
    if (ms === 0) this.wait.observeZero();
    else this.wait.observe(ms);
    if (ms > 0) {
      this.total.waited++;
      const i = this.recentN++ % this.recentAt.length;
      this.recentAt[i] = now;
      this.recentMs[i] = ms;
    } else this.bucket(now)[4]!++;
    this.onWait(ms);
  }

  private waitP99(now: number): number {
    const since = now - WINDOW_S * 1000;
    const sec = Math.floor(now / 1000);
    let zeros = 0;
    for (const b of this.window) if (b[0]! > sec - WINDOW_S) zeros += b[4]!;
    const n = Math.min(this.recentN, this.recentAt.length);
    const xs: number[] = [];
    for (let i = 0; i < n; i++) if (this.recentAt[i]! >= since) xs.push(this.recentMs[i]!);
    const count = zeros + xs.length;
    if (count === 0) return 0;
    xs.sort((a, b) => a - b);
    const idx = Math.min(count - 1, Math.ceil(0.99 * count) - 1) - zeros;
    return idx < 0 ? 0 : xs[idx]!;
  }

  snapshot(leakMs: number) {
    const now = performance.now();
    const sec = Math.floor(now / 1000);
    const lastMinute = { queries: 0, errors: 0, slow: 0 };
    for (const b of this.window) {
      if (b[0]! > sec - WINDOW_S) {
        lastMinute.queries += b[1]!;
        lastMinute.errors += b[2]!;
        lastMinute.slow += b[3]!;
      }
    }
    let longest = 0;
    let leaks = 0;
    for (const r of this.reservations) {
      const age = now - r.start;
      longest = Math.max(longest, age);
      if (age >= leakMs) leaks++;
    }
    const inUse = Math.min(this.inFlight, this.max);
    return {
      inFlight: this.inFlight,
      inUse,
      pending: Math.max(0, this.inFlight - this.max),
      utilisation: inUse / this.max,
      reserved: this.reservations.size,
      transactions: this.transactions,
      possibleLeaks: leaks,
      longestReservationMs: longest,
      waitP99Ms: this.waitP99(now),
      wait: this.wait.snapshot(),
      duration: this.duration.snapshot(),
      total: { ...this.total },
      lastMinute,
    };
  }
}

/** A session of this pool seen in pg_stat_activity. */
export interface PoolSession {
  pid: number;
  state: string | null;
  /** Seconds in the current state. */
  inStateSeconds: number;
  query: string;
}

/** What {@link PoolMonitor.crossCheck} returns. */
export interface PoolCrossCheck {
  applicationName: string;
  /** Sessions with this application_name (including the one running the check). */
  connections: number;
  byState: Record<string, number>;
  /** Sessions idle in transaction longer than idleInTransactionMs. */
  idleInTransaction: PoolSession[];
  /** Reservations held longer than leakThresholdMs, with their age in ms. */
  leakedReservations: Array<{ ageMs: number }>;
  /** Server sessions busy (not idle) beyond what the monitor counts in flight: work outside the wrapper. */
  untrackedBusy: number;
  /** Readable warnings; empty when all is well. */
  warnings: string[];
}

export async function poolCrossCheck(
  sql: AnySql,
  o: { applicationName: string; idleInTransactionMs: number; leakThresholdMs: number; ledger: UnitLedger },
): Promise<PoolCrossCheck> {
  const rows = await sql<
    { pid: number; state: string | null; in_state: number; query: string; me: boolean }[]
  >`select pid, state, extract(epoch from now() - coalesce(state_change, backend_start))::float8 as in_state,
      left(query, 200) as query, pid = pg_backend_pid() as me
    from pg_stat_activity where application_name = ${o.applicationName} and datname = current_database()`;
  const byState: Record<string, number> = {};
  const idleInTransaction: PoolSession[] = [];
  let busy = 0;
  for (const r of rows) {
    const state = r.state ?? 'unknown';
    byState[state] = (byState[state] ?? 0) + 1;
    if (r.me) continue;
    if (state !== 'idle') busy++;
    if (state.startsWith('idle in transaction') && r.in_state * 1000 >= o.idleInTransactionMs)
      idleInTransaction.push({ pid: r.pid, state, inStateSeconds: r.in_state, query: r.query });
  }
  const now = performance.now();
  const leakedReservations = [...o.ledger.reservations]
    .map((u) => ({ ageMs: now - u.start }))
    .filter((r) => r.ageMs >= o.leakThresholdMs);
  // The check itself runs as one tracked-or-not query; reservations idle on the server are not "in flight" work.
  const untrackedBusy = Math.max(0, busy - o.ledger.inFlight);
  const warnings: string[] = [];
  if (o.applicationName === 'postgres.js')
    warnings.push('application_name is the postgres.js default: other clients may be counted too');
  for (const s of idleInTransaction)
    warnings.push(`pid ${s.pid} idle in transaction for ${s.inStateSeconds.toFixed(1)} s: ${s.query}`);
  for (const l of leakedReservations)
    warnings.push(`a reserved connection has been held for ${(l.ageMs / 1000).toFixed(1)} s (possible leak)`);
  if (untrackedBusy > 0)
    warnings.push(
      `${untrackedBusy} busy session(s) not counted by the monitor (queries through the unwrapped client?)`,
    );
  return {
    applicationName: o.applicationName,
    connections: rows.length,
    byState,
    idleInTransaction,
    leakedReservations,
    untrackedBusy,
    warnings,
  };
}
