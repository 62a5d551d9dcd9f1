/**
 * NewReno congestion control, cwnd side: RFC 5681 slow start and congestion
 * avoidance with appropriate byte counting (RFC 3465, L = 2 in slow start),
 * RFC 6582 fast-recovery window arithmetic (the caller drives recovery).
 *
 * What the caller (the TCP core) does around this module:
 * - `onAck` only for ACKs that advance snd.una outside fast recovery.
 * - Fast retransmit: call `onCongestion(now, FlightSize)`; this sets
 *   ssthresh = max(FlightSize/2, 2*MSS) and cwnd = ssthresh. RFC 5681's
 *   "cwnd = ssthresh + 3*SMSS" inflation and "+SMSS per additional duplicate
 *   ACK" are the caller's (or use RFC 6675 pipe instead of inflation). On a
 *   partial ACK (RFC 6582 §3.2 step 5) the caller may deflate by the newly
 *   acked amount and add back SMSS. On the full ACK call `onRecoveryExit`,
 *   which sets cwnd = ssthresh.
 * - RTO: `onRetransmitTimeout(now, FlightSize)`: ssthresh = max(FlightSize/2,
 *   2*MSS), cwnd = 1*MSS (loss window). When the same segment times out again
 *   (no `onAck` in between) ssthresh is held constant (RFC 5681 §3.1).
 */
import { INITIAL_SSTHRESH, cwndRestart, initialWindow, slowStart, undoReduction, type CongestionControl } from './types.js';


export class NewReno implements CongestionControl {
  readonly name = 'newreno' as const;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  private mss: number;
  /** RFC 3465 bytes_acked counter for congestion avoidance. */
  private bytesAcked = 0;
  /** True after an RTO until new data is acknowledged. */
  private backedOff = false;

  constructor(mss: number) {
    this.mss = mss;
    this.cwnd = initialWindow(mss);
  }

  onAck(acked: number, _now: number, _rttMs: number | undefined, _inFlight: number): void {
    if (acked <= 0) return;
    this.backedOff = false;
    // Slow start; whatever the ACK covers past ssthresh counts toward congestion avoidance.
    const rest = slowStart(this, acked, this.mss);
    if (rest === 0) return;
    // Congestion avoidance (RFC 3465 §2.1): +SMSS each time a full cwnd's
    // worth of bytes has been acknowledged.
    this.bytesAcked += rest;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
      // never carry more than one window's credit
      if (this.bytesAcked >= this.cwnd) this.bytesAcked = 0;
    }
  }

  onCongestion(_now: number, inFlight: number): void {
    this.ssthresh = Math.max(Math.floor(inFlight / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onRecoveryExit(_now: number): void {
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onRetransmitTimeout(_now: number, inFlight: number): void {
    if (!this.backedOff) this.ssthresh = Math.max(Math.floor(inFlight / 2), 2 * this.mss);
    this.backedOff = true;
    this.cwnd = this.mss;
    this.bytesAcked = 0;
  }

  undo(priorCwnd: number, priorSsthresh: number): void {
    undoReduction(this, priorCwnd, priorSsthresh);
    this.bytesAcked = 0;
    this.backedOff = false;
  }

  restartAfterIdle(idleMs: number, rtoMs: number, inReduction: boolean): void {
    cwndRestart(this, this.mss, idleMs, rtoMs, inReduction);
    this.bytesAcked = 0;
  }

  /** Keeps cwnd and ssthresh in segments (Linux counts cwnd in packets). */
  setMss(mss: number): void {
    if (mss <= 0 || mss === this.mss) return;
    this.cwnd = Math.max(mss, Math.round((this.cwnd * mss) / this.mss));
    if (this.ssthresh !== INITIAL_SSTHRESH) {
      this.ssthresh = Math.max(2 * mss, Math.round((this.ssthresh * mss) / this.mss));
    }
    this.bytesAcked = Math.round((this.bytesAcked * mss) / this.mss);
    this.mss = mss;
  }
}
