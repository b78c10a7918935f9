/**
 * The bulk failure matrix, generated from its axes: write path x failure x mode x failing row position.
 * Each test file registers a slice of it (registerMatrix) so the slices run as parallel files; every cell
 * asserts the same things (see runCell):
 *   settles within its bound, typed error (class + code) with the driver's SQLSTATE and the real method,
 *   exact rows left (atomic: none; atomic: false: exactly the committed batches, and resuming from
 *   firstUnwrittenRow completes the input), no row values in the error, no session of ours in a transaction
 *   (pg_stat_activity by application_name), and the max: 1 pool serves the next query.
 */
import { inspect } from 'node:util';
import { sql } from 'drizzle-orm';
import { integer, pgEnum, pgTable, text } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgresDev from 'postgres';
import postgres340 from 'postgres340';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnyPgDatabase } from '../../src/bulk/driver.js';
import { isConnectionLoss } from '../../src/bulk/errors.js';
import {
  BulkAbortedError,
  type BulkInsertOptions,
  BulkWriteError,
  bulkDelete,
  bulkInsert,
  bulkUpdate,
  withTransaction,
} from '../../src/bulk/index.js';
import { sleep, type TestDatabase, useTestDatabase } from '../setup/index.js';

/** postgres.js under test: the dev version, or the lowest of the peer range (`POSTGRES_JS=3.4.0`). */
export type PostgresLib = typeof postgresDev;
export const postgresLibs: Record<'3.4.9' | '3.4.0', PostgresLib> = {
  '3.4.9': postgresDev,
  '3.4.0': postgres340 as unknown as PostgresLib,
};

/** Rows per cell and per batch: 3 batches, each at the COPY threshold or above. */
export const N = 3_000;
export const BATCH = 1_000;
/** The marker every row value carries: it must never appear in an error unless includeValues. */
const SECRET = 'secret-';

// The drizzle schema knows less than the database: `hidden` is NOT NULL there only, the enum has a value
// the database type lacks, `dom` is a domain with a CHECK.
export const fmMood = pgEnum('fm_mood', ['sad', 'ok', `${SECRET}mood`]);
export const fmItems = pgTable('fm_items', {
  id: integer('id').primaryKey(),
  sku: text('sku').notNull(),
  parentId: integer('parent_id'),
  qty: integer('qty').notNull(),
  hidden: text('hidden'),
  mood: fmMood('mood'),
  dom: integer('dom'),
  note: text('note'),
});
export const fmChildren = pgTable('fm_children', { itemId: integer('item_id').notNull() });

const schemaDdl = [
  sql`create type fm_mood as enum ('sad', 'ok')`,
  sql`create domain fm_posint as integer check (value > 0)`,
  sql`create table fm_parent (id int primary key)`,
  sql`insert into fm_parent select generate_series(1, 3)`,
  sql`create table fm_items (
    id int primary key, sku text not null unique, parent_id int references fm_parent (id),
    qty int not null check (qty >= 0), hidden text not null default 'x', mood fm_mood, dom fm_posint, note text)`,
  sql`create table fm_children (item_id int not null references fm_items (id))`,
  sql`create function fm_trig() returns trigger language plpgsql as $$
    declare r record;
    begin
      r := case when tg_op = 'DELETE' then old else new end;
      if r.note = 'raise' then raise exception 'fm_trig rejects this row'; end if;
      if r.note = 'sleep' then perform pg_sleep(60); end if;
      return r;
    end $$`,
  sql`create trigger fm_trig before insert or update or delete on fm_items for each row execute function fm_trig()`,
];

export type Method = 'copy-text' | 'copy-binary' | 'unnest' | 'values';
export type Failure =
  | 'unique'
  | 'fk'
  | 'check'
  | 'not-null'
  | 'trigger'
  | 'enum'
  | 'domain'
  | 'statement-timeout'
  | 'cancel'
  | 'terminate'
  | 'abort';
export type Mode = 'atomic' | 'atomic-false' | 'with-transaction' | 'on-conflict';
export type Position = 'first' | 'mid' | 'last';
export type Operation = 'insert' | 'update' | 'delete';

export const methods: Method[] = ['copy-text', 'copy-binary', 'unnest', 'values'];
export const failures: Failure[] = [
  'unique',
  'fk',
  'check',
  'not-null',
  'trigger',
  'enum',
  'domain',
  'statement-timeout',
  'cancel',
  'terminate',
  'abort',
];
export const modes: Mode[] = ['atomic', 'atomic-false', 'with-transaction', 'on-conflict'];
export const positions: Position[] = ['first', 'mid', 'last'];

/** Failures that make the server sleep at the failing row, and what is done to it then. */
const SLEEPING: ReadonlySet<Failure> = new Set(['statement-timeout', 'cancel', 'terminate', 'abort']);
/** Which failures apply to which operation (a delete has no values to violate a constraint with). */
export const failuresFor: Record<Operation, Failure[]> = {
  insert: failures,
  update: failures,
  delete: ['fk', 'trigger', 'statement-timeout', 'cancel', 'terminate', 'abort'],
};
export const modesFor: Record<Operation, Mode[]> = {
  insert: modes,
  update: ['atomic', 'atomic-false', 'with-transaction'],
  delete: ['atomic', 'atomic-false', 'with-transaction'],
};

const expectedState: Record<Exclude<Failure, 'terminate' | 'abort'>, string> = {
  unique: '23505',
  fk: '23503',
  check: '23514',
  'not-null': '23502',
  trigger: 'P0001',
  enum: '22P02',
  domain: '23514',
  'statement-timeout': '57014',
  cancel: '57014',
};
const LOST = new Set(['57P01', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE']);

const rowIndex = (p: Position) => (p === 'first' ? 0 : p === 'mid' ? Math.floor(N / 2) : N - 1);

type ItemRow = typeof fmItems.$inferInsert;
const goodRow = (i: number): ItemRow => ({
  id: i + 1,
  sku: `${SECRET}${i}`,
  parentId: 1,
  qty: 1,
  hidden: `${SECRET}h`,
  mood: 'ok',
  dom: 1,
  note: null,
});

/** Puts the failure into row `i` (insert or update). The seed row has id 0 and sku 'seed'. */
function breakRow(r: ItemRow, f: Failure, op: Operation): void {
  if (f === 'unique') {
    if (op === 'insert') r.id = 0;
    else r.sku = 'seed';
  } else if (f === 'fk') r.parentId = 99;
  else if (f === 'check') r.qty = -1;
  else if (f === 'not-null') r.hidden = null;
  else if (f === 'trigger') r.note = 'raise';
  else if (f === 'enum') r.mood = `${SECRET}mood`;
  else if (f === 'domain') r.dom = 0;
  else r.note = 'sleep';
}

export interface Cell {
  op: Operation;
  method: Method;
  failure: Failure;
  mode: Mode;
  position: Position;
}

/** Registers one describe per (method, failure): its cells share a max: 1 pool and the file's tables. */
export function registerMatrix(
  label: string,
  op: Operation,
  cellMethods: Method[],
  version: keyof typeof postgresLibs = '3.4.9',
): void {
  const postgres = postgresLibs[version];
  const tdb = useTestDatabase(`fm_${label}`);
  let admin: postgresDev.Sql;
  beforeAll(async () => {
    admin = postgresDev(tdb.url, { max: 2, onnotice: () => {} });
    for (const s of schemaDdl) await drizzle(admin).execute(s);
  });
  afterAll(() => admin.end({ timeout: 2 }));

  for (const method of cellMethods)
    for (const failure of failuresFor[op])
      describe(`postgres.js ${version}: ${op} ${method} x ${failure}`, () => {
        const app = `fm_${label}_${method}_${failure}`.replace(/-/g, '_').slice(0, 60);
        // A max: 1 pool per cell: postgres.js grows its reconnect backoff with every terminated backend and
        // does not reset it when it replays the old error (see absorbConnectionLoss), so cells sharing one
        // pool would wait longer and longer to reconnect.
        let client: postgresDev.Sql;
        let db: AnyPgDatabase;
        beforeEach(() => {
          client = postgres(tdb.url, {
            max: 1,
            onnotice: () => {},
            connection: {
              application_name: app,
              ...(failure === 'statement-timeout' ? { statement_timeout: 300 } : {}),
            },
          });
          db = drizzle(client);
        });
        afterEach(() => client.end({ timeout: 2 }));
        for (const mode of modesFor[op])
          for (const position of positions)
            it(`${mode}, failing row ${position}`, () =>
              runCell(
                { op, method, failure, mode, position },
                { tdb, admin: () => admin, app, db: () => db },
              ));
      });
}

interface CellEnv {
  tdb: TestDatabase;
  admin: () => postgresDev.Sql;
  app: string;
  db: () => AnyPgDatabase;
}

const methodOptions = (m: Method): BulkInsertOptions<typeof fmItems> =>
  m === 'copy-text'
    ? { method: 'copy' }
    : m === 'copy-binary'
      ? // copyFormat arrives with the binary encoder; cast so this compiles before it exists.
        ({ method: 'copy', copyFormat: 'binary' } as BulkInsertOptions<typeof fmItems>)
      : { method: m };

/** Waits until our session sleeps in the trigger, then applies the fault. */
async function injectWhenSleeping(
  env: CellEnv,
  failure: Failure,
  controller: AbortController,
  reason: Error,
): Promise<void> {
  const a = env.admin();
  for (let i = 0; i < 400; i++) {
    const rows = await a<{ pid: number }[]>`
      select pid from pg_stat_activity where application_name = ${env.app} and wait_event = 'PgSleep'`;
    const pid = rows[0]?.pid;
    if (pid !== undefined) {
      if (failure === 'cancel') await a`select pg_cancel_backend(${pid})`;
      else if (failure === 'terminate') await a`select pg_terminate_backend(${pid})`;
      else if (failure === 'abort') controller.abort(reason);
      return;
    }
    await sleep(25);
  }
  throw new Error('the session never reached the sleeping row');
}

/** Resolves with the settled outcome, or fails the test if it does not settle within `ms`. */
async function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<{ error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([p, timeout]);
    return { error: undefined };
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(what)) throw e;
    return { error: e };
  } finally {
    clearTimeout(timer);
  }
}

async function count(env: CellEnv, op: Operation): Promise<number> {
  const a = env.admin();
  const [r] =
    op === 'update'
      ? await a<{ n: number }[]>`select count(*)::int as n from fm_items where note = 'upd'`
      : await a<{ n: number }[]>`select count(*)::int as n from fm_items where id > 0`;
  return r?.n ?? -1;
}

async function sessionsInTransaction(env: CellEnv): Promise<number> {
  const [r] = await env.admin()<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where application_name = ${env.app} and state like '%in transaction%'`;
  return r?.n ?? -1;
}

async function reset(env: CellEnv, op: Operation): Promise<void> {
  const a = env.admin();
  await a`truncate fm_children, fm_items`;
  await a`insert into fm_items (id, sku, qty) values (0, 'seed', 1)`;
  if (op !== 'insert')
    await a`insert into fm_items (id, sku, parent_id, qty, hidden, mood, dom)
      select i + 1, ${SECRET} || i, 1, 1, 'h', 'ok', 1 from generate_series(0, ${N - 1}) as i`;
}

/** Runs the operation of a cell over `rows` (insert/update rows, delete keys). */
function runOp(cell: Cell, db: AnyPgDatabase, input: ItemRow[], signal: AbortSignal, atomic: boolean) {
  const common = { batchSize: BATCH, atomic, signal };
  const body = (d: AnyPgDatabase) => {
    if (cell.op === 'insert')
      return bulkInsert(d, fmItems, input, {
        ...common,
        ...methodOptions(cell.method),
        ...(cell.mode === 'on-conflict' ? { onConflict: { target: 'sku', set: 'all' } } : {}),
      });
    if (cell.op === 'update')
      return bulkUpdate(
        d,
        fmItems,
        input.map((r) => ({ ...r, note: r.note ?? 'upd' })),
        { ...common, key: 'id', columns: ['sku', 'parentId', 'qty', 'hidden', 'mood', 'dom', 'note'] },
      );
    return bulkDelete(
      d,
      fmItems,
      input.map((r) => r.id),
      { ...common, key: 'id' },
    );
  };
  return cell.mode === 'with-transaction' ? withTransaction(db, (tx) => body(tx)) : body(db);
}

/** The rows of a delete cell: the failure is put into the stored row (its note, or a child row). */
async function prepareDelete(env: CellEnv, cell: Cell, i: number): Promise<void> {
  const a = env.admin();
  if (cell.failure === 'fk') await a`insert into fm_children values (${i + 1})`;
  else
    await a.begin(async (t) => {
      // replica role: fm_trig must not act on this update itself
      await t`set local session_replication_role = replica`;
      await t`update fm_items set note = ${cell.failure === 'trigger' ? 'raise' : 'sleep'} where id = ${i + 1}`;
    });
}

export async function runCell(cell: Cell, env: CellEnv): Promise<void> {
  const { op, failure, mode, position } = cell;
  await reset(env, op);
  const i = rowIndex(position);
  const rows = Array.from({ length: N }, (_, k) => goodRow(k));
  if (op === 'delete') await prepareDelete(env, cell, i);
  else breakRow(rows[i] as ItemRow, failure, op);

  const atomic = mode !== 'atomic-false';
  const controller = new AbortController();
  const reason = new Error('fm: aborted by the test');
  const sleeping = SLEEPING.has(failure);
  const started = runOp(cell, env.db(), rows, controller.signal, atomic);
  started.catch(() => {});
  if (sleeping && failure !== 'statement-timeout') await injectWhenSleeping(env, failure, controller, reason);
  // Server errors come back in milliseconds; the bound is generous for a loaded machine, not a measurement.
  const { error } = await settleWithin(started, 10_000, 'the bulk call');

  // typed error with the driver's cause and the real method
  const committed = atomic ? 0 : Math.floor(i / BATCH) * BATCH;
  if (failure === 'abort') {
    expect(error).toBeInstanceOf(BulkAbortedError);
    expect((error as BulkAbortedError).code).toBe('E_ABORTED');
    expect((error as BulkAbortedError).cause).toBe(reason);
  } else {
    expect(error, inspect(error)).toBeInstanceOf(BulkWriteError);
    const e = error as BulkWriteError;
    expect(e.code).toBe('E_BULK_WRITE');
    if (failure === 'terminate') {
      expect(LOST.has(e.sqlState ?? ''), `sqlState ${e.sqlState}`).toBe(true);
      expect(isConnectionLoss(e.cause)).toBe(true);
    } else {
      expect(e.sqlState).toBe(expectedState[failure]);
      expect((e.cause as { code?: string }).code).toBe(expectedState[failure]);
    }
    if (failure === 'unique' && op === 'insert') expect(e.constraint).toBe('fm_items_pkey');
    if (failure === 'fk' && op !== 'delete') expect(e.constraint).toBe('fm_items_parent_id_fkey');
    if (failure === 'not-null') expect(e.column).toBe('hidden');
    const method =
      cell.op !== 'insert' || cell.method === 'unnest'
        ? 'unnest'
        : cell.method === 'values'
          ? 'values'
          : 'copy';
    expect(e.progress.method).toBe(method);
  }
  const progress = (error as BulkWriteError | BulkAbortedError).progress;
  expect(progress).toMatchObject({
    committedRows: committed,
    committedBatches: committed / BATCH,
    firstUnwrittenRow: committed,
    failedBatch: atomic ? expect.any(Number) : Math.floor(i / BATCH),
  });
  // no row values anywhere in the error (message, cause chain, context)
  expect(inspect(error, { depth: 8 })).not.toContain(SECRET);

  // exact rows left
  const expectedLeft = op === 'delete' ? N - committed : committed;
  expect(await count(env, op)).toBe(expectedLeft);

  // no session of ours left in a transaction (a terminated backend may take a moment to leave the view)
  for (let k = 0; k < 40 && (await sessionsInTransaction(env)) > 0; k++) await sleep(50);
  expect(await sessionsInTransaction(env)).toBe(0);

  // the max: 1 pool serves the next query
  const probe = await settleWithin(env.db().execute(sql`select 1 as ok`), 5_000, 'the next query');
  expect(probe.error).toBeUndefined();

  // atomic: false resumes from firstUnwrittenRow
  if (!atomic) {
    if (op === 'delete') await env.admin()`update fm_items set note = null; delete from fm_children`.simple();
    const fixed = rows.slice(progress.firstUnwrittenRow).map((r) => (r === rows[i] ? goodRow(i) : r));
    const again = runOp({ ...cell, mode: 'atomic' }, env.db(), fixed, new AbortController().signal, false);
    const resumed = await settleWithin(again, 10_000, 'the resumed call');
    expect(resumed.error, inspect(resumed.error)).toBeUndefined();
    expect(await count(env, op)).toBe(op === 'delete' ? 0 : N);
  }
}
