/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Hand-written because it is the innermost loop of the stack: every IPv4
 * header, every UDP datagram and every TCP segment passes through `sum16`.
 * The fast path reads 32-bit words through a DataView-free Uint32Array when
 * the data is 4-byte aligned, folding carries lazily (a JS number holds
 * 53 bits exactly, so ~2^21 words can be summed before a fold is needed).
 */

/** Adds 16-bit big-endian words of `buf[off, off+len)` to `acc`; returns an unfolded sum. */
export function sum16(buf: Uint8Array, off: number, len: number, acc = 0): number {
  let i = off;
  const end = off + len;
  // Fast path: aligned 32-bit loads. Uint32Array reads in host byte order
  // (little-endian on every platform Node supports in practice); the one's
  // complement sum is byte-order independent if we swap once at the end
  // (RFC 1071 §2(B)), so we sum little-endian words and swap the fold.
  let absolute = buf.byteOffset + i;
  // 2 mod 4 is the usual case on receive: a TCP/UDP header sits 14 + 20 = 34
  // bytes into a frame. One 16-bit word by hand realigns it, so received
  // segments get the fast path too (the byte loop was ~2x slower and showed
  // as the top self-time in in-memory TCP). Odd offsets stay on the byte loop.
  if (len >= 64 && (absolute & 3) === 2 && LITTLE_ENDIAN) {
    acc += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
    absolute += 2;
  }
  if (end - i >= 62 && (absolute & 3) === 0 && LITTLE_ENDIAN) {
    const words = (end - i) >>> 2;
    const u32 = wordsOf(buf.buffer);
    const first = absolute >>> 2;
    const last = first + words;
    let le = 0;
    // Blocks of at most 2^20 words, folded between blocks so the sum never
    // exceeds 2^53; the inner loop is unrolled by four with no per-word
    // branch (this loop is the stack's hottest: every segment in and out).
    for (let w = first; w < last; ) {
      const blockEnd = Math.min(last, w + 0x100000);
      const unrolled = blockEnd - ((blockEnd - w) & 3);
      let a = 0;
      let b = 0;
      for (; w < unrolled; w += 4) {
        a += u32[w]! + u32[w + 1]!;
        b += u32[w + 2]! + u32[w + 3]!;
      }
      for (; w < blockEnd; w++) a += u32[w]!;
      le += a + b;
      if (w < last) le = (le % 0x100000000) + Math.floor(le / 0x100000000);
    }
    // Fold the little-endian 32-bit sum to 16 bits, then byte-swap into
    // network order and add to the accumulator.
    le = fold32(le);
    acc += ((le & 0xff) << 8) | (le >>> 8);
    i += words << 2;
  }
  for (; i + 1 < end; i += 2) acc += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) acc += buf[i]! << 8;
  return acc;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// One 32-bit view per underlying buffer, reused while the caller keeps
// checksumming the same slab (the common case: a port's receive slab, a
// socket's send buffer), so the fast path allocates nothing per call.
let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
function wordsOf(buffer: ArrayBufferLike): Uint32Array {
  if (buffer !== cachedBuffer || cachedWords.length !== buffer.byteLength >>> 2) {
    cachedBuffer = buffer;
    cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return cachedWords;
}

/** Folds any non-negative sum (< 2^53) to 16 bits with end-around carry. */
export function fold32(sum: number): number {
  // First reduce numbers past 32 bits without bit ops (which truncate to 32).
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Folds and complements: the value that goes into a checksum field. */
export function finishChecksum(sum: number): number {
  return ~fold32(sum) & 0xffff;
}

/** RFC 1071 checksum of `buf[off, off+len)`. */
export function internetChecksum(buf: Uint8Array, off = 0, len = buf.length - off, initial = 0): number {
  return finishChecksum(sum16(buf, off, len, initial));
}

/** Sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 §3.1). */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing from
 * `oldWord` to `newWord`. Used for TTL decrements and NAT rewrites.
 */
export function checksumAdjust16(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 update for a 32-bit field (an IPv4 address) changing. */
export function checksumAdjust32(checksum: number, oldValue: number, newValue: number): number {
  let sum =
    (~checksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
