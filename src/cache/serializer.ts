import { Packr, Unpackr } from 'msgpackr';

type Utf8Slice = (this: Buffer, start: number, end: number) => string;
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: Utf8Slice }).utf8Slice;
/**
 * `bytes.toString('utf8', start)`: Node's `Buffer#utf8Slice` where the runtime has it, which skips toString's
 * argument handling (~35 ns a call: ~1.5% of a getMany(1000) of ~0.7 KB rows).
 */
const utf8From: (bytes: Buffer, start: number) => string =
  typeof nativeUtf8Slice === 'function'
    ? (bytes, start) => nativeUtf8Slice.call(bytes, start, bytes.length)
    : (bytes, start) => bytes.toString('utf8', start);

/** Turns values into bytes and back. Plug your own into `createQueryCache({ serializer })`. */
export interface CacheSerializer {
  /** Short name, for diagnostics. */
  readonly name: string;
  /** Encodes a value (throw CacheSerializeError-worthy errors for values it cannot encode). */
  serialize(value: unknown): Buffer;
  /** Decodes what `serialize` produced. */
  deserialize(bytes: Buffer): unknown;
}

/**
 * The default serializer: MessagePack (msgpackr) that round-trips Date, BigInt (any size), Map, Set,
 * Buffer/Uint8Array, undefined properties and nested structures.
 *
 * Plain objects are written as msgpackr records and decoded with `mapsAsObjects: false`, so a msgpack map can
 * only have come from a `Map`: that is how Maps and plain objects stay distinct without a global msgpackr
 * extension. The records' key lists are stored once per entry, in a table before the MessagePack (README,
 * "Entry format"), so a reader keeps one decoder per table and reuses its compiled record readers.
 *
 * @example
 * ```ts
 * const s = msgpackSerializer(); s.deserialize(s.serialize({ at: new Date() }))
 * ```
 */
export function msgpackSerializer(): CacheSerializer {
  const packer = new Packr(MSGPACK_OPTIONS);
  const tabled = tabledWriter();
  // Also reads what `defaultSerializer()` wrote as JSON (a reader configured either way reads both).
  const at = (bytes: Buffer, start: number): unknown =>
    bytes[start] === JSON_MARK
      ? bytes[start + 1] === TABLE_MARK
        ? readTabled(bytes, start + 2)
        : JSON.parse(utf8From(bytes, start + 1))
      : inlineReader.unpack(bytes, { start, end: bytes.length });
  const text = (bytes: Buffer, start: number): string | undefined =>
    bytes[start] === JSON_MARK && bytes[start + 1] !== TABLE_MARK ? utf8From(bytes, start + 1) : undefined;
  return known(
    {
      name: 'msgpackr',
      serialize: (value) => tabled(value) ?? packer.pack(value),
      deserialize: (bytes) => at(bytes, 0),
    },
    at,
    text,
  );
}

const MSGPACK_OPTIONS = {
  useRecords: true,
  moreTypes: true,
  mapsAsObjects: false,
  useBigIntExtension: true,
} as const;

/**
 * Reads MessagePack whose records are defined inline (what dbkit wrote before record tables, and still writes
 * for a value written from inside another write) and plain MessagePack (values with no plain object). Separate
 * from any packer: packing with records keeps per-call structure state that must not leak into reads.
 */
const inlineReader = new Unpackr(MSGPACK_OPTIONS);

/** After {@link JSON_MARK}: a record table follows (JSON text starts with `{` or `[`, never 0x00). */
const TABLE_MARK = 0x00;
/** Record ids 0x40-0x5f (msgpackr's one-byte shared ids) are the table's: up to 32 object shapes. */
const MAX_TABLE = 32;
/** Ids 0x60-0x7f: shapes past the 32nd, defined inline in the data as msgpackr does without a table. */
const SLOTS = 64;
/** Tables (and their decoders) kept per process; the least recently used goes first. */
const READERS_MAX = 128;
/** A table longer than this is decoded for each read instead of kept (bounds the keys kept: 128 x 16 KiB). */
const KEPT_TABLE_MAX_BYTES = 16 * 1024;

type Structures = string[][] & { sharedLength?: number; nextId?: number };

/**
 * Writes a value as `0xC1 0x00`, the table's length (u32 BE), the table (a MessagePack array of the key lists of
 * the value's first 32 object shapes) and the MessagePack of the value, whose records refer to the table by
 * index (msgpackr's shared structures, ids 0x40 + i); shapes past the 32nd are defined inline in the data, ids
 * 0x60-0x7f, as msgpackr writes every shape without a table. Returns msgpackr's plain bytes for a value with no
 * plain object (nothing to put in a table: the same bytes the inline packer writes), and undefined when called
 * from inside another write (a getter calling `set`): the caller then packs it with inline records. Every value
 * is packed once.
 *
 * Why: with inline records every read defines the shapes anew, and msgpackr builds a fresh reader function
 * (`new Function`, from a shape's 4th record on) per shape per read. V8 keeps those warm only through its eval
 * cache, which a major GC clears; after one, the next reads of a 95 KB entry took 2-3x as long (400-580 µs
 * instead of ~150-200 µs, `taskset -c 0`, 10 reads after each `gc()`). A table lets {@link readTabled} keep one
 * decoder per table, so its compiled readers live as long as the decoder: the 150 KB entry read 5-12% faster in
 * a process shared with other work, and a ~0.5 KB row with Dates decoded in ~1.3 µs instead of ~2.6 µs.
 */
function tabledWriter(): (value: unknown) => Buffer | undefined {
  const packer = new Packr({
    ...MSGPACK_OPTIONS,
    structures: [],
    maxSharedStructures: MAX_TABLE,
    maxOwnStructures: SLOTS - MAX_TABLE,
  });
  const tablePacker = new Packr({ useRecords: false });
  let busy = false;
  return (value) => {
    if (busy) return undefined;
    busy = true;
    try {
      // A fresh table per value: ids from 0x40, nothing from other values.
      const structures: Structures = [];
      (packer as unknown as { structures: Structures }).structures = structures;
      const body = packer.pack(value);
      const shapes = structures.sharedLength ?? 0;
      if (shapes === 0) return body;
      const table = tablePacker.pack(structures.slice(0, shapes));
      const out = Buffer.allocUnsafe(6 + table.length + body.length);
      out[0] = JSON_MARK;
      out[1] = TABLE_MARK;
      out.writeUInt32BE(table.length, 2);
      table.copy(out, 6);
      body.copy(out, 6 + table.length);
      return out;
    } finally {
      busy = false;
    }
  };
}

/**
 * Stands in every record id the table does not define: msgpackr calls its `read` for such an id, which a table
 * entry's data never uses unless it defines the id inline first (ids 0x60-0x7f) or is damaged.
 */
const UNDEFINED_SHAPE: string[] = Object.freeze(
  Object.assign([], {
    read(): never {
      throw new Error('record id is not in the table');
    },
  }),
) as string[];

interface TableReader {
  unpackr: Unpackr;
  /** The decoder's 64 slots: the table's shapes, then {@link UNDEFINED_SHAPE}. */
  structures: Structures;
  /** What slots 0-31 hold when no read is running (a read may only change slots 32-63, by inline definitions). */
  table: readonly string[][];
}
const tableReaders = new Map<string, TableReader>();
const tableDecoder = new Unpackr({ useRecords: false, mapsAsObjects: true });

function tableReader(bytes: Buffer, start: number, end: number): TableReader {
  const list: unknown = tableDecoder.unpack(bytes, { start, end });
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TABLE)
    throw new Error('record table is not a list of 1 to 32 shapes');
  for (const keys of list) {
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string'))
      throw new Error('record table shape is not a list of keys');
  }
  // Not marked isShared: msgpackr would put back a table shape that the data redefines inline, and the read
  // would succeed; unmarked, the redefinition stays in the slot, where readTabled sees it.
  const structures: Structures = Array.from({ length: SLOTS }, (_, i) =>
    i < list.length ? [...(list[i] as string[])] : UNDEFINED_SHAPE,
  );
  return {
    unpackr: new Unpackr({ ...MSGPACK_OPTIONS, structures, maxSharedStructures: MAX_TABLE }),
    structures,
    table: structures.slice(0, MAX_TABLE),
  };
}

/**
 * Reads what {@link tabledWriter} wrote, from `at` (just past `0xC1 0x00`). The table's bytes are the key of its
 * decoder. After every read the decoder's slots 32-63 are emptied again (shapes defined inline belong to that
 * entry only); a read that left a table slot (0-31) changed, or any slot past 63, came from a damaged entry (dbkit
 * never writes an inline definition of a table id): it fails, and that decoder is dropped.
 */
function readTabled(bytes: Buffer, at: number): unknown {
  if (at + 4 > bytes.length) throw new Error('record table length cut off');
  const start = at + 4;
  const end = start + bytes.readUInt32BE(at);
  if (end > bytes.length) throw new Error('record table cut off');
  const kept = end - start <= KEPT_TABLE_MAX_BYTES;
  const key = kept ? bytes.toString('latin1', start, end) : '';
  let reader = kept ? tableReaders.get(key) : undefined;
  if (reader === undefined) {
    reader = tableReader(bytes, start, end);
    if (kept) {
      if (tableReaders.size >= READERS_MAX) tableReaders.delete(tableReaders.keys().next().value!);
      tableReaders.set(key, reader);
    }
  } else {
    tableReaders.delete(key);
    tableReaders.set(key, reader);
  }
  const { structures, table } = reader;
  /** Empties slots 32-63; true when the read changed what it may not (then the decoder is dropped). */
  const damaged = () => {
    let bad = structures.length !== SLOTS;
    structures.length = SLOTS;
    for (let i = 0; i < MAX_TABLE; i++) if (structures[i] !== table[i]) bad = true;
    for (let i = MAX_TABLE; i < SLOTS; i++) structures[i] = UNDEFINED_SHAPE;
    if (bad && kept) tableReaders.delete(key);
    return bad;
  };
  let value: unknown;
  try {
    value = reader.unpackr.unpack(bytes, { start: end, end: bytes.length });
  } catch (e) {
    damaged();
    throw e;
  }
  if (damaged()) throw new Error('record data redefines a table id');
  return value;
}

/**
 * What the cache knows about the serializers made here (internal): `at` decodes a payload that starts at
 * `start` of a larger buffer (the frame: no subarray per hit), and their values are built only from plain
 * objects, arrays, Date, Map, Set, Buffer/Uint8Array and primitives (what the local tier can copy itself).
 * Keyed by the serializer object and checked against its `deserialize`: a copy or a changed serializer is
 * treated as a custom one.
 */
export interface KnownSerializer {
  deserialize: CacheSerializer['deserialize'];
  at: (bytes: Buffer, start: number) => unknown;
  /**
   * The JSON text of a payload that `at` would decode with `JSON.parse` (undefined for any other payload):
   * getMany decodes every text first and parses them in a second loop (see QueryCache `plainMany`).
   */
  text: (bytes: Buffer, start: number) => string | undefined;
}
const knownSerializers = new WeakMap<CacheSerializer, KnownSerializer>();

function known(
  s: CacheSerializer,
  at: KnownSerializer['at'],
  text: KnownSerializer['text'],
): CacheSerializer {
  knownSerializers.set(s, { deserialize: s.deserialize, at, text });
  return s;
}

/** The fast paths of a serializer made by this module, or undefined for any other (internal). */
export function knownSerializer(s: CacheSerializer): KnownSerializer['at'] | undefined {
  return knownPaths(s)?.at;
}

/** {@link knownSerializer} with the JSON text reader too (internal). */
export function knownPaths(s: CacheSerializer): KnownSerializer | undefined {
  const k = knownSerializers.get(s);
  return k !== undefined && k.deserialize === s.deserialize ? k : undefined;
}

/**
 * 0xC1 is the one byte MessagePack never uses, so it marks a JSON payload unambiguously (msgpackr writes it only
 * for its `bundleStrings` option, which dbkit does not use).
 */
const JSON_MARK = 0xc1;

/** Serialized JSON up to this size is kept as JSON (V8's JSON.parse is the fastest decoder for small values). */
const JSON_MAX_BYTES = 8 * 1024;

/**
 * True when JSON.parse(JSON.stringify(v)) gives back an equal value: plain objects and arrays (no holes) of
 * strings, finite numbers, booleans and null. Anything else (Date, BigInt, Map, Set, Buffer, undefined, class
 * instances, a `__proto__` key, cycles, deep nesting) goes to MessagePack. `budget.left` counts down a rough
 * size so a large value stops the walk early (it goes to MessagePack without being stringified first).
 */
function jsonExact(v: unknown, depth: number, budget: { left: number }): boolean {
  switch (typeof v) {
    case 'string':
      budget.left -= v.length + 2;
      return budget.left >= 0;
    case 'boolean':
      budget.left -= 5;
      return budget.left >= 0;
    case 'number':
      budget.left -= 8;
      return Number.isFinite(v) && !Object.is(v, -0) && budget.left >= 0;
    case 'object': {
      if (v === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(v)) {
        budget.left -= v.length + 2;
        for (let i = 0; i < v.length; i++) if (!(i in v) || !jsonExact(v[i], depth + 1, budget)) return false;
        return budget.left >= 0;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const k in v) {
        budget.left -= k.length + 4;
        if (k === '__proto__' || !jsonExact((v as Record<string, unknown>)[k], depth + 1, budget))
          return false;
      }
      return Object.getOwnPropertySymbols(v).length === 0;
    }
    default:
      return false;
  }
}

/**
 * The default serializer: exact round trips of Date, BigInt (any size), Map, Set, Buffer/Uint8Array,
 * undefined properties and nested structures (MessagePack, see {@link msgpackSerializer}), and JSON for small
 * values that JSON represents exactly (most single rows: V8's JSON.parse decodes those faster than any
 * MessagePack decoder, which matters on hits and getMany). A marker byte tells the two apart on read.
 *
 * @example
 * ```ts
 * createQueryCache({ store, namespace: 'a', ttl: 60, serializer: defaultSerializer() }) // the default anyway
 * ```
 */
export function defaultSerializer(): CacheSerializer {
  const msgpack = msgpackSerializer();
  return known(
    {
      name: 'json+msgpackr',
      serialize(value) {
        if (value !== null && typeof value === 'object' && jsonExact(value, 0, { left: JSON_MAX_BYTES })) {
          const text = JSON.stringify(value);
          if (text.length <= JSON_MAX_BYTES) {
            const out = Buffer.allocUnsafe(1 + Buffer.byteLength(text));
            out[0] = JSON_MARK;
            out.write(text, 1, 'utf8');
            return out;
          }
        }
        return msgpack.serialize(value);
      },
      deserialize: msgpack.deserialize,
    },
    knownPaths(msgpack)!.at,
    knownPaths(msgpack)!.text,
  );
}

/**
 * A JSON serializer (loses Date, BigInt, Map, Set): for interop with readers in other languages.
 *
 * @example
 * ```ts
 * createQueryCache({ store, namespace: 'a', ttl: 60, serializer: jsonSerializer() })
 * ```
 */
export function jsonSerializer(): CacheSerializer {
  return known(
    {
      name: 'json',
      serialize: (value) => Buffer.from(JSON.stringify(value) ?? 'null', 'utf8'),
      deserialize: (bytes) => JSON.parse(bytes.toString('utf8')),
    },
    (bytes, start) => JSON.parse(utf8From(bytes, start)),
    (bytes, start) => utf8From(bytes, start),
  );
}

/** How many record-table decoders this process keeps now (internal: tests). */
export function tableReaderCount(): number {
  return tableReaders.size;
}
