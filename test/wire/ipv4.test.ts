/**
 * IPv4: the classic b861 header, every named fault from a crafted header,
 * options (Router Alert, Record Route), fragments, padding, round trips,
 * fuzzing, truncation, fast accessors and the in-place TTL decrement.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../src/wire/address.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import {
  IP_PROTOCOL,
  IPV4_OPTION,
  type IPv4Header,
  type IPv4Packet,
  computeIPv4Checksum,
  decodeIPv4,
  describeIPv4,
  encodeIPv4,
  ipv4Checksum,
  ipv4ChecksumValid,
  ipv4DecrementTtl,
  ipv4Dst,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Ttl,
  ipv4Version,
  parseIPv4Options,
  writeIPv4Header,
} from '../../src/wire/ipv4.js';

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function decoded(buf: Uint8Array, verifyChecksum = true): IPv4Packet {
  const r = decodeIPv4(buf, { verifyChecksum });
  if (!r.ok) throw new Error(`expected IPv4, got ${r.code}: ${r.message}`);
  return r.value;
}

function codeOf(buf: Uint8Array, verifyChecksum = true): string {
  const r = decodeIPv4(buf, { verifyChecksum });
  return r.ok ? 'ok' : r.code;
}

/** Sets a header's checksum field to the right value, in place. */
function fixChecksum(b: Uint8Array): Uint8Array {
  const cs = computeIPv4Checksum(b);
  b[10] = cs >>> 8;
  b[11] = cs & 0xff;
  return b;
}

// The well-known example: UDP, 115 bytes, DF, TTL 64, 192.168.0.1 → 192.168.0.199.
const B861_HEADER = '4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7';
function b861Packet(): Uint8Array {
  const b = new Uint8Array(0x73);
  b.set(hexBytes(B861_HEADER));
  for (let i = 20; i < b.length; i++) b[i] = i & 0xff;
  return b;
}

describe('known headers', () => {
  it('the b861 header: every field', () => {
    const b = b861Packet();
    const p = decoded(b);
    expect(p.version).toBe(4);
    expect(p.headerLength).toBe(20);
    expect(p.dscp).toBe(0);
    expect(p.ecn).toBe(0);
    expect(p.totalLength).toBe(115);
    expect(p.identification).toBe(0);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.reservedFlag).toBe(false);
    expect(p.fragmentOffset).toBe(0);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(IP_PROTOCOL.UDP);
    expect(p.checksum).toBe(0xb861);
    expect(p.src).toBe(parseIPv4('192.168.0.1'));
    expect(p.dst).toBe(parseIPv4('192.168.0.199'));
    expect(p.options.length).toBe(0);
    expect(p.payload.length).toBe(95);
    expect(p.payload.buffer).toBe(b.buffer);
    expect(describeIPv4(p)).toBe(
      'IP 192.168.0.1 > 192.168.0.199: tos 0x0, ttl 64, id 0, offset 0, flags [DF], proto UDP (17), length 115',
    );
  });

  it('encoding the b861 fields computes b861', () => {
    const b = b861Packet();
    const p = decoded(b);
    const { checksum: _c, totalLength: _t, ...fields } = p;
    expect(encodeIPv4(fields, p.payload)).toEqual(b);
    expect(computeIPv4Checksum(hexBytes(B861_HEADER))).toBe(0xb861);
  });

  it('trailing Ethernet padding is excluded from the payload', () => {
    // A 28-byte ICMP echo in a 46-byte Ethernet payload.
    const ip = encodeIPv4(
      {
        dscp: 0, ecn: 0, identification: 7, dontFragment: false, moreFragments: false, reservedFlag: false,
        fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.ICMP, src: 1, dst: 2, options: new Uint8Array(0),
      },
      new Uint8Array(8).fill(0xee),
    );
    const padded = new Uint8Array(46);
    padded.set(ip);
    const p = decoded(padded);
    expect(p.totalLength).toBe(28);
    expect([...p.payload]).toEqual(new Array(8).fill(0xee));
  });

  it('fragment fields: MF with offset 185 words is 1480 bytes', () => {
    const b = fixChecksum(hexBytes('4500 05dc 1234 20b9 4001 0000 0a000001 0a000002' + '00'.repeat(1480)));
    const p = decoded(b);
    expect(p.moreFragments).toBe(true);
    expect(p.dontFragment).toBe(false);
    expect(p.fragmentOffset).toBe(1480);
    expect(p.identification).toBe(0x1234);
    expect(ipv4IsFragment(b)).toBe(true);
    expect(describeIPv4(p)).toContain('offset 1480, flags [+]');
    const last = fixChecksum(hexBytes('4500 0014 1234 00b9 4001 0000 0a000001 0a000002'));
    expect(ipv4IsFragment(last)).toBe(true);
    expect(ipv4IsFragment(b861Packet())).toBe(false);
  });

  it('TOS: DSCP 46 (EF) and ECN CE', () => {
    const b = fixChecksum(hexBytes('45bb 0014 0000 8000 0106 0000 0a000001 0a000002'));
    const p = decoded(b);
    expect(p.dscp).toBe(46);
    expect(p.ecn).toBe(3);
    expect(p.reservedFlag).toBe(true);
    expect(describeIPv4(p)).toContain('tos 0xbb');
    expect(describeIPv4(p)).toContain('flags [rsvd]');
    expect(describeIPv4(p)).toContain('proto TCP (6)');
  });

  it('unknown protocols survive', () => {
    const b = fixChecksum(hexBytes('4500 0014 0000 0000 40fd 0000 0a000001 0a000002'));
    const p = decoded(b);
    expect(p.protocol).toBe(253);
    expect(describeIPv4(p)).toContain('proto unknown (253)');
    expect(encodeIPv4(p, p.payload)).toEqual(b);
  });
});

describe('options', () => {
  it('Router Alert (IGMP-style header, IHL 6)', () => {
    const b = fixChecksum(hexBytes('4600 0018 0000 0000 0102 0000 0a000001 e0000016 9404 0000'));
    const p = decoded(b);
    expect(p.headerLength).toBe(24);
    expect([...p.options]).toEqual([0x94, 0x04, 0x00, 0x00]);
    const opts = parseIPv4Options(p.options);
    expect(opts.ok && opts.value.map((o) => [o.kind, o.length, [...o.data]])).toEqual([[IPV4_OPTION.ROUTER_ALERT, 4, [0, 0]]]);
    expect(describeIPv4(p)).toContain('proto IGMP (2), length 24, options (Router Alert)');
    expect(encodeIPv4(p, p.payload)).toEqual(b);
  });

  it('Record Route with room for one address, then EOL', () => {
    const b = fixChecksum(hexBytes('4700 001c 0000 0000 4001 0000 0a000001 0a000002 0707 04 00000000 00'));
    const p = decoded(b);
    expect(p.headerLength).toBe(28);
    const opts = parseIPv4Options(p.options);
    expect(opts.ok).toBe(true);
    if (!opts.ok) return;
    expect(opts.value.map((o) => o.kind)).toEqual([IPV4_OPTION.RECORD_ROUTE, IPV4_OPTION.EOL]);
    expect([...opts.value[0]!.data]).toEqual([4, 0, 0, 0, 0]);
    expect(describeIPv4(p)).toContain('options (Record Route)');
  });

  it('NOPs and an unknown kind are iterated and named', () => {
    const o = parseIPv4Options(hexBytes('01 01 1e 04 aabb 00 00'));
    expect(o.ok && o.value.map((x) => [x.kind, x.length])).toEqual([
      [1, 1],
      [1, 1],
      [30, 4],
      [0, 1],
    ]);
    const b = fixChecksum(hexBytes('4600 0018 0000 0000 4001 0000 0a000001 0a000002 011e 0200'));
    expect(describeIPv4(decoded(b))).toContain('options (NOP, option 30)');
  });

  it('bad-option: missing length octet, length below 2, length past the area', () => {
    for (const hex of ['01 01 01 94', '94 01 00 00', '94 05 00 00', '07 00']) {
      const r = parseIPv4Options(hexBytes(hex));
      expect(r.ok ? 'ok' : r.code, hex).toBe('bad-option');
    }
    // The packet still decodes (options are kept as bytes); describe says what is wrong.
    const b = fixChecksum(hexBytes('4600 0018 0000 0000 4001 0000 0a000001 0a000002 9405 0000'));
    expect(describeIPv4(decoded(b))).toContain('options (bad: option 148 at offset 0 has length 5');
  });

  it('encode refuses options that are not a multiple of 4 or longer than 40', () => {
    const h = headerOf({ options: new Uint8Array(3) });
    expect(() => encodeIPv4(h)).toThrow(RangeError);
    expect(() => encodeIPv4(headerOf({ options: new Uint8Array(44) }))).toThrow(RangeError);
    expect(encodeIPv4(headerOf({ options: new Uint8Array(40) })).length).toBe(60);
  });
});

function headerOf(over: Partial<IPv4Header>): IPv4Header {
  return {
    dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false,
    fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.TCP, src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2'),
    options: new Uint8Array(0), ...over,
  };
}

describe('faults', () => {
  const good = () => b861Packet();

  it('truncated: under 20 bytes', () => {
    for (let n = 0; n < 20; n++) expect(codeOf(good().subarray(0, n))).toBe('truncated');
  });

  it('bad-version', () => {
    const b = good();
    b[0] = 0x65;
    const r = decodeIPv4(b);
    expect(r.ok ? 'ok' : r.code).toBe('bad-version');
    expect(!r.ok && r.message).toContain('version 6');
  });

  it('bad-ihl: below 5, and past the buffer', () => {
    for (let ihl = 0; ihl < 5; ihl++) {
      const b = good();
      b[0] = 0x40 | ihl;
      expect(codeOf(b)).toBe('bad-ihl');
    }
    const b = good().subarray(0, 40);
    b[0] = 0x4f; // 60-byte header in 40 bytes
    const r = decodeIPv4(b);
    expect(r.ok ? 'ok' : r.code).toBe('bad-ihl');
    expect(!r.ok && r.message).toContain('60');
  });

  it('bad-total-length: below the header length, and past the buffer', () => {
    const b = good();
    b[2] = 0;
    b[3] = 19;
    expect(codeOf(b)).toBe('bad-total-length');
    const c = good();
    c[3] = 0x74; // 116 in a 115-byte buffer
    const r = decodeIPv4(c);
    expect(r.ok ? 'ok' : r.code).toBe('bad-total-length');
    expect(!r.ok && r.message).toContain('116');
  });

  it('bad-checksum (and verifyChecksum: false lets it through)', () => {
    const b = good();
    b[11] = 0x62;
    const r = decodeIPv4(b);
    expect(r.ok ? 'ok' : r.code).toBe('bad-checksum');
    expect(!r.ok && r.message).toContain('0xb862');
    expect(!r.ok && r.message).toContain('0xb861');
    expect(decoded(b, false).checksum).toBe(0xb862);
    // A flipped bit elsewhere in the header is caught too.
    const c = good();
    c[8] = 0x41; // TTL 64 → 65
    expect(codeOf(c)).toBe('bad-checksum');
    // A flipped bit in the payload is not the header checksum's business.
    const d = good();
    d[50] = 0xff - d[50]!;
    expect(codeOf(d)).toBe('ok');
  });

  it('encode refuses field values that do not fit', () => {
    expect(() => encodeIPv4(headerOf({ fragmentOffset: 12 }))).toThrow(RangeError);
    expect(() => encodeIPv4(headerOf({ fragmentOffset: 8192 * 8 }))).toThrow(RangeError);
    expect(() => encodeIPv4(headerOf({ ttl: 256 }))).toThrow(RangeError);
    expect(() => encodeIPv4(headerOf({ dscp: 64 }))).toThrow(RangeError);
    expect(() => encodeIPv4(headerOf({}), new Uint8Array(65516))).toThrow(RangeError);
    expect(encodeIPv4(headerOf({}), new Uint8Array(65515)).length).toBe(65535);
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const optionsArb = fc.integer({ min: 0, max: 10 }).chain((words) =>
  fc.uint8Array({ minLength: words * 4, maxLength: words * 4 }),
);
const headerArb: fc.Arbitrary<IPv4Header> = fc.record({
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  identification: fc.integer({ min: 0, max: 0xffff }),
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  reservedFlag: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((w) => w * 8),
  ttl: fc.integer({ min: 0, max: 255 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  src: u32,
  dst: u32,
  options: optionsArb,
});
const payloadArb = fc.uint8Array({ maxLength: 120 });

describe('round trips', () => {
  it('decode(encode(h, p)) gives back h and p, with a verifying checksum', () => {
    fc.assert(
      fc.property(headerArb, payloadArb, (h, p) => {
        const b = encodeIPv4(h, p);
        const got = decoded(b);
        const { version, headerLength, totalLength, checksum, payload, ...fields } = got;
        expect(fields).toEqual(h);
        expect(version).toBe(4);
        expect(headerLength).toBe(20 + h.options.length);
        expect(totalLength).toBe(b.length);
        expect(checksum).toBe((b[10]! << 8) | b[11]!);
        expect(checksum).toBe(computeIPv4Checksum(b));
        expect(internetChecksum(b, 0, headerLength)).toBe(0);
        expect(payload).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(bytes)) is byte-identical, even with a wrong checksum or padding removed', () => {
    fc.assert(
      fc.property(headerArb, payloadArb, fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 20 }), (h, p, cs, pad) => {
        const b = encodeIPv4({ ...h, checksum: cs }, p);
        const padded = new Uint8Array(b.length + pad.length);
        padded.set(b);
        padded.set(pad, b.length);
        const got = decoded(padded, false);
        expect(got.checksum).toBe(cs);
        expect(encodeIPv4(got, got.payload)).toEqual(b);
      }),
      { numRuns: 500 },
    );
  });

  it('a given totalLength is written as is', () => {
    const b = encodeIPv4(headerOf({ totalLength: 1000 }), new Uint8Array(4));
    expect(ipv4TotalLength(b)).toBe(1000);
    expect(codeOf(b)).toBe('bad-total-length');
  });

  it('writeIPv4Header at an offset matches encodeIPv4', () => {
    fc.assert(
      fc.property(headerArb, fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 100 }), (h, off, plen) => {
        const buf = new Uint8Array(off + 60).fill(0x5a); // stale bytes where the checksum goes
        const n = writeIPv4Header(h, buf, off, plen);
        expect(n).toBe(20 + h.options.length);
        expect(buf.subarray(off, off + n)).toEqual(encodeIPv4(h, new Uint8Array(plen)).subarray(0, n));
      }),
    );
  });
});

describe('fuzz and truncation', () => {
  it('random bytes never throw, with or without checksum verification', () => {
    const ipish = fc.uint8Array({ minLength: 0, maxLength: 80 }).map((b) => {
      if (b.length > 0) b[0] = 0x40 | (b[0]! & 0x0f);
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), ipish), fc.boolean(), (b, v) => {
        const r = decodeIPv4(b, { verifyChecksum: v });
        expect(typeof r.ok).toBe('boolean');
        if (r.ok) {
          expect(r.value.payload.length).toBe(r.value.totalLength - r.value.headerLength);
          expect(describeIPv4(r.value)).toMatch(/^IP /);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('every truncation of a valid packet fails (total length no longer fits)', () => {
    // Unlike Ethernet, IPv4 carries its total length, so no shorter parse is valid.
    fc.assert(
      fc.property(headerArb, payloadArb, (h, p) => {
        const b = encodeIPv4(h, p);
        for (let n = 0; n < b.length; n++) {
          const r = decodeIPv4(b.subarray(0, n));
          expect(r.ok).toBe(false);
          if (!r.ok) {
            const expected = n < 20 ? 'truncated' : n < 20 + h.options.length ? 'bad-ihl' : 'bad-total-length';
            expect(r.code).toBe(expected);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('fast accessors and TTL decrement', () => {
  it('accessors agree with the decoder, at any offset', () => {
    fc.assert(
      fc.property(headerArb, payloadArb, fc.integer({ min: 0, max: 20 }), (h, p, off) => {
        const pkt = encodeIPv4(h, p);
        const buf = new Uint8Array(off + pkt.length);
        buf.set(pkt, off);
        const d = decoded(pkt);
        expect(ipv4Version(buf, off)).toBe(4);
        expect(ipv4HeaderLength(buf, off)).toBe(d.headerLength);
        expect(ipv4TotalLength(buf, off)).toBe(d.totalLength);
        expect(ipv4Protocol(buf, off)).toBe(d.protocol);
        expect(ipv4Ttl(buf, off)).toBe(d.ttl);
        expect(ipv4Src(buf, off)).toBe(d.src);
        expect(ipv4Dst(buf, off)).toBe(d.dst);
        expect(ipv4Checksum(buf, off)).toBe(d.checksum);
        expect(ipv4ChecksumValid(buf, off)).toBe(true);
        expect(ipv4IsFragment(buf, off)).toBe(d.moreFragments || d.fragmentOffset !== 0);
      }),
    );
  });

  it('ipv4DecrementTtl keeps the checksum equal to a recomputation (RFC 1624)', () => {
    fc.assert(
      fc.property(headerArb, fc.integer({ min: 0, max: 20 }), (h, off) => {
        fc.pre(h.ttl > 0);
        const pkt = encodeIPv4(h, new Uint8Array(4));
        const buf = new Uint8Array(off + pkt.length);
        buf.set(pkt, off);
        expect(ipv4DecrementTtl(buf, off)).toBe(h.ttl - 1);
        expect(ipv4Ttl(buf, off)).toBe(h.ttl - 1);
        expect(ipv4Checksum(buf, off)).toBe(computeIPv4Checksum(buf, off));
        expect(ipv4ChecksumValid(buf, off)).toBe(true);
        // Only the TTL and checksum bytes changed.
        for (let i = 0; i < pkt.length; i++) {
          if (i !== 8 && i !== 10 && i !== 11) expect(buf[off + i]).toBe(pkt[i]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the b861 header forwarded: TTL 64 → 63, checksum b861 → b961', () => {
    const b = b861Packet();
    expect(ipv4DecrementTtl(b)).toBe(63);
    expect(ipv4Checksum(b)).toBe(0xb961);
    expect(decoded(b).ttl).toBe(63);
  });

  it('TTL 1 goes to 0; TTL 0 is left alone and reported as -1', () => {
    const b = encodeIPv4(headerOf({ ttl: 1 }));
    expect(ipv4DecrementTtl(b)).toBe(0);
    expect(codeOf(b)).toBe('ok');
    const before = b.slice();
    expect(ipv4DecrementTtl(b)).toBe(-1);
    expect(b).toEqual(before);
  });
});
