/**
 * A wire between two ports: frames read from one are written to the other
 * by TypeScript, both ways. No switch, no learning. The smallest proof of the
 * path (examples/two-container-forwarder.ts, `wirelab demo`).
 *
 * Zero copies and no allocation per frame: each received frame is handed to
 * the other port as (slab, offset, length), with its virtio_net_hdr offset
 * when the batch carries one, and every batch ends in one flush.
 */
import { VNET_HDR_LEN, type Port, type RxBatch } from './port.js';

export function relay(batch: RxBatch, to: Port): void {
  const { buf, offsets, lengths, count, vnetHdr } = batch;
  for (let i = 0; i < count; i++) {
    const off = offsets[i]!;
    to.send(buf, off, lengths[i]!, vnetHdr ? off - VNET_HDR_LEN : -1);
  }
  to.flush();
}

/** Joins two ports with a wire. Returns a function that unjoins them. */
export function forward(a: Port, b: Port): () => void {
  a.onReceive = (batch) => relay(batch, b);
  b.onReceive = (batch) => relay(batch, a);
  return () => {
    a.onReceive = null;
    b.onReceive = null;
  };
}
