/**
 * The Internet checksum: known answers from RFC 1071 / RFC 1624 / RFC 791
 * headers, the 32-bit fast path of sum16 against a textbook 16-bit loop over
 * random lengths and unaligned starts, and the incremental updates against
 * recomputation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksumAdjust16,
  checksumAdjust32,
  finishChecksum,
  fold32,
  internetChecksum,
  pseudoHeaderSum,
  sum16,
} from '../../src/wire/checksum.js';

/** Textbook RFC 1071: 16-bit big-endian words, odd byte padded with zero, folded. */
function naiveFolded(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) {
    const hi = buf[off + i]!;
    const lo = i + 1 < len ? buf[off + i + 1]! : 0;
    sum += (hi << 8) | lo;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('known answers', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const b = hexBytes('0001 f203 f4f5 f6f7');
    expect(fold32(sum16(b, 0, b.length))).toBe(0xddf2);
    expect(internetChecksum(b)).toBe(0x220d);
  });

  it('IPv4 header 4500 0073 0000 4000 4011 .... c0a8 0001 c0a8 00c7 → 0xb861', () => {
    const h = hexBytes('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    expect(internetChecksum(h)).toBe(0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    // A header carrying its checksum verifies to zero.
    expect(internetChecksum(h)).toBe(0);
    expect(fold32(sum16(h, 0, h.length))).toBe(0xffff);
  });

  it('RFC 1624 §4: 0xdd2f with 0x5555 → 0x3285 gives 0x0000 (eqn. 3, not eqn. 2’s 0xffff)', () => {
    expect(checksumAdjust16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('an odd final byte is padded on the right', () => {
    expect(fold32(sum16(Uint8Array.of(0xab), 0, 1))).toBe(0xab00);
    expect(fold32(sum16(Uint8Array.of(0x12, 0x34, 0x56), 0, 3))).toBe(0x1234 + 0x5600);
  });

  it('empty input sums to the accumulator', () => {
    expect(sum16(new Uint8Array(0), 0, 0, 1234)).toBe(1234);
    expect(internetChecksum(new Uint8Array(0))).toBe(0xffff);
  });
});

describe('fold32 / finishChecksum', () => {
  it('folds with end-around carry', () => {
    expect(fold32(0)).toBe(0);
    expect(fold32(0xffff)).toBe(0xffff);
    expect(fold32(0x10000)).toBe(1);
    expect(fold32(0x1fffe)).toBe(0xffff);
    expect(fold32(0xffffffff)).toBe(0xffff);
    expect(fold32(0x100000000)).toBe(1);
    expect(finishChecksum(0xffff)).toBe(0);
    expect(finishChecksum(0)).toBe(0xffff);
  });

  it('is congruent mod 0xffff and lands in [1, 0xffff] for any positive sum < 2^53', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (n) => {
        const f = fold32(n);
        expect(f).toBeGreaterThanOrEqual(1);
        expect(f).toBeLessThanOrEqual(0xffff);
        expect(f % 0xffff).toBe(n % 0xffff);
      }),
    );
  });
});

describe('sum16 fast path against the textbook loop', () => {
  it('agrees on random buffers, lengths and (unaligned) offsets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (len, start, off, seed, acc) => {
          // A larger buffer so that `start` gives a view with an unaligned byteOffset.
          const backing = randomBytes(len + 16, seed);
          const view = backing.subarray(start, start + len + 8);
          const expected = fold32(naiveFolded(view, off, len) + acc);
          expect(fold32(sum16(view, off, len, acc))).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('takes the aligned path (>= 64 bytes at a 4-byte boundary) and still agrees', () => {
    for (const len of [64, 65, 66, 67, 68, 127, 1499, 1500, 1501]) {
      const backing = randomBytes(len + 8, len);
      for (const start of [0, 4, 1, 2, 3]) {
        const view = backing.subarray(start, start + len);
        expect(fold32(sum16(view, 0, len)), `len ${len} start ${start}`).toBe(naiveFolded(view, 0, len));
      }
    }
  });

  it('agrees on a Node Buffer (pooled, arbitrary byteOffset)', () => {
    const b = Buffer.from(randomBytes(1500, 99));
    expect(fold32(sum16(b, 0, 1500))).toBe(naiveFolded(b, 0, 1500));
  });

  it('1500 and 65535 bytes, random and all-ones (maximum carries)', () => {
    for (const n of [1500, 65535]) {
      const r = randomBytes(n, n);
      expect(internetChecksum(r)).toBe(~naiveFolded(r, 0, n) & 0xffff);
      const ones = new Uint8Array(n).fill(0xff);
      // Even length: all-ones words sum to 0xffff; odd: the padded 0xff00 tail adds 0xff00.
      expect(fold32(sum16(ones, 0, n))).toBe(n % 2 === 0 ? 0xffff : 0xff00);
      expect(fold32(sum16(ones, 0, n))).toBe(naiveFolded(ones, 0, n));
      const high = new Uint8Array(n).fill(0x80);
      expect(fold32(sum16(high, 0, n))).toBe(naiveFolded(high, 0, n));
    }
  });

  it('survives the lazy fold after 2^20 aligned words (5 MiB of 0xff, then 0x01)', () => {
    const n = 5 * 1024 * 1024 + 3;
    const ones = new Uint8Array(n).fill(0xff);
    expect(fold32(sum16(ones, 0, n))).toBe(naiveFolded(ones, 0, n));
    const small = new Uint8Array(n).fill(0x01);
    expect(fold32(sum16(small, 0, n))).toBe(naiveFolded(small, 0, n));
  });

  it('ignores bytes outside [off, off+len)', () => {
    const b = randomBytes(300, 7);
    const copy = b.slice(10, 10 + 200);
    expect(fold32(sum16(b, 10, 200))).toBe(fold32(sum16(copy, 0, 200)));
  });
});

describe('pseudoHeaderSum', () => {
  it('equals the sum of the 12-byte pseudo-header it stands for', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        (src, dst, proto, len) => {
          const ph = new Uint8Array(12);
          const dv = new DataView(ph.buffer);
          dv.setUint32(0, src);
          dv.setUint32(4, dst);
          ph[9] = proto;
          dv.setUint16(10, len);
          expect(fold32(pseudoHeaderSum(src, dst, proto, len))).toBe(naiveFolded(ph, 0, 12));
        },
      ),
    );
  });
});

/** A random 20-byte IPv4 header (version 4, so never all zero) with a correct checksum. */
const header = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((h) => {
  h[0] = 0x45;
  h[10] = 0;
  h[11] = 0;
  const cs = internetChecksum(h);
  h[10] = cs >>> 8;
  h[11] = cs & 0xff;
  return h;
});

describe('RFC 1624 incremental update', () => {
  it('checksumAdjust16 agrees with recomputation for any changed word', () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 0xffff }), (h, wi, neu) => {
        fc.pre(wi !== 5); // word 5 is the checksum itself
        const dv = new DataView(h.buffer, h.byteOffset);
        const oldWord = dv.getUint16(wi * 2);
        const oldCs = dv.getUint16(10);
        dv.setUint16(wi * 2, neu);
        if (wi === 0) fc.pre(neu !== 0 || h.some((b, i) => i !== 10 && i !== 11 && b !== 0));
        dv.setUint16(10, 0);
        const recomputed = internetChecksum(h);
        expect(checksumAdjust16(oldCs, oldWord, neu)).toBe(recomputed);
      }),
      { numRuns: 1000 },
    );
  });

  it('checksumAdjust32 agrees with recomputation when src or dst changes', () => {
    fc.assert(
      fc.property(header, fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), (h, which, neu) => {
        const dv = new DataView(h.buffer, h.byteOffset);
        const at = which ? 12 : 16;
        const oldAddr = dv.getUint32(at);
        const oldCs = dv.getUint16(10);
        dv.setUint32(at, neu);
        dv.setUint16(10, 0);
        expect(checksumAdjust32(oldCs, oldAddr, neu)).toBe(internetChecksum(h));
      }),
      { numRuns: 1000 },
    );
  });

  it('adjusting and adjusting back restores the checksum', () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 0xffffffff }), (h, neu) => {
        const dv = new DataView(h.buffer, h.byteOffset);
        const cs = dv.getUint16(10);
        const old = dv.getUint32(12);
        expect(checksumAdjust32(checksumAdjust32(cs, old, neu), neu, old)).toBe(cs);
      }),
    );
  });
});
