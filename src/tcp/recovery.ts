/**
 * Loss recovery for the sending half: duplicate-ACK counting and fast
 * retransmit (RFC 5681), NewReno partial-ACK recovery without SACK
 * (RFC 6582, with the RFC 3042 limited transmit), SACK-based recovery with
 * RFC 6675's pipe, IsLost and NextSeg when SACK was negotiated, and the
 * loss state after a retransmission timeout (go-back-N from SND.UNA,
 * skipping what the peer SACKed). The states are named as Linux names its
 * ca_state: open, disorder, recovery, loss; Linux's CWR (an ECN-echo's
 * window reduction, RFC 3168 §6.1.2) is `cwrHigh`, kept beside open and
 * disorder.
 *
 * Byte ranges, not per-segment records: what the peer holds comes from the
 * SackScoreboard (src/tcp/sack.ts); what we retransmitted during one
 * recovery episode is everything unSACKed below HighRxt, because NextSeg
 * retransmits in sequence order. That is RFC 6675's own model.
 *
 * With SACK and TcpOptions.rack (the default), RACK-TLP (RFC 8985, rack.ts)
 * decides what is lost and when recovery starts, replacing the DupThresh
 * rules as Linux does with tcp_recovery = 1; they remain the fallback
 * without SACK (or with rack off).
 *
 * Reductions that prove spurious are undone (undo.ts): by D-SACKs for every
 * retransmission of the episode (tcp_try_undo_dsack), or by a timestamp echo
 * older than the first retransmission — on the ACK ending a recovery
 * (tcp_try_undo_recovery), on a partial ACK of SACK recovery with nothing
 * resent still out (tcp_try_undo_partial), or after a timeout
 * (tcp_try_undo_loss).
 *
 * Not implemented: F-RTO (RFC 5682), partial undo without SACK, and the
 * rescue retransmission (RFC 6675 NextSeg rule 4).
 */
import { currentSsthresh } from './cc/index.js';
import { DUP_THRESH } from './sack.js';
import { seqDiff, seqGeq, seqGt, seqLt, seqMax } from './seq.js';
import type { TcpSender } from './sender.js';
import { CwndUndo } from './undo.js';

export type CaState = 'open' | 'disorder' | 'recovery' | 'loss';

export class LossRecovery {
  state: CaState = 'open';
  dupAcks = 0;
  /** RFC 6675 RecoveryPoint / RFC 6582 "recover": SND.MAX when recovery (or loss) began. */
  recoveryPoint = 0;
  /** RFC 6675 HighRxt: the end of the highest retransmission in this episode. */
  highRxt = 0;
  /** NewReno's cwnd inflation (3 MSS + 1 MSS per further dupack, deflated by partial ACKs). */
  private inflation = 0;
  /** SND.MAX when an ECN-echo reduced the window (Linux's high_seq in TCP_CA_CWR); undefined outside CWR. */
  cwrHigh: number | undefined;
  /** The ACK being processed carries ECE (tcp_enter_recovery's ece_ack: that reduction is not undone). */
  eceAck = false;
  /** This ACK proved a delayed original (tryUndoPartial): the transmit it triggers sends no retransmission. */
  holdRetransmit = false;
  readonly undo: CwndUndo;

  constructor(private readonly s: TcpSender) {
    this.undo = new CwndUndo(s);
  }

  /** The state as `ss` names it: CWR while an ECN reduction runs outside recovery. */
  get caState(): string {
    return this.cwrHigh !== undefined && (this.state === 'open' || this.state === 'disorder') ? 'cwr' : this.state;
  }

  /** Linux's tcp_in_cwnd_reduction: in recovery or CWR. */
  private get inReduction(): boolean {
    return this.state === 'recovery' || this.cwrHigh !== undefined;
  }

  /** The congestion window the sender may fill now, bytes. */
  window(): number {
    const cwnd = this.s.cc.cwnd;
    if (this.inflation !== 0) return Math.max(this.s.c.mss, cwnd + this.inflation);
    return cwnd;
  }

  /** Bytes considered in the network (RFC 6675 pipe; FlightSize without SACK). */
  pipe(): number {
    const s = this.s;
    const una = s.sndUna;
    if (this.state === 'loss') {
      const nxt = seqGt(s.sndNxt, una) ? s.sndNxt : una;
      return seqDiff(nxt, una) - this.sackedBetween(una, nxt);
    }
    const outstanding = seqDiff(s.sndMax, una);
    if (!s.c.sackOk) return outstanding;
    const sacked = s.sack.sackedBytes;
    if (this.state !== 'recovery') return Math.max(0, outstanding - sacked);
    const lostEnd = this.clamp(this.lostBoundary());
    const lost = seqDiff(lostEnd, una) - this.sackedBetween(una, lostEnd);
    const rxtEnd = this.clamp(this.highRxt);
    const retrans = seqDiff(rxtEnd, una) - this.sackedBetween(una, rxtEnd);
    return Math.max(0, outstanding - sacked - lost + retrans);
  }

  private clamp(x: number): number {
    const s = this.s;
    if (seqLt(x, s.sndUna)) return s.sndUna;
    if (seqGt(x, s.sndMax)) return s.sndMax;
    return x;
  }

  /** SACKed bytes inside [a, b). */
  sackedBetween(a: number, b: number): number {
    const sb = this.s.sack;
    let n = 0;
    for (let i = 0; i < sb.count; i++) {
      const l = sb.leftAt(i);
      const r = sb.rightAt(i);
      if (!seqLt(l, b)) break;
      if (!seqGt(r, a)) continue;
      n += seqDiff(seqLt(r, b) ? r : b, seqGt(l, a) ? l : a);
    }
    return n;
  }

  /**
   * Every unSACKed byte below this point is lost by RFC 6675's IsLost (more
   * than (DupThresh−1)·MSS bytes or DupThresh ranges SACKed above it);
   * SND.UNA when nothing is.
   */
  lostBoundary(): number {
    const rack = this.s.rack;
    if (rack.active) return this.clamp(rack.lostEnd);
    const sb = this.s.sack;
    const limit = (DUP_THRESH - 1) * this.s.c.mss;
    let bytes = 0;
    for (let i = sb.count - 1, ranges = 1; i >= 0; i--, ranges++) {
      bytes += seqDiff(sb.rightAt(i), sb.leftAt(i));
      if (bytes > limit || ranges >= DUP_THRESH) return sb.leftAt(i);
    }
    return this.s.sndUna;
  }

  /** The first byte at or after `x` that the peer has not SACKed. */
  firstUnsacked(x: number): number {
    const sb = this.s.sack;
    for (let i = 0; i < sb.count; i++) {
      const l = sb.leftAt(i);
      if (seqGt(l, x)) break;
      const r = sb.rightAt(i);
      if (seqGt(r, x)) x = r;
    }
    return x;
  }

  /** End of the unSACKed gap starting at `x` (the next SACKed byte, or SND.MAX). */
  gapEnd(x: number): number {
    const sb = this.s.sack;
    for (let i = 0; i < sb.count; i++) {
      const l = sb.leftAt(i);
      if (seqGt(l, x)) return seqLt(l, this.s.sndMax) ? l : this.s.sndMax;
    }
    return this.s.sndMax;
  }

  /** NextSeg rule 1: the first lost, not yet retransmitted range, or undefined. */
  nextLost(): number | undefined {
    const s = this.s;
    this.relost = false;
    if (s.rack.active) {
      const r = s.rack.relostRange();
      if (r !== undefined) {
        this.relost = true;
        return r;
      }
    }
    const x = this.firstUnsacked(seqMax(this.highRxt, s.sndUna));
    return seqLt(x, this.lostBoundary()) && seqLt(x, s.sndMax) ? x : undefined;
  }

  /** Whether the last nextLost() answer was a lost retransmission (RACK). */
  private relost = false;

  /** Retransmits the range nextLost() returned at `x`; HighRxt advances unless it was a lost retransmission. */
  retransmitLost(x: number): void {
    const s = this.s;
    if (this.relost) {
      this.relost = false;
      const end = s.rack.relostEndSeq;
      const gap = this.gapEnd(x);
      s.retransmitAt(x, seqLt(end, gap) ? end : gap);
      return;
    }
    this.highRxt = s.retransmitAt(x, this.gapEnd(x));
  }

  /** NextSeg rule 3: the first unSACKed, not yet retransmitted byte below SND.MAX, or undefined. */
  nextUnsacked(): number | undefined {
    const s = this.s;
    const x = this.firstUnsacked(seqMax(this.highRxt, s.sndUna));
    return seqLt(x, s.sndMax) ? x : undefined;
  }

  /** A duplicate ACK arrived (RFC 5681 definition, or one carrying new SACK information). */
  onDupAck(): void {
    const s = this.s;
    this.dupAcks++;
    if (this.state === 'recovery') {
      if (!s.c.sackOk) this.inflation += s.c.mss;
      return;
    }
    if (this.state === 'loss') return;
    if (s.rack.active) {
      // RACK decides when recovery starts (rack.ts, after this ACK).
      this.state = 'disorder';
      return;
    }
    const lost = s.c.sackOk && seqGt(this.lostBoundary(), s.sndUna);
    if (this.dupAcks >= DUP_THRESH || lost) {
      this.enterRecovery();
      return;
    }
    this.state = 'disorder';
    // RFC 3042 limited transmit: one new segment for each of the first two dupacks.
    if (!s.c.sackOk) this.inflation = Math.min(this.dupAcks, 2) * s.c.mss;
  }

  enterRecovery(): void {
    const s = this.s;
    const stats = s.c.host.stats;
    const now = s.c.host.clock.now();
    // tcp_enter_recovery: one reduction per window — none if an ECN-echo already made it (CWR),
    // and an ECN-echoed loss is not undone (prior_ssthresh stays 0).
    const reduce = this.cwrHigh === undefined;
    this.undo.init(reduce && !this.eceAck ? currentSsthresh(s.cc, false) : 0);
    this.state = 'recovery';
    this.recoveryPoint = s.sndMax;
    this.highRxt = s.sndUna;
    this.cwrHigh = undefined;
    if (reduce) {
      s.cc.onCongestion(now, seqDiff(s.sndMax, s.sndUna));
      s.c.queueCwr();
    }
    stats.fastRetransmits++;
    if (s.c.sackOk) {
      stats.sackRecoveries++;
      this.inflation = 0;
    } else {
      stats.renoRecoveries++;
      this.inflation = 3 * s.c.mss;
    }
    // RFC 6675 §5 step 4.3 / RFC 5681: retransmit the first unacknowledged segment now.
    const end = s.retransmitAt(s.sndUna, s.c.sackOk ? this.gapEnd(s.sndUna) : s.sndMax);
    this.highRxt = end;
  }

  /**
   * An ACK advanced SND.UNA by `acked` bytes (called after the sender moved
   * SND.UNA); `tsEcr` is its timestamp echo when it carried a usable one.
   */
  onNewAck(acked: number, rttMs: number | undefined, cwndLimited: boolean, tsEcr: number | undefined): void {
    const s = this.s;
    const now = s.c.host.clock.now();
    this.dupAcks = 0;
    switch (this.state) {
      case 'recovery':
        if (seqGeq(s.sndUna, this.recoveryPoint)) {
          this.state = 'open';
          this.inflation = 0;
          if (this.undo.mayUndo(tsEcr)) {
            // tcp_try_undo_recovery: the whole episode was spurious — the window comes back
            // instead of deflating to the reduced ssthresh (TCPFullUndo).
            this.undo.undo();
            s.c.host.stats.undoRecovery++;
          } else {
            s.cc.onRecoveryExit(now);
            s.rack.onRecoveryExit();
          }
          return;
        }
        if (s.c.sackOk) {
          if (seqLt(this.highRxt, s.sndUna)) this.highRxt = s.sndUna;
          if (this.undo.active && this.undo.packetDelayed(tsEcr)) this.tryUndoPartial();
          return;
        }
        // RFC 6582 §3.2 step 5: partial ACK — retransmit the next hole, deflate, add back one MSS.
        this.inflation -= acked;
        if (acked >= s.c.mss) this.inflation += s.c.mss;
        this.highRxt = s.retransmitAt(s.sndUna, s.sndMax);
        return;
      case 'loss':
        if (this.undo.mayUndo(tsEcr)) {
          // tcp_try_undo_loss: the timeout was spurious (the original arrived, or every resent
          // segment came back D-SACKed). The window comes back and go-back-N stops: what is
          // really missing, RACK or the dupack rules find again (TCPLossUndo).
          this.undo.undo();
          s.c.host.stats.undoLoss++;
          this.state = s.c.sackOk && s.sack.sackedBytes > 0 ? 'disorder' : 'open';
          s.sndNxt = s.sndMax;
          return;
        }
        if (cwndLimited) s.cc.onAck(acked, now, rttMs, seqDiff(s.sndMax, s.sndUna));
        if (seqGeq(s.sndUna, this.recoveryPoint)) this.state = 'open';
        return;
      default:
        this.inflation = 0;
        if (this.cwrHigh !== undefined) {
          // Linux ends CWR once something above high_seq is ACKed (so the CWR flag got there):
          // tcp_end_cwnd_reduction, cwnd = ssthresh. The window does not grow meanwhile.
          if (seqGt(s.sndUna, this.cwrHigh)) {
            this.cwrHigh = undefined;
            s.cc.onRecoveryExit(now);
          }
        } else if (cwndLimited) {
          s.cc.onAck(acked, now, rttMs, seqDiff(s.sndMax, s.sndUna));
        }
        this.state = s.c.sackOk && s.sack.sackedBytes > 0 ? 'disorder' : 'open';
    }
  }

  /**
   * A partial ACK in SACK recovery echoing a TSval older than our first
   * retransmission: a delayed original filled the hole, so the loss marks
   * were reordering (Linux's tcp_try_undo_partial). With retransmissions
   * still out, this ACK sends no more of them (only new data, as Linux
   * returning early from tcp_fastretrans_alert); with none out, the
   * reduction is undone and the loss marks cleared (TCPPartialUndo).
   */
  private tryUndoPartial(): void {
    const s = this.s;
    const rxtEnd = this.clamp(this.highRxt);
    if (seqDiff(rxtEnd, s.sndUna) - this.sackedBetween(s.sndUna, rxtEnd) > 0 || s.rack.relostPending) {
      this.holdRetransmit = true;
      return;
    }
    this.undo.undo();
    s.c.host.stats.undoPartial++;
    this.state = s.sack.sackedBytes > 0 ? 'disorder' : 'open';
    this.inflation = 0;
    s.rack.unmarkLost();
  }

  /**
   * After an ACK's D-SACK and state processing: Linux's tcp_try_undo_dsack
   * (open, disorder, recovery) — every retransmission of the episode came
   * back D-SACKed, so it was all reordering: restore the window. A recovery
   * under way ends; if loss is still evident (marked lost, not resent), a new
   * one starts at once, as tcp_fastretrans_alert does after the undo.
   */
  tryUndoDsack(): void {
    if (!this.undo.allDsacked || this.state === 'loss') return;
    const s = this.s;
    this.undo.undo();
    s.c.host.stats.undoDsack++;
    s.rack.onDsackUndo();
    if (this.state !== 'recovery') return;
    this.state = s.c.sackOk && s.sack.sackedBytes > 0 ? 'disorder' : 'open';
    this.inflation = 0;
    if (s.c.sackOk && this.nextLost() !== undefined) this.enterRecovery();
  }

  /**
   * An ACK with ECE on an ECN connection (RFC 3168 §6.1.2, Linux's
   * tcp_try_to_open → tcp_enter_cwr): reduce as for a loss, at most once per
   * window of data — not again in CWR, recovery or loss — and send CWR with
   * the next new data. Not undoable (the mark is no false alarm).
   */
  onEce(): void {
    const s = this.s;
    if (this.state !== 'open' && this.state !== 'disorder') return;
    if (this.cwrHigh !== undefined) return;
    this.undo.clear();
    s.cc.onCongestion(s.c.host.clock.now(), seqDiff(s.sndMax, s.sndUna));
    this.cwrHigh = s.sndMax;
    s.c.queueCwr();
    s.c.host.stats.ecnCwndReductions++;
  }

  /** The retransmission timer expired: RFC 5681 §3.1 / RFC 6675 §5.1 — everything outstanding is lost. */
  onRetransmitTimeout(first: boolean): void {
    const s = this.s;
    const now = s.c.host.clock.now();
    // tcp_enter_loss remembers the window for an undo only if no reduction was made in this window
    // already: from open/disorder, after the last episode's data was all ACKed, or on a first timeout
    // in loss. Otherwise the running episode's undo information stands.
    const st = this.state;
    const high = this.cwrHigh ?? this.recoveryPoint;
    if (((st === 'open' || st === 'disorder') && this.cwrHigh === undefined) || !seqGt(high, s.sndUna) || (st === 'loss' && first)) {
      this.undo.init(currentSsthresh(s.cc, this.inReduction));
    }
    if (first || this.state !== 'loss') s.cc.onRetransmitTimeout(now, seqDiff(s.sndMax, s.sndUna));
    else s.cc.cwnd = s.c.mss;
    s.c.queueCwr();
    this.cwrHigh = undefined;
    this.state = 'loss';
    this.recoveryPoint = s.sndMax;
    this.highRxt = s.sndUna;
    this.dupAcks = 0;
    this.inflation = 0;
    s.rack.onRto();
  }

  /** The path MTU shrank: resend what was sent with the old size, without a congestion response (Linux's tcp_simple_retransmit). */
  onMtuReduced(): void {
    const s = this.s;
    if (this.state !== 'loss') {
      this.state = 'loss';
      this.recoveryPoint = s.sndMax;
    }
    this.highRxt = s.sndUna;
    this.inflation = 0;
  }
}
