/**
 * One tracked connection: its two tuples (original and reply direction, as
 * netfilter's nf_conntrack_tuple_hash pair), status bits (Linux's IPS_*),
 * protocol state and expiry. Tuples are plain numbers on a node object that
 * is also the hash chain link, so a lookup compares numbers and allocates
 * nothing.
 *
 * ICMP echo tuples keep the identifier in `sport` and the ICMP type in
 * `dport` (8 for the request direction, 0 for the reply), so a ping from A
 * to B and one from B to A never share a key, as Linux's tuple (id, type).
 */
import type { Timer } from '../time/index.js';
import type { TcpTrack } from './tcp-track.js';

/** Status bits, numbered as Linux's enum ip_conntrack_status. */
export const CT_STATUS = {
  SEEN_REPLY: 1 << 1,
  ASSURED: 1 << 2,
  CONFIRMED: 1 << 3,
  SRC_NAT: 1 << 4,
  DST_NAT: 1 << 5,
  SRC_NAT_DONE: 1 << 7,
  DST_NAT_DONE: 1 << 8,
  DYING: 1 << 9,
} as const;

export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

export class TupleNode {
  src = 0;
  dst = 0;
  sport = 0;
  dport = 0;
  /** Next node in the same hash bucket. */
  next: TupleNode | null = null;
  /** The bucket key this node is filed under (valid while linked). */
  bucket = -1;

  constructor(
    readonly entry: ConnEntry,
    readonly dir: 0 | 1,
  ) {}

  set(src: number, dst: number, sport: number, dport: number): void {
    this.src = src;
    this.dst = dst;
    this.sport = sport;
    this.dport = dport;
  }

  equals(src: number, dst: number, sport: number, dport: number): boolean {
    return this.src === src && this.dst === dst && this.sport === sport && this.dport === dport;
  }
}

export class ConnEntry {
  readonly orig: TupleNode;
  readonly reply: TupleNode;
  status = 0;
  /** TCP_CT state for TCP; 0 otherwise. */
  state = 0;
  /** Absolute clock time (ms) at which the entry expires. */
  expiresAt = 0;
  createdAt: number;
  /** Interface index the first packet arrived on (0: created by this host's own output). */
  ingressIndex = 0;
  /** TCP window tracking, TCP only. */
  tcp: TcpTrack | null = null;
  /** Which published mapping DNAT'ed this entry (for port usage), or null. */
  mappingId = 0;
  /** NAT port this entry holds in the usage table (SNAT: reply.dport; 0 none). */
  heldPort = -1;
  /** The entry's expiry timer (one per entry, re-armed only when it fires early). */
  timer: Timer | null = null;
  packets = [0, 0];
  bytes = [0, 0];

  constructor(
    readonly id: number,
    readonly protocol: number,
    now: number,
  ) {
    this.orig = new TupleNode(this, 0);
    this.reply = new TupleNode(this, 1);
    this.createdAt = now;
  }

  has(bit: number): boolean {
    return (this.status & bit) !== 0;
  }
}

/** Linux's ICMP reply type for a request type (echo 8 -> 0), or -1 when the type opens no flow. */
export function icmpReplyType(type: number): number {
  switch (type) {
    case 8: return 0; // echo
    case 13: return 14; // timestamp
    case 15: return 16; // information
    case 17: return 18; // address mask
    default: return -1;
  }
}
