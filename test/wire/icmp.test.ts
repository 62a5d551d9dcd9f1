import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../src/wire/address.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import {
  ICMP_TIME_EXCEEDED,
  ICMP_TYPE,
  ICMP_UNREACH,
  type IcmpInit,
  type IcmpMessage,
  decodeIcmp,
  decodeQuotedDatagram,
  describeIcmp,
  encodeIcmp,
  icmpChecksum,
  icmpEchoIdentifier,
  icmpEchoSequence,
  writeIcmp,
} from '../../src/wire/icmp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** ping's echo request: id 5, seq 1, 56 data bytes 0x10..0x47; checksum 0x3f25 computed independently (Python). */
const PING_DATA = Uint8Array.from({ length: 56 }, (_, i) => 0x10 + i);
const PING = new Uint8Array(64);
PING.set(hex('08 00 3f25 0005 0001'));
PING.set(PING_DATA, 8);

/** An IPv4 header (10.0.0.1 > 10.0.0.2, protocol as given, total length 40) + 8 transport bytes (ports 40000 > 9). */
function quote(protocol: number): Uint8Array {
  return hex('4500 0028 1234 4000 40' + protocol.toString(16).padStart(2, '0') + '0000 0a000001 0a000002' + '9c40 0009 0014 0000');
}

function dec(bytes: Uint8Array, opts = {}): IcmpMessage {
  const r = decodeIcmp(bytes, opts);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

describe('icmp: echo', () => {
  it('decodes a known echo request and describes it like tcpdump', () => {
    const m = dec(PING);
    expect(m).toMatchObject({ kind: 'echo-request', type: 8, code: 0, checksum: 0x3f25, identifier: 5, sequence: 1 });
    if (m.kind !== 'echo-request') return;
    expect(toHex(m.data)).toBe(toHex(PING_DATA));
    expect(m.data.buffer).toBe(PING.buffer);
    expect(describeIcmp(m)).toBe('ICMP echo request, id 5, seq 1, length 64');
  });

  it('encodes the same bytes', () => {
    expect(toHex(encodeIcmp({ kind: 'echo-request', identifier: 5, sequence: 1, data: PING_DATA }))).toBe(toHex(PING));
    expect(icmpEchoIdentifier(PING)).toBe(5);
    expect(icmpEchoSequence(PING)).toBe(1);
  });

  it('echo reply: type 0, checksum that verifies, describe', () => {
    const bytes = encodeIcmp({ kind: 'echo-reply', identifier: 0xbeef, sequence: 65535, data: hex('00ff') });
    expect(bytes[0]).toBe(ICMP_TYPE.ECHO_REPLY);
    expect(internetChecksum(bytes)).toBe(0);
    expect(describeIcmp(dec(bytes))).toBe('ICMP echo reply, id 48879, seq 65535, length 10');
  });

  it('writeIcmp writes at an offset', () => {
    const buf = new Uint8Array(80).fill(0xaa);
    expect(writeIcmp({ kind: 'echo-request', identifier: 5, sequence: 1, data: PING_DATA }, buf, 4)).toBe(64);
    expect(toHex(buf.subarray(4, 68))).toBe(toHex(PING));
    expect(buf[3]).toBe(0xaa);
    expect(buf[68]).toBe(0xaa);
  });
});

describe('icmp: errors', () => {
  it('port unreachable quoting UDP: kind, quote as a view, tcpdump line', () => {
    const bytes = encodeIcmp({ kind: 'dest-unreachable', code: ICMP_UNREACH.PORT, quoted: quote(17) });
    expect(toHex(bytes.subarray(0, 2))).toBe('0303');
    const m = dec(bytes);
    expect(m.kind).toBe('dest-unreachable');
    if (m.kind !== 'dest-unreachable') return;
    expect(m.quoted.byteOffset).toBe(bytes.byteOffset + 8);
    expect(m.quoted.buffer).toBe(bytes.buffer);
    expect(toHex(m.quoted)).toBe(toHex(quote(17)));
    expect(describeIcmp(m)).toBe('ICMP 10.0.0.2 udp port 9 unreachable, length 36');
    const q = decodeQuotedDatagram(m.quoted);
    expect(q).toMatchObject({
      ok: true,
      value: { src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2'), protocol: 17, headerLength: 20, totalLength: 40, identification: 0x1234, ttl: 64, srcPort: 40000, dstPort: 9 },
    });
  });

  it('port unreachable quoting TCP, and keeps a longer quote whole', () => {
    const long = new Uint8Array(28 + 100);
    long.set(quote(6));
    long.fill(0x77, 28);
    const m = dec(encodeIcmp({ kind: 'dest-unreachable', code: 3, quoted: long }));
    expect(describeIcmp(m)).toBe('ICMP 10.0.0.2 tcp port 9 unreachable, length 136');
    expect(m.kind === 'dest-unreachable' && m.quoted.length).toBe(128);
  });

  it('fragmentation needed carries the next-hop MTU in bytes 6-7', () => {
    const bytes = encodeIcmp({ kind: 'dest-unreachable', code: ICMP_UNREACH.FRAGMENTATION_NEEDED, nextHopMtu: 1400, quoted: quote(6) });
    expect(toHex(bytes.subarray(4, 8))).toBe('00000578');
    const m = dec(bytes);
    expect(m).toMatchObject({ kind: 'dest-unreachable', code: 4, nextHopMtu: 1400, unused: 0 });
    expect(describeIcmp(m)).toBe('ICMP 10.0.0.2 unreachable - need to frag (mtu 1400), length 36');
    const old = dec(encodeIcmp({ kind: 'dest-unreachable', code: 4, quoted: quote(6) }));
    expect(describeIcmp(old)).toBe('ICMP 10.0.0.2 unreachable - need to frag, length 36');
  });

  it('names all sixteen unreachable codes as tcpdump does', () => {
    const expected = [
      'net 10.0.0.2 unreachable',
      'host 10.0.0.2 unreachable',
      '10.0.0.2 protocol 17 unreachable',
      '10.0.0.2 udp port 9 unreachable',
      '10.0.0.2 unreachable - need to frag',
      '10.0.0.2 unreachable - source route failed',
      'net 10.0.0.2 unreachable - unknown',
      'host 10.0.0.2 unreachable - unknown',
      '10.0.0.2 unreachable - source host isolated',
      'net 10.0.0.2 unreachable - admin prohibited',
      'host 10.0.0.2 unreachable - admin prohibited',
      'net 10.0.0.2 unreachable - tos prohibited',
      'host 10.0.0.2 unreachable - tos prohibited',
      'host 10.0.0.2 unreachable - admin prohibited filter',
      'host 10.0.0.2 unreachable - host precedence violation',
      'host 10.0.0.2 unreachable - precedence cutoff',
    ];
    expect(Object.values(ICMP_UNREACH)).toEqual([...Array(16).keys()]);
    for (let code = 0; code < 16; code++) {
      const m = dec(encodeIcmp({ kind: 'dest-unreachable', code, quoted: quote(17) }));
      expect(describeIcmp(m)).toBe(`ICMP ${expected[code]}, length 36`);
    }
    expect(describeIcmp(dec(encodeIcmp({ kind: 'dest-unreachable', code: 99, quoted: quote(17) })))).toBe(
      'ICMP #99 10.0.0.2 unreachable, length 36',
    );
  });

  it('time exceeded: in transit and reassembly', () => {
    const ttl = dec(encodeIcmp({ kind: 'time-exceeded', code: ICMP_TIME_EXCEEDED.TTL, quoted: quote(17) }));
    expect(ttl).toMatchObject({ kind: 'time-exceeded', type: 11, code: 0, unused: 0 });
    expect(describeIcmp(ttl)).toBe('ICMP time exceeded in-transit, length 36');
    const reass = dec(encodeIcmp({ kind: 'time-exceeded', code: ICMP_TIME_EXCEEDED.REASSEMBLY, quoted: quote(17) }));
    expect(describeIcmp(reass)).toBe('ICMP ip reassembly time exceeded, length 36');
  });

  it('describes an unparseable quote without throwing', () => {
    const m = dec(encodeIcmp({ kind: 'dest-unreachable', code: 3, quoted: hex('4500') }));
    expect(describeIcmp(m)).toMatch(/^ICMP unreachable code 3 \(quoted datagram unreadable: .*needs 20\), length 10$/);
  });

  it('decodeQuotedDatagram refuses short, non-v4 and bad-IHL quotes', () => {
    expect(decodeQuotedDatagram(quote(17).subarray(0, 19))).toMatchObject({ ok: false, code: 'truncated' });
    const v6 = quote(17);
    v6[0] = 0x65;
    expect(decodeQuotedDatagram(v6)).toMatchObject({ ok: false, code: 'bad-version' });
    const ihl4 = quote(17);
    ihl4[0] = 0x44;
    expect(decodeQuotedDatagram(ihl4)).toMatchObject({ ok: false, code: 'bad-ihl' });
    const ihl15 = quote(17);
    ihl15[0] = 0x4f;
    expect(decodeQuotedDatagram(ihl15)).toMatchObject({ ok: false, code: 'bad-ihl' });
    // IP header only: parsed, but without ports.
    const bare = decodeQuotedDatagram(quote(17).subarray(0, 20));
    expect(bare.ok && bare.value.srcPort).toBe(undefined);
  });
});

describe('icmp: other types and faults', () => {
  it('keeps an unknown type byte for byte, checksum included', () => {
    const bytes = hex('2a 07 0000 01020304 aabbccdd ee');
    const c = internetChecksum(bytes);
    bytes[2] = c >>> 8;
    bytes[3] = c & 0xff;
    const m = dec(bytes);
    expect(m).toMatchObject({ kind: 'other', type: 42, code: 7 });
    if (m.kind !== 'other') return;
    expect(toHex(m.restOfHeader)).toBe('01020304');
    expect(toHex(m.body)).toBe('aabbccddee');
    expect(toHex(encodeIcmp(m))).toBe(toHex(bytes));
    expect(describeIcmp(m)).toBe('ICMP type-#42, length 13');
    expect(describeIcmp(dec(encodeIcmp({ kind: 'other', type: ICMP_TYPE.TIMESTAMP, code: 0, body: new Uint8Array(12) })))).toBe(
      'ICMP time stamp request, length 20',
    );
  });

  it('truncated below 8 bytes', () => {
    for (let n = 0; n < 8; n++) expect(decodeIcmp(PING.subarray(0, n))).toMatchObject({ ok: false, layer: 'icmp', code: 'truncated' });
  });

  it('bad-checksum by default; verifyChecksum false skips it', () => {
    const bad = PING.slice();
    bad[20] = 0x1d; // was 0x1c
    const r = decodeIcmp(bad);
    expect(r).toMatchObject({ ok: false, code: 'bad-checksum' });
    expect(!r.ok && r.message).toMatch(/type 8 checksum 0x3f25 over 64 bytes does not verify \(expected 0x3e25\)/);
    expect(decodeIcmp(bad, { verifyChecksum: false }).ok).toBe(true);
  });

  it('every truncation of a valid echo fails', () => {
    for (let n = 0; n < PING.length; n++) expect(decodeIcmp(PING.subarray(0, n)).ok, `length ${n}`).toBe(false);
  });

  it('encoder refuses out-of-range fields', () => {
    expect(() => encodeIcmp({ kind: 'echo-request', identifier: 70000, sequence: 0 })).toThrow(RangeError);
    expect(() => encodeIcmp({ kind: 'other', type: 300, code: 0 })).toThrow(RangeError);
    expect(() => encodeIcmp({ kind: 'other', type: 42, code: 0, restOfHeader: hex('01') })).toThrow(RangeError);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, verify) => {
        const r = decodeIcmp(bytes, { verifyChecksum: verify });
        if (r.ok) describeIcmp(r.value);
      }),
      { numRuns: 3000 },
    );
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const byte = fc.integer({ min: 0, max: 255 });
const body = fc.uint8Array({ maxLength: 60 });
const initArb: fc.Arbitrary<IcmpInit> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const), code: byte, identifier: u16, sequence: u16, data: body }),
  fc.record({ kind: fc.constant('dest-unreachable' as const), code: byte, unused: u16, nextHopMtu: u16, quoted: body }),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: byte, unused: fc.integer({ min: 0, max: 0xffffffff }), quoted: body }),
  fc.record({
    kind: fc.constant('other' as const),
    type: byte.filter((t) => ![0, 3, 8, 11].includes(t)),
    code: byte,
    restOfHeader: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    body,
  }),
);

describe('icmp: round trips', () => {
  it('decode(encode(m)) reproduces every field', () => {
    fc.assert(
      fc.property(initArb, (m) => {
        const bytes = encodeIcmp(m);
        expect(internetChecksum(bytes)).toBe(0);
        const back = dec(bytes);
        const { checksum, ...rest } = back;
        expect(checksum).toBe(icmpChecksum(bytes));
        expect(back.type).toBe(bytes[0]);
        // For the known kinds the type follows from the kind; only 'other' carries it in the input.
        if (m.kind !== 'other') delete (rest as { type?: number }).type;
        expect(rest).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  it('encode(decode(bytes)) is byte-identical for any message with a valid checksum, and for any with checks off', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 80 }), fc.boolean(), (raw, fix) => {
        const bytes = raw.slice();
        if (fix) {
          bytes[2] = 0;
          bytes[3] = 0;
          const c = internetChecksum(bytes);
          bytes[2] = c >>> 8;
          bytes[3] = c & 0xff;
        }
        const r = decodeIcmp(bytes, { verifyChecksum: fix });
        expect(r.ok).toBe(true);
        if (r.ok) expect(toHex(encodeIcmp(r.value))).toBe(toHex(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
