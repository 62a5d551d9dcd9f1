/**
 * ICMP for IPv4 (RFC 792; RFC 1191 next-hop MTU; RFC 1812 codes 13–15).
 *
 * Hand-written rather than taken from a packet library: messages are decoded
 * in place at offsets into a borrowed receive slab (echo data and quoted
 * datagrams are views, not copies) and malformed input becomes a typed error,
 * never an exception. No JavaScript library offers that.
 *
 *    0      7 8     15 16            31
 *   |  Type  |  Code  |    Checksum    |  0
 *   |       Rest of header (4)         |  4   echo: identifier, sequence
 *   |   data / quoted datagram ...     |  8   unreachable: unused(16), next-hop MTU(16)
 *
 * The checksum covers the whole message. Error messages (destination
 * unreachable, time exceeded) carry the start of the datagram that caused
 * them — its IP header and at least 8 bytes, or more if the sender included
 * more; `quoted` is all of it, as a view. `decodeIcmp` does not judge the
 * quote's length (a short quote is still a well-formed ICMP message);
 * `decodeQuotedDatagram` parses it and says if it is too short to use.
 * Every other type is kind 'other' and re-emitted unchanged.
 */
import { type IPv4Address, formatIPv4, readIPv4 } from './address.js';
import { finishChecksum, sum16 } from './checksum.js';
import { type Decoded, fail, ok } from './result.js';

export const ICMP_TYPE = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  ROUTER_ADVERTISEMENT: 9,
  ROUTER_SOLICITATION: 10,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
  TIMESTAMP: 13,
  TIMESTAMP_REPLY: 14,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1191, RFC 1812 §5.2.7.1). */
export const ICMP_UNREACH = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  /** Fragmentation needed and DF set; bytes 6–7 carry the next-hop MTU (RFC 1191). */
  FRAGMENTATION_NEEDED: 4,
  SOURCE_ROUTE_FAILED: 5,
  NET_UNKNOWN: 6,
  HOST_UNKNOWN: 7,
  SOURCE_HOST_ISOLATED: 8,
  NET_PROHIBITED: 9,
  HOST_PROHIBITED: 10,
  NET_TOS: 11,
  HOST_TOS: 12,
  /** Communication administratively prohibited (filtered). */
  ADMIN_PROHIBITED: 13,
  HOST_PRECEDENCE_VIOLATION: 14,
  PRECEDENCE_CUTOFF: 15,
} as const;

/** Time exceeded codes. */
export const ICMP_TIME_EXCEEDED = {
  /** TTL reached 0 in transit. */
  TTL: 0,
  /** Fragment reassembly time exceeded. */
  REASSEMBLY: 1,
} as const;

export const ICMP_FIELD = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  IDENTIFIER: 4,
  SEQUENCE: 6,
  /** Destination unreachable: bytes 4–5 unused, 6–7 next-hop MTU. */
  UNUSED: 4,
  NEXT_HOP_MTU: 6,
  BODY: 8,
} as const;

export const ICMP_HEADER_LENGTH = 8;

export interface IcmpEcho {
  kind: 'echo-request' | 'echo-reply';
  type: number;
  code: number;
  checksum: number;
  identifier: number;
  sequence: number;
  /** Everything after the 8-byte header, a view. */
  data: Uint8Array;
}

export interface IcmpDestUnreachable {
  kind: 'dest-unreachable';
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4–5: zero by RFC, kept so captures re-encode exactly. */
  unused: number;
  /** Bytes 6–7: the next-hop MTU for code 4 (0 from pre-RFC 1191 routers); whatever was sent otherwise. */
  nextHopMtu: number;
  /** The original datagram's IP header and leading bytes, a view. */
  quoted: Uint8Array;
}

export interface IcmpTimeExceeded {
  kind: 'time-exceeded';
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4–7 as a uint32: zero by RFC, kept so captures re-encode exactly. */
  unused: number;
  quoted: Uint8Array;
}

export interface IcmpOther {
  kind: 'other';
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4–7, a view. */
  restOfHeader: Uint8Array;
  /** Bytes 8…, a view. */
  body: Uint8Array;
}

export type IcmpMessage = IcmpEcho | IcmpDestUnreachable | IcmpTimeExceeded | IcmpOther;

/**
 * What encodeIcmp takes. For the known kinds the type follows from `kind`
 * (a `type` field, if present, is ignored); `code` defaults to 0 for echo;
 * `checksum` undefined means computed. A decoded IcmpMessage is accepted as is.
 */
export type IcmpInit =
  | {
      kind: 'echo-request' | 'echo-reply';
      code?: number;
      checksum?: number;
      identifier: number;
      sequence: number;
      data?: Uint8Array;
    }
  | {
      kind: 'dest-unreachable';
      code: number;
      checksum?: number;
      unused?: number;
      nextHopMtu?: number;
      quoted: Uint8Array;
    }
  | { kind: 'time-exceeded'; code: number; checksum?: number; unused?: number; quoted: Uint8Array }
  | {
      kind: 'other';
      type: number;
      code: number;
      checksum?: number;
      /** Exactly 4 bytes; zeros if omitted. */
      restOfHeader?: Uint8Array;
      body?: Uint8Array;
    };

export interface IcmpDecodeOptions {
  /** Default true. */
  verifyChecksum?: boolean;
}

// ---- fast accessors ----

export function icmpType(buf: Uint8Array, off = 0): number {
  return buf[off]!;
}
export function icmpCode(buf: Uint8Array, off = 0): number {
  return buf[off + 1]!;
}
export function icmpChecksum(buf: Uint8Array, off = 0): number {
  return (buf[off + 2]! << 8) | buf[off + 3]!;
}
export function icmpEchoIdentifier(buf: Uint8Array, off = 0): number {
  return (buf[off + 4]! << 8) | buf[off + 5]!;
}
export function icmpEchoSequence(buf: Uint8Array, off = 0): number {
  return (buf[off + 6]! << 8) | buf[off + 7]!;
}

function hex16(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0');
}

/** Decodes one ICMP message (the whole IPv4 payload). Never throws. */
export function decodeIcmp(buf: Uint8Array, opts?: IcmpDecodeOptions): Decoded<IcmpMessage> {
  if (buf.length < ICMP_HEADER_LENGTH) {
    return fail('icmp', 'truncated', `message has ${buf.length} bytes, the header needs 8`);
  }
  const type = buf[0]!;
  const code = buf[1]!;
  const checksum = icmpChecksum(buf);
  if (opts?.verifyChecksum !== false) {
    const sum = sum16(buf, 0, buf.length);
    if (finishChecksum(sum) !== 0) {
      const expected = finishChecksum(sum + (~checksum & 0xffff));
      return fail(
        'icmp',
        'bad-checksum',
        `type ${type} checksum ${hex16(checksum)} over ${buf.length} bytes does not verify (expected ${hex16(expected)})`,
      );
    }
  }
  const w1 = (buf[4]! << 8) | buf[5]!;
  const w2 = (buf[6]! << 8) | buf[7]!;
  switch (type) {
    case ICMP_TYPE.ECHO_REQUEST:
    case ICMP_TYPE.ECHO_REPLY:
      return ok({
        kind: type === ICMP_TYPE.ECHO_REQUEST ? 'echo-request' : 'echo-reply',
        type,
        code,
        checksum,
        identifier: w1,
        sequence: w2,
        data: buf.subarray(ICMP_HEADER_LENGTH),
      });
    case ICMP_TYPE.DEST_UNREACHABLE:
      return ok({
        kind: 'dest-unreachable',
        type,
        code,
        checksum,
        unused: w1,
        nextHopMtu: w2,
        quoted: buf.subarray(ICMP_HEADER_LENGTH),
      });
    case ICMP_TYPE.TIME_EXCEEDED:
      return ok({
        kind: 'time-exceeded',
        type,
        code,
        checksum,
        unused: readIPv4(buf, 4),
        quoted: buf.subarray(ICMP_HEADER_LENGTH),
      });
    default:
      return ok({
        kind: 'other',
        type,
        code,
        checksum,
        restOfHeader: buf.subarray(4, 8),
        body: buf.subarray(ICMP_HEADER_LENGTH),
      });
  }
}

const EMPTY = new Uint8Array(0);

function bodyOf(m: IcmpInit): Uint8Array {
  switch (m.kind) {
    case 'echo-request':
    case 'echo-reply':
      return m.data ?? EMPTY;
    case 'dest-unreachable':
    case 'time-exceeded':
      return m.quoted;
    case 'other':
      return m.body ?? EMPTY;
  }
}

/** Bytes the message occupies: 8 + data/quote/body. */
export function icmpLength(m: IcmpInit): number {
  return ICMP_HEADER_LENGTH + bodyOf(m).length;
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`ICMP ${name} ${v} is outside 0..${max}`);
}

/** Writes the message at `buf[off…]`; returns the bytes written. Throws RangeError on out-of-range fields. */
export function writeIcmp(m: IcmpInit, buf: Uint8Array, off = 0): number {
  const body = bodyOf(m);
  let type: number;
  let code: number;
  let w1 = 0;
  let w2 = 0;
  switch (m.kind) {
    case 'echo-request':
    case 'echo-reply':
      type = m.kind === 'echo-request' ? ICMP_TYPE.ECHO_REQUEST : ICMP_TYPE.ECHO_REPLY;
      code = m.code ?? 0;
      checkField('identifier', m.identifier, 0xffff);
      checkField('sequence', m.sequence, 0xffff);
      w1 = m.identifier;
      w2 = m.sequence;
      break;
    case 'dest-unreachable':
      type = ICMP_TYPE.DEST_UNREACHABLE;
      code = m.code;
      w1 = m.unused ?? 0;
      w2 = m.nextHopMtu ?? 0;
      checkField('unused field', w1, 0xffff);
      checkField('next-hop MTU', w2, 0xffff);
      break;
    case 'time-exceeded': {
      type = ICMP_TYPE.TIME_EXCEEDED;
      code = m.code;
      const unused = m.unused ?? 0;
      checkField('unused field', unused, 0xffffffff);
      w1 = unused >>> 16;
      w2 = unused & 0xffff;
      break;
    }
    case 'other': {
      type = m.type;
      code = m.code;
      checkField('type', type, 0xff);
      const rest = m.restOfHeader;
      if (rest !== undefined) {
        if (rest.length !== 4) throw new RangeError(`ICMP restOfHeader has ${rest.length} bytes, expected 4`);
        w1 = (rest[0]! << 8) | rest[1]!;
        w2 = (rest[2]! << 8) | rest[3]!;
      }
      break;
    }
  }
  checkField('code', code, 0xff);
  buf[off] = type;
  buf[off + 1] = code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = w1 >>> 8;
  buf[off + 5] = w1 & 0xff;
  buf[off + 6] = w2 >>> 8;
  buf[off + 7] = w2 & 0xff;
  buf.set(body, off + ICMP_HEADER_LENGTH);
  const len = ICMP_HEADER_LENGTH + body.length;
  let checksum = m.checksum;
  if (checksum === undefined) checksum = finishChecksum(sum16(buf, off, len));
  else checkField('checksum', checksum, 0xffff);
  buf[off + 2] = checksum >>> 8;
  buf[off + 3] = checksum & 0xff;
  return len;
}

/** A new message; checksum computed unless `m.checksum` is a number. */
export function encodeIcmp(m: IcmpInit): Uint8Array {
  const out = new Uint8Array(icmpLength(m));
  writeIcmp(m, out, 0);
  return out;
}

/** The fields of a quoted datagram that ICMP error handling needs. */
export interface QuotedDatagram {
  src: IPv4Address;
  dst: IPv4Address;
  protocol: number;
  /** IHL × 4. */
  headerLength: number;
  /** The original datagram's total length field (usually more than was quoted). */
  totalLength: number;
  identification: number;
  ttl: number;
  /** The quoted bytes after the IP header (for TCP/UDP: ports, then seq or length/checksum), a view. */
  transport: Uint8Array;
  /** For TCP and UDP when at least 4 transport bytes were quoted. */
  srcPort?: number;
  dstPort?: number;
}

/**
 * Parses the IP header inside an ICMP error's quote. Does not use decodeIPv4:
 * the quote is cut short by design, so its total length never matches, and
 * its checksum may have been rewritten by NAT. Never throws.
 */
export function decodeQuotedDatagram(quoted: Uint8Array): Decoded<QuotedDatagram> {
  if (quoted.length < 20) {
    return fail('icmp', 'truncated', `quoted datagram has ${quoted.length} bytes, an IPv4 header needs 20`);
  }
  const version = quoted[0]! >>> 4;
  if (version !== 4) return fail('icmp', 'bad-version', `quoted datagram has IP version ${version}, expected 4`);
  const ihl = quoted[0]! & 0x0f;
  const headerLength = ihl * 4;
  if (ihl < 5) return fail('icmp', 'bad-ihl', `quoted datagram has IHL ${ihl} words, below the minimum of 5`);
  if (headerLength > quoted.length) {
    return fail('icmp', 'bad-ihl', `quoted datagram's ${headerLength}-byte header runs past the ${quoted.length} bytes quoted`);
  }
  const protocol = quoted[9]!;
  const transport = quoted.subarray(headerLength);
  const d: QuotedDatagram = {
    src: readIPv4(quoted, 12),
    dst: readIPv4(quoted, 16),
    protocol,
    headerLength,
    totalLength: (quoted[2]! << 8) | quoted[3]!,
    identification: (quoted[4]! << 8) | quoted[5]!,
    ttl: quoted[8]!,
    transport,
  };
  if ((protocol === 6 || protocol === 17) && transport.length >= 4) {
    d.srcPort = (transport[0]! << 8) | transport[1]!;
    d.dstPort = (transport[2]! << 8) | transport[3]!;
  }
  return ok(d);
}

const UNREACH_FORMAT: Readonly<Record<number, string>> = {
  [ICMP_UNREACH.NET]: 'net %s unreachable',
  [ICMP_UNREACH.HOST]: 'host %s unreachable',
  [ICMP_UNREACH.SOURCE_ROUTE_FAILED]: '%s unreachable - source route failed',
  [ICMP_UNREACH.NET_UNKNOWN]: 'net %s unreachable - unknown',
  [ICMP_UNREACH.HOST_UNKNOWN]: 'host %s unreachable - unknown',
  [ICMP_UNREACH.SOURCE_HOST_ISOLATED]: '%s unreachable - source host isolated',
  [ICMP_UNREACH.NET_PROHIBITED]: 'net %s unreachable - admin prohibited',
  [ICMP_UNREACH.HOST_PROHIBITED]: 'host %s unreachable - admin prohibited',
  [ICMP_UNREACH.NET_TOS]: 'net %s unreachable - tos prohibited',
  [ICMP_UNREACH.HOST_TOS]: 'host %s unreachable - tos prohibited',
  [ICMP_UNREACH.ADMIN_PROHIBITED]: 'host %s unreachable - admin prohibited filter',
  [ICMP_UNREACH.HOST_PRECEDENCE_VIOLATION]: 'host %s unreachable - host precedence violation',
  [ICMP_UNREACH.PRECEDENCE_CUTOFF]: 'host %s unreachable - precedence cutoff',
};

const OTHER_NAMES: Readonly<Record<number, string>> = {
  [ICMP_TYPE.SOURCE_QUENCH]: 'source quench',
  [ICMP_TYPE.ROUTER_SOLICITATION]: 'router solicitation',
  [ICMP_TYPE.TIMESTAMP]: 'time stamp request',
  [ICMP_TYPE.TIMESTAMP_REPLY]: 'time stamp reply',
};

function describeUnreachable(m: IcmpDestUnreachable): string {
  const q = decodeQuotedDatagram(m.quoted);
  if (!q.ok) return `unreachable code ${m.code} (quoted datagram unreadable: ${q.message})`;
  const dst = formatIPv4(q.value.dst);
  switch (m.code) {
    case ICMP_UNREACH.PROTOCOL:
      return `${dst} protocol ${q.value.protocol} unreachable`;
    case ICMP_UNREACH.PORT: {
      const port = q.value.transport.length >= 4 ? (q.value.transport[2]! << 8) | q.value.transport[3]! : undefined;
      if (port === undefined) return `${dst} protocol ${q.value.protocol} port unreachable`;
      if (q.value.protocol === 6) return `${dst} tcp port ${port} unreachable`;
      if (q.value.protocol === 17) return `${dst} udp port ${port} unreachable`;
      return `${dst} protocol ${q.value.protocol} port ${port} unreachable`;
    }
    case ICMP_UNREACH.FRAGMENTATION_NEEDED:
      return m.nextHopMtu !== 0
        ? `${dst} unreachable - need to frag (mtu ${m.nextHopMtu})`
        : `${dst} unreachable - need to frag`;
    default:
      return (UNREACH_FORMAT[m.code] ?? `#${m.code} %s unreachable`).replace('%s', dst);
  }
}

/**
 * One line like tcpdump: `ICMP echo request, id 5, seq 1, length 64`,
 * `ICMP 10.0.0.2 udp port 9 unreachable, length 36`,
 * `ICMP time exceeded in-transit, length 36`. As in tcpdump, `length` is the
 * whole ICMP message.
 */
export function describeIcmp(m: IcmpMessage): string {
  const length = icmpLength(m);
  let what: string;
  switch (m.kind) {
    case 'echo-request':
    case 'echo-reply':
      what = `echo ${m.kind === 'echo-request' ? 'request' : 'reply'}, id ${m.identifier}, seq ${m.sequence}`;
      break;
    case 'dest-unreachable':
      what = describeUnreachable(m);
      break;
    case 'time-exceeded':
      what =
        m.code === ICMP_TIME_EXCEEDED.TTL
          ? 'time exceeded in-transit'
          : m.code === ICMP_TIME_EXCEEDED.REASSEMBLY
            ? 'ip reassembly time exceeded'
            : `time exceeded-#${m.code}`;
      break;
    case 'other':
      what = OTHER_NAMES[m.type] ?? `type-#${m.type}`;
      break;
  }
  return `ICMP ${what}, length ${length}`;
}
