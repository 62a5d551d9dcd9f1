import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../src/wire/address.js';
import {
  TCP_FLAG,
  type TcpHeader,
  type TcpSegment,
  computeTcpChecksum,
  decodeTcp,
  describeTcp,
  encodeTcp,
  formatTcpFlags,
  tcpAck,
  tcpDataOffset,
  tcpDstPort,
  tcpFlags,
  tcpHeaderLength,
  tcpSeq,
  tcpSrcPort,
  tcpWindow,
  writeTcp,
} from '../../src/wire/tcp.js';
import { type TcpOption, encodeTcpOptions, findTcpOption, linuxTcpOptions, tcpOptionsLength } from '../../src/wire/tcp-options.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ip = { src: parseIPv4('10.0.0.1'), dst: parseIPv4('10.0.0.2') };

/**
 * 10.0.0.1.40000 > 10.0.0.2.80 SYN, seq 123, win 64240, Linux SYN options
 * (TS val 1). Checksum 0x9c00 computed independently (Python, RFC 1071).
 */
const SYN = hex(
  '9c40 0050 0000007b 00000000 a0 02 faf0 9c00 0000' + '020405b4 0402080a 00000001 00000000 01030307',
);
/** 10.0.0.2.80 > 10.0.0.1.40000 [P.] seq 1:6 ack 2 win 502, NOP NOP TS 10/9, "hello"; checksum 0x803f (src/dst as given). */
const DATA = hex('0050 9c40 00000001 00000002 80 18 01f6 803f 0000' + '0101080a 0000000a 00000009' + '68656c6c6f');

function dec(bytes: Uint8Array, opts = {}): TcpSegment {
  const r = decodeTcp(bytes, opts);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

describe('tcp: known answers', () => {
  it('decodes a Linux SYN, verifying the checksum', () => {
    const s = dec(SYN, ip);
    expect(s).toMatchObject({
      srcPort: 40000,
      dstPort: 80,
      seq: 123,
      ack: 0,
      dataOffset: 10,
      reserved: 0,
      flags: TCP_FLAG.SYN,
      window: 64240,
      checksum: 0x9c00,
      urgentPointer: 0,
    });
    expect(s.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sack-permitted' },
      { kind: 'timestamps', value: 1, echo: 0 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ]);
    expect(s.payload).toHaveLength(0);
    expect(s.optionBytes.buffer).toBe(SYN.buffer); // a view, not a copy
    expect(describeTcp(s, ip)).toBe(
      '10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0',
    );
  });

  it('builds the same SYN from a header and linuxTcpOptions, checksum included', () => {
    const h: TcpHeader = {
      srcPort: 40000,
      dstPort: 80,
      seq: 123,
      ack: 0,
      flags: TCP_FLAG.SYN,
      window: 64240,
      options: linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, wscale: 7 }),
    };
    expect(toHex(encodeTcp(h, new Uint8Array(0), ip))).toBe(toHex(SYN));
  });

  it('decodes a data segment; payload is a view; describe shows seq range and ack', () => {
    const s = dec(DATA, { src: ip.dst, dst: ip.src });
    expect(s.flags).toBe(TCP_FLAG.PSH | TCP_FLAG.ACK);
    expect(Buffer.from(s.payload).toString()).toBe('hello');
    expect(s.payload.byteOffset).toBe(DATA.byteOffset + 32);
    expect(describeTcp(s, { src: ip.dst, dst: ip.src })).toBe(
      '10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], seq 1:6, ack 2, win 502, options [nop,nop,TS val 10 ecr 9], length 5',
    );
    expect(describeTcp(s)).toMatch(/^80 > 40000: Flags \[P\.\]/);
    expect(toHex(encodeTcp(s, s.payload, { src: ip.dst, dst: ip.src }))).toBe(toHex(DATA));
  });

  it('fast accessors agree with the decoder, also at an offset', () => {
    const framed = new Uint8Array(7 + DATA.length);
    framed.set(DATA, 7);
    expect(tcpSrcPort(framed, 7)).toBe(80);
    expect(tcpDstPort(framed, 7)).toBe(40000);
    expect(tcpSeq(framed, 7)).toBe(1);
    expect(tcpAck(framed, 7)).toBe(2);
    expect(tcpFlags(framed, 7)).toBe(0x18);
    expect(tcpWindow(framed, 7)).toBe(502);
    expect(tcpDataOffset(framed, 7)).toBe(8);
    expect(tcpHeaderLength(framed, 7)).toBe(32);
  });

  it('formats flags like tcpdump', () => {
    expect(formatTcpFlags(TCP_FLAG.SYN | TCP_FLAG.ACK)).toBe('S.');
    expect(formatTcpFlags(TCP_FLAG.FIN | TCP_FLAG.PSH | TCP_FLAG.ACK)).toBe('FP.');
    expect(formatTcpFlags(TCP_FLAG.SYN | TCP_FLAG.ECE | TCP_FLAG.CWR)).toBe('SEW');
    expect(formatTcpFlags(TCP_FLAG.RST)).toBe('R');
    expect(formatTcpFlags(TCP_FLAG.NS | TCP_FLAG.ACK)).toBe('.e');
    expect(formatTcpFlags(0)).toBe('none');
  });

  it('keeps NS and the reserved bits, and describes RST/URG', () => {
    const s = dec(encodeTcp({ srcPort: 1, dstPort: 2, seq: 7, ack: 9, flags: 0x1ff, window: 0, reserved: 5, urgentPointer: 3 }, new Uint8Array(0), ip), ip);
    expect(s.flags).toBe(0x1ff);
    expect(s.reserved).toBe(5);
    expect(describeTcp(s)).toBe('1 > 2: Flags [FSRP.UEWe], seq 7, ack 9, win 0, urg 3, length 0');
  });
});

describe('tcp: faults', () => {
  it('truncated: fewer than 20 bytes', () => {
    const r = decodeTcp(SYN.subarray(0, 19));
    expect(r).toMatchObject({ ok: false, layer: 'tcp', code: 'truncated' });
  });

  it('bad-data-offset: offset 4, and offset past the end', () => {
    const low = SYN.slice(0, 20);
    low[12] = 0x40;
    const r1 = decodeTcp(low);
    expect(r1).toMatchObject({ ok: false, code: 'bad-data-offset' });
    expect(!r1.ok && r1.message).toMatch(/data offset 4 words \(16 bytes\) is below the minimum of 5/);

    const high = SYN.slice(0, 40);
    high[12] = 0xf0;
    const r2 = decodeTcp(high);
    expect(r2).toMatchObject({ ok: false, code: 'bad-data-offset' });
    expect(!r2.ok && r2.message).toMatch(/data offset 15 words \(60 bytes\) runs past the 40-byte segment/);
  });

  it('bad-checksum when src/dst are given; skipped without them or with verifyChecksum false', () => {
    const bad = SYN.slice();
    bad[4] = 0x01; // seq changed (was 0x00), checksum not
    const r = decodeTcp(bad, ip);
    expect(r).toMatchObject({ ok: false, code: 'bad-checksum' });
    expect(!r.ok && r.message).toMatch(/checksum 0x9c00 does not verify \(expected 0x9b00\)/);
    expect(computeTcpChecksum(bad, ip)).toBe(0x9b00);
    expect(computeTcpChecksum(SYN, ip)).toBe(0x9c00);
    expect(decodeTcp(bad).ok).toBe(true);
    expect(decodeTcp(bad, { ...ip, verifyChecksum: false }).ok).toBe(true);
    // The pseudo-header counts: the right bytes from the wrong addresses fail.
    expect(decodeTcp(SYN, { src: ip.src, dst: parseIPv4('10.0.0.3') })).toMatchObject({ code: 'bad-checksum' });
  });

  it('bad-option from the option area, naming kind and offset in the header', () => {
    const seg = SYN.slice();
    seg[21] = 3; // MSS length 3
    const r = decodeTcp(seg);
    expect(r).toMatchObject({ ok: false, code: 'bad-option' });
    expect(!r.ok && r.message).toMatch(/kind 2 at offset 20 has length 3, expected 4/);
    const zero = SYN.slice();
    zero[38] = 0; // wscale length 0
    const rz = decodeTcp(zero);
    expect(rz).toMatchObject({ ok: false, code: 'bad-option' });
    expect(!rz.ok && rz.message).toMatch(/kind 3 at offset 37 has length 0/);
  });

  it('every truncation of a valid segment fails (checksum verified)', () => {
    for (const [seg, addrs] of [
      [SYN, ip],
      [DATA, { src: ip.dst, dst: ip.src }],
    ] as const) {
      for (let n = 0; n < seg.length; n++) {
        const r = decodeTcp(seg.subarray(0, n), addrs);
        expect(r.ok, `length ${n}`).toBe(false);
        // Without the checksum, cutting into the header still fails.
        if (n < tcpHeaderLength(seg)) expect(decodeTcp(seg.subarray(0, n)).ok, `length ${n}`).toBe(false);
      }
    }
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, verify) => {
        const r = decodeTcp(bytes, verify ? ip : undefined);
        if (r.ok) {
          expect(r.value.dataOffset * 4 + r.value.payload.length).toBe(bytes.length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('tcp: option bytes rule', () => {
  it('keeps odd padding after EOL byte for byte (and a stored checksum)', () => {
    const seg = SYN.slice(0, 28);
    seg[12] = 0x70;
    seg.set(hex('020405b4 00 ff ee dd'), 20);
    const s = dec(seg);
    expect(s.options).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'eol' }]);
    expect(toHex(encodeTcp(s, s.payload, ip))).toBe(toHex(seg));
  });

  it('edited options take effect even though optionBytes is still set', () => {
    const s = dec(SYN, ip);
    const clamped: TcpOption[] = s.options.map((o) => (o.kind === 'mss' ? { kind: 'mss', value: 1400 } : o));
    const out = encodeTcp({ ...s, options: clamped, checksum: undefined }, s.payload, ip);
    const back = dec(out, ip);
    expect(findTcpOption(back.options, 'mss')?.value).toBe(1400);
    expect(toHex(back.optionBytes)).toBe('02040578' + toHex(SYN.subarray(24, 40)));
    // Dropping options shrinks the data offset.
    const bare = dec(encodeTcp({ ...s, options: [], checksum: undefined }, s.payload, ip), ip);
    expect(bare.dataOffset).toBe(5);
  });

  it('optionBytes alone is written verbatim; a misaligned area is refused', () => {
    const h: TcpHeader = { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, optionBytes: hex('01010101') };
    expect(toHex(encodeTcp(h, new Uint8Array(0), ip).subarray(20))).toBe('01010101');
    expect(() => encodeTcp({ ...h, optionBytes: hex('010101') }, new Uint8Array(0), ip)).toThrow(RangeError);
  });

  it('writeTcp writes at an offset and returns the length', () => {
    const buf = new Uint8Array(100).fill(0xaa);
    const s = dec(DATA);
    expect(writeTcp(s, s.payload, { src: ip.dst, dst: ip.src }, buf, 10)).toBe(DATA.length);
    expect(toHex(buf.subarray(10, 10 + DATA.length))).toBe(toHex(DATA));
    expect(buf[9]).toBe(0xaa);
    expect(buf[10 + DATA.length]).toBe(0xaa);
  });

  it('refuses out-of-range fields', () => {
    const h: TcpHeader = { srcPort: 70000, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0 };
    expect(() => encodeTcp(h, new Uint8Array(0), ip)).toThrow(RangeError);
    expect(() => encodeTcp({ ...h, srcPort: 1, flags: 0x200 }, new Uint8Array(0), ip)).toThrow(RangeError);
    expect(() => encodeTcp({ ...h, srcPort: 1, seq: 2 ** 32 }, new Uint8Array(0), ip)).toThrow(RangeError);
  });
});

// ---- property tests ----

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const optionArb: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  u16.map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map((shift): TcpOption => ({ kind: 'wscale', shift })),
  fc.constant<TcpOption>({ kind: 'sack-permitted' }),
  fc.array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 3 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc.record({ value: u32, echo: u32 }).map(({ value, echo }): TcpOption => ({ kind: 'timestamps', value, echo })),
  fc
    .record({ type: fc.integer({ min: 9, max: 255 }), data: fc.uint8Array({ maxLength: 6 }) })
    .map(({ type, data }): TcpOption => ({ kind: 'unknown', type, data })),
);
/** Option lists that fit and that decode back to themselves (EOL appended where padding goes). */
const optionsArb = fc.array(optionArb, { maxLength: 8 }).map((list) => {
  const out: TcpOption[] = [];
  for (const o of list) if (tcpOptionsLength([...out, o]) < 40) out.push(o);
  if (tcpOptionsLength(out) % 4 !== 0) out.push({ kind: 'eol' });
  return out;
});
const headerArb = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0x1ff }),
  window: u16,
  urgentPointer: u16,
  reserved: fc.integer({ min: 0, max: 7 }),
  options: optionsArb,
});
const addrArb = fc.record({ src: u32, dst: u32 });

describe('tcp: round trips', () => {
  it('decode(encode(h)) reproduces every field, with a checksum that verifies', () => {
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 64 }), addrArb, (h, payload, addrs) => {
        const bytes = encodeTcp(h, payload, addrs);
        const s = dec(bytes, addrs);
        const { checksum: _c, optionBytes: _o, payload: p, dataOffset, ...fields } = s;
        expect(fields).toEqual(h);
        expect(toHex(p)).toBe(toHex(payload));
        expect(dataOffset * 4).toBe(20 + ((tcpOptionsLength(h.options) + 3) & ~3));
      }),
      { numRuns: 1000 },
    );
  });

  it('a bad checksum is refused, and the message names the right one', () => {
    fc.assert(
      fc.property(headerArb, fc.uint8Array({ maxLength: 40 }), addrArb, u16, (h, payload, addrs, wrong) => {
        const bytes = encodeTcp(h, payload, addrs);
        const right = (bytes[16]! << 8) | bytes[17]!;
        fc.pre(wrong !== right && !(wrong === 0xffff && right === 0) && !(wrong === 0 && right === 0xffff));
        bytes[16] = wrong >>> 8;
        bytes[17] = wrong & 0xff;
        const r = decodeTcp(bytes, addrs);
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.code).toBe('bad-checksum');
        expect(r.message).toContain(`(expected 0x${right.toString(16).padStart(4, '0')})`);
        expect(computeTcpChecksum(bytes, addrs)).toBe(right);
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(bytes)) is byte-identical for any decodable header, padding and checksum included', () => {
    const segArb = fc
      .record({
        words: fc.integer({ min: 5, max: 15 }),
        header: fc.uint8Array({ minLength: 60, maxLength: 60 }),
        payload: fc.uint8Array({ maxLength: 20 }),
        list: optionsArb,
        structured: fc.boolean(),
      })
      .map(({ words, header, payload, list, structured }) => {
        const hl = words * 4;
        const seg = new Uint8Array(hl + payload.length);
        seg.set(header.subarray(0, hl));
        seg[12] = (words << 4) | (seg[12]! & 0x0f);
        if (structured) {
          // A valid option list; whatever follows an EOL stays random (padding).
          const area = encodeTcpOptions(list);
          if (area.length <= hl - 20) seg.set(area, 20);
        }
        seg.set(payload, hl);
        return seg;
      });
    let accepted = 0;
    fc.assert(
      fc.property(segArb, (seg) => {
        const r = decodeTcp(seg);
        if (!r.ok) return;
        accepted++;
        expect(toHex(encodeTcp(r.value, r.value.payload, ip))).toBe(toHex(seg));
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(500);
  });
});
