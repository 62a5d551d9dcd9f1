/**
 * Test fixtures for the switch: a fake `Port` that records exactly what the
 * bridge sends (bytes, vnet header, whether the bytes were the injected ones)
 * and lets a test inject a batch synchronously, and small frame builders.
 */
import { countDrop, newPortStats, type Port, type PortStats, type RxBatch, type RxHandler, VNET_HDR_LEN } from '../../src/link/port.js';
import { encodeEthernet, type VlanTag } from '../../src/wire/ethernet.js';
import type { Mac } from '../../src/wire/address.js';

export interface SentFrame {
  frame: Uint8Array;
  /** The 10-byte virtio_net_hdr handed along, or null for vnetOff -1. */
  vnet: Uint8Array | null;
  /** The bytes were the injected batch's own (zero copy). */
  zeroCopy: boolean;
}

export class FakePort implements Port {
  readonly stats: PortStats = newPortStats();
  onReceive: RxHandler | null = null;
  sent: SentFrame[] = [];
  flushes = 0;
  /** send() returns false while set. */
  refuse = false;
  /** Keep no copies (allocation test). */
  record = true;
  private lastSlab: Uint8Array | null = null;
  private slab = new Uint8Array(1 << 16);
  private offsets = new Uint32Array(256);
  private lengths = new Uint32Array(256);
  private readonly batch: { -readonly [K in keyof RxBatch]: RxBatch[K] } = {
    buf: this.slab,
    offsets: this.offsets,
    lengths: this.lengths,
    count: 0,
    vnetHdr: false,
  };

  constructor(
    readonly name: string,
    readonly vnetHdr = false,
  ) {}

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.refuse) {
      countDrop(this.stats, 'refused');
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if (this.record) {
      this.sent.push({
        frame: buf.slice(off, off + len),
        vnet: vnetOff >= 0 ? buf.slice(vnetOff, vnetOff + VNET_HDR_LEN) : null,
        zeroCopy: buf === FakePort.delivering,
      });
    }
    return true;
  }

  /** The slab of the batch being delivered, so `zeroCopy` can be judged. */
  static delivering: Uint8Array | null = null;

  flush(): void {
    this.flushes++;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Delivers `frames` as one batch (with virtio_net_hdrs in front when `vnet` is given). Returns the slab. */
  inject(frames: readonly Uint8Array[], vnet?: readonly Uint8Array[]): Uint8Array {
    let need = 0;
    for (const f of frames) need += f.length + VNET_HDR_LEN;
    if (this.slab.length < need) this.slab = new Uint8Array(need * 2);
    if (this.offsets.length < frames.length) {
      this.offsets = new Uint32Array(frames.length);
      this.lengths = new Uint32Array(frames.length);
    }
    let p = 0;
    frames.forEach((f, i) => {
      if (vnet !== undefined) {
        this.slab.set(vnet[i]!, p);
        p += VNET_HDR_LEN;
      }
      this.slab.set(f, p);
      this.offsets[i] = p;
      this.lengths[i] = f.length;
      p += f.length;
    });
    this.lastSlab = this.slab;
    this.deliver(frames.length, vnet !== undefined);
    return this.slab;
  }

  /** Re-delivers the last injected slab as is (no copying, no allocation: for the allocation test). */
  deliver(count: number, vnetHdr = false): void {
    const batch = this.batch;
    batch.buf = this.lastSlab ?? this.slab;
    batch.offsets = this.offsets;
    batch.lengths = this.lengths;
    batch.count = count;
    batch.vnetHdr = vnetHdr;
    this.stats.rxFrames += count;
    FakePort.delivering = batch.buf;
    try {
      this.onReceive?.(batch, this);
    } finally {
      FakePort.delivering = null;
    }
  }

  take(): SentFrame[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

export function mac(n: number): Mac {
  return 0x02_00_00_00_00_00 + n;
}

export const BROADCAST: Mac = 0xff_ff_ff_ff_ff_ff;

export interface FrameSpec {
  dst: Mac;
  src: Mac;
  tags?: Array<Partial<VlanTag> & { vid: number }>;
  etherType?: number;
  /** Payload length (bytes 0, 1, 2, … mod 256). Default 46. */
  payload?: number;
}

export function frame(s: FrameSpec): Uint8Array {
  const payload = new Uint8Array(s.payload ?? 46);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  const tags = (s.tags ?? []).map((t) => ({ tpid: t.tpid ?? 0x8100, pcp: t.pcp ?? 0, dei: t.dei ?? false, vid: t.vid }));
  return encodeEthernet({ dst: s.dst, src: s.src, tags, etherType: s.etherType ?? 0x0800 }, payload);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
