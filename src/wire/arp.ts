/**
 * ARP for Ethernet and IPv4 (RFC 826).
 *
 * Hand-written: the packet is 28 bytes, but wirelab needs it decoded in place
 * from a borrowed frame with typed errors (a drop counter per fault), never an
 * exception, and no library does zero-copy decoding at offsets that way.
 *
 *   0       2       4    5    6       8          14         18         24
 *   | htype | ptype | hl | pl | oper  | sha (6)  | spa (4)  | tha (6)  | tpa (4)
 *
 * Only hardware type 1 (Ethernet) with protocol type 0x0800 is decoded; any
 * operation code is kept (RARP's 3 and 4 are printed by name). Bytes after
 * the 28 (Ethernet padding) are ignored.
 */
import { type IPv4Address, type Mac, formatIPv4, formatMac, readIPv4, readMac, writeIPv4, writeMac } from './address.js';
import { type Decoded, fail, ok } from './result.js';

export const ARP_OP = { REQUEST: 1, REPLY: 2 } as const;

/** RARP operation codes (RFC 903), decoded and named but not otherwise used. */
export const RARP_OP = { REQUEST: 3, REPLY: 4 } as const;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;

export const ARP_FIELD = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const;

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LENGTH = 28;
/** The part before the addresses, which says how long they are. */
const ARP_FIXED_LENGTH = 8;

export interface ArpPacket {
  hardwareType: number;
  protocolType: number;
  hardwareLength: number;
  protocolLength: number;
  operation: number;
  senderMac: Mac;
  senderIp: IPv4Address;
  targetMac: Mac;
  targetIp: IPv4Address;
}

// Fast accessors; each assumes a packet that decodeArp accepted (>= 28 bytes).
export function arpOperation(buf: Uint8Array): number {
  return (buf[ARP_FIELD.OPER]! << 8) | buf[ARP_FIELD.OPER + 1]!;
}
export function arpSenderIp(buf: Uint8Array): IPv4Address {
  return readIPv4(buf, ARP_FIELD.SPA);
}
export function arpTargetIp(buf: Uint8Array): IPv4Address {
  return readIPv4(buf, ARP_FIELD.TPA);
}

export function decodeArp(buf: Uint8Array): Decoded<ArpPacket> {
  if (buf.length < ARP_FIXED_LENGTH) {
    return fail('arp', 'truncated', `packet of ${buf.length} bytes is shorter than the 8-byte ARP fixed header`);
  }
  const hardwareType = (buf[ARP_FIELD.HTYPE]! << 8) | buf[ARP_FIELD.HTYPE + 1]!;
  const protocolType = (buf[ARP_FIELD.PTYPE]! << 8) | buf[ARP_FIELD.PTYPE + 1]!;
  const hardwareLength = buf[ARP_FIELD.HLEN]!;
  const protocolLength = buf[ARP_FIELD.PLEN]!;
  if (hardwareType !== ARP_HTYPE_ETHERNET) {
    return fail('arp', 'unsupported', `hardware type ${hardwareType} (only 1, Ethernet, is handled)`);
  }
  if (protocolType !== ARP_PTYPE_IPV4) {
    return fail('arp', 'unsupported', `protocol type 0x${protocolType.toString(16).padStart(4, '0')} (only 0x0800, IPv4, is handled)`);
  }
  if (hardwareLength !== 6 || protocolLength !== 4) {
    return fail(
      'arp',
      'bad-length',
      `hardware length ${hardwareLength} / protocol length ${protocolLength} disagree with Ethernet/IPv4 (6 / 4)`,
    );
  }
  if (buf.length < ARP_LENGTH) {
    return fail('arp', 'truncated', `packet of ${buf.length} bytes is shorter than the 28 bytes Ethernet/IPv4 ARP needs`);
  }
  return ok({
    hardwareType,
    protocolType,
    hardwareLength,
    protocolLength,
    operation: arpOperation(buf),
    senderMac: readMac(buf, ARP_FIELD.SHA),
    senderIp: readIPv4(buf, ARP_FIELD.SPA),
    targetMac: readMac(buf, ARP_FIELD.THA),
    targetIp: readIPv4(buf, ARP_FIELD.TPA),
  });
}

/**
 * Writes the 28-byte packet at `off`; returns 28. The type fields are written
 * as given; the lengths must be 6 and 4 (RangeError otherwise), since the
 * addresses are a MAC and an IPv4 address.
 */
export function writeArp(p: ArpPacket, buf: Uint8Array, off: number): number {
  if (p.hardwareLength !== 6 || p.protocolLength !== 4) {
    throw new RangeError(`cannot encode ARP with hardware length ${p.hardwareLength} / protocol length ${p.protocolLength}`);
  }
  if (!Number.isInteger(p.operation) || p.operation < 0 || p.operation > 0xffff) {
    throw new RangeError(`ARP operation ${p.operation} out of range 0..65535`);
  }
  buf[off + ARP_FIELD.HTYPE] = (p.hardwareType >>> 8) & 0xff;
  buf[off + ARP_FIELD.HTYPE + 1] = p.hardwareType & 0xff;
  buf[off + ARP_FIELD.PTYPE] = (p.protocolType >>> 8) & 0xff;
  buf[off + ARP_FIELD.PTYPE + 1] = p.protocolType & 0xff;
  buf[off + ARP_FIELD.HLEN] = 6;
  buf[off + ARP_FIELD.PLEN] = 4;
  buf[off + ARP_FIELD.OPER] = p.operation >>> 8;
  buf[off + ARP_FIELD.OPER + 1] = p.operation & 0xff;
  writeMac(buf, off + ARP_FIELD.SHA, p.senderMac);
  writeIPv4(buf, off + ARP_FIELD.SPA, p.senderIp);
  writeMac(buf, off + ARP_FIELD.THA, p.targetMac);
  writeIPv4(buf, off + ARP_FIELD.TPA, p.targetIp);
  return ARP_LENGTH;
}

export function encodeArp(p: ArpPacket): Uint8Array {
  const out = new Uint8Array(ARP_LENGTH);
  writeArp(p, out, 0);
  return out;
}

/** An Ethernet/IPv4 ARP packet with the given operation and addresses. */
export function arpPacket(
  operation: number,
  senderMac: Mac,
  senderIp: IPv4Address,
  targetMac: Mac,
  targetIp: IPv4Address,
): ArpPacket {
  return {
    hardwareType: ARP_HTYPE_ETHERNET,
    protocolType: ARP_PTYPE_IPV4,
    hardwareLength: 6,
    protocolLength: 4,
    operation,
    senderMac,
    senderIp,
    targetMac,
    targetIp,
  };
}

/** "Who has `targetIp`? Tell `senderIp`": target MAC zero, as Linux sends it. */
export function arpRequest(senderMac: Mac, senderIp: IPv4Address, targetIp: IPv4Address): ArpPacket {
  return arpPacket(ARP_OP.REQUEST, senderMac, senderIp, 0, targetIp);
}

/**
 * One line like tcpdump:
 * `ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28`,
 * `ARP, Reply 10.0.0.2 is-at 02:42:ac:11:00:02, length 28`.
 * A request with a non-zero target MAC shows it in parentheses, as tcpdump does.
 */
export function describeArp(p: ArpPacket): string {
  const length = ARP_FIXED_LENGTH + 2 * (p.hardwareLength + p.protocolLength);
  let body: string;
  switch (p.operation) {
    case ARP_OP.REQUEST:
      body =
        `Request who-has ${formatIPv4(p.targetIp)}` +
        (p.targetMac !== 0 ? ` (${formatMac(p.targetMac)})` : '') +
        ` tell ${formatIPv4(p.senderIp)}`;
      break;
    case ARP_OP.REPLY:
      body = `Reply ${formatIPv4(p.senderIp)} is-at ${formatMac(p.senderMac)}`;
      break;
    case RARP_OP.REQUEST:
      body = `Reverse Request who-is ${formatMac(p.targetMac)} tell ${formatMac(p.senderMac)}`;
      break;
    case RARP_OP.REPLY:
      body = `Reverse Reply ${formatMac(p.targetMac)} at ${formatIPv4(p.targetIp)}`;
      break;
    default:
      body = `Unknown operation (${p.operation})`;
  }
  return `ARP, ${body}, length ${length}`;
}
