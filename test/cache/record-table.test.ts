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
import {
  expectDamagedRead,
  makeStore,
  namespace,
  readMethods,
  row,
  type StoreKind,
  storeKinds,
} from './helpers.js';

/** What dbkit wrote before record tables (and still writes past 32 shapes): msgpackr's inline records. */
const INLINE = { useRecords: true, moreTypes: true, mapsAsObjects: false, useBigIntExtension: true } as const;
const inlinePacker = new Packr(INLINE);
const inlineReader = new Unpackr(INLINE);

/**
 * Two decoded values compared as the bytes a fresh inline packer writes for them: types (Date, BigInt, Map, Set,
 * Buffer vs Uint8Array), undefined properties and key order count, and two invalid Dates are equal (which
 * util.isDeepStrictEqual denies, and toStrictEqual does not allow for an own "constructor" key).
 */
const canonical = (v: unknown) => new Packr(INLINE).pack(v).toString('hex');
const isTabled = (b: Buffer) => b[0] === 0xc1 && b[1] === 0x00;
const tableEnd = (b: Buffer) => 6 + b.readUInt32BE(2);
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
    const table = new Unpackr({ useRecords: false }).unpack(b.subarray(6, tableEnd(b)));
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

  it.each([33, 40, 64, 65, 200])('%i shapes: the first 32 in the table, the rest defined inline', (n) => {
    const v = shapes(n);
    const b = s.serialize(v);
    expect(isTabled(b)).toBe(true);
    const table = new Unpackr({ useRecords: false }).unpack(b.subarray(6, tableEnd(b))) as string[][];
    expect(table).toHaveLength(32);
    expect(b.subarray(tableEnd(b)).includes(Buffer.from([0xd4, 0x72]))).toBe(true);
    expect(s.deserialize(b)).toEqual(v);
    // read again, and after an entry of fewer shapes with the same first 32: the inline ones stay per entry
    expect(s.deserialize(s.serialize(shapes(32)))).toEqual(shapes(32));
    expect(s.deserialize(b)).toEqual(v);
  });

  it('packs each value once: getters run once on every path', () => {
    let calls = 0;
    const withGetter = (extra: object) =>
      Object.defineProperty({ ...extra }, 'g', {
        enumerable: true,
        get() {
          calls++;
          return 1;
        },
      });
    // a Date before the getter: defaultSerializer's JSON check stops there without reading it
    const values = [
      [withGetter({ a: new Date(0) })],
      [...shapes(40), withGetter({ z: 1 })],
      new Map([['m', withGetter({ b: 2 })]]),
    ];
    for (const v of values) {
      calls = 0;
      const b = s.serialize(v);
      expect(calls).toBe(1);
      expect(s.deserialize(b)).toEqual(inlineReader.unpack(inlinePacker.pack(v)));
    }
  });

  it('a table longer than 16 KiB reads, without a decoder kept for it', () => {
    const wide = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`column_${i}`, i]));
    const v = [wide, { ...wide, column_0: 'x' }];
    const b = s.serialize(v);
    expect(isTabled(b)).toBe(true);
    expect(tableEnd(b) - 6).toBeGreaterThan(16 * 1024);
    const before = tableReaderCount();
    expect(s.deserialize(b)).toEqual(v);
    expect(s.deserialize(b)).toEqual(v);
    expect(tableReaderCount()).toBe(before);
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
        expect(canonical(s.deserialize(s.serialize(v)))).toBe(
          canonical(inlineReader.unpack(inlinePacker.pack(v))),
        );
      }),
      { numRuns: 400 },
    );
  });

  it('decodes exactly what inline records decode, for 1 to 80 shapes (generated)', () => {
    const names = Array.from({ length: 120 }, (_, i) => `c${i}`);
    const obj = fc
      .uniqueArray(fc.constantFrom(...names), { minLength: 0, maxLength: 5 })
      .chain((keys) =>
        fc
          .tuple(...keys.map(() => fc.oneof(fc.integer(), fc.string(), fc.date(), fc.bigInt())))
          .map((vals) => Object.fromEntries(keys.map((k, i) => [k, vals[i]]))),
      );
    fc.assert(
      fc.property(fc.array(obj, { minLength: 1, maxLength: 160 }), (rows) => {
        const b = s.serialize(rows);
        expect(canonical(s.deserialize(b))).toBe(canonical(inlineReader.unpack(inlinePacker.pack(rows))));
      }),
      { numRuns: 200 },
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
    // the first ones were evicted: they read again
    for (let i = 0; i < 3; i++) expect(s.deserialize(bytes[i]!)).toEqual(values[i]);
    expect(tableReaderCount()).toBeLessThanOrEqual(128);
  });

  it('entries with the same shapes share one decoder', async () => {
    vi.resetModules();
    const fresh = (await import(
      '../../src/cache/serializer.js'
    )) as typeof import('../../src/cache/serializer.js');
    const f = fresh.defaultSerializer();
    const a = f.serialize([row(1), row(2)]);
    const b = f.serialize([row(3)]);
    const c = f.serialize([{ other: new Date(0) }]);
    expect(f.deserialize(a)).toEqual([row(1), row(2)]);
    expect(f.deserialize(b)).toEqual([row(3)]);
    expect(fresh.tableReaderCount()).toBe(1);
    expect(f.deserialize(c)).toEqual([{ other: new Date(0) }]);
    expect(fresh.tableReaderCount()).toBe(2);
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
  new Unpackr({ useRecords: false }).unpack(b.subarray(6, tableEnd(b))) as unknown[][];
const withTable = (b: Buffer, table: Buffer) => {
  const head = Buffer.from([0xc1, 0x00, 0, 0, 0, 0]);
  head.writeUInt32BE(table.length, 2);
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
        c.writeUInt32BE(c.readUInt32BE(2) + d, 2);
        return c;
      },
    ],
  ),
  [
    'table length past the end',
    (b) => {
      const c = Buffer.from(b);
      c.writeUInt32BE(0xffffffff, 2);
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
    'data redefines a table id inline (id 0x40), then the data',
    (b) =>
      Buffer.concat([
        b.subarray(0, tableEnd(b)),
        Buffer.from([0x92]),
        inlineDefinition(0x40),
        b.subarray(tableEnd(b)),
      ]),
  ],
  [
    'data redefines a table id inline (id 0x40), alone',
    (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0x91]), inlineDefinition(0x40)]),
  ],
  [
    'data is a record id past the table',
    (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0x40 + tableOf(b).length])]),
  ],
  [
    'data is record id 0x60, never defined',
    (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0x60])]),
  ],
  ['data is cut in an array16', (b) => Buffer.concat([b.subarray(0, tableEnd(b)), Buffer.from([0xdc])])],
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

  it('a shape defined inline (id 0x60) belongs to its entry: the next entry cannot use it undefined', () => {
    // [definition of 0x60 as ['q'] and a record of it, then the value]: what a value of 33+ shapes looks like
    const own = Buffer.concat([
      good.subarray(0, tableEnd(good)),
      Buffer.from([0x92]),
      inlineDefinition(0x60),
      good.subarray(tableEnd(good)),
    ]);
    expect(s.deserialize(own)).toEqual([{ q: 1 }, value]);
    const uses = Buffer.concat([good.subarray(0, tableEnd(good)), Buffer.from([0x91, 0x60, 0x01])]);
    expect(() => s.deserialize(uses)).toThrow(/not in the table/);
    expect(s.deserialize(good)).toEqual(value);
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

  const cells = readMethods.flatMap((method) =>
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
    await expectDamagedRead(cache, store, key, method, value);
    await cache.set(`${key}:good`, value);
    expect(await cache.get(`${key}:good`)).toEqual(value);
  });
});
