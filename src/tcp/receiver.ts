/**
 * The receiving half of a TCP connection: RCV.NXT, in-order delivery to the
 * handler, the out-of-order queue (copies of what arrived beyond a hole,
 * bounded in memory), SACK blocks for the ACKs we send (RFC 2018: the block
 * holding the latest segment first; RFC 2883 D-SACK for duplicates), the
 * advertised window (receive buffer minus bytes the application has not
 * consumed, receiver-side silly-window avoidance, never shrinking the right
 * edge, a window update when the application's reads reopen it) and delayed
 * ACKs (an ACK for every second full segment, otherwise after delayedAckMs;
 * at once for out-of-order data, filled holes, duplicates and FINs, and for
 * the first segments of a connection, like Linux's quick-ACK mode).
 *
 * Hand-written: this is the TCP core itself.
 */
import { Timer } from '../time/index.js';
import type { SackBlock } from './sack.js';
import type { SegmentView } from './segment.js';
import { FLAG_FIN } from './segment.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax } from './seq.js';
import type { TcpConnection } from './connection.js';

interface OooSegment {
  seq: number;
  end: number;
  data: Uint8Array;
}

/** Linux's first rcvq_space.space: TCP_INIT_CWND full segments. */
const INITIAL_SPACE = 10 * 1448;

/** Linux's TCP_MAX_QUICKACKS: ACK at once for this many segments after the start or a hole. */
const MAX_QUICKACKS = 16;

export class TcpReceiver {
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised (never moves left). */
  advRight = 0;
  /** RCV.NXT when we last sent an ACK (Linux's rcv_wup; RFC 7323's Last.ACK.sent). */
  lastAckSent = 0;
  /** Bytes handed to the application and not yet consumed (ss Recv-Q). */
  unconsumed = 0;
  bytesReceived = 0;
  /** Our FIN-bearing segment arrived beyond a hole: the FIN's sequence number. */
  private oooFin: number | undefined;
  finReceived = false;
  /** Send an ACK at the end of this input / now. */
  ackNow = false;
  /** The segment just taken was in-order data and nothing else urgent: its ACK may wait for the batch's end. */
  coalescible = false;
  /** Largest segment seen (Linux's rcv_mss), for "every second full segment". */
  rcvMss = 536;
  private quickAcks = MAX_QUICKACKS;
  private readonly ooo: OooSegment[] = [];
  private oooBytes = 0;
  /** Our SACK blocks, most recent first. */
  private readonly blocks: SackBlock[] = [];
  /** A D-SACK block for the next ACK only. */
  private dsack: SackBlock | null = null;
  readonly delackTimer: Timer;

  /** Dynamic right-sizing (Linux's rcvq_space): bytes the application read in the last measured round trip. */
  private space = INITIAL_SPACE;
  /** Bytes the application read since `spaceAt`. */
  private copied = 0;
  private spaceAt = 0;

  constructor(
    private readonly c: TcpConnection,
    /** The receive buffer: the most we advertise; grows (dynamic right-sizing) up to `maxBufferBytes`. */
    public bufferBytes: number,
    private readonly maxBufferBytes: number = bufferBytes,
  ) {
    this.delackTimer = new Timer(c.host.clock.timers, () => this.onDelack());
  }

  /** The peer's SYN: RCV.NXT = IRS + 1; the window our SYN (or SYN-ACK) advertised. */
  init(irs: number, synWindow: number): void {
    this.irs = irs;
    this.rcvNxt = (irs + 1) >>> 0;
    this.lastAckSent = this.rcvNxt;
    this.advRight = (this.rcvNxt + synWindow) >>> 0;
    this.spaceAt = this.c.host.clock.now();
    this.rcvMss = Math.min(536, this.c.advMss);
  }

  /** Bytes of window currently open (as advertised). */
  get window(): number {
    return Math.max(0, seqDiff(this.advRight, this.rcvNxt));
  }

  /** Bytes held out of order. */
  get outOfOrderBytes(): number {
    return this.oooBytes;
  }

  /**
   * RFC 9293 §3.10.7.4 acceptability, in Linux's form (tcp_sequence): the
   * segment must not end before RCV.NXT nor start past the window's right edge.
   */
  acceptable(seq: number, segLen: number): boolean {
    const end = (seq + segLen) >>> 0;
    return seqGeq(end, this.rcvNxt) && seqLeq(seq, (this.rcvNxt + this.window) >>> 0);
  }

  /** RFC 5961: a RST or SYN "in the window" (but not exactly at RCV.NXT) earns a challenge ACK. */
  inWindow(seq: number): boolean {
    const w = this.window;
    return w === 0 ? seq === this.rcvNxt : seqGeq(seq, this.rcvNxt) && seqLt(seq, (this.rcvNxt + w) >>> 0);
  }

  /** Marks a duplicate [seq, end) for a D-SACK and asks for an immediate ACK. */
  duplicate(seq: number, end: number): void {
    if (this.c.sackOk && seqLt(seq, end)) {
      this.dsack = { left: seq, right: end };
      this.c.host.stats.dsacksSent++;
    }
    this.ackNow = true;
    this.quickAcks = MAX_QUICKACKS;
  }

  /**
   * The text and FIN of an acceptable segment (step seven/eight of RFC
   * 9293's SEGMENT ARRIVES). Returns true when a FIN became in-sequence (the
   * caller runs the FIN transitions).
   */
  onData(seg: SegmentView): boolean {
    const len = seg.dataLen;
    const hasFin = (seg.flags & FLAG_FIN) !== 0;
    if (len === 0 && !hasFin) return false;
    if (this.finReceived) {
      // A retransmitted FIN (or data before it): just ACK again.
      this.duplicate(seg.seq, (seg.seq + Math.min(len, Math.max(0, seqDiff(this.rcvNxt, seg.seq)))) >>> 0);
      return false;
    }
    const seq = seg.seq;
    let end = (seq + len) >>> 0;
    let fin = hasFin;
    const right = seqMax(this.advRight, this.rcvNxt);
    if (len > 0 && this.window === 0) {
      // Zero window: a probe (or a sender ignoring the window). Linux drops the data and ACKs.
      this.ackNow = true;
      return false;
    }
    if (seqGt(end, right)) {
      end = right;
      fin = false;
    }
    if (seqLeq(end, this.rcvNxt) && !(fin && end === this.rcvNxt)) {
      this.duplicate(seq, end);
      return false;
    }
    let start = seq;
    if (seqLt(start, this.rcvNxt)) {
      this.duplicate(start, this.rcvNxt);
      start = this.rcvNxt;
    }
    if (start === this.rcvNxt) {
      const hadHole = this.ooo.length > 0;
      if (seqGt(end, start)) this.deliver(ownedCopy(seg.payload(seqDiff(start, seq), seqDiff(end, seq))), end);
      if (len > this.rcvMss) this.rcvMss = Math.min(len, this.c.advMss);
      this.pullOutOfOrder();
      let finNow = false;
      if (fin && this.rcvNxt === end) finNow = true;
      else if (this.oooFin !== undefined && this.rcvNxt === this.oooFin) finNow = true;
      if (finNow) {
        this.rcvNxt = (this.rcvNxt + 1) >>> 0;
        this.finReceived = true;
        this.oooFin = undefined;
        this.ackNow = true;
        return true;
      }
      this.scheduleAck(hadHole);
      this.coalescible = !hadHole;
      return false;
    }
    // Beyond a hole: keep a copy, SACK it, ACK at once.
    if (seqGt(end, start)) this.insertOutOfOrder(seg, start, end);
    if (fin) this.oooFin = end;
    this.ackNow = true;
    this.quickAcks = MAX_QUICKACKS;
    return false;
  }

  private deliver(chunk: Uint8Array, end: number): void {
    this.rcvNxt = end;
    this.unconsumed += chunk.length;
    this.bytesReceived += chunk.length;
    this.dropBlocksBelow();
    this.c.deliver(chunk);
  }

  private pullOutOfOrder(): void {
    const q = this.ooo;
    while (q.length > 0) {
      const s = q[0]!;
      if (seqGt(s.seq, this.rcvNxt)) break;
      q.shift();
      this.oooBytes -= s.data.length;
      if (seqGt(s.end, this.rcvNxt)) {
        const skip = seqDiff(this.rcvNxt, s.seq);
        this.deliver(skip > 0 ? s.data.subarray(skip) : s.data, s.end);
      }
      if (this.c.state === 'CLOSED') return;
    }
  }

  private insertOutOfOrder(seg: SegmentView, start: number, end: number): void {
    const q = this.ooo;
    const cap = this.bufferBytes;
    let i = 0;
    while (i < q.length && seqLeq(q[i]!.end, start)) i++;
    let s = start;
    let dupFrom: number | undefined;
    let dupTo = 0;
    while (seqLt(s, end)) {
      const next = q[i];
      let pieceEnd: number;
      if (next === undefined || seqGeq(next.seq, end)) pieceEnd = end;
      else if (seqGt(next.seq, s)) pieceEnd = next.seq;
      else {
        // already held: a duplicate
        const dupEnd = seqLt(next.end, end) ? next.end : end;
        if (dupFrom === undefined) dupFrom = s;
        dupTo = dupEnd;
        s = next.end;
        i++;
        continue;
      }
      const n = seqDiff(pieceEnd, s);
      if (this.oooBytes + n > cap) {
        this.c.host.stats.drops.oooQueueFull++;
        return;
      }
      const off = seqDiff(s, seg.seq);
      q.splice(i, 0, { seq: s, end: pieceEnd, data: seg.payload(off, off + n).slice() });
      this.oooBytes += n;
      i++;
      s = pieceEnd;
    }
    if (dupFrom !== undefined) this.duplicate(dupFrom, dupTo);
    this.noteSackBlock(start);
  }

  /** The run of contiguous out-of-order data holding `seq` becomes the first SACK block. */
  private noteSackBlock(seq: number): void {
    const q = this.ooo;
    let k = 0;
    while (k < q.length && !(seqLeq(q[k]!.seq, seq) && seqLt(seq, q[k]!.end))) k++;
    if (k === q.length) return;
    let lo = k;
    while (lo > 0 && q[lo - 1]!.end === q[lo]!.seq) lo--;
    let hi = k;
    while (hi + 1 < q.length && q[hi]!.end === q[hi + 1]!.seq) hi++;
    const left = q[lo]!.seq;
    const right = q[hi]!.end;
    const b = this.blocks;
    for (let j = b.length - 1; j >= 0; j--) {
      const x = b[j]!;
      if (seqLeq(x.left, right) && seqGeq(x.right, left)) b.splice(j, 1);
    }
    b.unshift({ left, right });
    if (b.length > 4) b.length = 4;
  }

  private dropBlocksBelow(): void {
    const b = this.blocks;
    for (let j = b.length - 1; j >= 0; j--) if (seqLeq(b[j]!.right, this.rcvNxt)) b.splice(j, 1);
  }

  /**
   * Fills `out` with the SACK blocks for the next segment (D-SACK first), at
   * most `max`; returns how many.
   */
  sackBlocks(out: SackBlock[], max: number): number {
    let n = 0;
    if (this.dsack !== null && n < max) out[n++] = this.dsack;
    for (let j = 0; j < this.blocks.length && n < max; j++) out[n++] = this.blocks[j]!;
    return n;
  }

  /** Number of SACK blocks the next segment would carry (before the cap). */
  get pendingSackBlocks(): number {
    return (this.dsack !== null ? 1 : 0) + this.blocks.length;
  }

  /** Delayed-ACK policy for in-order data. */
  private scheduleAck(hadHole: boolean): void {
    if (hadHole || this.quickAcks > 0 || seqDiff(this.rcvNxt, this.lastAckSent) > this.rcvMss) {
      if (this.quickAcks > 0) this.quickAcks--;
      this.ackNow = true;
      return;
    }
    if (!this.delackTimer.armed) this.delackTimer.arm(this.c.host.opts.delayedAckMs);
  }

  private onDelack(): void {
    if (seqGt(this.rcvNxt, this.lastAckSent) || this.ackNow) {
      this.c.host.stats.delayedAcks++;
      this.c.sendAck();
    }
  }

  /** Every segment we send carries this ACK: clear what was pending. */
  onAckSent(): void {
    this.ackNow = false;
    this.dsack = null;
    this.lastAckSent = this.rcvNxt;
    this.delackTimer.cancel();
  }

  /**
   * The window to advertise now, in bytes, a multiple of 2^rcvWscale; moves
   * the advertised right edge (never left). RFC 9293 §3.8.6.2.2: the right
   * edge only advances by at least min(buffer/2, MSS).
   */
  selectWindow(): number {
    const win = this.computeWindow();
    this.advRight = (this.rcvNxt + win) >>> 0;
    return win;
  }

  private computeWindow(): number {
    const shift = this.c.rcvWscale;
    const cur = this.window;
    const free = Math.max(0, this.bufferBytes - this.unconsumed);
    let win = Math.min(free, 65535 * 2 ** shift);
    if (win > cur && win - cur < Math.min(this.bufferBytes / 2, this.rcvMss)) win = cur;
    win = Math.floor(win / 2 ** shift) * 2 ** shift;
    if (win < cur) win = Math.ceil(cur / 2 ** shift) * 2 ** shift;
    return win;
  }

  /**
   * The application read `bytes`. Returns true when the window reopened
   * enough to announce it at once (Linux's tcp_cleanup_rbuf rule: the new
   * window at least doubles one that had fallen to half the buffer or less).
   */
  consumed(bytes: number): boolean {
    if (!(bytes > 0)) return false;
    this.unconsumed = Math.max(0, this.unconsumed - bytes);
    if (this.bufferBytes < this.maxBufferBytes) this.rightSize(bytes);
    const cur = this.window;
    if (2 * cur > this.bufferBytes) return false;
    const next = this.computeWindow();
    return next > 0 && next >= 2 * cur && next > cur;
  }

  /**
   * Linux's tcp_rcv_space_adjust (dynamic right-sizing): once per round
   * trip, if the application read more than in the last one, the buffer
   * grows to twice that plus headroom for the sender's growth, so a fast
   * reader is never window-limited and a slow one never gets a big buffer.
   */
  private rightSize(bytes: number): void {
    this.copied += bytes;
    const rtt = this.c.snd.rtt.srtt;
    const now = this.c.host.clock.now();
    if (rtt === undefined || now - this.spaceAt < rtt) return;
    const copied = this.copied;
    if (copied > this.space) {
      let win = 2 * copied + 16 * this.c.advMss;
      win += 2 * Math.floor((win * (copied - this.space)) / this.space);
      if (win > this.bufferBytes) this.bufferBytes = Math.min(this.maxBufferBytes, win);
      this.space = copied;
    }
    this.copied = 0;
    this.spaceAt = now;
  }

  reset(): void {
    this.delackTimer.cancel();
    this.ooo.length = 0;
    this.oooBytes = 0;
    this.blocks.length = 0;
    this.dsack = null;
  }
}

/**
 * In-order payload is copied out of the borrowed receive buffer once per
 * segment. A backing store per ~1.4 KB segment was a top cost of the
 * receive path, so small copies are carved from shared 64 KiB slabs, as
 * Node's Buffer pool carves its own; consecutive segments land side by side,
 * which lets the socket join them into one push. A larger segment (a GSO
 * super-frame) gets a buffer of its own. Both come from
 * `Buffer.allocUnsafeSlow`: no zero fill (every byte handed out is written
 * first; `slice()` zero-filled and then copied), and sizes under glibc's
 * mmap threshold, so freed buffers are reused from the heap instead of
 * being mapped afresh — a page fault per 4 KiB, which halved the copy's
 * speed with 256 KiB slabs. A slab region is never written again once
 * handed out, so each chunk stays owned by whoever received it.
 */
const SLAB_BYTES = 64 * 1024;
const SLAB_MAX_CHUNK = 16 * 1024;
let slab: Uint8Array = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;
function ownedCopy(src: Uint8Array): Uint8Array {
  const len = src.length;
  if (len > SLAB_MAX_CHUNK) {
    const own = Buffer.allocUnsafeSlow(len);
    own.set(src);
    return own;
  }
  if (slabUsed + len > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + len);
  out.set(src);
  slabUsed += len; // no alignment: the next segment's copy continues this one (src/tcp/socket.ts joins them)
  return out;
}
