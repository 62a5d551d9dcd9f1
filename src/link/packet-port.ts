/**
 * Any existing interface as a `Port`: a veth end, a Docker bridge's veth, a
 * NIC in a test bed. wirelab opens an AF_PACKET socket bound to the
 * interface (native/packet.cc: TPACKET_V3 receive ring, sendmmsg, VLAN tags
 * the kernel stripped put back) and switches its frames like a TAP's; the
 * batching, send queue and counters are native-port.ts's, shared with TAPs.
 *
 * Large frames: on a veth (and with GRO on a NIC) the kernel hands packet
 * sockets frames well above the MTU, TCP super-frames with a partial
 * checksum, and refuses to send a frame above the MTU unless it carries GSO
 * metadata. So the socket runs with PACKET_VNET_HDR and the port is a vnet
 * port (`vnetHdr: true`), exactly like a TAP opened with IFF_VNET_HDR: a
 * super-frame crosses the bridge whole with its metadata, is handed to the
 * kernel whole on another AF_PACKET or vnet TAP port, and is cut in
 * software only toward ports that cannot take it (plain TAPs, wirelab
 * hosts). A plain frame above the interface's MTU is refused by the kernel
 * and counted as `drops['txError:EMSGSIZE']`.
 *
 * Safety: attaching to the interface that carries the host's default route
 * would put wirelab on the host's own uplink (every frame of the host seen,
 * frames injected onto the real network), so it is refused unless
 * `force: true`, with an error saying why.
 */
import { readFileSync } from 'node:fs';
import {
  DEFAULT_BATCH_FRAMES,
  DEFAULT_TX_QUEUE_FRAMES,
  DEFAULT_VNET_SLAB_BYTES,
  NativeFramePort,
  positiveInt,
} from './native-port.js';
import { loadPacketBinding, type NativePacket, type PacketKernelStats } from './packet-native.js';
import { VNET_HDR_LEN } from './port.js';

export interface PacketPortOptions {
  /** Attach even to the interface that carries the host's default route. Default false. */
  force?: boolean;
  /** Receive frames for every MAC (a switch port must). Default true. */
  promisc?: boolean;
  /** Ring block size in bytes, a power of two holding a largest frame. Default 128 KiB. */
  blockBytes?: number;
  /**
   * Ring blocks. Default 64 (8 MiB of ring). A quiet interface hands over a
   * block per frame (each is retired after `retireMs`), so this is also how
   * many frames wait while the event loop is busy elsewhere.
   */
  blockCount?: number;
  /** A partly filled block is handed over after this many ms (the latency floor when idle). Default 1. */
  retireMs?: number;
  /** Share the interface's frames with other sockets of the same PACKET_FANOUT group (hash). Default none. */
  fanoutGroup?: number;
  /** Most frames per receive batch. Default 256. */
  batchFrames?: number;
  /** Receive slab size. Default 4 MiB. */
  slabBytes?: number;
  /** Most frames queued for sending. Default 1024. */
  txQueueFrames?: number;
  /** Reads a /proc file (for tests: a route table without touching real routes). Default fs.readFileSync. */
  readProcFile?: (path: string) => string;
}

const DEFAULT_BLOCK_BYTES = 128 << 10;
const DEFAULT_BLOCK_COUNT = 64;

/** Opens an AF_PACKET port on the existing interface `ifname`. Throws errors that say what is wrong. */
export function openPacketPort(ifname: string, opts: PacketPortOptions = {}): PacketPort {
  return new PacketPort(ifname, opts);
}

function readProc(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * The interfaces that carry a default route, IPv4 (/proc/net/route: destination
 * and mask 00000000) and IPv6 (/proc/net/ipv6_route: ::/0). A table that
 * cannot be read counts as having none (no IPv6 in the kernel, say).
 */
export function defaultRouteInterfaces(read: (path: string) => string = readProc): Set<string> {
  const out = new Set<string>();
  const table = (path: string): string[] => {
    try {
      return read(path).split('\n');
    } catch {
      return [];
    }
  };
  // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
  for (const line of table('/proc/net/route').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && f[0] !== undefined) out.add(f[0]);
  }
  // dest plen src splen nexthop metric refcnt use flags iface
  for (const line of table('/proc/net/ipv6_route')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[9] !== 'lo') out.add(f[9]!);
  }
  return out;
}

export class PacketPort extends NativeFramePort {
  /** The interface, as given. */
  readonly ifname: string;
  readonly ifindex: number;
  private readonly packet: NativePacket;

  constructor(ifname: string, opts: PacketPortOptions = {}) {
    if (typeof ifname !== 'string' || ifname.length === 0 || ifname.length > 15 || /[/:\s]/.test(ifname)) {
      throw new Error(
        `cannot attach to interface ${JSON.stringify(ifname)}: not a valid interface name (1 to 15 bytes, no '/', ':' or whitespace)`,
      );
    }
    if (opts.force !== true && defaultRouteInterfaces(opts.readProcFile).has(ifname)) {
      throw new Error(
        `refusing to attach to interface "${ifname}": it carries this host's default route, so wirelab would ` +
          `switch the host's own uplink traffic and put frames onto the real network; attach a veth or a ` +
          `dedicated interface instead, or open it with { force: true } if that is really what you want`,
      );
    }
    const binding = loadPacketBinding();
    const batchFrames = positiveInt(opts.batchFrames, DEFAULT_BATCH_FRAMES, 'batchFrames');
    const minSlab = binding.PACKET_MAX_FRAME + VNET_HDR_LEN + 4;
    const slabBytes = positiveInt(opts.slabBytes, Math.max(minSlab, DEFAULT_VNET_SLAB_BYTES), 'slabBytes (one largest frame)', minSlab);
    const txQueueFrames = positiveInt(opts.txQueueFrames, DEFAULT_TX_QUEUE_FRAMES, 'txQueueFrames');
    const packet = new binding.Packet(ifname, {
      promisc: opts.promisc ?? true,
      blockBytes: positiveInt(opts.blockBytes, DEFAULT_BLOCK_BYTES, 'blockBytes'),
      blockCount: positiveInt(opts.blockCount, DEFAULT_BLOCK_COUNT, 'blockCount', 2),
      retireMs: positiveInt(opts.retireMs, 1, 'retireMs'),
      fanoutGroup: positiveInt(opts.fanoutGroup, 0, 'fanoutGroup', 0),
    });
    super(packet, { name: ifname, vnetHdr: true, batchFrames, slabBytes, txQueueFrames });
    this.packet = packet;
    this.ifname = ifname;
    this.ifindex = packet.ifindex;
  }

  /** The kernel's own counters for this socket: frames it queued, dropped with the ring full, and runts/truncations. */
  kernelStats(): PacketKernelStats {
    return this.packet.kernelStats();
  }
}
