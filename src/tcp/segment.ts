/**
 * A received TCP segment read in place: the header fields and the options
 * the core acts on (MSS, window scale, SACK-permitted, SACK blocks,
 * timestamps), parsed at offsets into the borrowed receive buffer into one
 * reusable `SegmentView` per layer — no object, string or option list is
 * built per segment. Also the writer for the options of data segments
 * (NOP NOP TS, NOP NOP SACK as Linux lays them out).
 *
 * Hand-written rather than using `decodeTcp` from src/wire on the hot path:
 * that representation allocates an option list per segment, which is fine
 * for tools and tests but not for every segment of a 10 Gb/s flow. The
 * wire codecs remain the reference; tests cross-check against them.
 */
import { finishChecksum, fold32, pseudoHeaderSum, sum16 } from '../wire/checksum.js';
import type { IPv4Address } from '../wire/address.js';
import type { SackBlock } from './sack.js';
import type { TcpSegmentInfo } from './state.js';

export const FLAG_FIN = 1;
export const FLAG_SYN = 2;
export const FLAG_RST = 4;
export const FLAG_PSH = 8;
export const FLAG_ACK = 16;
export const FLAG_URG = 32;
/** RFC 3168: ECN-Echo and Congestion Window Reduced. */
export const FLAG_ECE = 64;
export const FLAG_CWR = 128;

export type ParseResult = 'ok' | 'truncated' | 'badHeader' | 'badChecksum' | 'badOption';

/** One received segment, valid only until the next segment is parsed into the same view. */
export class SegmentView {
  buf: Uint8Array = new Uint8Array(0);
  src: IPv4Address = 0;
  dst: IPv4Address = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  /** Header length in bytes. */
  hl = 20;
  /** Payload bytes. */
  dataLen = 0;
  hasTs = false;
  tsVal = 0;
  tsEcr = 0;
  /** -1 when absent. */
  mss = -1;
  /** -1 when absent. */
  wscale = -1;
  sackPermitted = false;
  /** The ECN field of the IP header that carried the segment (set by TcpLayer.input; ecn.ts). */
  ipEcn = 0;
  /** SACK blocks in option order; `sacks.length` is their number (objects reused). */
  readonly sacks: SackBlock[] = [];
  private readonly pool: SackBlock[] = [
    { left: 0, right: 0 },
    { left: 0, right: 0 },
    { left: 0, right: 0 },
    { left: 0, right: 0 },
  ];

  /** Sequence space the segment occupies: payload plus SYN and FIN. */
  get segLen(): number {
    return this.dataLen + (this.flags & FLAG_SYN ? 1 : 0) + (this.flags & FLAG_FIN ? 1 : 0);
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /** A view of the payload (borrowed). */
  payload(from = 0, to = this.dataLen): Uint8Array {
    return this.buf.subarray(this.hl + from, this.hl + to);
  }

  /** A snapshot for the probe hook (allocates; only built when a probe is set). */
  info(): TcpSegmentInfo {
    const i: TcpSegmentInfo = { seq: this.seq, ack: this.ack, flags: this.flags, window: this.window, len: this.dataLen };
    if (this.hasTs) {
      i.tsVal = this.tsVal;
      i.tsEcr = this.tsEcr;
    }
    if (this.sacks.length > 0) i.sack = this.sacks.map((b) => ({ left: b.left, right: b.right }));
    if (this.ipEcn !== 0) i.tos = this.ipEcn;
    return i;
  }

  /**
   * Reads `buf` (a whole TCP segment) into this view. Verifies the checksum
   * against the pseudo header unless `verify` is false.
   */
  parse(buf: Uint8Array, src: IPv4Address, dst: IPv4Address, verify = true): ParseResult {
    const len = buf.length;
    if (len < 20) return 'truncated';
    const hl = (buf[12]! >>> 4) << 2;
    if (hl < 20 || hl > len) return 'badHeader';
    if (verify && finishChecksum(sum16(buf, 0, len, pseudoHeaderSum(src, dst, 6, len))) !== 0) return 'badChecksum';
    this.buf = buf;
    this.src = src;
    this.dst = dst;
    this.srcPort = (buf[0]! << 8) | buf[1]!;
    this.dstPort = (buf[2]! << 8) | buf[3]!;
    this.seq = u32(buf, 4);
    this.ack = u32(buf, 8);
    this.flags = ((buf[12]! & 1) << 8) | buf[13]!;
    this.window = (buf[14]! << 8) | buf[15]!;
    this.hl = hl;
    this.dataLen = len - hl;
    this.hasTs = false;
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.sacks.length = 0;
    let i = 20;
    while (i < hl) {
      const kind = buf[i]!;
      if (kind === 0) break;
      if (kind === 1) {
        i++;
        continue;
      }
      if (i + 1 >= hl) return 'badOption';
      const olen = buf[i + 1]!;
      if (olen < 2 || i + olen > hl) return 'badOption';
      switch (kind) {
        case 2:
          if (olen !== 4) return 'badOption';
          this.mss = (buf[i + 2]! << 8) | buf[i + 3]!;
          break;
        case 3:
          if (olen !== 3) return 'badOption';
          this.wscale = buf[i + 2]!;
          break;
        case 4:
          if (olen !== 2) return 'badOption';
          this.sackPermitted = true;
          break;
        case 5: {
          const n = (olen - 2) >>> 3;
          if (n < 1 || n > 4 || 2 + n * 8 !== olen) return 'badOption';
          for (let b = 0; b < n; b++) {
            const blk = this.pool[b]!;
            blk.left = u32(buf, i + 2 + b * 8);
            blk.right = u32(buf, i + 6 + b * 8);
            this.sacks.push(blk);
          }
          break;
        }
        case 8:
          if (olen !== 10) return 'badOption';
          this.hasTs = true;
          this.tsVal = u32(buf, i + 2);
          this.tsEcr = u32(buf, i + 6);
          break;
        default:
          break; // unknown options are skipped, as every stack does
      }
      i += olen;
    }
    return 'ok';
  }
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Bytes the options of a non-SYN segment take: NOP NOP TS (12), NOP NOP SACK (4 + 8n). */
export function dataOptionsLength(ts: boolean, sackBlocks: number): number {
  return (ts ? 12 : 0) + (sackBlocks > 0 ? 4 + 8 * sackBlocks : 0);
}

/** Writes the options of a non-SYN segment at buf[off…] as Linux lays them out; returns the bytes written. */
export function writeDataOptions(
  buf: Uint8Array,
  off: number,
  ts: boolean,
  tsVal: number,
  tsEcr: number,
  blocks: readonly SackBlock[],
  nBlocks: number,
): number {
  let i = off;
  if (ts) {
    buf[i] = 1;
    buf[i + 1] = 1;
    buf[i + 2] = 8;
    buf[i + 3] = 10;
    put32(buf, i + 4, tsVal);
    put32(buf, i + 8, tsEcr);
    i += 12;
  }
  if (nBlocks > 0) {
    buf[i] = 1;
    buf[i + 1] = 1;
    buf[i + 2] = 5;
    buf[i + 3] = 2 + 8 * nBlocks;
    i += 4;
    for (let b = 0; b < nBlocks; b++) {
      const blk = blocks[b]!;
      put32(buf, i, blk.left);
      put32(buf, i + 4, blk.right);
      i += 8;
    }
  }
  return i - off;
}

/**
 * Fills in the header fields and checksum of a segment already holding
 * options and payload at buf[0, len). With `partial` (a TSO super-segment
 * handed over with NEEDS_CSUM), the checksum field gets only the folded
 * pseudo-header sum including the length, as Linux's __tcp_v4_send_check
 * leaves it for whoever segments or finishes it — the payload is not summed.
 */
export function finishSegment(
  buf: Uint8Array,
  len: number,
  hl: number,
  h: { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; window: number },
  src: IPv4Address,
  dst: IPv4Address,
  partial = false,
): void {
  buf[0] = h.srcPort >>> 8;
  buf[1] = h.srcPort & 0xff;
  buf[2] = h.dstPort >>> 8;
  buf[3] = h.dstPort & 0xff;
  put32(buf, 4, h.seq);
  put32(buf, 8, h.ack);
  buf[12] = ((hl >>> 2) << 4) | ((h.flags >>> 8) & 1);
  buf[13] = h.flags & 0xff;
  buf[14] = h.window >>> 8;
  buf[15] = h.window & 0xff;
  buf[16] = 0;
  buf[17] = 0;
  buf[18] = 0;
  buf[19] = 0;
  if (partial) {
    const p = fold32(pseudoHeaderSum(src, dst, 6, len));
    buf[16] = p >>> 8;
    buf[17] = p & 0xff;
    return;
  }
  const c = finishChecksum(sum16(buf, 0, len, pseudoHeaderSum(src, dst, 6, len)));
  buf[16] = c >>> 8;
  buf[17] = c & 0xff;
}
