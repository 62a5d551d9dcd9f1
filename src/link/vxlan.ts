/**
 * A VXLAN port (RFC 7348): a bridge's frames carried over UDP to other
 * VTEPs — other wirelab labs, Linux `vxlan` devices, switches — so one layer-2
 * network spans machines. On a bridge it is a port like any other; what it
 * adds is what Linux's vxlan driver does for a device with a static remote
 * list (`bridge fdb append 00:00:00:00:00:00 dst …`):
 *
 * - Head-end replication: broadcast, multicast and unknown-unicast frames go
 *   to every remote VTEP, one datagram each.
 * - Learning: a received frame's inner source MAC is remembered with the
 *   VTEP it came from (aging like the bridge's FDB, 300 s, bounded, counted
 *   when full), so unicast to a known station goes to one VTEP only.
 * - The VNI is checked on receive: a datagram without the I flag, with
 *   another VNI, shorter than the header, or from a source that is not a
 *   listed remote is a counted drop (`stats.drops`), never an exception.
 *   (Linux also learns new VTEPs from any source; wirelab accepts only its
 *   list, so a stranger cannot join the network by sending to the port.)
 * - 50 bytes of overhead: the overlay MTU is the underlay's minus 50 (1450
 *   on a 1500 underlay, as Linux sets it). A frame whose payload exceeds it
 *   is dropped ('oversize'); if it is IPv4 with DF, the sender first gets an
 *   ICMP frag-needed with the overlay MTU, as Linux answers for a bridged
 *   tunnel (./vxlan-pmtu.ts). Outer packets are sent with whatever DF policy
 *   the host socket has (Linux's default for UDP sockets: PMTU discovery on).
 * - Counters per remote (frames and bytes of inner frames each way) and for
 *   the port (`PortStats`), as `ip -s link` counts them on a vxlan device.
 *
 * Offloads: the port is not a vnetHdr port. GSO super-frames forwarded from
 * a vnet TAP are cut into MTU-sized frames here (./gso.ts), as a plain TAP
 * does, before they are encapsulated; partial checksums are completed.
 *
 * Received frames are copied into a slab and handed to the receiver in one
 * batch per tick, on a clock timer armed for now (so the bridge flushes its
 * TAPs once per burst of datagrams, not once per datagram), never from
 * inside `send()`. All datagrams go out from the one socket, so the outer
 * UDP source port is fixed (RFC 7348 asks for a hash of the inner flow for
 * ECMP entropy; one socket cannot do that).
 */
import { GsoSegmenter, VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, vnetFlags, vnetGsoType } from './gso.js';
import { FrameSlab } from './frame-slab.js';
import { countDrop, newPortStats, type Port, type PortStats, type RxHandler, VNET_HDR_LEN } from './port.js';
import type { VxlanUnderlay } from './vxlan-underlay.js';
import { FRAG_NEEDED_MAX_FRAME, writeFragNeeded } from './vxlan-pmtu.js';
import { type Clock, type TableUsage, Timer } from '../time/index.js';
import { formatMac, readMac, type Mac } from '../wire/address.js';
import { ETHERTYPE } from '../wire/ethernet.js';
import {
  VXLAN_FLAG_I,
  VXLAN_HEADER_LENGTH,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  VXLAN_VNI_MAX,
  vxlanFlags,
  vxlanVni,
  writeVxlanHeader,
} from '../wire/vxlan.js';

export interface VxlanPortOptions {
  clock: Clock;
  /** The UDP socket, bound (./vxlan-underlay.ts). The port closes it. */
  underlay: VxlanUnderlay;
  /** The VXLAN network identifier, 1..16777215. */
  vni: number;
  /** Remote VTEPs' IPv4 addresses. */
  remotes: readonly string[];
  /** Destination UDP port at the remotes. Default 4789. */
  port?: number;
  /** Port name on the bridge. Default `vxlan<vni>`. */
  name?: string;
  /** The underlay's MTU. Default 1500. */
  underlayMtu?: number;
  /** The overlay MTU (largest inner IP packet). Default underlayMtu − 50. */
  mtu?: number;
  /** Learned MACs expire this long after last heard. Default 300000 (Linux's `ageing`, 300 s). */
  agingMs?: number;
  /** Most learned MACs; more are refused (flooded), counted. Default 8192. */
  maxLearned?: number;
  /** Answer a too-big DF packet with ICMP frag-needed. Default true. */
  pmtuDiscovery?: boolean;
}

/** One remote VTEP's counters (inner frames and their bytes). */
export interface VxlanRemoteStats {
  address: string;
  port: number;
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
}

export interface VxlanLearnStats {
  learned: number;
  /** A MAC heard from another VTEP than before (a station that moved). */
  moved: number;
  refused: number;
  expired: number;
}

/** A learned station, JSON-able (`bridge fdb show dev vxlan0` words). */
export interface VxlanFdbEntry {
  mac: string;
  dst: string;
  ageMs: number;
}

const IPV4_TEXT = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

interface Learned {
  remote: VxlanRemoteStats;
  lastSeen: number;
}

/** Shared: its output is copied into a datagram before the next call. */
let segmenter: GsoSegmenter | undefined;

export class VxlanPort implements Port {
  readonly name: string;
  readonly stats: PortStats = newPortStats();
  readonly vnetHdr = false;
  onReceive: RxHandler | null = null;
  readonly vni: number;
  readonly dstPort: number;
  /** The overlay MTU: the largest IP packet a frame may carry. */
  readonly mtu: number;
  readonly learnStats: VxlanLearnStats = { learned: 0, moved: 0, refused: 0, expired: 0 };
  /** ICMP frag-needed answers sent back to senders of too-big DF packets. */
  pmtuAnswers = 0;
  private readonly clock: Clock;
  private readonly underlay: VxlanUnderlay;
  private readonly remoteList: VxlanRemoteStats[];
  private readonly byAddress = new Map<string, VxlanRemoteStats>();
  private readonly fdb = new Map<Mac, Learned>();
  private readonly agingMs: number;
  private readonly maxLearned: number;
  private readonly pmtu: boolean;
  private filling = new FrameSlab(false);
  private spare = new FrameSlab(false);
  private readonly timer: Timer;
  private readonly icmp = new Uint8Array(FRAG_NEEDED_MAX_FRAME);
  private closed = false;

  constructor(opts: VxlanPortOptions) {
    if (!Number.isInteger(opts.vni) || opts.vni < 1 || opts.vni > VXLAN_VNI_MAX) {
      throw new RangeError(`VXLAN VNI ${opts.vni} is not a whole number from 1 to ${VXLAN_VNI_MAX}`);
    }
    const port = opts.port ?? VXLAN_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`VXLAN port ${port} is not 1..65535`);
    if (opts.remotes.length === 0) throw new RangeError('a VXLAN port needs at least one remote VTEP');
    for (const r of opts.remotes) if (!IPV4_TEXT.test(r)) throw new RangeError(`VXLAN remote "${r}" is not an IPv4 address`);
    const underlayMtu = opts.underlayMtu ?? 1500;
    this.mtu = opts.mtu ?? underlayMtu - VXLAN_OVERHEAD;
    if (!Number.isInteger(this.mtu) || this.mtu < 68 || this.mtu > 65535 - VXLAN_OVERHEAD) {
      throw new RangeError(`VXLAN overlay MTU ${this.mtu} is not 68..${65535 - VXLAN_OVERHEAD}`);
    }
    this.vni = opts.vni;
    this.dstPort = port;
    this.name = opts.name ?? `vxlan${opts.vni}`;
    this.clock = opts.clock;
    this.underlay = opts.underlay;
    this.agingMs = opts.agingMs ?? 300_000;
    this.maxLearned = opts.maxLearned ?? 8192;
    this.pmtu = opts.pmtuDiscovery ?? true;
    this.remoteList = [...new Set(opts.remotes)].map((address) => ({ address, port, txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 }));
    for (const r of this.remoteList) this.byAddress.set(r.address, r);
    this.timer = new Timer(opts.clock.timers, this.deliver);
    this.underlay.onMessage = this.onDatagram;
  }

  // ---- transmit ----------------------------------------------------------

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.closed) {
      countDrop(this.stats, 'closed');
      return false;
    }
    if (!(off >= 0 && len >= 0 && off + len <= buf.length)) {
      countDrop(this.stats, 'badFrame');
      return false;
    }
    if (vnetOff >= 0 && !isPlain(buf, vnetOff)) {
      segmenter ??= new GsoSegmenter();
      const n = segmenter.segment(buf, vnetOff, off, len);
      if (n <= 0) {
        countDrop(this.stats, 'gsoUnsupported');
        return false;
      }
      const { out, offsets, lengths } = segmenter;
      let any = false;
      for (let i = 0; i < n; i++) any = this.sendFrame(out, offsets[i]!, lengths[i]!) || any;
      return any;
    }
    return this.sendFrame(buf, off, len);
  }

  /** Datagrams leave as they are made: the socket has no batch to flush. */
  flush(): void {}

  private sendFrame(buf: Uint8Array, off: number, len: number): boolean {
    if (len < 14) {
      countDrop(this.stats, 'runt');
      return false;
    }
    const l2 = ((buf[off + 12]! << 8) | buf[off + 13]!) === ETHERTYPE.VLAN ? 18 : 14;
    if (len - l2 > this.mtu) {
      countDrop(this.stats, 'oversize');
      if (this.pmtu) this.answerTooBig(buf, off, len);
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if ((buf[off]! & 1) === 0) {
      const e = this.fdb.get(readMac(buf, off));
      if (e !== undefined) {
        if (this.clock.now() - e.lastSeen <= this.agingMs) {
          this.encapsulate(e.remote, buf, off, len);
          return true;
        }
        this.fdb.delete(readMac(buf, off));
        this.learnStats.expired++;
      }
    }
    // Broadcast, multicast, unknown unicast: one copy to every remote (head-end replication).
    for (let i = 0; i < this.remoteList.length; i++) this.encapsulate(this.remoteList[i]!, buf, off, len);
    return true;
  }

  private encapsulate(remote: VxlanRemoteStats, buf: Uint8Array, off: number, len: number): void {
    const total = VXLAN_HEADER_LENGTH + len;
    const d = this.underlay.buffer(total);
    writeVxlanHeader(d, 0, this.vni);
    d.set(buf.subarray(off, off + len), VXLAN_HEADER_LENGTH);
    this.underlay.send(d, total, remote.address, remote.port);
    remote.txFrames++;
    remote.txBytes += len;
  }

  /** A too-big DF packet: the ICMP frag-needed goes back into the bridge as if it came from the far side. */
  private answerTooBig(buf: Uint8Array, off: number, len: number): void {
    const n = writeFragNeeded(buf, off, len, this.mtu, this.icmp, 0);
    if (n === 0) return;
    this.pmtuAnswers++;
    this.queue(this.icmp, 0, n);
  }

  // ---- receive -----------------------------------------------------------

  private readonly onDatagram = (buf: Uint8Array, address: string): void => {
    if (this.closed) return;
    const remote = this.byAddress.get(address);
    if (remote === undefined) {
      countDrop(this.stats, 'unknownRemote');
      return;
    }
    if (buf.length < VXLAN_HEADER_LENGTH) {
      countDrop(this.stats, 'vxlanShort');
      return;
    }
    if ((vxlanFlags(buf, 0) & VXLAN_FLAG_I) === 0) {
      countDrop(this.stats, 'vxlanNoVni');
      return;
    }
    if (vxlanVni(buf, 0) !== this.vni) {
      countDrop(this.stats, 'vxlanWrongVni');
      return;
    }
    const off = VXLAN_HEADER_LENGTH;
    const len = buf.length - off;
    if (len < 14) {
      countDrop(this.stats, 'runt');
      return;
    }
    if ((buf[off + 6]! & 1) === 0) this.learn(readMac(buf, off + 6), remote);
    remote.rxFrames++;
    remote.rxBytes += len;
    this.queue(buf, off, len);
  };

  private learn(mac: Mac, remote: VxlanRemoteStats): void {
    const now = this.clock.now();
    const e = this.fdb.get(mac);
    if (e !== undefined) {
      if (e.remote !== remote) {
        e.remote = remote;
        this.learnStats.moved++;
      }
      e.lastSeen = now;
      return;
    }
    if (this.fdb.size >= this.maxLearned && this.sweep(now) === 0) {
      this.learnStats.refused++;
      return;
    }
    this.fdb.set(mac, { remote, lastSeen: now });
    this.learnStats.learned++;
  }

  /** Forgets expired stations; returns how many went. */
  private sweep(now: number): number {
    let n = 0;
    for (const [mac, e] of this.fdb) {
      if (now - e.lastSeen > this.agingMs) {
        this.fdb.delete(mac);
        n++;
      }
    }
    this.learnStats.expired += n;
    return n;
  }

  private queue(buf: Uint8Array, off: number, len: number): void {
    this.filling.push(buf, off, len);
    if (!this.timer.armed) this.timer.arm(0);
  }

  private readonly deliver = (): void => {
    const batch = this.filling;
    if (batch.count === 0) return;
    this.filling = this.spare;
    this.filling.reset();
    this.spare = batch;
    const handler = this.onReceive;
    if (this.closed) return;
    if (handler === null) {
      countDrop(this.stats, 'noReceiver', batch.count);
      return;
    }
    this.stats.rxFrames += batch.count;
    this.stats.rxBytes += batch.used;
    handler(batch, this);
  };

  // ---- inspection and lifetime -------------------------------------------

  /** Each remote VTEP with its counters (a snapshot). */
  remotes(): VxlanRemoteStats[] {
    return this.remoteList.map((r) => ({ ...r }));
  }

  /** Learned stations, like `bridge fdb show dev vxlan0`. */
  learned(): VxlanFdbEntry[] {
    const now = this.clock.now();
    return [...this.fdb]
      .filter(([, e]) => now - e.lastSeen <= this.agingMs)
      .map(([mac, e]) => ({ mac: formatMac(mac), dst: e.remote.address, ageMs: now - e.lastSeen }));
  }

  /** The socket's own failures: sends the kernel refused, errors it reported. */
  underlayErrors(): { sendErrors: number; socketErrors: number } {
    return { ...this.underlay.stats };
  }

  usage(): TableUsage {
    return { table: 'vxlan.fdb', size: this.fdb.size, limit: this.maxLearned, unit: 'entries', refused: this.learnStats.refused, evicted: 0, like: 'vxlan fdb (learning)' };
  }

  /** Stops receiving and closes the underlay socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer.cancel();
    this.onReceive = null;
    this.underlay.onMessage = null;
    await this.underlay.close();
  }
}

/** A vnet header that asks for nothing (no GSO, no checksum to finish) can be left behind. */
function isPlain(buf: Uint8Array, vnetOff: number): boolean {
  if (vnetOff + VNET_HDR_LEN > buf.length) return false; // let the segmenter report it
  return (
    (vnetGsoType(buf, vnetOff) & ~VNET_HDR_GSO_ECN) === VNET_HDR_GSO_NONE && (vnetFlags(buf, vnetOff) & VNET_HDR_F_NEEDS_CSUM) === 0
  );
}
