/**
 * Connection tracking for one router (netfilter's nf_conntrack): a table of
 * flows keyed by numbers, TCP followed through its states with Linux's
 * transition table and window check, UDP and ICMP queries by their replies,
 * each aged with Linux's timeouts on the stack's clock. The NAT
 * (./nat.ts) asks it for the entry of each packet; `format()` prints the
 * table as `conntrack -L` does and `toJSON()` gives the same as data.
 *
 * Bad packets never throw: each is counted in `stats.invalid` by reason
 * (Linux's conntrack -S "invalid") and the caller decides to pass or drop.
 */
import type { Clock, TableUsage } from '../time/index.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';
import { ConnEntry, CT_STATUS, DIR_REPLY, icmpReplyType, type TupleNode } from './entry.js';
import { formatEntry, entryToJSON, type ConntrackEntryJSON } from './format.js';
import type { PacketInfo } from './packet.js';
import { ConntrackTable, type ConntrackTableStats } from './table.js';
import { newTcpTrack, tcpIndex, tcpInWindow, tcpNew, tcpTransition, TCPF, TCP_INDEX } from './tcp-track.js';
import { defaultTimeouts, TCP_CT, UDP_STREAM_AFTER_MS, type ConntrackTimeouts } from './timeouts.js';

/** Linux's nf_conntrack_tcp_max_retrans. */
const TCP_MAX_RETRANS = 3;

export const VERDICT = {
  ACCEPT: 0,
  /** Invalid for its entry (out of window, impossible state change): counted, dropped. */
  DROP: 1,
  /** A SYN reopening a closed connection: delete the entry and track the packet as new. */
  REPEAT: 2,
  /** Accept this packet, then delete the entry (a RST answering the first packet). */
  ACCEPT_KILL: 3,
} as const;

export interface ConntrackOptions {
  /** nf_conntrack_max. Default 65536. */
  maxEntries?: number;
  /** Override Linux's default timeouts (milliseconds). */
  timeouts?: Partial<ConntrackTimeouts>;
  /** nf_conntrack_tcp_be_liberal: accept out-of-window TCP segments. Default false. */
  tcpBeLiberal?: boolean;
  /** Seeds the table's hash. */
  seed?: number;
}

export interface ConntrackStats extends ConntrackTableStats {
  /** Packets that could not be tracked, by reason (conntrack -S "invalid"). */
  invalid: Record<string, number>;
  /** TCP segments ignored by the state machine (Linux's sIG: retransmitted SYN-ACK, …). */
  ignored: number;
}

export class Conntrack {
  readonly table: ConntrackTable;
  readonly timeouts: ConntrackTimeouts;
  readonly invalid: Record<string, number> = {};
  ignored = 0;
  tcpBeLiberal: boolean;

  constructor(
    readonly clock: Clock,
    opts: ConntrackOptions = {},
  ) {
    this.timeouts = { ...defaultTimeouts(), ...opts.timeouts };
    this.table = new ConntrackTable(clock, opts.maxEntries ?? 65536, (opts.seed ?? 0x5eed) | 0);
    this.tcpBeLiberal = opts.tcpBeLiberal ?? false;
  }

  get stats(): ConntrackStats {
    return { ...this.table.stats, invalid: this.invalid, ignored: this.ignored };
  }

  /** Entries against nf_conntrack_max; each leaves on its timeout (the clock). */
  usage(): TableUsage {
    const s = this.table.stats;
    return { table: 'conntrack', size: this.table.size, limit: this.table.maxEntries, unit: 'entries', refused: s.refusedTableFull, evicted: s.earlyDrop, like: 'nf_conntrack_max' };
  }

  /** nf_conntrack_max; lowering it refuses new entries until the table drains below it. */
  get maxEntries(): number {
    return this.table.maxEntries;
  }
  set maxEntries(n: number) {
    if (!Number.isInteger(n) || n < 1) throw Object.assign(new Error(`conntrack maxEntries must be a positive integer, got ${n}`), { code: 'EINVAL' });
    this.table.maxEntries = n;
  }

  countInvalid(reason: string): void {
    this.invalid[reason] = (this.invalid[reason] ?? 0) + 1;
  }

  /** The entry node matching the packet's tuple (its direction is `node.dir`), or null. */
  find(p: PacketInfo): TupleNode | null {
    const n = this.table.lookup(p.protocol, p.src, p.dst, p.sport, p.dport);
    if (n !== null) this.table.stats.found++;
    return n;
  }

  /**
   * A new entry for a packet with no entry, tuples filled (reply = inverse
   * of original), not yet inserted; 'invalid' when the packet cannot open a
   * flow (a TCP segment that is neither SYN nor ACK, an echo reply, …), null
   * when the table is full.
   */
  create(p: PacketInfo, b: Uint8Array, off: number): ConnEntry | 'invalid' | null {
    let state = 0;
    if (p.protocol === IP_PROTOCOL.TCP) {
      state = tcpTransition(0, tcpIndex(p.flags), TCP_CT.NONE);
      if (state === TCP_CT.INVALID || state === TCP_CT.IGNORE) {
        this.countInvalid('tcpNoEntry');
        return 'invalid';
      }
    } else if (p.protocol === IP_PROTOCOL.ICMP && icmpReplyType(p.dport) < 0) {
      this.countInvalid('icmpNoEntry');
      return 'invalid';
    }
    const e = this.table.create(p.protocol);
    if (e === null) return null;
    e.orig.set(p.src, p.dst, p.sport, p.dport);
    if (p.protocol === IP_PROTOCOL.ICMP) e.reply.set(p.dst, p.src, p.sport, icmpReplyType(p.dport));
    else e.reply.set(p.dst, p.src, p.dport, p.sport);
    if (p.protocol === IP_PROTOCOL.TCP) {
      e.state = state;
      e.tcp = newTcpTrack();
      tcpNew(e.tcp, b, off + p.hl, p.thl, p.payload, p.flags);
    }
    return e;
  }

  /** Puts a created entry into the table with the first packet's timeout. */
  insert(e: ConnEntry): void {
    this.table.insert(e, this.initialTimeout(e));
  }

  private initialTimeout(e: ConnEntry): number {
    if (e.protocol === IP_PROTOCOL.TCP) return this.timeouts.tcp[e.state]!;
    if (e.protocol === IP_PROTOCOL.UDP) return this.timeouts.udp;
    return this.timeouts.icmp;
  }

  /** Updates the entry for a packet in direction `node.dir`; returns a VERDICT. */
  update(node: TupleNode, p: PacketInfo, b: Uint8Array, off: number, len: number): number {
    const e = node.entry;
    const dir = node.dir;
    e.packets[dir]!++;
    e.bytes[dir]! += len;
    let verdict: number = VERDICT.ACCEPT;
    if (e.protocol === IP_PROTOCOL.TCP) verdict = this.tcpPacket(e, dir, p, b, off);
    else if (e.protocol === IP_PROTOCOL.UDP) this.udpPacket(e);
    else this.table.refresh(e, this.timeouts.icmp);
    if (verdict === VERDICT.ACCEPT && dir === DIR_REPLY) e.status |= CT_STATUS.SEEN_REPLY;
    return verdict;
  }

  /** Linux's udp_packet: 30 s until replied; a flow replied and alive after 2 s is a stream (120 s, ASSURED). */
  private udpPacket(e: ConnEntry): void {
    if (e.has(CT_STATUS.SEEN_REPLY)) {
      if (this.clock.now() > e.createdAt + UDP_STREAM_AFTER_MS) {
        this.table.refresh(e, this.timeouts.udpStream);
        this.table.assure(e);
      } else {
        this.table.refresh(e, this.timeouts.udp);
      }
    } else {
      this.table.refresh(e, this.timeouts.udp);
    }
  }

  /** Linux's tcp_packet, minus the rarely-hit resynchronisation paths. */
  private tcpPacket(e: ConnEntry, dir: 0 | 1, p: PacketInfo, b: Uint8Array, off: number): number {
    const index = tcpIndex(p.flags);
    const old = e.state;
    const next = tcpTransition(dir, index, old);
    if (next === TCP_CT.IGNORE) {
      this.ignored++;
      return VERDICT.ACCEPT;
    }
    if (next === TCP_CT.INVALID) {
      this.countInvalid('tcpBadState');
      return VERDICT.DROP;
    }
    if (index === TCP_INDEX.SYN && dir === 0 && (old === TCP_CT.TIME_WAIT || old === TCP_CT.CLOSE)) {
      return VERDICT.REPEAT; // reopened connection (RFC 1122 4.2.2.13)
    }
    const l4 = off + p.hl;
    if (!tcpInWindow(e.tcp!, dir, old, b, l4, p.thl, p.payload, p.flags) && !this.tcpBeLiberal) {
      this.countInvalid('tcpOutOfWindow');
      return VERDICT.DROP;
    }
    e.state = next;
    const t = e.tcp!;
    let timeout = this.timeouts.tcp[next]!;
    if (t.retrans >= TCP_MAX_RETRANS && timeout > this.timeouts.tcpMaxRetrans) timeout = this.timeouts.tcpMaxRetrans;
    else if ((t.sides[0].unacked || t.sides[1].unacked) && timeout > this.timeouts.tcpUnacknowledged) timeout = this.timeouts.tcpUnacknowledged;
    if (!e.has(CT_STATUS.SEEN_REPLY)) {
      // Only a RST came back: no connection was ever established; forget it now.
      if ((p.flags & TCPF.RST) !== 0) return VERDICT.ACCEPT_KILL;
      // A retransmitted SYN does not renew the timeout.
      if (index === TCP_INDEX.SYN && old === TCP_CT.SYN_SENT) return VERDICT.ACCEPT;
    } else if (!e.has(CT_STATUS.ASSURED) && (old === TCP_CT.SYN_RECV || old === TCP_CT.ESTABLISHED) && next === TCP_CT.ESTABLISHED) {
      this.table.assure(e);
    }
    this.table.refresh(e, timeout);
    return VERDICT.ACCEPT;
  }

  delete(e: ConnEntry): void {
    this.table.delete(e);
  }

  flush(): void {
    this.table.flush();
  }

  get size(): number {
    return this.table.size;
  }

  /** Live entries, oldest first (expired ones dropped first). */
  list(): ConnEntry[] {
    const out: ConnEntry[] = [];
    for (const e of [...this.table.entries]) if (!this.table.reapIfExpired(e)) out.push(e);
    return out;
  }

  /** The table as `conntrack -L` prints it, one line per entry. */
  format(): string {
    const now = this.clock.now();
    return this.list().map((e) => formatEntry(e, now)).join('\n');
  }

  toJSON(): ConntrackEntryJSON[] {
    const now = this.clock.now();
    return this.list().map((e) => entryToJSON(e, now));
  }
}
