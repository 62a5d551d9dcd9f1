import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../src/wire/address.js';
import {
  type UdpDatagram,
  decodeUdp,
  describeUdp,
  encodeUdp,
  udpChecksum,
  udpDstPort,
  udpLength,
  udpSrcPort,
  writeUdp,
} from '../../src/wire/udp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ip = { src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2') };

/** 10.0.0.1.40000 > 10.0.0.2.9, payload "hi"; checksum 0xe724 computed independently (Python, RFC 1071). */
const HI = hex('9c40 0009 000a e724 6869');

function dec(bytes: Uint8Array, opts = {}): UdpDatagram {
  const r = decodeUdp(bytes, opts);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

/** Payload ending in a word chosen so that the computed checksum is 0. */
function zeroSumPayload(): Uint8Array {
  const payload = hex('0102030405060000');
  const c = udpChecksum(encodeUdp({ srcPort: 1234, dstPort: 5678 }, payload, ip));
  payload[6] = c >>> 8;
  payload[7] = c & 0xff;
  return payload;
}

describe('udp: known answers', () => {
  it('decodes, verifies and describes a datagram; payload is a view', () => {
    const d = dec(HI, ip);
    expect(d).toMatchObject({ srcPort: 40000, dstPort: 9, length: 10, checksum: 0xe724 });
    expect(Buffer.from(d.payload).toString()).toBe('hi');
    expect(d.payload.buffer).toBe(HI.buffer);
    expect(describeUdp(d, ip)).toBe('10.0.0.1.40000 > 10.0.0.2.9: UDP, length 2');
    expect(describeUdp(d)).toBe('40000 > 9: UDP, length 2');
  });

  it('encodes the same bytes, checksum included', () => {
    expect(toHex(encodeUdp({ srcPort: 40000, dstPort: 9 }, hex('6869'), ip))).toBe(toHex(HI));
  });

  it('fast accessors read at an offset', () => {
    const framed = new Uint8Array(3 + HI.length);
    framed.set(HI, 3);
    expect([udpSrcPort(framed, 3), udpDstPort(framed, 3), udpLength(framed, 3), udpChecksum(framed, 3)]).toEqual([
      40000, 9, 10, 0xe724,
    ]);
  });

  it('writeUdp writes at an offset and returns the length', () => {
    const buf = new Uint8Array(40).fill(0xaa);
    expect(writeUdp({ srcPort: 40000, dstPort: 9 }, hex('6869'), ip, buf, 5)).toBe(10);
    expect(toHex(buf.subarray(5, 15))).toBe(toHex(HI));
    expect(buf[4]).toBe(0xaa);
    expect(buf[15]).toBe(0xaa);
  });
});

describe('udp: checksum rules', () => {
  it('a computed 0 is sent as 0xffff, and that verifies', () => {
    const payload = zeroSumPayload();
    const bytes = encodeUdp({ srcPort: 1234, dstPort: 5678 }, payload, ip);
    expect(udpChecksum(bytes)).toBe(0xffff);
    expect(dec(bytes, ip).checksum).toBe(0xffff);
  });

  it('checksum 0 means none: sent when asked, never verified', () => {
    const bytes = encodeUdp({ srcPort: 1, dstPort: 2, checksum: 0 }, hex('deadbeef'), ip);
    expect(udpChecksum(bytes)).toBe(0);
    bytes[9] = 0x10; // corrupt the payload (was 0xad): still accepted, there is no checksum to check
    expect(dec(bytes, ip).checksum).toBe(0);
  });

  it('bad-checksum when src/dst are given; skipped without them or with verifyChecksum false', () => {
    const bad = HI.slice();
    bad[9] = 0x68; // was 0x69
    const r = decodeUdp(bad, ip);
    expect(r).toMatchObject({ ok: false, layer: 'udp', code: 'bad-checksum' });
    expect(!r.ok && r.message).toMatch(/checksum 0xe724 does not verify \(expected 0xe725\)/);
    expect(decodeUdp(bad).ok).toBe(true);
    expect(decodeUdp(bad, { ...ip, verifyChecksum: false }).ok).toBe(true);
    expect(decodeUdp(HI, { src: ip.dst, dst: parseIPv4('10.0.0.3') })).toMatchObject({ code: 'bad-checksum' });
  });

  it('writes an explicit checksum as given', () => {
    expect(udpChecksum(encodeUdp({ srcPort: 1, dstPort: 2, checksum: 0x1234 }, hex('00'), ip))).toBe(0x1234);
  });
});

describe('udp: faults', () => {
  it('truncated below 8 bytes', () => {
    for (let n = 0; n < 8; n++) expect(decodeUdp(HI.subarray(0, n))).toMatchObject({ ok: false, code: 'truncated' });
  });

  it('bad-length for a length field of 7', () => {
    const b = HI.slice();
    b[5] = 7;
    const r = decodeUdp(b);
    expect(r).toMatchObject({ ok: false, code: 'bad-length' });
    expect(!r.ok && r.message).toMatch(/length field 7 is below the 8-byte header/);
  });

  it('bad-length for a length field past the buffer', () => {
    const b = HI.slice();
    b[5] = 11;
    const r = decodeUdp(b);
    expect(r).toMatchObject({ ok: false, code: 'bad-length' });
    expect(!r.ok && r.message).toMatch(/length field 11 runs past the 10 bytes received/);
  });

  it('ignores trailing bytes past the length field (link padding), also for the checksum', () => {
    const padded = new Uint8Array(HI.length + 6).fill(0x55);
    padded.set(HI);
    const d = dec(padded, ip);
    expect(toHex(d.payload)).toBe('6869');
    expect(d.length).toBe(10);
  });

  it('every truncation of a valid datagram fails, checksum or not', () => {
    for (let n = 0; n < HI.length; n++) expect(decodeUdp(HI.subarray(0, n)).ok, `length ${n}`).toBe(false);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (bytes, verify) => {
        const r = decodeUdp(bytes, verify ? ip : undefined);
        if (r.ok) expect(r.value.payload.length).toBe(r.value.length - 8);
      }),
      { numRuns: 3000 },
    );
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const addrArb = fc.record({ src: fc.integer({ min: 0, max: 0xffffffff }), dst: fc.integer({ min: 0, max: 0xffffffff }) });

describe('udp: round trips', () => {
  it('decode(encode(h)) reproduces ports and payload, and the checksum verifies', () => {
    fc.assert(
      fc.property(u16, u16, fc.uint8Array({ maxLength: 100 }), addrArb, (srcPort, dstPort, payload, addrs) => {
        const bytes = encodeUdp({ srcPort, dstPort }, payload, addrs);
        const d = dec(bytes, addrs);
        expect(d.srcPort).toBe(srcPort);
        expect(d.dstPort).toBe(dstPort);
        expect(d.length).toBe(8 + payload.length);
        expect(d.checksum).not.toBe(0);
        expect(toHex(d.payload)).toBe(toHex(payload));
      }),
      { numRuns: 1000 },
    );
  });

  it('encode(decode(bytes)) reproduces bytes[0, length) exactly, any checksum value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 60 }), fc.nat(), (bytes, cut) => {
        const b = bytes.slice();
        const length = 8 + (cut % (b.length - 7));
        b[4] = length >>> 8;
        b[5] = length & 0xff;
        const d = dec(b);
        expect(toHex(encodeUdp(d, d.payload, ip))).toBe(toHex(b.subarray(0, length)));
      }),
      { numRuns: 1000 },
    );
  });
});
