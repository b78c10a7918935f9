import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type CacheCodecName,
  createQueryCache,
  decodeCacheFrame,
  encodeCacheFrame,
  isCacheCodecAvailable,
  isDbkitError,
  jsonSerializer,
  memoryStore,
  msgpackSerializer,
} from '../../src/cache/index.js';
import { row } from './helpers.js';

const raw = msgpackSerializer().serialize(Array.from({ length: 100 }, (_, i) => row(i)));
const settings = (codec: CacheCodecName) => ({ codec, thresholdBytes: 1024, minSavings: 0.2 });
const available = (['none', 'lz4', 'gzip', 'brotli', 'zstd'] as const).filter(isCacheCodecAvailable);

describe('entry frame', () => {
  it.each(available)('round-trips with %s', (codec) => {
    const { frame, codec: used } = encodeCacheFrame(raw, settings(codec), [['users', 3]]);
    expect(used).toBe(codec);
    if (codec !== 'none') expect(frame.length).toBeLessThan(raw.length * 0.8);
    expect(frame[0]).toBe(0xdb);
    expect(frame[1]).toBe(1);
    const d = decodeCacheFrame(frame, 1 << 24);
    expect(d.raw.equals(raw)).toBe(true);
    expect(d.codec).toBe(codec);
    expect(d.tags).toEqual([['users', 3]]);
  });

  it("'auto': lz4 below largeBytes, gzip level 3 at or above (byte for byte what node:zlib writes), level overridable", () => {
    const auto = { codec: 'auto' as const, thresholdBytes: 1024, minSavings: 0.2 };
    const payload = (frame: Buffer) => frame.subarray(8);
    const below = raw.subarray(0, 16 * 1024 - 1);
    expect(encodeCacheFrame(below, auto).codec).toBe('lz4');
    const big = encodeCacheFrame(raw, auto);
    expect(raw.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(big.codec).toBe('gzip');
    expect(payload(big.frame).equals(zlib.gzipSync(raw, { level: 3 }))).toBe(true);
    expect(payload(big.frame).equals(zlib.gzipSync(raw, { level: 1 }))).toBe(false);
    const one = encodeCacheFrame(raw, { ...auto, level: 1 });
    expect(payload(one.frame).equals(zlib.gzipSync(raw, { level: 1 }))).toBe(true);
    expect(encodeCacheFrame(raw, { ...auto, largeBytes: raw.length + 1 }).codec).toBe('lz4');
    for (const f of [big.frame, one.frame]) expect(decodeCacheFrame(f, 1 << 24).raw.equals(raw)).toBe(true);
  });

  it('stores below thresholdBytes uncompressed', () => {
    const small = Buffer.from('x'.repeat(1023));
    expect(encodeCacheFrame(small, settings('lz4')).codec).toBe('none');
    expect(encodeCacheFrame(Buffer.from('x'.repeat(1024)), settings('lz4')).codec).toBe('lz4');
  });

  it('stores raw when compression saves less than minSavings', () => {
    const random = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256)));
    const { frame, codec } = encodeCacheFrame(random, settings('gzip'));
    expect(codec).toBe('none');
    expect(frame.length).toBe(random.length + 8);
  });

  it('rejects unknown versions, codecs, flags and truncated payloads', () => {
    const { frame } = encodeCacheFrame(raw, settings('lz4'));
    const mutate = (i: number, v: number) => {
      const f = Buffer.from(frame);
      f[i] = v;
      return f;
    };
    for (const bad of [
      mutate(0, 0),
      mutate(1, 2),
      mutate(2, 9),
      mutate(3, 0x80),
      frame.subarray(0, frame.length - 5),
      frame.subarray(0, 4),
    ]) {
      expect(() => decodeCacheFrame(bad, 1 << 24)).toThrow(
        expect.objectContaining({ code: 'E_CACHE_CORRUPT_ENTRY' }),
      );
    }
  });

  const compressing = available.filter((c) => c !== 'none');

  it.each(compressing)(
    '%s: a header claiming more than maxDecompressedBytes is refused before inflating',
    (codec) => {
      const { frame } = encodeCacheFrame(Buffer.alloc(1_000_000), settings(codec)); // zeros: tiny when compressed
      expect(frame.length).toBeLessThan(20_000);
      expect(() => decodeCacheFrame(frame, 100_000)).toThrow(/exceeds maxDecompressedBytes/);
    },
  );

  it.each(compressing)(
    '%s: inflating stops at the length the header declares (bomb under a forged header)',
    (codec) => {
      // 20 MB of zeros under a header that says 10 bytes, read with the default 64 MiB limit: the codec must stop
      // at ~10 bytes (one output chunk), not inflate 20 MB and compare lengths afterwards.
      const { frame } = encodeCacheFrame(Buffer.alloc(20_000_000), settings(codec));
      const forged = Buffer.from(frame);
      forged.writeUInt32BE(10, 4);
      const fail = () => decodeCacheFrame(forged, 64 * 1024 * 1024);
      expect(fail).toThrow(expect.objectContaining({ code: 'E_CACHE_CORRUPT_ENTRY' }));
      expect(fail).toThrow(
        codec === 'lz4'
          ? /lz4 block size 20000000 does not match the header's 10/
          : /inflates past its declared 10 bytes/,
      );
      // and one byte short of the truth is refused the same way
      const short = Buffer.from(frame);
      short.writeUInt32BE(19_999_999, 4);
      expect(() => decodeCacheFrame(short, 64 * 1024 * 1024)).toThrow(/declared 19999999|header's 19999999/);
    },
  );

  it('gzip: reads any gzip member (a header with a name, two members) and refuses lengths that disagree', () => {
    const framed = (payload: Buffer, rawLength: number) => {
      const header = Buffer.from([0xdb, 1, 2, 0, 0, 0, 0, 0]);
      header.writeUInt32BE(rawLength, 4);
      return Buffer.concat([header, payload]);
    };
    const gz = zlib.gzipSync(raw, { level: 1 });
    expect(decodeCacheFrame(framed(gz, raw.length), 1 << 24).raw.equals(raw)).toBe(true);
    // FNAME set: the name sits between the 10-byte header and the deflate stream
    const named = Buffer.concat([
      gz.subarray(0, 3),
      Buffer.from([8]),
      gz.subarray(4, 10),
      Buffer.from('rows\0'),
      gz.subarray(10),
    ]);
    expect(decodeCacheFrame(framed(named, raw.length), 1 << 24).raw.equals(raw)).toBe(true);
    const half = raw.subarray(0, 5000);
    const two = Buffer.concat([zlib.gzipSync(half), zlib.gzipSync(raw.subarray(5000))]);
    expect(decodeCacheFrame(framed(two, raw.length), 1 << 24).raw.equals(raw)).toBe(true);
    const corrupt = expect.objectContaining({ code: 'E_CACHE_CORRUPT_ENTRY' });
    // the trailer's length (ISIZE) says one byte more than the header and the stream
    const isize = Buffer.from(gz);
    isize.writeUInt32LE(raw.length + 1, isize.length - 4);
    expect(() => decodeCacheFrame(framed(isize, raw.length), 1 << 24)).toThrow(corrupt);
    // the header says one byte less than the stream holds (bounded: stops past it), or one more
    expect(() => decodeCacheFrame(framed(gz, raw.length - 1), 1 << 24)).toThrow(/inflates past/);
    expect(() => decodeCacheFrame(framed(gz, raw.length + 1), 1 << 24)).toThrow(corrupt);
    // cut short, or a damaged deflate stream
    for (const cut of [1, 8, 9, 100]) {
      expect(() => decodeCacheFrame(framed(gz.subarray(0, gz.length - cut), raw.length), 1 << 24)).toThrow(
        corrupt,
      );
    }
    const damaged = Buffer.from(gz);
    damaged.fill(0xff, 12, 40);
    expect(() => decodeCacheFrame(framed(damaged, raw.length), 1 << 24)).toThrow(corrupt);
  });

  it('a cache configured with gzip, brotli or none reads entries written with any codec', async () => {
    const store = memoryStore();
    const writer = createQueryCache({ store, namespace: 'codecs', ttl: 60, compression: 'brotli' });
    const rows = Array.from({ length: 50 }, (_, i) => row(i));
    await writer.set('k', rows);
    expect(writer.stats().codecs).toEqual({ brotli: 1 });
    const reader = createQueryCache({ store, namespace: 'codecs', ttl: 60, compression: 'none' });
    expect(await reader.get('k')).toEqual(rows);
  });

  it('takes a pluggable serializer', async () => {
    const c = createQueryCache({
      store: memoryStore(),
      namespace: 'json',
      ttl: 60,
      serializer: jsonSerializer(),
    });
    await c.set('k', { at: new Date(0), n: 1 });
    expect(await c.get('k')).toEqual({ at: '1970-01-01T00:00:00.000Z', n: 1 }); // JSON's known loss
  });

  it('zstd is used when node:zlib has it, otherwise a typed error names it unavailable', () => {
    const make = () =>
      createQueryCache({ store: memoryStore(), namespace: 'z', ttl: 60, compression: 'zstd' });
    if (isCacheCodecAvailable('zstd')) expect(make().options.compression).toBe('zstd');
    else
      expect(make).toThrow(
        expect.objectContaining({
          code: 'E_CACHE_CODEC_UNAVAILABLE',
          message: expect.stringMatching(/zstd unavailable/),
        }),
      );
  });

  it('rejects bad options with ConfigError', () => {
    const store = memoryStore();
    for (const bad of [
      { namespace: '', ttl: 60 },
      { namespace: 'x'.repeat(129), ttl: 60 },
      { namespace: 'lone\ud800surrogate', ttl: 60 },
      { namespace: 'ok', ttl: 60, compression: 'lz4', compressionLevel: 3 },
      { namespace: 'ok', ttl: 60, compression: 'gzip', compressionLevel: 10 },
      { namespace: 'ok', ttl: 60, compression: 'brotli', compressionLevel: 2.5 },
      { namespace: 'ok', ttl: 60, maxDecompressedBytes: 2 ** 32 },
      { namespace: 'ok', ttl: 0 },
      { namespace: 'ok', ttl: '5 parsecs' },
      { namespace: 'ok', ttl: 60, minSavings: 2 },
      { namespace: 'ok', ttl: 60, thresholdBytes: -1 },
    ]) {
      expect(() => createQueryCache({ store, ...(bad as { namespace: string; ttl: number }) })).toThrow(
        expect.objectContaining({ code: 'E_CONFIG' }),
      );
    }
    expect(() => createQueryCache({ namespace: 'ok', ttl: 60 })).toThrow(/exactly one of/);
    expect(createQueryCache({ store, namespace: 'ok', ttl: '5m' }).options.ttlMs).toBe(300_000);
    // any well-formed text is a namespace (encoded in keys, see isolation.test.ts)
    expect(createQueryCache({ store, namespace: 'a b:{c}*ü', ttl: 60 }).options.namespace).toBe('a b:{c}*ü');
    expect(isDbkitError(new Error('x'))).toBe(false);
  });
});
