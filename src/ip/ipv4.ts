/**
 * IPv4 for a wirelab host or router: Ethernet demux, input checks (each
 * failure a counter), local delivery with reassembly, and forwarding between
 * interfaces (TTL decrement with an incremental checksum, ICMP time
 * exceeded / unreachable / fragmentation needed, no forwarding of
 * broadcasts, no redirects). Behaves as the Linux kernel does where the
 * RFCs leave room. Output (route lookup, ARP resolution, fragmentation) is
 * src/ip/output.ts.
 *
 * Frames built here keep 14 bytes of headroom in front of the datagram so the
 * Ethernet header is written in place; a forwarded frame is rewritten in
 * place in the receive slab (MACs, TTL, checksum) and sent without a copy.
 */
import { checkIPv4Options, OPTIONS_SOURCE_ROUTE } from './ipv4-options.js';
import { VNET_HDR_LEN, type RxBatch } from '../link/port.js';
import { completeChecksum, VNET_HDR_F_DATA_VALID, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_NONE } from '../link/gso.js';
import type { Clock } from '../time/index.js';
import { isMulticastMac, MAC_BROADCAST, readMac, type IPv4Address, type Mac } from '../wire/address.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import {
  ipv4ChecksumValid,
  ipv4DecrementTtl,
  ipv4Dst,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Ttl,
  IP_PROTOCOL,
} from '../wire/ipv4.js';
import { Reassembler } from './fragment.js';
import type { ReassemblerOptions } from './reassembly.js';
import type { NetInterface } from './interface.js';
import { NeighbourTable, type NeighbourOptions } from './neighbour.js';
import { IpOutput } from './output.js';
import type { RouteTable } from './routes.js';

export const ETH_HEADROOM = 14;

/** A datagram waiting for ARP: owned bytes, frame starting at `off` (headroom included). */
export interface PendingFrame {
  readonly buf: Uint8Array;
  readonly off: number;
  readonly len: number;
  /** True if this host created the datagram (errors go to our own sockets). */
  readonly local: boolean;
  /** Offset of the frame's virtio_net_hdr in `buf` (a GSO frame), or -1 / absent. */
  readonly vnetOff?: number;
}

/**
 * What a transport protocol gets for each datagram delivered to this host.
 * `csumOk` is true when the link already vouched for the transport checksum
 * (virtio_net_hdr NEEDS_CSUM or DATA_VALID: the kernel's CHECKSUM_PARTIAL /
 * CHECKSUM_UNNECESSARY), so the protocol must not verify it again.
 */
export type ProtocolHandler = (datagram: Uint8Array, headerLength: number, iface: NetInterface | undefined, csumOk: boolean) => void;

/** A transport's batch brackets: `end` runs after the batch's last frame, before the ports flush. */
export interface BatchHooks {
  /** `gro`: the interface merges runs of segments (NetInterface.gro). */
  begin(gro: boolean): void;
  end(): void;
}

/** Receive flags threaded from a vnet batch to delivery. */
const RX_CSUM_OK = 1;
/** The frame's vnet header asks for GSO or checksum completion: forward it with its header. */
const RX_VNET_META = 2;

/** Hooks into ICMP, which lives above this layer and generates errors. */
export interface IcmpErrorSink {
  /** ICMP error about `datagram` (a whole or partial IPv4 datagram), sent back to its source. */
  error(type: number, code: number, datagram: Uint8Array, iface: NetInterface | undefined, nextHopMtu?: number): void;
}

/**
 * Netfilter-style hook points for a layer above (NAT, src/nat/): ip/ cannot
 * import it, so it calls through this interface, which the NAT fills in.
 * `null` (the default) costs one comparison per datagram.
 *
 * Each hook sees one whole datagram at `buf[off, off+len)` (fragments are
 * reassembled first, as Linux's nf_defrag_ipv4 does), may rewrite it in
 * place (same length), and returns false to drop it (the hook counted why).
 * `vnetOff` >= 0: the frame's virtio_net_hdr (partial checksum, GSO) sits at
 * that offset in `buf`.
 */
export interface IpHooks {
  /** PREROUTING: every received datagram before the local/forward decision (DNAT, reply de-SNAT). */
  prerouting(buf: Uint8Array, off: number, len: number, ingress: NetInterface, vnetOff: number): boolean;
  /**
   * POSTROUTING: every forwarded datagram after the routing decision, and
   * (with `ingress` undefined) every datagram this host sends (OUTPUT).
   */
  postrouting(buf: Uint8Array, off: number, len: number, egress: NetInterface, ingress: NetInterface | undefined, vnetOff: number): boolean;
}

export interface SendOptions {
  src?: IPv4Address;
  ttl?: number;
  dontFragment?: boolean;
  tos?: number;
  /**
   * TCP segmentation offload: the payload is a TCP segment whose checksum
   * field holds only the pseudo-header sum (incl. length), to be cut into
   * `gsoSize`-byte segments by whoever cannot take it whole. The datagram is
   * sent as one frame with a virtio_net_hdr (GSO_TCPV4, NEEDS_CSUM), even
   * above the MTU. Only for non-local destinations (see `gsoCapable`).
   */
  gsoSize?: number;
  /** IPv4 options, already padded to a multiple of 4 bytes (at most 40): an echo reply's copy of the request's (icmp.ts). */
  options?: Uint8Array;
}

export interface IpStats {
  inReceives: number;
  inDelivers: number;
  forwarded: number;
  outRequests: number;
  fragCreates: number;
  reassembled: number;
  /** GSO super-frames (larger than the MTU) received from a vnet_hdr port, and sent with a GSO header. */
  inGsoFrames: number;
  outGsoFrames: number;
  /** Frames whose delivery ran a user callback that threw (rethrown after the batch). */
  callbackErrors: number;
  drops: Record<string, number>;
}

export class IpLayer {
  readonly stats: IpStats = { inReceives: 0, inDelivers: 0, forwarded: 0, outRequests: 0, fragCreates: 0, reassembled: 0, inGsoFrames: 0, outGsoFrames: 0, callbackErrors: 0, drops: {} };
  readonly neighbours: NeighbourTable<PendingFrame>;
  readonly reassembler: Reassembler;
  readonly interfaces: NetInterface[] = [];
  forwarding: boolean;
  /** Accept source-routed (LSRR/SSRR) datagrams (Linux accept_source_route, default 0). The route itself is not followed. */
  acceptSourceRoute = false;
  defaultTtl = 64;
  icmp: IcmpErrorSink | null = null;
  /** Netfilter-style hooks (NAT); null when nothing is hooked in. */
  hooks: IpHooks | null = null;
  /** Called for every received ARP packet (the ARP responder in arp.ts). */
  arpInput: ((payload: Uint8Array, iface: NetInterface, linkBroadcast: boolean) => void) | null = null;
  /** Sends an ARP request; set by the ARP responder. */
  arpSolicit: ((ip: IPv4Address, iface: NetInterface, unicastMac: Mac | undefined) => void) | null = null;
  private readonly protocols = new Map<number, ProtocolHandler>();
  /**
   * Told when a received batch begins and ends, so a transport can answer
   * the batch once (TCP sends one ACK per connection per batch, as Linux
   * does for a GRO-merged run of segments) instead of once per segment.
   */
  private readonly batchHooks: BatchHooks[] = [];
  /** The send half: datagrams this host originates, ARP-pending output, fragmentation. */
  private readonly out: IpOutput;

  constructor(
    readonly clock: Clock,
    readonly routes: RouteTable,
    opts: { forwarding?: boolean; seed?: number; neighbours?: NeighbourOptions; reassembly?: Pick<ReassemblerOptions, 'timeoutMs' | 'maxBytes'> } = {},
  ) {
    this.forwarding = opts.forwarding ?? false;
    this.out = new IpOutput(this, opts.seed ?? 1);
    this.neighbours = new NeighbourTable<PendingFrame>(clock, {
      solicit: (ip, dev, unicastMac) => {
        const iface = this.interfaceByName(dev);
        if (iface && this.arpSolicit) this.arpSolicit(ip, iface, unicastMac);
        this.flushDirty();
      },
      resolved: (_ip, dev, mac, pending) => {
        const iface = this.interfaceByName(dev);
        if (!iface) return;
        for (const p of pending) this.out.emit(iface, mac, p.buf, p.off, p.len, p.vnetOff ?? -1);
        this.flushDirty();
      },
      failed: (_ip, dev, pending) => {
        const iface = this.interfaceByName(dev);
        // RFC 1812 / Linux: host unreachable for each datagram that waited in vain.
        for (const p of pending) {
          this.drop('neighbourFailed');
          this.icmp?.error(3, 1, p.buf.subarray(p.off + ETH_HEADROOM, p.off + p.len), p.local ? undefined : iface);
        }
        this.flushDirty();
      },
    }, opts.neighbours);
    this.reassembler = new Reassembler(clock, {
      ...opts.reassembly,
      // Only a datagram for this host is answered: fragments gathered for the
      // NAT (forwarded traffic) time out silently, as Linux's nf_defrag does.
      onTimeout: (first) => {
        if (this.isLocalAddress(ipv4Dst(first, 0))) this.icmp?.error(11, 1, first, undefined);
      },
    });
  }

  register(protocol: number, handler: ProtocolHandler): void {
    this.protocols.set(protocol, handler);
  }

  onBatch(hooks: BatchHooks): void {
    this.batchHooks.push(hooks);
  }

  addInterface(iface: NetInterface): void {
    this.interfaces.push(iface);
    iface.port.onReceive = (batch) => this.receiveBatch(batch, iface);
  }

  interfaceByName(name: string): NetInterface | undefined {
    for (const i of this.interfaces) if (i.name === name) return i;
    return undefined;
  }

  /** Weak host model (Linux): any of our addresses on any interface is local. */
  isLocalAddress(ip: IPv4Address): boolean {
    for (const i of this.interfaces) if (i.hasAddress(ip)) return true;
    return false;
  }

  isBroadcast(ip: IPv4Address): boolean {
    if (ip === 0xffffffff) return true;
    for (const i of this.interfaces) if (i.isBroadcast(ip)) return true;
    return false;
  }

  drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  /** Sends what the current operation queued: one flush per port. */
  flushDirty(): void {
    for (const i of this.interfaces) {
      if (i.dirty) {
        i.dirty = false;
        i.port.flush();
      }
    }
  }

  // ---- receive ----------------------------------------------------------

  /**
   * A batch of frames from one port. A user's callback that throws while a
   * frame is delivered (a TCP 'data' or 'connection' handler runs inside
   * input) must not cut the batch short: the error is caught, the remaining
   * frames are processed, the ports are flushed, and then the first error is
   * rethrown (several: an AggregateError) to whoever delivered the batch —
   * a timer of the injected clock (whose scheduler rethrows it after its
   * run, an uncaught exception on the real clock, as a throwing Node event
   * handler is) or the TAP's native read callback (an uncaught exception).
   * UDP's 'message' handlers already run later, from the socket's own timer.
   */
  private receiveBatch(batch: RxBatch, iface: NetInterface): void {
    const { buf, offsets, lengths, count } = batch;
    let errors: unknown[] | undefined;
    const hooks = this.batchHooks;
    for (let h = 0; h < hooks.length; h++) hooks[h]!.begin(iface.gro);
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      try {
        if (batch.vnetHdr) this.receiveFrame(buf, off, len, iface, this.vnetRxFlags(buf, off - VNET_HDR_LEN, off, len));
        else this.receiveFrame(buf, off, len, iface);
      } catch (e) {
        (errors ??= []).push(e);
        this.stats.callbackErrors++;
      }
    }
    for (let h = 0; h < hooks.length; h++) {
      try {
        hooks[h]!.end();
      } catch (e) {
        (errors ??= []).push(e);
        this.stats.callbackErrors++;
      }
    }
    this.flushDirty();
    if (errors !== undefined) {
      if (errors.length === 1) throw errors[0];
      throw new AggregateError(errors, `${errors.length} callbacks threw while a batch was received`);
    }
  }

  /**
   * What a frame's virtio_net_hdr means for input. DATA_VALID: the checksum
   * was verified. NEEDS_CSUM (a partial checksum the kernel left for us):
   * for TCP, treated as verified (the bytes never left the host — Linux's
   * CHECKSUM_PARTIAL on receive); for anything else completed in place, so
   * the protocol's own check passes. GSO super-frames (up to 64 KB) are
   * delivered whole: TCP takes segments of any length.
   */
  private vnetRxFlags(buf: Uint8Array, vo: number, off: number, len: number): number {
    if (vo < 0) return 0;
    const vflags = buf[vo]!;
    const gso = buf[vo + 1]! !== VNET_HDR_GSO_NONE;
    let rx = 0;
    if (gso) {
      rx = RX_VNET_META;
      this.stats.inGsoFrames++;
    }
    if ((vflags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
      const isTcp = len >= 34 && buf[off + 12] === 0x08 && buf[off + 13] === 0x00 && buf[off + 23] === IP_PROTOCOL.TCP;
      if (isTcp) rx |= RX_CSUM_OK | RX_VNET_META;
      else if (!completeChecksum(buf, vo, off, len)) return rx;
      else rx |= RX_CSUM_OK;
    } else if ((vflags & VNET_HDR_F_DATA_VALID) !== 0) {
      rx |= RX_CSUM_OK;
    }
    return rx;
  }

  receiveFrame(buf: Uint8Array, off: number, len: number, iface: NetInterface, rxFlags = 0): void {
    iface.stats.rxFrames++;
    iface.stats.rxBytes += len;
    if (!iface.up) return iface.drop('down');
    if (len < 14) return iface.drop('runt');
    const dst = readMac(buf, off);
    const linkBroadcast = dst === MAC_BROADCAST || isMulticastMac(dst);
    if (dst !== iface.mac && !linkBroadcast) return iface.drop('otherHost');
    let type = (buf[off + 12]! << 8) | buf[off + 13]!;
    let hdr = 14;
    // An 802.1Q priority tag (VID 0) is untagged traffic with a priority
    // (IEEE 802.1Q §6.9; Linux's vlan_do_receive / __vlan_hwaccel_clear for
    // VID 0 without a VLAN device): the host reads past it. Other VIDs are
    // for VLAN devices a host does not have.
    if (type === ETHERTYPE.VLAN && len >= 18 && (((buf[off + 14]! << 8) | buf[off + 15]!) & 0x0fff) === 0) {
      type = (buf[off + 16]! << 8) | buf[off + 17]!;
      hdr = 18;
    }
    // Longer than the MTU allows (plus the header and one tag): dropped, as
    // a NIC or veth does (is_skb_forwardable: mtu + hard_header_len +
    // VLAN_HLEN). Only GSO super-frames (their virtio_net_hdr says so) are
    // exempt — not any frame that happens to arrive on a vnet_hdr port.
    if (len > iface.mtu + 18 && (rxFlags & RX_VNET_META) === 0) {
      return this.drop('oversize');
    }
    if (type === ETHERTYPE.IPV4) return this.input(buf, off + hdr, len - hdr, iface, linkBroadcast, rxFlags);
    if (type === ETHERTYPE.ARP) {
      if (this.arpInput) this.arpInput(buf.subarray(off + hdr, off + len), iface, linkBroadcast);
      return;
    }
    if (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ) return iface.drop('vlanTagged');
    iface.drop('unknownEtherType');
  }

  private input(buf: Uint8Array, off: number, avail: number, iface: NetInterface, linkBroadcast: boolean, rxFlags = 0): void {
    this.stats.inReceives++;
    if (avail < 20) return this.drop('truncated');
    if (buf[off]! >>> 4 !== 4) return this.drop('badVersion');
    const hl = ipv4HeaderLength(buf, off);
    if (hl < 20 || hl > avail) return this.drop('badHeaderLength');
    const total = ipv4TotalLength(buf, off);
    if (total < hl || total > avail) return this.drop('badTotalLength');
    if (!ipv4ChecksumValid(buf, off, hl)) return this.drop('badChecksum');
    const src = ipv4Src(buf, off);
    const dst = ipv4Dst(buf, off);
    const martian = this.martian(src, dst);
    if (martian !== null) return this.drop(martian);
    // ip_rcv_finish_core → ip_rcv_options after the route check: options
    // parsed as ip_options_compile does, source routes refused.
    if (hl > 20) {
      const bad = checkIPv4Options(buf, off, hl);
      if (bad >= 0) {
        this.drop('badOptions');
        this.icmp?.error(12, 0, buf.subarray(off, off + total), iface, bad);
        return;
      }
      if (bad === OPTIONS_SOURCE_ROUTE && !this.acceptSourceRoute) return this.drop('sourceRoute');
    }
    if (this.hooks !== null) return this.hookedInput(buf, off, total, iface, linkBroadcast, rxFlags);

    if (this.isLocalAddress(dst) || iface.isBroadcast(dst)) {
      const datagram = buf.subarray(off, off + total);
      if (ipv4IsFragment(buf, off)) {
        const whole = this.reassembler.input(datagram);
        if (whole === null) return;
        this.stats.reassembled++;
        return this.deliver(whole, iface, iface.isBroadcast(dst) || linkBroadcast, false);
      }
      return this.deliver(datagram, iface, iface.isBroadcast(dst) || linkBroadcast, (rxFlags & RX_CSUM_OK) !== 0);
    }
    if (dst >>> 28 === 0xe) return this.drop('multicast');
    if (!this.forwarding) return this.drop('notForUs');
    if (linkBroadcast || this.isBroadcast(dst)) return this.drop('broadcastNotForwarded');
    this.forward(buf, off, total, iface, (rxFlags & RX_VNET_META) !== 0 ? off - ETH_HEADROOM - VNET_HDR_LEN : -1);
  }

  /**
   * Input with hooks (NAT): fragments are reassembled before PREROUTING, as
   * Linux's nf_defrag_ipv4 does, so conntrack sees whole datagrams (a later
   * fragment carries no ports); a reassembled datagram that is forwarded is
   * fragmented again to the egress MTU. Then PREROUTING, and the local or
   * forward decision on the (possibly rewritten) destination.
   */
  private hookedInput(buf: Uint8Array, off: number, total: number, iface: NetInterface, linkBroadcast: boolean, rxFlags: number): void {
    if (ipv4IsFragment(buf, off)) {
      const whole = this.reassembler.input(buf.subarray(off, off + total));
      if (whole === null) return;
      this.stats.reassembled++;
      // Headroom for the Ethernet header in case it is forwarded.
      const frame = new Uint8Array(ETH_HEADROOM + whole.length);
      frame.set(whole, ETH_HEADROOM);
      buf = frame;
      off = ETH_HEADROOM;
      total = whole.length;
      rxFlags = 0;
    }
    const vnetOff = (rxFlags & RX_VNET_META) !== 0 ? off - ETH_HEADROOM - VNET_HDR_LEN : -1;
    if (!this.hooks!.prerouting(buf, off, total, iface, vnetOff)) return;
    const dst = ipv4Dst(buf, off);
    if (this.isLocalAddress(dst) || iface.isBroadcast(dst)) {
      const datagram = buf.subarray(off, off + total);
      return this.deliver(datagram, iface, iface.isBroadcast(dst) || linkBroadcast, (rxFlags & RX_CSUM_OK) !== 0);
    }
    if (dst >>> 28 === 0xe) return this.drop('multicast');
    if (!this.forwarding) return this.drop('notForUs');
    if (linkBroadcast || this.isBroadcast(dst)) return this.drop('broadcastNotForwarded');
    this.forward(buf, off, total, iface, vnetOff);
  }

  /**
   * Linux's ip_route_input_slow source and destination checks (with
   * route_localnet=0, accept_local=0, rp_filter=0), in its order; null for
   * a datagram that may go on. Each reason is its own counter.
   *
   * - 255.255.255.255 or 224/4 as source: martian (ipv4_is_lbcast,
   *   ipv4_is_multicast);
   * - 0/8 as source (ipv4_is_zeronet): martian, EXCEPT to the limited
   *   broadcast (or 0.0.0.0 → 0.0.0.0), which Linux takes as broadcast input
   *   so that DHCP's DISCOVER from 0.0.0.0 reaches a server;
   * - 0/8 or 127/8 as destination: martian destination;
   * - 127/8 as source on a non-loopback interface: martian;
   * - one of our own addresses as source (fib_validate_source's
   *   inet_lookup_ifaddr_rcu; a LAND attack): martian.
   *
   * Linux (this is checked against the kernel) does NOT treat 240/4 or our
   * subnet's broadcast or network address as martian sources with default
   * sysctls: echoes from them are answered. wirelab does the same, unlike
   * issue 13's wording.
   */
  private martian(src: IPv4Address, dst: IPv4Address): string | null {
    if (src === 0xffffffff) return 'martianSourceBroadcast';
    if (src >>> 28 === 0xe) return 'martianSourceMulticast';
    if (dst === 0xffffffff || (src === 0 && dst === 0)) return null;
    if (src >>> 24 === 0) return 'martianSourceZero';
    if (dst >>> 24 === 0 || dst >>> 24 === 127) return 'martianDestination';
    if (src >>> 24 === 127) return 'martianSourceLoopback';
    if (this.isLocalAddress(src)) return 'martianSourceLocal';
    return null;
  }

  /** Hands a datagram for this host to its transport protocol. */
  deliver(datagram: Uint8Array, iface: NetInterface | undefined, broadcast: boolean, csumOk = false): void {
    const handler = this.protocols.get(ipv4Protocol(datagram, 0));
    if (handler === undefined) {
      this.drop('unknownProtocol');
      if (!broadcast) this.icmp?.error(3, 2, datagram, iface);
      return;
    }
    this.stats.inDelivers++;
    handler(datagram, ipv4HeaderLength(datagram, 0), iface, csumOk);
  }

  // ---- forward ----------------------------------------------------------

  /** `vnetOff` >= 0: the frame carries offload metadata (GSO, partial checksum) that travels with it. */
  private forward(buf: Uint8Array, off: number, total: number, ingress: NetInterface, vnetOff = -1): void {
    const datagram = buf.subarray(off, off + total);
    if (ipv4Ttl(buf, off) <= 1) {
      this.drop('ttlExceeded');
      this.icmp?.error(11, 0, datagram, ingress);
      return;
    }
    const dst = ipv4Dst(buf, off);
    const route = this.routes.lookup(dst);
    const egress = route ? this.interfaceByName(route.dev) : undefined;
    if (!route || !egress || !egress.up) {
      this.drop('noRoute');
      this.icmp?.error(3, 0, datagram, ingress);
      return;
    }
    if (egress.isBroadcast(dst)) return this.drop('broadcastNotForwarded');
    const nextHop = route.gateway ?? dst;
    // A GSO super-frame is as large as its segments (gso_size) for the MTU;
    // the egress port segments it if it cannot take it whole.
    if (total > egress.mtu && (vnetOff < 0 || buf[vnetOff + 1] === VNET_HDR_GSO_NONE)) {
      if ((buf[off + 6]! & 0x40) !== 0) {
        this.drop('fragNeeded');
        this.icmp?.error(3, 4, datagram, ingress, egress.mtu);
        return;
      }
      const copy = datagram.slice();
      ipv4DecrementTtl(copy, 0);
      if (this.hooks !== null && !this.hooks.postrouting(copy, 0, total, egress, ingress, -1)) return;
      this.stats.forwarded++;
      this.out.fragmentOut(copy, egress, nextHop, false);
      return;
    }
    ipv4DecrementTtl(buf, off);
    if (this.hooks !== null && !this.hooks.postrouting(buf, off, total, egress, ingress, vnetOff)) return;
    this.stats.forwarded++;
    // The Ethernet header in front of the datagram is rewritten in place.
    this.linkOutput(egress, nextHop, buf, off - ETH_HEADROOM, total + ETH_HEADROOM, false, true, vnetOff);
  }

  // ---- send (src/ip/output.ts) ------------------------------------------

  /** Next identification value (per host, as Linux's per-destination counters start random). */
  nextId(): number {
    return this.out.nextId();
  }

  /**
   * Sends a datagram this host originates. Returns 'sent', 'queued' (waiting
   * for ARP) or an Error carrying Node's code (ENETUNREACH, EMSGSIZE).
   */
  send(dst: IPv4Address, protocol: number, payload: Uint8Array, opts: SendOptions = {}): 'sent' | 'queued' | Error {
    return this.out.send(dst, protocol, payload, opts);
  }

  /**
   * Puts a datagram (at buf[off+14, off+len)) on the wire of `iface` towards
   * `nextHop`: broadcast, a known neighbour, or queued while ARP resolves.
   * `borrowed` bytes are copied before they are queued.
   */
  linkOutput(iface: NetInterface, nextHop: IPv4Address, buf: Uint8Array, off: number, len: number, local: boolean, borrowed: boolean, vnetOff = -1): 'sent' | 'queued' | Error {
    return this.out.linkOutput(iface, nextHop, buf, off, len, local, borrowed, vnetOff);
  }

  /**
   * True when datagrams to `dst` may be handed over as TCP super-frames
   * (`SendOptions.gsoSize`): the route leaves by a port that takes
   * virtio_net_hdr offloads, and `dst` is not this host.
   */
  gsoCapable(dst: IPv4Address): boolean {
    const r = this.routes.lookup(dst);
    if (r === undefined) return false;
    const iface = this.interfaceByName(r.dev);
    return iface !== undefined && iface.up && iface.port.vnetHdr && !this.isLocalAddress(dst);
  }

  close(): void {
    this.reassembler.clear();
    this.neighbours.close?.();
  }
}

