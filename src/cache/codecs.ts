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
  /** `level`: the codec's own scale (gzip 1-9, brotli 0-11, zstd 1-22); undefined = dbkit's default. */
  compress(raw: Buffer, level?: number): Buffer;
  /**
   * `rawLength` comes from the (already bounds-checked) header: the codec stops as soon as its output would
   * exceed it, so a forged header cannot make a read inflate more than it declares.
   */
  decompress(payload: Buffer, rawLength: number): Buffer;
}

type ZstdZlib = {
  zstdCompressSync?: (b: Buffer, o?: object) => Buffer;
  zstdDecompressSync?: (b: Buffer, o?: object) => Buffer;
};
const z = zlib as unknown as ZstdZlib;

/**
 * node:zlib checks `maxOutputLength` after every output chunk and throws ERR_BUFFER_TOO_LARGE. With one chunk
 * of the declared length + 1 (up to 4 MiB), a valid payload inflates in one step with no concat (about 30%
 * faster than 16 KiB chunks), and a bomb stops at the first byte past what its header declares.
 */
const MAX_CHUNK = 4 * 1024 * 1024;
function bounded(name: string, inflate: (b: Buffer, o: zlib.ZlibOptions) => Buffer) {
  return (payload: Buffer, rawLength: number): Buffer => {
    try {
      return inflate(payload, {
        maxOutputLength: Math.max(1, rawLength),
        chunkSize: Math.max(64, Math.min(rawLength + 1, MAX_CHUNK)),
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new CacheCorruptEntryError(`${name} payload inflates past its declared ${rawLength} bytes`, {
          cause: e,
          context: { rawLength },
        });
      }
      throw e;
    }
  };
}

const gunzipFull = bounded('gzip', zlib.gunzipSync);
const inflateMember = bounded('gzip', zlib.inflateRawSync);

/** The part of a node:zlib engine's native handle that `zlib.inflateRawSync` drives (lib/zlib.js). */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
}
interface Inflater {
  readonly engine: zlib.InflateRaw;
  readonly handle: ZlibHandle;
  /** [output bytes left, input bytes left] after a write. */
  readonly state: Uint32Array;
}

/** How gzip payloads were inflated (internal: lets the tests see that the reused engine is the path taken). */
export const gzipInflatePaths = { reused: 0, fallback: 0 };

/**
 * One raw-inflate engine per process, reset after every entry. `zlib.inflateRawSync` builds a stream object, sets
 * up an inflater (state and a 32 KiB window) and frees it again on every call: ~10-35 µs of a 150 KB hit, partly
 * page faults on the freshly allocated memory. The engine is fed through its native handle's `writeSync`, the
 * call inflateRawSync itself makes (lib/zlib.js `processChunkSync`), and `reset()` (public) readies it for the
 * next entry. The handle is not public API, and misusing it aborts the process instead of throwing, so:
 * - it is used only on the Node.js majors whose lib/zlib.js was checked to drive it this way (not on Bun or
 *   Deno), unless `DBKIT_CACHE_REUSE_INFLATER=0` is set, and only when it has that shape; a self-check at first
 *   use must give what inflateRawSync gives;
 * - never re-entrantly: zlib reports an error by calling into JS (async_hooks callbacks run there too), and a
 *   read from such a callback while the handle is mid-write would abort; that read takes inflateRawSync;
 * - before each write the engine must still own that open handle;
 * - a read counts only when all input was consumed and exactly the declared length came out (the output buffer
 *   holds one byte more, so a longer stream stops there), and a zlib error destroys that engine (the next read
 *   makes a new one).
 * Every other case returns undefined, and the caller inflates the same bytes through inflateRawSync, bounded,
 * which also produces the error to report.
 */
let inflater: Inflater | null | undefined;
let inflaterBusy = false;
let inflaterChecked = false;
const FAST_INFLATE_MAX = MAX_CHUNK;
/** lib/zlib.js checked on 20.20, 22.23 and 24.22: `processChunkSync` calls `handle.writeSync` with these arguments. */
const CHECKED_NODE_MAJORS: ReadonlySet<number> = new Set([20, 22, 24]);

function reuseAllowed(): boolean {
  const versions = process.versions as NodeJS.ProcessVersions & { bun?: string; deno?: string };
  if (versions.bun !== undefined || versions.deno !== undefined) return false;
  if (!CHECKED_NODE_MAJORS.has(Number(versions.node.split('.')[0]))) return false;
  return process.env.DBKIT_CACHE_REUSE_INFLATER !== '0';
}

function handleOf(engine: zlib.InflateRaw): unknown {
  return (engine as unknown as { _handle?: unknown })._handle;
}

function newInflater(): Inflater | null {
  try {
    // chunkSize: the engine's own output buffer is never used (reads bring theirs), so the smallest one.
    const engine = zlib.createInflateRaw({ chunkSize: 64 });
    // A failed write destroys the engine, which then emits 'error' on the next tick: never unhandled.
    engine.on('error', () => {});
    const handle = handleOf(engine) as Partial<ZlibHandle> | null | undefined;
    const state = (engine as unknown as { _writeState?: unknown })._writeState;
    if (typeof handle?.writeSync !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
      engine.close();
      return null;
    }
    return { engine, handle: handle as ZlibHandle, state };
  } catch {
    return null;
  }
}

function inflateWith(f: Inflater, payload: Buffer, rawLength: number): Buffer | undefined {
  if (f.engine.destroyed || handleOf(f.engine) !== f.handle) {
    inflater = undefined;
    return undefined;
  }
  const out = Buffer.allocUnsafe(rawLength + 1);
  try {
    f.handle.writeSync(zlib.constants.Z_FINISH, payload, 0, payload.length, out, 0, out.length);
  } catch {
    inflater = undefined;
    f.engine.destroy();
    return undefined;
  }
  if (f.engine.destroyed) {
    // zlib reported an error (bad data, unexpected end): that engine is closed; the next read makes a new one.
    inflater = undefined;
    return undefined;
  }
  const produced = out.length - f.state[0]!;
  const inputLeft = f.state[1]!;
  try {
    f.engine.reset();
  } catch {
    inflater = undefined;
    f.engine.destroy();
  }
  if (f.engine.destroyed) inflater = undefined;
  return inputLeft === 0 && produced === rawLength ? out.subarray(0, rawLength) : undefined;
}

function readyInflater(): Inflater | null {
  if (inflater !== undefined) return inflater;
  const f = reuseAllowed() ? newInflater() : null;
  if (f === null || inflaterChecked) {
    inflater = f;
    return f;
  }
  const sample = Buffer.from(
    'dbkit inflate self-check: the reused engine must give what inflateRawSync gives. '.repeat(8),
  );
  const back = inflateWith(f, zlib.deflateRawSync(sample), sample.length);
  inflaterChecked = back?.equals(sample) === true && !f.engine.destroyed;
  if (!inflaterChecked) f.engine.destroy();
  inflater = inflaterChecked ? f : null;
  return inflater;
}

function inflateReused(payload: Buffer, rawLength: number): Buffer | undefined {
  if (inflaterBusy || rawLength > FAST_INFLATE_MAX) return undefined;
  inflaterBusy = true;
  try {
    const f = readyInflater();
    return f === null ? undefined : inflateWith(f, payload, rawLength);
  } finally {
    inflaterBusy = false;
  }
}

/**
 * gzip as node:zlib writes it (a bare 10-byte header: no name, extra field or comment) is read by inflating the
 * deflate stream inside it raw, checking the trailer's length (ISIZE) but not its CRC-32: the CRC was about a
 * quarter of a 150 KB entry's read (~30 us of ~135 us to inflate 95 KB). lz4 and uncompressed entries carry no
 * checksum at all, and the inflater, the declared length and the deserializer still refuse a payload that is not
 * what was written. Anything else (a header with flags, a second member, a length that does not add up) is read
 * again with gunzip, CRC included. Both are bounded by the declared length like the other zlib codecs, and the
 * entries written are the same gzip as before (older readers check the CRC as they always did).
 */
function gunzipBounded(payload: Buffer, rawLength: number): Buffer {
  const n = payload.length;
  if (n < 18 || payload[0] !== 0x1f || payload[1] !== 0x8b || payload[2] !== 8 || payload[3] !== 0)
    return gunzipFull(payload, rawLength);
  const body = payload.subarray(10, n - 8);
  if (payload.readUInt32LE(n - 4) === rawLength) {
    const out = inflateReused(body, rawLength);
    if (out !== undefined) {
      gzipInflatePaths.reused++;
      return out;
    }
  }
  gzipInflatePaths.fallback++;
  const out = inflateMember(body, rawLength);
  if (out.length === rawLength && payload.readUInt32LE(n - 4) === rawLength) return out;
  return gunzipFull(payload, rawLength);
}

const codecs: Record<CacheCodecName, Codec | undefined> = {
  none: {
    compress: (raw) => raw,
    decompress: (payload) => payload,
  },
  lz4: {
    compress: (raw) => lz4Compress(raw),
    decompress(payload, rawLength) {
      // lz4-napi prepends the block's size (u32 LE) and allocates that much: check it before trusting it.
      if (payload.length < 4) throw new CacheCorruptEntryError('lz4 payload too short');
      const declared = payload.readUInt32LE(0);
      if (declared !== rawLength) {
        throw new CacheCorruptEntryError(
          `lz4 block size ${declared} does not match the header's ${rawLength}`,
        );
      }
      return lz4Uncompress(payload);
    },
  },
  gzip: {
    compress: (raw, level) => zlib.gzipSync(raw, { level: level ?? DEFAULT_LEVELS.gzip }),
    decompress: gunzipBounded,
  },
  brotli: {
    compress: (raw, level) =>
      zlib.brotliCompressSync(raw, {
        params: {
          [zlib.constants.BROTLI_PARAM_QUALITY]: level ?? DEFAULT_LEVELS.brotli,
          [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
        },
      }),
    decompress: bounded('brotli', zlib.brotliDecompressSync),
  },
  // node:zlib has zstd from Node 22.15; on older runtimes the codec is reported unavailable.
  zstd:
    typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function'
      ? {
          compress: (raw, level) =>
            z.zstdCompressSync!(raw, level === undefined ? {} : { params: { 100: level } }), // 100 = ZSTD_c_compressionLevel
          decompress: bounded('zstd', (b, o) => z.zstdDecompressSync!(b, o)),
        }
      : undefined,
};

/**
 * Compression level each codec uses when `compressionLevel` is not set (lz4 and none have no level).
 *
 * @example
 * ```ts
 * CACHE_CODEC_DEFAULT_LEVELS.gzip // 6
 * ```
 */
export const CACHE_CODEC_DEFAULT_LEVELS = { gzip: 6, brotli: 4, zstd: 3 } as const;
const DEFAULT_LEVELS = CACHE_CODEC_DEFAULT_LEVELS;

/** Valid `compressionLevel` range per codec (undefined: the codec has no level). */
export const CODEC_LEVEL_RANGES: Partial<Record<CacheCodecName, readonly [number, number]>> = {
  gzip: [1, 9],
  brotli: [0, 11],
  zstd: [1, 22],
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
