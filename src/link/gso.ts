/**
 * Software GSO and checksum completion for frames that carry a
 * virtio_net_hdr (a TAP opened with IFF_VNET_HDR).
 *
 * With vnet_hdr the kernel hands wirelab one 64 KB TCP "super-frame" instead
 * of forty MTU-sized ones, and leaves the L4 checksum for someone else to
 * finish (NEEDS_CSUM). wirelab forwards such frames whole to ports that take
 * offloads (DESIGN.md, "Large frames stay large"); this file is what a port
 * uses when the egress cannot: it cuts the frame the way Linux's own
 * software GSO would (tcp_gso_segment, __udp_gso_segment, udp4_ufo_fragment
 * + inet_gso_segment) and completes checksums the way skb_checksum_help does.
 *
 * Hand-written rather than taken from a library: no JavaScript library
 * segments GSO frames, and this runs on the hot path, so it reads fields at
 * offsets in the borrowed receive slab, writes into one slab it owns and
 * reuses, and allocates nothing per segment or per call in the steady state
 * (see `copySum` for how the payload is copied and summed in one pass without
 * creating typed-array views).
 *
 * The virtio_net_hdr itself is read and written by ./vnet-hdr.ts.
 * `hdr_len` is not trusted: the kernel fills it with skb_headlen(), which may
 * be more or less than the real headers. Headers are parsed from the frame.
 */
import { ETHERTYPE, MAX_VLAN_TAGS, isVlanTpid } from '../wire/ethernet.js';
import { IPV4_FIELD, IPV4_FLAG, IP_PROTOCOL, computeIPv4Checksum } from '../wire/ipv4.js';
import { fold32, finishChecksum, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import { readIPv4 } from '../wire/address.js';
import { TCP_FIELD, TCP_FLAG, TCP_HEADER_LENGTH } from '../wire/tcp.js';
import { UDP_FIELD, UDP_HEADER_LENGTH } from '../wire/udp.js';

// The virtio_net_hdr codec lives in ./vnet-hdr.ts; re-exported for callers of this module.
export {
  VNET_HDR_LEN,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_F_DATA_VALID,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_UDP,
  VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP_L4,
  VNET_HDR_GSO_ECN,
  VNET_HDR_FIELD,
  vnetFlags,
  vnetGsoType,
  vnetGsoSize,
  vnetCsumStart,
  vnetCsumOffset,
  parseVnetHdr,
  writeVnetHdr,
  type VnetHdr,
} from './vnet-hdr.js';
import {
  VNET_HDR_LEN,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
  VNET_HDR_GSO_UDP,
  VNET_HDR_GSO_TCPV6,
  VNET_HDR_GSO_UDP_L4,
  VNET_HDR_GSO_ECN,
  vnetFlags,
  vnetGsoType,
  vnetGsoSize,
  vnetCsumStart,
  vnetCsumOffset,
} from './vnet-hdr.js';

function be16(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 8) | buf[off + 1]!) & 0xffff;
}
function putBe16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}


// ---------------------------------------------------------------------------
// Summing (and copying) without allocating.
//
// The payload is copied and summed in one pass (wire/checksum.ts's sum16
// would need a second pass over the copy). We keep one whole-ArrayBuffer
// Uint32Array per buffer: our own slab's is made once, and
// the input slab's is cached by identity (a TAP port reuses its receive slab,
// so in the steady state the cache always hits).

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array = new Uint32Array(0);

/** A Uint32Array over all of `b.buffer`, indexed by absolute byte address / 4. */
function wordsOf(b: Uint8Array): Uint32Array {
  const buffer = b.buffer;
  // Compare the length as well: a resizable ArrayBuffer may have grown.
  if (buffer !== cachedBuffer || cachedWords.length !== buffer.byteLength >>> 2) {
    cachedBuffer = buffer;
    cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return cachedWords;
}

/** Words summed between folds, so the running sum stays below 2^52 (exact in a double). */
const FOLD_EVERY = 0x100000;

/**
 * Copies `src[s, s+len)` to `dst[d, …)` (when `dst` is given) and returns the
 * unfolded one's complement sum of those bytes as 16-bit big-endian words
 * starting at `s` — exactly what sum16 would return for the same bytes.
 *
 * When source and destination share the same alignment mod 4 (the segmenter
 * places its segments so that they do), the bulk moves as aligned 32-bit
 * words: one load, one store and one add per 4 bytes. Words are loaded in
 * host (little-endian) order; modulo 0xffff a little-endian word weighs even
 * addresses by 1 and odd ones by 256, so the folded sum is byte-swapped when
 * the word run starts at an even distance from `s` (RFC 1071 §2(B)) and used
 * as is when it starts at an odd one.
 */
function copySum(
  src: Uint8Array,
  s: number,
  dst: Uint8Array | null,
  dstWords: Uint32Array | null,
  d: number,
  len: number,
): number {
  let acc = 0;
  let k = 0;
  const sa = src.byteOffset + s;
  const da = dst === null ? sa : dst.byteOffset + d;
  if (LITTLE_ENDIAN && len >= 32 && ((sa ^ da) & 3) === 0) {
    const head = (4 - (sa & 3)) & 3;
    for (; k < head; k++) {
      const b = src[s + k]!;
      if (dst !== null) dst[d + k] = b;
      acc += (k & 1) === 0 ? b << 8 : b;
    }
    const srcWords = wordsOf(src);
    const words = (len - head) >>> 2;
    let sw = (sa + head) >>> 2;
    let dw = (da + head) >>> 2;
    let le = 0;
    let left = words;
    while (left > 0) {
      const n = left < FOLD_EVERY ? left : FOLD_EVERY;
      const stop = sw + n;
      let part = 0;
      if (dstWords !== null) {
        for (; sw < stop; sw++, dw++) {
          const v = srcWords[sw]!;
          dstWords[dw] = v;
          part += v;
        }
      } else {
        for (; sw < stop; sw++) part += srcWords[sw]!;
      }
      le += fold32(part);
      left -= n;
    }
    le = fold32(le);
    acc += (head & 1) === 0 ? ((le & 0xff) << 8) | (le >>> 8) : le;
    k = head + words * 4;
  }
  // Short runs, unaligned pairs, big-endian hosts, and the 0..3 tail bytes.
  for (; k < len; k++) {
    const b = src[s + k]!;
    if (dst !== null) dst[d + k] = b;
    acc += (k & 1) === 0 ? b << 8 : b;
  }
  return acc;
}

/**
 * Finishes the partial checksum of the frame `buf[frameOff, frameOff+frameLen)`:
 * sums from csumStart to the end (the field, which holds the pseudo-header
 * sum, is part of that range and so seeds it) and stores the complement.
 * A result of 0 is stored as 0xffff, as skb_checksum_help does (for UDP 0
 * would mean "no checksum"; for TCP both are the same one's-complement zero).
 * Returns false, touching nothing, if the field lies outside the frame.
 */
function completeAt(buf: Uint8Array, frameOff: number, frameLen: number, csumStart: number, csumOffset: number): boolean {
  if (frameOff < 0 || frameLen < 0 || frameOff + frameLen > buf.length) return false;
  if (csumStart + csumOffset + 2 > frameLen) return false;
  const start = frameOff + csumStart;
  const cs = finishChecksum(copySum(buf, start, null, null, 0, frameLen - csumStart)) || 0xffff;
  putBe16(buf, start + csumOffset, cs);
  return true;
}

/**
 * For a frame whose vnet header has NEEDS_CSUM: completes the L4 checksum in
 * place (offsets in the header are relative to the frame start), without
 * allocating. Returns true when done or when there was nothing to do
 * (NEEDS_CSUM clear); false, leaving every byte unchanged, when the header is
 * truncated or points outside the frame. Callers may ignore the result.
 */
export function completeChecksum(buf: Uint8Array, vnetOff: number, frameOff: number, frameLen: number): boolean {
  if (vnetOff < 0 || vnetOff + VNET_HDR_LEN > buf.length) return false;
  if ((vnetFlags(buf, vnetOff) & VNET_HDR_F_NEEDS_CSUM) === 0) return true;
  return completeAt(buf, frameOff, frameLen, vnetCsumStart(buf, vnetOff), vnetCsumOffset(buf, vnetOff));
}

// ---------------------------------------------------------------------------
// Segmentation.

/** Why `segment` returned -1. Each is a fixed string, so reporting it allocates nothing. */
export type GsoFailure =
  | 'truncated' // the vnet header or the frame lies outside the buffer
  | 'tcpv6' // GSO_TCPV6: wirelab has no IPv6
  | 'unknown-gso-type'
  | 'gso-size-zero'
  | 'gso-size-too-small' // UFO with gso_size < 8: no fragment could carry data
  | 'bad-ethernet' // shorter than its tags, or too many tags
  | 'not-ipv4'
  | 'bad-ipv4' // version, IHL or total length inconsistent with the bytes
  | 'ipv4-fragment' // a fragment cannot be segmented again
  | 'wrong-protocol' // gso_type says TCP but the IP protocol is not (or UDP)
  | 'bad-tcp' // data offset < 5 or past the packet
  | 'bad-udp'
  | 'bad-csum-offsets' // NEEDS_CSUM with csum_start/offset outside the frame
  | 'too-large'; // the segments would not fit the output slab

const DEFAULT_OUT_BYTES = 256 * 1024;
/** Smallest frame a segment can be (Ethernet + IPv4 + UDP + 1 byte): bounds the segment count. */
const MIN_SEGMENT_BYTES = 14 + 20 + 8 + 1;

/** Bytes before the payload of `place`d segments may need to line it up mod 4. */
const ALIGN_SLACK = 3;

export class GsoSegmenter {
  /** The reused output slab; segment i is `out[offsets[i], offsets[i] + lengths[i])`. */
  readonly out: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Why the last `segment` call returned -1; null after a success. */
  reason: GsoFailure | null = null;
  private readonly outWords: Uint32Array;

  constructor(maxOutBytes = DEFAULT_OUT_BYTES) {
    // Own ArrayBuffer at byteOffset 0: segment placement relies on absolute
    // addresses, and outWords indexes the whole buffer.
    const size = Math.max(4, Math.ceil(maxOutBytes / 4) * 4);
    this.out = new Uint8Array(size);
    this.outWords = new Uint32Array(this.out.buffer);
    const maxSegments = Math.floor(size / MIN_SEGMENT_BYTES) + 1;
    this.offsets = new Uint32Array(maxSegments);
    this.lengths = new Uint32Array(maxSegments);
  }

  /**
   * Cuts the frame at `buf[frameOff, frameOff+frameLen)`, whose vnet header
   * sits at `vnetOff`, into plain frames in `out`. Returns how many, or -1
   * with `reason` set (the caller counts 'gsoUnsupported'). Never throws, never
   * writes to `buf`. The results are valid until the next call.
   */
  segment(buf: Uint8Array, vnetOff: number, frameOff: number, frameLen: number): number {
    this.reason = null;
    if (
      vnetOff < 0 ||
      vnetOff + VNET_HDR_LEN > buf.length ||
      frameOff < 0 ||
      frameLen < 0 ||
      frameOff + frameLen > buf.length
    ) {
      return this.fail('truncated');
    }
    const type = vnetGsoType(buf, vnetOff) & ~VNET_HDR_GSO_ECN;
    if (type === VNET_HDR_GSO_NONE) return this.single(buf, vnetOff, frameOff, frameLen);
    if (type === VNET_HDR_GSO_TCPV6) return this.fail('tcpv6');
    if (type !== VNET_HDR_GSO_TCPV4 && type !== VNET_HDR_GSO_UDP && type !== VNET_HDR_GSO_UDP_L4) {
      return this.fail('unknown-gso-type');
    }
    const gsoSize = vnetGsoSize(buf, vnetOff);
    if (gsoSize === 0) return this.fail('gso-size-zero');

    // L2: Ethernet plus any VLAN tags, which every segment repeats.
    let l2 = 12;
    for (let tags = 0; ; tags++) {
      if (l2 + 2 > frameLen) return this.fail('bad-ethernet');
      const t = be16(buf, frameOff + l2);
      if (!isVlanTpid(t)) {
        if (t !== ETHERTYPE.IPV4) return this.fail('not-ipv4');
        l2 += 2;
        break;
      }
      if (tags === MAX_VLAN_TAGS) return this.fail('bad-ethernet');
      l2 += 4;
    }

    // L3: a whole, unfragmented IPv4 packet.
    const ip = frameOff + l2;
    const avail = frameLen - l2;
    if (avail < 20 || buf[ip]! >>> 4 !== 4) return this.fail('bad-ipv4');
    const ihl = (buf[ip]! & 0x0f) << 2;
    if (ihl < 20 || ihl > avail) return this.fail('bad-ipv4');
    // Total length 0 is how BIG TCP marks a packet past 64 KB: the frame's
    // length is the truth then. Otherwise it bounds the packet (bytes after
    // it are link padding).
    const total = be16(buf, ip + IPV4_FIELD.TOTAL_LENGTH);
    let l3Len = avail;
    if (total !== 0) {
      if (total < ihl || total > avail) return this.fail('bad-ipv4');
      l3Len = total;
    }
    if ((be16(buf, ip + IPV4_FIELD.FLAGS_FRAGMENT) & (IPV4_FLAG.MF | IPV4_FLAG.OFFSET_MASK)) !== 0) {
      return this.fail('ipv4-fragment');
    }
    const protocol = buf[ip + IPV4_FIELD.PROTOCOL]!;
    if (type === VNET_HDR_GSO_TCPV4) {
      if (protocol !== IP_PROTOCOL.TCP) return this.fail('wrong-protocol');
      return this.tcp4(buf, frameOff, l2, ihl, l3Len, gsoSize);
    }
    if (protocol !== IP_PROTOCOL.UDP) return this.fail('wrong-protocol');
    if (l3Len - ihl < UDP_HEADER_LENGTH) return this.fail('bad-udp');
    if (type === VNET_HDR_GSO_UDP_L4) return this.udpL4(buf, frameOff, l2, ihl, l3Len, gsoSize);
    return this.ufo(buf, frameOff, l2, ihl, l3Len, gsoSize);
  }

  private fail(reason: GsoFailure): number {
    this.reason = reason;
    return -1;
  }

  /**
   * Where to put a segment whose payload starts `hdrLen` bytes in and comes
   * from absolute address `srcAddr`: the first offset at or after `cursor`
   * with the same alignment mod 4, so that `copySum` can move whole words.
   */
  private static place(cursor: number, hdrLen: number, srcAddr: number): number {
    return cursor + ((srcAddr - cursor - hdrLen) & 3);
  }

  /** The bytes `n` segments of `hdrLen`-byte headers and `payload` bytes in all need. */
  private fits(n: number, hdrLen: number, payload: number): boolean {
    return n <= this.offsets.length && n * (hdrLen + ALIGN_SLACK) + payload <= this.out.length;
  }

  /** Copies the first `len` bytes of the frame (the headers) to `out[at…)`. Short: a byte loop beats a view. */
  private copyHeaders(buf: Uint8Array, frameOff: number, at: number, len: number): void {
    const out = this.out;
    for (let k = 0; k < len; k++) out[at + k] = buf[frameOff + k]!;
  }

  /** Writes total length, identification (and flags word when >= 0) and the header checksum. */
  private finishIPv4(ip: number, ihl: number, totalLength: number, id: number, flagsWord: number): void {
    const out = this.out;
    putBe16(out, ip + IPV4_FIELD.TOTAL_LENGTH, totalLength);
    putBe16(out, ip + IPV4_FIELD.IDENTIFICATION, id & 0xffff);
    if (flagsWord >= 0) putBe16(out, ip + IPV4_FIELD.FLAGS_FRAGMENT, flagsWord);
    putBe16(out, ip + IPV4_FIELD.CHECKSUM, computeIPv4Checksum(out, ip, ihl));
  }

  /** GSO_NONE: one frame, its checksum completed if NEEDS_CSUM asks for it. */
  private single(buf: Uint8Array, vnetOff: number, frameOff: number, frameLen: number): number {
    if (frameLen > this.out.length - ALIGN_SLACK) return this.fail('too-large');
    const needsCsum = (vnetFlags(buf, vnetOff) & VNET_HDR_F_NEEDS_CSUM) !== 0;
    const csumStart = vnetCsumStart(buf, vnetOff);
    const csumOffset = vnetCsumOffset(buf, vnetOff);
    if (needsCsum && csumStart + csumOffset + 2 > frameLen) return this.fail('bad-csum-offsets');
    const at = GsoSegmenter.place(0, 0, buf.byteOffset + frameOff);
    copySum(buf, frameOff, this.out, this.outWords, at, frameLen);
    // The field's pseudo-header seed is trusted here, as Linux trusts it:
    // without GSO nothing else tells us which protocol the frame carries.
    if (needsCsum) completeAt(this.out, at, frameLen, csumStart, csumOffset);
    this.offsets[0] = at;
    this.lengths[0] = frameLen;
    return 1;
  }

  /**
   * TCPv4 (tcp_gso_segment + inet_gso_segment): every segment repeats the
   * Ethernet/IP/TCP headers; IP total length, id (id + i) and header checksum
   * per segment; seq advances by gsoSize; FIN and PSH stay on the last
   * segment only, CWR on the first only. The TCP checksum is computed from
   * scratch for each segment: the value the sender left in the field (Linux
   * writes the pseudo-header sum *with* the super-frame's L4 length, NIC
   * drivers rewrite it *without* a length) is never needed.
   */
  private tcp4(buf: Uint8Array, frameOff: number, l2: number, ihl: number, l3Len: number, gsoSize: number): number {
    const ip = frameOff + l2;
    const l4 = ip + ihl;
    if (l3Len - ihl < TCP_HEADER_LENGTH) return this.fail('bad-tcp');
    const thlen = (buf[l4 + TCP_FIELD.DATA_OFFSET]! >>> 4) << 2;
    if (thlen < TCP_HEADER_LENGTH || thlen > l3Len - ihl) return this.fail('bad-tcp');
    const hdrLen = l2 + ihl + thlen;
    const payloadOff = l4 + thlen;
    const payloadLen = l3Len - ihl - thlen;
    const n = payloadLen === 0 ? 1 : Math.ceil(payloadLen / gsoSize);
    if (!this.fits(n, hdrLen, payloadLen)) return this.fail('too-large');

    const out = this.out;
    const src = readIPv4(buf, ip + IPV4_FIELD.SRC);
    const dst = readIPv4(buf, ip + IPV4_FIELD.DST);
    const id0 = be16(buf, ip + IPV4_FIELD.IDENTIFICATION);
    const seq0 = ((buf[l4 + 4]! << 24) | (buf[l4 + 5]! << 16) | (buf[l4 + 6]! << 8) | buf[l4 + 7]!) >>> 0;
    const flags0 = buf[l4 + TCP_FIELD.FLAGS]!;
    const pseudo = pseudoHeaderSum(src, dst, IP_PROTOCOL.TCP, 0);

    let cursor = 0;
    for (let i = 0; i < n; i++) {
      const from = i * gsoSize;
      const chunk = Math.min(gsoSize, payloadLen - from);
      const at = GsoSegmenter.place(cursor, hdrLen, buf.byteOffset + payloadOff + from);
      this.copyHeaders(buf, frameOff, at, hdrLen);
      const oIp = at + l2;
      const oL4 = oIp + ihl;
      this.finishIPv4(oIp, ihl, ihl + thlen + chunk, id0 + i, -1);

      const seq = (seq0 + from) >>> 0;
      out[oL4 + TCP_FIELD.SEQ] = seq >>> 24;
      out[oL4 + TCP_FIELD.SEQ + 1] = (seq >>> 16) & 0xff;
      out[oL4 + TCP_FIELD.SEQ + 2] = (seq >>> 8) & 0xff;
      out[oL4 + TCP_FIELD.SEQ + 3] = seq & 0xff;
      let flags = flags0;
      if (i !== n - 1) flags &= ~(TCP_FLAG.FIN | TCP_FLAG.PSH);
      if (i !== 0) flags &= ~TCP_FLAG.CWR;
      out[oL4 + TCP_FIELD.FLAGS] = flags;

      putBe16(out, oL4 + TCP_FIELD.CHECKSUM, 0);
      const sum =
        pseudo +
        thlen +
        chunk +
        sum16(out, oL4, thlen) +
        copySum(buf, payloadOff + from, out, this.outWords, oL4 + thlen, chunk);
      putBe16(out, oL4 + TCP_FIELD.CHECKSUM, finishChecksum(sum));

      this.offsets[i] = at;
      this.lengths[i] = hdrLen + chunk;
      cursor = at + hdrLen + chunk;
    }
    return n;
  }

  /**
   * USO (__udp_gso_segment): each segment is a datagram of its own, with its
   * own UDP length and full checksum, and IP id + i. The super-frame's UDP
   * length field is not used (it may not even fit 16 bits).
   */
  private udpL4(buf: Uint8Array, frameOff: number, l2: number, ihl: number, l3Len: number, gsoSize: number): number {
    const ip = frameOff + l2;
    const l4 = ip + ihl;
    const hdrLen = l2 + ihl + UDP_HEADER_LENGTH;
    const payloadOff = l4 + UDP_HEADER_LENGTH;
    const payloadLen = l3Len - ihl - UDP_HEADER_LENGTH;
    const n = payloadLen === 0 ? 1 : Math.ceil(payloadLen / gsoSize);
    if (!this.fits(n, hdrLen, payloadLen)) return this.fail('too-large');

    const out = this.out;
    const src = readIPv4(buf, ip + IPV4_FIELD.SRC);
    const dst = readIPv4(buf, ip + IPV4_FIELD.DST);
    const id0 = be16(buf, ip + IPV4_FIELD.IDENTIFICATION);
    const pseudo = pseudoHeaderSum(src, dst, IP_PROTOCOL.UDP, 0);

    let cursor = 0;
    for (let i = 0; i < n; i++) {
      const from = i * gsoSize;
      const chunk = Math.min(gsoSize, payloadLen - from);
      const at = GsoSegmenter.place(cursor, hdrLen, buf.byteOffset + payloadOff + from);
      this.copyHeaders(buf, frameOff, at, hdrLen);
      const oIp = at + l2;
      const oL4 = oIp + ihl;
      this.finishIPv4(oIp, ihl, ihl + UDP_HEADER_LENGTH + chunk, id0 + i, -1);

      const udpLen = UDP_HEADER_LENGTH + chunk;
      putBe16(out, oL4 + UDP_FIELD.LENGTH, udpLen);
      putBe16(out, oL4 + UDP_FIELD.CHECKSUM, 0);
      const sum =
        pseudo +
        udpLen +
        sum16(out, oL4, UDP_HEADER_LENGTH) +
        copySum(buf, payloadOff + from, out, this.outWords, oL4 + UDP_HEADER_LENGTH, chunk);
      putBe16(out, oL4 + UDP_FIELD.CHECKSUM, finishChecksum(sum) || 0xffff);

      this.offsets[i] = at;
      this.lengths[i] = hdrLen + chunk;
      cursor = at + hdrLen + chunk;
    }
    return n;
  }

  /**
   * Legacy UFO (udp4_ufo_fragment + inet_gso_segment): the datagram's UDP
   * checksum is computed over the whole datagram, then the IP payload is cut
   * into fragments of gsoSize bytes rounded down to a multiple of 8 (fragment
   * offsets count 8-byte units). All fragments keep the datagram's id; the
   * flags word becomes offset | MF (DF cleared, as Linux overwrites it).
   * IP options are repeated in every fragment, as inet_gso_segment does.
   */
  private ufo(buf: Uint8Array, frameOff: number, l2: number, ihl: number, l3Len: number, gsoSize: number): number {
    const fragSize = gsoSize & ~7;
    if (fragSize === 0) return this.fail('gso-size-too-small');
    const ip = frameOff + l2;
    const l4 = ip + ihl;
    const l4Len = l3Len - ihl;
    if (be16(buf, l4 + UDP_FIELD.LENGTH) !== l4Len) return this.fail('bad-udp');
    const hdrLen = l2 + ihl;
    const n = Math.ceil(l4Len / fragSize);
    if (!this.fits(n, hdrLen, l4Len)) return this.fail('too-large');

    const out = this.out;
    const src = readIPv4(buf, ip + IPV4_FIELD.SRC);
    const dst = readIPv4(buf, ip + IPV4_FIELD.DST);
    const id = be16(buf, ip + IPV4_FIELD.IDENTIFICATION);
    const flagsWord = be16(buf, ip + IPV4_FIELD.FLAGS_FRAGMENT);

    // Fragments start at multiples of 8, so their sums add up to the
    // datagram's sum with no byte swapping: copy and sum in one pass, then
    // patch the checksum into the first fragment.
    let sum = 0;
    let cursor = 0;
    let firstUdp = 0;
    for (let i = 0; i < n; i++) {
      const from = i * fragSize;
      const chunk = Math.min(fragSize, l4Len - from);
      const at = GsoSegmenter.place(cursor, hdrLen, buf.byteOffset + l4 + from);
      this.copyHeaders(buf, frameOff, at, hdrLen);
      const oIp = at + l2;
      const last = i === n - 1;
      this.finishIPv4(oIp, ihl, ihl + chunk, id, n === 1 ? flagsWord : (from >>> 3) | (last ? 0 : IPV4_FLAG.MF));
      sum += copySum(buf, l4 + from, out, this.outWords, oIp + ihl, chunk);
      if (i === 0) firstUdp = oIp + ihl;
      this.offsets[i] = at;
      this.lengths[i] = hdrLen + chunk;
      cursor = at + hdrLen + chunk;
    }
    // Take the field's old value back out (adding its complement), add the pseudo-header.
    sum += (~be16(out, firstUdp + UDP_FIELD.CHECKSUM) & 0xffff) + pseudoHeaderSum(src, dst, IP_PROTOCOL.UDP, l4Len);
    putBe16(out, firstUdp + UDP_FIELD.CHECKSUM, finishChecksum(sum) || 0xffff);
    return n;
  }
}
