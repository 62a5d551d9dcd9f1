/**
 * What conntrack reads from a datagram, parsed once per hook into a reused
 * object (no allocation per packet): protocol, the tuple fields, and for TCP
 * the flags and lengths its state machine needs.
 */
import { IP_PROTOCOL } from '../wire/ipv4.js';
import { isIcmpError } from './rewrite.js';

export const PKT = {
  /** TCP, UDP or an ICMP query: has a tuple. */
  TRACKABLE: 0,
  /** An ICMP error: related to the flow it quotes. */
  ICMP_ERROR: 1,
  /** Another protocol, an ICMP type that opens no flow, or a later fragment: passes untracked. */
  UNTRACKED: 2,
  /** A header too short or inconsistent to track. */
  MALFORMED: 3,
} as const;

export interface PacketInfo {
  protocol: number;
  src: number;
  dst: number;
  /** TCP/UDP ports; for ICMP, sport is the identifier and dport the type. */
  sport: number;
  dport: number;
  hl: number;
  /** Bytes after the IP header. */
  l4Len: number;
  /** TCP: header length, flags, payload bytes. */
  thl: number;
  flags: number;
  payload: number;
}

export function newPacketInfo(): PacketInfo {
  return { protocol: 0, src: 0, dst: 0, sport: 0, dport: 0, hl: 0, l4Len: 0, thl: 0, flags: 0, payload: 0 };
}

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Parses the datagram at `off` (`len` bytes, IP header already validated by ip/) into `p`. */
export function parsePacket(b: Uint8Array, off: number, len: number, p: PacketInfo): number {
  const hl = (b[off]! & 0x0f) << 2;
  p.hl = hl;
  p.protocol = b[off + 9]!;
  p.src = be32(b, off + 12);
  p.dst = be32(b, off + 16);
  p.l4Len = len - hl;
  if ((be16(b, off + 6) & 0x1fff) !== 0) return PKT.UNTRACKED; // a later fragment: no ports
  const l4 = off + hl;
  switch (p.protocol) {
    case IP_PROTOCOL.TCP: {
      if (p.l4Len < 20) return PKT.MALFORMED;
      const thl = (b[l4 + 12]! >>> 4) << 2;
      if (thl < 20 || thl > p.l4Len) return PKT.MALFORMED;
      p.sport = be16(b, l4);
      p.dport = be16(b, l4 + 2);
      p.thl = thl;
      p.flags = b[l4 + 13]!;
      p.payload = p.l4Len - thl;
      return PKT.TRACKABLE;
    }
    case IP_PROTOCOL.UDP:
      if (p.l4Len < 8) return PKT.MALFORMED;
      p.sport = be16(b, l4);
      p.dport = be16(b, l4 + 2);
      return PKT.TRACKABLE;
    case IP_PROTOCOL.ICMP: {
      if (p.l4Len < 8) return PKT.MALFORMED;
      const type = b[l4]!;
      if (isIcmpError(type)) return PKT.ICMP_ERROR;
      // Queries and their replies: echo, timestamp, information, address mask.
      if (type !== 0 && type !== 8 && (type < 13 || type > 18)) return PKT.UNTRACKED;
      p.sport = be16(b, l4 + 4);
      p.dport = type;
      return PKT.TRACKABLE;
    }
    default:
      return PKT.UNTRACKED;
  }
}
