/**
 * The batched machinery shared by the ports that sit on a native file
 * descriptor — a TAP device (tap.ts) and an AF_PACKET socket on an existing
 * interface (packet-port.ts). Both addons (native/tap.cc, native/packet.cc)
 * offer the same calls, `NativeFrameDevice`, so receive batching, the send
 * queue, software segmentation and EAGAIN handling are written once, here.
 *
 * Receive: one slab plus offset/length arrays per port, allocated once; the
 * native side fills them and calls `onBatch`, which hands the same `RxBatch`
 * object to `onReceive` every time. The bytes are borrowed (see port.ts).
 *
 * Send: `send()` only records (buffer, offset, length) in preallocated
 * arrays — no copy, no allocation — and one flush runs per tick
 * (process.nextTick, which the native side drains right after each batch,
 * while the slab is still intact). If the kernel says EAGAIN, the frames still
 * queued are copied into memory this port owns before the tick ends, and the
 * rest goes out when the device is writable again.
 *
 * virtio_net_hdr: on a vnet device a frame whose header sits right before it
 * is written as one piece, and a plain frame gets a zero header prefixed by
 * the native side (writev). On a plain device a frame that carries GSO or
 * "needs checksum" metadata is segmented or completed in software first
 * (src/link/gso.ts).
 */
import { getSystemErrorName } from 'node:util';
import {
  completeChecksum,
  GsoSegmenter,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_ECN,
  VNET_HDR_GSO_NONE,
  vnetFlags,
  vnetGsoType,
} from './gso.js';
import { countDrop, newPortStats, type Port, type PortStats, type RxBatch, type RxHandler, VNET_HDR_LEN } from './port.js';

/** Called once per batch of received frames; `errno` is non-zero when reading stopped on an error. */
export type NativeBatchCallback = (count: number, errno: number) => void;

/** What a native device offers this port: the TAP and AF_PACKET addons both implement it. */
export interface NativeFrameDevice {
  /**
   * Starts reading: each batch is read into `slab`, frame i at `offsets[i]`
   * with `lengths[i]` bytes (its virtio_net_hdr just before it in vnet mode),
   * at most `maxFrames` per batch; then `onBatch(count, 0)`, or
   * `onBatch(0, errno)` when the device failed.
   */
  startReading(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    maxFrames: number,
    onBatch: NativeBatchCallback,
  ): void;
  /**
   * Writes frames `start .. start+count-1` (frame i is
   * `sources[i][offsets[i], offsets[i]+lengths[i])`, preceded by a zero
   * virtio_net_hdr when `prefixVnet[i]` is 1). `errnos[i]` becomes 0 or the
   * frame's errno. Stops at EAGAIN; returns how many frames were handled.
   */
  writeBatch(
    sources: ReadonlyArray<Uint8Array | undefined>,
    offsets: Uint32Array,
    lengths: Uint32Array,
    prefixVnet: Uint8Array,
    start: number,
    count: number,
    errnos: Int32Array,
  ): number;
  /** Calls `cb` once, when the device can take writes again. */
  waitWritable(cb: () => void): void;
  /** Whether an open device keeps the event loop alive (default: it does). */
  ref(): void;
  unref(): void;
  /** Stops polling and closes the fd. Idempotent. */
  close(): void;
}

/** Sizes a subclass has settled (defaults applied, validated). */
export interface NativeFramePortConfig {
  /** The port's name (its device's). */
  name: string;
  vnetHdr: boolean;
  batchFrames: number;
  slabBytes: number;
  txQueueFrames: number;
}

export const DEFAULT_BATCH_FRAMES = 256;
export const DEFAULT_SLAB_BYTES = 1 << 20;
export const DEFAULT_VNET_SLAB_BYTES = 4 << 20;
export const DEFAULT_TX_QUEUE_FRAMES = 1024;
/** Chunk size of the memory a port owns for frames it must keep (spills, completed checksums, segments). */
const ARENA_CHUNK_BYTES = 256 << 10;

/** The receive batch, one object per port, refilled in place. */
class FdRxBatch implements RxBatch {
  count = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly offsets: Uint32Array,
    readonly lengths: Uint32Array,
    readonly vnetHdr: boolean,
  ) {}
}

/**
 * A bump allocator for bytes the port must own. Memory handed out stays
 * valid until `reset()`, which the port calls only when its queue is empty;
 * a full chunk is replaced (the old one lives on in queued entries until
 * they are sent), so nothing referenced is ever overwritten.
 */
class TxArena {
  chunk = new Uint8Array(0);
  private used = 0;

  /** Reserves `len` bytes; they are at `this.chunk[returned offset ...]`. */
  alloc(len: number): number {
    if (this.used + len > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(ARENA_CHUNK_BYTES, len));
      this.used = 0;
    }
    const at = this.used;
    this.used += len;
    return at;
  }

  reset(): void {
    this.used = 0;
  }
}

/** Errnos a TAP can return that libuv has no name for. */
const LINUX_ONLY_ERRNOS: Record<number, string> = { 77: 'EBADFD' };

/** 'txError:EIO' and friends, built once per errno. */
const errnoReasons = new Map<number, string>();
function errnoReason(prefix: 'rx' | 'tx', errno: number): string {
  const key = errno * 2 + (prefix === 'rx' ? 1 : 0);
  let reason = errnoReasons.get(key);
  if (reason === undefined) {
    let name = LINUX_ONLY_ERRNOS[errno];
    if (name === undefined) {
      try {
        name = getSystemErrorName(-errno);
      } catch {
        name = `errno${errno}`;
      }
      if (name.startsWith('Unknown')) name = `errno${errno}`;
    }
    reason = `${prefix}Error:${name}`;
    errnoReasons.set(key, reason);
  }
  return reason;
}

/** Shared: segment() output is copied out before the next call. */
let segmenter: GsoSegmenter | undefined;

export function positiveInt(value: number | undefined, fallback: number, what: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${what} must be an integer >= ${min}, got ${value}`);
  return value;
}

export class NativeFramePort implements Port {
  /** Ports are named after their device. */
  readonly name: string;
  readonly vnetHdr: boolean;
  /** A device's batch is worth merging, as GRO does (a host on it sends one ACK per run of segments). */
  readonly gro = true;
  readonly stats: PortStats = newPortStats();
  /** The last exception a receive handler threw (each one counts as drops.handlerError). */
  lastError: unknown = undefined;
  /** The errno that stopped reading, if the device failed (e.g. was deleted); 0 while healthy. */
  rxErrno = 0;

  protected readonly native: NativeFrameDevice;
  private readonly rx: FdRxBatch;
  private readonly batchFrames: number;
  private handler: RxHandler | null = null;
  private reading = false;
  private closed = false;

  // The send queue: entries [head, tail) of parallel preallocated arrays.
  private readonly txCap: number;
  private readonly txBuf: Array<Uint8Array | undefined>;
  private readonly txOff: Uint32Array;
  private readonly txLen: Uint32Array;
  /** 1: write a zero virtio_net_hdr before the frame (native writev). */
  private readonly txPrefix: Uint8Array;
  /** 1: the entry includes its own 10-byte header (not counted in txBytes). */
  private readonly txHasHdr: Uint8Array;
  /** 1: the bytes are in this port's arena, not borrowed. */
  private readonly txOwned: Uint8Array;
  private readonly txErrno: Int32Array;
  private head = 0;
  private tail = 0;
  private readonly arena = new TxArena();
  private flushScheduled = false;
  /** Waiting for the device to become writable after EAGAIN. */
  private blocked = false;

  constructor(native: NativeFrameDevice, cfg: NativeFramePortConfig) {
    this.native = native;
    this.name = cfg.name;
    this.vnetHdr = cfg.vnetHdr;
    this.batchFrames = cfg.batchFrames;
    this.txCap = cfg.txQueueFrames;
    this.rx = new FdRxBatch(new Uint8Array(cfg.slabBytes), new Uint32Array(cfg.batchFrames), new Uint32Array(cfg.batchFrames), this.vnetHdr);
    this.txBuf = new Array<Uint8Array | undefined>(this.txCap).fill(undefined);
    this.txOff = new Uint32Array(this.txCap);
    this.txLen = new Uint32Array(this.txCap);
    this.txPrefix = new Uint8Array(this.txCap);
    this.txHasHdr = new Uint8Array(this.txCap);
    this.txOwned = new Uint8Array(this.txCap);
    this.txErrno = new Int32Array(this.txCap);
  }

  // ---------------------------------------------------------------------------
  // Receive

  get onReceive(): RxHandler | null {
    return this.handler;
  }

  /**
   * Reading starts when the first receiver is set: until then the kernel
   * keeps the frames in the device's queue (and counts its own drops, in
   * `ip -s link`), rather than this port pulling them out only to drop them.
   * Set back to null, frames are read and counted as drops.noReceiver.
   */
  set onReceive(handler: RxHandler | null) {
    this.handler = handler;
    if (handler !== null && !this.reading && !this.closed) {
      this.reading = true;
      this.native.startReading(this.rx.buf, this.rx.offsets, this.rx.lengths, this.batchFrames, this.onBatch);
    }
  }

  private readonly onBatch = (count: number, errno: number): void => {
    if (errno !== 0) {
      // Reading has stopped (the device is gone); say so once, in the counters.
      this.rxErrno = errno;
      countDrop(this.stats, errnoReason('rx', errno));
    }
    if (count === 0) return;
    const rx = this.rx;
    rx.count = count;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += rx.lengths[i]!;
    this.stats.rxFrames += count;
    this.stats.rxBytes += bytes;
    const handler = this.handler;
    if (handler === null) {
      countDrop(this.stats, 'noReceiver', count);
      return;
    }
    try {
      handler(rx, this);
    } catch (e) {
      // Never into the loop: the port keeps running, the fault is counted.
      countDrop(this.stats, 'handlerError');
      this.lastError = e;
    }
  };

  // ---------------------------------------------------------------------------
  // Send

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.closed) {
      countDrop(this.stats, 'closed');
      return false;
    }
    if (this.vnetHdr) {
      if (vnetOff < 0) return this.enqueue(buf, off, len, 1, 0, 0);
      if (vnetOff === off - VNET_HDR_LEN) return this.enqueue(buf, vnetOff, len + VNET_HDR_LEN, 0, 1, 0);
      // Header kept apart from the frame: join them (rare; nothing in wirelab does this today).
      const at = this.arena.alloc(VNET_HDR_LEN + len);
      const chunk = this.arena.chunk;
      chunk.set(buf.subarray(vnetOff, vnetOff + VNET_HDR_LEN), at);
      chunk.set(buf.subarray(off, off + len), at + VNET_HDR_LEN);
      return this.enqueue(chunk, at, VNET_HDR_LEN + len, 0, 1, 1);
    }
    if (vnetOff < 0) return this.enqueue(buf, off, len, 0, 0, 0);
    if ((vnetGsoType(buf, vnetOff) & ~VNET_HDR_GSO_ECN) !== VNET_HDR_GSO_NONE) {
      return this.sendSegmented(buf, vnetOff, off, len);
    }
    if ((vnetFlags(buf, vnetOff) & VNET_HDR_F_NEEDS_CSUM) === 0) return this.enqueue(buf, off, len, 0, 0, 0);
    // Complete the checksum in a copy: the borrowed bytes may also be queued,
    // with their partial sum, on a vnet port (flooding), which must not see
    // them change.
    const at = this.arena.alloc(VNET_HDR_LEN + len);
    const chunk = this.arena.chunk;
    chunk.set(buf.subarray(vnetOff, vnetOff + VNET_HDR_LEN), at);
    chunk.set(buf.subarray(off, off + len), at + VNET_HDR_LEN);
    if (!completeChecksum(chunk, at, at + VNET_HDR_LEN, len)) {
      // csum_start/csum_offset point outside the frame: it cannot be sent right.
      countDrop(this.stats, 'badVnetHdr');
      return false;
    }
    return this.enqueue(chunk, at + VNET_HDR_LEN, len, 0, 0, 1);
  }

  /** A GSO frame to a device that cannot take it: cut it into MTU-sized frames here. */
  private sendSegmented(buf: Uint8Array, vnetOff: number, off: number, len: number): boolean {
    segmenter ??= new GsoSegmenter();
    const n = segmenter.segment(buf, vnetOff, off, len);
    if (n <= 0) {
      // segmenter.reason says why (IPv6, a fragment, malformed headers, ...).
      countDrop(this.stats, 'gsoUnsupported');
      return false;
    }
    const { out, offsets, lengths } = segmenter;
    let all = true;
    for (let i = 0; i < n; i++) {
      const segLen = lengths[i]!;
      const at = this.arena.alloc(segLen);
      this.arena.chunk.set(out.subarray(offsets[i]!, offsets[i]! + segLen), at);
      all = this.enqueue(this.arena.chunk, at, segLen, 0, 0, 1) && all;
    }
    return all;
  }

  private enqueue(buf: Uint8Array, off: number, len: number, prefix: number, hasHdr: number, owned: number): boolean {
    if (this.tail === this.txCap && !this.makeRoom()) {
      countDrop(this.stats, 'txQueueFull');
      return false;
    }
    const i = this.tail++;
    this.txBuf[i] = buf;
    this.txOff[i] = off;
    this.txLen[i] = len;
    this.txPrefix[i] = prefix;
    this.txHasHdr[i] = hasHdr;
    this.txOwned[i] = owned;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.onTick);
    }
    return true;
  }

  /** The queue's end is reached: send now if we may, and/or move the unsent entries to the front. */
  private makeRoom(): boolean {
    if (!this.blocked) this.flush();
    if (this.head > 0) {
      const n = this.tail - this.head;
      this.txBuf.copyWithin(0, this.head, this.tail);
      this.txOff.copyWithin(0, this.head, this.tail);
      this.txLen.copyWithin(0, this.head, this.tail);
      this.txPrefix.copyWithin(0, this.head, this.tail);
      this.txHasHdr.copyWithin(0, this.head, this.tail);
      this.txOwned.copyWithin(0, this.head, this.tail);
      this.txBuf.fill(undefined, n, this.tail);
      this.head = 0;
      this.tail = n;
    }
    return this.tail < this.txCap;
  }

  private readonly onTick = (): void => {
    this.flushScheduled = false;
    if (this.blocked) this.spill();
    else this.flush();
  };

  flush(): void {
    if (this.closed || this.head === this.tail) return;
    if (this.blocked) {
      this.spill();
      return;
    }
    const start = this.head;
    const done = this.native.writeBatch(
      this.txBuf, this.txOff, this.txLen, this.txPrefix, start, this.tail - start, this.txErrno,
    );
    const stats = this.stats;
    for (let i = start; i < start + done; i++) {
      const errno = this.txErrno[i]!;
      if (errno === 0) {
        stats.txFrames++;
        stats.txBytes += this.txLen[i]! - (this.txHasHdr[i] === 1 ? VNET_HDR_LEN : 0);
      } else {
        countDrop(stats, errnoReason('tx', errno));
      }
      this.txBuf[i] = undefined;
    }
    this.head = start + done;
    if (this.head === this.tail) {
      this.head = this.tail = 0;
      this.arena.reset();
      return;
    }
    // EAGAIN: keep what is left in our own memory and wait for the device.
    this.spill();
    this.blocked = true;
    this.native.waitWritable(this.onWritable);
  }

  private readonly onWritable = (): void => {
    this.blocked = false;
    this.flush();
  };

  /** Copies every still-queued borrowed frame into the arena, so the borrowed bytes may change. */
  private spill(): void {
    for (let i = this.head; i < this.tail; i++) {
      if (this.txOwned[i] === 1) continue;
      const src = this.txBuf[i]!;
      const off = this.txOff[i]!;
      const len = this.txLen[i]!;
      const at = this.arena.alloc(len);
      this.arena.chunk.set(src.subarray(off, off + len), at);
      this.txBuf[i] = this.arena.chunk;
      this.txOff[i] = at;
      this.txOwned[i] = 1;
    }
  }

  // ---------------------------------------------------------------------------
  // Lifetime

  /** Lets the process exit while this port is open (like socket.unref()). */
  unref(): this {
    this.native.unref();
    return this;
  }

  ref(): this {
    this.native.ref();
    return this;
  }

  /** Sends what it can of the queue, then closes the device (a TAP wirelab created disappears). Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.blocked) this.flush();
    const unsent = this.tail - this.head;
    if (unsent > 0) countDrop(this.stats, 'closed', unsent);
    this.txBuf.fill(undefined);
    this.head = this.tail = 0;
    this.closed = true;
    this.native.close();
    return Promise.resolve();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
