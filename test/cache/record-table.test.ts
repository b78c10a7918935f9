import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type CacheStore,
  createQueryCache,
  decodeCacheFrame,
  defaultSerializer,
  encodeCacheFrame,
  msgpackSerializer,
  type QueryCache,
} from '../../src/cache/index.js';
import { tableReaderCount } from '../../src/cache/serializer.js';
import { makeStore, namespace, row, type StoreKind, storeKinds } from './helpers.js';

/** What dbkit wrote before record tables (and still writes past 32 shapes): msgpackr's inline records. */
const INLINE = { useRecords: true, moreTypes: true, mapsAsObjects: false, useBigIntExtension: true } as const;
const inlinePacker = new Packr(INLINE);
const inlineReader = new Unpackr(INLINE);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const isTabled = (b: Buffer) => b[0] === 0xc1 && b[1] === 0x00;
const tableEnd = (b: Buffer) => 4 + b.readUInt16BE(2);
/** One value with exactly `n` distinct object shapes (each element's keys differ by name). */
const shapes = (n: number) =>
  Array.from({ length: n * 2 }, (_, i) => ({ [`k${i % n}`]: i, at: new Date(i), nested: [i % 3] }));

describe.each([
  ['defaultSerializer', defaultSerializer],
  ['msgpackSerializer', msgpackSerializer],
] as const)('record tables, %s', (_name, make) => {
  const s = make();

  it('writes values with plain objects as a table and MessagePack that refers to it', () => {
    const v = [row(1), row(2), { at: new Date(0), inner: { deep: { x: 1n } } }];
    const b = s.serialize(v);
    expect(isTabled(b)).toBe(true);
    const table = new Unpackr({ useRecords: false }).unpack(b.subarray(4, tableEnd(b)));
    expect(table).toEqual([Object.keys(row(1)), ['at', 'inner'], ['deep'], ['x']]);
    // the body defines no record inline: every shape is in the table
    expect(b.subarray(tableEnd(b)).includes(Buffer.from([0xd4, 0x72]))).toBe(false);
    expect(s.deserialize(b)).toEqual(v);
  });

  it.each([1, 2, 31, 32])('%i shapes: a table', (n) => {
    const v = shapes(n);
    const b = s.serialize(v);
    expect(isTabled(b)).toBe(true);
    expect(s.deserialize(b)).toEqual(v);
  });

  it.each([33, 40, 64, 65, 200])('%i shapes: inline records, as before tables', (n) => {
    const v = shapes(n);
    const b = s.serialize(v);
    expect(b[0]).not.toBe(0xc1);
    expect(b.equals(inlinePacker.pack(v))).toBe(true);
    expect(s.deserialize(b)).toEqual(v);
  });

  it('values with no plain object stay plain MessagePack', () => {
    for (const v of [
      new Map([['a', new Date(0)]]),
      new Set([1n]),
      'text',
      7,
      [new Date(1)],
      Buffer.from('x'),
    ]) {
      const b = s.serialize(v);
      expect(b[0]).not.toBe(0xc1);
      expect(b.equals(inlinePacker.pack(v))).toBe(true);
      expect(s.deserialize(b)).toEqual(v);
    }
  });

  it('reads entries written with inline records (before tables)', () => {
    for (const v of [row(3), shapes(5), shapes(40), [{ a: undefined, b: new Map([[1, { c: 2 }]]) }]]) {
      expect(s.deserialize(inlinePacker.pack(v))).toEqual(v);
    }
  });

  it('decodes exactly what inline records decode (generated values)', () => {
    const key = fc.constantFrom('id', 'name', 'at', 'n', 'x-y', '0', '', 'constructor', 'ünï', 'a b');
    const leaf = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.date({ noInvalidDate: false }),
      fc.bigInt(),
      fc.uint8Array().map((u) => Buffer.from(u)),
      fc.uint8Array(),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, leaf, tie('object'), tie('array'), tie('map'), tie('set')),
      object: fc.dictionary(key, tie('value'), { maxKeys: 6 }),
      array: fc.array(tie('value'), { maxLength: 6 }),
      map: fc
        .array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie('value')), { maxLength: 3 })
        .map((e) => new Map(e)),
      set: fc.array(tie('value'), { maxLength: 3 }).map((e) => new Set(e)),
    }));
    fc.assert(
      fc.property(fc.array(value, { maxLength: 20 }), (v) => {
        const ours = s.deserialize(s.serialize(v));
        expect(isDeepStrictEqual(ours, inlineReader.unpack(inlinePacker.pack(v)))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('keeps "__proto__" keys off the prototype, as inline records do', () => {
    const v = [JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'), { at: new Date(0) }];
    const b = s.serialize(v);
    expect(isTabled(b)).toBe(true);
    const back = s.deserialize(b) as Array<Record<string, unknown>>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(back[0])).toBe(Object.prototype);
    expect(back).toEqual(inlineReader.unpack(inlinePacker.pack(v)));
  });

  it('a write from inside a write (a getter calling serialize) gives two whole values', () => {
    let inner: Buffer | undefined;
    const innerValue = { inner: true, at: new Date(2) };
    const outer = {
      get lazy() {
        inner = s.serialize(innerValue);
        return { at: new Date(1) };
      },
      other: { y: 1 },
    };
    const b = s.serialize(outer);
    expect(s.deserialize(b)).toEqual({ lazy: { at: new Date(1) }, other: { y: 1 } });
    expect(s.deserialize(inner!)).toEqual(innerValue);
  });

  it('a process that never wrote reads the entry (no state shared with the writer)', async () => {
    const v = { x: 1, nested: { y: [{ z: 2, at: new Date(5) }] } };
    const b = s.serialize(v);
    vi.resetModules();
    const fresh = (await import(
      '../../src/cache/serializer.js'
    )) as typeof import('../../src/cache/serializer.js');
    expect(fresh.tableReaderCount()).toBe(0);
    expect(fresh.defaultSerializer().deserialize(b)).toEqual(v);
    expect(fresh.tableReaderCount()).toBe(1);
  });
});

describe('the decoders kept per table', () => {
  const s = defaultSerializer();

  it('one per table, at most 128, and an evicted table reads again', () => {
    const values = Array.from({ length: 300 }, (_, i) => [{ [`only${i}`]: i, at: new Date(i) }]);
    const bytes = values.map((v) => s.serialize(v));
    for (const [i, b] of bytes.entries()) expect(s.deserialize(b)).toEqual(values[i]);
    expect(tableReaderCount()).toBeLessThanOrEqual(128);
    expect(tableReaderCount()).toBeGreaterThanOrEqual(100);
    // the first ones were evicted: they read again, and entries sharing a table share a decoder
    const before = tableReaderCount();
    for (let i = 0; i < 3; i++) expect(s.deserialize(bytes[i]!)).toEqual(values[i]);
    expect(s.deserialize(s.serialize([{ only0: 'other', at: new Date(9) }]))).toEqual([
      { only0: 'other', at: new Date(9) },
    ]);
    expect(tableReaderCount()).toBe(before);
  });

  it('entries sharing a table decode their own data, read in any order', () => {
    const a = Array.from({ length: 50 }, (_, i) => row(i));
    const b = Array.from({ length: 7 }, (_, i) => row(1000 + i));
    const [ba, bb] = [s.serialize(a), s.serialize(b)];
    expect(ba.subarray(0, tableEnd(ba)).equals(bb.subarray(0, tableEnd(bb)))).toBe(true);
    for (let i = 0; i < 5; i++) {
      expect(s.deserialize(bb)).toEqual(b);
      expect(s.deserialize(ba)).toEqual(a);
    }
  });
});

/**
 * Damage to a table entry's payload (after any decompression, which checks its own framing): each must fail to
 * decode, and leave the decoder of that table as it was (the good entries sharing it still read whole).
 */
type Damage = readonly [string, (b: Buffer) => Buffer];
const packList = (v: unknown) => new Packr({ useRecords: false }).pack(v);
const tableOf = (b: Buffer) =>
  new Unpackr({ useRecords: false }).unpack(b.subarray(4, tableEnd(b))) as unknown[][];
const withTable = (b: Buffer, table: Buffer) => {
  const head = Buffer.from([0xc1, 0x00, 0, 0]);
  head.writeUInt16BE(table.length, 2);
  return Buffer.concat([head, table, b.subarray(tableEnd(b))]);
};
/** An inline record definition (fixext 1, type "r", `id`) of one key, then a record of it. */
const inlineDefinition = (id: number) =>
  Buffer.concat([Buffer.from([0xd4, 0x72, id]), packList(['q']), Buffer.from([0x01])]);
const damageKinds: Damage[] = [
  ['cut after the marker', (b) => b.subarray(0, 2)],
  ['cut in the table length', (b) => b.subarray(0, 3)],
  ['cut in the table', (b) => b.subarray(0, tableEnd(b) - 1)],
  ['cut after the table', (b) => b.subarray(0, tableEnd(b))],
  ['cut in the data', (b) => b.subarray(0, tableEnd(b) + Math.floor((b.length - tableEnd(b)) / 2))],
  ['cut before the last byte', (b) => b.subarray(0, b.length - 1)],
  ['a byte after the data', (b) => Buffer.concat([b, Buffer.from([0xc0])])],
  ...[-2, -1, 1, 2].map(
    (d): Damage => [
      `table length ${d > 0 ? '+' : ''}${d}`,
      (b) => {
        const c = Buffer.from(b);
        c.writeUInt16BE(c.readUInt16BE(2) + d, 2);
        return c;
      },
    ],
  ),
  [
    'table length past the end',
    (b) => {
      const c = Buffer.from(b);
      c.writeUInt16BE(0xffff, 2);
      return c;
    },
  ],
  ['table length 0', (b) => withTable(b, Buffer.alloc(0))],
  ['table is not a list', (b) => withTable(b, packList({ a: 1 }))],
  ['table is empty', (b) => withTable(b, packList([]))],
  // the entry's own shapes, changed so that msgpackr alone would still decode the data: only dbkit's checks refuse
  [
    'table of 33 shapes (its own, then more)',
    (b) =>
      withTable(
        b,
        packList([...tableOf(b), ...Array.from({ length: 33 - tableOf(b).length }, (_, i) => [`k${i}`])]),
      ),
  ],
  [
    'a shape with a number key',
    (b) => withTable(b, packList(tableOf(b).map((k, i) => (i === 0 ? [0, ...k.slice(1)] : k)))),
  ],
  ['a shape that is not a list', (b) => withTable(b, packList([...tableOf(b), 'id']))],
  [
    'data defines a record inline (id 0x60)',
    (b) =>
      Buffer.concat([
        b.subarray(0, tableEnd(b)),
        Buffer.from([0x92]),
        inlineDefinition(0x60),
        b.subarray(tableEnd(b)),
      ]),
  ],
  [
    'data redefines a table id inline (id 0x40), cut after',
    (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0x92]), inlineDefinition(0x40)]),
  ],
  [
    'data is a record past the table',
    (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0xdc])]),
  ],
];

describe('damaged table entries', () => {
  const s = defaultSerializer();
  const value = Array.from({ length: 40 }, (_, i) => row(i));
  const good = s.serialize(value);
  const other = Array.from({ length: 3 }, (_, i) => row(500 + i));
  const otherBytes = s.serialize(other);

  it.each(damageKinds)('%s: fails, and the table still reads the good entries', (_what, damage) => {
    expect(s.deserialize(good)).toEqual(value); // its decoder exists before the damaged read
    const bad = damage(good);
    expect(() => s.deserialize(bad)).toThrow();
    expect(s.deserialize(good)).toEqual(value);
    expect(s.deserialize(otherBytes)).toEqual(other);
  });

  it('an inline redefinition of a table id that decodes leaves the table as it was', () => {
    // [definition of 0x40 as ['q'], then a record of it]: a value msgpackr reads, with a shape of its own
    const bad = Buffer.concat([
      good.subarray(0, tableEnd(good)),
      Buffer.from([0x91]),
      inlineDefinition(0x40),
    ]);
    try {
      s.deserialize(bad);
    } catch {
      // either outcome is a damaged entry's; what matters is the next reads
    }
    expect(s.deserialize(good)).toEqual(value);
    expect(s.deserialize(otherBytes)).toEqual(other);
  });

  it('every byte of a table entry overwritten: fails or decodes, and never changes another entry', () => {
    const small = s.serialize([row(7), { at: new Date(1), m: new Map([[1, { z: 1 }]]) }]);
    const pair = s.serialize([row(8), { at: new Date(2), m: new Map([[2, { z: 2 }]]) }]);
    const pairValue = s.deserialize(pair);
    for (let i = 0; i < small.length; i++) {
      for (const byte of [0x00, 0x40, 0x72, 0xc1, 0xd4, 0xff]) {
        const bad = Buffer.from(small);
        bad[i] = byte;
        try {
          s.deserialize(bad);
        } catch {
          // refused
        }
        expect(s.deserialize(pair)).toEqual(pairValue);
      }
    }
  });
});

const methods = ['get', 'getOrSet', 'getMany', 'wrap'] as const;

describe.each(storeKinds)('a damaged table entry read through the cache on %s', (kind: StoreKind) => {
  let store: CacheStore;
  let dispose: () => Promise<void>;
  let cache: QueryCache;
  // rows with Date and BigInt: MessagePack with a table, lz4 as 'auto' writes this size
  const value = Array.from({ length: 20 }, (_, i) => row(i));
  beforeAll(() => {
    ({ store, dispose } = makeStore(kind));
    cache = createQueryCache({ store, namespace: namespace(`table-${kind}`), ttl: 60 });
  });
  afterAll(async () => {
    await cache.clear();
    await cache.close();
    await dispose();
  });

  const cells = methods.flatMap((method) =>
    damageKinds.map(([what, damage]) => [method, what, damage] as const),
  );
  it.each(cells)('%s, %s', async (method, what, damage) => {
    const key = `bad:${method}:${what}`;
    await cache.set(key, value);
    const full = cache.storeKey(key);
    const frame = (await store.get(full))!;
    const decoded = decodeCacheFrame(frame, 64 << 20);
    expect(decoded.codec).toBe('lz4');
    expect(isTabled(decoded.raw)).toBe(true);
    // the damaged payload, compressed again the same way: what reaches the serializer is damaged
    const { frame: bad } = encodeCacheFrame(damage(decoded.raw), {
      codec: 'lz4',
      thresholdBytes: 0,
      minSavings: 0,
    });
    await store.set(full, bad, 60_000);
    const before = cache.stats().corruptEntries;
    if (method === 'get') expect(await cache.get(key)).toBeUndefined();
    else if (method === 'getOrSet') expect(await cache.getOrSet(key, async () => 'loaded')).toBe('loaded');
    else if (method === 'wrap') {
      const load = cache.wrap(async (_k: string) => 'loaded', { name: 'w', key: () => key });
      expect(await load(key)).toBe('loaded');
    } else {
      await cache.set(`${key}:next`, value);
      expect(await cache.getMany([key, `${key}:next`])).toEqual([undefined, value]);
    }
    expect(cache.stats().corruptEntries).toBe(before + 1);
    await sleep(20);
    const after = await store.get(full);
    if (method === 'get' || method === 'getMany') expect(after).toBeNull();
    else expect(await cache.get(key)).toBe('loaded');
    await cache.set(`${key}:good`, value);
    expect(await cache.get(`${key}:good`)).toEqual(value);
  });
});
