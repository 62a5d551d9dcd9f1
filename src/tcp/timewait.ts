/**
 * TIME-WAIT as a small record, as Linux keeps it (`inet_timewait_sock`):
 * once both FINs are acknowledged nothing of the connection is needed but
 * its 4-tuple, SND.NXT, RCV.NXT, the window we advertised, TS.Recent and the
 * timestamp offset, and the expiry. The connection itself (buffers, timers,
 * congestion state, the application's handler) is released; the record
 * answers for it until 2·MSL is over (tcp_timewait_state_process):
 *
 * - an in-window RST ends it early (tcp_rfc1337 = 0, Linux's default);
 * - a retransmitted FIN is ACKed again and restarts 2·MSL;
 * - a SYN with a newer timestamp or sequence opens a new incarnation
 *   (RFC 6191; the layer does that, asking `acceptsSyn`);
 * - anything else gets an ACK, at most one per 500 ms (tcp_oow_rate_limited).
 *
 * One record costs its fields and one Timer — a few hundred bytes instead of
 * a whole connection's few KB — so tcp_max_tw_buckets can be large.
 */
import type { IPv4Address } from '../wire/address.js';
import { Timer } from '../time/index.js';
import { FLAG_ACK, FLAG_FIN, FLAG_RST, finishSegment, type SegmentView, writeDataOptions } from './segment.js';
import { seqGt, seqLeq } from './seq.js';

/** What a TIME-WAIT record needs from its layer. */
export interface TimeWaitHost {
  readonly clock: { now(): number; readonly timers: import('../time/index.js').TimerScheduler };
  readonly scratch: Uint8Array;
  readonly stats: { outSegs: number };
  readonly opts: { readonly msl: number };
  sendRaw(src: IPv4Address, dst: IPv4Address, segment: Uint8Array): void;
  /** The record's time is over (or a RST ended it): forget it. */
  timeWaitOver(tw: TimeWaitSock): void;
}

/** Linux's tcp_invalid_ratelimit. */
const OOW_ACK_INTERVAL_MS = 500;
const NO_SACK: never[] = [];

export class TimeWaitSock {
  readonly state = 'TIME-WAIT' as const;
  private readonly timer: Timer;
  private lastOowAckAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly host: TimeWaitHost,
    readonly localAddress: IPv4Address,
    readonly localPort: number,
    readonly remoteAddress: IPv4Address,
    readonly remotePort: number,
    /** SND.NXT: our FIN's sequence number + 1. */
    readonly sndNxt: number,
    /** RCV.NXT: the peer's FIN's sequence number + 1. */
    readonly rcvNxt: number,
    /** The raw 16-bit window field our ACKs carry. */
    private readonly window: number,
    readonly tsOk: boolean,
    readonly tsRecent: number,
    private readonly tsOffset: number,
    expiresAt: number,
  ) {
    this.timer = new Timer(host.clock.timers, () => host.timeWaitOver(this));
    this.timer.armAt(expiresAt);
  }

  /** When the record expires (ms on the layer's clock). */
  get expiresAt(): number {
    return this.timer.deadline;
  }

  /** A segment for this 4-tuple that is not a SYN opening a new incarnation. */
  input(v: SegmentView): void {
    if ((v.flags & FLAG_RST) !== 0) {
      if (v.seq === this.rcvNxt) this.end();
      return;
    }
    if ((v.flags & FLAG_FIN) !== 0 && seqLeq((v.seq + v.dataLen) >>> 0, this.rcvNxt)) {
      // The peer did not hear our ACK of its FIN: ACK again, restart 2·MSL.
      this.timer.arm(2 * this.host.opts.msl);
      this.sendAck();
      return;
    }
    const now = this.host.clock.now();
    if (now - this.lastOowAckAt < OOW_ACK_INTERVAL_MS) return;
    this.lastOowAckAt = now;
    this.sendAck();
  }

  /** RFC 6191 / tcp_timewait_state_process: a SYN may reuse the 4-tuple if it is newer. */
  acceptsSyn(v: SegmentView): boolean {
    if (this.tsOk && v.hasTs) return seqGt(v.tsVal, this.tsRecent);
    return seqGt(v.seq, this.rcvNxt);
  }

  /** Ends the record now (a RST, a new incarnation, the layer closing). */
  end(): void {
    this.timer.cancel();
    this.host.timeWaitOver(this);
  }

  private sendAck(): void {
    const h = this.host;
    const buf = h.scratch;
    const tsVal = (Math.floor(h.clock.now()) + this.tsOffset) >>> 0;
    const hl = 20 + writeDataOptions(buf, 20, this.tsOk, tsVal, this.tsRecent, NO_SACK, 0);
    finishSegment(buf, hl, hl, { srcPort: this.localPort, dstPort: this.remotePort, seq: this.sndNxt, ack: this.rcvNxt, flags: FLAG_ACK, window: this.window }, this.localAddress, this.remoteAddress);
    h.stats.outSegs++;
    h.sendRaw(this.localAddress, this.remoteAddress, buf.subarray(0, hl));
  }
}
