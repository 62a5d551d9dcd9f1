/**
 * The one interface every frame carrier shares: TAP devices, in-memory pipes,
 * later VXLAN. The switch and the hosts see only this.
 *
 * Frames move in batches. A port hands its receiver an `RxBatch`: one slab of
 * bytes plus each frame's offset and length. The bytes are *borrowed*: valid
 * until the receiver returns and the current tick's `flush()` calls have run;
 * whatever must live longer is copied by whoever keeps it.
 *
 * Offload metadata (virtio_net_hdr, when a TAP runs with IFF_VNET_HDR)
 * travels with the frame: if `batch.vnetHdr` is true, the 10-byte header of
 * frame i sits at `offsets[i] - VNET_HDR_LEN` in the same slab, so a frame can
 * be forwarded with its metadata without building anything.
 */

/** Size of `struct virtio_net_hdr` (without num_buffers), as TUNSETVNETHDRSZ is set. */
export const VNET_HDR_LEN = 10;

export interface RxBatch {
  /** The slab. Frame i is `buf[offsets[i], offsets[i] + lengths[i])`. */
  readonly buf: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Frames in this batch (the arrays may be longer). */
  readonly count: number;
  /** True when each frame is preceded by a virtio_net_hdr in the slab. */
  readonly vnetHdr: boolean;
}

export type RxHandler = (batch: RxBatch, port: Port) => void;

/** Per-port counters, as `ip -s link` shows them, plus drops by reason. */
export interface PortStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Drops by reason: 'txQueueFull', 'txError:EIO', 'oversize', 'gsoUnsupported', … */
  drops: Record<string, number>;
}

export function newPortStats(): PortStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, drops: {} };
}

export function countDrop(stats: PortStats, reason: string, n = 1): void {
  stats.drops[reason] = (stats.drops[reason] ?? 0) + n;
}

export interface Port {
  readonly name: string;
  readonly stats: PortStats;
  /**
   * True if this port carries virtio_net_hdr metadata: it may hand out GSO
   * frames larger than its MTU, and it accepts them on `send`.
   */
  readonly vnetHdr: boolean;
  /**
   * True if a host on this port should merge a batch's run of in-order
   * segments as GRO does on a Linux device (one ACK per run). A TAP device
   * says yes (tun's NAPI path has GRO); an in-memory pipe does not, as a veth
   * has GRO off by default. Absent means false.
   */
  readonly gro?: boolean;
  /** Set by whoever consumes this port's frames (a switch, a host, a forwarder). */
  onReceive: RxHandler | null;
  /**
   * Queues one frame for transmission. `vnetOff` is the offset in `buf` of the
   * frame's virtio_net_hdr, or -1 if it has none (a plain frame). The bytes
   * may be borrowed: the port copies what it cannot send by the end of the
   * tick. Returns false if the frame was dropped (and counted).
   */
  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean;
  /** Sends everything queued, in as few system calls as the port can. */
  flush(): void;
  /** Stops receiving, releases the device. Idempotent. */
  close(): Promise<void>;
}
