/**
 * A Linux TAP device as a `Port`: frames in from the kernel in batches,
 * frames out in one native call per tick.
 *
 * Hand-written around our own addon (src/link/tap-native.ts) because the npm
 * TUN/TAP packages read one frame per callback through streams, which is the
 * per-frame cost DESIGN.md's hot path exists to avoid.
 *
 * Receive batching, the send queue and software segmentation live in
 * native-port.ts, shared with the AF_PACKET port.
 */
import {
  DEFAULT_BATCH_FRAMES,
  DEFAULT_SLAB_BYTES,
  DEFAULT_TX_QUEUE_FRAMES,
  DEFAULT_VNET_SLAB_BYTES,
  NativeFramePort,
  positiveInt,
} from './native-port.js';
import { VNET_HDR_LEN } from './port.js';
import { loadTapBinding } from './tap-native.js';

export interface TapOptions {
  /** Open with IFF_VNET_HDR: frames carry a 10-byte virtio_net_hdr both ways. Default false. */
  vnetHdr?: boolean;
  /** Tell the kernel we take checksum and TSO offload (TUNSETOFFLOAD). Default: same as vnetHdr. */
  offload?: boolean;
  /** Open with IFF_MULTI_QUEUE, so the same name can be opened again as another queue. Default false. */
  multiQueue?: boolean;
  /** Most frames read per batch. Default 256. */
  batchFrames?: number;
  /** Receive slab size. Default 1 MiB, 4 MiB with vnetHdr (pages the kernel never fills cost no memory). */
  slabBytes?: number;
  /** Most frames queued for sending; beyond that frames are dropped as 'txQueueFull'. Default 1024. */
  txQueueFrames?: number;
}

/** Opens (creating if needed) the TAP device `name` and starts reading from it. Throws errors with `code` set. */
export function openTap(name: string, opts: TapOptions = {}): TapPort {
  return new TapPort(name, opts);
}

export class TapPort extends NativeFramePort {
  /** The device's name as the kernel has it (same as `name`). */
  readonly ifname: string;
  readonly offload: boolean;
  readonly multiQueue: boolean;

  constructor(name: string, opts: TapOptions = {}) {
    const binding = loadTapBinding();
    const vnetHdr = opts.vnetHdr ?? false;
    const offload = vnetHdr && (opts.offload ?? true);
    const multiQueue = opts.multiQueue ?? false;
    const batchFrames = positiveInt(opts.batchFrames, DEFAULT_BATCH_FRAMES, 'batchFrames');
    const minSlab = binding.MAX_FRAME + (vnetHdr ? binding.VNET_HDR_LEN : 0);
    const slabBytes = positiveInt(
      opts.slabBytes,
      Math.max(minSlab, vnetHdr ? DEFAULT_VNET_SLAB_BYTES : DEFAULT_SLAB_BYTES),
      'slabBytes (one largest frame)',
      minSlab,
    );
    const txQueueFrames = positiveInt(opts.txQueueFrames, DEFAULT_TX_QUEUE_FRAMES, 'txQueueFrames');
    if (vnetHdr && binding.VNET_HDR_LEN !== VNET_HDR_LEN) {
      throw new Error(`native virtio_net_hdr is ${binding.VNET_HDR_LEN} bytes, port.ts expects ${VNET_HDR_LEN}`);
    }
    const native = new binding.Tap(name, { vnetHdr, offload, multiQueue });
    super(native, { name: native.ifname, vnetHdr, batchFrames, slabBytes, txQueueFrames });
    this.ifname = native.ifname;
    this.offload = offload;
    this.multiQueue = multiQueue;
  }
}
