/**
 * Undo of congestion-window reductions that proved spurious (RFC 3708's
 * D-SACK detection, RFC 3522's Eifel detection, RFC 8985 §7.3's hint), as
 * Linux keeps it in tcp_sock: before a fast recovery or a timeout reduces the
 * window, the window and threshold are remembered (prior_cwnd,
 * prior_ssthresh) with SND.UNA as the episode's start (undo_marker); every
 * retransmission of the episode is counted (undo_retrans) and the first one's
 * TSval kept (retrans_stamp).
 *
 * The reduction is undone (tcp_undo_cwnd_reduction: cwnd and ssthresh back to
 * at least their prior values) when
 *   - each retransmission was answered by a D-SACK, i.e. the receiver already
 *     had every byte we sent twice (tcp_try_undo_dsack; the count reaches 0);
 *   - or an ACK echoes a TSval older than the first retransmission, so the
 *     original transmission got there (tcp_packet_delayed): the ACK ending
 *     the episode (tcp_try_undo_recovery), a partial ACK of SACK recovery
 *     with no retransmission still out (tcp_try_undo_partial), an ACK after
 *     a timeout (tcp_try_undo_loss). recovery.ts makes those calls.
 * F-RTO (RFC 5682) is not done: a timeout is undone only by the above.
 *
 * The marker stays after the episode ends, as in Linux: the D-SACK for a
 * spurious fast retransmission usually arrives one round trip after the
 * reordered original already ended the recovery, and still undoes it. An ECN
 * reduction clears it (tcp_enter_cwr: a CE mark is no spurious signal).
 */
import { seqDiff, seqGt, seqLt } from './seq.js';
import type { TcpSender } from './sender.js';

/** Retransmitted ranges of one episode remembered exactly; past this, D-SACKs are matched by range only. */
const MAX_RANGES = 64;

export class CwndUndo {
  /** A reduction may still be undone (Linux: undo_marker != 0). */
  active = false;
  /** SND.UNA when the episode began (undo_marker). */
  marker = 0;
  /** Retransmissions of the episode not yet D-SACKed; -1 before the first (undo_retrans). */
  retrans = -1;
  /** TSval of the episode's first retransmission (retrans_stamp); undefined before it. */
  retransStamp: number | undefined;
  /** End of the highest range retransmitted in the episode. */
  private rtxHigh = 0;
  /**
   * The episode's retransmitted ranges not yet D-SACKed (Linux marks the skb
   * TCPCB_RETRANS; tcp_sacktag_one counts a D-SACK only on such one), so a
   * duplicate the network made is not taken for a spurious retransmission.
   * Allocated at the first retransmission.
   */
  private starts: Float64Array | null = null;
  private ends: Float64Array | null = null;
  private ranges = 0;
  /** More retransmissions than MAX_RANGES: unmatched D-SACKs fall back to Linux's range rule. */
  private overflow = false;
  /** cwnd and ssthresh before the reduction; priorSsthresh 0: nothing to restore (prior_ssthresh = 0). */
  priorCwnd = 0;
  priorSsthresh = 0;

  constructor(private readonly s: TcpSender) {}

  /**
   * A reduction begins (tcp_init_undo with tcp_init_cwnd_reduction's
   * prior_cwnd and tcp_enter_recovery's prior_ssthresh): `priorSsthresh` is
   * tcp_current_ssthresh's value, or 0 when the reduction must stand (an
   * ECN-echo or a reduction already under way in this window).
   */
  init(priorSsthresh: number): void {
    const s = this.s;
    this.active = true;
    this.marker = s.sndUna;
    this.retrans = -1;
    this.retransStamp = undefined;
    this.rtxHigh = s.sndUna;
    this.ranges = 0;
    this.overflow = false;
    this.priorCwnd = s.cc.cwnd;
    this.priorSsthresh = priorSsthresh;
  }

  clear(): void {
    this.active = false;
  }

  /** [seq, end) was sent again (tcp_retransmit_skb's undo_retrans and retrans_stamp). */
  onRetransmit(seq: number, end: number): void {
    if (!this.active) return;
    const c = this.s.c;
    if (this.retrans < 0) this.retrans = 0;
    this.retrans++;
    if (this.retransStamp === undefined && c.tsOk) this.retransStamp = c.tsNow();
    if (seqGt(end, this.rtxHigh)) this.rtxHigh = end;
    if (this.ranges === MAX_RANGES) {
      this.overflow = true;
      return;
    }
    this.starts ??= new Float64Array(MAX_RANGES);
    this.ends ??= new Float64Array(MAX_RANGES);
    this.starts[this.ranges] = seq;
    this.ends[this.ranges] = end;
    this.ranges++;
  }

  /**
   * A D-SACK for [left, right): the receiver got those bytes twice. Each
   * retransmission of the episode it covers is counted off once; one that
   * covers none is a duplicate the network made and counts nothing — unless
   * more retransmissions were made than remembered, where, as Linux's
   * tcp_check_dsack "dumb counting", a D-SACK reaching above the episode's
   * start counts its segments.
   */
  onDsack(left: number, right: number): void {
    if (!this.active || this.retrans <= 0) return;
    let matched = 0;
    const st = this.starts;
    const en = this.ends;
    if (st !== null && en !== null) {
      for (let i = 0; i < this.ranges; ) {
        if (seqLt(left, en[i]!) && seqLt(st[i]!, right)) {
          matched++;
          this.ranges--;
          st[i] = st[this.ranges]!;
          en[i] = en[this.ranges]!;
        } else {
          i++;
        }
      }
    }
    if (matched === 0 && this.overflow && seqGt(right, this.marker) && seqLt(left, this.rtxHigh)) {
      matched = Math.max(1, Math.ceil(seqDiff(right, left) / this.s.c.mss));
    }
    this.retrans = Math.max(0, this.retrans - matched);
  }

  /**
   * Linux's tcp_packet_delayed: the ACK echoes a TSval older than our first
   * retransmission, so what it acknowledges is the original transmission
   * (RFC 7323 §4.3: the receiver's TS.Recent follows the segment that
   * advanced RCV.NXT). `tsEcr` undefined: the ACK carried no usable echo.
   */
  packetDelayed(tsEcr: number | undefined): boolean {
    return this.retransStamp !== undefined && tsEcr !== undefined && seqLt(tsEcr, this.retransStamp);
  }

  /** Linux's tcp_may_undo: every retransmission D-SACKed, or the original proved delivered. */
  mayUndo(tsEcr: number | undefined): boolean {
    return this.active && (this.retrans === 0 || this.packetDelayed(tsEcr));
  }

  /** Every retransmission of the episode was D-SACKed (tcp_try_undo_dsack's condition). */
  get allDsacked(): boolean {
    return this.active && this.retrans === 0;
  }

  /** tcp_undo_cwnd_reduction: cwnd and ssthresh back; the marker is spent. */
  undo(): void {
    this.s.cc.undo(this.priorCwnd, this.priorSsthresh);
    this.active = false;
    this.retransStamp = undefined;
  }
}
