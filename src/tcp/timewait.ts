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
 * job Linux's timer wheel does for tw socks).
 *
 * Memory: the 32-bit fields (addresses, SND.NXT, RCV.NXT, TS.Recent, the
 * timestamp offset) and the two times live in the list's typed slabs, at the
 * record's slot. As object fields most of them would be numbers V8 boxes
 * one by one (anything past 2^30); in the slabs a record is its ports, its
 * window, its links and its slot — about 120 bytes with its table entry,
 * against a whole connection's few KB.
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

/** Uint32 slab fields of a record (U32_FIELDS per slot). */
const U_LOCAL = 0;
const U_REMOTE = 1;
const U_SND_NXT = 2;
const U_RCV_NXT = 3;
const U_TS_RECENT = 4;
const U_TS_OFFSET = 5;
const U32_FIELDS = 6;
/** Float64 slab fields of a record (F64_FIELDS per slot). */
const F_EXPIRES = 0;
const F_LAST_OOW_ACK = 1;
const F64_FIELDS = 2;

export class TimeWaitSock {
  /** @internal Links of the expiry list. */
  prev: TimeWaitSock | null = null;
  /** @internal */
  next: TimeWaitSock | null = null;

  constructor(
    private readonly list: TimeWaitList,
    /** @internal The record's slot in the list's slabs; -1 once ended. */
    public slot: number,
    readonly localPort: number,
    readonly remotePort: number,
    /** The raw 16-bit window field our ACKs carry. */
    private readonly window: number,
    readonly tsOk: boolean,
  ) {}

  /** On the prototype, not in every record. */
  get state(): 'TIME-WAIT' {
    return 'TIME-WAIT';
  }
  get localAddress(): IPv4Address {
    return this.list.u32[this.slot * U32_FIELDS + U_LOCAL]!;
  }
  get remoteAddress(): IPv4Address {
    return this.list.u32[this.slot * U32_FIELDS + U_REMOTE]!;
  }
  /** SND.NXT: our FIN's sequence number + 1. */
  get sndNxt(): number {
    return this.list.u32[this.slot * U32_FIELDS + U_SND_NXT]!;
  }
  /** RCV.NXT: the peer's FIN's sequence number + 1. */
  get rcvNxt(): number {
    return this.list.u32[this.slot * U32_FIELDS + U_RCV_NXT]!;
  }
  get tsRecent(): number {
    return this.list.u32[this.slot * U32_FIELDS + U_TS_RECENT]!;
  }
  /** When the record expires (ms on the layer's clock); -1 once it has ended. */
  get expiresAt(): number {
    return this.slot < 0 ? -1 : this.list.f64[this.slot * F64_FIELDS + F_EXPIRES]!;
  }

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
    const f = this.list.f64;
    const at = this.slot * F64_FIELDS + F_LAST_OOW_ACK;
    if (now - f[at]! < OOW_ACK_INTERVAL_MS) return;
    f[at] = now;
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
    const tsVal = (Math.floor(h.clock.now()) + this.list.u32[this.slot * U32_FIELDS + U_TS_OFFSET]!) >>> 0;
    const hl = 20 + writeDataOptions(buf, 20, this.tsOk, tsVal, this.tsRecent, NO_SACK, 0);
    finishSegment(buf, hl, hl, { srcPort: this.localPort, dstPort: this.remotePort, seq: this.sndNxt, ack: this.rcvNxt, flags: FLAG_ACK, window: this.window }, this.localAddress, this.remoteAddress);
    h.stats.outSegs++;
    h.sendRaw(this.localAddress, this.remoteAddress, buf.subarray(0, hl));
  }
}

/** The layer's TIME-WAIT records in expiry order, and the one Timer that ends them. */
export class TimeWaitList {
  /** @internal The records' 32-bit fields, U32_FIELDS per slot. */
  u32 = new Uint32Array(0);
  /** @internal The records' times, F64_FIELDS per slot. */
  f64 = new Float64Array(0);
  /** Slots of ended records, reused first. */
  private free: number[] = [];
  private slots = 0;
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
    const slot = this.free.pop() ?? this.newSlot();
    const u = slot * U32_FIELDS;
    this.u32[u + U_LOCAL] = localAddress;
    this.u32[u + U_REMOTE] = remoteAddress;
    this.u32[u + U_SND_NXT] = sndNxt;
    this.u32[u + U_RCV_NXT] = rcvNxt;
    this.u32[u + U_TS_RECENT] = tsRecent;
    this.u32[u + U_TS_OFFSET] = tsOffset;
    this.f64[slot * F64_FIELDS + F_LAST_OOW_ACK] = Number.NEGATIVE_INFINITY;
    const tw = new TimeWaitSock(this, slot, localPort, remotePort, window, tsOk);
    this.append(tw);
    this.count++;
    return tw;
  }

  /** A slot past the last one, growing the slabs (doubling) when they are full. */
  private newSlot(): number {
    const slot = this.slots++;
    if (slot * U32_FIELDS >= this.u32.length) {
      const cap = Math.max(64, 2 * (this.u32.length / U32_FIELDS));
      const u32 = new Uint32Array(cap * U32_FIELDS);
      u32.set(this.u32);
      const f64 = new Float64Array(cap * F64_FIELDS);
      f64.set(this.f64);
      this.u32 = u32;
      this.f64 = f64;
    }
    return slot;
  }

  /** @internal 2·MSL again from now: to the tail, which keeps the list in expiry order. */
  restart(tw: TimeWaitSock): void {
    this.unlink(tw);
    this.append(tw);
  }

  /** @internal */
  end(tw: TimeWaitSock): void {
    if (tw.slot < 0) return; // already ended
    this.unlink(tw);
    // The table forgets the tuple before the slot (which holds the addresses) is given up.
    this.host.timeWaitOver(tw);
    this.free.push(tw.slot);
    tw.slot = -1;
    this.count--;
    if (this.head === null) {
      this.timer.cancel();
      // The last record gone: give the slabs back too (a burst of closes should not hold memory for good).
      this.u32 = new Uint32Array(0);
      this.f64 = new Float64Array(0);
      this.free = [];
      this.slots = 0;
    }
  }

  /** Every record, oldest first. */
  *[Symbol.iterator](): IterableIterator<TimeWaitSock> {
    for (let tw = this.head; tw !== null; tw = tw.next) yield tw;
  }

  private append(tw: TimeWaitSock): void {
    this.f64[tw.slot * F64_FIELDS + F_EXPIRES] = this.host.clock.now() + 2 * this.host.opts.msl;
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
