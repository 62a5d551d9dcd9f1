/**
 * CUBIC congestion control (RFC 9438), without HyStart.
 *
 * Windows are kept in bytes in `cwnd`/`ssthresh`; the cubic function works in
 * segments and seconds as the RFC writes it (C = 0.4 segments/s^3). Time comes
 * only from the `now` arguments (ms).
 *
 * - Slow start (cwnd < ssthresh) is Reno's with ABC L = 2 (RFC 3465).
 * - Congestion avoidance (§4.2–4.5): a CA epoch begins at the first ACK in
 *   congestion avoidance after a reduction (or after slow start). At the epoch
 *   start: cwnd_epoch = cwnd, W_est = cwnd_epoch and
 *   K = cbrt((W_max - cwnd_epoch) / C); when cwnd_epoch >= W_max (no loss
 *   yet, or after an RTO, §4.8) K = 0 and W_max = cwnd_epoch.
 *   Per ACK: target = clamp(W_cubic(t + RTT), cwnd, 1.5*cwnd) where t is the
 *   time since the epoch start and RTT the smoothed RTT of the `rttMs`
 *   samples seen; W_est += alpha_cubic * segments_acked / cwnd; if
 *   W_cubic(t) < W_est the Reno-friendly region applies and cwnd = W_est,
 *   otherwise cwnd += (target - cwnd) / cwnd per acked segment.
 * - Congestion (§4.6, §4.7): fast convergence W_max = cwnd*(1+beta)/2 when
 *   cwnd < W_max, else W_max = cwnd; ssthresh = max(FlightSize*beta, 2*MSS),
 *   cwnd = ssthresh. The caller's recovery duties are as for NewReno
 *   (see newreno.ts): inflation/pipe, then `onRecoveryExit` (cwnd = ssthresh).
 * - RTO (§4.8): ssthresh = max(FlightSize*beta, 2*MSS), cwnd = 1 MSS, epoch
 *   reset; the next CA epoch uses K = 0 and W_max = cwnd_epoch. Repeated RTOs
 *   without new data acknowledged keep ssthresh.
 * - No cwnd-validation (RFC 7661) here: the window grows on every `onAck`;
 *   a caller that wants to hold cwnd while application-limited should skip
 *   `onAck` for those ACKs.
 */
import { INITIAL_SSTHRESH, cwndRestart, initialWindow, slowStart, undoReduction, type CongestionControl } from './types.js';

export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** alpha_cubic = 3 * (1 - beta) / (1 + beta) (RFC 9438 §4.3). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438 Figure 2: K = cbrt((W_max - cwnd_epoch) / C), segments → seconds. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return Math.cbrt((wMax - cwndEpoch) / CUBIC_C);
}

/** RFC 9438 Figure 1: W_cubic(t) = C * (t - K)^3 + W_max (segments, seconds). */
export function cubicW(t: number, k: number, wMax: number): number {
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

export class Cubic implements CongestionControl {
  readonly name = 'cubic' as const;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  /** Fast convergence (RFC 9438 §4.7), on by default like Linux. */
  fastConvergence = true;

  private mss: number;
  /** W_max in segments; 0 = no congestion event yet. */
  private wMaxSeg = 0;
  /** cwnd (segments) just before the last reduction: cwnd_prior. */
  private cwndPriorSeg = 0;
  /** Epoch start (ms), undefined = a new epoch starts at the next CA ACK. */
  private epochStart: number | undefined = undefined;
  private kSec = 0;
  /** W_max used by the current epoch's cubic function (segments). */
  private epochWMax = 0;
  private wEstSeg = 0;
  /** Smoothed RTT (ms) from the samples passed to onAck, 0 when none yet. */
  private srttMs = 0;
  /** Sub-byte growth carried between ACKs. */
  private frac = 0;
  private backedOff = false;
  /** Set by an RTO: the next epoch uses K = 0, W_max = cwnd_epoch (§4.8). */
  private afterTimeout = false;

  constructor(mss: number) {
    this.mss = mss;
    this.cwnd = initialWindow(mss);
  }

  private cwndEpochSeg = 0;

  /** W_max (segments) as set by the last congestion event (after fast convergence). */
  get wMax(): number {
    return this.wMaxSeg;
  }

  /** Diagnostics of the current CA epoch (segments, seconds, ms). */
  get epoch(): { start: number | undefined; k: number; wMax: number; cwndEpoch: number; wEst: number } {
    return { start: this.epochStart, k: this.kSec, wMax: this.epochWMax, cwndEpoch: this.cwndEpochSeg, wEst: this.wEstSeg };
  }

  onAck(acked: number, now: number, rttMs: number | undefined, _inFlight: number): void {
    if (rttMs !== undefined && rttMs >= 0 && Number.isFinite(rttMs)) {
      this.srttMs = this.srttMs === 0 ? rttMs : this.srttMs + (rttMs - this.srttMs) / 8;
    }
    if (acked <= 0) return;
    this.backedOff = false;
    // Slow start; whatever the ACK covers past ssthresh counts toward congestion avoidance.
    const rest = slowStart(this, acked, this.mss);
    if (rest === 0) return;
    this.congestionAvoidance(rest, now);
  }

  private congestionAvoidance(acked: number, now: number): void {
    const mss = this.mss;
    let cwndSeg = this.cwnd / mss;
    if (this.epochStart === undefined) {
      this.epochStart = now;
      this.cwndEpochSeg = cwndSeg;
      this.wEstSeg = cwndSeg;
      if (this.afterTimeout || this.wMaxSeg <= cwndSeg) {
        this.kSec = 0;
        this.epochWMax = cwndSeg;
      } else {
        this.kSec = cubicK(this.wMaxSeg, cwndSeg);
        this.epochWMax = this.wMaxSeg;
      }
      this.afterTimeout = false;
      this.frac = 0;
    }
    const t = (now - this.epochStart) / 1000;
    const segsAcked = acked / mss;

    // Reno-friendly estimate (§4.3).
    const alpha = this.cwndPriorSeg > 0 && this.wEstSeg < this.cwndPriorSeg ? CUBIC_ALPHA : 1;
    this.wEstSeg += (alpha * segsAcked) / cwndSeg;

    const wCubicT = cubicW(t, this.kSec, this.epochWMax);
    if (wCubicT < this.wEstSeg) {
      // Reno-friendly region (§4.3): cwnd = W_est.
      const est = Math.floor(this.wEstSeg * mss);
      if (est > this.cwnd) this.cwnd = est;
      return;
    }
    // Concave / convex regions (§4.4, §4.5).
    let target = cubicW(t + this.srttMs / 1000, this.kSec, this.epochWMax);
    if (target < cwndSeg) target = cwndSeg;
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
    this.frac += ((target - cwndSeg) / cwndSeg) * acked;
    if (this.frac >= 1) {
      const whole = Math.floor(this.frac);
      this.cwnd += whole;
      this.frac -= whole;
      cwndSeg = this.cwnd / mss;
    }
  }

  onCongestion(_now: number, inFlight: number): void {
    const cwndSeg = this.cwnd / this.mss;
    this.cwndPriorSeg = cwndSeg;
    if (this.fastConvergence && cwndSeg < this.wMaxSeg) {
      this.wMaxSeg = (cwndSeg * (1 + CUBIC_BETA)) / 2;
    } else {
      this.wMaxSeg = cwndSeg;
    }
    this.ssthresh = Math.max(Math.floor(inFlight * CUBIC_BETA), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.epochStart = undefined;
    this.frac = 0;
  }

  onRecoveryExit(_now: number): void {
    this.cwnd = this.ssthresh;
    this.epochStart = undefined;
    this.frac = 0;
  }

  onRetransmitTimeout(_now: number, inFlight: number): void {
    if (!this.backedOff) {
      this.cwndPriorSeg = this.cwnd / this.mss;
      this.ssthresh = Math.max(Math.floor(inFlight * CUBIC_BETA), 2 * this.mss);
    }
    this.backedOff = true;
    this.cwnd = this.mss;
    this.epochStart = undefined;
    this.afterTimeout = true;
    this.frac = 0;
  }

  /**
   * A reduction proved spurious: cwnd and ssthresh back (tcp_reno_undo_cwnd,
   * which Linux's CUBIC uses). W_max keeps its reduced value as in Linux; the
   * next CA epoch starts from the restored cwnd (K = 0 when cwnd ≥ W_max).
   */
  undo(priorCwnd: number, priorSsthresh: number): void {
    undoReduction(this, priorCwnd, priorSsthresh);
    this.epochStart = undefined;
    this.frac = 0;
    this.backedOff = false;
    this.afterTimeout = false;
  }

  /** Restart after idle (tcp_cwnd_restart); the cubic epoch starts afresh from the restarted window. */
  restartAfterIdle(idleMs: number, rtoMs: number, inReduction: boolean): void {
    cwndRestart(this, this.mss, idleMs, rtoMs, inReduction);
    this.epochStart = undefined;
    this.frac = 0;
  }

  /** Keeps cwnd and ssthresh in segments (Linux counts cwnd in packets). */
  setMss(mss: number): void {
    if (mss <= 0 || mss === this.mss) return;
    this.cwnd = Math.max(mss, Math.round((this.cwnd * mss) / this.mss));
    if (this.ssthresh !== INITIAL_SSTHRESH) {
      this.ssthresh = Math.max(2 * mss, Math.round((this.ssthresh * mss) / this.mss));
    }
    this.mss = mss;
  }
}
