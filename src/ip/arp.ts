/**
 * The ARP responder and requester of a host (RFC 826, with Linux's habits):
 * answers requests for our addresses, feeds every ARP packet to the
 * neighbour table (which applies RFC 826's merge rule), sends broadcast or
 * unicast solicitations for it, and announces addresses with gratuitous ARP.
 */
import { formatIPv4, formatMac, isMulticastMac, MAC_BROADCAST, type IPv4Address, type Mac } from '../wire/address.js';
import { ARP_OP, arpPacket, decodeArp, writeArp, ARP_LENGTH } from '../wire/arp.js';
import { ETHERTYPE, writeEthernet } from '../wire/ethernet.js';
import type { NetInterface } from './interface.js';
import type { IpLayer } from './ipv4.js';

function isMulticastIp(a: IPv4Address): boolean {
  return a >>> 28 === 0xe;
}

function isLoopbackIp(a: IPv4Address): boolean {
  return a >>> 24 === 127;
}

export interface ArpStats {
  requestsIn: number;
  repliesIn: number;
  requestsOut: number;
  repliesOut: number;
  gratuitousOut: number;
  /** ARP refused because its sender address can never be a neighbour (broadcast, multicast, loopback, our own subnet broadcast). */
  refusedSenderAddress: number;
  /** ARP refused because its target is multicast or loopback (arp_process drops these first). */
  refusedTargetAddress: number;
  /** ARP refused for a group (multicast/broadcast) sender MAC — only with `refuseGroupSenderMac` (Linux accepts them). */
  refusedSenderMac: number;
  /** A reply or gratuitous ARP for an address with no entry: not learned (arp_accept=0). */
  unsolicitedIgnored: number;
  /** ARP from another station claiming one of our addresses (RFC 5227 §2.4). */
  conflict: number;
  /** Defending announcements sent for a conflict (at most one per DEFEND_INTERVAL_MS per address). */
  defended: number;
  drops: Record<string, number>;
}

/** RFC 5227 §1.1 DEFEND_INTERVAL: at most one defending announcement per address this often. */
export const DEFEND_INTERVAL_MS = 10_000;

/** A conflict seen on the wire: who claimed which of our addresses. */
export interface ArpConflict {
  address: IPv4Address;
  mac: Mac;
  dev: string;
}

/**
 * Every ARP rule below is the decision of Linux's arp_process
 * (net/ipv4/arp.c) with default sysctls (arp_accept=0, arp_ignore=0,
 * arp_announce=0, arp_filter=0, drop_gratuitous_arp=0), checked against the
 * kernel by test/interop/hostile-kernel.test.ts:
 *
 * - a target address that is multicast or loopback: dropped whole, nothing
 *   learned ("Check for bad requests for 127.x.x.x and requests for
 *   multicast addresses") → refusedTargetAddress;
 * - sender 0.0.0.0 (an RFC 5227 probe, "IPv4 duplicate address detection
 *   packet (RFC2131)"): a request for our address is answered, nothing is
 *   learned;
 * - a request for our address is validated as ip_route_input(tip, sip)
 *   would: a sender that is 255.255.255.255, multicast, loopback (martian
 *   source in ip_route_input_slow) or one of our own addresses
 *   (fib_validate_source) gets no reply and teaches nothing. The sender
 *   being our subnet's broadcast address passes (rp_filter=0 only rejects
 *   local addresses) and is answered, but arp_constructor makes its entry
 *   NOARP, which `ip neigh` does not show: no entry here.
 *   Our subnet's network address and 240/4 are ordinary unicast to Linux
 *   (no broadcast route for the network address since 5.x; class E is
 *   RTN_UNICAST): answered and learned, differing from issue 13's wording;
 * - a valid request for our address creates or updates the sender's entry
 *   (STALE, neigh_event_ns) — arp_accept=0 does NOT stop that;
 * - anything else (replies, requests for other addresses, gratuitous ARP)
 *   only updates an entry that already exists ("Update our ARP tables",
 *   __neigh_lookup without create) → unsolicitedIgnored otherwise;
 * - a reply sent to the link broadcast does not assert reachability
 *   (pkt_type != PACKET_HOST → NUD_STALE);
 * - a group (multicast or broadcast) sender MAC is NOT refused by Linux: the
 *   kernel answers and learns it (checked against the kernel; issue 13 asked
 *   for a refusal). `refuseGroupSenderMac = true` refuses them
 *   (refusedSenderMac).
 *
 * Conflicts (RFC 5227 §2.4): ARP from another MAC whose sender address is
 * ours is counted (conflict), reported once per address and MAC through
 * `onConflict` (default: one console.warn), and defended with one
 * gratuitous announcement at most every DEFEND_INTERVAL_MS per address.
 * Linux itself sends nothing (it leaves defence to user space: arping -U,
 * NetworkManager's ACD); `defend = false` gives the kernel's silence.
 */
export class ArpResponder {
  readonly stats: ArpStats = {
    requestsIn: 0, repliesIn: 0, requestsOut: 0, repliesOut: 0, gratuitousOut: 0,
    refusedSenderAddress: 0, refusedTargetAddress: 0, refusedSenderMac: 0, unsolicitedIgnored: 0, conflict: 0, defended: 0,
    drops: {},
  };
  /** Send a defending announcement on a conflict (RFC 5227 §2.4 (b)). Linux: no (false). */
  defend = true;
  /** Refuse ARP whose sender MAC is a group address. Linux: no (false). */
  refuseGroupSenderMac = false;
  /** Told once per (address, claiming MAC) of each conflict. Default: console.warn. */
  onConflict: (c: ArpConflict) => void = (c) => {
    console.warn(`wirelab: ${formatMac(c.mac)} on ${c.dev} claims our address ${formatIPv4(c.address)} (ARP conflict)`);
  };
  private readonly lastDefence = new Map<IPv4Address, number>();
  private readonly reported = new Set<string>();

  constructor(private readonly ip: IpLayer) {
    ip.arpInput = (payload, iface, linkBroadcast) => this.input(payload, iface, linkBroadcast);
    ip.arpSolicit = (target, iface, unicastMac) => this.solicit(target, iface, unicastMac);
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  input(payload: Uint8Array, iface: NetInterface, linkBroadcast = false): void {
    const d = decodeArp(payload);
    if (!d.ok) return this.drop(d.code);
    const p = d.value;
    const isRequest = p.operation === ARP_OP.REQUEST;
    if (isRequest) this.stats.requestsIn++;
    else if (p.operation === ARP_OP.REPLY) this.stats.repliesIn++;
    else return this.drop('unknownOperation');
    if (this.refuseGroupSenderMac && isMulticastMac(p.senderMac)) {
      this.stats.refusedSenderMac++;
      return;
    }
    const sip = p.senderIp;
    const tip = p.targetIp;
    // arp_process: multicast or loopback target → drop.
    if (isMulticastIp(tip) || isLoopbackIp(tip)) {
      this.stats.refusedTargetAddress++;
      return;
    }
    const targetIsUs = iface.hasAddress(tip);
    // arp_process's RFC 2131 special case: a probe teaches nothing.
    if (sip === 0) {
      if (isRequest && targetIsUs) this.reply(iface, p.senderMac, tip, p.senderMac, sip);
      // arp_process consumes any other probe without a word (out_consume_skb); counted here.
      else this.drop('probeNotForUs');
      return;
    }
    // One of our addresses claimed by someone else: RFC 5227 §2.4.
    if (this.ip.isLocalAddress(sip)) {
      if (p.senderMac !== iface.mac) this.conflictSeen(iface, sip, p.senderMac);
      else this.drop('ownFrame');
      return;
    }
    // ip_route_input_slow's martian sources (the route check of a request for us).
    if (sip === 0xffffffff || isMulticastIp(sip) || isLoopbackIp(sip)) {
      this.stats.refusedSenderAddress++;
      return;
    }
    if (isRequest && targetIsUs) {
      // A directed broadcast sender passes the route check and is answered,
      // but its neighbour entry is NOARP (arp_constructor): nothing learned.
      if (this.ip.isBroadcast(sip)) this.stats.refusedSenderAddress++;
      else this.ip.neighbours.input(sip, p.senderMac, iface.name, { isReply: false, targetIsUs: true });
      this.reply(iface, p.senderMac, tip, p.senderMac, sip);
      return;
    }
    if (this.ip.isBroadcast(sip)) {
      this.stats.refusedSenderAddress++;
      return;
    }
    // "Update our ARP tables": an existing entry only (arp_accept=0).
    if (!this.ip.neighbours.has(sip, iface.name)) {
      this.stats.unsolicitedIgnored++;
      return;
    }
    this.ip.neighbours.input(sip, p.senderMac, iface.name, { isReply: !isRequest && !linkBroadcast, targetIsUs: false });
  }

  private reply(iface: NetInterface, dstMac: Mac, senderIp: IPv4Address, targetMac: Mac, targetIp: IPv4Address): void {
    this.send(iface, dstMac, ARP_OP.REPLY, senderIp, targetMac, targetIp);
    this.stats.repliesOut++;
  }

  private conflictSeen(iface: NetInterface, address: IPv4Address, mac: Mac): void {
    this.stats.conflict++;
    const key = `${address}/${mac}`;
    if (!this.reported.has(key)) {
      this.reported.add(key);
      this.onConflict({ address, mac, dev: iface.name });
    }
    if (!this.defend) return;
    const now = this.ip.clock.now();
    const last = this.lastDefence.get(address);
    if (last !== undefined && now - last < DEFEND_INTERVAL_MS) return this.drop('defenceRateLimited');
    this.lastDefence.set(address, now);
    this.stats.defended++;
    this.announce(iface, address);
  }

  solicit(target: IPv4Address, iface: NetInterface, unicastMac: Mac | undefined): void {
    const src = iface.sourceFor(target);
    if (src === undefined) return this.drop('noSourceAddress');
    this.send(iface, unicastMac ?? MAC_BROADCAST, ARP_OP.REQUEST, src, 0, target);
    this.stats.requestsOut++;
  }

  /** Gratuitous ARP (a request for our own address), as Linux sends when an address comes up. */
  announce(iface: NetInterface, address: IPv4Address): void {
    this.send(iface, MAC_BROADCAST, ARP_OP.REQUEST, address, 0, address);
    this.stats.gratuitousOut++;
    this.ip.flushDirty();
  }

  private send(iface: NetInterface, dstMac: Mac, op: number, senderIp: IPv4Address, targetMac: Mac, targetIp: IPv4Address): void {
    if (!iface.up) return this.drop('down');
    const frame = new Uint8Array(14 + ARP_LENGTH);
    writeEthernet({ dst: dstMac, src: iface.mac, tags: [], etherType: ETHERTYPE.ARP }, frame, 0);
    writeArp(arpPacket(op, iface.mac, senderIp, targetMac, targetIp), frame, 14);
    if (iface.port.send(frame, 0, frame.length, -1)) {
      iface.stats.txFrames++;
      iface.stats.txBytes += frame.length;
    }
    iface.dirty = true;
  }
}
