import { CACHE_CODEC_IDS, type CacheCodecName, codecById, codecNameById, requireCodec } from './codecs.js';
import { CacheCorruptEntryError } from './errors.js';

/**
 * Entry frame (all integers big-endian unless noted):
 *   0  u8   magic 0xDB
 *   1  u8   format version (1)
 *   2  u8   codec id (0 none, 1 lz4, 2 gzip, 3 brotli, 4 zstd)
 *   3  u8   flags (bit 0: tag section present; bit 1: logical expiry present)
 *   4  u32  uncompressed payload length
 *   [expiry] f64 logical expiry, ms since the epoch (entries written with `grace`: Redis keeps them ttl + grace,
 *            readers treat them as stale from this instant; frames without it expire with their Redis TTL)
 *   [tag section] u16 count, then per tag: u16 byte length, utf-8 name, f64 version
 *   payload (serialized value, compressed with the codec)
 */
/**
 * First byte of every entry.
 *
 * @example
 * ```ts
 * frame[0] === CACHE_FRAME_MAGIC
 * ```
 */
export const CACHE_FRAME_MAGIC = 0xdb;
/**
 * The only entry format version this build reads and writes.
 *
 * @example
 * ```ts
 * frame[1] === CACHE_FRAME_VERSION
 * ```
 */
export const CACHE_FRAME_VERSION = 1;
const FLAG_TAGS = 1;
const FLAG_EXPIRY = 2;
/** 'auto' compression: lz4 below this many serialized bytes, gzip at or above. */
export const AUTO_LARGE_BYTES = 16 * 1024;
/**
 * gzip level of 'auto' for large values. For a 150 KB result (see the README's trade-off table): level 3 stores
 * 0.175x its JSON (level 1: 0.20x, lz4: 0.30x) and inflates ~25% faster than level 1 (fewer, longer matches), for
 * ~0.4 ms more CPU per write (~1.1 instead of ~0.75 ms to compress); level 6 inflates a little faster still but
 * compresses ~4x slower than level 1.
 */
export const AUTO_GZIP_LEVEL = 3;
const HEADER = 8;

/** Compression settings used when encoding. */
export interface FrameCompression {
  /** A codec, or 'auto': lz4 below `largeBytes`, gzip (level `level`, default 3) at or above. */
  codec: CacheCodecName | 'auto';
  /** Where 'auto' switches from lz4 to gzip. @default 16384 */
  largeBytes?: number | undefined;
  /** The codec's level (gzip 1-9, brotli 0-11, zstd 1-22); default {@link CACHE_CODEC_DEFAULT_LEVELS}. */
  level?: number | undefined;
  thresholdBytes: number;
  minSavings: number;
}

/** A decoded frame. */
export interface DecodedFrame {
  codec: CacheCodecName;
  /** Serialized (uncompressed) bytes. */
  raw: Buffer;
  /** Tag versions the entry was written against. */
  tags: Array<[string, number]>;
  storedBytes: number;
  /** Logical expiry (ms since the epoch) of an entry written with grace; undefined for other entries. */
  expiresAt?: number;
}

/**
 * Encodes a serialized value; returns the frame and the codec actually used.
 *
 * @example
 * ```ts
 * const { frame } = encodeCacheFrame(bytes, { codec: 'lz4', thresholdBytes: 1024, minSavings: 0.2 })
 * ```
 */
export function encodeCacheFrame(
  raw: Buffer,
  compression: FrameCompression,
  tags: ReadonlyArray<readonly [string, number]> = [],
  expiresAt?: number,
): { frame: Buffer; codec: CacheCodecName } {
  let codec: CacheCodecName = 'none';
  let payload = raw;
  if (compression.codec !== 'none' && raw.length >= compression.thresholdBytes) {
    let use: CacheCodecName = compression.codec === 'auto' ? 'lz4' : compression.codec;
    let level = compression.level;
    if (compression.codec === 'auto' && raw.length >= (compression.largeBytes ?? AUTO_LARGE_BYTES)) {
      use = 'gzip';
      level ??= AUTO_GZIP_LEVEL;
    }
    const compressed = requireCodec(use).compress(raw, use === 'lz4' ? undefined : level);
    if (compressed.length <= raw.length * (1 - compression.minSavings)) {
      codec = use;
      payload = compressed;
    }
  }
  if (tags.length > 0xffff) throw new RangeError(`at most 65535 tags per entry, got ${tags.length}`);
  const tagBufs = tags.map(([t]) => {
    const b = Buffer.from(t, 'utf8');
    if (b.length > 0xffff) throw new RangeError(`a tag is at most 65535 bytes, got ${b.length}`);
    return b;
  });
  const tagBytes = tags.length ? 2 + tagBufs.reduce((n, b) => n + 2 + b.length + 8, 0) : 0;
  const expiryBytes = expiresAt === undefined ? 0 : 8;
  const frame = Buffer.allocUnsafe(HEADER + expiryBytes + tagBytes + payload.length);
  frame[0] = CACHE_FRAME_MAGIC;
  frame[1] = CACHE_FRAME_VERSION;
  frame[2] = CACHE_CODEC_IDS[codec];
  frame[3] = (tags.length ? FLAG_TAGS : 0) | (expiryBytes ? FLAG_EXPIRY : 0);
  frame.writeUInt32BE(raw.length, 4);
  let o = HEADER;
  if (expiresAt !== undefined) o = frame.writeDoubleBE(expiresAt, o);
  if (tags.length) {
    o = frame.writeUInt16BE(tags.length, o);
    tags.forEach(([, version], i) => {
      const b = tagBufs[i]!;
      o = frame.writeUInt16BE(b.length, o);
      o += b.copy(frame, o);
      o = frame.writeDoubleBE(version, o);
    });
  }
  payload.copy(frame, o);
  return { frame, codec };
}

/**
 * Decodes a frame; throws `CacheCorruptEntryError` for anything this build cannot trust.
 *
 * @example
 * ```ts
 * const { raw, codec, tags } = decodeCacheFrame(await redis.getBuffer(key), 64 << 20)
 * ```
 */
export function decodeCacheFrame(frame: Buffer, maxDecompressedBytes: number): DecodedFrame {
  if (frame.length < HEADER || frame[0] !== CACHE_FRAME_MAGIC)
    throw new CacheCorruptEntryError('bad magic or short frame');
  if (frame[1] !== CACHE_FRAME_VERSION) {
    throw new CacheCorruptEntryError(`unknown format version ${frame[1]}`, {
      context: { version: frame[1] },
    });
  }
  const codecId = frame[2]!;
  const codec = codecById(codecId);
  const flags = frame[3]!;
  if (flags & ~(FLAG_TAGS | FLAG_EXPIRY)) throw new CacheCorruptEntryError(`unknown flags ${flags}`);
  const rawLength = frame.readUInt32BE(4);
  if (rawLength > maxDecompressedBytes) {
    throw new CacheCorruptEntryError(`entry of ${rawLength} bytes exceeds maxDecompressedBytes`, {
      context: { rawLength, maxDecompressedBytes },
    });
  }
  let o = HEADER;
  let expiresAt: number | undefined;
  if (flags & FLAG_EXPIRY) {
    if (frame.length < HEADER + 8) throw new CacheCorruptEntryError('expiry overruns the frame');
    expiresAt = frame.readDoubleBE(o);
    o += 8;
    if (!Number.isFinite(expiresAt)) throw new CacheCorruptEntryError('bad expiry');
  }
  const tags: Array<[string, number]> = [];
  try {
    if (flags & FLAG_TAGS) {
      const n = frame.readUInt16BE(o);
      o += 2;
      for (let i = 0; i < n; i++) {
        const len = frame.readUInt16BE(o);
        o += 2;
        if (o + len + 8 > frame.length) throw new RangeError('tag section overruns the frame');
        const name = frame.toString('utf8', o, o + len);
        o += len;
        tags.push([name, frame.readDoubleBE(o)]);
        o += 8;
      }
    }
  } catch (e) {
    throw new CacheCorruptEntryError('bad tag section', { cause: e });
  }
  const payload = frame.subarray(o);
  let raw: Buffer;
  try {
    raw = codec.decompress(payload, rawLength);
  } catch (e) {
    if (e instanceof CacheCorruptEntryError) throw e;
    throw new CacheCorruptEntryError('payload does not decompress', { cause: e });
  }
  if (raw.length !== rawLength) {
    throw new CacheCorruptEntryError(`payload is ${raw.length} bytes, header says ${rawLength}`);
  }
  const decoded: DecodedFrame = { codec: codecNameById(codecId)!, raw, tags, storedBytes: frame.length };
  if (expiresAt !== undefined) decoded.expiresAt = expiresAt;
  return decoded;
}

/** Where the payload of a frame starts when the frame has no expiry, no tags and no compression. */
export const PLAIN_PAYLOAD_OFFSET = HEADER;

/**
 * True for a frame `decodeCacheFrame` would decode to its own bytes after the header: uncompressed, untagged,
 * without expiry, its length as declared and within `maxDecompressedBytes` (internal: the hit path reads such a
 * payload in place, from {@link PLAIN_PAYLOAD_OFFSET}).
 */
export function isPlainFrame(frame: Buffer, maxDecompressedBytes: number): boolean {
  const n = frame.length - HEADER;
  return (
    n >= 0 &&
    frame[0] === CACHE_FRAME_MAGIC &&
    frame[1] === CACHE_FRAME_VERSION &&
    frame[2] === CACHE_CODEC_IDS.none &&
    frame[3] === 0 &&
    n <= maxDecompressedBytes &&
    ((frame[4]! << 24) | (frame[5]! << 16) | (frame[6]! << 8) | frame[7]!) >>> 0 === n
  );
}

/** Reads only the header: codec and uncompressed length (for memory analysis). */
export function peekCacheFrame(frame: Buffer): { codec: CacheCodecName; rawLength: number } | undefined {
  if (frame.length < HEADER || frame[0] !== CACHE_FRAME_MAGIC || frame[1] !== CACHE_FRAME_VERSION)
    return undefined;
  const codec = codecNameById(frame[2]!);
  return codec ? { codec, rawLength: frame.readUInt32BE(4) } : undefined;
}
