/**
 * Path MTU discovery through a VXLAN port, as Linux does it for a tunnel
 * whose device is a bridge port (skb_tunnel_check_pmtu with a reply,
 * net/ipv4/ip_tunnel_core.c): an IPv4 packet with DF set that is too big for
 * the overlay is not sent; the sender gets an ICMP "fragmentation needed"
 * carrying the overlay MTU, written as if the packet's destination had
 * answered (addresses and MACs swapped), so the sender's route learns the
 * smaller MTU and TCP lowers its MSS.
 *
 * The kernel's rules (iptunnel_pmtud_check_icmp): no answer for broadcast
 * or multicast destinations, for zero, loopback, broadcast or multicast
 * sources, or for a packet that is itself an ICMP error. The quote is the
 * original IP packet cut to fit 576 bytes (iptunnel_pmtud_build_icmp).
 *
 * Pure: reads the frame, writes the answer into a caller's buffer.
 */
import { internetChecksum } from '../wire/checksum.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import { IPV4_FLAG, IP_PROTOCOL, computeIPv4Checksum } from '../wire/ipv4.js';

/** The ICMP answer is at most this long (IP header + ICMP header + quote), as RFC 1812 and the kernel cap it. */
const ICMP_ANSWER_MAX = 576;
/** ICMP types that are errors (icmp_is_err): unreachable, source quench, redirect, time exceeded, parameter problem. */
const ICMP_ERRORS = new Set([3, 4, 5, 11, 12]);

/** The answer's longest possible Ethernet frame (a VLAN tag kept). */
export const FRAG_NEEDED_MAX_FRAME = 18 + ICMP_ANSWER_MAX;

function be16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function badSource(a: number): boolean {
  const first = a >>> 24;
  return a === 0 || first === 0 || first === 127 || a === 0xffffffff || (first >= 224 && first <= 239);
}

function badDestination(a: number): boolean {
  const first = a >>> 24;
  return a === 0xffffffff || (first >= 224 && first <= 239);
}

/**
 * The ICMP frag-needed frame answering `frame[off, off+len)` (an Ethernet
 * frame, untagged or with one 802.1Q tag, which is kept), written at
 * `out[outOff…]`; returns its length, or 0 when the kernel would not answer
 * (not IPv4, DF clear, a broadcast destination, an ICMP error…).
 */
export function writeFragNeeded(frame: Uint8Array, off: number, len: number, mtu: number, out: Uint8Array, outOff: number): number {
  let l2 = 14;
  let type = be16(frame, off + 12);
  if (type === ETHERTYPE.VLAN && len >= 18) {
    l2 = 18;
    type = be16(frame, off + 16);
  }
  if (type !== ETHERTYPE.IPV4 || len < l2 + 20) return 0;
  const ip = off + l2;
  const ihl = (frame[ip]! & 0x0f) * 4;
  if (frame[ip]! >> 4 !== 4 || ihl < 20 || len < l2 + ihl) return 0;
  if ((be16(frame, ip + 6) & IPV4_FLAG.DF) === 0) return 0;
  const src = be32(frame, ip + 12);
  const dst = be32(frame, ip + 16);
  if (badSource(src) || badDestination(dst)) return 0;
  if (frame[ip + 9] === IP_PROTOCOL.ICMP && (len < l2 + ihl + 1 || ICMP_ERRORS.has(frame[ip + ihl]!))) return 0;
  const quote = Math.min(len - l2, ICMP_ANSWER_MAX - 20 - 8);
  if (out.length < outOff + l2 + 28 + quote) return 0;
  // Ethernet: back to the sender, from the station it wrote to; the VLAN tag as it was.
  out.set(frame.subarray(off + 6, off + 12), outOff);
  out.set(frame.subarray(off, off + 6), outOff + 6);
  out.set(frame.subarray(off + 12, off + l2), outOff + 12);
  // IPv4: from the original destination to the original source.
  const o = outOff + l2;
  const total = 20 + 8 + quote;
  out[o] = 0x45;
  out[o + 1] = 0;
  out[o + 2] = total >> 8;
  out[o + 3] = total & 0xff;
  out.fill(0, o + 4, o + 8); // id 0, no flags: the kernel's answer is not fragmentable-sensitive
  out[o + 8] = 64;
  out[o + 9] = IP_PROTOCOL.ICMP;
  out[o + 10] = 0;
  out[o + 11] = 0;
  out.set(frame.subarray(ip + 16, ip + 20), o + 12);
  out.set(frame.subarray(ip + 12, ip + 16), o + 16);
  const ipSum = computeIPv4Checksum(out, o, 20);
  out[o + 10] = ipSum >> 8;
  out[o + 11] = ipSum & 0xff;
  // ICMP type 3 code 4, next-hop MTU in the second half of the rest-of-header (RFC 1191).
  const c = o + 20;
  out[c] = 3;
  out[c + 1] = 4;
  out[c + 2] = 0;
  out[c + 3] = 0;
  out[c + 4] = 0;
  out[c + 5] = 0;
  out[c + 6] = (mtu >> 8) & 0xff;
  out[c + 7] = mtu & 0xff;
  out.set(frame.subarray(ip, ip + quote), c + 8);
  const icmpSum = internetChecksum(out, c, 8 + quote);
  out[c + 2] = icmpSum >> 8;
  out[c + 3] = icmpSum & 0xff;
  return l2 + total;
}
