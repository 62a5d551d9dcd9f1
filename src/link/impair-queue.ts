/**
 * The frames an impaired port holds for later (src/link/impair.ts): copies of
 * sent frames, each with the clock time it departs at, handed back earliest
 * first (ties in the order they were added).
 *
 * Hand-written for the hot path: no object per frame. Frames are copied into
 * one byte ring and described by parallel typed arrays indexed by slot; a
 * slot ring keeps the slots in the order they were added, and a binary
 * min-heap of slot numbers orders them by departure time (jitter makes the
 * two orders differ). Bytes are given back in the order they were taken:
 * when the oldest slots have departed and been released, the ring's start
 * moves past them. Everything grows by doubling when needed and never
 * shrinks, so a steady flow allocates nothing.
 *
 * Borrowing: a frame handed out by `popDue` is only marked departed. Its
 * bytes are reused after the owner calls `release()`, which it does at the
 * start of its next departure run — so the port the frame was sent to may
 * keep borrowing them for the rest of the tick, as the `Port` contract allows.
 * Growing allocates a new slab and leaves the old one untouched for the same
 * reason.
 *
 * Also here: `BottleneckQueue`, the rate limiter's FIFO of serialization
 * finish times, which tells how many frames (and bytes) wait at the
 * bottleneck at a given time.
 */
import { VNET_HDR_LEN } from './port.js';

const HELD = 1;
const DEPARTED = 2;
const INITIAL_SLOTS = 64;
const INITIAL_BYTES = 64 * 1024;

/** Slot sizes are rounded up to 8 bytes (and at least 8), so slot starts strictly increase around the ring. */
function slotSize(bytes: number): number {
  return Math.max(8, (bytes + 7) & ~7);
}

export class HeldFrames {
  /** The byte ring. Read a departed frame's bytes from here right after `popDue` (it may be replaced by growth). */
  slab: Uint8Array;
  /** Frames currently held (not yet departed). */
  frames = 0;
  /** Frame bytes currently held (vnet headers not included). */
  bytes = 0;

  private write = 0;
  // Slot ring, in the order frames were added: head .. head + used - 1 (mod capacity).
  private head = 0;
  private used = 0;
  private mask: number;
  private start: Uint32Array;
  private size: Uint32Array;
  private len: Uint32Array;
  private hasHdr: Uint8Array;
  private state: Uint8Array;
  private time: Float64Array;
  private seq: Float64Array;
  private nextSeq = 0;
  // Min-heap of slot numbers by (time, seq).
  private heap: Int32Array;
  private heapSize = 0;

  /** Initial sizes (tests make them small to reach wrap-around and growth quickly); `slots` is a power of two. */
  constructor(initialBytes = INITIAL_BYTES, initialSlots = INITIAL_SLOTS) {
    if (!(initialSlots >= 1 && (initialSlots & (initialSlots - 1)) === 0)) {
      throw new RangeError(`HeldFrames: initialSlots must be a power of two, got ${initialSlots}`);
    }
    this.slab = new Uint8Array(Math.max(8, initialBytes));
    this.mask = initialSlots - 1;
    this.start = new Uint32Array(initialSlots);
    this.size = new Uint32Array(initialSlots);
    this.len = new Uint32Array(initialSlots);
    this.hasHdr = new Uint8Array(initialSlots);
    this.state = new Uint8Array(initialSlots);
    this.time = new Float64Array(initialSlots);
    this.seq = new Float64Array(initialSlots);
    this.heap = new Int32Array(initialSlots);
  }

  /** Copies the frame `buf[off, off+len)` (and its virtio_net_hdr at `vnetOff`, if >= 0) to depart at `timeMs`. */
  add(timeMs: number, buf: Uint8Array, off: number, len: number, vnetOff: number): void {
    const hdr = vnetOff >= 0 ? 1 : 0;
    const total = len + hdr * VNET_HDR_LEN;
    if (this.used === this.start.length) this.growSlots();
    const size = slotSize(total);
    const at = this.alloc(size);
    const slab = this.slab;
    if (hdr === 1) slab.set(buf.subarray(vnetOff, vnetOff + VNET_HDR_LEN), at);
    slab.set(buf.subarray(off, off + len), at + hdr * VNET_HDR_LEN);
    const s = (this.head + this.used) & this.mask;
    this.used++;
    this.start[s] = at;
    this.size[s] = size;
    this.len[s] = len;
    this.hasHdr[s] = hdr;
    this.state[s] = HELD;
    this.time[s] = timeMs;
    this.seq[s] = this.nextSeq++;
    this.frames++;
    this.bytes += len;
    this.heapPush(s);
  }

  /** Departure time of the earliest held frame, or `Infinity`. */
  nextTime(): number {
    return this.heapSize === 0 ? Number.POSITIVE_INFINITY : this.time[this.heap[0]!]!;
  }

  /**
   * Takes the earliest held frame if it departs at or before `nowMs` and
   * returns its slot (read it with `frameOffset`, `frameLength`, `vnetOffset`
   * against `slab`), or -1 when none is due.
   */
  popDue(nowMs: number): number {
    if (this.heapSize === 0) return -1;
    const s = this.heap[0]!;
    if (this.time[s]! > nowMs) return -1;
    this.heapPop();
    this.state[s] = DEPARTED;
    this.frames--;
    this.bytes -= this.len[s]!;
    return s;
  }

  frameOffset(slot: number): number {
    return this.start[slot]! + this.hasHdr[slot]! * VNET_HDR_LEN;
  }

  frameLength(slot: number): number {
    return this.len[slot]!;
  }

  /** Offset of the frame's virtio_net_hdr in `slab`, or -1. */
  vnetOffset(slot: number): number {
    return this.hasHdr[slot] === 1 ? this.start[slot]! : -1;
  }

  /** Gives back the bytes of the oldest frames that have departed. */
  release(): void {
    while (this.used > 0 && this.state[this.head] === DEPARTED) {
      this.state[this.head] = 0;
      this.head = (this.head + 1) & this.mask;
      this.used--;
    }
    if (this.used === 0) {
      this.head = 0;
      this.write = 0;
    }
  }

  /** Forgets every frame (held or departed); returns how many were still held. */
  clear(): number {
    const dropped = this.frames;
    this.state.fill(0);
    this.head = this.used = this.write = this.heapSize = 0;
    this.frames = this.bytes = 0;
    return dropped;
  }

  /** Reserves `size` bytes at the end of the ring, wrapping or growing as needed; returns the offset. */
  private alloc(size: number): number {
    if (this.used === 0) this.write = 0;
    const headStart = this.used === 0 ? 0 : this.start[this.head]!;
    const last = (this.head + this.used - 1) & this.mask;
    const wrapped = this.used > 0 && this.start[last]! < headStart;
    let at = -1;
    if (!wrapped) {
      if (this.write + size <= this.slab.length) at = this.write;
      else if (size <= headStart) at = 0;
    } else if (this.write + size <= headStart) {
      at = this.write;
    }
    if (at < 0) at = this.growBytes(size);
    this.write = at + size;
    return at;
  }

  /** Copies the live slots, in ring order, to the front of a larger slab; returns where `size` more bytes go. */
  private growBytes(size: number): number {
    let live = 0;
    for (let i = 0; i < this.used; i++) live += this.size[(this.head + i) & this.mask]!;
    let cap = this.slab.length * 2;
    while (cap < live + size) cap *= 2;
    const grown = new Uint8Array(cap);
    let at = 0;
    for (let i = 0; i < this.used; i++) {
      const s = (this.head + i) & this.mask;
      const from = this.start[s]!;
      grown.set(this.slab.subarray(from, from + this.size[s]!), at);
      this.start[s] = at;
      at += this.size[s]!;
    }
    this.slab = grown;
    return at;
  }

  /** Doubles the slot arrays, moving the ring to index 0 and renumbering the heap. */
  private growSlots(): void {
    const oldCap = this.start.length;
    const cap = oldCap * 2;
    const head = this.head;
    const oldMask = this.mask;
    const move = <T extends Uint32Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      for (let i = 0; i < this.used; i++) b[i] = a[(head + i) & oldMask]!;
      return b;
    };
    this.start = move(this.start, (n) => new Uint32Array(n));
    this.size = move(this.size, (n) => new Uint32Array(n));
    this.len = move(this.len, (n) => new Uint32Array(n));
    this.hasHdr = move(this.hasHdr, (n) => new Uint8Array(n));
    this.state = move(this.state, (n) => new Uint8Array(n));
    this.time = move(this.time, (n) => new Float64Array(n));
    this.seq = move(this.seq, (n) => new Float64Array(n));
    const heap = new Int32Array(cap);
    for (let i = 0; i < this.heapSize; i++) heap[i] = (this.heap[i]! - head) & oldMask;
    this.heap = heap;
    this.head = 0;
    this.mask = cap - 1;
  }

  private before(a: number, b: number): boolean {
    const ta = this.time[a]!;
    const tb = this.time[b]!;
    return ta < tb || (ta === tb && this.seq[a]! < this.seq[b]!);
  }

  private heapPush(s: number): void {
    const heap = this.heap;
    let i = this.heapSize++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.before(s, parent)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = s;
  }

  private heapPop(): void {
    const heap = this.heap;
    const n = --this.heapSize;
    if (n === 0) return;
    const s = heap[n]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      if (l + 1 < n && this.before(heap[l + 1]!, heap[l]!)) c = l + 1;
      const child = heap[c]!;
      if (!this.before(child, s)) break;
      heap[i] = child;
      i = c;
    }
    heap[i] = s;
  }
}

/**
 * The bottleneck's queue: serialization finish times, in order (they only
 * grow), with each frame's size, so the frames still in the queue at `now`
 * are counted in O(1) amortized.
 */
export class BottleneckQueue {
  frames = 0;
  bytes = 0;
  private ends = new Float64Array(64);
  private sizes = new Uint32Array(64);
  private head = 0;

  /** Forgets frames whose serialization finished at or before `now`. */
  drain(now: number): void {
    while (this.frames > 0 && this.ends[this.head]! <= now) {
      this.bytes -= this.sizes[this.head]!;
      this.head = (this.head + 1) & (this.ends.length - 1);
      this.frames--;
    }
  }

  push(end: number, size: number): void {
    if (this.frames === this.ends.length) {
      const cap = this.ends.length * 2;
      const ends = new Float64Array(cap);
      const sizes = new Uint32Array(cap);
      for (let i = 0; i < this.frames; i++) {
        const j = (this.head + i) & (this.ends.length - 1);
        ends[i] = this.ends[j]!;
        sizes[i] = this.sizes[j]!;
      }
      this.ends = ends;
      this.sizes = sizes;
      this.head = 0;
    }
    const tail = (this.head + this.frames) & (this.ends.length - 1);
    this.ends[tail] = end;
    this.sizes[tail] = size;
    this.frames++;
    this.bytes += size;
  }

  clear(): void {
    this.frames = this.bytes = this.head = 0;
  }
}
