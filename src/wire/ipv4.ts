/**
 * IPv4 headers (RFC 791), with options, fragmentation fields and the header
 * checksum, plus in-place TTL decrement with an incremental checksum update
 * (RFC 1624) for the forwarding path.
 *
 * Hand-written: wirelab decodes headers in place at offsets into a borrowed
 * receive buffer, with a typed error per fault (each becomes a drop counter)
 * and never an exception; no JavaScript library does zero-copy decoding at
 * offsets with typed errors.
 *
 *   0        1        2        4        6              8     9     10       12    16    20
 *   | ver|ihl| dscp|ecn | total len | ident  | flags|frag off | ttl | proto | checksum | src | dst | options…
 */
import { type IPv4Address, formatIPv4, readIPv4, writeIPv4 } from './address.js';
import { checksumAdjust16, finishChecksum, fold32, sum16 } from './checksum.js';
import { type Decoded, fail, ok } from './result.js';

export const IP_PROTOCOL = { ICMP: 1, TCP: 6, UDP: 17 } as const;

export const IPV4_FIELD = {
  VERSION_IHL: 0,
  DSCP_ECN: 1,
  TOTAL_LENGTH: 2,
  IDENTIFICATION: 4,
  FLAGS_FRAGMENT: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const;

export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_MAX_HEADER_LENGTH = 60;
export const IPV4_MAX_TOTAL_LENGTH = 65535;

/** Bits of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG = { RESERVED: 0x8000, DF: 0x4000, MF: 0x2000, OFFSET_MASK: 0x1fff } as const;

/** Option kinds (IANA "IP Option Numbers", copy/class/number packed as on the wire). */
export const IPV4_OPTION = {
  EOL: 0,
  NOP: 1,
  RECORD_ROUTE: 7,
  TIMESTAMP: 68,
  SECURITY: 130,
  LOOSE_SOURCE_ROUTE: 131,
  STREAM_ID: 136,
  STRICT_SOURCE_ROUTE: 137,
  ROUTER_ALERT: 148,
} as const;

export interface IPv4Header {
  /** Differentiated services code point, 0..63. */
  dscp: number;
  /** Explicit congestion notification, 0..3. */
  ecn: number;
  /** Left out when encoding: header length + payload length is written. */
  totalLength?: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** The evil bit (RFC 3514); kept so that captured headers round-trip. */
  reservedFlag: boolean;
  /** Fragment offset in BYTES (a multiple of 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** Left out when encoding: computed. A number is written as is. */
  checksum?: number;
  src: IPv4Address;
  dst: IPv4Address;
  /** Raw option bytes, a multiple of 4 long and at most 40 (padding included). */
  options: Uint8Array;
}

export interface IPv4Packet extends IPv4Header {
  version: number;
  /** In bytes: IHL * 4. */
  headerLength: number;
  totalLength: number;
  checksum: number;
  /** Bytes [headerLength, totalLength): trailing link-layer padding excluded. A view, not a copy. */
  payload: Uint8Array;
}

export interface IPv4DecodeOptions {
  /** Verify the header checksum (default true). */
  verifyChecksum?: boolean;
}

// ---------------------------------------------------------------------------
// Fast accessors: no allocation, no checks beyond what the caller has done
// (a header decodeIPv4 accepted, or at least 20 bytes at `off`).

export function ipv4Version(buf: Uint8Array, off = 0): number {
  return buf[off]! >>> 4;
}
export function ipv4HeaderLength(buf: Uint8Array, off = 0): number {
  return (buf[off]! & 0x0f) << 2;
}
export function ipv4TotalLength(buf: Uint8Array, off = 0): number {
  return (buf[off + IPV4_FIELD.TOTAL_LENGTH]! << 8) | buf[off + IPV4_FIELD.TOTAL_LENGTH + 1]!;
}
export function ipv4Ttl(buf: Uint8Array, off = 0): number {
  return buf[off + IPV4_FIELD.TTL]!;
}
export function ipv4Protocol(buf: Uint8Array, off = 0): number {
  return buf[off + IPV4_FIELD.PROTOCOL]!;
}
export function ipv4Checksum(buf: Uint8Array, off = 0): number {
  return (buf[off + IPV4_FIELD.CHECKSUM]! << 8) | buf[off + IPV4_FIELD.CHECKSUM + 1]!;
}
export function ipv4Src(buf: Uint8Array, off = 0): IPv4Address {
  return readIPv4(buf, off + IPV4_FIELD.SRC);
}
export function ipv4Dst(buf: Uint8Array, off = 0): IPv4Address {
  return readIPv4(buf, off + IPV4_FIELD.DST);
}
/** True if this is a fragment: MF set or a non-zero offset. */
export function ipv4IsFragment(buf: Uint8Array, off = 0): boolean {
  const w = (buf[off + IPV4_FIELD.FLAGS_FRAGMENT]! << 8) | buf[off + IPV4_FIELD.FLAGS_FRAGMENT + 1]!;
  return (w & (IPV4_FLAG.MF | IPV4_FLAG.OFFSET_MASK)) !== 0;
}

/**
 * The header checksum field's correct value for the header at `off`,
 * computed as if the field were zero.
 */
export function computeIPv4Checksum(buf: Uint8Array, off = 0, headerLength = ipv4HeaderLength(buf, off)): number {
  const sum = sum16(buf, off, IPV4_FIELD.CHECKSUM) + sum16(buf, off + 12, headerLength - 12);
  return finishChecksum(sum);
}

/** RFC 1071 verification: the header, checksum included, sums to 0xffff. */
export function ipv4ChecksumValid(buf: Uint8Array, off = 0, headerLength = ipv4HeaderLength(buf, off)): boolean {
  return fold32(sum16(buf, off, headerLength)) === 0xffff;
}

/**
 * Decrements the TTL of the header at `off` in place and patches the header
 * checksum incrementally (RFC 1624 eqn. 3). Returns the new TTL, or -1
 * (leaving the bytes untouched) if the TTL is already 0. A router that gets
 * 0 back must not forward the packet (RFC 1812 §5.3.1).
 */
export function ipv4DecrementTtl(buf: Uint8Array, off = 0): number {
  const ttl = buf[off + IPV4_FIELD.TTL]!;
  if (ttl === 0) return -1;
  const protocol = buf[off + IPV4_FIELD.PROTOCOL]!;
  const oldWord = (ttl << 8) | protocol;
  const newWord = oldWord - 0x100;
  const cs = checksumAdjust16(ipv4Checksum(buf, off), oldWord, newWord);
  buf[off + IPV4_FIELD.TTL] = ttl - 1;
  buf[off + IPV4_FIELD.CHECKSUM] = cs >>> 8;
  buf[off + IPV4_FIELD.CHECKSUM + 1] = cs & 0xff;
  return ttl - 1;
}

// ---------------------------------------------------------------------------
// Representation.

export function decodeIPv4(buf: Uint8Array, opts?: IPv4DecodeOptions): Decoded<IPv4Packet> {
  if (buf.length < IPV4_MIN_HEADER_LENGTH) {
    return fail('ipv4', 'truncated', `packet of ${buf.length} bytes is shorter than the 20-byte IPv4 header`);
  }
  const version = buf[0]! >>> 4;
  if (version !== 4) return fail('ipv4', 'bad-version', `version ${version}, expected 4`);
  const ihl = buf[0]! & 0x0f;
  const headerLength = ihl << 2;
  if (ihl < 5) return fail('ipv4', 'bad-ihl', `IHL ${ihl} (${headerLength} bytes) is below the minimum of 5 (20 bytes)`);
  if (headerLength > buf.length) {
    return fail('ipv4', 'bad-ihl', `header length ${headerLength} runs past the ${buf.length}-byte buffer`);
  }
  const totalLength = ipv4TotalLength(buf);
  if (totalLength < headerLength) {
    return fail('ipv4', 'bad-total-length', `total length ${totalLength} is less than the header length ${headerLength}`);
  }
  if (totalLength > buf.length) {
    return fail('ipv4', 'bad-total-length', `total length ${totalLength} runs past the ${buf.length}-byte buffer`);
  }
  const checksum = ipv4Checksum(buf);
  if (opts?.verifyChecksum !== false && !ipv4ChecksumValid(buf, 0, headerLength)) {
    const expected = computeIPv4Checksum(buf, 0, headerLength);
    return fail(
      'ipv4',
      'bad-checksum',
      `header checksum 0x${hex16(checksum)} does not verify (expected 0x${hex16(expected)})`,
    );
  }
  const flagsFragment = (buf[IPV4_FIELD.FLAGS_FRAGMENT]! << 8) | buf[IPV4_FIELD.FLAGS_FRAGMENT + 1]!;
  return ok({
    version,
    headerLength,
    dscp: buf[IPV4_FIELD.DSCP_ECN]! >>> 2,
    ecn: buf[IPV4_FIELD.DSCP_ECN]! & 0x03,
    totalLength,
    identification: (buf[IPV4_FIELD.IDENTIFICATION]! << 8) | buf[IPV4_FIELD.IDENTIFICATION + 1]!,
    reservedFlag: (flagsFragment & IPV4_FLAG.RESERVED) !== 0,
    dontFragment: (flagsFragment & IPV4_FLAG.DF) !== 0,
    moreFragments: (flagsFragment & IPV4_FLAG.MF) !== 0,
    fragmentOffset: (flagsFragment & IPV4_FLAG.OFFSET_MASK) << 3,
    ttl: buf[IPV4_FIELD.TTL]!,
    protocol: buf[IPV4_FIELD.PROTOCOL]!,
    checksum,
    src: readIPv4(buf, IPV4_FIELD.SRC),
    dst: readIPv4(buf, IPV4_FIELD.DST),
    options: buf.subarray(IPV4_FIELD.OPTIONS, headerLength),
    payload: buf.subarray(headerLength, totalLength),
  });
}

/** Header length `h` encodes to: 20 + options. */
export function ipv4HeaderLengthOf(h: IPv4Header): number {
  return IPV4_MIN_HEADER_LENGTH + h.options.length;
}

/**
 * Writes the header at `off` for a payload of `payloadLength` bytes (the
 * payload itself is the caller's to place); returns the header length.
 * Throws RangeError for values that do not fit their fields.
 */
export function writeIPv4Header(h: IPv4Header, buf: Uint8Array, off: number, payloadLength: number): number {
  const optLen = h.options.length;
  if (optLen % 4 !== 0 || optLen > IPV4_MAX_HEADER_LENGTH - IPV4_MIN_HEADER_LENGTH) {
    throw new RangeError(`IPv4 options of ${optLen} bytes: must be a multiple of 4 and at most 40`);
  }
  const headerLength = IPV4_MIN_HEADER_LENGTH + optLen;
  const totalLength = h.totalLength ?? headerLength + payloadLength;
  checkUint('totalLength', totalLength, IPV4_MAX_TOTAL_LENGTH);
  checkUint('dscp', h.dscp, 63);
  checkUint('ecn', h.ecn, 3);
  checkUint('identification', h.identification, 0xffff);
  checkUint('ttl', h.ttl, 255);
  checkUint('protocol', h.protocol, 255);
  checkUint('fragmentOffset', h.fragmentOffset, IPV4_FLAG.OFFSET_MASK << 3);
  if (h.fragmentOffset % 8 !== 0) throw new RangeError(`fragmentOffset ${h.fragmentOffset} is not a multiple of 8`);
  if (h.checksum !== undefined) checkUint('checksum', h.checksum, 0xffff);

  const flagsFragment =
    (h.reservedFlag ? IPV4_FLAG.RESERVED : 0) |
    (h.dontFragment ? IPV4_FLAG.DF : 0) |
    (h.moreFragments ? IPV4_FLAG.MF : 0) |
    (h.fragmentOffset >>> 3);
  buf[off] = 0x40 | (headerLength >>> 2);
  buf[off + IPV4_FIELD.DSCP_ECN] = (h.dscp << 2) | h.ecn;
  buf[off + IPV4_FIELD.TOTAL_LENGTH] = totalLength >>> 8;
  buf[off + IPV4_FIELD.TOTAL_LENGTH + 1] = totalLength & 0xff;
  buf[off + IPV4_FIELD.IDENTIFICATION] = h.identification >>> 8;
  buf[off + IPV4_FIELD.IDENTIFICATION + 1] = h.identification & 0xff;
  buf[off + IPV4_FIELD.FLAGS_FRAGMENT] = flagsFragment >>> 8;
  buf[off + IPV4_FIELD.FLAGS_FRAGMENT + 1] = flagsFragment & 0xff;
  buf[off + IPV4_FIELD.TTL] = h.ttl;
  buf[off + IPV4_FIELD.PROTOCOL] = h.protocol;
  writeIPv4(buf, off + IPV4_FIELD.SRC, h.src);
  writeIPv4(buf, off + IPV4_FIELD.DST, h.dst);
  buf.set(h.options, off + IPV4_FIELD.OPTIONS);
  const checksum = h.checksum ?? computeIPv4Checksum(buf, off, headerLength);
  buf[off + IPV4_FIELD.CHECKSUM] = checksum >>> 8;
  buf[off + IPV4_FIELD.CHECKSUM + 1] = checksum & 0xff;
  return headerLength;
}

/** A new packet: header then payload. */
export function encodeIPv4(h: IPv4Header, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const headerLength = ipv4HeaderLengthOf(h);
  const out = new Uint8Array(headerLength + payload.length);
  writeIPv4Header(h, out, 0, payload.length);
  out.set(payload, headerLength);
  return out;
}

// ---------------------------------------------------------------------------
// Options.

export interface IPv4Option {
  kind: number;
  /** Bytes the option occupies, kind and length octets included (1 for EOL and NOP). */
  length: number;
  /** The bytes after the kind and length octets. Empty for EOL and NOP. A view. */
  data: Uint8Array;
}

/**
 * Splits option bytes into options. EOL ends the list (it is returned; the
 * padding after it is not). Fails with 'bad-option' when a length octet is
 * missing, below 2, or runs past the options area.
 */
export function parseIPv4Options(options: Uint8Array): Decoded<IPv4Option[]> {
  const out: IPv4Option[] = [];
  let i = 0;
  while (i < options.length) {
    const kind = options[i]!;
    if (kind === IPV4_OPTION.EOL || kind === IPV4_OPTION.NOP) {
      out.push({ kind, length: 1, data: options.subarray(i + 1, i + 1) });
      if (kind === IPV4_OPTION.EOL) break;
      i += 1;
      continue;
    }
    if (i + 1 >= options.length) {
      return fail('ipv4', 'bad-option', `option ${kind} at offset ${i} has no length octet`);
    }
    const length = options[i + 1]!;
    if (length < 2 || i + length > options.length) {
      return fail(
        'ipv4',
        'bad-option',
        `option ${kind} at offset ${i} has length ${length} (options area is ${options.length} bytes)`,
      );
    }
    out.push({ kind, length, data: options.subarray(i + 2, i + length) });
    i += length;
  }
  return ok(out);
}

const OPTION_NAMES: ReadonlyMap<number, string> = new Map([
  [IPV4_OPTION.EOL, 'EOL'],
  [IPV4_OPTION.NOP, 'NOP'],
  [IPV4_OPTION.RECORD_ROUTE, 'Record Route'],
  [IPV4_OPTION.TIMESTAMP, 'Timestamp'],
  [IPV4_OPTION.SECURITY, 'Security'],
  [IPV4_OPTION.LOOSE_SOURCE_ROUTE, 'Loose Source Route'],
  [IPV4_OPTION.STREAM_ID, 'Stream ID'],
  [IPV4_OPTION.STRICT_SOURCE_ROUTE, 'Strict Source Route'],
  [IPV4_OPTION.ROUTER_ALERT, 'Router Alert'],
]);

/** `Router Alert`, `Record Route`, or `option 42` for a kind without a name. */
export function ipv4OptionName(kind: number): string {
  return OPTION_NAMES.get(kind) ?? `option ${kind}`;
}

const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [IP_PROTOCOL.ICMP, 'ICMP'],
  [2, 'IGMP'],
  [4, 'IPIP'],
  [IP_PROTOCOL.TCP, 'TCP'],
  [IP_PROTOCOL.UDP, 'UDP'],
  [41, 'IPv6'],
  [47, 'GRE'],
  [50, 'ESP'],
  [51, 'AH'],
  [89, 'OSPF'],
  [132, 'SCTP'],
]);

/** `TCP (6)`, or `unknown (253)`: the form tcpdump -v prints after `proto`. */
export function formatIpProtocol(protocol: number): string {
  return `${PROTOCOL_NAMES.get(protocol) ?? 'unknown'} (${protocol})`;
}

/**
 * One line in the spirit of `tcpdump -v`:
 * `IP 10.0.0.1 > 10.0.0.2: tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 28`,
 * followed by `, options (Router Alert)` when there are options.
 */
export function describeIPv4(p: IPv4Packet): string {
  const tos = (p.dscp << 2) | p.ecn;
  const flags = [p.reservedFlag ? 'rsvd' : '', p.dontFragment ? 'DF' : '', p.moreFragments ? '+' : '']
    .filter((f) => f !== '')
    .join(', ');
  let s =
    `IP ${formatIPv4(p.src)} > ${formatIPv4(p.dst)}: tos 0x${tos.toString(16)}, ttl ${p.ttl}, id ${p.identification}, ` +
    `offset ${p.fragmentOffset}, flags [${flags === '' ? 'none' : flags}], proto ${formatIpProtocol(p.protocol)}, ` +
    `length ${p.totalLength}`;
  if (p.options.length > 0) {
    const parsed = parseIPv4Options(p.options);
    if (parsed.ok) {
      const names = parsed.value.filter((o) => o.kind !== IPV4_OPTION.EOL).map((o) => ipv4OptionName(o.kind));
      s += `, options (${names.length > 0 ? names.join(', ') : 'EOL'})`;
    } else {
      s += `, options (bad: ${parsed.message})`;
    }
  }
  return s;
}

function hex16(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`IPv4 ${name} ${v} out of range 0..${max}`);
}
