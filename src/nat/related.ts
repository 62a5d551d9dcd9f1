/**
 * ICMP errors about tracked flows (netfilter's RELATED, nf_nat_icmp_reply_
 * translation). An error quotes one of the flow's packets as it was on the
 * wire where the error was raised, i.e. already translated; it must reach
 * whoever sent that packet, in that sender's terms.
 *
 * The quoted tuple Q, read inverted, is one node N of the entry (what the
 * far side would send back). The other node M is the quoted packet as its
 * sender sent it, so the quote is rewritten to M, the outer destination to
 * M's source (when it was Q's source), and the outer source to M's
 * destination when the error came from the flow's far end itself (a
 * container's port unreachable leaves with the router's address). An error
 * from a router in between keeps its own source.
 */
import { internetChecksum } from '../wire/checksum.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';
import type { Conntrack } from './conntrack.js';
import { icmpReplyType } from './entry.js';
import { readQuotedTuple, translateIcmpError, type QuotedTuple } from './rewrite.js';

export const RELATED = {
  /** Not about a tracked flow, or nothing to change: passed as is. */
  UNMATCHED: 0,
  UNCHANGED: 1,
  TRANSLATED: 2,
  /** Bad checksum or an unreadable quote: counted invalid, passed as is (as Linux). */
  INVALID: 3,
} as const;

const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** The ICMP type a query's other direction carries (8 <-> 0, 13 <-> 14, …). */
function invertIcmpType(type: number): number {
  const r = icmpReplyType(type);
  if (r >= 0) return r;
  return type === 0 ? 8 : type === 14 ? 13 : type === 16 ? 15 : type === 18 ? 17 : -1;
}

/** Translates the ICMP error at `b[off, off+len)` in place if it is about a tracked flow; returns a RELATED code. */
export function translateRelated(ct: Conntrack, b: Uint8Array, off: number, len: number, q: QuotedTuple): number {
  const hl = (b[off]! & 0x0f) << 2;
  if (internetChecksum(b, off + hl, len - hl) !== 0) {
    ct.countInvalid('icmpBadChecksum');
    return RELATED.INVALID;
  }
  if (!readQuotedTuple(b, off, hl, len, q)) {
    ct.countInvalid('icmpBadQuote');
    return RELATED.INVALID;
  }
  const icmp = q.protocol === IP_PROTOCOL.ICMP;
  const n = icmp
    ? ct.table.lookup(q.protocol, q.dst, q.src, q.sport, invertIcmpType(q.dport))
    : ct.table.lookup(q.protocol, q.dst, q.src, q.dport, q.sport);
  if (n === null) return RELATED.UNMATCHED;
  const m = n.dir === 0 ? n.entry.reply : n.entry.orig;
  const sport = m.sport;
  const dport = icmp ? q.dport : m.dport;
  const outerSrcNow = be32(b, off + 12);
  const outerDstNow = be32(b, off + 16);
  const outerDst = outerDstNow === q.src ? m.src : outerDstNow;
  const outerSrc = outerSrcNow === q.dst ? m.dst : outerSrcNow;
  if (m.src === q.src && m.dst === q.dst && sport === q.sport && dport === q.dport && outerDst === outerDstNow && outerSrc === outerSrcNow) {
    return RELATED.UNCHANGED;
  }
  translateIcmpError(b, off, hl, len, q, m.src, m.dst, sport, dport, outerSrc, outerDst);
  return RELATED.TRANSLATED;
}
