import { Packr } from 'msgpackr';

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
  return {
    name: 'msgpackr',
    serialize: (value) => packer.pack(value),
    deserialize: (bytes) => unpacker.unpack(bytes),
  };
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
  return {
    name: 'json',
    serialize: (value) => Buffer.from(JSON.stringify(value) ?? 'null', 'utf8'),
    deserialize: (bytes) => JSON.parse(bytes.toString('utf8')),
  };
}
