/**
 * The shared CacheStore conformance suite: every store (memory, standalone Redis, Redis Cluster) runs
 * these same tests. Call inside a describe() with a factory; each test gets a fresh key prefix.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CacheStore } from '../../src/cache/index.js';
import { keyPrefix, sleep } from '../setup/index.js';

export function registerCacheStoreSuite(
  create: () => Promise<CacheStore> | CacheStore,
  dispose?: () => Promise<void>,
) {
  let store: CacheStore;
  let p: string;
  beforeAll(async () => {
    store = await create();
    p = keyPrefix('conf').replace(/:$/, '');
  });
  afterAll(async () => {
    await store.close();
    await dispose?.();
  });
  const k = (s: string) => `${p}:${s}`;

  it('round-trips every byte value', async () => {
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    await store.set(k('bin'), bytes, 60_000);
    const back = await store.get(k('bin'));
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back?.equals(bytes)).toBe(true);
  });

  it('returns null for a missing key', async () => {
    expect(await store.get(k('nope'))).toBeNull();
  });

  it('expires entries after their ttl', async () => {
    await store.set(k('short'), Buffer.from('x'), 50);
    expect(await store.get(k('short'))).not.toBeNull();
    await sleep(120);
    expect(await store.get(k('short'))).toBeNull();
  });

  it('getMany returns values in key order with nulls for misses, across slots', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => k(`m${i}`));
    await store.setMany(
      keys.filter((_, i) => i % 3 !== 0).map((key) => ({ key, value: Buffer.from(key), ttlMs: 60_000 })),
    );
    const got = await store.getMany(keys);
    expect(got).toHaveLength(50);
    got.forEach((v, i) => {
      if (i % 3 === 0) expect(v).toBeNull();
      else expect(v?.toString()).toBe(keys[i]);
    });
    expect(await store.getMany([])).toEqual([]);
  });

  it('delete removes keys across slots and counts those that existed', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => k(`d${i}`));
    await store.setMany(keys.map((key) => ({ key, value: Buffer.from('v'), ttlMs: 60_000 })));
    expect(await store.delete([...keys, k('absent')])).toBe(20);
    expect((await store.getMany(keys)).every((v) => v === null)).toBe(true);
  });

  it('incr counts up from zero', async () => {
    expect(await store.incr(k('ctr'))).toBe(1);
    expect(await store.incr(k('ctr'))).toBe(2);
    expect((await store.get(k('ctr')))?.toString()).toBe('2');
  });

  it('deleteMatching removes only keys matching the glob, on every node', async () => {
    const a = Array.from({ length: 40 }, (_, i) => k(`pat:a:${i}`));
    const b = Array.from({ length: 10 }, (_, i) => k(`pat:b:${i}`));
    await store.setMany([...a, ...b].map((key) => ({ key, value: Buffer.from('v'), ttlMs: 60_000 })));
    expect(await store.deleteMatching(`${p}:pat:a:*`)).toBe(40);
    expect((await store.getMany(a)).filter(Boolean)).toHaveLength(0);
    expect((await store.getMany(b)).filter(Boolean)).toHaveLength(10);
    expect(await store.deleteMatching(`${p}:pat:b:[0-4]`)).toBe(5);
  });

  it('scan yields every matching key once', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => k(`scan:${i}`));
    await store.setMany(keys.map((key) => ({ key, value: Buffer.from('v'), ttlMs: 60_000 })));
    const seen: string[] = [];
    for await (const batch of store.scan(`${p}:scan:*`, 7)) seen.push(...batch);
    expect(new Set(seen)).toEqual(new Set(keys));
  });

  it('pttl: remaining ms, -1 without expiry, -2 when missing', async () => {
    if (!store.pttl) return;
    await store.set(k('ttl'), Buffer.from('x'), 60_000);
    const left = await store.pttl(k('ttl'));
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);
    await store.incr(k('noexp'));
    expect(await store.pttl(k('noexp'))).toBe(-1);
    expect(await store.pttl(k('missing'))).toBe(-2);
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
}
