import { execFile } from 'node:child_process';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipInflatePaths } from '../../src/cache/codecs.js';
import {
  CacheCorruptEntryError,
  type CacheStore,
  createQueryCache,
  decodeCacheFrame,
  msgpackSerializer,
  type QueryCache,
} from '../../src/cache/index.js';
import {
  expectDamagedRead,
  makeStore,
  namespace,
  readMethods,
  row,
  type StoreKind,
  storeKinds,
} from './helpers.js';

// gzip entries are inflated by one engine per process, reset after each entry (src/cache/codecs.ts): these tests
// check that it is the path taken, that it gives exactly what node:zlib's public inflateRawSync gives for every
// payload (good or damaged), and that a zlib error neither leaks into the next read nor crashes the process.
const framed = (payload: Buffer, rawLength: number) => {
  const header = Buffer.from([0xdb, 1, 2, 0, 0, 0, 0, 0]);
  header.writeUInt32BE(rawLength, 4);
  return Buffer.concat([header, payload]);
};
// Entries as 'auto' writes them (gzip from 16 KiB serialized: 120 rows ~50 KB, 220 rows ~95 KB, the bench's
// 150 KB JSON result), at its level 3 and at level 1 (what 'auto' wrote before).
const entries = [120, 220].map((rows) => {
  const raw = msgpackSerializer().serialize(Array.from({ length: rows }, (_, i) => row(i)));
  return { rows, raw };
});
const raw = entries[0]!.raw;
const good = framed(zlib.gzipSync(raw, { level: 3 }), raw.length);
/** A good entry other than the damaged one: what the read after a damaged one gets. */
const other = entries[1]!.raw;
const goodOther = framed(zlib.gzipSync(other, { level: 3 }), other.length);

/** What the read did before the engine was reused: inflateRawSync, bounded, ISIZE checked, else gunzip with CRC. */
function reference(payload: Buffer, rawLength: number): Buffer | 'corrupt' {
  const opts = { maxOutputLength: Math.max(1, rawLength), chunkSize: Math.max(64, rawLength + 1) };
  try {
    const n = payload.length;
    const plain =
      n >= 18 && payload[0] === 0x1f && payload[1] === 0x8b && payload[2] === 8 && payload[3] === 0;
    if (plain) {
      const out = zlib.inflateRawSync(payload.subarray(10, n - 8), opts);
      if (out.length === rawLength && payload.readUInt32LE(n - 4) === rawLength) return out;
    }
    const out = zlib.gunzipSync(payload, opts);
    return out.length === rawLength ? out : 'corrupt';
  } catch {
    return 'corrupt';
  }
}
function actual(frame: Buffer): Buffer | 'corrupt' {
  try {
    return decodeCacheFrame(frame, 1 << 26).raw;
  } catch (e) {
    expect(e).toBeInstanceOf(CacheCorruptEntryError);
    return 'corrupt';
  }
}

/** Generated damage: byte runs overwritten across the stream, cuts, extra bytes, lengths off by one. */
function damaged(raw: Buffer, gz: Buffer): Array<[string, Buffer, number]> {
  const out: Array<[string, Buffer, number]> = [];
  const body = gz.length - 18;
  for (const fill of [0x00, 0xff, 0x55]) {
    for (let k = 0; k < 16; k++) {
      const at = 10 + Math.floor((body * k) / 16);
      for (const len of [1, 16]) {
        const b = Buffer.from(gz);
        b.fill(fill, at, Math.min(at + len, gz.length - 8));
        out.push([`fill 0x${fill.toString(16)} x${len} at ${at}`, b, raw.length]);
      }
    }
  }
  for (const cut of [1, 4, 8, 9, 12, 100, Math.floor(body / 2), body]) {
    out.push([`cut ${cut}`, gz.subarray(0, gz.length - cut), raw.length]);
  }
  const trailer = gz.subarray(gz.length - 8);
  out.push([
    'garbage after the stream',
    Buffer.concat([gz.subarray(0, gz.length - 8), Buffer.from([1, 2, 3]), trailer]),
    raw.length,
  ]);
  for (const delta of [-1, 1, -100, 100]) out.push([`declared ${delta}`, gz, raw.length + delta]);
  const isize = Buffer.from(gz);
  isize.writeUInt32LE(raw.length - 1, gz.length - 4);
  out.push(['ISIZE -1', isize, raw.length - 1]);
  const other = zlib.gzipSync(Buffer.from(raw).reverse(), { level: 3 });
  out.push(['another payload of the same length', other, raw.length]);
  // lengths forged to agree (header and ISIZE), one byte short or long: the + 1 of the output buffer stops it
  for (const delta of [-1, 1]) {
    const forged = Buffer.from(gz);
    forged.writeUInt32LE(raw.length + delta, gz.length - 4);
    out.push([`declared and ISIZE ${delta}`, forged, raw.length + delta]);
  }
  // ISIZE one more than the stream and the header
  const isizeUp = Buffer.from(gz);
  isizeUp.writeUInt32LE(raw.length + 1, gz.length - 4);
  out.push(['ISIZE +1', isizeUp, raw.length]);
  // all the data but no final block (a sync flush instead of a finish), lengths right
  const unfinished = zlib.deflateRawSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const trailerOk = Buffer.alloc(8);
  trailerOk.writeUInt32LE(zlib.crc32(raw), 0);
  trailerOk.writeUInt32LE(raw.length, 4);
  out.push(['no final block', Buffer.concat([gz.subarray(0, 10), unfinished, trailerOk]), raw.length]);
  out.push(['empty stream, declared 0', zlib.gzipSync(Buffer.alloc(0)), 0]);
  out.push(['a bomb under a small header', zlib.gzipSync(Buffer.alloc(5_000_000)), 1000]);
  return out;
}

describe('gzip inflate through the reused engine', () => {
  it('is the path a plain gzip entry takes, and gives back the exact bytes', () => {
    const before = { ...gzipInflatePaths };
    for (let i = 0; i < 5; i++) expect(decodeCacheFrame(good, 1 << 24).raw.equals(raw)).toBe(true);
    expect(gzipInflatePaths.reused - before.reused).toBe(5);
    expect(gzipInflatePaths.fallback - before.fallback).toBe(0);
  });

  const cells = entries.flatMap(({ rows, raw }) =>
    [3, 1].flatMap((level) =>
      damaged(raw, zlib.gzipSync(raw, { level })).map(
        ([what, payload, n]) => [`${rows} rows, gzip ${level}, ${what}`, payload, n] as const,
      ),
    ),
  );
  it.each(cells)(
    '%s: the same outcome as inflateRawSync, and the next read is whole',
    async (_, payload, n) => {
      const want = reference(payload, n);
      const got = actual(framed(payload, n));
      if (want === 'corrupt') expect(got).toBe('corrupt');
      else {
        expect(got).not.toBe('corrupt');
        expect((got as Buffer).equals(want)).toBe(true);
      }
      // the engine is usable (or replaced) right after, and a zlib error's deferred 'error' event is handled
      const before = gzipInflatePaths.reused;
      expect(decodeCacheFrame(goodOther, 1 << 24).raw.equals(other)).toBe(true);
      expect(decodeCacheFrame(good, 1 << 24).raw.equals(raw)).toBe(true);
      expect(gzipInflatePaths.reused).toBe(before + 2);
      await new Promise((r) => setImmediate(r));
    },
  );

  const fixture = join(import.meta.dirname, 'fixtures/inflate-damaged.ts');
  const child = (mode: string, env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', fixture, mode],
        { timeout: 20_000, killSignal: 'SIGKILL', env: { ...process.env, ...env } },
        (e, stdout, stderr) => {
          const err = e as (Error & { code?: number; signal?: string }) | null;
          resolve({ code: err ? (err.code ?? null) : 0, signal: err?.signal ?? null, stdout, stderr });
        },
      );
    });
  type Summary = { refused: number; good: boolean; nested: boolean; reused: number; fallback: number };
  const summaryOf = (r: { code: number | null; signal: string | null; stdout: string; stderr: string }) => {
    expect(r.stderr).toBe('');
    expect(r.signal).toBe(null);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout.trim()) as Summary;
  };

  it('damaged entries do not crash a process (zlib errors surface outside any promise)', async () => {
    const s = summaryOf(await child('plain'));
    expect(s).toMatchObject({ refused: 20, good: true, reused: 1, fallback: 20 });
  });

  it('a read from an async_hooks callback while the engine is mid-write takes inflateRawSync (no abort)', async () => {
    const s = summaryOf(await child('hook'));
    expect(s).toMatchObject({ refused: 20, good: true, nested: true });
    expect(s.fallback).toBeGreaterThan(20); // the nested reads while the handle was busy
  });

  it('DBKIT_CACHE_REUSE_INFLATER=0 turns the reused engine off (every read through inflateRawSync)', async () => {
    const s = summaryOf(await child('plain', { DBKIT_CACHE_REUSE_INFLATER: '0' }));
    expect(s).toMatchObject({ refused: 20, good: true, reused: 0, fallback: 21 });
  });
});

// The same faults as a service meets them: the default settings ('auto' gzips a 220-row result), the entry damaged
// in the store, read by each read method, on every store kind and ioredis major. Each cell: a miss (or the
// loader's value), counted corrupt, the bad entry gone, and the next large read whole, on the reused engine.
const damageKinds: Array<[string, (gz: Buffer) => Buffer]> = [
  ['a run overwritten', (gz) => Buffer.from(gz).fill(0xff, 200, 240)],
  ['cut short', (gz) => gz.subarray(0, gz.length - 100)],
  [
    'lengths forged one short',
    (gz) => {
      const b = Buffer.from(gz);
      b.writeUInt32LE(b.readUInt32LE(b.length - 4) - 1, b.length - 4);
      return b;
    },
  ],
  ['no final block', (gz) => Buffer.concat([gz.subarray(0, gz.length - 12), gz.subarray(gz.length - 8)])],
];

describe.each(storeKinds)('a damaged gzip entry read through the cache on %s', (kind: StoreKind) => {
  let store: CacheStore;
  let dispose: () => Promise<void>;
  let cache: QueryCache;
  const value = Array.from({ length: 220 }, (_, i) => row(i));
  beforeAll(() => {
    ({ store, dispose } = makeStore(kind));
    cache = createQueryCache({ store, namespace: namespace(`inflate-${kind}`), ttl: 60 });
  });
  afterAll(async () => {
    await cache.clear();
    await cache.close();
    await dispose();
  });

  const cells = readMethods.flatMap((method) =>
    damageKinds.map(([what, damage]) => [method, what, damage] as const),
  );
  it.each(cells)('%s, %s', async (method, what, damage) => {
    const key = `bad:${method}:${what}`;
    await cache.set(key, value);
    const full = cache.storeKey(key);
    const frame = (await store.get(full))!;
    expect(frame[2]).toBe(2); // gzip, as 'auto' writes a value this large
    await store.set(full, Buffer.concat([frame.subarray(0, 8), damage(frame.subarray(8))]), 60_000);
    await expectDamagedRead(cache, store, key, method, value);
    const reused = gzipInflatePaths.reused;
    await cache.set(`${key}:good`, value);
    expect(await cache.get(`${key}:good`)).toEqual(value);
    expect(gzipInflatePaths.reused).toBe(reused + 1);
  });
});
