/**
 * VLAN isolation as a property. Random frames of any shape — untagged,
 * 802.1Q with random VIDs and PCPs, priority-tagged, QinQ (0x88a8, 0x9100),
 * stacked tags, runts, broadcast/multicast/unicast, multicast sources — are
 * injected on random ports of a bridge with access ports in VLANs 10 and 20
 * and a trunk allowing only 10 (and, in a second layout, a trunk whose native
 * VLAN is 20), with ports going down and up in between.
 *
 * A small reference model written from the rules (not from the code) says
 * which VLAN each frame belongs to, which ports must get it and with which
 * exact bytes. The bridge must agree exactly; in particular no frame ever
 * leaves a port of another VLAN, and every frame that leaves has the tagging
 * its egress port calls for.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import type { PortVlanConfig } from '../../src/switch/vlan.js';
import { VirtualClock } from '../../src/time/index.js';
import { FakePort, hex } from './helpers.js';

type Layout = Record<string, PortVlanConfig>;

const LAYOUTS: Layout[] = [
  {
    a10: { mode: 'access', pvid: 10 },
    b10: { mode: 'access', pvid: 10 },
    c20: { mode: 'access', pvid: 20 },
    d20: { mode: 'access', pvid: 20 },
    t10: { mode: 'trunk', allowed: [10] },
  },
  {
    a10: { mode: 'access', pvid: 10 },
    c20: { mode: 'access', pvid: 20 },
    t10: { mode: 'trunk', allowed: [10] },
    n20: { mode: 'trunk', allowed: [10], native: 20 },
  },
];

const be16 = (f: Uint8Array, o: number) => (f[o]! << 8) | f[o + 1]!;
const isTpid = (t: number) => t === 0x8100 || t === 0x88a8 || t === 0x9100;
const untaggedVid = (c: PortVlanConfig) => (c.mode === 'access' ? c.pvid : c.native);
const member = (c: PortVlanConfig, vid: number) => (c.mode === 'access' ? c.pvid === vid : c.allowed.includes(vid) || c.native === vid);
const egressTagged = (c: PortVlanConfig, vid: number) => c.mode === 'trunk' && c.native !== vid;

interface Classified {
  vid: number;
  /** Bytes of 802.1Q tag at offset 12 (0 or 4). */
  tagLen: number;
  pcpDei: number;
  inner: boolean;
}

/** The reference: the VLAN of a frame received on a port with config `c`, or null for a drop. */
function classify(c: PortVlanConfig, f: Uint8Array): Classified | null {
  if (f.length < 14 || (f[6]! & 1) === 1) return null;
  const t = be16(f, 12);
  if (t === 0x8100) {
    if (f.length < 18) return null;
    const tci = be16(f, 14);
    const vid = tci & 0xfff;
    const inner = isTpid(be16(f, 16));
    if (vid === 0) {
      const u = untaggedVid(c);
      return inner || u === undefined ? null : { vid: u, tagLen: 4, pcpDei: tci >> 12, inner: false };
    }
    if (c.mode === 'access' || !member(c, vid)) return null;
    return { vid, tagLen: 4, pcpDei: tci >> 12, inner };
  }
  if (isTpid(t)) return null;
  const u = untaggedVid(c);
  return u === undefined ? null : { vid: u, tagLen: 0, pcpDei: 0, inner: false };
}

/** The bytes port `c` must send for frame `f` classified as `k`, or null if it must send nothing. */
function egressBytes(c: PortVlanConfig, f: Uint8Array, k: Classified): Uint8Array | null {
  const body = f.subarray(12 + k.tagLen);
  if (!egressTagged(c, k.vid)) {
    if (k.inner) return null;
    return Uint8Array.from([...f.subarray(0, 12), ...body]);
  }
  const tci = ((k.tagLen === 4 ? k.pcpDei : 0) << 12) | k.vid;
  return Uint8Array.from([...f.subarray(0, 12), 0x81, 0x00, tci >> 8, tci & 0xff, ...body]);
}

const isLinkLocal = (f: Uint8Array) => hex(f.subarray(0, 5)) === '0180c20000' && f[5]! >= 1 && f[5]! <= 15;

// ---------------------------------------------------------------------------
// Frames of any shape.

const STATIONS = [1, 2, 3, 4, 5].map((i) => [0x02, 0, 0, 0, 0, i]);
const macArb = fc.oneof(
  fc.constantFrom(...STATIONS),
  fc.constant([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  fc.constant([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]),
  fc.constant([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }),
);
const tagArb = fc.record({
  tpid: fc.constantFrom(0x8100, 0x8100, 0x8100, 0x88a8, 0x9100),
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.oneof(fc.constantFrom(0, 1, 10, 20, 30, 4095), fc.integer({ min: 0, max: 4095 })),
});
const frameArb = fc
  .record({
    dst: macArb,
    src: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...STATIONS) }, { weight: 1, arbitrary: macArb }),
    tags: fc.array(tagArb, { maxLength: 3 }),
    etherType: fc.constantFrom(0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x0040),
    payload: fc.uint8Array({ maxLength: 40 }),
    cut: fc.option(fc.integer({ min: 0, max: 30 }), { freq: 6 }),
  })
  .map(({ dst, src, tags, etherType, payload, cut }) => {
    const bytes = [...dst, ...src];
    for (const t of tags) bytes.push(t.tpid >> 8, t.tpid & 0xff, (t.pcp << 5) | (t.dei ? 0x10 : 0) | (t.vid >> 8), t.vid & 0xff);
    bytes.push(etherType >> 8, etherType & 0xff, ...payload);
    const f = Uint8Array.from(bytes);
    return cut === null ? f : f.subarray(0, Math.min(cut, f.length));
  });

type Op = { kind: 'frame'; port: number; frame: Uint8Array } | { kind: 'link'; port: number; up: boolean };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('frame' as const), port: fc.nat(9), frame: frameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('link' as const), port: fc.nat(9), up: fc.boolean() }) },
);

describe('VLAN isolation', () => {
  it('random frames on random ports reach exactly the ports of their own VLAN, tagged as each egress requires', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LAYOUTS), fc.array(opArb, { minLength: 1, maxLength: 60 }), (layout, ops) => {
        const clock = new VirtualClock();
        const bridge = new Bridge({ clock });
        const names = Object.keys(layout);
        const ports = names.map((n) => new FakePort(n));
        names.forEach((n, i) => bridge.addPort(ports[i]!, layout[n]));
        const up = names.map(() => true);
        /** Model FDB: "vid/mac" → port index. */
        const fdb = new Map<string, number>();

        for (const op of ops) {
          const i = op.port % names.length;
          if (op.kind === 'link') {
            bridge.setPortUp(names[i]!, op.up);
            if (up[i] && !op.up) for (const [k, p] of fdb) if (p === i) fdb.delete(k);
            up[i] = op.up;
            continue;
          }
          const f = op.frame;
          ports[i]!.inject([f]);
          const got = ports.map((p) => p.take().map((s) => hex(s.frame)));

          // The model's answer.
          const want: string[][] = names.map(() => []);
          const k = up[i] ? classify(layout[names[i]!]!, f) : null;
          if (k !== null && !isLinkLocal(f)) {
            fdb.set(`${k.vid}/${hex(f.subarray(6, 12))}`, i);
            const known = (f[0]! & 1) === 0 ? fdb.get(`${k.vid}/${hex(f.subarray(0, 6))}`) : undefined;
            const targets = known !== undefined ? [known] : names.map((_, j) => j);
            for (const j of targets) {
              const c = layout[names[j]!]!;
              if (j === i || !up[j] || !member(c, k.vid)) continue;
              const b = egressBytes(c, f, k);
              if (b !== null) want[j]!.push(hex(b));
            }
          } else if (k !== null) {
            fdb.set(`${k.vid}/${hex(f.subarray(6, 12))}`, i);
          }

          // Isolation, stated on its own: nothing leaves a port outside the frame's VLAN or wrongly tagged.
          got.forEach((frames, j) => {
            const c = layout[names[j]!]!;
            for (const h of frames) {
              expect(k, `${names[j]} sent a frame the model drops`).not.toBeNull();
              expect(member(c, k!.vid), `${names[j]} is not in VLAN ${k!.vid}`).toBe(true);
              const outer = parseInt(h.slice(24, 28), 16);
              if (egressTagged(c, k!.vid)) {
                expect(outer).toBe(0x8100);
                expect(parseInt(h.slice(28, 32), 16) & 0xfff).toBe(k!.vid);
              } else {
                expect(isTpid(outer), `${names[j]} must send untagged`).toBe(false);
              }
            }
          });
          // And exactly the model's frames, byte for byte.
          expect(got).toEqual(want);
        }
      }),
      { numRuns: 300 },
    );
  });
});
