/**
 * The AF_PACKET half of the native addon (native/packet.cc): its TypeScript
 * types and how it is reached. It lives in the same .node file as the TAP
 * (node-gyp-build loads one file per package), so it is loaded through
 * tap-native.ts and checked for here: an addon built before packet.cc
 * existed says so, with the command that rebuilds it.
 */
import { loadTapBinding } from './tap-native.js';
import type { NativeFrameDevice } from './native-port.js';

export interface NativePacketOptions {
  /** Join the interface's promiscuous mode (PACKET_MR_PROMISC, dropped when the socket closes). */
  promisc: boolean;
  /** TPACKET_V3 block size: a power of two holding two largest frames. */
  blockBytes: number;
  /** Blocks in the ring. */
  blockCount: number;
  /** A block that is not full is handed over after this many milliseconds. */
  retireMs: number;
  /** PACKET_FANOUT group id (hash mode), 0 for none. */
  fanoutGroup: number;
}

/** The kernel's PACKET_STATISTICS (accumulated) and frames the ring cut short. */
export interface PacketKernelStats {
  packets: number;
  drops: number;
  freezes: number;
  truncated: number;
}

export interface NativePacket extends NativeFrameDevice {
  readonly ifname: string;
  readonly ifindex: number;
  /** The socket's descriptor, -1 once closed. */
  readonly fd: number;
  kernelStats(): PacketKernelStats;
}

export interface PacketBinding {
  Packet: new (ifname: string, opts: NativePacketOptions) => NativePacket;
  /** Largest frame one ring slot holds (a 64 KiB GSO frame with its headers). */
  readonly PACKET_MAX_FRAME: number;
}

export function loadPacketBinding(): PacketBinding {
  const binding = loadTapBinding() as unknown as Partial<PacketBinding>;
  if (typeof binding.Packet !== 'function' || typeof binding.PACKET_MAX_FRAME !== 'number') {
    throw new Error(
      'the native addon was built without AF_PACKET support (native/packet.cc): rebuild it with `npx node-gyp rebuild` or `npm ci`',
    );
  }
  return binding as PacketBinding;
}
