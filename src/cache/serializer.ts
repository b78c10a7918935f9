import { Packr } from 'msgpackr';

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
 * Plain objects are written as msgpackr records (structure inline in each entry, no shared state) and
 * decoded with `mapsAsObjects: false`, so a msgpack map can only have come from a `Map`: that is how
 * Maps and plain objects stay distinct without a global msgpackr extension.
 *
 * @example
 * ```ts
 * const s = msgpackSerializer(); s.deserialize(s.serialize({ at: new Date() }))
 * ```
 */
export function msgpackSerializer(): CacheSerializer {
  const options = {
    useRecords: true,
    moreTypes: true,
    mapsAsObjects: false,
    useBigIntExtension: true,
  } as const;
  const packer = new Packr(options);
  // A separate unpacker: packing with records keeps per-call structure state that must not leak into reads.
  const unpacker = new Packr(options);
  // Also reads what `defaultSerializer()` wrote as JSON (a reader configured either way reads both).
  const at = (bytes: Buffer, start: number): unknown =>
    bytes[start] === JSON_MARK
      ? JSON.parse(utf8From(bytes, start + 1))
      : unpacker.unpack(bytes, { start, end: bytes.length });
  const text = (bytes: Buffer, start: number): string | undefined =>
    bytes[start] === JSON_MARK ? utf8From(bytes, start + 1) : undefined;
  return known(
    {
      name: 'msgpackr',
      serialize: (value) => packer.pack(value),
      deserialize: (bytes) => at(bytes, 0),
    },
    at,
    text,
  );
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
