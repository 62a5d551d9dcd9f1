/**
 * UDP datagrams (RFC 768) with the IPv4 pseudo-header checksum.
 *
 * Hand-written rather than taken from a packet library: datagrams are decoded
 * in place at offsets into a borrowed receive slab (the payload handed to a
 * socket is a view, not a copy), and a malformed header must become a typed
 * error to count, never an exception. No JavaScript library does both.
 *
 *    0      7 8     15 16    23 24    31
 *   |   Source Port   | Destination Port |  0
 *   |     Length      |     Checksum     |  4
 *   |            data octets ...         |  8
 *
 * Checksum rules (RFC 768): a transmitted checksum of 0 means "none" and is
 * never verified; a computed checksum of 0 is sent as 0xffff (the other
 * one's-complement zero). The length field covers header + data; bytes past it
 * in the buffer (link padding) are ignored.
 */
import { type IPv4Address, formatIPv4 } from './address.js';
import { finishChecksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { type Decoded, fail, ok } from './result.js';

export const UDP_FIELD = {
  SRC_PORT: 0,
  DST_PORT: 2,
  LENGTH: 4,
  CHECKSUM: 6,
  PAYLOAD: 8,
} as const;

export const UDP_HEADER_LENGTH = 8;
export const IP_PROTOCOL_UDP = 17;

export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  /** Undefined: computed (0 sent as 0xffff). A number (0 = no checksum): written as is. */
  checksum?: number;
  /** Undefined: 8 + payload length. A number: written as is (for crafted datagrams). */
  length?: number;
}

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** The length field: header + payload, 8..buffer length. */
  length: number;
  /** 0 when the sender sent none. */
  checksum: number;
  /** Bytes [8, length), a view. */
  payload: Uint8Array;
}

export interface UdpDecodeOptions {
  src?: IPv4Address;
  dst?: IPv4Address;
  /** Default true; takes effect when src and dst are given and the checksum is not 0. */
  verifyChecksum?: boolean;
}

// ---- fast accessors ----

export function udpSrcPort(buf: Uint8Array, off = 0): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
export function udpDstPort(buf: Uint8Array, off = 0): number {
  return (buf[off + 2]! << 8) | buf[off + 3]!;
}
export function udpLength(buf: Uint8Array, off = 0): number {
  return (buf[off + 4]! << 8) | buf[off + 5]!;
}
export function udpChecksum(buf: Uint8Array, off = 0): number {
  return (buf[off + 6]! << 8) | buf[off + 7]!;
}

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

/** Decodes one datagram (the IPv4 payload). Never throws. */
export function decodeUdp(buf: Uint8Array, opts?: UdpDecodeOptions): Decoded<UdpDatagram> {
  if (buf.length < UDP_HEADER_LENGTH) {
    return fail('udp', 'truncated', `datagram has ${buf.length} bytes, the header needs 8`);
  }
  const length = udpLength(buf);
  if (length < UDP_HEADER_LENGTH) {
    return fail('udp', 'bad-length', `length field ${length} is below the 8-byte header`);
  }
  if (length > buf.length) {
    return fail('udp', 'bad-length', `length field ${length} runs past the ${buf.length} bytes received`);
  }
  const checksum = udpChecksum(buf);
  if (checksum !== 0 && opts?.src !== undefined && opts.dst !== undefined && opts.verifyChecksum !== false) {
    const sum = sum16(buf, 0, length, pseudoHeaderSum(opts.src, opts.dst, IP_PROTOCOL_UDP, length));
    if (finishChecksum(sum) !== 0) {
      const expected = finishChecksum(sum + (~checksum & 0xffff)) || 0xffff;
      return fail('udp', 'bad-checksum', `checksum ${hex16(checksum)} does not verify (expected ${hex16(expected)})`);
    }
  }
  return ok({
    srcPort: udpSrcPort(buf),
    dstPort: udpDstPort(buf),
    length,
    checksum,
    payload: buf.subarray(UDP_HEADER_LENGTH, length),
  });
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`UDP ${name} ${v} is outside 0..${max}`);
}

/**
 * Writes header + payload at `buf[off…]`; returns the bytes written
 * (8 + payload length, whatever the length field says). The checksum covers
 * the bytes written, with the length field's value in the pseudo-header.
 */
export function writeUdp(
  h: UdpHeader,
  payload: Uint8Array,
  ip: { src: IPv4Address; dst: IPv4Address },
  buf: Uint8Array,
  off = 0,
): number {
  checkField('source port', h.srcPort, 0xffff);
  checkField('destination port', h.dstPort, 0xffff);
  const total = UDP_HEADER_LENGTH + payload.length;
  const length = h.length ?? total;
  checkField('length', length, 0xffff);
  buf[off] = h.srcPort >>> 8;
  buf[off + 1] = h.srcPort & 0xff;
  buf[off + 2] = h.dstPort >>> 8;
  buf[off + 3] = h.dstPort & 0xff;
  buf[off + 4] = length >>> 8;
  buf[off + 5] = length & 0xff;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  buf.set(payload, off + UDP_HEADER_LENGTH);
  let checksum = h.checksum;
  if (checksum === undefined) {
    checksum = finishChecksum(sum16(buf, off, total, pseudoHeaderSum(ip.src, ip.dst, IP_PROTOCOL_UDP, length)));
    if (checksum === 0) checksum = 0xffff;
  } else {
    checkField('checksum', checksum, 0xffff);
  }
  buf[off + 6] = checksum >>> 8;
  buf[off + 7] = checksum & 0xff;
  return total;
}

/** A new datagram; checksum computed unless `h.checksum` is a number (pass 0 for none). */
export function encodeUdp(
  h: UdpHeader,
  payload: Uint8Array,
  ip: { src: IPv4Address; dst: IPv4Address },
): Uint8Array {
  const out = new Uint8Array(UDP_HEADER_LENGTH + payload.length);
  writeUdp(h, payload, ip, out, 0);
  return out;
}

/** Like tcpdump: `10.0.0.1.5353 > 10.0.0.2.53: UDP, length 12` (length = payload bytes). */
export function describeUdp(d: UdpDatagram, ip?: { src: IPv4Address; dst: IPv4Address }): string {
  const from = ip ? `${formatIPv4(ip.src)}.${d.srcPort}` : `${d.srcPort}`;
  const to = ip ? `${formatIPv4(ip.dst)}.${d.dstPort}` : `${d.dstPort}`;
  return `${from} > ${to}: UDP, length ${d.payload.length}`;
}
