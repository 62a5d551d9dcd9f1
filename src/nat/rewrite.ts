/**
 * In-place NAT rewrites of IPv4 datagrams with RFC 1624 incremental
 * checksums: the IP header checksum, and the TCP/UDP checksum including the
 * pseudo-header (the addresses are part of it), or the ICMP checksum for an
 * echo identifier.
 *
 * Partial checksums (a frame with a virtio_net_hdr asking for NEEDS_CSUM,
 * Linux's CHECKSUM_PARTIAL, e.g. a TSO super-frame): the TCP checksum field
 * then holds only the folded pseudo-header sum, not complemented; the rest is
 * summed by whoever completes it (the NIC, the kernel, src/link/gso.ts). So
 * an address change is applied to that partial sum (complemented, adjusted,
 * complemented back), and a port change is not applied at all: the port is
 * data that the completion will sum. This is what Linux's
 * inet_proto_csum_replace4/2 do for CHECKSUM_PARTIAL, and it is why a GSO
 * super-frame can be translated whole and segmented later.
 *
 * An ICMP error's quoted header is rewritten by `translateIcmpError`: inner
 * addresses, ports (or echo id), inner IP checksum and inner transport
 * checksum incrementally, then the ICMP checksum recomputed over the message
 * (errors are rare and small, and the received checksum was verified first).
 */
import { checksumAdjust16, checksumAdjust32, internetChecksum } from '../wire/checksum.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Offset of the L4 checksum field from the L4 header, or -1 (ICMP handled apart). */
function l4ChecksumOffset(protocol: number): number {
  return protocol === IP_PROTOCOL.TCP ? 16 : protocol === IP_PROTOCOL.UDP ? 6 : -1;
}

/**
 * Rewrites the source (`srcSide`) or destination address and port of the
 * datagram at `off` (IHL `hl`). For ICMP, `port` is the echo identifier.
 * `partial`: the TCP checksum is a partial (pseudo-header) sum.
 * `l4Len`: transport bytes present (ports and checksum are only touched when
 * they are there).
 */
export function rewriteEndpoint(
  b: Uint8Array, off: number, hl: number, protocol: number, srcSide: boolean,
  addr: number, port: number, partial: boolean, l4Len: number,
): void {
  const aOff = off + (srcSide ? 12 : 16);
  const oldAddr = be32(b, aOff);
  const l4 = off + hl;
  if (oldAddr !== addr) {
    put32(b, aOff, addr);
    put16(b, off + 10, checksumAdjust32(be16(b, off + 10), oldAddr, addr));
  }
  if (protocol === IP_PROTOCOL.ICMP) {
    if (l4Len < 8) return;
    const oldId = be16(b, l4 + 4);
    if (oldId !== port) {
      put16(b, l4 + 4, port);
      put16(b, l4 + 2, checksumAdjust16(be16(b, l4 + 2), oldId, port));
    }
    return;
  }
  const cOff = l4ChecksumOffset(protocol);
  if (cOff < 0 || l4Len < 4) return;
  const pOff = l4 + (srcSide ? 0 : 2);
  const oldPort = be16(b, pOff);
  put16(b, pOff, port);
  // A quote may stop before the checksum (RFC 792 promises 8 bytes): nothing to adjust then.
  if (l4Len < cOff + 2) return;
  let sum = be16(b, l4 + cOff);
  if (protocol === IP_PROTOCOL.UDP && sum === 0) return; // no checksum: stays none
  if (partial) {
    if (oldAddr !== addr) sum = ~checksumAdjust32(~sum & 0xffff, oldAddr, addr) & 0xffff;
  } else {
    if (oldAddr !== addr) sum = checksumAdjust32(sum, oldAddr, addr);
    if (oldPort !== port) sum = checksumAdjust16(sum, oldPort, port);
    if (protocol === IP_PROTOCOL.UDP && sum === 0) sum = 0xffff;
  }
  put16(b, l4 + cOff, sum);
}

/** The tuple an ICMP error quotes, read from the quoted header (`ok` false when too short to say). */
export interface QuotedTuple {
  ok: boolean;
  protocol: number;
  src: number;
  dst: number;
  /** TCP/UDP source port, or the echo identifier. */
  sport: number;
  /** TCP/UDP destination port, or the echo type. */
  dport: number;
  /** Offset of the quoted IP header in the buffer, its IHL, and the quoted transport bytes. */
  innerOff: number;
  innerHl: number;
  innerL4Len: number;
}

export function newQuotedTuple(): QuotedTuple {
  return { ok: false, protocol: 0, src: 0, dst: 0, sport: 0, dport: 0, innerOff: 0, innerHl: 0, innerL4Len: 0 };
}

/** ICMP types that carry a quoted datagram. */
export function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/**
 * Reads the quoted tuple of the ICMP error in the datagram at `off` (IHL
 * `hl`, total `len`) into `q` (reused, no allocation). Needs the quoted IP
 * header and 8 transport bytes, as RFC 792 guarantees.
 */
export function readQuotedTuple(b: Uint8Array, off: number, hl: number, len: number, q: QuotedTuple): boolean {
  q.ok = false;
  const inner = off + hl + 8;
  if (len < hl + 8 + 20 || b[inner]! >>> 4 !== 4) return false;
  const ihl = (b[inner]! & 0x0f) << 2;
  if (ihl < 20 || hl + 8 + ihl + 8 > len) return false;
  q.protocol = b[inner + 9]!;
  q.src = be32(b, inner + 12);
  q.dst = be32(b, inner + 16);
  const t = inner + ihl;
  if (q.protocol === IP_PROTOCOL.TCP || q.protocol === IP_PROTOCOL.UDP) {
    q.sport = be16(b, t);
    q.dport = be16(b, t + 2);
  } else if (q.protocol === IP_PROTOCOL.ICMP) {
    q.sport = be16(b, t + 4);
    q.dport = b[t]!;
  } else {
    return false;
  }
  q.innerOff = inner;
  q.innerHl = ihl;
  q.innerL4Len = off + len - t;
  q.ok = true;
  return true;
}

/**
 * Rewrites an ICMP error (datagram at `off`, IHL `hl`, total `len`) whose
 * quote `q` must become (src, dst, sport, dport); the outer destination
 * becomes `outerDst`, the outer source `outerSrc`. Checksums stay valid.
 */
export function translateIcmpError(
  b: Uint8Array, off: number, hl: number, len: number, q: QuotedTuple,
  src: number, dst: number, sport: number, dport: number, outerSrc: number, outerDst: number,
): void {
  const inner = q.innerOff;
  // The quoted transport header: ports (or echo id) and its checksum when quoted.
  rewriteEndpoint(b, inner, q.innerHl, q.protocol, true, src, sport, false, q.innerL4Len);
  if (q.protocol === IP_PROTOCOL.ICMP) {
    // For an echo only the source side carries the identifier; the destination is the address.
    const oldDst = be32(b, inner + 16);
    if (oldDst !== dst) {
      put32(b, inner + 16, dst);
      put16(b, inner + 10, checksumAdjust32(be16(b, inner + 10), oldDst, dst));
    }
  } else {
    rewriteEndpoint(b, inner, q.innerHl, q.protocol, false, dst, dport, false, q.innerL4Len);
  }
  // Outer header.
  const oldSrc = be32(b, off + 12);
  if (oldSrc !== outerSrc) {
    put32(b, off + 12, outerSrc);
    put16(b, off + 10, checksumAdjust32(be16(b, off + 10), oldSrc, outerSrc));
  }
  const oldDst = be32(b, off + 16);
  if (oldDst !== outerDst) {
    put32(b, off + 16, outerDst);
    put16(b, off + 10, checksumAdjust32(be16(b, off + 10), oldDst, outerDst));
  }
  const icmp = off + hl;
  b[icmp + 2] = 0;
  b[icmp + 3] = 0;
  put16(b, icmp + 2, internetChecksum(b, icmp, len - hl));
}
