import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type TcpOption,
  decodeTcpOptions,
  describeTcpOptions,
  encodeTcpOptions,
  findTcpOption,
  linuxTcpOptions,
  tcpOptionsEqual,
  tcpOptionsLength,
  writeTcpOptions,
} from '../../src/wire/tcp-options.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A real Linux SYN's options: mss 1460, sackOK, TS val 0x11223344 ecr 0, nop, wscale 7. */
const LINUX_SYN = hex('02 04 05 b4 04 02 08 0a 11 22 33 44 00 00 00 00 01 03 03 07');

function decoded(bytes: Uint8Array): TcpOption[] {
  const r = decodeTcpOptions(bytes);
  if (!r.ok) throw new Error(r.message);
  return r.value;
}

describe('tcp options: known answers', () => {
  it('decodes a Linux SYN option area', () => {
    expect(decoded(LINUX_SYN)).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sack-permitted' },
      { kind: 'timestamps', value: 0x11223344, echo: 0 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ]);
    expect(describeTcpOptions(decoded(LINUX_SYN))).toBe('mss 1460,sackOK,TS val 287454020 ecr 0,nop,wscale 7');
  });

  it('linuxTcpOptions lays a SYN out byte for byte as Linux does', () => {
    const list = linuxTcpOptions({ mss: 1460, sackPermitted: true, timestamps: { value: 0x11223344, echo: 0 }, wscale: 7 });
    expect(toHex(encodeTcpOptions(list))).toBe(toHex(LINUX_SYN));
  });

  it('linuxTcpOptions: data segment NOP NOP TS, SACK with NOP NOP, sackOK without TS', () => {
    expect(toHex(encodeTcpOptions(linuxTcpOptions({ timestamps: { value: 10, echo: 9 } })))).toBe(
      '0101080a0000000a00000009',
    );
    expect(
      toHex(
        encodeTcpOptions(
          linuxTcpOptions({ timestamps: { value: 1, echo: 2 }, sack: [{ left: 0x1000, right: 0x2000 }] }),
        ),
      ),
    ).toBe('0101080a0000000100000002' + '0101050a0000100000002000');
    expect(toHex(encodeTcpOptions(linuxTcpOptions({ mss: 1460, sackPermitted: true, wscale: 7 })))).toBe(
      '020405b40101040201030307',
    );
  });

  it('decodes SACK blocks (1 and 4)', () => {
    expect(decoded(hex('01 01 05 0a 00 00 00 64 00 00 00 c8'))).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'sack', blocks: [{ left: 100, right: 200 }] },
    ]);
    const four = new Uint8Array(36);
    four.set([1, 1, 5, 34]);
    for (let b = 0; b < 4; b++) {
      four[4 + b * 8 + 3] = b;
      four[4 + b * 8 + 7] = b + 100;
    }
    const sack = findTcpOption(decoded(four), 'sack');
    expect(sack?.blocks).toEqual([0, 1, 2, 3].map((b) => ({ left: b, right: b + 100 })));
    expect(describeTcpOptions(decoded(four))).toBe('nop,nop,sack 4 {0:100}{1:101}{2:102}{3:103}');
  });

  it('stops at EOL and treats the rest, even non-zero, as padding', () => {
    expect(decoded(hex('02 04 05 b4 00 00 00 00'))).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'eol' }]);
    // A length-0 "option" after EOL is padding, not a fault.
    expect(decoded(hex('01 00 02 00 ff ff ff ff'))).toEqual([{ kind: 'nop' }, { kind: 'eol' }]);
  });

  it('keeps an unknown kind byte for byte and re-emits it', () => {
    const bytes = hex('fe 06 de ad be ef 01 01');
    const list = decoded(bytes);
    expect(list[0]).toEqual({ kind: 'unknown', type: 254, data: hex('deadbeef') });
    expect(toHex(encodeTcpOptions(list))).toBe(toHex(bytes));
    expect(describeTcpOptions(list)).toBe('unknown-254 0xdeadbeef,nop,nop');
    // Zero-length data (e.g. kind 34 TFO cookie request).
    expect(decoded(hex('22 02 01 01'))).toEqual([{ kind: 'unknown', type: 34, data: new Uint8Array(0) }, { kind: 'nop' }, { kind: 'nop' }]);
  });

  it('pads a list that is not a multiple of 4 with EOL zeros', () => {
    expect(toHex(encodeTcpOptions([{ kind: 'nop' }, { kind: 'wscale', shift: 14 }, { kind: 'mss', value: 536 }]))).toBe(
      '0103030e02040218',
    );
    expect(toHex(encodeTcpOptions([{ kind: 'wscale', shift: 2 }]))).toBe('03030200');
    expect(decoded(encodeTcpOptions([{ kind: 'wscale', shift: 2 }]))).toEqual([
      { kind: 'wscale', shift: 2 },
      { kind: 'eol' },
    ]);
    expect(encodeTcpOptions([])).toHaveLength(0);
  });
});

describe('tcp options: hostile input', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['length 0', '01 01 02 00', /kind 2 at offset 2 has length 0/],
    ['length 1', 'fe 01 00 00', /kind 254 at offset 0 has length 1/],
    ['overrunning length', '01 08 0a 00 00 00 00 00', /kind 8 at offset 1 has length 10, overrunning the option area by 3/],
    ['MSS with length 3', '02 03 05 00', /kind 2 at offset 0 has length 3, expected 4/],
    ['MSS with length 5', '02 05 05 b4 00 00 00 00', /kind 2 at offset 0 has length 5, expected 4/],
    ['wscale with length 4', '03 04 07 00', /kind 3 at offset 0 has length 4, expected 3/],
    ['sackOK with length 3', '04 03 00 00', /kind 4 at offset 0 has length 3/],
    ['timestamps with length 8', '08 08 00 00 00 00 00 00', /kind 8 at offset 0 has length 8, expected 10/],
    ['SACK with no blocks', '01 01 05 02', /kind 5 at offset 2 has length 2/],
    ['SACK with length 11', '05 0b 00 00 00 00 00 00 00 00 00 00', /kind 5 at offset 0 has length 11/],
    ['kind without length byte', '01 01 01 02', /kind 2 at offset 3 has no length byte/],
  ];
  for (const [name, bytes, message] of cases) {
    it(`refuses ${name}`, () => {
      const r = decodeTcpOptions(hex(bytes));
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.layer).toBe('tcp');
      expect(r.code).toBe('bad-option');
      expect(r.message).toMatch(message);
    });
  }

  it('reports offsets relative to the buffer it was given', () => {
    const seg = new Uint8Array(24);
    seg.set([2, 3, 0, 0], 20);
    const r = decodeTcpOptions(seg, 20, 24);
    expect(!r.ok && r.message).toMatch(/kind 2 at offset 20 has length 3/);
  });

  it('never throws on random bytes, and re-emits whatever it accepted exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const r = decodeTcpOptions(bytes);
        if (!r.ok) {
          expect(r.code).toBe('bad-option');
          return;
        }
        const n = tcpOptionsLength(r.value);
        expect(n).toBeLessThanOrEqual(bytes.length);
        const out = new Uint8Array(n);
        expect(writeTcpOptions(r.value, out, 0)).toBe(n);
        expect(toHex(out)).toBe(toHex(bytes.subarray(0, n)));
      }),
      { numRuns: 2000 },
    );
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const optionArb: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.integer({ min: 0, max: 0xffff }).map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 255 }).map((shift): TcpOption => ({ kind: 'wscale', shift })),
  fc.constant<TcpOption>({ kind: 'sack-permitted' }),
  fc
    .array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 4 })
    .map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc.record({ value: u32, echo: u32 }).map(({ value, echo }): TcpOption => ({ kind: 'timestamps', value, echo })),
  fc
    .record({
      type: fc.integer({ min: 0, max: 255 }).filter((t) => ![0, 1, 2, 3, 4, 5, 8].includes(t)),
      data: fc.uint8Array({ maxLength: 12 }),
    })
    .map(({ type, data }): TcpOption => ({ kind: 'unknown', type, data })),
);

/** Lists that fit in 40 bytes, made canonical: an EOL is appended when padding will be needed. */
const canonicalOptionsArb: fc.Arbitrary<TcpOption[]> = fc
  .array(optionArb, { maxLength: 10 })
  .map((list) => {
    const out: TcpOption[] = [];
    for (const o of list) {
      if (tcpOptionsLength([...out, o]) + 1 > 40) break;
      out.push(o);
    }
    if (tcpOptionsLength(out) % 4 !== 0 || wantsExplicitEol(out)) out.push({ kind: 'eol' });
    return out;
  });
// Sometimes add an explicit EOL even when aligned (deterministic on content so shrinking stays stable).
function wantsExplicitEol(list: TcpOption[]): boolean {
  return list.length % 3 === 2;
}

describe('tcp options: round trips', () => {
  it('decode(encode(list)) deep-equals a canonical list', () => {
    fc.assert(
      fc.property(canonicalOptionsArb, (list) => {
        const bytes = encodeTcpOptions(list);
        expect(bytes.length % 4).toBe(0);
        expect(bytes.length).toBeLessThanOrEqual(40);
        const back = decoded(bytes);
        expect(back).toEqual(list);
        expect(tcpOptionsEqual(back, list)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('encode(decode(bytes)) is byte-identical for canonical encodings', () => {
    fc.assert(
      fc.property(canonicalOptionsArb, (list) => {
        const bytes = encodeTcpOptions(list);
        expect(toHex(encodeTcpOptions(decoded(bytes)))).toBe(toHex(bytes));
      }),
    );
  });

  it('tcpOptionsEqual tells lists apart', () => {
    const a: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sack', blocks: [{ left: 1, right: 2 }] }];
    expect(tcpOptionsEqual(a, [{ kind: 'mss', value: 1460 }, { kind: 'sack', blocks: [{ left: 1, right: 2 }] }])).toBe(true);
    expect(tcpOptionsEqual(a, [{ kind: 'mss', value: 1400 }, { kind: 'sack', blocks: [{ left: 1, right: 2 }] }])).toBe(false);
    expect(tcpOptionsEqual(a, [{ kind: 'mss', value: 1460 }, { kind: 'sack', blocks: [{ left: 1, right: 3 }] }])).toBe(false);
    expect(tcpOptionsEqual(a, a.slice(0, 1))).toBe(false);
    expect(
      tcpOptionsEqual([{ kind: 'unknown', type: 99, data: hex('01') }], [{ kind: 'unknown', type: 99, data: hex('02') }]),
    ).toBe(false);
  });
});

describe('tcp options: encoder refuses what cannot be sent', () => {
  it('throws RangeError past 40 bytes, for 5 SACK blocks, for out-of-range values, for a known kind as unknown', () => {
    const ts: TcpOption = { kind: 'timestamps', value: 1, echo: 1 };
    expect(() => encodeTcpOptions([ts, ts, ts, ts, ts])).toThrow(RangeError);
    const block = { left: 1, right: 2 };
    expect(() => encodeTcpOptions([{ kind: 'sack', blocks: [block, block, block, block, block] }])).toThrow(RangeError);
    expect(() => encodeTcpOptions([{ kind: 'sack', blocks: [] }])).toThrow(RangeError);
    expect(() => encodeTcpOptions([{ kind: 'mss', value: 70000 }])).toThrow(RangeError);
    expect(() => encodeTcpOptions([{ kind: 'unknown', type: 2, data: hex('05b4') }])).toThrow(/known kind/);
  });
});
