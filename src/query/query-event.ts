import { firstUserFrame, type StackHolder } from './call-site.js';
import { fingerprintQuery } from './fingerprint.js';
import type { TrackingScope } from './scope-store.js';

/** How the query ran: a normal query, COPY through a stream, or a cursor. */
export type QueryKind = 'query' | 'copy' | 'cursor';
/** Where it ran: a pooled connection, inside `sql.begin`, or on a `sql.reserve()` connection. */
export type QueryConnection = 'pool' | 'transaction' | 'reserved';

/** One executed query as reported to onQuery, trackQueries and the `dbkit:query` tracing channel. */
export interface QueryEvent {
  /** The `name` of the instrumented client. */
  readonly client: string;
  /** SQL text as sent (`$1` placeholders for parameters). */
  readonly sql: string;
  /** Parameters as sent to the server (serialized); never logged by dbkit, the slow-query log redacts them by default. */
  readonly params: readonly unknown[];
  /** Normalized SQL shared by all executions that differ only in literals/parameters. */
  readonly fingerprint: string;
  /** Short stable hash of `fingerprint`. */
  readonly fingerprintId: string;
  /** Wall-clock start (ms since epoch). */
  readonly startedAt: number;
  /** Monotonic start and end (performance.now()), used to tell sequential from concurrent executions. */
  readonly startMs: number;
  readonly endMs: number;
  /** Milliseconds from execution start (including waiting for a pooled connection) to the result. */
  readonly durationMs: number;
  /** Rows returned or affected (COPY: rows copied); null when unknown (cursor, error). */
  readonly rows: number | null;
  /** Command tag: 'SELECT', 'INSERT', 'COPY', ... (null on error). */
  readonly command: string | null;
  /** The error the query failed with (postgres.js PostgresError, kept as-is). */
  readonly error: unknown;
  readonly kind: QueryKind;
  readonly connection: QueryConnection;
  /** At or above the client's slow threshold. */
  readonly slow: boolean;
  /** First stack frame outside dbkit, postgres.js and drizzle ("fn (file:line:col)"); undefined if not captured. */
  readonly callSite: string | undefined;
}

/** Mutable implementation; fingerprint and call site are computed on first read. */
export class QueryEventImpl implements QueryEvent {
  sql = '';
  params: readonly unknown[] = [];
  startedAt = 0;
  startMs = 0;
  endMs = 0;
  durationMs = 0;
  rows: number | null = null;
  command: string | null = null;
  error: unknown = undefined;
  kind: QueryKind = 'query';
  slow = false;
  private fp: { fingerprint: string; id: string } | undefined;
  private site: string | undefined | null = null;

  constructor(
    readonly client: string,
    readonly connection: QueryConnection,
    private readonly stack: StackHolder | undefined,
    private readonly ignoreFrames: ReadonlyArray<string | RegExp>,
    /** The trackQueries scope the query was created in (recorded there when it settles). */
    readonly scope?: TrackingScope,
  ) {}

  get fingerprint(): string {
    this.fp ??= fingerprintQuery(this.sql);
    return this.fp.fingerprint;
  }
  get fingerprintId(): string {
    this.fp ??= fingerprintQuery(this.sql);
    return this.fp.id;
  }
  get callSite(): string | undefined {
    if (this.site === null) this.site = firstUserFrame(this.stack, this.ignoreFrames);
    return this.site;
  }
  toJSON() {
    const { client, sql, fingerprint, fingerprintId, startedAt, durationMs, rows, command, kind } = this;
    return {
      client,
      sql,
      fingerprint,
      fingerprintId,
      startedAt,
      durationMs,
      rows,
      command,
      kind,
      connection: this.connection,
      slow: this.slow,
      callSite: this.callSite,
      error: this.error === undefined ? undefined : String((this.error as Error)?.message ?? this.error),
    };
  }
}
