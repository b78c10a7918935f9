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

  it.each(['lz4', 'gzip', 'brotli'] as const)(
    'guards %s against payloads past maxDecompressedBytes',
    (codec) => {
      const bomb = Buffer.alloc(1_000_000); // zeros: compresses to almost nothing
      const { frame } = encodeCacheFrame(bomb, settings(codec));
      expect(frame.length).toBeLessThan(20_000);
      expect(() => decodeCacheFrame(frame, 100_000)).toThrow(/maxDecompressedBytes/);
      // a forged header that understates the size is caught by the codec limit
      const forged = Buffer.from(frame);
      forged.writeUInt32BE(50_000, 4);
      expect(() => decodeCacheFrame(forged, 100_000)).toThrow(
        expect.objectContaining({ code: 'E_CACHE_CORRUPT_ENTRY' }),
      );
    },
  );

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

  it('an entry larger than maxDecompressedBytes is a counted miss, not an error', async () => {
    const store = memoryStore();
    const c = createQueryCache({ store, namespace: 'bomb', ttl: 60, maxDecompressedBytes: 10_000 });
    await c.set('big', 'x'.repeat(50_000));
    expect(await c.get('big')).toBeUndefined();
    expect(c.stats().corruptEntries).toBe(1);
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
      { namespace: 'a b', ttl: 60 },
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
    expect(isDbkitError(new Error('x'))).toBe(false);
  });
});
