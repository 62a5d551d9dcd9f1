/**
 * Address helpers: text round trips, rejection of bad text (naming it), the
 * 48-bit MAC number over its full range, and prefix/CIDR edges (/0, /32).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAC_BROADCAST,
  broadcastOf,
  cidrContains,
  formatCidr,
  formatIPv4,
  formatMac,
  formatPrefix,
  isBroadcastMac,
  isMulticastMac,
  networkOf,
  parseCidr,
  parseIPv4,
  parseMac,
  prefixMask,
  readIPv4,
  readMac,
  writeIPv4,
  writeMac,
} from '../../src/wire/address.js';

const mac48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('IPv4 text', () => {
  it('known answers', () => {
    expect(parseIPv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('192.168.0.199')).toBe(0xc0a800c7);
    expect(formatIPv4(0xc0a800c7)).toBe('192.168.0.199');
    expect(formatIPv4(0x80000000)).toBe('128.0.0.0');
  });

  it('parse(format(a)) === a over the full 32-bit range', () => {
    fc.assert(
      fc.property(u32, (a) => {
        expect(parseIPv4(formatIPv4(a))).toBe(a);
      }),
    );
  });

  it('always yields an unsigned number', () => {
    expect(parseIPv4('200.1.2.3')).toBeGreaterThan(0);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.999', 'a.b.c.d', '1..2.3', '1.2.3.-1', '1.2.3.4/24', ' . . . ', '1.2.3.0x1'])(
    'rejects %j with an error naming the text',
    (text) => {
      expect(() => parseIPv4(text)).toThrow(`"${text}"`);
    },
  );
});

describe('MAC text', () => {
  it('known answers', () => {
    expect(parseMac('02:42:ac:11:00:02')).toBe(0x0242ac110002);
    expect(parseMac('FF-FF-FF-FF-FF-FF')).toBe(MAC_BROADCAST);
    expect(formatMac(0x0242ac110002)).toBe('02:42:ac:11:00:02');
    expect(formatMac(0)).toBe('00:00:00:00:00:00');
    expect(formatMac(2 ** 48 - 1)).toBe('ff:ff:ff:ff:ff:ff');
  });

  it('parse(format(m)) === m over the full 48-bit range', () => {
    fc.assert(
      fc.property(mac48, (m) => {
        expect(parseMac(formatMac(m))).toBe(m);
      }),
    );
  });

  it.each(['', '02:42:ac:11:00', '02:42:ac:11:00:02:03', 'zz:42:ac:11:00:02', '002:42:ac:11:00:02', '02:42:ac:11:00:', '0242ac110002'])(
    'rejects %j with an error naming the text',
    (text) => {
      expect(() => parseMac(text)).toThrow(`"${text}"`);
    },
  );
});

describe('readMac / writeMac', () => {
  it('writes network byte order', () => {
    const b = new Uint8Array(8);
    writeMac(b, 1, 0x0242ac110002);
    expect([...b]).toEqual([0, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0]);
    expect(readMac(b, 1)).toBe(0x0242ac110002);
  });

  it('round-trips every 48-bit value at any offset, touching only its six bytes', () => {
    fc.assert(
      fc.property(mac48, fc.integer({ min: 0, max: 10 }), (m, off) => {
        const b = new Uint8Array(16).fill(0xa5);
        writeMac(b, off, m);
        expect(readMac(b, off)).toBe(m);
        expect(b.every((x, i) => (i >= off && i < off + 6) || x === 0xa5)).toBe(true);
        // Byte i is bits 47-8i .. 40-8i.
        for (let i = 0; i < 6; i++) expect(b[off + i]).toBe(Math.floor(m / 2 ** (40 - 8 * i)) % 256);
      }),
    );
  });

  it('edge values', () => {
    for (const m of [0, 1, 0xffffffff, 0x1_0000_0000, 0x8000_0000_0000, 2 ** 48 - 1, 0x0100_0000_0000]) {
      const b = new Uint8Array(6);
      writeMac(b, 0, m);
      expect(readMac(b, 0)).toBe(m);
    }
  });
});

describe('isMulticastMac / isBroadcastMac', () => {
  it('known answers', () => {
    expect(isMulticastMac(parseMac('01:00:5e:00:00:01'))).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01'))).toBe(true);
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(parseMac('02:42:ac:11:00:02'))).toBe(false);
    expect(isMulticastMac(parseMac('fe:ff:ff:ff:ff:ff'))).toBe(false);
    expect(isMulticastMac(0)).toBe(false);
    expect(isBroadcastMac(MAC_BROADCAST)).toBe(true);
    expect(isBroadcastMac(parseMac('ff:ff:ff:ff:ff:fe'))).toBe(false);
  });

  it('is the low bit of the first octet on the wire', () => {
    fc.assert(
      fc.property(mac48, (m) => {
        const b = new Uint8Array(6);
        writeMac(b, 0, m);
        expect(isMulticastMac(m)).toBe((b[0]! & 1) === 1);
      }),
    );
  });
});

describe('readIPv4 / writeIPv4', () => {
  it('round-trips and reads unsigned', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 4 }), (a, off) => {
        const b = new Uint8Array(8);
        writeIPv4(b, off, a);
        expect(readIPv4(b, off)).toBe(a);
        expect(b[off]).toBe(a >>> 24);
      }),
    );
    expect(readIPv4(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0)).toBe(0xffffffff);
  });
});

describe('prefixes and CIDRs', () => {
  it('prefixMask edges', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(31)).toBe(0xfffffffe);
    expect(prefixMask(32)).toBe(0xffffffff);
  });

  it('prefixMask(n) has exactly n leading ones, unsigned', () => {
    for (let n = 0; n <= 32; n++) {
      const m = prefixMask(n);
      expect(m).toBeGreaterThanOrEqual(0);
      expect(m.toString(2).padStart(32, '0')).toBe('1'.repeat(n) + '0'.repeat(32 - n));
    }
  });

  it('parseCidr / formatCidr', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ address: 0x0a000001, prefixLength: 24 });
    expect(parseCidr('10.0.0.1')).toEqual({ address: 0x0a000001, prefixLength: 32 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefixLength: 0 });
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 32 }), (address, prefixLength) => {
        expect(parseCidr(formatCidr({ address, prefixLength }))).toEqual({ address, prefixLength });
      }),
    );
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/24/1', '10.0.0.0/-1', '10.0.0.0/ab'])(
    'parseCidr rejects %j with an error naming the text',
    (text) => {
      expect(() => parseCidr(text)).toThrow(`"${text}"`);
    },
  );

  it.each([
    ['/24', ''],
    ['10.0.0/24', '10.0.0'],
    ['10.0.0.256/8', '10.0.0.256'],
  ])('parseCidr rejects %j, naming the bad address part %j', (text, part) => {
    expect(() => parseCidr(text)).toThrow(`invalid IPv4 address "${part}"`);
  });

  it('/0 contains everything; /32 contains exactly its address', () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        expect(cidrContains({ address: a, prefixLength: 0 }, b)).toBe(true);
        expect(cidrContains({ address: a, prefixLength: 32 }, b)).toBe(a === b);
        expect(cidrContains({ address: a, prefixLength: 32 }, a)).toBe(true);
      }),
    );
  });

  it('cidrContains agrees with comparing the leading bits as text', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 32 }), (a, b, n, flip) => {
        // Make b share a prefix of `flip` bits with a, so both outcomes are frequent.
        const shared = ((a & prefixMask(flip)) | (b & ~prefixMask(flip))) >>> 0;
        const bits = (x: number) => x.toString(2).padStart(32, '0').slice(0, n);
        expect(cidrContains({ address: a, prefixLength: n }, shared)).toBe(bits(a) === bits(shared));
      }),
    );
  });

  it('networkOf, broadcastOf, formatPrefix', () => {
    const c = parseCidr('10.1.2.3/24');
    expect(formatIPv4(networkOf(c))).toBe('10.1.2.0');
    expect(formatIPv4(broadcastOf(c))).toBe('10.1.2.255');
    expect(formatPrefix(c)).toBe('10.1.2.0/24');
    expect(formatPrefix(parseCidr('10.1.2.3/0'))).toBe('default');
    expect(broadcastOf(parseCidr('10.1.2.3/0'))).toBe(0xffffffff);
    expect(networkOf(parseCidr('10.1.2.3/0'))).toBe(0);
    expect(broadcastOf(parseCidr('200.1.2.3/32'))).toBe(parseIPv4('200.1.2.3'));
    expect(networkOf(parseCidr('200.1.2.3/32'))).toBe(parseIPv4('200.1.2.3'));
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 32 }), (address, prefixLength) => {
        const c2 = { address, prefixLength };
        expect(cidrContains(c2, networkOf(c2))).toBe(true);
        expect(cidrContains(c2, broadcastOf(c2))).toBe(true);
        expect(networkOf(c2)).toBeLessThanOrEqual(address);
        expect(broadcastOf(c2)).toBeGreaterThanOrEqual(address);
      }),
    );
  });
});
