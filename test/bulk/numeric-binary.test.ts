/**
 * The one-scan numeric writer of binary COPY: for a plain decimal it writes exactly the bytes of the general
 * path (numericParts + writeNumericText, which the binary round-trip tests check against the server), and it
 * declines every other string, so validation and the special values stay with the general path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkWriter, writeNumericFast, writeNumericText } from '../../src/bulk/binary-copy.js';
import { InvalidValue, NUMERIC_RE } from '../../src/bulk/columns.js';

const SEED = Number(process.env.DBKIT_FC_SEED ?? Date.now() % 2 ** 31);
const PLAIN = /^[+-]?(\d+\.?\d*|\.\d+)$/;

function bytes(write: (w: ChunkWriter) => unknown): { out: unknown; bytes: string } {
  const w = new ChunkWriter(1 << 16);
  const out = write(w);
  w.finish();
  return { out, bytes: Buffer.concat(w.done).toString('hex') };
}

/** The general path's bytes, or its refusal. */
function general(s: string): string {
  if (!NUMERIC_RE.test(s)) return 'refused';
  try {
    return bytes((w) => writeNumericText(w, s.trim())).bytes;
  } catch (e) {
    if (e instanceof InvalidValue) return `refused: ${e.reason}`;
    throw e;
  }
}

function fast(s: string): string | undefined {
  const r = bytes((w) => writeNumericFast(w, s));
  if (r.out === false) {
    expect(r.bytes, `declined ${JSON.stringify(s)} but wrote`).toBe('');
    return undefined;
  }
  return r.bytes;
}

const digits = (max: number) => fc.stringMatching(new RegExp(`^[0-9]{0,${max}}$`));
/** Plain decimals, weighted towards zeros (leading, trailing, inner groups of four) and group boundaries. */
const plainArb = fc
  .tuple(
    fc.constantFrom('', '-', '+'),
    fc.oneof(digits(12), fc.stringMatching(/^0{0,9}[0-9]{0,9}0{0,9}$/), digits(40)),
    fc.option(fc.oneof(digits(12), fc.stringMatching(/^0{0,9}[0-9]{0,9}0{0,9}$/), digits(40)), {
      nil: undefined,
    }),
  )
  .map(([s, i, f]) => `${s}${i}${f === undefined ? '' : `.${f}`}`);
/** Anything near a numeric: exponents, spaces, specials, junk. */
const otherArb = fc.oneof(
  fc.tuple(plainArb, fc.integer({ min: -20_000, max: 20_000 })).map(([p, e]) => `${p}e${e}`),
  plainArb.map((p) => ` ${p}`),
  plainArb.map((p) => `${p}\n`),
  fc.stringMatching(/^[-+0-9.eE \tNaInfity]{0,12}$/),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '+Infinity',
    '',
    '-',
    '+',
    '.',
    '-.',
    '+.',
    '1.2.3',
    '--1',
    '٣',
  ),
);

describe('writeNumericFast', () => {
  it('writes the general path’s bytes for every plain decimal', () => {
    fc.assert(
      fc.property(plainArb, (s) => {
        const want = general(s);
        if (!PLAIN.test(s)) {
          expect(fast(s)).toBeUndefined();
          return;
        }
        expect(want.startsWith('refused')).toBe(false);
        expect(fast(s), s).toBe(want);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  it('declines everything else, leaving it to the general path', () => {
    fc.assert(
      fc.property(otherArb, (s) => {
        const got = fast(s);
        if (PLAIN.test(s) && s.length <= 1000) expect(got).toBe(general(s));
        else expect(got).toBeUndefined();
      }),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  it('matches on the edges: zeros, signs, group boundaries, long values', () => {
    const cases = [
      '0',
      '-0',
      '+0',
      '0.000',
      '-0.00',
      '.0',
      '0.',
      '5.',
      '.5',
      '-.5',
      '+.5',
      '1',
      '9999',
      '10000',
      '-10000.0000',
      '100000000',
      '0.0001',
      '0.00001',
      '0.001',
      '1234.5678',
      '12345.6789',
      '00001234.56780000',
      '1000000000000000000000000.0000000000000000000001',
      '-99999999999999999999',
      `${'9'.repeat(500)}.${'9'.repeat(499)}`,
      `0.${'0'.repeat(997)}1`,
    ];
    for (const s of cases) {
      expect(s.length).toBeLessThanOrEqual(1000);
      expect(fast(s), s).toBe(general(s));
    }
    // Longer than the one-scan limit: the general path decides (also the overflow refusal).
    expect(fast(`${'9'.repeat(600)}.${'9'.repeat(600)}`)).toBeUndefined();
    expect(fast('1'.repeat(131_073))).toBeUndefined();
    expect(general('1'.repeat(131_073))).toBe('refused: value overflows numeric format');
  });
});
