/**
 * IPv4 for a wirelab host or router: Ethernet demux, input checks (each
 * failure a counter), local delivery with reassembly, output with route
 * lookup, ARP resolution and fragmentation, and forwarding between
 * interfaces (TTL decrement with an incremental checksum, ICMP time
 * exceeded / unreachable / fragmentation needed, no forwarding of
 * broadcasts, no redirects). Behaves as the Linux kernel does where the
 * RFCs leave room.
 *
 * Frames built here keep 14 bytes of headroom in front of the datagram so the
 * Ethernet header is written in place; a forwarded frame is rewritten in
 * place in the receive slab (MACs, TTL, checksum) and sent without a copy.
 */
import type { RxBatch } from '../link/port.js';
import type { Clock } from '../time/index.js';
import { isMulticastMac, MAC_BROADCAST, readMac, writeMac, type IPv4Address, type Mac } from '../wire/address.js';
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
  writeIPv4Header,
} from '../wire/ipv4.js';
import { fragmentIPv4, Reassembler } from './fragment.js';
import type { NetInterface } from './interface.js';
import { NeighbourTable } from './neighbour.js';
import type { RouteTable } from './routes.js';

export const ETH_HEADROOM = 14;

/** A datagram waiting for ARP: owned bytes, frame starting at `off` (headroom included). */
export interface PendingFrame {
  readonly buf: Uint8Array;
  readonly off: number;
  readonly len: number;
  /** True if this host created the datagram (errors go to our own sockets). */
  readonly local: boolean;
}

/** What a transport protocol gets for each datagram delivered to this host. */
export type ProtocolHandler = (datagram: Uint8Array, headerLength: number, iface: NetInterface | undefined) => void;

/** Hooks into ICMP, which lives above this layer and generates errors. */
export interface IcmpErrorSink {
  /** ICMP error about `datagram` (a whole or partial IPv4 datagram), sent back to its source. */
  error(type: number, code: number, datagram: Uint8Array, iface: NetInterface | undefined, nextHopMtu?: number): void;
}

export interface SendOptions {
  src?: IPv4Address;
  ttl?: number;
  dontFragment?: boolean;
  tos?: number;
}

export interface IpStats {
  inReceives: number;
  inDelivers: number;
  forwarded: number;
  outRequests: number;
  fragCreates: number;
  reassembled: number;
  drops: Record<string, number>;
}

function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class IpLayer {
  readonly stats: IpStats = { inReceives: 0, inDelivers: 0, forwarded: 0, outRequests: 0, fragCreates: 0, reassembled: 0, drops: {} };
  readonly neighbours: NeighbourTable<PendingFrame>;
  readonly reassembler: Reassembler;
  readonly interfaces: NetInterface[] = [];
  forwarding: boolean;
  defaultTtl = 64;
  icmp: IcmpErrorSink | null = null;
  /** Called for every received ARP packet (the ARP responder in arp.ts). */
  arpInput: ((payload: Uint8Array, iface: NetInterface) => void) | null = null;
  /** Sends an ARP request; set by the ARP responder. */
  arpSolicit: ((ip: IPv4Address, iface: NetInterface, unicastMac: Mac | undefined) => void) | null = null;
  private readonly protocols = new Map<number, ProtocolHandler>();
  private identification: number;

  constructor(
    readonly clock: Clock,
    readonly routes: RouteTable,
    opts: { forwarding?: boolean; seed?: number } = {},
  ) {
    this.forwarding = opts.forwarding ?? false;
    this.identification = (opts.seed ?? 1) & 0xffff;
    this.neighbours = new NeighbourTable<PendingFrame>(clock, {
      solicit: (ip, dev, unicastMac) => {
        const iface = this.interfaceByName(dev);
        if (iface && this.arpSolicit) this.arpSolicit(ip, iface, unicastMac);
        this.flushDirty();
      },
      resolved: (_ip, dev, mac, pending) => {
        const iface = this.interfaceByName(dev);
        if (!iface) return;
        for (const p of pending) this.emit(iface, mac, p.buf, p.off, p.len);
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
    });
    this.reassembler = new Reassembler(clock, {
      onTimeout: (first) => this.icmp?.error(11, 1, first, undefined),
    });
  }

  register(protocol: number, handler: ProtocolHandler): void {
    this.protocols.set(protocol, handler);
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

  private receiveBatch(batch: RxBatch, iface: NetInterface): void {
    const { buf, offsets, lengths, count } = batch;
    for (let i = 0; i < count; i++) this.receiveFrame(buf, offsets[i]!, lengths[i]!, iface);
    this.flushDirty();
  }

  receiveFrame(buf: Uint8Array, off: number, len: number, iface: NetInterface): void {
    iface.stats.rxFrames++;
    iface.stats.rxBytes += len;
    if (!iface.up) return iface.drop('down');
    if (len < 14) return iface.drop('runt');
    const dst = readMac(buf, off);
    const linkBroadcast = dst === MAC_BROADCAST || isMulticastMac(dst);
    if (dst !== iface.mac && !linkBroadcast) return iface.drop('otherHost');
    const type = (buf[off + 12]! << 8) | buf[off + 13]!;
    if (type === ETHERTYPE.IPV4) return this.input(buf, off + 14, len - 14, iface, linkBroadcast);
    if (type === ETHERTYPE.ARP) {
      if (this.arpInput) this.arpInput(buf.subarray(off + 14, off + len), iface);
      return;
    }
    if (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ) return iface.drop('vlanTagged');
    iface.drop('unknownEtherType');
  }

  private input(buf: Uint8Array, off: number, avail: number, iface: NetInterface, linkBroadcast: boolean): void {
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
    if (src === 0xffffffff || src >>> 28 === 0xe) return this.drop('martianSource');

    if (this.isLocalAddress(dst) || iface.isBroadcast(dst)) {
      let datagram = buf.subarray(off, off + total);
      if (ipv4IsFragment(buf, off)) {
        const whole = this.reassembler.input(datagram);
        if (whole === null) return;
        this.stats.reassembled++;
        datagram = whole;
      }
      return this.deliver(datagram, iface, iface.isBroadcast(dst) || linkBroadcast);
    }
    if (dst >>> 28 === 0xe) return this.drop('multicast');
    if (!this.forwarding) return this.drop('notForUs');
    if (linkBroadcast || this.isBroadcast(dst)) return this.drop('broadcastNotForwarded');
    this.forward(buf, off, total, iface);
  }

  /** Hands a datagram for this host to its transport protocol. */
  deliver(datagram: Uint8Array, iface: NetInterface | undefined, broadcast: boolean): void {
    const handler = this.protocols.get(ipv4Protocol(datagram, 0));
    if (handler === undefined) {
      this.drop('unknownProtocol');
      if (!broadcast) this.icmp?.error(3, 2, datagram, iface);
      return;
    }
    this.stats.inDelivers++;
    handler(datagram, ipv4HeaderLength(datagram, 0), iface);
  }

  // ---- forward ----------------------------------------------------------

  private forward(buf: Uint8Array, off: number, total: number, ingress: NetInterface): void {
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
    if (total > egress.mtu) {
      if ((buf[off + 6]! & 0x40) !== 0) {
        this.drop('fragNeeded');
        this.icmp?.error(3, 4, datagram, ingress, egress.mtu);
        return;
      }
      const copy = datagram.slice();
      ipv4DecrementTtl(copy, 0);
      this.stats.forwarded++;
      this.fragmentOut(copy, egress, nextHop, false);
      return;
    }
    ipv4DecrementTtl(buf, off);
    this.stats.forwarded++;
    // The Ethernet header in front of the datagram is rewritten in place.
    this.linkOutput(egress, nextHop, buf, off - ETH_HEADROOM, total + ETH_HEADROOM, false, true);
  }

  // ---- send ------------------------------------------------------------

  /** Next identification value (per host, as Linux's per-destination counters start random). */
  nextId(): number {
    this.identification = (this.identification + 1) & 0xffff;
    return this.identification;
  }

  /**
   * Sends a datagram this host originates. Returns 'sent', 'queued' (waiting
   * for ARP) or an Error carrying Node's code (ENETUNREACH, EMSGSIZE).
   */
  send(dst: IPv4Address, protocol: number, payload: Uint8Array, opts: SendOptions = {}): 'sent' | 'queued' | Error {
    this.stats.outRequests++;
    const route = this.routes.lookup(dst);
    const iface = route ? this.interfaceByName(route.dev) : undefined;
    if (!route || !iface || !iface.up) {
      this.drop('outNoRoute');
      return netError('ENETUNREACH', `no route to ${fmt(dst)}`);
    }
    const src = opts.src ?? route.src ?? iface.sourceFor(route.gateway ?? dst) ?? 0;
    const total = 20 + payload.length;
    if (total > 65535) return netError('EMSGSIZE', `datagram of ${total} bytes exceeds 65535`);
    const df = opts.dontFragment ?? false;
    if (df && total > iface.mtu) return netError('EMSGSIZE', `message of ${total} bytes exceeds the ${iface.mtu}-byte MTU of ${iface.name} and DF is set`);
    const frame = new Uint8Array(ETH_HEADROOM + total);
    writeIPv4Header(
      {
        dscp: (opts.tos ?? 0) >>> 2, ecn: (opts.tos ?? 0) & 3, identification: this.nextId(),
        dontFragment: df, moreFragments: false, reservedFlag: false, fragmentOffset: 0,
        ttl: opts.ttl ?? this.defaultTtl, protocol, src, dst, options: EMPTY,
      },
      frame, ETH_HEADROOM, payload.length,
    );
    frame.set(payload, ETH_HEADROOM + 20);
    const nextHop = route.gateway ?? dst;
    if (this.isLocalAddress(dst)) {
      // Loopback through the stack itself: deliver on the next timer tick so
      // a reply never re-enters the sender.
      this.loopback(frame.subarray(ETH_HEADROOM), iface);
      return 'sent';
    }
    const r = total > iface.mtu ? this.fragmentOut(frame.subarray(ETH_HEADROOM), iface, nextHop, true) : this.linkOutput(iface, nextHop, frame, 0, frame.length, true, false);
    this.flushDirty();
    return r;
  }

  private loopback(datagram: Uint8Array, iface: NetInterface): void {
    const t = this.clock.timers.setTimeout(() => this.deliver(datagram, iface, false), 0);
    void t;
  }

  private fragmentOut(datagram: Uint8Array, iface: NetInterface, nextHop: IPv4Address, local: boolean): 'sent' | 'queued' | Error {
    let result: 'sent' | 'queued' | Error = 'sent';
    const r = fragmentIPv4(datagram, iface.mtu, (frag) => {
      this.stats.fragCreates++;
      const frame = new Uint8Array(ETH_HEADROOM + frag.length);
      frame.set(frag, ETH_HEADROOM);
      const out = this.linkOutput(iface, nextHop, frame, 0, frame.length, local, false);
      if (out !== 'sent') result = out;
    });
    if (r !== 'ok') {
      this.drop(r === 'df' ? 'fragNeeded' : 'fragFailed');
      return netError('EMSGSIZE', `cannot fragment for MTU ${iface.mtu} (${r})`);
    }
    return result;
  }

  /**
   * Puts a datagram (at buf[off+14, off+len)) on the wire of `iface` towards
   * `nextHop`: broadcast, a known neighbour, or queued while ARP resolves.
   * `borrowed` bytes are copied before they are queued.
   */
  linkOutput(iface: NetInterface, nextHop: IPv4Address, buf: Uint8Array, off: number, len: number, local: boolean, borrowed: boolean): 'sent' | 'queued' | Error {
    if (!iface.up) {
      iface.drop('down');
      return netError('ENETDOWN', `${iface.name} is down`);
    }
    let mac: Mac | undefined;
    if (iface.isBroadcast(nextHop)) mac = MAC_BROADCAST;
    else mac = this.neighbours.lookup(nextHop, iface.name);
    if (mac === undefined) {
      const pending: PendingFrame = borrowed ? { buf: buf.slice(off, off + len), off: 0, len, local } : { buf, off, len, local };
      return this.neighbours.resolve(nextHop, iface.name, pending) ? 'queued' : netError('EHOSTUNREACH', `ARP queue for ${fmt(nextHop)} is full`);
    }
    this.emit(iface, mac, buf, off, len);
    return 'sent';
  }

  private emit(iface: NetInterface, dstMac: Mac, buf: Uint8Array, off: number, len: number): void {
    writeMac(buf, off, dstMac);
    writeMac(buf, off + 6, iface.mac);
    buf[off + 12] = 0x08;
    buf[off + 13] = 0x00;
    if (iface.port.send(buf, off, len, -1)) {
      iface.stats.txFrames++;
      iface.stats.txBytes += len;
    }
    iface.dirty = true;
  }

  close(): void {
    this.reassembler.clear();
    this.neighbours.close?.();
  }
}

const EMPTY = new Uint8Array(0);

function fmt(ip: IPv4Address): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export { IP_PROTOCOL };
