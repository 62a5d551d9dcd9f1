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
 * - A reduction found spurious (D-SACK, Eifel): `undo(priorCwnd, priorSsthresh)`
 *   with the values saved before it (recovery.ts's undo bookkeeping).
 * - New data after an idle period: `restartAfterIdle(idleMs, rtoMs, inReduction)`.
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
  /** A reduction proved spurious: back to at least the window and threshold saved before it. */
  undo(priorCwnd: number, priorSsthresh: number): void;
  /** New data after `idleMs` with nothing in flight (more than one RTO): cwnd restarts (see cwndRestart). */
  restartAfterIdle(idleMs: number, rtoMs: number, inReduction: boolean): void;
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

/**
 * Linux's tcp_current_ssthresh: the threshold worth remembering before a
 * change — ssthresh itself during a window reduction, otherwise at least 3/4
 * of cwnd (the window is known to have worked).
 */
export function currentSsthresh(cc: { cwnd: number; ssthresh: number }, inReduction: boolean): number {
  if (inReduction) return cc.ssthresh;
  return Math.max(cc.ssthresh, Math.floor((cc.cwnd * 3) / 4));
}

/**
 * Undo of a spurious reduction, as Linux's tcp_undo_cwnd_reduction with
 * tcp_reno_undo_cwnd (CUBIC uses it too): cwnd = max(cwnd, prior cwnd),
 * ssthresh = max(ssthresh, prior ssthresh). A prior ssthresh of 0 means the
 * reduction was not to be undone (an ECN response: tcp_enter_cwr clears it).
 */
export function undoReduction(cc: { cwnd: number; ssthresh: number }, priorCwnd: number, priorSsthresh: number): void {
  if (priorSsthresh === 0) return;
  if (priorCwnd > cc.cwnd) cc.cwnd = priorCwnd;
  if (priorSsthresh > cc.ssthresh) cc.ssthresh = priorSsthresh;
}

/**
 * Restart after idle, as Linux's tcp_cwnd_restart (RFC 7661 §4.1, RFC 5681
 * §4.1's restart window): ssthresh keeps what the old window proved
 * (tcp_current_ssthresh), cwnd halves ⌈idle / RTO⌉ − 1 times, never below
 * the restart window min(initial window, cwnd).
 */
export function cwndRestart(cc: { cwnd: number; ssthresh: number }, mss: number, idleMs: number, rtoMs: number, inReduction: boolean): void {
  const restart = Math.min(initialWindow(mss), cc.cwnd);
  cc.ssthresh = currentSsthresh(cc, inReduction);
  let segs = Math.floor(cc.cwnd / mss);
  const restartSegs = Math.floor(restart / mss);
  let delta = idleMs;
  // Linux counts cwnd in packets: `while ((delta -= rto) > 0 && cwnd > restart_cwnd) cwnd >>= 1`.
  while ((delta -= rtoMs) > 0 && segs > restartSegs) segs >>= 1;
  cc.cwnd = Math.max(segs * mss, restart);
}
