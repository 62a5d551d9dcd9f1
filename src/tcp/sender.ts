/**
 * The sending half of a TCP connection: the send buffer (a ring the
 * application's bytes are copied into once; segments are built straight
 * from it), segmentation to the MSS, Nagle (RFC 896) and sender-side
 * silly-window avoidance, the peer's (scaled) window with RFC 9293's
 * SND.WL1/WL2 update rule, ACK processing with RTT samples (timestamps, or
 * Karn's one timed segment), the retransmission timer with exponential
 * backoff and a retry limit (ETIMEDOUT), the persist timer with
 * zero-window probes (Linux's: an ACK with SEQ = SND.UNA − 1), and the
 * congestion window's restart after idle (tcp_cwnd_restart). Loss recovery
 * (fast retransmit, NewReno, SACK, undo of spurious reductions, the ECN-echo
 * response) lives in recovery.ts, RACK-TLP in rack.ts.
 *
 * Sequence variables: SND.UNA (sndUna), SND.MAX (sndMax: the highest ever
 * sent — RFC 9293's SND.NXT as the peer sees it), and sndNxt, the next byte
 * to transmit, which falls back to SND.UNA after a timeout (go-back-N).
 */
import { Timer } from '../time/index.js';
import { createCongestionControl, type CongestionControl } from './cc/index.js';
import type { TcpConnection } from './connection.js';
import { Rack } from './rack.js';
import { LossRecovery } from './recovery.js';
import { RttEstimator } from './rtt.js';
import { SackScoreboard, believableSacks } from './sack.js';
import { FLAG_ACK, FLAG_ECE, FLAG_FIN, FLAG_PSH, FLAG_SYN, type SegmentView } from './segment.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import { tcpError } from './state.js';

const EMPTY_RING = new Uint8Array(0);
const MIN_RING = 4 * 1024;
/** Linux's TCP_RTO_MAX: the persist interval never exceeds it either. */
const MAX_PROBE_INTERVAL_MS = 120_000;

export class TcpSender {
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  sndMax = 0;
  /** The peer's window in bytes (scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  noDelay = false;
  /** Set by shutdown(): a FIN follows the queued data. */
  finQueued = false;
  readonly rtt: RttEstimator;
  readonly cc: CongestionControl;
  readonly sack = new SackScoreboard();
  readonly rec: LossRecovery;
  /** RACK-TLP (RFC 8985) state and per-transmission records. */
  readonly rack: Rack;
  readonly rtxTimer: Timer;
  readonly persistTimer: Timer;
  /** Consecutive expirations of the retransmission timer (SYN retries included). */
  retries = 0;
  bytesSent = 0;
  bytesAcked = 0;
  retransSegs = 0;

  /** Grows by doubling up to `limit`, so idle connections hold little memory. */
  private ring: Uint8Array = EMPTY_RING;
  /** The send buffer's size now (sk_sndbuf): sendBufferBytes, grown with cwnd up to `maxLimit`. */
  private limit: number;
  private readonly maxLimit: number;
  private ringHead = 0;
  /** Sequence number of ring[ringHead] (the first unacknowledged data byte). */
  private bufSeq = 0;
  /** Bytes in the ring: unacknowledged plus unsent. */
  buffered = 0;
  private wantWritable = false;
  /** The last transmit() stopped because the congestion window was full. */
  private cwndLimited = false;
  private probes = 0;
  private persistBackoff = 0;
  /** Karn: the one timed segment when timestamps are off. */
  private rttSeq: number | undefined;
  private rttStart = 0;
  /** When the SYN (or SYN-ACK) was first sent, for the handshake's RTT sample. */
  synSentAt = -1;
  /** When data last left (Linux's lsndtime), for the restart after idle. */
  private lastSendAt = 0;

  constructor(readonly c: TcpConnection) {
    const o = c.host.opts;
    this.limit = o.sendBufferBytes;
    this.maxLimit = o.sendBufferMaxBytes;
    this.rtt = new RttEstimator({ minRtoMs: o.minRtoMs });
    this.cc = createCongestionControl(o.congestionControl, 1460);
    this.rec = new LossRecovery(this);
    this.rack = new Rack(this);
    this.rtxTimer = new Timer(c.host.clock.timers, () => this.onRetransmitTimer());
    this.persistTimer = new Timer(c.host.clock.timers, () => this.onPersistTimer());
  }

  /** Our ISS; the SYN takes it, data starts one later. */
  init(iss: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = (iss + 1) >>> 0;
    this.sndMax = this.sndNxt;
    this.bufSeq = this.sndNxt;
    this.rec.recoveryPoint = iss;
    this.sack.reset(this.sndNxt);
    this.lastSendAt = this.c.host.clock.now();
  }

  /** Sequence number just past the queued data (the FIN's, once queued). */
  get dataEnd(): number {
    return (this.bufSeq + this.buffered) >>> 0;
  }

  get space(): number {
    if (this.limit < this.maxLimit) this.expandLimit();
    return Math.max(0, this.limit - this.buffered);
  }

  /**
   * Linux's tcp_sndbuf_expand: the buffer holds twice the congestion window,
   * so the window never waits for the application to refill a buffer the
   * window has outgrown. It only grows (as Linux's, barring memory pressure).
   */
  private expandLimit(): void {
    const want = 2 * this.cc.cwnd;
    if (want > this.limit) this.limit = Math.min(this.maxLimit, want);
  }

  get finSent(): boolean {
    return this.finQueued && seqGt(this.sndMax, this.dataEnd);
  }

  get finAcked(): boolean {
    return this.finSent && seqGt(this.sndUna, this.dataEnd);
  }

  /** Copies what fits of `chunk` into the ring; returns the bytes taken. */
  write(chunk: Uint8Array): number {
    const n = Math.min(chunk.length, this.space);
    if (n < chunk.length) this.wantWritable = true;
    if (n === 0) return 0;
    if (this.buffered + n > this.ring.length) this.grow(this.buffered + n);
    const cap = this.ring.length;
    const at = (this.ringHead + this.buffered) % cap;
    const first = Math.min(n, cap - at);
    this.ring.set(first === chunk.length ? chunk : chunk.subarray(0, first), at);
    if (first < n) this.ring.set(chunk.subarray(first, n), 0);
    this.buffered += n;
    return n;
  }

  private grow(need: number): void {
    let size = Math.max(MIN_RING, this.ring.length);
    while (size < need) size *= 2;
    size = Math.min(size, this.limit);
    // Unzeroed: only bytes written into the ring are ever read back (a zero-filled ring per
    // connection showed in the one-request-per-connection HTTP profile).
    const next: Uint8Array = Buffer.allocUnsafeSlow(size);
    if (this.buffered > 0) this.copyOut(this.bufSeq, this.buffered, next, 0);
    this.ring = next;
    this.ringHead = 0;
  }

  /** Copies [seq, seq+len) of the send buffer to out[off…]. */
  copyOut(seq: number, len: number, out: Uint8Array, off: number): void {
    const cap = this.ring.length;
    const at = (this.ringHead + seqDiff(seq, this.bufSeq)) % cap;
    const first = Math.min(len, cap - at);
    out.set(this.ring.subarray(at, at + first), off);
    if (first < len) out.set(this.ring.subarray(0, len - first), off + first);
  }

  // ---- ACK processing -------------------------------------------------

  /**
   * The ACK field and window of an acceptable segment (RFC 9293 step five,
   * RFC 5961 §5.2). Returns false when the segment must be dropped.
   */
  onAck(seg: SegmentView): boolean {
    const c = this.c;
    const stats = c.host.stats;
    const ack = seg.ack;
    if (seqGt(ack, this.sndMax)) {
      stats.drops.ackUnsent++;
      c.challengeAck();
      return false;
    }
    if (seqLt(ack, (this.sndUna - this.maxSndWnd) >>> 0)) {
      stats.drops.ackTooOld++;
      c.challengeAck();
      return false;
    }
    const acked = seqDiff(ack, this.sndUna);
    const wnd = seg.window * 2 ** c.sndWscale;
    const prevWnd = this.sndWnd;
    if (acked >= 0 && (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLeq(this.sndWl2, ack)))) {
      this.setWindow(wnd, seg.seq, ack);
    }
    this.probes = 0;
    const rec = this.rec;
    const tsEcr = c.tsOk && seg.hasTs && seg.tsEcr !== 0 ? seg.tsEcr : undefined;
    // RFC 3168 §6.1.2 (tcp_ecn_rcv_ecn_echo): ECE counts on an ECN connection, never on a SYN.
    const ece = c.ecnOk && (seg.flags & (FLAG_ECE | FLAG_SYN)) === FLAG_ECE && acked >= 0;
    rec.eceAck = ece;
    let newlySacked = 0;
    let dsack = false;
    if (c.sackOk && acked >= 0) {
      const blocks = believableSacks(seg.sacks, this.sndUna, this.sndMax, this.maxSndWnd);
      const r = this.sack.update(ack, blocks);
      newlySacked = r.newlySacked;
      dsack = r.dsack;
      if (r.dsack) {
        stats.dsacksReceived++;
        rec.undo.onDsack(blocks[0]!.left, blocks[0]!.right);
      }
    }
    if (acked > 0) {
      let rttMs: number | undefined;
      if (c.tsOk && seg.hasTs && seg.tsEcr !== 0) {
        const d = seqDiff(c.tsNow(), seg.tsEcr);
        if (d >= 0) rttMs = d;
      } else if (this.rttSeq !== undefined && seqGeq(ack, this.rttSeq)) {
        rttMs = c.host.clock.now() - this.rttStart;
        this.rttSeq = undefined;
      }
      // RFC 6298 §5.7: a backed-off RTO stays until a valid sample (Karn) recomputes it.
      if (rttMs !== undefined) this.rtt.sample(rttMs);
      const priorFlight = seqDiff(this.sndMax, this.sndUna);
      this.bytesAcked += this.advance(ack);
      this.retries = 0;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      rec.onNewAck(acked, rttMs, this.isCwndLimited(priorFlight), tsEcr);
      if (c.isClosed) return false;
      if (seqGt(this.sndMax, this.sndUna)) this.rtxTimer.arm(this.rtt.rto);
      else this.rtxTimer.cancel();
      if (this.wantWritable && this.space * 2 >= this.buffered) {
        this.wantWritable = false;
        c.notifyWritable();
        if (c.isClosed) return false;
      }
    } else if (acked === 0 && seqGt(this.sndMax, this.sndUna)) {
      const classic = seg.dataLen === 0 && (seg.flags & (FLAG_SYN | FLAG_FIN)) === 0 && wnd === prevWnd;
      if (classic || newlySacked > 0) rec.onDupAck();
    }
    if (dsack) rec.tryUndoDsack();
    if (acked >= 0 && this.rack.active) this.rack.onAck(ack, acked, dsack, tsEcr);
    if (ece) {
      stats.ecnEceReceived++;
      rec.onEce();
    }
    rec.eceAck = false;
    return true;
  }

  /**
   * Linux's tcp_is_cwnd_limited (RFC 7661's spirit): the window only grows
   * while it is what limits sending — in slow start while it is under twice
   * the flight, in congestion avoidance when the last transmission stopped
   * at it. An application- or receiver-limited sender keeps its cwnd.
   */
  private isCwndLimited(priorFlight: number): boolean {
    const cwnd = this.cc.cwnd;
    if (cwnd < this.cc.ssthresh) return cwnd < 2 * priorFlight;
    return this.cwndLimited || priorFlight + this.c.mss >= cwnd;
  }

  /** The window of the segment that completed the handshake, or of a SYN-ACK (unscaled). */
  setWindow(wnd: number, seq: number, ack: number): void {
    this.sndWnd = wnd;
    this.sndWl1 = seq;
    this.sndWl2 = ack;
    if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
    if (wnd > 0) this.persistBackoff = 0;
  }

  /** SND.UNA moves to `ack`: acknowledged bytes leave the ring; returns how many data bytes did. */
  advance(ack: number): number {
    const n = Math.min(Math.max(0, seqDiff(ack, this.bufSeq)), this.buffered);
    if (n > 0) {
      this.ringHead = (this.ringHead + n) % this.ring.length;
      if (n === this.buffered) this.ringHead = 0;
      this.bufSeq = (this.bufSeq + n) >>> 0;
      this.buffered -= n;
    }
    this.sndUna = ack;
    return n;
  }

  // ---- transmission ---------------------------------------------------

  /**
   * Sends what the windows allow: retransmissions first (after a timeout,
   * or SACK recovery's lost ranges), then new data, then (SACK recovery)
   * not-yet-lost holes. `force` is the persist timer overriding Nagle and
   * silly-window avoidance for one segment.
   */
  transmit(force = false): void {
    const c = this.c;
    if (!c.canSendData()) return;
    const rec = this.rec;
    this.cwndLimited = false;
    if (this.sndMax === this.sndUna && c.host.opts.slowStartAfterIdle) this.restartAfterIdle();
    for (let guard = 0; guard < 100_000; guard++) {
      const mss = c.maxPayload();
      const room = rec.window() - rec.pipe();
      if (rec.state === 'loss' && seqLt(this.sndNxt, this.sndMax)) {
        const x = c.sackOk ? rec.firstUnsacked(this.sndNxt) : this.sndNxt;
        if (!seqLt(x, this.sndMax)) {
          this.sndNxt = this.sndMax;
          continue;
        }
        const limit = c.sackOk ? rec.gapEnd(x) : this.sndMax;
        if (room < Math.min(mss, seqDiff(limit, x))) break;
        this.sndNxt = this.retransmitAt(x, limit);
        continue;
      }
      const sackRecovery = rec.state === 'recovery' && c.sackOk && !rec.holdRetransmit;
      if (sackRecovery) {
        if (room < mss) break;
        const x = rec.nextLost();
        if (x !== undefined) {
          rec.retransmitLost(x);
          continue;
        }
      }
      if (this.sendNew(mss, room, force)) {
        force = false;
        continue;
      }
      if (sackRecovery) {
        const x = rec.nextUnsacked();
        if (x !== undefined) {
          rec.highRxt = this.retransmitAt(x, rec.gapEnd(x));
          continue;
        }
      }
      break;
    }
    rec.holdRetransmit = false;
    this.armTimers();
    this.rack.schedule();
  }

  /**
   * Linux's tcp_slow_start_after_idle_check: nothing in flight, new data to
   * send and more than one RTO since data last left — the window the path
   * allowed may no longer hold (RFC 7661 §4.1, RFC 5681 §4.1), so cwnd
   * restarts (tcp_cwnd_restart).
   */
  private restartAfterIdle(): void {
    if (!seqGt(this.dataEnd, this.sndMax)) return;
    const idle = this.c.host.clock.now() - this.lastSendAt;
    const rto = this.rtt.rto;
    if (idle <= rto) return;
    const rec = this.rec;
    this.cc.restartAfterIdle(idle, rto, rec.state === 'recovery' || rec.cwrHigh !== undefined);
    // Restarted once: the next check measures idleness from here.
    this.lastSendAt = this.c.host.clock.now();
  }

  /** New data (and the FIN) at SND.MAX, if the windows, Nagle and SWS avoidance allow. */
  private sendNew(mss: number, room: number, force: boolean): boolean {
    const avail = seqDiff(this.dataEnd, this.sndMax);
    const finPending = this.finQueued && !this.finSent;
    if (avail <= 0 && !finPending) return false;
    const usable = seqDiff((this.sndUna + this.sndWnd) >>> 0, this.sndMax);
    // TSO (vnet_hdr egress): up to 64 KB per segment, a multiple of the MSS;
    // a sub-MSS tail waits for Nagle as it would after full segments.
    let len = Math.min(Math.max(avail, 0), this.c.tsoGoal(mss, room, usable));
    if (len > mss && len === avail && !finPending && !this.noDelay && !force) len -= len % mss;
    if (len > usable) len = Math.max(0, usable);
    if (len === 0 && avail > 0) return false;
    if (len < mss && len < avail && !force && len < this.maxSndWnd / 2) return false;
    const fin = finPending && len === avail;
    if (len < mss && len === avail && !fin && !this.noDelay && !force && seqGt(this.sndMax, this.sndUna)) return false;
    if (len > room && !force) {
      this.cwndLimited = true;
      return false;
    }
    if (len === 0 && room <= 0 && seqGt(this.sndMax, this.sndUna)) return false;
    const seq = this.sndMax;
    this.emit(seq, len, fin, false);
    const end = (seq + len + (fin ? 1 : 0)) >>> 0;
    if (!this.c.tsOk && this.rttSeq === undefined && len > 0) {
      this.rttSeq = end;
      this.rttStart = this.c.host.clock.now();
    }
    this.sndMax = end;
    this.sndNxt = end;
    this.bytesSent += len;
    return true;
  }

  /** Retransmits from `seq` up to an MSS, not past `limit`; returns the sequence number after it. */
  retransmitAt(seq: number, limit: number): number {
    const mss = this.c.maxPayload();
    let len = Math.min(mss, Math.max(0, seqDiff(this.dataEnd, seq)), Math.max(0, seqDiff(limit, seq)));
    if (len < 0) len = 0;
    const fin = this.finSent && (seq + len) >>> 0 === this.dataEnd && seqGt(limit, this.dataEnd);
    if (len === 0 && !fin) return seq;
    this.emit(seq, len, fin, true);
    this.retransSegs++;
    this.c.host.stats.retransSegs++;
    this.rec.undo.onRetransmit(seq, (seq + len + (fin ? 1 : 0)) >>> 0);
    this.rttSeq = undefined;
    if (!this.rtxTimer.armed) this.rtxTimer.arm(this.rtt.rto);
    return (seq + len + (fin ? 1 : 0)) >>> 0;
  }

  private emit(seq: number, len: number, fin: boolean, retransmit: boolean): void {
    let flags = FLAG_ACK;
    if (fin) flags |= FLAG_FIN;
    if (len > 0 && (seq + len) >>> 0 === this.dataEnd) flags |= FLAG_PSH;
    // RFC 3168 §6.1.5: ECT (and a queued CWR) only on new data, never on a retransmission.
    this.c.emit(seq, flags, len, !retransmit && len > 0);
    if (len > 0) this.lastSendAt = this.c.host.clock.now();
    this.rack.onTransmit(seq, (seq + len + (fin ? 1 : 0)) >>> 0, retransmit);
    if (!retransmit && len > 0 && !this.rtxTimer.armed) this.rtxTimer.arm(this.rtt.rto);
    if (fin && !this.rtxTimer.armed) this.rtxTimer.arm(this.rtt.rto);
  }

  /** After sending: the retransmission timer runs while data is outstanding, the persist timer while the window blocks. */
  private armTimers(): void {
    if (seqGt(this.sndMax, this.sndUna)) {
      if (!this.rtxTimer.armed) this.rtxTimer.arm(this.rtt.rto);
      this.persistTimer.cancel();
      return;
    }
    this.rtxTimer.cancel();
    const blocked = seqGt(this.dataEnd, this.sndMax) || (this.finQueued && !this.finSent);
    if (blocked) {
      if (!this.persistTimer.armed) this.persistTimer.arm(this.probeInterval());
    } else {
      this.persistTimer.cancel();
    }
  }

  private probeInterval(): number {
    return Math.min(MAX_PROBE_INTERVAL_MS, Math.max(this.rtt.rto, 200) * 2 ** this.persistBackoff);
  }

  // ---- timers ---------------------------------------------------------

  private onRetransmitTimer(): void {
    const c = this.c;
    const o = c.host.opts;
    if (c.state === 'SYN-SENT' || c.state === 'SYN-RECV') {
      const limit = c.state === 'SYN-SENT' || !c.passive ? o.synRetries : o.synAckRetries;
      if (this.retries >= limit) {
        c.fail(tcpError('ETIMEDOUT', `no answer to SYN after ${this.retries} retransmissions`));
        return;
      }
      this.retries++;
      this.rtt.backoff();
      c.host.stats.retransSegs++;
      this.retransSegs++;
      c.sendSyn();
      this.rtxTimer.arm(this.rtt.rto);
      return;
    }
    if (!seqGt(this.sndMax, this.sndUna) || !c.canSendData()) return;
    if (this.retries >= o.maxRetries) {
      c.fail(tcpError('ETIMEDOUT', `${this.retries} retransmissions unanswered`));
      return;
    }
    c.host.stats.timeouts++;
    this.rec.onRetransmitTimeout(this.retries === 0);
    this.retries++;
    this.rtt.backoff();
    this.rttSeq = undefined;
    this.sndNxt = this.sndUna;
    this.rtxTimer.arm(this.rtt.rto);
    c.output();
  }

  private onPersistTimer(): void {
    const c = this.c;
    if (!c.canSendData()) return;
    if (this.probes >= c.host.opts.maxRetries) {
      c.fail(tcpError('ETIMEDOUT', `${this.probes} zero-window probes unanswered`));
      return;
    }
    this.probes++;
    this.persistBackoff++;
    const usable = seqDiff((this.sndUna + this.sndWnd) >>> 0, this.sndMax);
    if (usable > 0) {
      this.transmit(true);
    } else {
      c.host.stats.zeroWindowProbes++;
      c.sendProbe();
    }
    if (!seqGt(this.sndMax, this.sndUna)) this.persistTimer.arm(this.probeInterval());
  }

  /** The path MTU shrank: segments in flight were too big; send them again at the new size. */
  mtuReduced(): void {
    if (!seqGt(this.sndMax, this.sndUna)) return;
    this.rec.onMtuReduced();
    this.sndNxt = this.sndUna;
    this.rttSeq = undefined;
  }

  stop(): void {
    this.rtxTimer.cancel();
    this.persistTimer.cancel();
    this.rack.stop();
  }
}
