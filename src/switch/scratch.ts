/**
 * The bridge's scratch slab: memory for egress frames it has to build (a VLAN
 * tag pushed, popped or re-numbered), reused batch after batch.
 *
 * Hand-written: a bump allocator over a list of chunks. Frames built during a
 * batch must stay valid until the batch's `flush()` calls have run (ports may
 * borrow what they are given until then), so nothing is reused inside a batch;
 * `reset()` after the flushes makes all of it available again. Chunks are
 * kept, so once the slab has grown to the largest batch it has seen, building
 * frames allocates no memory.
 */

/** Chunk size; a frame larger than this (a 64 KB GSO frame) gets a chunk of its own size. */
const CHUNK_BYTES = 256 * 1024;

export class ScratchSlab {
  /** The chunk the last `alloc` returned an offset into. */
  buf: Uint8Array;
  /** A DataView over `buf`, for word-wise copies. */
  view: DataView<ArrayBufferLike>;
  private readonly chunks: Uint8Array[] = [];
  private readonly views: Array<DataView<ArrayBufferLike>> = [];
  private index = 0;
  private used = 0;

  constructor(private readonly chunkBytes = CHUNK_BYTES) {
    this.buf = this.chunkAt(0, 0);
    this.view = this.views[0]!;
  }

  /** Reserves `len` bytes; they are `this.buf[returned, returned + len)` until `reset()`. */
  alloc(len: number): number {
    if (this.used + len > this.buf.length) {
      this.index++;
      this.buf = this.chunkAt(this.index, len);
      this.view = this.views[this.index]!;
      this.used = 0;
    }
    const at = this.used;
    this.used += len;
    return at;
  }

  /** Makes every byte available again: call only when nothing built since the last reset is still referenced. */
  reset(): void {
    this.index = 0;
    this.used = 0;
    this.buf = this.chunks[0]!;
    this.view = this.views[0]!;
  }

  /** Bytes held by the slab (its high-water mark). */
  get capacity(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  private chunkAt(i: number, atLeast: number): Uint8Array {
    const have = this.chunks[i];
    if (have !== undefined && have.length >= atLeast) return have;
    // A chunk that is too small is replaced: past `index`, nothing in it is in use.
    const chunk = new Uint8Array(Math.max(this.chunkBytes, atLeast));
    this.chunks[i] = chunk;
    this.views[i] = new DataView(chunk.buffer);
    return chunk;
  }
}

/** Below this many bytes a word loop beats TypedArray.set (which needs a subarray view per call). */
const SMALL_COPY = 128;

let srcBuf: Uint8Array | null = null;
let srcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * Copies `src[s, s+n)` to `dst[d, …)`; `dstView` is a DataView over exactly
 * `dst`. Short runs move as 32-bit words through cached DataViews (no
 * allocation); longer ones use `TypedArray.set`, the only bulk copy JavaScript
 * has between two buffers — 10 to 30 times faster than any loop from a few
 * hundred bytes up, at the price of one short-lived subarray view per call.
 */
export function copyBytes(src: Uint8Array, s: number, dst: Uint8Array, dstView: DataView<ArrayBufferLike>, d: number, n: number): void {
  if (n >= SMALL_COPY) {
    dst.set(src.subarray(s, s + n), d);
    return;
  }
  if (src !== srcBuf) {
    // Ports reuse their receive slab, so this runs about once per slab, not per frame.
    srcBuf = src;
    srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
  let k = 0;
  for (; k + 4 <= n; k += 4) dstView.setUint32(d + k, srcView.getUint32(s + k));
  for (; k < n; k++) dst[d + k] = src[s + k]!;
}
