/**
 * Congestion-control interface shared by NewReno (RFC 5681/6582/3465) and
 * CUBIC (RFC 9438). All quantities are bytes; time is milliseconds taken from
 * the `now` arguments only (no wall clock).
 *
 * Caller responsibilities (the TCP core):
 * - `onAck` only for ACKs that advance snd.una while NOT in fast recovery.
 * - On entering fast recovery call `onCongestion(now, inFlight)`; it sets
 *   ssthresh and cwnd = ssthresh. RFC 5681's "+3 MSS" inflation and the
 *   +1 MSS per further duplicate ACK (or RFC 6675 pipe-based sending) are the
 *   caller's business: keep a separate inflation or use pipe, never write
 *   cwnd beyond what these methods set, except when handling partial ACKs
 *   (RFC 6582: deflate by acked, add back MSS) if the caller wants that.
 * - On leaving recovery (full ACK) call `onRecoveryExit(now)`: cwnd = ssthresh.
 * - On RTO call `onRetransmitTimeout(now, inFlight)`: ssthresh from flight,
 *   cwnd = 1 MSS (loss window, RFC 5681 §3.1).
 */
export type CongestionControlName = 'newreno' | 'cubic';

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh: number;
  /** Newly acked bytes outside recovery. rttMs: a fresh RTT sample if any. */
  onAck(acked: number, now: number, rttMs: number | undefined, inFlight: number): void;
  /** Entering fast recovery: multiplicative decrease, cwnd = ssthresh. */
  onCongestion(now: number, inFlight: number): void;
  /** Leaving fast recovery: cwnd = ssthresh (deflate). */
  onRecoveryExit(now: number): void;
  /** Retransmission timeout: ssthresh from flight, cwnd = 1 MSS. */
  onRetransmitTimeout(now: number, inFlight: number): void;
  setMss(mss: number): void;
}

/** RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** Initial ssthresh: "arbitrarily high" (RFC 5681 §3.1). */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** RFC 3465 limit L in slow start, in segments. */
const ABC_L = 2;

/**
 * Slow start with appropriate byte counting (RFC 5681 + RFC 3465, L = 2),
 * shared by NewReno and CUBIC: cwnd += min(acked, L*SMSS), never past
 * ssthresh. Returns the part of `acked` left for congestion avoidance (0
 * while still in slow start).
 */
export function slowStart(cc: { cwnd: number; readonly ssthresh: number }, acked: number, mss: number): number {
  if (cc.cwnd >= cc.ssthresh) return acked;
  const room = cc.ssthresh - cc.cwnd;
  const inc = Math.min(acked, ABC_L * mss, room);
  cc.cwnd += inc;
  return inc === room ? acked - inc : 0;
}
