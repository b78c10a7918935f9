import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CacheStore,
  createQueryCache,
  encodeNamespace,
  escapeGlob,
  isDbkitError,
  type QueryCache,
  redisKeySlot,
} from '../../src/cache/index.js';
import { keyPrefix } from '../setup/index.js';
import { makeStore, type StoreKind, storeKinds } from './helpers.js';

// Namespaces that would collide (or escape) under a plain `${namespace}:` prefix: separators, Cluster hash-tag
// braces, glob characters, percent signs that look like our own encoding, unicode.
const hostile = [
  'a',
  'a:k',
  'a:k:x',
  'a:',
  ':a',
  '{a}',
  'a{',
  '}a',
  '{',
  '*',
  'a*',
  'a?',
  'a[b]',
  'a\\',
  '%3A',
  '%',
  'ü',
  'u\u0308', // u + combining diaeresis: renders like ü, different text
  '日本',
  '🙂',
  'a b',
];

describe.each(storeKinds)('namespaces and keys never alias, on %s', (kind: StoreKind) => {
  let store: CacheStore;
  let dispose: () => Promise<void>;
  // A random start keeps this file's namespaces apart from other runs on the shared server; the hostile text
  // comes after it, where prefix tricks (`a` vs `a:k`) would bite.
  const run = keyPrefix('iso').replace(/:$/, '').replace(/:/g, '-');
  const caches: QueryCache[] = [];
  const make = (ns: string) => {
    const c = createQueryCache({ store, namespace: `${run}${ns}`, ttl: 60 });
    caches.push(c);
    return c;
  };
  beforeAll(() => {
    ({ store, dispose } = makeStore(kind));
  });
  afterAll(async () => {
    for (const c of caches) await c.clear();
    await dispose();
  });

  it('namespace "a" key "k:x" and namespace "a:k" key "x" are different entries', async () => {
    const a = make('a');
    const ak = make('a:k');
    await a.set('k:x', 'from a');
    await ak.set('x', 'from a:k');
    expect(await a.get('k:x')).toBe('from a');
    expect(await ak.get('x')).toBe('from a:k');
    expect(a.storeKey('k:x')).not.toBe(ak.storeKey('x'));
    expect(await ak.clear()).toBe(1);
    expect(await a.get('k:x')).toBe('from a');
    expect(await a.clear()).toBe(1);
  });

  it('each of the hostile namespaces keeps its own entries; clear() and invalidatePattern touch only it', async () => {
    const cs = hostile.map((ns) => make(ns));
    const keys = ['k', 'k:x', '*', '{a}', 'ü'];
    for (const [i, c] of cs.entries()) {
      await c.setMany(keys.map((key) => ({ key, value: `${i}:${key}`, tags: ['t'] })));
    }
    for (const [i, c] of cs.entries()) {
      expect(await c.getMany(keys)).toEqual(keys.map((key) => `${i}:${key}`));
    }
    // A glob inside one namespace sees only its own entries.
    const target = cs[hostile.indexOf('a')]!;
    expect(await target.invalidatePattern('*')).toBe(keys.length);
    // Tag counters are per namespace: invalidating 't' in one leaves the others' entries fresh.
    await cs[hostile.indexOf('a:k')]!.invalidateTags(['t']);
    expect(await cs[hostile.indexOf('a:k')]!.get('k')).toBeUndefined();
    for (const [i, c] of cs.entries()) {
      if (c === target || hostile[i] === 'a:k') continue;
      expect(await c.getMany(keys)).toEqual(keys.map((key) => `${i}:${key}`));
    }
    // clear() removes entries and the tag counter of one namespace only.
    const star = cs[hostile.indexOf('*')]!;
    await star.invalidateTags(['t']); // creates its tag counter
    expect(await star.clear()).toBe(keys.length + 1);
    for (const [i, c] of cs.entries()) {
      if (c === target || c === star || hostile[i] === 'a:k') continue;
      expect(await c.getMany(keys)).toEqual(keys.map((key) => `${i}:${key}`));
    }
  });

  it('keys with glob and brace characters are stored and invalidated literally', async () => {
    const c = make('lit');
    const ids = ['a*', 'ab', 'a?', 'ax', 'a[b]', 'ab]', 'a\\b', 'a\\', '[', ']', '{x}', 'ü', '🙂'];
    await c.setMany(ids.map((id) => ({ key: `user:${id}:1`, value: id })));
    for (const id of ids) {
      // Every id removes exactly its own entry, whatever glob characters it contains.
      const before = await c.getMany(ids.map((x) => `user:${x}:1`));
      expect(await c.invalidatePrefix(`user:${id}:`)).toBe(1);
      const after = await c.getMany(ids.map((x) => `user:${x}:1`));
      expect(after).toEqual(before.map((v) => (v === id ? undefined : v)));
    }
    await c.setMany(ids.map((id) => ({ key: `user:${id}:1`, value: id })));
    for (const id of ids) {
      expect(await c.invalidatePattern(`user:${escapeGlob(id)}:*`)).toBe(1);
    }
    // A raw glob is still a glob: `user:a*` matches every id starting with "a" (none are left now).
    await c.setMany(ids.map((id) => ({ key: `user:${id}:1`, value: id })));
    expect(await c.invalidatePattern('user:a*')).toBe(ids.filter((id) => id.startsWith('a')).length);
  });

  it('refuses keys and tags that would alias in UTF-8 (lone surrogates), writing nothing', async () => {
    const c = make('surrogates');
    for (const bad of ['\ud800', '\udc00', 'x\ud83d']) {
      await expect(c.set(bad, 1)).rejects.toSatisfy((e) => isDbkitError(e, 'E_CONFIG'));
      await expect(c.getOrSet(bad, () => 1)).rejects.toSatisfy((e) => isDbkitError(e, 'E_CONFIG'));
      await expect(c.set('ok', 1, { tags: [bad] })).rejects.toSatisfy((e) => isDbkitError(e, 'E_CONFIG'));
    }
    await expect(c.invalidateTags([''])).rejects.toSatisfy((e) => isDbkitError(e, 'E_CONFIG'));
    expect(await c.get('ok')).toBeUndefined();
    expect(await c.set('🙂', 'paired surrogates are fine')).toBeUndefined();
    expect(await c.get('🙂')).toBe('paired surrogates are fine');
  });
});

describe('the key layout', () => {
  it('encodes namespaces injectively, without separators, braces or glob characters', () => {
    const encoded = hostile.map(encodeNamespace);
    expect(new Set(encoded).size).toBe(hostile.length);
    for (const e of encoded) expect(e).toMatch(/^[A-Za-z0-9_.%-]+$/);
    expect(encodeNamespace('users')).toBe('users');
    expect(encodeNamespace('app:users')).toBe('app%3Ausers');
    expect(encodeNamespace('%3A')).toBe('%253A');
  });

  it('keeps every tag counter of a namespace in one Cluster hash slot, whatever the namespace or tag', () => {
    for (const ns of hostile) {
      const c = createQueryCache({ store: makeStore('memory').store, namespace: ns, ttl: 60 });
      const slots = new Set(
        ['a', '{b}', 'c}', '{', 'ü', ''.padEnd(300, 'x')].map((t) => redisKeySlot(c.keyspace.tag(t))),
      );
      expect(slots.size).toBe(1);
      // entry keys hash by the user key (a user's own {tag} in the key is honoured)
      expect(redisKeySlot(c.storeKey('{grp}:1'))).toBe(redisKeySlot(c.storeKey('{grp}:2')));
    }
  });
});
