/**
 * RACK-TLP (RFC 8985): time-based loss detection and tail loss probes, as
 * Linux runs them with net.ipv4.tcp_recovery = 1. Active only when SACK was
 * negotiated and TcpOptions.rack is on; without SACK the dupack rules of
 * recovery.ts apply.
 *
 * Per-transmission bookkeeping: every data transmission (new or
 * retransmitted) appends a record [seq, end) with its transmit time to a
 * ring kept in send-time order (Linux's tsorted list); a retransmission
 * supersedes the older record of the same bytes. Records leave the ring when
 * delivered (cumulatively ACKed or SACKed), which is when RACK.xmit_ts,
 * RACK.end_seq and RACK.rtt advance. Storage is typed arrays grown by
 * doubling: nothing is allocated per segment.
 *
 * Loss marking feeds recovery.ts's byte-range model: an original
 * transmission found lost raises `lostEnd` (every unSACKed byte below it is
 * lost, RFC 6675's IsLost replaced), and a lost retransmission is flagged in
 * its record so NextSeg sends it again.
 */
import { Timer } from '../time/index.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import type { TcpSender } from './sender.js';

const F_RETRANS = 1;
const F_LOST = 2;
const F_DEAD = 4;
/** RFC 8985 WCDelAckT: the worst-case delayed-ACK time added to the PTO when one segment is in flight. */
const WC_DEL_ACK_MS = 200;
const MIN_PTO_MS = 10;
/** Recoveries a D-SACK-widened reordering window persists (RFC 8985 §6.2 step 4). */
const REO_WND_PERSIST = 16;
const MAX_REO_WND_MULT = 0xff;
/** One jiffy at HZ = 1000, Linux's floor for a zero RTT sample. */
const JIFFY_MS = 1;

/**
 * The records start empty and are allocated on the first transmission: an
 * idle connection (most of 100,000) then carries none of the ~2.3 KB that
 * 64 records take.
 */
const NO_F64 = new Float64Array(0);
const NO_U8 = new Uint8Array(0);
const FIRST_CAPACITY = 16;

export class Rack {
  // ---- per-transmission records (ring, send-time order) ----
  private seqs = NO_F64;
  private ends = NO_F64;
  private times = NO_F64;
  private flags = NO_U8;
  /** Transmission order: the tie-break between segments sent in the same clock tick (RACK_sent_after). */
  private orders = NO_F64;
  private txCount = 0;
  private head = 0;
  private n = 0;

  // ---- RFC 8985 state ----
  /** RACK.xmit_ts / RACK.end_seq of the most recently sent segment known delivered; -1 before any. */
  xmitTs = -1;
  endSeq = 0;
  private xmitOrder = -1;
  /** RACK.rtt (ms). */
  rtt = 0;
  minRtt = Infinity;
  reordSeen = false;
  reoWndMult = 1;
  private reoWndPersist = 0;
  /** RACK.dsack_round: the next D-SACK may widen the window only once SND.UNA passes this. */
  private dsackRound: number | undefined;
  /** Highest end of a delivered segment (RACK's FACK), for detecting reordering. */
  private fack: number | undefined;
  /** Every unSACKed byte below this is lost (original transmissions RACK marked). */
  lostEnd = 0;
  /** Lost retransmissions waiting to be sent again. */
  private relost = 0;
  /** TLP episode: TLP.end_seq, or undefined when none. */
  tlpEnd: number | undefined;
  private tlpRetrans = false;
  private ptoDue = false;
  /** Counters: probes sent, segments RACK marked lost. */
  probes = 0;
  marked = 0;

  private reoTimer: Timer | null = null;
  private ptoTimer: Timer | null = null;

  constructor(private readonly s: TcpSender) {}

  /** RACK runs on this connection (option on and SACK negotiated). */
  get active(): boolean {
    return this.s.c.sackOk && this.s.c.host.opts.rack;
  }

  // ---- transmissions ----

  /** A data range [seq, end) left now (FIN included in `end`). */
  onTransmit(seq: number, end: number, retransmit: boolean): void {
    if (!this.active || seq === end) return;
    const now = this.s.c.host.clock.now();
    if (retransmit) this.supersede(seq, end);
    else this.ptoDue = true;
    if (this.n === this.seqs.length) this.grow();
    const cap = this.seqs.length;
    const i = (this.head + this.n) & (cap - 1);
    this.seqs[i] = seq;
    this.ends[i] = end;
    this.times[i] = now;
    this.flags[i] = retransmit ? F_RETRANS : 0;
    this.orders[i] = this.txCount++;
    this.n++;
  }

  /** Older records of bytes sent again are no longer in the network as far as RACK cares. */
  private supersede(seq: number, end: number): void {
    const mask = this.seqs.length - 1;
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & mask;
      const f = this.flags[i]!;
      if (f & F_DEAD) continue;
      const a = this.seqs[i]!;
      const b = this.ends[i]!;
      if (!seqLt(seq, b) || !seqLt(a, end)) continue;
      if (seqLeq(seq, a) && seqGeq(end, b)) {
        if (f & F_LOST && f & F_RETRANS) this.relost--;
        this.flags[i] = f | F_DEAD;
      } else if (seqLeq(seq, a)) {
        this.seqs[i] = end; // the tail of the old record is still the old transmission
      } else {
        this.ends[i] = seq;
      }
    }
  }

  private grow(): void {
    const cap = this.seqs.length;
    const next = cap === 0 ? FIRST_CAPACITY : cap * 2;
    const seqs = new Float64Array(next);
    const ends = new Float64Array(next);
    const times = new Float64Array(next);
    const flags = new Uint8Array(next);
    const orders = new Float64Array(next);
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & (cap - 1);
      seqs[k] = this.seqs[i]!;
      ends[k] = this.ends[i]!;
      times[k] = this.times[i]!;
      flags[k] = this.flags[i]!;
      orders[k] = this.orders[i]!;
    }
    this.seqs = seqs;
    this.ends = ends;
    this.times = times;
    this.flags = flags;
    this.orders = orders;
    this.head = 0;
  }

  // ---- ACK processing ----

  /**
   * After the sender processed an ACK (SND.UNA moved, scoreboard updated):
   * RACK's delivered-segment state, the reordering window, TLP episode
   * accounting, loss detection, and recovery entry.
   */
  onAck(ack: number, acked: number, dsack: boolean, tsEcr: number | undefined): void {
    if (!this.active) return;
    const s = this.s;
    const now = s.c.host.clock.now();
    if (acked > 0 || s.sack.sackedBytes > 0) this.updateDelivered(now, tsEcr);
    if (dsack) this.onDsack();
    if (acked > 0) this.ptoDue = true;
    this.tlpAck(ack, acked, dsack, now);
    this.detectAndRecover(now);
  }

  private updateDelivered(now: number, tsEcr: number | undefined): void {
    const s = this.s;
    const una = s.sndUna;
    const sb = s.sack;
    const mask = this.seqs.length - 1;
    const prevFack = this.fack;
    const scan = sb.count > 0;
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & mask;
      const f = this.flags[i]!;
      if (f & F_DEAD) continue;
      const a = this.seqs[i]!;
      const b = this.ends[i]!;
      let delivered = seqLeq(b, una);
      if (!delivered && scan) {
        const from = seqLt(a, una) ? una : a;
        delivered = sb.isSacked(from, b);
      }
      if (!delivered) {
        if (!scan) break; // nothing SACKed: only a prefix can be delivered
        continue;
      }
      this.flags[i] = f | F_DEAD;
      if (f & F_LOST && f & F_RETRANS) this.relost--;
      const t = this.times[i]!;
      if (!(f & F_RETRANS) && prevFack !== undefined && seqLt(b, prevFack)) this.reordSeen = true;
      if (this.fack === undefined || seqGt(b, this.fack)) this.fack = b;
      const rtt = now - t;
      if (f & F_RETRANS) {
        const echoedAt = tsEcr !== undefined && s.c.tsOk ? Math.floor(now) - seqDiff(s.c.tsNow(), tsEcr) : undefined;
        // Newly cumulatively ACKed with an echo older than the retransmission: the original got there,
        // and the retransmission's send time says nothing of this path (Linux's tcp_clean_rtx_queue
        // skips tcp_rack_advance for tcp_skb_spurious_retrans). A SACKed one cannot be judged so:
        // out-of-order arrivals leave TS.Recent behind.
        if (seqLeq(b, una) && echoedAt !== undefined && echoedAt < Math.floor(t)) continue;
        // RFC 8985 §6.2 step 2 as Linux's tcp_rack_advance: a retransmission delivered sooner than
        // min_rtt may be the original's ACK — ambiguous unless the echo proves it answers the
        // retransmission.
        if (rtt < this.minRtt && (echoedAt === undefined || echoedAt < Math.floor(t))) continue;
      }
      // Linux's tcp_update_rtt_min takes a 0 µs sample as one jiffy (`rtt_us ? : jiffies_to_usecs(1)`):
      // on the virtual clock a path with no delay either way measures exactly 0.
      const minSample = rtt > 0 ? rtt : JIFFY_MS;
      if (minSample < this.minRtt) this.minRtt = minSample;
      const order = this.orders[i]!;
      if (order > this.xmitOrder) {
        this.xmitOrder = order;
        this.xmitTs = t;
        this.endSeq = b;
        this.rtt = rtt;
      }
    }
    // Drop delivered/superseded records from the front.
    while (this.n > 0 && this.flags[this.head]! & F_DEAD) {
      this.head = (this.head + 1) & mask;
      this.n--;
    }
  }

  /** RFC 8985 §6.2 step 4: D-SACKs widen the reordering window, at most once per round trip. */
  private onDsack(): void {
    const s = this.s;
    this.reordSeen = true;
    if (this.dsackRound !== undefined && seqLt(s.sndUna, this.dsackRound)) return;
    this.dsackRound = s.sndMax;
    if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
  }

  /**
   * A recovery episode ended without being undone (Linux's tcp_try_undo_recovery):
   * one of the 16 recoveries a widened window persists is used up.
   */
  onRecoveryExit(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  /** A reduction was undone by D-SACKs: the widened window lasts one recovery longer (tcp_try_undo_dsack). */
  onDsackUndo(): void {
    if (this.reoWndPersist < REO_WND_PERSIST) this.reoWndPersist++;
  }

  /**
   * RACK.reo_wnd (Linux's tcp_rack_reo_wnd): 0 in recovery or past DupThresh SACKs until reordering
   * is seen, then min_RTT/4 per D-SACK step, at most SRTT. Being a share of min_RTT, it vanishes on a
   * link whose delay can fall to about 0 both ways (netem's zero-delay `reorder`, normal jitter
   * clipped at 0, in both directions): there RACK marks reordered segments lost as Linux would, and
   * the 3-dupack rule does better (see test/tcp/rack.test.ts).
   */
  reoWnd(): number {
    const s = this.s;
    if (!this.reordSeen) {
      const st = s.rec.state;
      if (st === 'recovery' || st === 'loss') return 0;
      if (s.sack.sackedBytes >= 3 * s.c.mss) return 0;
    }
    if (this.minRtt === Infinity) return 0;
    const srtt = s.rtt.srtt ?? Infinity;
    return Math.min((this.minRtt / 4) * this.reoWndMult, srtt);
  }

  /**
   * RFC 8985 §6.2 step 5 (RACK_detect_loss): a segment sent before RACK.xmit_ts
   * whose time since transmission exceeds RACK.rtt + reo_wnd is lost. Returns
   * the time until the next not-yet-expired one would be (0: none).
   */
  private detectLoss(now: number): { lost: number; wait: number } {
    const res = this.res;
    res.lost = 0;
    res.wait = 0;
    if (this.xmitTs < 0) return res;
    const s = this.s;
    const una = s.sndUna;
    const reo = this.reoWnd();
    const mask = this.seqs.length - 1;
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & mask;
      const f = this.flags[i]!;
      if (this.orders[i]! >= this.xmitOrder) break;
      if (f & (F_DEAD | F_LOST)) continue;
      const t = this.times[i]!;
      const b = this.ends[i]!;
      if (!seqGt(b, una)) continue;
      const remaining = t + this.rtt + reo - now;
      if (remaining <= 0) {
        this.flags[i] = f | F_LOST;
        res.lost++;
        this.marked++;
        if (f & F_RETRANS) this.relost++;
        else if (seqGt(b, this.lostEnd)) this.lostEnd = b;
      } else if (res.wait === 0 || remaining < res.wait) {
        res.wait = remaining;
      }
    }
    return res;
  }
  private readonly res = { lost: 0, wait: 0 };

  private detectAndRecover(now: number): void {
    const s = this.s;
    const rec = s.rec;
    if (rec.state === 'loss') {
      this.reoTimer?.cancel();
      return;
    }
    if (!seqLt(this.lostEnd, s.sndUna) && !seqGt(this.lostEnd, s.sndMax)) {
      /* keep */
    } else {
      this.lostEnd = s.sndUna;
    }
    const { lost, wait } = this.detectLoss(now);
    if (wait > 0) {
      this.reoTimer ??= new Timer(s.c.host.clock.timers, () => this.onReoTimer());
      this.reoTimer.arm(wait);
    } else {
      this.reoTimer?.cancel();
    }
    if (lost > 0 && rec.state !== 'recovery') {
      this.tlpEnd = undefined;
      this.ptoTimer?.cancel();
      rec.enterRecovery();
    }
  }

  private onReoTimer(): void {
    const s = this.s;
    if (!this.active || !s.c.canSendData() || !seqGt(s.sndMax, s.sndUna)) return;
    this.detectAndRecover(s.c.host.clock.now());
    s.c.output();
  }

  /** The first lost retransmission still to resend: [seq, end), or undefined. */
  relostRange(): number | undefined {
    if (this.relost <= 0) return undefined;
    const una = this.s.sndUna;
    const mask = this.seqs.length - 1;
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & mask;
      const f = this.flags[i]!;
      if ((f & (F_DEAD | F_LOST | F_RETRANS)) !== (F_LOST | F_RETRANS)) continue;
      const b = this.ends[i]!;
      if (!seqGt(b, una)) continue;
      const a = this.seqs[i]!;
      this.relostEndSeq = b;
      return seqLt(a, una) ? una : a;
    }
    this.relost = 0;
    return undefined;
  }
  /** End of the range relostRange() last returned. */
  relostEndSeq = 0;

  /** Lost retransmissions are waiting to be sent again. */
  get relostPending(): boolean {
    return this.relost > 0;
  }

  /** A reduction was undone as spurious: nothing is marked lost any more (tcp_undo_cwnd_reduction's unmark_loss). */
  unmarkLost(): void {
    this.lostEnd = this.s.sndUna;
    this.relost = 0;
    const mask = this.seqs.length - 1;
    for (let k = 0; k < this.n; k++) {
      const i = (this.head + k) & mask;
      this.flags[i] = this.flags[i]! & ~F_LOST;
    }
  }

  /** The retransmission timer expired: everything is being resent go-back-N; RACK restarts. */
  onRto(): void {
    this.unmarkLost();
    this.tlpEnd = undefined;
    this.reoTimer?.cancel();
    this.ptoTimer?.cancel();
  }

  // ---- tail loss probe ----

  /** After sending: (re)arm the PTO when data is in flight outside recovery (RFC 8985 §7.2). */
  schedule(): void {
    const s = this.s;
    if (!this.active) return;
    const st = s.rec.state;
    const flight = seqDiff(s.sndMax, s.sndUna);
    const srtt = s.rtt.srtt;
    if (flight <= 0 || (st !== 'open' && st !== 'disorder') || this.tlpEnd !== undefined || srtt === undefined) {
      this.ptoTimer?.cancel();
      this.ptoDue = false;
      return;
    }
    if (!this.ptoDue && this.ptoTimer?.armed) return;
    this.ptoDue = false;
    let pto = 2 * srtt;
    if (flight <= s.c.mss) pto += WC_DEL_ACK_MS;
    pto = Math.max(pto, MIN_PTO_MS);
    if (pto >= s.rtt.rto) {
      this.ptoTimer?.cancel();
      return;
    }
    this.ptoTimer ??= new Timer(s.c.host.clock.timers, () => this.onPto());
    this.ptoTimer.arm(pto);
  }

  /** RFC 8985 §7.3: send one new segment if possible, else retransmit the last one. */
  private onPto(): void {
    const s = this.s;
    const c = s.c;
    if (!this.active || !c.canSendData() || !seqGt(s.sndMax, s.sndUna) || this.tlpEnd !== undefined) return;
    const st = s.rec.state;
    if (st !== 'open' && st !== 'disorder') return;
    const before = s.sndMax;
    const usable = seqDiff((s.sndUna + s.sndWnd) >>> 0, s.sndMax);
    if (seqGt(s.dataEnd, s.sndMax) && usable > 0) s.transmit(true);
    if (s.sndMax !== before) {
      this.tlpRetrans = false;
    } else {
      const end = s.finSent ? s.dataEnd : s.sndMax;
      const mss = c.maxPayload();
      const from = seqDiff(end, s.sndUna) > mss ? (end - mss) >>> 0 : s.sndUna;
      s.retransmitAt(from, s.sndMax);
      this.tlpRetrans = true;
    }
    this.probes++;
    c.host.stats.lossProbes++;
    this.tlpEnd = s.sndMax;
  }

  /** RFC 8985 §7.4: the probe's ACK without a D-SACK means it repaired a loss: reduce cwnd once. */
  private tlpAck(ack: number, acked: number, dsack: boolean, now: number): void {
    const end = this.tlpEnd;
    if (end === undefined || seqLt(ack, end)) return;
    this.tlpEnd = undefined;
    if (!this.tlpRetrans || dsack) return;
    if (acked <= 0 && !seqGt(ack, end)) return;
    const s = this.s;
    const st = s.rec.state;
    if (st === 'open' || st === 'disorder') {
      s.cc.onCongestion(now, seqDiff(s.sndMax, s.sndUna));
      s.cc.onRecoveryExit(now);
    }
  }

  stop(): void {
    this.reoTimer?.cancel();
    this.ptoTimer?.cancel();
  }
}
