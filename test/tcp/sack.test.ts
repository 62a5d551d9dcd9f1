/**
 * SackScoreboard (RFC 6675 sender side): merging, D-SACK (RFC 2883), IsLost,
 * snd.una advancing, wraparound at 2^32, and a property test against a naive
 * per-byte model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SackScoreboard } from '../../src/tcp/sack.js';
import { seqAdd } from '../../src/tcp/seq.js';

const b = (left: number, right: number) => ({ left: left >>> 0, right: right >>> 0 });

describe('SackScoreboard', () => {
  it('merges overlapping and adjacent blocks, keeps them sorted', () => {
    const s = new SackScoreboard();
    s.reset(1000);
    let r = s.update(1000, [b(5000, 6000)]);
    expect(r).toMatchObject({ newlySacked: 1000, dsack: false });
    r = s.update(1000, [b(3000, 4000), b(5000, 6000)]);
    expect(r.newlySacked).toBe(1000);
    expect(s.blocks()).toEqual([b(3000, 4000), b(5000, 6000)]);
    r = s.update(1000, [b(4000, 5000)]); // fills the gap: adjacent on both sides
    expect(r.newlySacked).toBe(1000);
    expect(s.blocks()).toEqual([b(3000, 6000)]);
    r = s.update(1000, [b(2500, 7000)]); // covers everything
    expect(r.newlySacked).toBe(1500);
    expect(s.blocks()).toEqual([b(2500, 7000)]);
    expect(s.sackedBytes).toBe(4500);
    expect(s.highSacked).toBe(7000);
    s.update(1000, [b(9000, 9500), b(8000, 8500), b(1200, 1300)]);
    expect(s.blocks()).toEqual([b(1200, 1300), b(2500, 7000), b(8000, 8500), b(9000, 9500)]);
    expect(s.count).toBe(4);
    expect(s.leftAt(1)).toBe(2500);
    expect(s.rightAt(3)).toBe(9500);
    r = s.update(1000, [b(2500, 7000)]); // nothing new
    expect(r.newlySacked).toBe(0);
  });

  it('drops and trims ranges when snd.una advances', () => {
    const s = new SackScoreboard();
    s.reset(0);
    s.update(0, [b(1000, 2000), b(3000, 4000)]);
    expect(s.sackedBytes).toBe(2000);
    const r = s.update(3500, []);
    expect(r.newlySacked).toBe(0);
    expect(s.blocks()).toEqual([b(3500, 4000)]);
    expect(s.sackedBytes).toBe(500);
    s.update(4000, []);
    expect(s.blocks()).toEqual([]);
    expect(s.sackedBytes).toBe(0);
    expect(s.highSacked).toBeUndefined();
  });

  it('detects D-SACK: first block below snd.una, or inside the second block', () => {
    const s = new SackScoreboard();
    s.reset(1000);
    let r = s.update(2000, [b(1000, 1500)]);
    expect(r.dsack).toBe(true);
    expect(s.sackedBytes).toBe(0);
    r = s.update(2000, [b(3000, 3500), b(3000, 4000)]); // duplicate inside the second block
    expect(r.dsack).toBe(true);
    expect(r.newlySacked).toBe(1000); // the second block still counts
    expect(s.blocks()).toEqual([b(3000, 4000)]);
    r = s.update(2000, [b(5000, 6000), b(3000, 4000)]);
    expect(r.dsack).toBe(false);
    // only the first block can be a D-SACK
    r = s.update(2000, [b(7000, 8000), b(1000, 1500)]);
    expect(r.dsack).toBe(false);
    expect(s.blocks()).toEqual([b(3000, 4000), b(5000, 6000), b(7000, 8000)]);
  });

  it('isSacked covers whole ranges only', () => {
    const s = new SackScoreboard();
    s.reset(0);
    s.update(0, [b(1000, 2000), b(3000, 4000)]);
    expect(s.isSacked(1000, 2000)).toBe(true);
    expect(s.isSacked(1200, 1300)).toBe(true);
    expect(s.isSacked(1500, 2500)).toBe(false);
    expect(s.isSacked(2000, 3000)).toBe(false);
    expect(s.isSacked(0, 500)).toBe(false);
    expect(s.isSacked(3000, 3000)).toBe(false);
  });

  it('isLost: more than (DupThresh-1)*MSS bytes SACKed above', () => {
    const mss = 1000;
    const s = new SackScoreboard();
    s.reset(0);
    s.update(0, [b(1000, 3000)]); // two segments above [0,1000)
    expect(s.isLost(0, 1000, mss)).toBe(false);
    s.update(0, [b(1000, 3001)]); // one byte more than 2*MSS
    expect(s.isLost(0, 1000, mss)).toBe(true);
    s.update(0, [b(1000, 4000)]);
    expect(s.isLost(0, 1000, mss)).toBe(true);
    expect(s.isLost(1000, 2000, mss)).toBe(false); // SACKed itself
    expect(s.isLost(4000, 5000, mss)).toBe(false); // nothing above
  });

  it('isLost: DupThresh discontiguous SACKed ranges above', () => {
    const mss = 1000;
    const s = new SackScoreboard();
    s.reset(0);
    s.update(0, [b(1000, 1100), b(2000, 2100)]);
    expect(s.isLost(0, 1000, mss)).toBe(false);
    s.update(0, [b(3000, 3100)]);
    expect(s.isLost(0, 1000, mss)).toBe(true);
    expect(s.isLost(1100, 2000, mss)).toBe(false); // only two ranges above
  });

  it('works across the 2^32 wrap', () => {
    const una = 0xffff_f000;
    const s = new SackScoreboard();
    s.reset(una);
    const r = s.update(una, [b(seqAdd(una, 0x2000), seqAdd(una, 0x3000)), b(seqAdd(una, 0x800), seqAdd(una, 0x1800))]);
    expect(r.newlySacked).toBe(0x2000);
    expect(s.blocks()).toEqual([b(0xffff_f800, 0x800), b(0x1000, 0x2000)]);
    expect(s.highSacked).toBe(0x2000);
    expect(s.isSacked(0xffff_fff0, 0x10)).toBe(true);
    expect(s.isLost(una, 0xffff_f800, 1000)).toBe(true);
    s.update(0x400, []);
    expect(s.blocks()).toEqual([b(0x400, 0x800), b(0x1000, 0x2000)]);
    expect(s.sackedBytes).toBe(0x400 + 0x1000);
    const d = s.update(0x400, [b(0xffff_ff00, 0x100)]);
    expect(d.dsack).toBe(true);
  });

  it('agrees with a naive per-byte model', () => {
    const W = 400; // bytes of sequence space in play
    const op = fc.oneof(
      fc.record({ kind: fc.constant('ack' as const), by: fc.integer({ min: 0, max: 60 }) }),
      fc.record({
        kind: fc.constant('sack' as const),
        blocks: fc.array(
          fc.tuple(fc.integer({ min: -50, max: W }), fc.integer({ min: 1, max: 120 })),
          { maxLength: 4 },
        ),
      }),
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0xffff_ff00), fc.constant(0), fc.integer({ min: 0, max: 0xffff_ffff })),
        fc.array(op, { maxLength: 30 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: W }), fc.integer({ min: 1, max: 100 })), { maxLength: 10 }),
        (base, ops, probes) => {
          const s = new SackScoreboard();
          s.reset(base);
          let una = 0; // offsets from base in the model
          const sacked = new Uint8Array(30 * 60 + W + 200);
          const abs = (o: number) => seqAdd(base, o);
          for (const o of ops) {
            if (o.kind === 'ack') {
              una += o.by;
              for (let i = 0; i < una; i++) sacked[i] = 0;
              const r = s.update(abs(una), []);
              expect(r.newlySacked).toBe(0);
              expect(r.dsack).toBe(false);
            } else {
              const blocks = o.blocks.map(([l, len]) => ({ l: una + l, r: una + l + len }));
              let newly = 0;
              let dsack = false;
              blocks.forEach((blk, i) => {
                if (i === 0) {
                  const second = blocks[1];
                  if (blk.l < una || (second && blk.l >= second.l && blk.r <= second.r)) {
                    dsack = true;
                    return;
                  }
                }
                for (let x = Math.max(blk.l, una); x < blk.r; x++) {
                  if (!sacked[x]) newly++;
                  sacked[x] = 1;
                }
              });
              const r = s.update(
                abs(una),
                blocks.map((blk) => b(abs(blk.l), abs(blk.r))),
              );
              expect(r.newlySacked).toBe(newly);
              expect(r.dsack).toBe(dsack);
            }
            // runs of the model
            const runs: Array<{ left: number; right: number }> = [];
            let total = 0;
            for (let x = una; x < sacked.length; x++) {
              if (!sacked[x]) continue;
              total++;
              const last = runs.at(-1);
              if (last && last.right === abs(x)) last.right = abs(x + 1);
              else runs.push(b(abs(x), abs(x + 1)));
            }
            expect(s.blocks()).toEqual(runs);
            expect(s.sackedBytes).toBe(total);
            expect(s.highSacked).toBe(runs.at(-1)?.right);
            for (const [p, len] of probes) {
              const lo = una + p;
              const hi = lo + len;
              let all = true;
              for (let x = lo; x < hi; x++) if (!sacked[x]) all = false;
              expect(s.isSacked(abs(lo), abs(hi))).toBe(all);
              // IsLost with MSS = 20: > 40 bytes above, or 3 ranges above
              let above = 0;
              let ranges = 0;
              for (let x = hi; x < sacked.length; x++) {
                if (sacked[x]) {
                  above++;
                  if (x === hi || !sacked[x - 1]) ranges++;
                }
              }
              expect(s.isLost(abs(lo), abs(hi), 20)).toBe(!all && (above > 40 || ranges >= 3));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
