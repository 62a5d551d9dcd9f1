/**
 * The send half of IPv4: datagrams this host originates (route lookup,
 * source choice, header, the NAT's postrouting hook), TCP super-frames with
 * their virtio_net_hdr, loopback, fragmentation, and the link output every
 * path shares (ARP resolution or queueing, the Ethernet header written in
 * the frame's headroom). Split from src/ip/ipv4.ts, which keeps the
 * receive side and forwarding and calls in here.
 */
import { VNET_HDR_LEN } from '../link/port.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, VNET_HDR_GSO_TCPV4, writeVnetHdr } from '../link/gso.js';
import { formatIPv4, MAC_BROADCAST, writeMac, type IPv4Address, type Mac } from '../wire/address.js';
import { IP_PROTOCOL, writeIPv4Header } from '../wire/ipv4.js';
import { fragmentIPv4 } from './fragment.js';
import type { NetInterface } from './interface.js';
import { ETH_HEADROOM, type IpLayer, type PendingFrame, type SendOptions } from './ipv4.js';

export function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const EMPTY = new Uint8Array(0);

export class IpOutput {
  private identification: number;
  /**
   * Reused frame buffer for `send`'s common case (a datagram that leaves
   * whole, not through loopback). Ports borrow the bytes they are given and
   * `linkOutput` copies what it queues for ARP, so nothing keeps a reference
   * past the call; reusing it saves an allocation per datagram (it showed as
   * the top self-time function in the in-memory TCP benchmark). `sendBusy`
   * guards a port that would re-enter `send` from inside `port.send`.
   */
  private sendScratch = new Uint8Array(ETH_HEADROOM + 1500);
  private sendBusy = false;
  /** sendGso's scratch, as sendScratch is the plain path's (grown to a 64 KB super-frame once). */
  private gsoScratch = new Uint8Array(0);

  constructor(
    private readonly ip: IpLayer,
    seed: number,
  ) {
    this.identification = seed & 0xffff;
  }

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
    this.ip.stats.outRequests++;
    const route = this.ip.routes.lookup(dst);
    const iface = route ? this.ip.interfaceByName(route.dev) : undefined;
    if (!route || !iface || !iface.up) {
      this.ip.drop('outNoRoute');
      return netError('ENETUNREACH', `no route to ${formatIPv4(dst)}`);
    }
    const src = opts.src ?? route.src ?? iface.sourceFor(route.gateway ?? dst) ?? 0;
    const options = opts.options ?? EMPTY;
    const hl = 20 + options.length;
    const total = hl + payload.length;
    if (total > 65535) return netError('EMSGSIZE', `datagram of ${total} bytes exceeds 65535`);
    const df = opts.dontFragment ?? false;
    const gsoSize = opts.gsoSize ?? 0;
    if (gsoSize > 0 && protocol === IP_PROTOCOL.TCP && !this.ip.isLocalAddress(dst)) {
      return this.sendGso(dst, payload, opts, iface, src, route.gateway ?? dst, gsoSize);
    }
    if (df && total > iface.mtu) return netError('EMSGSIZE', `message of ${total} bytes exceeds the ${iface.mtu}-byte MTU of ${iface.name} and DF is set`);
    const nextHop = route.gateway ?? dst;
    const local = this.ip.isLocalAddress(dst);
    // Loopback and fragmentation keep views of the frame beyond this call: those get their own buffer.
    const reuse = !local && total <= iface.mtu && !this.sendBusy;
    let frame: Uint8Array;
    if (reuse) {
      if (this.sendScratch.length < ETH_HEADROOM + total) this.sendScratch = new Uint8Array(ETH_HEADROOM + Math.max(total, 2 * this.sendScratch.length));
      frame = this.sendScratch;
    } else {
      frame = new Uint8Array(ETH_HEADROOM + total);
    }
    writeIPv4Header(
      {
        dscp: (opts.tos ?? 0) >>> 2, ecn: (opts.tos ?? 0) & 3, identification: this.nextId(),
        dontFragment: df, moreFragments: false, reservedFlag: false, fragmentOffset: 0,
        ttl: opts.ttl ?? this.ip.defaultTtl, protocol, src, dst, options,
      },
      frame, ETH_HEADROOM, payload.length,
    );
    frame.set(payload, ETH_HEADROOM + hl);
    if (this.ip.hooks !== null && !local && !this.ip.hooks.postrouting(frame, ETH_HEADROOM, total, iface, undefined, -1)) {
      this.ip.drop('outFiltered');
      return netError('EPERM', `the NAT refused a datagram to ${formatIPv4(dst)} (see stack.nat.stats)`);
    }
    if (local) {
      // Loopback through the stack itself: deliver on the next timer tick so
      // a reply never re-enters the sender.
      this.loopback(frame.subarray(ETH_HEADROOM), iface);
      return 'sent';
    }
    let r: 'sent' | 'queued' | Error;
    if (reuse) {
      this.sendBusy = true;
      try {
        // borrowed: an ARP-pending frame is copied out of the scratch.
        r = this.linkOutput(iface, nextHop, frame, 0, ETH_HEADROOM + total, true, true);
      } finally {
        this.sendBusy = false;
      }
    } else {
      r = total > iface.mtu ? this.fragmentOut(frame.subarray(ETH_HEADROOM), iface, nextHop, true) : this.linkOutput(iface, nextHop, frame, 0, frame.length, true, false);
    }
    this.ip.flushDirty();
    return r;
  }

  /**
   * One TCP super-frame with its virtio_net_hdr in front: GSO_TCPV4 with
   * gso_size, NEEDS_CSUM at the TCP checksum (which the caller left holding
   * the pseudo-header sum, as Linux does). A vnet port hands it to the
   * kernel whole; any other port segments it in software (src/link/gso.ts).
   */
  private sendGso(dst: IPv4Address, payload: Uint8Array, opts: SendOptions, iface: NetInterface, src: IPv4Address, nextHop: IPv4Address, gsoSize: number): 'sent' | 'queued' | Error {
    const total = 20 + payload.length;
    // The super-frame is built in a scratch buffer as the plain path does (a 64 KB allocation per
    // frame was a tenth of the in-memory TCP profile); ports copy what they keep past the flush below.
    const reuse = !this.sendBusy;
    const size = VNET_HDR_LEN + ETH_HEADROOM + total;
    let frame: Uint8Array;
    if (reuse) {
      if (this.gsoScratch.length < size) this.gsoScratch = new Uint8Array(Math.max(size, VNET_HDR_LEN + ETH_HEADROOM + 65535));
      frame = this.gsoScratch.subarray(0, size);
    } else {
      frame = new Uint8Array(size);
    }
    writeIPv4Header(
      {
        dscp: (opts.tos ?? 0) >>> 2, ecn: (opts.tos ?? 0) & 3, identification: this.nextId(),
        dontFragment: true, moreFragments: false, reservedFlag: false, fragmentOffset: 0,
        ttl: opts.ttl ?? this.ip.defaultTtl, protocol: IP_PROTOCOL.TCP, src, dst, options: EMPTY,
      },
      frame, VNET_HDR_LEN + ETH_HEADROOM, payload.length,
    );
    frame.set(payload, VNET_HDR_LEN + ETH_HEADROOM + 20);
    const tcpHl = (payload[12]! >>> 4) << 2;
    const l4 = ETH_HEADROOM + 20;
    const gso = total > iface.mtu || payload.length - tcpHl > gsoSize;
    writeVnetHdr(
      {
        flags: VNET_HDR_F_NEEDS_CSUM,
        // A template with CWR is SKB_GSO_TCP_ECN in Linux: whoever segments it sets CWR on the first segment only.
        gsoType: gso ? VNET_HDR_GSO_TCPV4 | (payload[13]! & 0x80 ? VNET_HDR_GSO_ECN : 0) : VNET_HDR_GSO_NONE,
        hdrLen: gso ? l4 + tcpHl : 0,
        gsoSize: gso ? gsoSize : 0,
        csumStart: l4,
        csumOffset: 16,
      },
      frame, 0,
    );
    if (this.ip.hooks !== null && !this.ip.hooks.postrouting(frame, VNET_HDR_LEN + ETH_HEADROOM, total, iface, undefined, 0)) {
      this.ip.drop('outFiltered');
      return netError('EPERM', `the NAT refused a datagram to ${formatIPv4(dst)} (see stack.nat.stats)`);
    }
    if (gso) this.ip.stats.outGsoFrames++;
    // Ids as the kernel's segmentation will use them (id, id+1, …).
    this.identification = (this.identification + Math.ceil((payload.length - tcpHl) / gsoSize) - 1) & 0xffff;
    let r: 'sent' | 'queued' | Error;
    if (reuse) {
      this.sendBusy = true;
      try {
        r = this.linkOutput(iface, nextHop, frame, VNET_HDR_LEN, frame.length - VNET_HDR_LEN, true, true, 0);
      } finally {
        this.sendBusy = false;
      }
    } else {
      r = this.linkOutput(iface, nextHop, frame, VNET_HDR_LEN, frame.length - VNET_HDR_LEN, true, false, 0);
    }
    this.ip.flushDirty();
    return r;
  }

  private loopback(datagram: Uint8Array, iface: NetInterface): void {
    this.ip.clock.timers.setTimeout(() => this.ip.deliver(datagram, iface, false), 0);
  }

  fragmentOut(datagram: Uint8Array, iface: NetInterface, nextHop: IPv4Address, local: boolean): 'sent' | 'queued' | Error {
    let result: 'sent' | 'queued' | Error = 'sent';
    const r = fragmentIPv4(datagram, iface.mtu, (frag) => {
      this.ip.stats.fragCreates++;
      const frame = new Uint8Array(ETH_HEADROOM + frag.length);
      frame.set(frag, ETH_HEADROOM);
      const out = this.linkOutput(iface, nextHop, frame, 0, frame.length, local, false);
      if (out !== 'sent') result = out;
    });
    if (r !== 'ok') {
      this.ip.drop(r === 'df' ? 'fragNeeded' : 'fragFailed');
      return netError('EMSGSIZE', `cannot fragment for MTU ${iface.mtu} (${r})`);
    }
    return result;
  }

  /**
   * Puts a datagram (at buf[off+14, off+len)) on the wire of `iface` towards
   * `nextHop`: broadcast, a known neighbour, or queued while ARP resolves.
   * `borrowed` bytes are copied before they are queued.
   */
  linkOutput(iface: NetInterface, nextHop: IPv4Address, buf: Uint8Array, off: number, len: number, local: boolean, borrowed: boolean, vnetOff = -1): 'sent' | 'queued' | Error {
    if (!iface.up) {
      iface.drop('down');
      return netError('ENETDOWN', `${iface.name} is down`);
    }
    let mac: Mac | undefined;
    if (iface.isBroadcast(nextHop)) mac = MAC_BROADCAST;
    else mac = this.ip.neighbours.lookup(nextHop, iface.name);
    if (mac === undefined) {
      let pending: PendingFrame;
      if (vnetOff >= 0) {
        // Keep the header in front of the frame (vnetOff + VNET_HDR_LEN === off in every caller).
        pending = borrowed
          ? { buf: buf.slice(vnetOff, off + len), off: off - vnetOff, len, local, vnetOff: 0 }
          : { buf, off, len, local, vnetOff };
      } else {
        pending = borrowed ? { buf: buf.slice(off, off + len), off: 0, len, local } : { buf, off, len, local };
      }
      return this.ip.neighbours.resolve(nextHop, iface.name, pending) ? 'queued' : netError('EHOSTUNREACH', `ARP queue for ${formatIPv4(nextHop)} is full`);
    }
    this.emit(iface, mac, buf, off, len, vnetOff);
    return 'sent';
  }

  emit(iface: NetInterface, dstMac: Mac, buf: Uint8Array, off: number, len: number, vnetOff = -1): void {
    writeMac(buf, off, dstMac);
    writeMac(buf, off + 6, iface.mac);
    buf[off + 12] = 0x08;
    buf[off + 13] = 0x00;
    if (iface.port.send(buf, off, len, vnetOff)) {
      iface.stats.txFrames++;
      iface.stats.txBytes += len;
    }
    iface.dirty = true;
  }
}
