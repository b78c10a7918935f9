/** Tables shared by the bulk tests (drizzle definitions + DDL). */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  date,
  doublePrecision,
  integer,
  json,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
  toDriver: (v) => v,
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array)),
});

export const mood = pgEnum('mood', ['sad', 'ok', 'happy, "quoted"']);

export const everything = pgTable('everything', {
  id: integer('id').primaryKey(),
  small: smallint('small'),
  big: bigint('big', { mode: 'number' }),
  big64: bigint('big64', { mode: 'bigint' }),
  txt: text('txt'),
  vc: varchar('vc', { length: 10 }),
  f8: doublePrecision('f8'),
  flag: boolean('flag'),
  at: timestamp('at', { withTimezone: true }),
  day: date('day'),
  num: numeric('num'),
  js: json('js'),
  jb: jsonb('jb'),
  ints: integer('ints').array(),
  texts: text('texts').array(),
  feeling: mood('feeling'),
  uid: uuid('uid'),
  bin: bytea('bin'),
});

export const moodDdl = sql`create type mood as enum ('sad', 'ok', 'happy, "quoted"')`;
export const everythingDdl = sql`
  create table everything (
    id integer primary key, small smallint, big bigint, big64 bigint, txt text, vc varchar(10),
    f8 double precision, flag boolean, at timestamptz, day date, num numeric, js json, jb jsonb,
    ints integer[], texts text[], feeling mood, uid uuid, bin bytea
  )`;

export const items = pgTable('items', {
  id: serial('id').primaryKey(),
  sku: text('sku').notNull().unique(),
  qty: integer('qty').notNull().default(0),
  price: doublePrecision('price').notNull(),
  note: text('note'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const itemsDdl = sql`
  create table items (
    id serial primary key, sku text not null unique, qty integer not null default 0 check (qty >= 0),
    price double precision not null, note text, created_at timestamptz not null default now()
  )`;

export const memberships = pgTable(
  'memberships',
  {
    orgId: integer('org_id').notNull(),
    userId: integer('user_id').notNull(),
    role: text('role').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.userId] })],
);

export const membershipsDdl = sql`
  create table memberships (org_id integer not null, user_id integer not null, role text not null,
    primary key (org_id, user_id))`;
