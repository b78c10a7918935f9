import { afterAll, describe, expect, inject, it } from 'vitest';
import { ClientClosedError, createClientManager } from '../../src/clients/index.js';

const collection = `dbkit-${inject('runId')}-${Math.random().toString(36).slice(2, 8)}`;
const make = () =>
  createClientManager({
    env: {},
    projectId: 'dbkit-test',
    firestoreEmulatorHost: inject('firestoreEmulatorHost'),
  });
const cleanup = make();
afterAll(async () => {
  const docs = await cleanup.firestore().collection(collection).listDocuments();
  await Promise.all(docs.map((d) => d.delete()));
  await cleanup.closeAll();
});

describe('firestore() on the emulator', () => {
  it('reuses one instance for every call and round-trips a document', async () => {
    const m = make();
    const calls = await Promise.all(Array.from({ length: 200 }, async () => m.firestore()));
    expect(new Set(calls).size).toBe(1);
    expect(m.stats().created.firestore).toBe(1);
    const fs = m.firestore();
    await fs.collection(collection).doc('a').set({ name: 'Ada', n: 1 });
    const snap = await m.firestore().collection(collection).doc('a').get();
    expect(snap.data()).toEqual({ name: 'Ada', n: 1 });
    const h = await m.health({ timeoutMs: 5000 });
    expect(h.checks.firestore?.status).not.toBe('fail');
    await m.closeAll();
  });

  it('terminates the client on closeAll and refuses use after close', async () => {
    const m = make();
    const fs = m.firestore();
    await fs.collection(collection).doc('b').set({ v: 2 });
    const r = await m.closeAll({ timeoutMs: 5000 });
    expect(r.closed).toEqual(['firestore']);
    expect(() => m.firestore()).toThrow(ClientClosedError);
    // The instance handed out before close is terminated too, not merely forgotten.
    // (A write or listCollections rejects; a document get() on a terminated client hangs in the SDK.)
    await expect(fs.collection(collection).doc('b').set({ v: 3 })).rejects.toThrow(/terminated/);
    await expect(fs.listCollections()).rejects.toThrow(/terminated/);
  });
});
