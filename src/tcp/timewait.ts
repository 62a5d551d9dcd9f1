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
 * Every record lives exactly 2·MSL from its last (re)start, so the records
 * expire in the order they were (re)started: they sit in one list in that
 * order, and one Timer for the whole layer fires at the head's expiry (the
 * job Linux's timer wheel does for tw socks). A record is its fields and two
 * links — about 150 bytes, against a whole connection's few KB.
 */
import type { IPv4Address } from '../wire/address.js';
import { Timer, type TimerScheduler } from '../time/index.js';
import { FLAG_ACK, FLAG_FIN, FLAG_RST, finishSegment, type SegmentView, writeDataOptions } from './segment.js';
import { seqGt, seqLeq } from './seq.js';

/** What the TIME-WAIT records need from their layer. */
export interface TimeWaitHost {
  readonly clock: { now(): number; readonly timers: TimerScheduler };
  readonly scratch: Uint8Array;
  readonly stats: { outSegs: number };
  readonly opts: { readonly msl: number };
  sendRaw(src: IPv4Address, dst: IPv4Address, segment: Uint8Array): void;
  /** The record's time is over (or a RST or a new incarnation ended it): forget its 4-tuple. */
  timeWaitOver(tw: TimeWaitSock): void;
}

/** Linux's tcp_invalid_ratelimit. */
const OOW_ACK_INTERVAL_MS = 500;
const NO_SACK: never[] = [];

export class TimeWaitSock {
  /** On the prototype, not in every record. */
  get state(): 'TIME-WAIT' {
    return 'TIME-WAIT';
  }
  /** When the record expires (ms on the layer's clock). */
  expiresAt = 0;
  /** @internal Links of the expiry list. */
  prev: TimeWaitSock | null = null;
  /** @internal */
  next: TimeWaitSock | null = null;
  private lastOowAckAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly list: TimeWaitList,
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
  ) {}

  /** A segment for this 4-tuple that is not a SYN opening a new incarnation. */
  input(v: SegmentView): void {
    if ((v.flags & FLAG_RST) !== 0) {
      if (v.seq === this.rcvNxt) this.list.end(this);
      return;
    }
    if ((v.flags & FLAG_FIN) !== 0 && seqLeq((v.seq + v.dataLen) >>> 0, this.rcvNxt)) {
      // The peer did not hear our ACK of its FIN: ACK again, restart 2·MSL.
      this.list.restart(this);
      this.sendAck();
      return;
    }
    const now = this.list.host.clock.now();
    if (now - this.lastOowAckAt < OOW_ACK_INTERVAL_MS) return;
    this.lastOowAckAt = now;
    this.sendAck();
  }

  /** RFC 6191 / tcp_timewait_state_process: a SYN may reuse the 4-tuple if it is newer. */
  acceptsSyn(v: SegmentView): boolean {
    if (this.tsOk && v.hasTs) return seqGt(v.tsVal, this.tsRecent);
    return seqGt(v.seq, this.rcvNxt);
  }

  /** Ends the record now (a new incarnation, the layer closing). */
  end(): void {
    this.list.end(this);
  }

  private sendAck(): void {
    const h = this.list.host;
    const buf = h.scratch;
    const tsVal = (Math.floor(h.clock.now()) + this.tsOffset) >>> 0;
    const hl = 20 + writeDataOptions(buf, 20, this.tsOk, tsVal, this.tsRecent, NO_SACK, 0);
    finishSegment(buf, hl, hl, { srcPort: this.localPort, dstPort: this.remotePort, seq: this.sndNxt, ack: this.rcvNxt, flags: FLAG_ACK, window: this.window }, this.localAddress, this.remoteAddress);
    h.stats.outSegs++;
    h.sendRaw(this.localAddress, this.remoteAddress, buf.subarray(0, hl));
  }
}

/** The layer's TIME-WAIT records in expiry order, and the one Timer that ends them. */
export class TimeWaitList {
  private head: TimeWaitSock | null = null;
  private tail: TimeWaitSock | null = null;
  private count = 0;
  private readonly timer: Timer;

  constructor(readonly host: TimeWaitHost) {
    this.timer = new Timer(host.clock.timers, () => this.expire());
  }

  get size(): number {
    return this.count;
  }

  /** A new record, holding its 4-tuple for 2·MSL from now. */
  add(
    localAddress: IPv4Address, localPort: number, remoteAddress: IPv4Address, remotePort: number,
    sndNxt: number, rcvNxt: number, window: number, tsOk: boolean, tsRecent: number, tsOffset: number,
  ): TimeWaitSock {
    const tw = new TimeWaitSock(this, localAddress, localPort, remoteAddress, remotePort, sndNxt, rcvNxt, window, tsOk, tsRecent, tsOffset);
    this.append(tw);
    this.count++;
    return tw;
  }

  /** @internal 2·MSL again from now: to the tail, which keeps the list in expiry order. */
  restart(tw: TimeWaitSock): void {
    this.unlink(tw);
    this.append(tw);
  }

  /** @internal */
  end(tw: TimeWaitSock): void {
    if (tw.expiresAt < 0) return; // already ended
    this.unlink(tw);
    tw.expiresAt = -1;
    this.count--;
    if (this.head === null) this.timer.cancel();
    this.host.timeWaitOver(tw);
  }

  /** Every record, oldest first. */
  *[Symbol.iterator](): IterableIterator<TimeWaitSock> {
    for (let tw = this.head; tw !== null; tw = tw.next) yield tw;
  }

  private append(tw: TimeWaitSock): void {
    tw.expiresAt = this.host.clock.now() + 2 * this.host.opts.msl;
    tw.prev = this.tail;
    tw.next = null;
    if (this.tail !== null) this.tail.next = tw;
    else this.head = tw;
    this.tail = tw;
    if (!this.timer.armed) this.timer.armAt(this.head!.expiresAt);
  }

  private unlink(tw: TimeWaitSock): void {
    const wasHead = this.head === tw;
    if (tw.prev !== null) tw.prev.next = tw.next;
    else this.head = tw.next;
    if (tw.next !== null) tw.next.prev = tw.prev;
    else this.tail = tw.prev;
    tw.prev = tw.next = null;
    if (wasHead && this.head !== null) this.timer.armAt(this.head.expiresAt);
  }

  private expire(): void {
    const now = this.host.clock.now();
    while (this.head !== null && this.head.expiresAt <= now) this.end(this.head);
    if (this.head !== null) this.timer.armAt(this.head.expiresAt);
  }
}
