/**
 * ARP for Ethernet/IPv4: a captured request and reply, tcpdump-style
 * summaries, each named fault, round trips, fuzzing and truncation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4, parseMac } from '../../src/wire/address.js';
import {
  ARP_OP,
  type ArpPacket,
  arpOperation,
  arpPacket,
  arpRequest,
  arpSenderIp,
  arpTargetIp,
  decodeArp,
  describeArp,
  encodeArp,
  writeArp,
} from '../../src/wire/arp.js';
import { decodeEthernet } from '../../src/wire/ethernet.js';

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function decoded(buf: Uint8Array): ArpPacket {
  const r = decodeArp(buf);
  if (!r.ok) throw new Error(`expected ARP, got ${r.code}: ${r.message}`);
  return r.value;
}

const REQUEST = '0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002';
const REPLY = '0001 0800 06 04 0002 0242ac110002 0a000002 020000000001 0a000001';

describe('known packets', () => {
  it('request: every field, and the tcpdump line', () => {
    const p = decoded(hexBytes(REQUEST));
    expect(p).toEqual({
      hardwareType: 1,
      protocolType: 0x0800,
      hardwareLength: 6,
      protocolLength: 4,
      operation: ARP_OP.REQUEST,
      senderMac: parseMac('02:00:00:00:00:01'),
      senderIp: parseIPv4('10.0.0.1'),
      targetMac: 0,
      targetIp: parseIPv4('10.0.0.2'),
    });
    expect(describeArp(p)).toBe('ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28');
    expect(encodeArp(arpRequest(p.senderMac, p.senderIp, p.targetIp))).toEqual(hexBytes(REQUEST));
  });

  it('reply', () => {
    const p = decoded(hexBytes(REPLY));
    expect(p.operation).toBe(ARP_OP.REPLY);
    expect(describeArp(p)).toBe('ARP, Reply 10.0.0.2 is-at 02:42:ac:11:00:02, length 28');
  });

  it('a unicast request (target MAC known) shows it, as tcpdump does', () => {
    const p = arpPacket(1, 0x020000000001, parseIPv4('10.0.0.1'), 0x020000000002, parseIPv4('10.0.0.2'));
    expect(describeArp(p)).toBe('ARP, Request who-has 10.0.0.2 (02:00:00:00:00:02) tell 10.0.0.1, length 28');
  });

  it('RARP and unknown operations survive and are named', () => {
    const rarp = arpPacket(3, 0x020000000001, 0, 0x020000000009, 0);
    expect(describeArp(rarp)).toBe('ARP, Reverse Request who-is 02:00:00:00:00:09 tell 02:00:00:00:00:01, length 28');
    const odd = decoded(encodeArp(arpPacket(0x1234, 1, 2, 3, 4)));
    expect(odd.operation).toBe(0x1234);
    expect(describeArp(odd)).toBe('ARP, Unknown operation (4660), length 28');
  });

  it('inside a padded 60-byte Ethernet frame: padding is ignored', () => {
    const frame = hexBytes('ffffffffffff 020000000001 0806' + REQUEST + '00'.repeat(18));
    const e = decodeEthernet(frame);
    expect(e.ok).toBe(true);
    if (!e.ok) return;
    expect(e.value.payload.length).toBe(46);
    expect(decoded(e.value.payload)).toEqual(decoded(hexBytes(REQUEST)));
  });

  it('fast accessors', () => {
    const b = hexBytes(REPLY);
    expect(arpOperation(b)).toBe(2);
    expect(arpSenderIp(b)).toBe(parseIPv4('10.0.0.2'));
    expect(arpTargetIp(b)).toBe(parseIPv4('10.0.0.1'));
  });
});

describe('faults', () => {
  const base = hexBytes(REQUEST);
  const withByte = (i: number, v: number) => {
    const b = base.slice();
    b[i] = v;
    return b;
  };
  const code = (b: Uint8Array) => {
    const r = decodeArp(b);
    return r.ok ? 'ok' : r.code;
  };

  it('truncated: under the 8-byte fixed part, and under 28 bytes', () => {
    for (let n = 0; n < 28; n++) expect(code(base.subarray(0, n)), `length ${n}`).toBe('truncated');
    const r = decodeArp(base.subarray(0, 27));
    expect(!r.ok && r.message).toContain('27');
  });

  it('hardware type other than Ethernet is unsupported', () => {
    const r = decodeArp(withByte(1, 6)); // IEEE 802 networks
    expect(r.ok ? 'ok' : r.code).toBe('unsupported');
    expect(!r.ok && r.message).toContain('hardware type 6');
  });

  it('protocol type other than IPv4 is unsupported', () => {
    const b = base.slice();
    b[2] = 0x86;
    b[3] = 0xdd;
    const r = decodeArp(b);
    expect(r.ok ? 'ok' : r.code).toBe('unsupported');
    expect(!r.ok && r.message).toContain('0x86dd');
  });

  it('hlen/plen that disagree with Ethernet/IPv4 are bad-length, naming both', () => {
    const r = decodeArp(withByte(4, 8));
    expect(r.ok ? 'ok' : r.code).toBe('bad-length');
    expect(!r.ok && r.message).toContain('hardware length 8 / protocol length 4');
    expect(code(withByte(5, 16))).toBe('bad-length');
  });

  it('encode refuses lengths it cannot write', () => {
    const p = decoded(base);
    expect(() => encodeArp({ ...p, hardwareLength: 8 })).toThrow(RangeError);
    expect(() => encodeArp({ ...p, operation: 70000 })).toThrow(RangeError);
  });
});

const mac48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const arpArb = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), mac48, u32, mac48, u32)
  .map(([op, sm, si, tm, ti]) => arpPacket(op, sm, si, tm, ti));

describe('round trips, fuzz, truncation', () => {
  it('decode(encode(p)) equals p', () => {
    fc.assert(
      fc.property(arpArb, (p) => {
        expect(decoded(encodeArp(p))).toEqual(p);
      }),
    );
  });

  it('encode(decode(bytes)) is byte-identical for any 28-byte Ethernet/IPv4 ARP', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 22, maxLength: 22 }), (tail) => {
        const b = new Uint8Array(28);
        b.set(hexBytes('0001 0800 06 04'));
        b.set(tail, 6);
        expect(encodeArp(decoded(b))).toEqual(b);
      }),
    );
  });

  it('writeArp at an offset', () => {
    fc.assert(
      fc.property(arpArb, fc.integer({ min: 0, max: 20 }), (p, off) => {
        const buf = new Uint8Array(off + 28);
        expect(writeArp(p, buf, off)).toBe(28);
        expect(buf.subarray(off)).toEqual(encodeArp(p));
      }),
    );
  });

  it('random bytes never throw', () => {
    const nearlyArp = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => {
      if (b.length >= 6 && b[0]! < 128) b.set(hexBytes('0001 0800 06 04'));
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), nearlyArp), (b) => {
        expect(typeof decodeArp(b).ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('every truncation below 28 bytes fails; extra bytes (padding) do not matter', () => {
    fc.assert(
      fc.property(arpArb, fc.uint8Array({ maxLength: 30 }), (p, pad) => {
        const b = encodeArp(p);
        for (let n = 0; n < 28; n++) expect(decodeArp(b.subarray(0, n)).ok).toBe(false);
        const padded = new Uint8Array(28 + pad.length);
        padded.set(b);
        padded.set(pad, 28);
        expect(decoded(padded)).toEqual(p);
      }),
      { numRuns: 200 },
    );
  });
});
