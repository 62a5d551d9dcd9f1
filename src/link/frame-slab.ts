/**
 * A batch a port builds itself: received frames copied side by side into
 * one growing buffer, with their offsets and lengths, handed to the
 * receiver as an `RxBatch`. In-memory pipes (pipe.ts) and VXLAN ports
 * (vxlan.ts) fill one while the tick lasts and swap it with a spare when
 * they deliver; `reset()` empties it for reuse.
 */
import { type RxBatch, VNET_HDR_LEN } from './port.js';

const INITIAL_SLAB_BYTES = 16 * 1024;
const INITIAL_SLAB_FRAMES = 32;

/** One batch's worth of frames: the slab a port fills and then delivers. */
export class FrameSlab implements RxBatch {
  buf = new Uint8Array(INITIAL_SLAB_BYTES);
  offsets = new Uint32Array(INITIAL_SLAB_FRAMES);
  lengths = new Uint32Array(INITIAL_SLAB_FRAMES);
  count = 0;
  /** Bytes used in `buf` (frames, and their virtio_net_hdrs when `vnetHdr`, packed). */
  used = 0;

  constructor(readonly vnetHdr: boolean) {}

  /**
   * Appends a copy of `src[off, off+len)`; on a vnetHdr slab preceded by the
   * header at `src[vnetOff…]`, or by an empty one when `vnetOff` is -1.
   */
  push(src: Uint8Array, off: number, len: number, vnetOff = -1): void {
    const head = this.vnetHdr ? VNET_HDR_LEN : 0;
    if (this.used + head + len > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.used + head + len));
      grown.set(this.buf.subarray(0, this.used));
      this.buf = grown;
    }
    if (this.count === this.offsets.length) {
      const offsets = new Uint32Array(this.count * 2);
      const lengths = new Uint32Array(this.count * 2);
      offsets.set(this.offsets);
      lengths.set(this.lengths);
      this.offsets = offsets;
      this.lengths = lengths;
    }
    if (head > 0) {
      if (vnetOff >= 0) this.buf.set(src.subarray(vnetOff, vnetOff + VNET_HDR_LEN), this.used);
      else this.buf.fill(0, this.used, this.used + VNET_HDR_LEN);
      this.used += VNET_HDR_LEN;
    }
    this.buf.set(src.subarray(off, off + len), this.used);
    this.offsets[this.count] = this.used;
    this.lengths[this.count] = len;
    this.count++;
    this.used += len;
  }

  reset(): void {
    this.count = 0;
    this.used = 0;
  }
}
