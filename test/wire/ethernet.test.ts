/**
 * Ethernet II + 802.1Q/802.1ad: hand-built frames, stacked tags, the tag
 * bound, fast accessors against the full decoder, round trips, fuzzing and
 * truncation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMac } from '../../src/wire/address.js';
import {
  ETHERTYPE,
  MAX_VLAN_TAGS,
  TPID_9100,
  type EthernetHeader,
  type VlanTag,
  decodeEthernet,
  describeEthernet,
  encodeEthernet,
  ethernetDst,
  ethernetEtherType,
  ethernetHeaderLength,
  ethernetIsMulticastDst,
  ethernetOuterType,
  ethernetOuterVid,
  ethernetSrc,
  isVlanTpid,
  writeEthernet,
} from '../../src/wire/ethernet.js';

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function decoded(buf: Uint8Array) {
  const r = decodeEthernet(buf);
  if (!r.ok) throw new Error(`expected a frame, got ${r.code}: ${r.message}`);
  return r.value;
}

// A broadcast ARP request as Linux sends it: 42 bytes, padded to 60 by the NIC.
const ARP_BROADCAST =
  'ffffffffffff 020000000001 0806' +
  '0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002' +
  '00'.repeat(18);

describe('known frames', () => {
  it('untagged broadcast ARP, padding kept in the payload', () => {
    const f = decoded(hexBytes(ARP_BROADCAST));
    expect(f.dst).toBe(0xffffffffffff);
    expect(f.src).toBe(0x020000000001);
    expect(f.tags).toEqual([]);
    expect(f.etherType).toBe(ETHERTYPE.ARP);
    expect(f.headerLength).toBe(14);
    expect(f.payload.length).toBe(46);
    expect(describeEthernet(f)).toBe('02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60');
  });

  it('802.1Q tag: TCI a064 is PCP 5, DEI 0, VID 100; 300a is PCP 1, DEI 1, VID 10', () => {
    const a = decoded(hexBytes('020000000002 020000000001 8100 a064 0800 45'));
    expect(a.tags).toEqual([{ tpid: 0x8100, pcp: 5, dei: false, vid: 100 }]);
    expect(a.etherType).toBe(0x0800);
    expect(a.headerLength).toBe(18);
    expect([...a.payload]).toEqual([0x45]);
    const b = decoded(hexBytes('020000000002 020000000001 8100 300a 86dd'));
    expect(b.tags).toEqual([{ tpid: 0x8100, pcp: 1, dei: true, vid: 10 }]);
    expect(b.etherType).toBe(ETHERTYPE.IPV6);
    expect(b.payload.length).toBe(0);
    expect(describeEthernet(a)).toBe(
      '02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 19: vlan 100, p 5, ethertype IPv4 (0x0800)',
    );
    expect(describeEthernet(b)).toContain('vlan 10, p 1, DEI, ethertype IPv6 (0x86dd)');
  });

  it('QinQ: 88a8 outer (S-tag) then 8100 inner (C-tag)', () => {
    const f = decoded(hexBytes('020000000002 020000000001 88a8 0064 8100 e0c8 0800 aabb'));
    expect(f.tags).toEqual([
      { tpid: ETHERTYPE.QINQ, pcp: 0, dei: false, vid: 100 },
      { tpid: ETHERTYPE.VLAN, pcp: 7, dei: false, vid: 200 },
    ]);
    expect(f.etherType).toBe(0x0800);
    expect(f.headerLength).toBe(22);
    expect([...f.payload]).toEqual([0xaa, 0xbb]);
    expect(describeEthernet(f)).toBe(
      '02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), length 24: ' +
        'vlan 100, p 0, ethertype 802.1Q (0x8100), vlan 200, p 7, ethertype IPv4 (0x0800)',
    );
  });

  it('pre-standard 0x9100 outer TPID', () => {
    const f = decoded(hexBytes('020000000002 020000000001 9100 0fff 8100 0001 0806'));
    expect(f.tags.map((t) => [t.tpid, t.vid])).toEqual([
      [TPID_9100, 4095],
      [0x8100, 1],
    ]);
    expect(f.etherType).toBe(ETHERTYPE.ARP);
    expect(describeEthernet(f)).toContain('ethertype 802.1Q-9100 (0x9100)');
  });

  it('unknown EtherTypes and 802.3 lengths survive', () => {
    const f = decoded(hexBytes('020000000002 020000000001 1234 00'));
    expect(f.etherType).toBe(0x1234);
    expect(describeEthernet(f)).toContain('ethertype Unknown (0x1234)');
    const g = decoded(hexBytes('020000000002 020000000001 002e'));
    expect(g.etherType).toBe(46);
    expect(describeEthernet(g)).toContain('802.3 length 46');
  });
});

describe('faults', () => {
  it('under 14 bytes is truncated', () => {
    for (let n = 0; n < 14; n++) {
      const r = decodeEthernet(new Uint8Array(n));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('truncated');
        expect(r.layer).toBe('ethernet');
        expect(r.message).toContain(String(n));
      }
    }
  });

  it('a tag without its TCI and next EtherType is truncated', () => {
    const full = hexBytes('020000000002 020000000001 8100 0064 0800');
    for (let n = 14; n < 18; n++) {
      const r = decodeEthernet(full.subarray(0, n));
      expect(r.ok ? 'ok' : r.code).toBe('truncated');
    }
  });

  it(`${MAX_VLAN_TAGS} tags decode; one more is unsupported`, () => {
    const tag = '8100 0001 ';
    const four = decoded(hexBytes('020000000002 020000000001 ' + tag.repeat(4) + '0800'));
    expect(four.tags.length).toBe(4);
    expect(four.headerLength).toBe(30);
    const r = decodeEthernet(hexBytes('020000000002 020000000001 ' + tag.repeat(5) + '0800'));
    expect(r.ok ? 'ok' : r.code).toBe('unsupported');
    expect(ethernetHeaderLength(hexBytes('020000000002 020000000001 ' + tag.repeat(5) + '0800'))).toBe(-1);
  });

  it('encode refuses values that do not fit', () => {
    const h = (t: VlanTag): EthernetHeader => ({ dst: 1, src: 2, tags: [t], etherType: 0x0800 });
    expect(() => encodeEthernet(h({ tpid: 0x8100, pcp: 0, dei: false, vid: 4096 }))).toThrow(RangeError);
    expect(() => encodeEthernet(h({ tpid: 0x8100, pcp: 8, dei: false, vid: 1 }))).toThrow(RangeError);
    expect(() => encodeEthernet({ dst: 1, src: 2, tags: [], etherType: 0x10000 })).toThrow(RangeError);
    const five = Array.from({ length: 5 }, () => ({ tpid: 0x8100, pcp: 0, dei: false, vid: 1 }));
    expect(() => encodeEthernet({ dst: 1, src: 2, tags: five, etherType: 0x0800 })).toThrow(RangeError);
  });
});

const tpid = fc.constantFrom(ETHERTYPE.VLAN, ETHERTYPE.QINQ, TPID_9100);
const tagArb: fc.Arbitrary<VlanTag> = fc.record({
  tpid,
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.integer({ min: 0, max: 4095 }),
});
const mac48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const headerArb: fc.Arbitrary<EthernetHeader> = fc.record({
  dst: mac48,
  src: mac48,
  tags: fc.array(tagArb, { maxLength: MAX_VLAN_TAGS }),
  etherType: fc.integer({ min: 0, max: 0xffff }).filter((t) => !isVlanTpid(t)),
});
const payloadArb = fc.uint8Array({ maxLength: 100 });

/** Random frames that are mostly well-formed: a random header's bytes, then random bytes. */
const frameBytes = fc
  .tuple(headerArb, payloadArb, fc.integer({ min: 0, max: 40 }))
  .map(([h, p, cut]) => {
    const b = encodeEthernet(h, p);
    return b.subarray(0, Math.max(0, b.length - cut));
  });

describe('round trips', () => {
  it('decode(encode(h, p)) gives back h, p and the header length', () => {
    fc.assert(
      fc.property(headerArb, payloadArb, (h, p) => {
        const f = decoded(encodeEthernet(h, p));
        expect(f).toEqual({ ...h, headerLength: 14 + 4 * h.tags.length, payload: p });
      }),
    );
  });

  it('encode(decode(bytes)) is byte-identical', () => {
    fc.assert(
      fc.property(fc.oneof(frameBytes, fc.uint8Array({ minLength: 14, maxLength: 80 })), (b) => {
        const r = decodeEthernet(b);
        if (!r.ok) return;
        expect(encodeEthernet(r.value, r.value.payload)).toEqual(b);
      }),
    );
  });

  it('writeEthernet writes the same header at an offset', () => {
    fc.assert(
      fc.property(headerArb, fc.integer({ min: 0, max: 8 }), (h, off) => {
        const buf = new Uint8Array(off + 40);
        const n = writeEthernet(h, buf, off);
        expect(n).toBe(14 + 4 * h.tags.length);
        expect(buf.subarray(off, off + n)).toEqual(encodeEthernet(h));
      }),
    );
  });

  it('the payload is a view into the frame, not a copy', () => {
    const b = hexBytes('020000000002 020000000001 8100 0064 0800 0102');
    const f = decoded(b);
    expect(f.payload.buffer).toBe(b.buffer);
    b[18] = 0x99;
    expect(f.payload[0]).toBe(0x99);
  });
});

describe('fuzz and truncation', () => {
  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), frameBytes), (b) => {
        const r = decodeEthernet(b);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('every truncation: shorter than the header (tags included) fails; otherwise a shorter payload', () => {
    // Ethernet has no length field, so any cut at or past the header is a
    // valid, shorter frame; only cuts inside the header must fail.
    fc.assert(
      fc.property(headerArb, payloadArb, (h, p) => {
        const full = encodeEthernet(h, p);
        const hl = 14 + 4 * h.tags.length;
        for (let n = 0; n <= full.length; n++) {
          const r = decodeEthernet(full.subarray(0, n));
          if (n < hl) {
            expect(r.ok ? 'ok' : r.code).toBe('truncated');
          } else {
            expect(r.ok).toBe(true);
            if (r.ok) expect(r.value.payload.length).toBe(n - hl);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('fast accessors', () => {
  it('agree with the decoder on any input', () => {
    fc.assert(
      fc.property(fc.oneof(frameBytes, fc.uint8Array({ minLength: 14, maxLength: 40 })), (b) => {
        const r = decodeEthernet(b);
        if (!r.ok) {
          expect(ethernetHeaderLength(b)).toBe(-1);
          expect(ethernetEtherType(b)).toBe(-1);
          return;
        }
        const f = r.value;
        expect(ethernetDst(b)).toBe(f.dst);
        expect(ethernetSrc(b)).toBe(f.src);
        expect(ethernetHeaderLength(b)).toBe(f.headerLength);
        expect(ethernetEtherType(b)).toBe(f.etherType);
        expect(ethernetOuterType(b)).toBe(f.tags[0]?.tpid ?? f.etherType);
        expect(ethernetOuterVid(b)).toBe(f.tags[0]?.vid ?? -1);
        expect(ethernetIsMulticastDst(b)).toBe(Math.floor(f.dst / 2 ** 40) % 2 === 1);
      }),
      { numRuns: 1000 },
    );
  });

  it('are safe on short buffers', () => {
    for (let n = 0; n < 14; n++) {
      expect(ethernetHeaderLength(new Uint8Array(n))).toBe(-1);
      expect(ethernetEtherType(new Uint8Array(n))).toBe(-1);
      expect(ethernetOuterVid(new Uint8Array(n))).toBe(-1);
    }
  });

  it('known values', () => {
    const b = hexBytes('01005e000001 020000000001 88a8 0064 8100 00c8 0800');
    expect(ethernetDst(b)).toBe(parseMac('01:00:5e:00:00:01'));
    expect(ethernetIsMulticastDst(b)).toBe(true);
    expect(ethernetOuterVid(b)).toBe(100);
    expect(ethernetEtherType(b)).toBe(0x0800);
    expect(ethernetHeaderLength(b)).toBe(22);
  });
});
