import * as zlib from 'node:zlib';
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { CacheCodecUnavailableError, CacheCorruptEntryError } from './errors.js';

/** Compression codecs an entry can be stored with. */
export type CacheCodecName = 'none' | 'lz4' | 'gzip' | 'brotli' | 'zstd';

/**
 * Codec ids as written in the entry header (stable: never renumber).
 *
 * @example
 * ```ts
 * frame[2] === CACHE_CODEC_IDS.lz4
 * ```
 */
export const CACHE_CODEC_IDS = { none: 0, lz4: 1, gzip: 2, brotli: 3, zstd: 4 } as const satisfies Record<
  CacheCodecName,
  number
>;

const NAMES: ReadonlyArray<CacheCodecName> = ['none', 'lz4', 'gzip', 'brotli', 'zstd'];

interface Codec {
  compress(raw: Buffer): Buffer;
  /** `rawLength` comes from the header; the codec must not produce more than `maxBytes`. */
  decompress(payload: Buffer, rawLength: number, maxBytes: number): Buffer;
}

type ZstdZlib = {
  zstdCompressSync?: (b: Buffer, o?: object) => Buffer;
  zstdDecompressSync?: (b: Buffer, o?: object) => Buffer;
};
const z = zlib as unknown as ZstdZlib;

const codecs: Record<CacheCodecName, Codec | undefined> = {
  none: {
    compress: (raw) => raw,
    decompress: (payload) => payload,
  },
  lz4: {
    compress: (raw) => lz4Compress(raw),
    decompress(payload, rawLength, maxBytes) {
      // lz4-napi prepends the block's size (u32 LE) and allocates that much: check it before trusting it.
      if (payload.length < 4) throw new CacheCorruptEntryError('lz4 payload too short');
      const declared = payload.readUInt32LE(0);
      if (declared !== rawLength || declared > maxBytes) {
        throw new CacheCorruptEntryError(`lz4 block size ${declared} does not match the header`);
      }
      return lz4Uncompress(payload);
    },
  },
  gzip: {
    compress: (raw) => zlib.gzipSync(raw, { level: 6 }),
    decompress: (payload, _raw, maxBytes) =>
      zlib.gunzipSync(payload, { maxOutputLength: Math.max(1, maxBytes) }),
  },
  brotli: {
    compress: (raw) =>
      zlib.brotliCompressSync(raw, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: 4,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      }),
    decompress: (payload, _raw, maxBytes) =>
      zlib.brotliDecompressSync(payload, { maxOutputLength: Math.max(1, maxBytes) }),
  },
  // node:zlib has zstd from Node 22.15; on older runtimes the codec is reported unavailable.
  zstd:
    typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function'
      ? {
          compress: (raw) => z.zstdCompressSync!(raw),
          decompress: (payload, _raw, maxBytes) =>
            z.zstdDecompressSync!(payload, { maxOutputLength: Math.max(1, maxBytes) }),
        }
      : undefined,
};

/**
 * True when this runtime can use the codec ('zstd' needs node:zlib zstd, Node >= 22.15).
 *
 * @example
 * ```ts
 * const compression = isCacheCodecAvailable('zstd') ? 'zstd' : 'lz4'
 * ```
 */
export function isCacheCodecAvailable(codec: CacheCodecName): boolean {
  return codecs[codec] !== undefined;
}

/** Returns the codec or throws `CacheCodecUnavailableError`. */
export function requireCodec(name: CacheCodecName): Codec {
  if (!NAMES.includes(name)) throw new CacheCodecUnavailableError(String(name), 'unknown codec name');
  const c = codecs[name];
  if (!c) throw new CacheCodecUnavailableError(name, 'zstd unavailable: node:zlib zstd needs Node >= 22.15');
  return c;
}

/** Codec name for a header id, or undefined when unknown. */
export function codecNameById(id: number): CacheCodecName | undefined {
  return NAMES[id];
}

/** Codec for a header id; unknown or unavailable ids are corrupt entries for this process. */
export function codecById(id: number): Codec {
  const name = NAMES[id];
  const c = name ? codecs[name] : undefined;
  if (!c)
    throw new CacheCorruptEntryError(`unknown or unavailable codec id ${id}`, { context: { codecId: id } });
  return c;
}
