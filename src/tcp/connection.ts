/**
 * One TCP connection (RFC 9293's TCB): its public API (write, shutdown,
 * close, abort, consumed, setNoDelay, setKeepAlive, info), the SEGMENT
 * ARRIVES processing of the synchronized states (RFC 9293 §3.10.7.4 with
 * RFC 5961's challenge ACKs and RFC 7323's PAWS), the closing states
 * (half-close, simultaneous close, TIME-WAIT for 2·MSL), keepalive, and
 * the ECN state a connection carries (ecn.ts decides with it).
 *
 * The two data halves live in sender.ts (with recovery.ts, rack.ts and
 * undo.ts) and receiver.ts; segments are built in output.ts; opening the
 * connection in handshake.ts; demultiplexing, listeners and resets for
 * unknown connections in tcp.ts.
 *
 * Handler callbacks are made synchronously from the input path; the
 * connection's state is consistent before each, and output is deferred to
 * the end of the input, so a handler may call write/consumed/shutdown/abort.
 *
 * Hand-written: this is the TCP core itself.
 */
import type { IPv4Address } from '../wire/address.js';
import { Timer, type Clock } from '../time/index.js';
import { localWscale, synSentInput } from './handshake.js';
import { synEcnFlags } from './ecn.js';
import { connectionInfo } from './info.js';
import { segmentArrives, timeWaitArrives } from './input.js';
import type { TcpSecrets } from './isn.js';
import { TcpReceiver } from './receiver.js';
import type { SackBlock } from './sack.js';
import { emitSegment } from './output.js';
import { FLAG_ACK, FLAG_RST, FLAG_SYN, dataOptionsLength, type SegmentView } from './segment.js';
import { TcpSender } from './sender.js';
import { seqGt } from './seq.js';
import {
  tcpError,
  type ResolvedTcpOptions,
  type TcpConnectionHandler,
  type TcpErrorWithCode,
  type TcpInfo,
  type TcpSegmentInfo,
  type TcpState,
  type TcpStats,
} from './state.js';

export type TcpProbe = (c: TcpConnection, dir: 'in' | 'out', seg: TcpSegmentInfo) => void;

/** What a connection needs from its TcpLayer. */
/** Largest TSO payload: the datagram stays within 65535 bytes with 20 of IP and up to 60 of TCP header. */
const TSO_MAX_PAYLOAD = 65535 - 20 - 60;

export interface TcpHost {
  readonly clock: Clock;
  readonly opts: ResolvedTcpOptions;
  readonly stats: TcpStats;
  readonly secrets: TcpSecrets;
  readonly probe: TcpProbe | null;
  /** Segment-building space; whatever is sent from it is copied by the IP layer before the call returns. */
  readonly scratch: Uint8Array;
  /** Hands a built segment to IP (bytes borrowed for the call); `tos` is the IP TOS byte (its ECN bits). */
  sendRaw(src: IPv4Address, dst: IPv4Address, segment: Uint8Array, gsoSize: number, tos: number): void;
  /** True if segments to `dst` may exceed the MTU (TSO through a vnet_hdr port). */
  gsoCapable?(dst: IPv4Address): boolean;
  /** Path MTU towards `dst` (egress MTU, lowered by ICMP fragmentation-needed). */
  pathMtu(dst: IPv4Address): number;
  /** The MSS we announce to `dst`: egress MTU − 40. */
  advMssFor(dst: IPv4Address): number;
  allowChallengeAck(): boolean;
  /**
   * Inside a received batch: the layer calls `c.output()` once at the
   * batch's end (one ACK for the run of segments, as GRO gives Linux) and
   * returns true; outside one, false.
   */
  deferOutput?(c: TcpConnection): boolean;
  connectionEstablished(c: TcpConnection): void;
  connectionClosed(c: TcpConnection, previous: TcpState): void;
  /**
   * The connection's TIME-WAIT began (its last ACK is out): the layer keeps
   * a small record for 2·MSL (or none past tcp_max_tw_buckets) and the
   * connection is destroyed.
   */
  timeWaitDone(c: TcpConnection): void;
}

/** Linux's tcp_invalid_ratelimit: at most one ACK per 500 ms for out-of-window non-data segments. */
const OOW_ACK_INTERVAL_MS = 500;
/** Linux's TCP_KEEPALIVE_TIME. */
const DEFAULT_KEEPALIVE_IDLE_MS = 7_200_000;

type Pending = Uint8Array | 'fin' | { closed: TcpErrorWithCode | undefined };

export class TcpConnection {
  state: TcpState = 'CLOSED';
  readonly snd: TcpSender;
  readonly rcv: TcpReceiver;
  sackOk = false;
  tsOk = false;
  wsOk = false;
  /** Shift applied to the peer's window field. */
  sndWscale = 0;
  /** Shift applied to ours. */
  rcvWscale = 0;
  peerMss = 536;
  /** The MSS we announced (egress MTU − 40). */
  readonly advMss: number;
  pmtu: number;
  tsRecent = 0;
  /** @internal When TS.Recent was set (PAWS ignores a TS.Recent older than 24 days). */
  tsRecentAt = 0;
  private readonly tsOffset: number;
  /** The last ICMP error reported while synchronized (Linux's sk_err_soft). */
  softError: string | undefined;
  /** @internal The application called close(): nothing more will be read. */
  readClosed = false;
  private closedNotified = false;
  private handlerSet = false;
  private handlerRef: TcpConnectionHandler | null = null;
  private pending: Pending[] | null = null;
  private inInput = false;
  /** @internal Queued for output at the end of the batch being received (TcpLayer.deferOutput). */
  outputDeferred = false;
  /** Nesting depth of cork(): while above 0, writes queue without sending. */
  private corkDepth = 0;
  private lastOowAckAt = Number.NEGATIVE_INFINITY;
  private readonly lingerTimer: Timer;
  private keepTimer: Timer | null = null;
  private keepIdleMs = 0;
  private keepProbes = 0;
  private lastRecvAt: number;
  /** @internal Scratch for the SACK blocks of the segment being built (output.ts). */
  readonly sackOut: SackBlock[] = [];
  /** ECN (RFC 3168, ecn.ts) is in use on this connection. */
  ecnOk = false;
  /** Our SYN asked for ECN (TcpOptions.ecn). */
  ecnAsked = false;
  /** A CE mark arrived: ECE on what we send until the peer's CWR (Linux's TCP_ECN_DEMAND_CWR). */
  ecnDemandCwr = false;
  /** A CE mark ever arrived (ss's ecnseen). */
  ecnSeen = false;
  /** A reduction was made: CWR on the next new data segment (TCP_ECN_QUEUE_CWR). */
  private ecnCwrQueued = false;
  /** @internal The listener whose SYN queue holds this connection while SYN-RECV. */
  listener: { synQueue: number } | null = null;

  constructor(
    readonly host: TcpHost,
    readonly localAddress: IPv4Address,
    readonly localPort: number,
    readonly remoteAddress: IPv4Address,
    readonly remotePort: number,
    readonly passive: boolean,
  ) {
    this.advMss = host.advMssFor(remoteAddress);
    this.pmtu = host.pathMtu(remoteAddress);
    this.tsOffset = host.secrets.tsOffset(localAddress, remoteAddress);
    this.snd = new TcpSender(this);
    this.rcv = new TcpReceiver(this, host.opts.receiveBufferBytes, host.opts.receiveBufferMaxBytes);
    this.lingerTimer = new Timer(host.clock.timers, () => this.onLinger());
    this.lastRecvAt = host.clock.now();
  }

  // ---- the handler ----------------------------------------------------

  get handler(): TcpConnectionHandler | null {
    return this.handlerRef;
  }

  /** Setting a handler first delivers what arrived before there was one. */
  set handler(h: TcpConnectionHandler | null) {
    this.handlerRef = h;
    if (h === null) {
      if (this.handlerSet) this.pending = null;
      return;
    }
    this.handlerSet = true;
    const queued = this.pending;
    this.pending = null;
    if (queued === null) return;
    for (const p of queued) {
      if (this.handlerRef !== h) return;
      if (p === 'fin') h.peerFin();
      else if (p instanceof Uint8Array) h.data(p);
      else h.closed(p.closed);
    }
  }

  private queue(p: Pending): void {
    if (this.handlerSet) return;
    (this.pending ??= []).push(p);
  }

  /** @internal In-order bytes for the application. */
  deliver(chunk: Uint8Array): void {
    const h = this.handlerRef;
    if (h !== null) h.data(chunk);
    else this.queue(chunk);
  }

  /** @internal The peer's FIN, for the application. */
  deliverFin(): void {
    const h = this.handlerRef;
    if (h !== null) h.peerFin();
    else this.queue('fin');
  }

  /** @internal (Re)arms the TIME-WAIT / FIN-WAIT-2 timer. */
  armLinger(ms: number): void {
    this.lingerTimer.arm(ms);
  }

  /** @internal */
  notifyWritable(): void {
    this.handlerRef?.writable();
  }

  // ---- sizes and clocks ------------------------------------------------

  /** min(peer's MSS, path MTU − 40): bytes of options plus data a segment may carry. */
  get pathMss(): number {
    return Math.max(64, Math.min(this.peerMss, this.pmtu - 40));
  }

  /** Effective MSS: payload of a full segment carrying the usual options (what ss shows as mss). */
  get mss(): number {
    return this.pathMss - (this.tsOk ? 12 : 0);
  }

  /** Payload bytes the next segment may carry, given the SACK blocks it will have. */
  maxPayload(): number {
    const blocks = this.sackOk ? Math.min(this.rcv.pendingSackBlocks, this.sackLimit) : 0;
    return this.pathMss - dataOptionsLength(this.tsOk, blocks);
  }

  /** @internal SACK blocks that fit beside the other options. */
  get sackLimit(): number {
    return this.tsOk ? 3 : 4;
  }

  /**
   * TSO size goal (Linux's tcp_xmit_size_goal, tcp_tso_autosize and
   * tcp_bound_to_half_wnd, minus pacing): payload bytes one segment handed
   * to IP may carry. `mss` unless the connection is synchronized and its
   * route leaves by a vnet_hdr port; then a multiple of `mss`, at most
   * 64 KB of datagram, half the peer's largest window, and what `room`
   * (congestion window) and `usable` (peer's window) allow now. The IP
   * layer sends such a segment as one GSO_TCPV4 frame.
   */
  tsoGoal(mss: number, room: number, usable: number): number {
    const s = this.state;
    if (mss <= 0 || (s !== 'ESTAB' && s !== 'CLOSE-WAIT')) return mss;
    const h = this.host;
    if (h.gsoCapable === undefined || !h.gsoCapable(this.remoteAddress)) return mss;
    const maxWnd = this.snd.maxSndWnd;
    const halfWnd = maxWnd > 536 ? maxWnd >>> 1 : maxWnd;
    const bytes = Math.min(TSO_MAX_PAYLOAD, halfWnd, room, usable);
    const segs = Math.floor(bytes / mss);
    return segs > 1 ? segs * mss : mss;
  }

  /** TSval now: a millisecond clock plus this connection's offset. */
  tsNow(): number {
    return (Math.floor(this.host.clock.now()) + this.tsOffset) >>> 0;
  }

  /** @internal */
  setTsRecent(v: number): void {
    this.tsRecent = v;
    this.tsRecentAt = this.host.clock.now();
  }

  /** @internal States that still carry our data or FIN. */
  canSendData(): boolean {
    const s = this.state;
    return s === 'ESTAB' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK';
  }

  /** True once the connection reached CLOSED (a method, so TypeScript does not narrow it away). */
  get isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  /** @internal */
  setState(s: TcpState): void {
    this.state = s;
  }

  // ---- the application's side ------------------------------------------

  /** Copies what fits into the send buffer; 0 when full (`writable` follows). Throws EPIPE after shutdown/close. */
  write(chunk: Uint8Array): number {
    const s = this.state;
    if (this.snd.finQueued || s === 'CLOSED' || s === 'TIME-WAIT' || s === 'LISTEN') {
      throw tcpError('EPIPE', `write on a connection in ${s}${this.snd.finQueued ? ' after shutdown' : ''}`);
    }
    const n = this.snd.write(chunk);
    if (n > 0 && this.corkDepth === 0) this.output();
    return n;
  }

  /**
   * Holds output while several writes are queued (the socket's `_writev`), so
   * a corked batch — an HTTP response's headers and body — leaves as full
   * segments instead of a first small one that Nagle then makes the rest wait
   * behind. Like TCP_CORK held for the span of one call, not a timed cork.
   */
  cork(): void {
    this.corkDepth++;
  }

  /** Ends a `cork()`; the last one sends what the batch queued. */
  uncork(): void {
    if (this.corkDepth === 0) return;
    if (--this.corkDepth === 0) this.output();
  }

  get sendBufferSpace(): number {
    return this.snd.space;
  }

  /** Half-close: FIN after the queued data. */
  shutdown(): void {
    if (this.snd.finQueued) return;
    switch (this.state) {
      case 'SYN-SENT':
      case 'SYN-RECV':
        this.snd.finQueued = true; // sent once established
        return;
      case 'ESTAB':
        this.snd.finQueued = true;
        this.state = 'FIN-WAIT-1';
        break;
      case 'CLOSE-WAIT':
        this.snd.finQueued = true;
        this.state = 'LAST-ACK';
        break;
      default:
        return;
    }
    this.output();
  }

  /** shutdown() and no more reads: data arriving afterwards is answered with RST (as Linux). */
  close(): void {
    this.readClosed = true;
    if (this.state === 'SYN-SENT') {
      this.destroy();
      return;
    }
    this.shutdown();
    if (this.state === 'FIN-WAIT-2') this.lingerTimer.arm(this.host.opts.finTimeoutMs);
  }

  /** RST now; the connection ends with ECONNRESET. */
  abort(): void {
    const s = this.state;
    if (s === 'CLOSED') return;
    if (s === 'SYN-RECV' || s === 'ESTAB' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSE-WAIT') {
      this.emit(this.snd.sndMax, FLAG_RST | FLAG_ACK, 0);
    }
    this.destroy(s === 'TIME-WAIT' ? undefined : tcpError('ECONNRESET', 'aborted locally'));
  }

  /** The application read `bytes` of what `data` delivered: the window reopens. */
  consumed(bytes: number): void {
    if (this.rcv.consumed(bytes) && this.state !== 'CLOSED') {
      this.rcv.ackNow = true;
      this.output();
    }
  }

  setNoDelay(on: boolean): void {
    this.snd.noDelay = on;
    if (on) this.output();
  }

  setKeepAlive(on: boolean, initialDelayMs = 0): void {
    if (!on) {
      this.keepTimer?.cancel();
      this.keepIdleMs = 0;
      return;
    }
    this.keepIdleMs = initialDelayMs > 0 ? initialDelayMs : DEFAULT_KEEPALIVE_IDLE_MS;
    this.keepTimer ??= new Timer(this.host.clock.timers, () => this.onKeepAlive());
    if (this.state !== 'CLOSED' && this.state !== 'TIME-WAIT') this.keepTimer.arm(this.keepIdleMs);
  }

  // ---- input ------------------------------------------------------------

  /** @internal A segment for this connection (parsed, checksum verified). */
  input(seg: SegmentView): void {
    const h = this.host;
    if (h.probe !== null) h.probe(this, 'in', seg.info());
    this.lastRecvAt = h.clock.now();
    this.keepProbes = 0;
    this.rcv.coalescible = false;
    this.inInput = true;
    try {
      if (this.state === 'SYN-SENT') synSentInput(this, seg);
      else if (this.state === 'TIME-WAIT') timeWaitArrives(this, seg);
      else if (this.state !== 'CLOSED' && this.state !== 'LISTEN') segmentArrives(this, seg);
    } finally {
      this.inInput = false;
    }
    // In-order data within a received batch: one ACK for the run, at the batch's end (GRO's effect).
    if (this.rcv.coalescible && h.deferOutput !== undefined && h.deferOutput(this)) return;
    this.output();
  }

  /** @internal Linux's __tcp_oow_rate_limited: one out-of-window or challenge ACK per socket per 500 ms (tcp_invalid_ratelimit). */
  socketRateLimited(): boolean {
    const now = this.host.clock.now();
    if (now - this.lastOowAckAt < OOW_ACK_INTERVAL_MS) return true;
    this.lastOowAckAt = now;
    return false;
  }

  /**
   * RFC 5961 challenge ACK, rate-limited as Linux's tcp_send_challenge_ack:
   * first per socket (500 ms), then layer-wide (tcp_challenge_ack_limit per second).
   */
  challengeAck(): void {
    const stats = this.host.stats;
    if (this.socketRateLimited()) {
      stats.challengeAcksSuppressed++;
      return;
    }
    if (this.host.allowChallengeAck()) {
      stats.challengeAcks++;
      this.rcv.ackNow = true;
      if (!this.inInput) this.sendAck();
    } else {
      stats.challengeAcksSuppressed++;
    }
  }

  // ---- transitions --------------------------------------------------------

  /** @internal The handshake completed. */
  establish(): void {
    const snd = this.snd;
    this.state = 'ESTAB';
    snd.rtxTimer.cancel();
    snd.retries = 0;
    snd.cc.setMss(this.mss);
    if (this.ecnOk) this.host.stats.ecnNegotiated++;
    this.host.connectionEstablished(this);
    if (this.state !== 'ESTAB') return;
    if (!this.passive) this.handlerRef?.established?.();
    if (this.state !== 'ESTAB') return;
    if (snd.finQueued) this.state = 'FIN-WAIT-1';
    if (this.keepIdleMs > 0) this.keepTimer?.arm(this.keepIdleMs);
    if (!this.inInput) this.output();
  }

  /** @internal Both FINs are acknowledged (or ours is and the peer's arrived): wait 2·MSL; the application is done. */
  enterTimeWait(notify = true): void {
    this.state = 'TIME-WAIT';
    this.snd.stop();
    this.keepTimer?.cancel();
    this.restartTimeWait();
    if (notify) this.notifyClosed(undefined);
  }

  /**
   * @internal TIME-WAIT (re)starts: the linger timer fires at once, after the
   * ACK now due has gone out, and the layer swaps the connection for a small
   * record that holds the 4-tuple for 2·MSL (tcp_time_wait → inet_twsk_alloc).
   */
  restartTimeWait(): void {
    this.lingerTimer.arm(0);
  }

  private onLinger(): void {
    if (this.state === 'TIME-WAIT') this.host.timeWaitDone(this);
    // An orphaned FIN-WAIT-2 timed out (tcp_fin_timeout).
    else if (this.state === 'FIN-WAIT-2') this.destroy();
  }

  /** @internal Ends the connection with an error (timeouts, refusals, ICMP). */
  fail(err: TcpErrorWithCode): void {
    const s = this.state;
    if (s === 'SYN-SENT' || s === 'SYN-RECV') this.host.stats.attemptFails++;
    if (err.code === 'ETIMEDOUT' && this.softError !== undefined) Object.assign(err, { softError: this.softError });
    this.destroy(err);
  }

  /** @internal Enters CLOSED: timers stop, the layer forgets the connection, the handler hears `closed`. */
  destroy(err?: TcpErrorWithCode): void {
    const prev = this.state;
    if (prev === 'CLOSED' && this.closedNotified) return;
    this.state = 'CLOSED';
    this.snd.stop();
    this.rcv.reset();
    this.lingerTimer.cancel();
    this.keepTimer?.cancel();
    if (prev !== 'CLOSED') this.host.connectionClosed(this, prev);
    this.notifyClosed(err);
  }

  /** @internal */
  notifyClosed(err: TcpErrorWithCode | undefined): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    const h = this.handlerRef;
    if (h !== null) h.closed(err);
    else this.queue({ closed: err });
  }

  private onKeepAlive(): void {
    const s = this.state;
    if (this.keepIdleMs <= 0 || !(s === 'ESTAB' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-2')) return;
    const timer = this.keepTimer!;
    const snd = this.snd;
    if (seqGt(snd.sndMax, snd.sndUna) || snd.buffered > 0) {
      timer.arm(this.keepIdleMs);
      return;
    }
    const idle = this.host.clock.now() - this.lastRecvAt;
    if (idle < this.keepIdleMs) {
      timer.arm(this.keepIdleMs - idle);
      return;
    }
    if (this.keepProbes >= this.host.opts.keepAliveProbes) {
      this.fail(tcpError('ETIMEDOUT', `${this.keepProbes} keepalive probes unanswered`));
      return;
    }
    this.keepProbes++;
    this.host.stats.keepAliveProbes++;
    this.sendProbe();
    timer.arm(this.host.opts.keepAliveIntervalMs);
  }

  /** @internal The path MTU towards the peer dropped to `mtu`. */
  pmtuChanged(mtu: number): void {
    if (mtu >= this.pmtu) return;
    const before = this.mss;
    this.pmtu = mtu;
    if (this.mss < before) {
      this.snd.cc.setMss(this.mss);
      this.snd.mtuReduced();
      this.output();
    }
  }

  // ---- output ------------------------------------------------------------

  /** @internal Sends what is due: data the windows allow, then a pending ACK. */
  output(): void {
    if (this.inInput) return;
    const s = this.state;
    if (s === 'CLOSED' || s === 'LISTEN' || s === 'SYN-SENT' || s === 'SYN-RECV') return;
    if (this.canSendData()) this.snd.transmit();
    if (this.state !== 'CLOSED' && this.rcv.ackNow) this.sendAck();
  }

  /** @internal A bare ACK: SEQ = SND.MAX (RFC 9293's SND.NXT). */
  sendAck(): void {
    if (this.state === 'CLOSED' || this.state === 'SYN-SENT') return;
    this.emit(this.snd.sndMax, FLAG_ACK, 0);
  }

  /** @internal Zero-window and keepalive probe: SEQ = SND.UNA − 1, no data (Linux's tcp_xmit_probe_skb). */
  sendProbe(): void {
    this.emit((this.snd.sndUna - 1) >>> 0, FLAG_ACK, 0);
  }

  /** @internal Our SYN (SYN-SENT) or SYN-ACK (SYN-RECV), with their ECN-setup flags. */
  sendSyn(): void {
    this.emit(this.snd.iss, (this.state === 'SYN-SENT' ? FLAG_SYN : FLAG_SYN | FLAG_ACK) | synEcnFlags(this), 0);
  }

  /** @internal A window reduction was made: the next new data carries CWR (tcp_ecn_queue_cwr). */
  queueCwr(): void {
    if (this.ecnOk) this.ecnCwrQueued = true;
  }

  /** @internal Whether a CWR is due, clearing it (output.ts puts it on the segment). */
  takeQueuedCwr(): boolean {
    const q = this.ecnCwrQueued;
    this.ecnCwrQueued = false;
    return q;
  }

  /** @internal <SEQ=seq><CTL=RST>: the answer to an unacceptable ACK. */
  emitReset(seq: number): void {
    this.emit(seq, FLAG_RST, 0);
  }

  /**
   * @internal Builds and sends one segment (output.ts); the payload [seq, seq+len) comes from the
   * send ring. `newData`: bytes never sent before, which alone may carry ECT and CWR.
   */
  emit(seq: number, flags: number, len: number, newData = false): void {
    emitSegment(this, seq, flags, len, newData);
  }

  // ---- inspection -----------------------------------------------------------

  /** The connection as `ss -tni` sees it. */
  info(): TcpInfo {
    return connectionInfo(this);
  }

  /** The window-scale shift this host offers (for tests and tools). */
  static offeredWscale(receiveBufferBytes: number): number {
    return localWscale(receiveBufferBytes);
  }
}
