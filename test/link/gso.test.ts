/**
 * Software GSO (src/link/gso.ts): TSO super-frames built the way the Linux
 * kernel hands them to a vnet_hdr TAP are cut into MTU-sized frames and every
 * output is decoded back with the src/wire codecs (checksums verified, seq
 * contiguous, payload identical, ids incrementing, flags placed as
 * tcp_gso_segment places them); USO, UFO and plain NEEDS_CSUM; and hostile
 * headers, which must give -1 or leave bytes untouched, never a throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GsoSegmenter,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP,
  VNET_HDR_GSO_UDP_L4,
  VNET_HDR_LEN,
  type VnetHdr,
  completeChecksum,
  parseVnetHdr,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  writeVnetHdr,
} from '../../src/link/gso.js';
import { parseIPv4 } from '../../src/wire/address.js';
import { fold32, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { ETHERTYPE, type VlanTag, decodeEthernet, encodeEthernet } from '../../src/wire/ethernet.js';
import { IP_PROTOCOL, type IPv4Packet, decodeIPv4, encodeIPv4 } from '../../src/wire/ipv4.js';
import { TCP_FLAG, type TcpSegment, decodeTcp, encodeTcp } from '../../src/wire/tcp.js';
import { type UdpDatagram, decodeUdp, encodeUdp } from '../../src/wire/udp.js';

const SRC = parseIPv4('10.1.0.2');
const DST = parseIPv4('10.1.0.3');
const IP = { src: SRC, dst: DST };
const MAC_A = 0x02_00_00_00_00_0a;
const MAC_B = 0x02_00_00_00_00_0b;

// ---------------------------------------------------------------------------
// Builders

/** Deterministic bytes from a seed (fast-check shrinks the seed and length, not 64 K byte arbitraries). */
function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** What Linux leaves in the TCP checksum field of a CHECKSUM_PARTIAL skb, and variants a sender might use. */
type FieldMode = 'linux' | 'no-length' | 'garbage';

interface Built {
  slab: Uint8Array;
  vnetOff: number;
  frameOff: number;
  frameLen: number;
  /** Ethernet + IP + L4 header bytes. */
  hdrLen: number;
  l2: number;
  l4Off: number;
}

/** Places [vnet header][frame] in a fresh slab at a byte offset `shift` (alignment coverage). */
function place(frame: Uint8Array, h: VnetHdr, shift: number): Built {
  const ab = new ArrayBuffer(frame.length + VNET_HDR_LEN + 16);
  const slab = new Uint8Array(ab, shift & 7);
  const vnetOff = 3;
  const frameOff = vnetOff + VNET_HDR_LEN;
  writeVnetHdr(h, slab, vnetOff);
  slab.set(frame, frameOff);
  return { slab, vnetOff, frameOff, frameLen: frame.length, hdrLen: h.hdrLen, l2: 0, l4Off: h.csumStart };
}

interface TcpCase {
  payloadLen: number;
  seed: number;
  mss: number;
  vlan: VlanTag[];
  tcpOptions: number[];
  ipOptions: number[];
  flags: number;
  seq: number;
  id: number;
  field: FieldMode;
  ecn: boolean;
  shift: number;
}

function buildTcp(c: TcpCase): Built & { payload: Uint8Array; thlen: number; ihl: number } {
  const payload = bytes(c.payloadLen, c.seed);
  const thlen = 20 + c.tcpOptions.length;
  const ihl = 20 + c.ipOptions.length;
  const l4Len = thlen + payload.length;
  const field =
    c.field === 'linux'
      ? fold32(pseudoHeaderSum(SRC, DST, IP_PROTOCOL.TCP, l4Len)) // ~tcp_v4_check(skb->len, …)
      : c.field === 'no-length'
        ? fold32(pseudoHeaderSum(SRC, DST, IP_PROTOCOL.TCP, 0)) // ~csum_tcpudp_magic(s, d, 0, TCP, 0)
        : c.seed & 0xffff;
  const tcp = encodeTcp(
    {
      srcPort: 40000,
      dstPort: 5201,
      seq: c.seq,
      ack: 0x01020304,
      flags: c.flags,
      window: 502,
      optionBytes: Uint8Array.from(c.tcpOptions),
      checksum: field,
    },
    payload,
    IP,
  );
  const ip = encodeIPv4(
    {
      dscp: 0,
      ecn: 2,
      identification: c.id,
      dontFragment: true,
      moreFragments: false,
      reservedFlag: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IP_PROTOCOL.TCP,
      src: SRC,
      dst: DST,
      options: Uint8Array.from(c.ipOptions),
    },
    tcp,
  );
  const frame = encodeEthernet({ dst: MAC_B, src: MAC_A, tags: c.vlan, etherType: ETHERTYPE.IPV4 }, ip);
  const l2 = 14 + 4 * c.vlan.length;
  const b = place(
    frame,
    {
      flags: VNET_HDR_F_NEEDS_CSUM,
      gsoType: VNET_HDR_GSO_TCPV4 | (c.ecn ? VNET_HDR_GSO_ECN : 0),
      hdrLen: l2 + ihl + thlen,
      gsoSize: c.mss,
      csumStart: l2 + ihl,
      csumOffset: 16,
    },
    c.shift,
  );
  return { ...b, l2, payload, thlen, ihl };
}

function buildUdp(
  payloadLen: number,
  seed: number,
  vlan: VlanTag[],
  gsoType: number,
  gsoSize: number,
  shift: number,
  dontFragment = false,
): Built & { payload: Uint8Array } {
  const payload = bytes(payloadLen, seed);
  const udpLen = 8 + payload.length;
  // Linux leaves the pseudo-header sum (with length) for NEEDS_CSUM.
  const udp = encodeUdp(
    { srcPort: 5353, dstPort: 9999, checksum: fold32(pseudoHeaderSum(SRC, DST, IP_PROTOCOL.UDP, udpLen)) },
    payload,
    IP,
  );
  const ip = encodeIPv4(
    {
      dscp: 10,
      ecn: 0,
      identification: seed & 0xffff,
      dontFragment,
      moreFragments: false,
      reservedFlag: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IP_PROTOCOL.UDP,
      src: SRC,
      dst: DST,
      options: new Uint8Array(0),
    },
    udp,
  );
  const frame = encodeEthernet({ dst: MAC_B, src: MAC_A, tags: vlan, etherType: ETHERTYPE.IPV4 }, ip);
  const l2 = 14 + 4 * vlan.length;
  const b = place(
    frame,
    { flags: VNET_HDR_F_NEEDS_CSUM, gsoType, hdrLen: l2 + 28, gsoSize, csumStart: l2 + 20, csumOffset: 6 },
    shift,
  );
  return { ...b, l2, payload };
}

// ---------------------------------------------------------------------------
// Decoding helpers

interface Out {
  frame: Uint8Array;
  tags: VlanTag[];
  ip: IPv4Packet;
}

function outputs(g: GsoSegmenter, n: number): Out[] {
  const res: Out[] = [];
  for (let i = 0; i < n; i++) {
    const off = g.offsets[i]!;
    const len = g.lengths[i]!;
    expect(off + len).toBeLessThanOrEqual(g.out.length);
    const frame = g.out.slice(off, off + len);
    const eth = decodeEthernet(frame);
    if (!eth.ok) throw new Error(eth.message);
    expect(eth.value.etherType).toBe(ETHERTYPE.IPV4);
    const ip = decodeIPv4(eth.value.payload); // verifies the header checksum
    if (!ip.ok) throw new Error(`segment ${i}: ${ip.message}`);
    expect(ip.value.totalLength).toBe(eth.value.payload.length);
    res.push({ frame, tags: eth.value.tags, ip: ip.value });
  }
  return res;
}

function tcpOf(o: Out): TcpSegment {
  const r = decodeTcp(o.ip.payload, IP);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

function udpOf(payload: Uint8Array): UdpDatagram {
  const r = decodeUdp(payload, IP);
  if (!r.ok) throw new Error(r.message);
  expect(r.value.checksum).not.toBe(0);
  return r.value;
}

/** Byte equality through Buffer.equals: toEqual walks 64 KB arrays element by element, far too slowly. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Arbitraries

const vlanArb = fc.oneof(
  fc.constant<VlanTag[]>([]),
  fc.integer({ min: 1, max: 4094 }).map((vid): VlanTag[] => [{ tpid: ETHERTYPE.VLAN, pcp: 3, dei: false, vid }]),
  fc
    .tuple(fc.integer({ min: 1, max: 4094 }), fc.integer({ min: 1, max: 4094 }))
    .map(([s, c]): VlanTag[] => [
      { tpid: ETHERTYPE.QINQ, pcp: 0, dei: false, vid: s },
      { tpid: ETHERTYPE.VLAN, pcp: 5, dei: true, vid: c },
    ]),
);

const tcpOptionsArb = fc.oneof(
  fc.constant<number[]>([]),
  // NOP NOP TS, as Linux sends on every data segment.
  fc.tuple(fc.nat(), fc.nat()).map(([v, e]) => [1, 1, 8, 10, ...be32(v), ...be32(e)]),
  // NOP NOP TS + NOP NOP SACK(1 block).
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([v, e, l]) => [1, 1, 8, 10, ...be32(v), ...be32(e), 1, 1, 5, 10, ...be32(l), ...be32(l + 1000)]),
);

const ipOptionsArb = fc.oneof(fc.constant<number[]>([]), fc.constant<number[]>([148, 4, 0, 0])); // router alert

const tcpCaseArb: fc.Arbitrary<TcpCase> = fc.record({
  payloadLen: fc.oneof(fc.integer({ min: 0, max: 65000 }), fc.integer({ min: 0, max: 3000 })),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  mss: fc.integer({ min: 536, max: 9000 }),
  vlan: vlanArb,
  tcpOptions: tcpOptionsArb,
  ipOptions: ipOptionsArb,
  flags: fc
    .subarray<number>([TCP_FLAG.FIN, TCP_FLAG.PSH, TCP_FLAG.CWR, TCP_FLAG.ECE, TCP_FLAG.URG])
    .map((fs) => fs.reduce((a, f) => a | f, TCP_FLAG.ACK)),
  seq: fc.nat({ max: 0xffffffff }),
  id: fc.nat({ max: 0xffff }),
  field: fc.constantFrom<FieldMode>('linux', 'no-length', 'garbage'),
  ecn: fc.boolean(),
  shift: fc.nat({ max: 7 }),
});

/**
 * [gsoSize, payload length]: MTU-like sizes with payloads up to 64 KB, and
 * tiny sizes (down to `min`) with payloads short enough for the default
 * 256 KiB slab (64 KB in 1-byte segments would be ~3 MB of headers).
 */
function sizeAndLength(min: number): fc.Arbitrary<[number, number]> {
  return fc.oneof(
    fc.tuple(fc.integer({ min: 512, max: 9000 }), fc.integer({ min: 0, max: 65000 })),
    fc.tuple(fc.integer({ min, max: 64 }), fc.integer({ min: 0, max: 2000 })),
  );
}

// ---------------------------------------------------------------------------

describe('gso: virtio_net_hdr', () => {
  it('reads and writes the little-endian layout of linux/virtio_net.h', () => {
    const h: VnetHdr = { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 };
    const b = new Uint8Array(12);
    writeVnetHdr(h, b, 2);
    expect(Buffer.from(b.subarray(2)).toString('hex')).toBe('01014200a80522001000');
    expect(parseVnetHdr(b, 2)).toEqual(h);
    expect([vnetFlags(b, 2), vnetGsoType(b, 2), vnetGsoSize(b, 2)]).toEqual([1, 1, 1448]);
    expect(VNET_HDR_LEN).toBe(10);
  });

  it('round-trips any header and never throws reading past the end', () => {
    const u16 = fc.nat({ max: 0xffff });
    fc.assert(
      fc.property(
        fc.record({ flags: fc.nat({ max: 255 }), gsoType: fc.nat({ max: 255 }), hdrLen: u16, gsoSize: u16, csumStart: u16, csumOffset: u16 }),
        (h) => {
          const b = new Uint8Array(VNET_HDR_LEN);
          writeVnetHdr(h, b, 0);
          expect(parseVnetHdr(b, 0)).toEqual(h);
          expect(() => parseVnetHdr(b, 5)).not.toThrow();
        },
      ),
    );
  });
});

describe('gso: TCPv4 segmentation', () => {
  it('cuts a TSO frame into verified, contiguous segments with flags placed as tcp_gso_segment does', () => {
    const g = new GsoSegmenter();
    fc.assert(
      fc.property(tcpCaseArb, (c) => {
        const b = buildTcp(c);
        const before = b.slab.slice();
        const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
        expect(g.reason).toBeNull();
        expect(n).toBe(c.payloadLen === 0 ? 1 : Math.ceil(c.payloadLen / c.mss));
        expect(same(b.slab, before)).toBe(true); // the borrowed input is never written

        const segs = outputs(g, n);
        const payloads: Uint8Array[] = [];
        segs.forEach((o, i) => {
          const last = i === n - 1;
          expect(o.frame.length).toBeLessThanOrEqual(b.hdrLen + c.mss);
          if (!last) expect(o.frame.length).toBe(b.hdrLen + c.mss);
          expect(o.tags).toEqual(c.vlan);
          expect(o.ip.identification).toBe((c.id + i) & 0xffff);
          expect(o.ip.dontFragment).toBe(true);
          expect(o.ip.ecn).toBe(2);
          expect(Array.from(o.ip.options)).toEqual(c.ipOptions);
          const t = tcpOf(o); // verifies the TCP checksum
          expect(t.seq).toBe((c.seq + i * c.mss) >>> 0);
          expect(t.ack).toBe(0x01020304);
          expect(Array.from(t.optionBytes)).toEqual(c.tcpOptions);
          let want = c.flags;
          if (!last) want &= ~(TCP_FLAG.FIN | TCP_FLAG.PSH);
          if (i > 0) want &= ~TCP_FLAG.CWR;
          expect(t.flags).toBe(want);
          payloads.push(t.payload);
        });
        expect(same(concat(payloads), b.payload)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('handles a 64 KB frame at MSS 536 and reuses its slab across calls', () => {
    const g = new GsoSegmenter();
    const out = g.out;
    const base: TcpCase = {
      payloadLen: 65000,
      seed: 7,
      mss: 536,
      vlan: [],
      tcpOptions: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
      ipOptions: [],
      flags: TCP_FLAG.ACK | TCP_FLAG.PSH | TCP_FLAG.FIN,
      seq: 0xfffff000, // wraps past 2^32 mid-frame
      id: 0xfff0, // wraps past 2^16 mid-frame
      field: 'linux',
      ecn: false,
      shift: 1,
    };
    for (const c of [base, { ...base, payloadLen: 1000, mss: 1448, shift: 2 }]) {
      const b = buildTcp(c);
      const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
      expect(n).toBe(Math.ceil(c.payloadLen / c.mss));
      expect(g.out).toBe(out);
      const segs = outputs(g, n);
      expect(same(concat(segs.map((s) => tcpOf(s).payload)), b.payload)).toBe(true);
      expect(tcpOf(segs[n - 1]!).seq).toBe((c.seq + (n - 1) * c.mss) >>> 0);
    }
  });

  it('passes a frame no longer than one MSS through as one segment with a full checksum', () => {
    const g = new GsoSegmenter();
    const b = buildTcp({
      payloadLen: 100, seed: 3, mss: 1448, vlan: [], tcpOptions: [], ipOptions: [],
      flags: TCP_FLAG.ACK | TCP_FLAG.FIN | TCP_FLAG.CWR, seq: 1, id: 9, field: 'garbage', ecn: true, shift: 0,
    });
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(1);
    const t = tcpOf(outputs(g, 1)[0]!);
    expect(t.flags).toBe(TCP_FLAG.ACK | TCP_FLAG.FIN | TCP_FLAG.CWR);
    expect(same(t.payload, b.payload)).toBe(true);
  });

  it('refuses what it cannot fit in its slab', () => {
    const g = new GsoSegmenter(4096);
    const b = buildTcp({
      payloadLen: 20000, seed: 3, mss: 1448, vlan: [], tcpOptions: [], ipOptions: [],
      flags: TCP_FLAG.ACK, seq: 1, id: 9, field: 'linux', ecn: false, shift: 0,
    });
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(-1);
    expect(g.reason).toBe('too-large');
  });
});

describe('gso: UDP', () => {
  it('USO (GSO_UDP_L4): each segment is its own datagram with its own length and checksum', () => {
    const g = new GsoSegmenter();
    fc.assert(
      fc.property(
        sizeAndLength(1),
        fc.integer({ min: 1, max: 0x7fffffff }),
        vlanArb,
        fc.nat({ max: 7 }),
        ([gsoSize, len], seed, vlan, shift) => {
          const b = buildUdp(len, seed, vlan, VNET_HDR_GSO_UDP_L4, gsoSize, shift);
          const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
          expect(n).toBe(len === 0 ? 1 : Math.ceil(len / gsoSize));
          const segs = outputs(g, n);
          const payloads = segs.map((o, i) => {
            expect(o.frame.length).toBeLessThanOrEqual(b.hdrLen + gsoSize);
            expect(o.ip.identification).toBe((seed + i) & 0xffff);
            expect(o.ip.dscp).toBe(10);
            const d = udpOf(o.ip.payload);
            expect(d.length).toBe(o.ip.payload.length);
            expect([d.srcPort, d.dstPort]).toEqual([5353, 9999]);
            return d.payload;
          });
          expect(same(concat(payloads), b.payload)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('UFO (GSO_UDP): IP fragments of one datagram whose checksum verifies after reassembly', () => {
    const g = new GsoSegmenter();
    fc.assert(
      fc.property(
        sizeAndLength(8),
        fc.integer({ min: 1, max: 0x7fffffff }),
        vlanArb,
        fc.nat({ max: 7 }),
        fc.boolean(),
        ([gsoSize, len], seed, vlan, shift, df) => {
          const b = buildUdp(len, seed, vlan, VNET_HDR_GSO_UDP, gsoSize, shift, df);
          const fragSize = gsoSize & ~7;
          const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
          expect(n).toBe(Math.ceil((8 + len) / fragSize));
          const segs = outputs(g, n);
          let offset = 0;
          for (const [i, o] of segs.entries()) {
            const last = i === n - 1;
            expect(o.frame.length).toBeLessThanOrEqual(b.l2 + 20 + gsoSize);
            expect(o.ip.identification).toBe(seed & 0xffff);
            expect(o.ip.fragmentOffset).toBe(offset);
            if (n > 1) {
              expect(o.ip.moreFragments).toBe(!last);
              expect(o.ip.dontFragment).toBe(false);
            } else {
              expect(o.ip.moreFragments).toBe(false);
              expect(o.ip.dontFragment).toBe(df);
            }
            if (!last) expect(o.ip.payload.length % 8).toBe(0);
            offset += o.ip.payload.length;
          }
          const d = udpOf(concat(segs.map((o) => o.ip.payload)));
          expect(same(d.payload, b.payload)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('UFO refuses gso_size below 8 and a UDP length that disagrees with the packet', () => {
    const g = new GsoSegmenter();
    let b = buildUdp(100, 5, [], VNET_HDR_GSO_UDP, 7, 0);
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(-1);
    expect(g.reason).toBe('gso-size-too-small');
    b = buildUdp(100, 5, [], VNET_HDR_GSO_UDP, 64, 0);
    b.slab[b.frameOff + 14 + 20 + 5]! ^= 1; // UDP length low byte
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(-1);
    expect(g.reason).toBe('bad-udp');
  });
});

describe('gso: NEEDS_CSUM without GSO', () => {
  const cases = [
    { name: 'TCP', build: (len: number, seed: number, vlan: VlanTag[], shift: number) => {
      const b = buildTcp({
        payloadLen: len, seed, mss: 1448, vlan, tcpOptions: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], ipOptions: [],
        flags: TCP_FLAG.ACK | TCP_FLAG.PSH, seq: seed, id: 1, field: 'linux', ecn: false, shift,
      });
      writeVnetHdr({ ...parseVnetHdr(b.slab, b.vnetOff), gsoType: VNET_HDR_GSO_NONE, gsoSize: 0 }, b.slab, b.vnetOff);
      return b;
    } },
    { name: 'UDP', build: (len: number, seed: number, vlan: VlanTag[], shift: number) =>
      buildUdp(len, seed, vlan, VNET_HDR_GSO_NONE, 0, shift) },
  ];
  for (const { name, build } of cases) {
    it(`${name}: completeChecksum in place and segment() both give a verified checksum`, () => {
      const g = new GsoSegmenter();
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 9000 }),
          fc.integer({ min: 1, max: 0x7fffffff }),
          vlanArb,
          fc.nat({ max: 7 }),
          (len, seed, vlan, shift) => {
            const b = build(len, seed, vlan, shift);
            const check = (frame: Uint8Array): void => {
              const eth = decodeEthernet(frame);
              if (!eth.ok) throw new Error(eth.message);
              const ip = decodeIPv4(eth.value.payload);
              if (!ip.ok) throw new Error(ip.message);
              if (name === 'TCP') {
                const t = decodeTcp(ip.value.payload, IP);
                if (!t.ok) throw new Error(t.message);
              } else {
                udpOf(ip.value.payload);
              }
            };
            // segment() copies, leaving the input alone.
            const before = b.slab.slice();
            expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(1);
            expect(same(b.slab, before)).toBe(true);
            check(g.out.subarray(g.offsets[0]!, g.offsets[0]! + g.lengths[0]!));
            // completeChecksum works in place.
            expect(completeChecksum(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(true);
            check(b.slab.subarray(b.frameOff, b.frameOff + b.frameLen));
          },
        ),
        { numRuns: 80 },
      );
    });
  }

  it('leaves a frame without NEEDS_CSUM as it is', () => {
    const b = buildUdp(50, 9, [], VNET_HDR_GSO_NONE, 0, 0);
    b.slab[b.vnetOff] = 0;
    const before = b.slab.slice();
    expect(completeChecksum(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(true);
    expect(same(b.slab, before)).toBe(true);
    const g = new GsoSegmenter();
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(1);
    expect(g.out.slice(g.offsets[0]!, g.offsets[0]! + g.lengths[0]!)).toEqual(b.slab.slice(b.frameOff, b.frameOff + b.frameLen));
  });
});

describe('gso: hostile headers', () => {
  const ok = (): ReturnType<typeof buildTcp> =>
    buildTcp({
      payloadLen: 3000, seed: 11, mss: 1000, vlan: [{ tpid: ETHERTYPE.VLAN, pcp: 0, dei: false, vid: 5 }],
      tcpOptions: [], ipOptions: [], flags: TCP_FLAG.ACK, seq: 1, id: 1, field: 'linux', ecn: false, shift: 0,
    });

  it('names what it cannot segment', () => {
    const g = new GsoSegmenter();
    const cases: Array<[string, (b: Built) => void, string]> = [
      ['gso_size 0', (b) => writeVnetHdr({ ...parseVnetHdr(b.slab, b.vnetOff), gsoSize: 0 }, b.slab, b.vnetOff), 'gso-size-zero'],
      ['TCPv6', (b) => (b.slab[b.vnetOff + 1] = VNET_HDR_GSO_TCPV6), 'tcpv6'],
      ['unknown type', (b) => (b.slab[b.vnetOff + 1] = 2), 'unknown-gso-type'],
      ['IPv6 EtherType', (b) => ((b.slab[b.frameOff + 16] = 0x86), (b.slab[b.frameOff + 17] = 0xdd)), 'not-ipv4'],
      ['ARP EtherType', (b) => (b.slab[b.frameOff + 17] = 0x06), 'not-ipv4'],
      ['IP version 6', (b) => (b.slab[b.frameOff + 18] = 0x65), 'bad-ipv4'],
      ['IHL 4', (b) => (b.slab[b.frameOff + 18] = 0x44), 'bad-ipv4'],
      ['total length past the frame', (b) => (b.slab[b.frameOff + 20] = 0xff), 'bad-ipv4'],
      ['a fragment', (b) => (b.slab[b.frameOff + 24] = 0x20), 'ipv4-fragment'],
      ['UDP under GSO_TCPV4', (b) => (b.slab[b.frameOff + 27] = 17), 'wrong-protocol'],
      ['TCP data offset 4', (b) => (b.slab[b.frameOff + 18 + 20 + 12] = 0x40), 'bad-tcp'],
      [
        'TCP data offset past the packet',
        (b) => {
          // A 40-byte packet (total length) whose TCP header claims 60 bytes.
          b.slab[b.frameOff + 18 + 2] = 0;
          b.slab[b.frameOff + 18 + 3] = 40;
          b.slab[b.frameOff + 18 + 20 + 12] = 0xf0;
        },
        'bad-tcp',
      ],
    ];
    for (const [name, mutate, reason] of cases) {
      const b = ok();
      mutate(b);
      const before = b.slab.slice();
      expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen), name).toBe(-1);
      expect(g.reason, name).toBe(reason);
      expect(same(b.slab, before), name).toBe(true);
    }
    const b = ok();
    expect(g.segment(b.slab, b.slab.length - 5, b.frameOff, b.frameLen)).toBe(-1);
    expect(g.reason).toBe('truncated');
    expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.slab.length)).toBe(-1);
    expect(g.reason).toBe('truncated');
  });

  it('refuses every truncation of a GSO frame', () => {
    const g = new GsoSegmenter();
    const b = ok();
    for (let len = 0; len < b.frameLen; len++) {
      expect(g.segment(b.slab, b.vnetOff, b.frameOff, len), `length ${len}`).toBe(-1);
    }
  });

  it('never throws on random headers and frames, and never writes its input', () => {
    const g = new GsoSegmenter(64 * 1024);
    fc.assert(
      fc.property(
        fc.record({
          flags: fc.nat({ max: 255 }),
          gsoType: fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x85), fc.nat({ max: 255 })),
          hdrLen: fc.nat({ max: 0xffff }),
          gsoSize: fc.oneof(fc.constantFrom(0, 1, 7, 8, 536), fc.nat({ max: 0xffff })),
          csumStart: fc.oneof(fc.nat({ max: 80 }), fc.nat({ max: 0xffff })),
          csumOffset: fc.oneof(fc.constantFrom(6, 16), fc.nat({ max: 0xffff })),
        }),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        (h, junk, ipv4) => {
          const frame = junk.slice();
          if (ipv4 && frame.length >= 15) {
            frame[12] = 0x08;
            frame[13] = 0x00;
            frame[14] = 0x45;
          }
          const b = place(frame, h, 0);
          const before = b.slab.slice();
          const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
          expect(same(b.slab, before)).toBe(true);
          if (n < 0) expect(g.reason).not.toBeNull();
          for (let i = 0; i < n; i++) expect(g.offsets[i]! + g.lengths[i]!).toBeLessThanOrEqual(g.out.length);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('random byte flips in a valid frame give -1 or well-formed segments', () => {
    const g = new GsoSegmenter();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const b = ok();
        for (const [at, v] of flips) b.slab[b.vnetOff + at] = v;
        const n = g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen);
        for (let i = 0; i < n; i++) expect(g.offsets[i]! + g.lengths[i]!).toBeLessThanOrEqual(g.out.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('completeChecksum leaves bytes unchanged when csum_start/offset point outside the frame', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }), (csumStart, csumOffset) => {
        const b = buildUdp(40, 3, [], VNET_HDR_GSO_NONE, 0, 0);
        writeVnetHdr({ ...parseVnetHdr(b.slab, b.vnetOff), csumStart, csumOffset }, b.slab, b.vnetOff);
        const before = b.slab.slice();
        const inside = csumStart + csumOffset + 2 <= b.frameLen;
        expect(completeChecksum(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(inside);
        if (!inside) expect(same(b.slab, before)).toBe(true);
        const g = new GsoSegmenter(4096);
        expect(g.segment(b.slab, b.vnetOff, b.frameOff, b.frameLen)).toBe(inside ? 1 : -1);
      }),
    );
    const b = buildUdp(40, 3, [], VNET_HDR_GSO_NONE, 0, 0);
    expect(completeChecksum(b.slab, b.slab.length - 3, b.frameOff, b.frameLen)).toBe(false);
    expect(completeChecksum(b.slab, b.vnetOff, b.frameOff, b.slab.length)).toBe(false);
  });
});
