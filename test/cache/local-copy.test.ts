/**
 * The local tier's own representation (src/cache/local-copy.ts): a private decoded template and a compiled
 * copier instead of decoding the stored bytes on every hit. Every copy must be exactly what decoding the entry
 * again gives (kinds, prototypes, key order, undefined vs missing, -0, invalid Dates, BigInt, Map, Set), share
 * nothing mutable with the template or with another copy, and be counted in `local.maxBytes` for what it holds.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheSerializer,
  createQueryCache,
  defaultSerializer,
  jsonSerializer,
  memoryStore,
  msgpackSerializer,
  type QueryCache,
} from '../../src/cache/index.js';
import { MAX_DEPTH, planLocalCopy } from '../../src/cache/local-copy.js';
import { row } from './helpers.js';

/** Everything observable about a value, as plain data (so toEqual compares kinds, order and -0 exactly). */
function describeValue(v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      return ['number', Object.is(v, -0) ? '-0' : String(v)];
    case 'bigint':
      return ['bigint', String(v)];
    case 'object': {
      if (v === null) return ['null'];
      const own = Reflect.ownKeys(v).map(String);
      const flags = [Object.isExtensible(v), Object.isFrozen(v)];
      if (Array.isArray(v))
        return ['array', Object.getPrototypeOf(v) === Array.prototype, own, flags, v.map(describeValue)];
      if (v instanceof Date) return ['date', String(v.getTime()), own, flags];
      if (v instanceof Map)
        return ['map', own, flags, [...v].map(([k, x]) => [describeValue(k), describeValue(x)])];
      if (v instanceof Set) return ['set', own, flags, [...v].map(describeValue)];
      if (ArrayBuffer.isView(v)) return ['view', v.constructor.name, [...new Uint8Array(v.buffer)]];
      const proto = Object.getPrototypeOf(v);
      return [
        'object',
        proto === Object.prototype ? 'Object.prototype' : proto === null ? 'null' : 'other',
        own,
        flags,
        Object.keys(v).map((k) => [k, describeValue((v as Record<string, unknown>)[k])]),
      ];
    }
    default:
      return [typeof v, v];
  }
}

/** Every object reachable from v (Map keys and values, Set members included). */
function objects(v: unknown, into = new Set<object>()): Set<object> {
  if (typeof v !== 'object' || v === null || into.has(v)) return into;
  into.add(v);
  if (v instanceof Map)
    for (const [k, x] of v) {
      objects(k, into);
      objects(x, into);
    }
  else if (v instanceof Set) for (const x of v) objects(x, into);
  else for (const k of Object.keys(v)) objects((v as Record<string, unknown>)[k], into);
  return into;
}

/** Asserts that copies of `decoded` are exact and independent; returns the plan (undefined: kept as bytes). */
function checkCopies(s: CacheSerializer, value: unknown) {
  const bytes = s.serialize(value);
  const plan = planLocalCopy(s.deserialize(bytes));
  if (plan === undefined) return undefined;
  const expected = describeValue(s.deserialize(bytes));
  const a = plan.copy(plan.template);
  const b = plan.copy(plan.template);
  expect(describeValue(a)).toEqual(expected);
  expect(describeValue(plan.template)).toEqual(expected);
  // Nothing mutable is shared between two copies or with the template.
  const inA = objects(a);
  for (const o of objects(b)) expect(inA.has(o)).toBe(false);
  for (const o of objects(plan.template)) expect(inA.has(o)).toBe(false);
  return plan;
}

const leaf = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, Number.NaN, 2 ** 40, -(2 ** 31), 2 ** 31),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: false }),
);
const key = fc.oneof(fc.string(), fc.constantFrom('0', '1', '10', 'a', 'constructor', 'toString'));
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('array'),
    tie('object'),
    tie('map'),
    tie('set'),
    tie('rows'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(
    key.filter((k) => k !== '__proto__'),
    tie('value'),
    { maxKeys: 6 },
  ),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((e) => new Map(e)),
  set: fc.array(tie('value'), { maxLength: 3 }).map((e) => new Set(e)),
  // Same-shape rows with nullable columns, nested objects and arrays: what compiled copiers are for.
  rows: fc.array(
    fc.record({
      id: fc.integer(),
      at: fc.option(fc.date({ noInvalidDate: false }), { nil: null }),
      addr: fc.option(fc.record({ zip: fc.string(), geo: fc.option(fc.tuple(fc.double(), fc.double())) })),
      tags: fc.array(fc.string(), { maxLength: 3 }),
      lines: fc.array(fc.record({ sku: fc.string(), qty: fc.integer() }), { maxLength: 3 }),
      extra: fc.option(tie('value'), { nil: undefined }),
    }),
    { maxLength: 8 },
  ),
}));

describe.each([
  ['defaultSerializer', defaultSerializer],
  ['msgpackSerializer', msgpackSerializer],
  ['jsonSerializer', jsonSerializer],
] as const)('local copies, %s', (name, make) => {
  const s = make();
  // The JSON serializer refuses BigInt: its inputs carry them as strings.
  const input = <T>(v: T): T =>
    name === 'jsonSerializer'
      ? JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x)))
      : v;

  it('a copy is exactly what decoding the entry again gives, and shares nothing mutable (property)', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        if (name === 'jsonSerializer') {
          let text: string | undefined;
          try {
            text = JSON.stringify(v);
          } catch {
            return; // BigInt: the JSON serializer refuses it
          }
          fc.pre(text === undefined || !text.includes('"__proto__"'));
        }
        expect(checkCopies(s, v)).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });

  it('rows with nullable nested columns, mixed shapes, wide objects and empty arrays', () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      ...row(i),
      deletedAt: i % 3 ? null : new Date(i * 1000),
      addr: i % 2 ? null : { zip: String(i), lines: i % 4 ? [] : [{ n: i }] },
      maybe: i % 5 ? undefined : { deep: [[i], []] },
    }));
    expect(checkCopies(s, input(rows))).toBeDefined();
    const mixed = [
      1,
      'a',
      { x: 1 },
      { y: 2 },
      [1],
      [{ z: 1 }],
      null,
      new Date(0),
      new Map([[{ k: 1 }, [1]]]),
    ];
    expect(checkCopies(s, mixed)).toBeDefined();
    const wide = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, { i }]));
    expect(checkCopies(s, { wide, list: [wide, wide] })).toBeDefined();
    expect(checkCopies(s, { a: [], b: [[], [1]], c: [{}, {}], '2': 1, '1': { '0': [] } })).toBeDefined();
    for (const scalar of ['text', 42, 1.5, true, null, -0, 2n ** 70n, new Date(7)]) {
      if (name === 'jsonSerializer' && typeof scalar === 'bigint') continue;
      expect(checkCopies(s, scalar)).toBeDefined();
    }
  });

  it('a caller mutating its copy changes nothing for the next copy', () => {
    const value = {
      rows: [row(1), row(2)],
      at: new Date(5),
      m: new Map<unknown, unknown>([[{ key: 1 }, { v: [1] }]]),
      s: new Set([{ x: 1 }]),
    };
    const plan = planLocalCopy(s.deserialize(s.serialize(input(value))))!;
    const expected = describeValue(plan.copy(plan.template));
    const first = plan.copy(plan.template) as Record<string, unknown> & typeof value;
    first.rows.pop();
    first.rows[0]!.name = 'mutated';
    (first.rows[0]!.tags as unknown as unknown[]).push('x');
    if (first.at instanceof Date) first.at.setTime(0);
    if (first.m instanceof Map) {
      for (const [k, v] of first.m) {
        (k as { key: number }).key = 2;
        (v as { v: number[] }).v.push(2);
      }
      first.m.clear();
    }
    if (first.s instanceof Set) first.s.clear();
    first.added = true;
    expect(describeValue(plan.copy(plan.template))).toEqual(expected);
  });
});

describe('values kept as bytes (decoded per hit, as before)', () => {
  const s = msgpackSerializer();
  it('Buffers and typed arrays, a __proto__ key, nesting deeper than MAX_DEPTH', () => {
    expect(planLocalCopy(s.deserialize(s.serialize({ b: Buffer.from([1, 2]) })))).toBeUndefined();
    expect(planLocalCopy(s.deserialize(s.serialize([new Uint8Array([1])])))).toBeUndefined();
    expect(planLocalCopy(JSON.parse('{"a":{"__proto__":{"x":1}}}'))).toBeUndefined();
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
    expect(planLocalCopy(s.deserialize(s.serialize(deep)))).toBeUndefined();
    let ok: unknown = 1;
    for (let i = 0; i < MAX_DEPTH - 1; i++) ok = { ok };
    expect(checkCopies(s, ok)).toBeDefined();
  });

  it('a value whose copier would be too large to compile (long keys)', () => {
    const long = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${i}`.padEnd(2000, 'k'), i]));
    expect(planLocalCopy(s.deserialize(s.serialize(long)))).toBeUndefined();
    expect(checkCopies(s, { list: [long] })).toBeUndefined();
  });

  it('class instances, null-prototype objects, accessor-free kinds only', () => {
    class Point {
      x = 1;
    }
    expect(planLocalCopy({ p: new Point() })).toBeUndefined();
    expect(planLocalCopy([Object.create(null)])).toBeUndefined();
    expect(planLocalCopy(new (class extends Map {})())).toBeUndefined();
    const holey = [1, 2, 3];
    delete holey[1];
    expect(planLocalCopy(holey)).toBeUndefined(); // a hole
  });

  it('without code generation (--disallow-code-generation-from-strings): every value is kept as bytes', async () => {
    const module = fileURLToPath(new URL('../../src/cache/local-copy.ts', import.meta.url));
    const script = `import { planLocalCopy } from ${JSON.stringify(module)};
      const rows = [{ a: 1, b: { c: 'x' } }, { a: 2, b: { c: 'y' } }];
      const plan = planLocalCopy(rows);
      console.log(JSON.stringify({ rows: plan === undefined, scalar: planLocalCopy('s')?.copy('s') }));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    expect(JSON.parse(stdout.trim())).toEqual({ rows: true, scalar: 's' });
  });
});

describe('the local tier over memoryStore', () => {
  const large = Array.from({ length: 220 }, (_, i) => ({
    ...row(i),
    at: new Date(Date.UTC(2024, 0, 1) + i),
    big: BigInt(i) * 10n ** 20n,
    gone: undefined,
    maybe: i % 2 ? null : { m: new Map([[i, new Set([i])]]) },
  }));
  const cache = (local: object, serializer?: CacheSerializer): QueryCache =>
    createQueryCache({
      store: memoryStore(),
      namespace: 'lcopy',
      ttl: 60,
      local,
      ...(serializer ? { serializer } : {}),
    });
  const warm = async (c: QueryCache, key: string) => {
    for (let i = 0; i < 100; i++) {
      const before = c.stats().localHits;
      await c.get(key);
      if (c.stats().localHits > before) return;
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error(`${key} never reached the local tier`);
  };

  it('serves exact, independent copies of a large value with Dates, BigInt, Map, Set and undefined', async () => {
    const c = cache({});
    await c.set('big', large);
    await warm(c, 'big');
    const expected = describeValue(defaultSerializer().deserialize(defaultSerializer().serialize(large)));
    const first = (await c.get<typeof large>('big'))!;
    expect(describeValue(first)).toEqual(expected);
    first[0]!.at.setTime(0);
    first[1]!.name = 'changed';
    first.length = 3;
    const hits = c.stats().localHits;
    expect(describeValue(await c.get('big'))).toEqual(expected);
    expect(c.stats().localHits).toBe(hits + 1);
  });

  it('counts the template it keeps in local.bytes, and refuses one over maxBytes', async () => {
    const s = defaultSerializer();
    const rawBytes = s.serialize(large).length;
    const plan = planLocalCopy(s.deserialize(s.serialize(large)))!;
    expect(plan.bytes).toBeGreaterThan(rawBytes); // objects take more room in the heap than in MessagePack
    const c = cache({});
    await c.set('big', large);
    await warm(c, 'big');
    const key = c.storeKey('big');
    expect(c.stats().local!.bytes).toBe(plan.bytes + key.length);
    // Room for the bytes, not for the template: nothing is kept.
    const tight = cache({ maxBytes: rawBytes + 1000 });
    await tight.set('big', large);
    await tight.get('big');
    await new Promise((r) => setTimeout(r, 10));
    await tight.get('big');
    expect(tight.stats()).toMatchObject({ localHits: 0, local: { entries: 0, bytes: 0 } });
  });

  it('counts property names that are data (an object keyed by id), and repeated column names once', () => {
    const s = defaultSerializer();
    const byId = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`customer-${String(i).padStart(40, '0')}`, i]),
    );
    const keyChars = Object.keys(byId).reduce((n, k) => n + k.length, 0);
    const plan = planLocalCopy(s.deserialize(s.serialize(byId)))!;
    expect(plan.bytes).toBeGreaterThan(keyChars);
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ a_long_column_name: i, b: 'x' }));
    const one = planLocalCopy(s.deserialize(s.serialize(rows(1))))!;
    const many = planLocalCopy(s.deserialize(s.serialize(rows(101))))!;
    // 100 more rows cost their object slots and values, not 100 more copies of the names.
    const perRow = (many.bytes - one.bytes) / 100;
    const names = planLocalCopy(s.deserialize(s.serialize({ a_long_column_name: 0, b: 'x' })))!;
    expect(perRow).toBeLessThan(names.bytes);
  });

  it('a custom serializer keeps the bytes and decodes them on every local hit', async () => {
    const base = defaultSerializer();
    let decodes = 0;
    const counting: CacheSerializer = {
      name: 'counting',
      serialize: (v) => base.serialize(v),
      deserialize: (b) => {
        decodes++;
        return base.deserialize(b);
      },
    };
    const c = cache({}, counting);
    await c.set('v', { a: 1 });
    await warm(c, 'v');
    const before = decodes;
    expect(await c.get('v')).toEqual({ a: 1 });
    expect(await c.get('v')).toEqual({ a: 1 });
    expect(decodes - before).toBe(2);
    const raw = counting.serialize({ a: 1 }).length;
    expect(c.stats().local!.bytes).toBe(raw + c.storeKey('v').length);
  });
});
