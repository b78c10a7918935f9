/** The one-walk JSON writer of binary COPY: JSON.stringify's exact text, or it gives up (never anything else). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeJsonFast } from '../../src/bulk/json-writer.js';

const SEED = Number(process.env.DBKIT_FC_SEED ?? Date.now() % 2 ** 31);

function fast(v: unknown, room = 1 << 16): string | undefined {
  const b = Buffer.alloc(room);
  const end = writeJsonFast(v, b, 0, b.length);
  return end < 0 ? undefined : b.toString('utf8', 0, end);
}

describe('writeJsonFast', () => {
  it('writes what JSON.stringify writes, or gives up', () => {
    let written = 0;
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (v, s) => {
        for (const x of [v, s, { [s]: v, k: [s, 1.5, -0, 1e21, -12345678901234] }]) {
          const out = fast(x);
          if (out === undefined) continue;
          written++;
          expect(out).toBe(JSON.stringify(x));
        }
      }),
      { seed: SEED, numRuns: 2_000 },
    );
    expect(written).toBeGreaterThan(1_000);
  });

  it('gives up on what only the general path may decide or escape', () => {
    class Point {
      x = 1;
    }
    const holes: unknown[] = [1];
    holes[2] = 3;
    const cases = [
      { a: undefined },
      [undefined],
      holes,
      Number.NaN,
      [Number.POSITIVE_INFINITY],
      { d: new Date(0) },
      new Point(),
      { toJSON: () => 1 },
      { f: () => 1 },
      [1n],
      'tab\t',
      'quote"',
      'back\\slash',
      'nul\u0000',
      'lone \ud800 surrogate',
      'é then "',
      JSON.parse(`${'['.repeat(300)}${']'.repeat(300)}`),
    ];
    for (const [i, v] of cases.entries()) expect(fast(v), `case ${i}`).toBeUndefined();
  });

  it('gives up when the room ends, at any length', () => {
    const v = { name: 'n1', nested: { ok: true, list: [1, 2, 3] }, text: 'é ü 😀' };
    const full = JSON.stringify(v);
    const bytes = Buffer.byteLength(full);
    for (let room = 0; room < bytes; room++) expect(fast(v, room), `room ${room}`).toBeUndefined();
    expect(fast(v, bytes + 64)).toBe(full);
  });
});
