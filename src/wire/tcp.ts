/**
 * TCP segment header (RFC 9293 §3.1), with the ECN bits (RFC 3168 CWR/ECE)
 * and the historic NS bit (RFC 3540, reused as AE by AccECN).
 *
 * Hand-written rather than taken from a packet library: the stack decodes
 * segments in place at offsets into a borrowed receive slab, needs
 * allocation-free field reads on the hot path (ports for demultiplexing,
 * seq/ack/flags for the state machine), and must turn every malformed header
 * into a typed error. No JavaScript library offers zero-copy decoding with
 * typed errors.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   |          Source Port          |       Destination Port        |   0
 *   |                        Sequence Number                        |   4
 *   |                    Acknowledgment Number                      |   8
 *   | Offset| Rsv |N|C|E|U|A|P|R|S|F|            Window             |  12
 *   |           Checksum            |         Urgent Pointer        |  16
 *   |                    Options (0..40 bytes)                      |  20
 *
 * ## Which option bytes `encodeTcp` writes
 *
 * A decoded segment carries both `options` (the parsed list) and
 * `optionBytes` (the option area exactly as received, padding included).
 * `encodeTcp` writes:
 *   1. `optionBytes` verbatim if `options` is absent;
 *   2. `optionBytes` verbatim if it parses to a list equal to `options`
 *      (so a decoded segment re-encodes byte for byte, whatever its padding);
 *   3. otherwise `options`, emitted literally and padded with zero bytes to a
 *      multiple of 4 (see tcp-options.ts) — so editing `options` of a decoded
 *      segment (an MSS clamp, say) takes effect without clearing optionBytes.
 * The data offset is always derived from the bytes written; `dataOffset` in
 * the input is ignored.
 */
import { type IPv4Address, formatIPv4 } from './address.js';
import { finishChecksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { type Decoded, fail, ok } from './result.js';
import {
  TCP_MAX_OPTIONS_LENGTH,
  type TcpOption,
  decodeTcpOptions,
  describeTcpOptions,
  encodeTcpOptions,
  tcpOptionsEqual,
} from './tcp-options.js';

export const TCP_FLAG = {
  FIN: 1,
  SYN: 2,
  RST: 4,
  PSH: 8,
  ACK: 16,
  URG: 32,
  ECE: 64,
  CWR: 128,
  NS: 256,
} as const;

export const TCP_FIELD = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  /** Data offset (high 4 bits), reserved (3 bits), NS (low bit). */
  DATA_OFFSET: 12,
  /** CWR ECE URG ACK PSH RST SYN FIN. */
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

export const TCP_HEADER_LENGTH = 20;
export const TCP_MAX_HEADER_LENGTH = 60;
export const IP_PROTOCOL_TCP = 6;

/** What encodeTcp needs. Fields that a decoded segment always has are optional here. */
export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TCP_FLAG bits, 9 of them (NS..FIN). */
  flags: number;
  window: number;
  urgentPointer?: number;
  /** The 3 reserved bits between data offset and NS (0 unless a capture says otherwise). */
  reserved?: number;
  /** Undefined: computed on encode. A number: written as is. */
  checksum?: number;
  options?: readonly TcpOption[];
  /** The exact option area; see the header comment for when it is used. */
  optionBytes?: Uint8Array;
  /** Ignored on encode (derived from the options written). */
  dataOffset?: number;
}

export interface TcpSegment extends TcpHeader {
  /** Header length in 32-bit words, 5..15. */
  dataOffset: number;
  reserved: number;
  urgentPointer: number;
  checksum: number;
  options: TcpOption[];
  /** The option area as received (bytes 20..dataOffset*4), a view. */
  optionBytes: Uint8Array;
  /** The data after the header, a view. */
  payload: Uint8Array;
}

export interface IpPair {
  src: IPv4Address;
  dst: IPv4Address;
}

export interface TcpDecodeOptions {
  src?: IPv4Address;
  dst?: IPv4Address;
  /** Default true; only takes effect when both src and dst are given. */
  verifyChecksum?: boolean;
}

// ---- fast accessors (no allocation, no bounds checks beyond the caller's) ----

export function tcpSrcPort(buf: Uint8Array, off = 0): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
export function tcpDstPort(buf: Uint8Array, off = 0): number {
  return (buf[off + 2]! << 8) | buf[off + 3]!;
}
function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}
export function tcpSeq(buf: Uint8Array, off = 0): number {
  return u32(buf, off + TCP_FIELD.SEQ);
}
export function tcpAck(buf: Uint8Array, off = 0): number {
  return u32(buf, off + TCP_FIELD.ACK);
}
/** The 9 flag bits (NS..FIN), comparable with TCP_FLAG. */
export function tcpFlags(buf: Uint8Array, off = 0): number {
  return ((buf[off + 12]! & 1) << 8) | buf[off + 13]!;
}
export function tcpWindow(buf: Uint8Array, off = 0): number {
  return (buf[off + 14]! << 8) | buf[off + 15]!;
}
/** Data offset in 32-bit words. */
export function tcpDataOffset(buf: Uint8Array, off = 0): number {
  return buf[off + 12]! >>> 4;
}
/** Header length in bytes (data offset × 4). */
export function tcpHeaderLength(buf: Uint8Array, off = 0): number {
  return (buf[off + 12]! >>> 4) << 2;
}
export function tcpChecksum(buf: Uint8Array, off = 0): number {
  return (buf[off + 16]! << 8) | buf[off + 17]!;
}

/** The checksum a segment `buf[off, off+len)` should carry (its own checksum field is skipped). */
export function computeTcpChecksum(buf: Uint8Array, ip: IpPair, off = 0, len = buf.length - off): number {
  const sum = sum16(buf, off, len, pseudoHeaderSum(ip.src, ip.dst, IP_PROTOCOL_TCP, len));
  // Take the stored checksum out again: one's-complement subtraction is adding its complement.
  return finishChecksum(len >= 18 ? sum + (~tcpChecksum(buf, off) & 0xffff) : sum);
}

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

/**
 * Decodes `buf` as one whole TCP segment (the IPv4 payload). Never throws.
 * Checks, in order: 20-byte fixed header ('truncated'); data offset >= 5 and
 * within the buffer ('bad-data-offset'); checksum when src and dst are given
 * ('bad-checksum'); options ('bad-option').
 */
export function decodeTcp(buf: Uint8Array, opts?: TcpDecodeOptions): Decoded<TcpSegment> {
  if (buf.length < TCP_HEADER_LENGTH) {
    return fail('tcp', 'truncated', `segment has ${buf.length} bytes, the fixed header needs 20`);
  }
  const dataOffset = buf[12]! >>> 4;
  const hl = dataOffset << 2;
  if (dataOffset < 5) {
    return fail('tcp', 'bad-data-offset', `data offset ${dataOffset} words (${hl} bytes) is below the minimum of 5`);
  }
  if (hl > buf.length) {
    return fail(
      'tcp',
      'bad-data-offset',
      `data offset ${dataOffset} words (${hl} bytes) runs past the ${buf.length}-byte segment`,
    );
  }
  const checksum = tcpChecksum(buf);
  if (opts?.src !== undefined && opts.dst !== undefined && opts.verifyChecksum !== false) {
    const sum = sum16(buf, 0, buf.length, pseudoHeaderSum(opts.src, opts.dst, IP_PROTOCOL_TCP, buf.length));
    if (finishChecksum(sum) !== 0) {
      const expected = finishChecksum(sum + (~checksum & 0xffff));
      return fail('tcp', 'bad-checksum', `checksum ${hex16(checksum)} does not verify (expected ${hex16(expected)})`);
    }
  }
  const options = decodeTcpOptions(buf, TCP_HEADER_LENGTH, hl);
  if (!options.ok) return options;
  return ok({
    srcPort: tcpSrcPort(buf),
    dstPort: tcpDstPort(buf),
    seq: tcpSeq(buf),
    ack: tcpAck(buf),
    dataOffset,
    reserved: (buf[12]! >>> 1) & 7,
    flags: tcpFlags(buf),
    window: tcpWindow(buf),
    checksum,
    urgentPointer: (buf[18]! << 8) | buf[19]!,
    options: options.value,
    optionBytes: buf.subarray(TCP_HEADER_LENGTH, hl),
    payload: buf.subarray(hl),
  });
}

const EMPTY = new Uint8Array(0);

/** The option area encodeTcp will write for `h` (rule in the header comment). */
export function tcpOptionArea(h: TcpHeader): Uint8Array {
  const bytes = h.optionBytes;
  if (h.options === undefined) return bytes ?? EMPTY;
  if (bytes !== undefined) {
    const parsed = decodeTcpOptions(bytes);
    if (parsed.ok && tcpOptionsEqual(parsed.value, h.options)) return bytes;
  }
  return encodeTcpOptions(h.options);
}

function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`TCP ${name} ${v} is outside 0..${max}`);
}

/**
 * Writes header + payload at `buf[off…]`; returns the bytes written. Throws
 * RangeError if a field is out of range or the option area is not a multiple
 * of 4 up to 40 bytes.
 */
export function writeTcp(
  h: TcpHeader,
  payload: Uint8Array,
  ip: IpPair,
  buf: Uint8Array,
  off = 0,
  optionArea: Uint8Array = tcpOptionArea(h),
): number {
  checkField('source port', h.srcPort, 0xffff);
  checkField('destination port', h.dstPort, 0xffff);
  checkField('sequence number', h.seq, 0xffffffff);
  checkField('acknowledgment number', h.ack, 0xffffffff);
  checkField('flags', h.flags, 0x1ff);
  checkField('window', h.window, 0xffff);
  const urgent = h.urgentPointer ?? 0;
  checkField('urgent pointer', urgent, 0xffff);
  const reserved = h.reserved ?? 0;
  checkField('reserved bits', reserved, 7);
  if (optionArea.length % 4 !== 0 || optionArea.length > TCP_MAX_OPTIONS_LENGTH) {
    throw new RangeError(`TCP option area of ${optionArea.length} bytes is not a multiple of 4 up to 40`);
  }
  const hl = TCP_HEADER_LENGTH + optionArea.length;
  const len = hl + payload.length;
  buf[off] = h.srcPort >>> 8;
  buf[off + 1] = h.srcPort & 0xff;
  buf[off + 2] = h.dstPort >>> 8;
  buf[off + 3] = h.dstPort & 0xff;
  put32(buf, off + TCP_FIELD.SEQ, h.seq);
  put32(buf, off + TCP_FIELD.ACK, h.ack);
  buf[off + 12] = ((hl >>> 2) << 4) | (reserved << 1) | (h.flags >>> 8);
  buf[off + 13] = h.flags & 0xff;
  buf[off + 14] = h.window >>> 8;
  buf[off + 15] = h.window & 0xff;
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf[off + 18] = urgent >>> 8;
  buf[off + 19] = urgent & 0xff;
  buf.set(optionArea, off + TCP_HEADER_LENGTH);
  buf.set(payload, off + hl);
  let checksum = h.checksum;
  if (checksum === undefined) {
    checksum = finishChecksum(sum16(buf, off, len, pseudoHeaderSum(ip.src, ip.dst, IP_PROTOCOL_TCP, len)));
  } else {
    checkField('checksum', checksum, 0xffff);
  }
  buf[off + 16] = checksum >>> 8;
  buf[off + 17] = checksum & 0xff;
  return len;
}

/** A new segment: header, options, payload; checksum computed unless `h.checksum` is a number. */
export function encodeTcp(h: TcpHeader, payload: Uint8Array, ip: IpPair): Uint8Array {
  const area = tcpOptionArea(h);
  const out = new Uint8Array(TCP_HEADER_LENGTH + area.length + payload.length);
  writeTcp(h, payload, ip, out, 0, area);
  return out;
}

/** tcpdump's flag letters, in tcpdump's order: `S`, `S.`, `P.`, `FP.`, `SEW`; `none` for no flags. */
export function formatTcpFlags(flags: number): string {
  let s = '';
  if (flags & TCP_FLAG.FIN) s += 'F';
  if (flags & TCP_FLAG.SYN) s += 'S';
  if (flags & TCP_FLAG.RST) s += 'R';
  if (flags & TCP_FLAG.PSH) s += 'P';
  if (flags & TCP_FLAG.ACK) s += '.';
  if (flags & TCP_FLAG.URG) s += 'U';
  if (flags & TCP_FLAG.ECE) s += 'E';
  if (flags & TCP_FLAG.CWR) s += 'W';
  if (flags & TCP_FLAG.NS) s += 'e';
  return s === '' ? 'none' : s;
}

/**
 * One line like tcpdump -S (absolute sequence numbers):
 * `10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, options [mss 1460,…], length 0`.
 * Without `ip` the addresses are left out: `40000 > 80: Flags [S], …`.
 */
export function describeTcp(seg: TcpSegment, ip?: IpPair): string {
  const from = ip ? `${formatIPv4(ip.src)}.${seg.srcPort}` : `${seg.srcPort}`;
  const to = ip ? `${formatIPv4(ip.dst)}.${seg.dstPort}` : `${seg.dstPort}`;
  const len = seg.payload.length;
  let s = `${from} > ${to}: Flags [${formatTcpFlags(seg.flags)}]`;
  if (len > 0) s += `, seq ${seg.seq}:${(seg.seq + len) >>> 0}`;
  else if (seg.flags & (TCP_FLAG.SYN | TCP_FLAG.FIN | TCP_FLAG.RST)) s += `, seq ${seg.seq}`;
  if (seg.flags & TCP_FLAG.ACK) s += `, ack ${seg.ack}`;
  s += `, win ${seg.window}`;
  if (seg.flags & TCP_FLAG.URG) s += `, urg ${seg.urgentPointer}`;
  if (seg.options.length > 0) s += `, options [${describeTcpOptions(seg.options)}]`;
  return `${s}, length ${len}`;
}
