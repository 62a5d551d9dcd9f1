/**
 * The TCP layer of one host: demultiplexing by 4-tuple (number keys only),
 * listeners with a backlog bounding the SYN queue and SYN cookies when it
 * overflows (Linux's tcp_syncookies = 1), RSTs for segments to no socket
 * (RFC 9293 §3.10.7.1), the RFC 5961 challenge-ACK rate limit, TIME-WAIT
 * reuse by a newer SYN, ephemeral ports (RFC 6056 algorithm 3 in Linux's
 * 32768–60999), EADDRINUSE, ICMP errors (refusals during SYN-SENT, path
 * MTU discovery), an `ss -tni` table, the probe hook and the counters.
 *
 * Hand-written: wirelab's hosts have their own IP layer; no TCP library runs
 * over a caller-supplied one (see the other files of src/tcp).
 */
import type { Clock, TableUsage } from '../time/index.js';
import { formatIPv4, type IPv4Address } from '../wire/address.js';
import { TcpConnection, type TcpHost, type TcpProbe } from './connection.js';
import { formatSockets } from './info.js';
import { timeWaitAcceptsSyn } from './input.js';
import { TimeWaitList, TimeWaitSock, type TimeWaitHost } from './timewait.js';
import { establishFromCookie, sendCookieSynAck, startActiveOpen, startPassiveOpen } from './handshake.js';
import { COOKIE_PERIOD_MS, TcpSecrets } from './isn.js';
import { FLAG_ACK, FLAG_RST, FLAG_SYN, finishSegment, SegmentView } from './segment.js';
import { seqGeq, seqLt } from './seq.js';
import {
  isSynchronized,
  newTcpStats,
  resolveTcpOptions,
  tcpError,
  type ResolvedTcpOptions,
  type TcpConnectionHandler,
  type TcpInfo,
  type TcpOptions,
  type TcpState,
  type TcpStats,
} from './state.js';

/** What TCP needs from the host's IP layer. */
export interface TcpIpSender {
  /** Sends one datagram; `payload` is borrowed for the duration of the call (IP copies it). */
  sendIPv4(
    dst: IPv4Address,
    protocol: 6,
    payload: Uint8Array,
    opts?: { src?: IPv4Address; ttl?: number; dontFragment?: boolean; gsoSize?: number; tos?: number },
  ): 'sent' | 'queued' | Error;
  /**
   * True if segments to `dst` may be larger than the MTU and sent with
   * `gsoSize` (TSO through a virtio_net_hdr port). Absent means never.
   */
  gsoCapable?(dst: IPv4Address): boolean;
  localAddressFor(dst: IPv4Address): IPv4Address | undefined;
  /** MTU of the interface the route to `dst` leaves by. */
  mtuFor(dst: IPv4Address): number;
  isLocalAddress(a: IPv4Address): boolean;
}

/** The ICMP quote of one of our segments. `seq` when the quote reaches it (RFC 5927 checks). */
export interface TcpQuote {
  src: IPv4Address;
  dst: IPv4Address;
  srcPort: number;
  dstPort: number;
  seq?: number;
}

export interface ListenOptions {
  port: number;
  /** Local address to listen on; 0 or undefined for every address. */
  address?: IPv4Address;
  /** Bounds the SYN queue (Linux: SYNs beyond it get cookies). Default 511 (Node's). */
  backlog?: number;
}

/** A listening socket. */
export class TcpListener {
  /** Half-open connections (SYN-RECV) waiting for their ACK. */
  synQueue = 0;
  /** When the SYN queue last overflowed (cookies are accepted for two periods after). */
  lastOverflowAt = Number.NEGATIVE_INFINITY;
  closed = false;

  constructor(
    private readonly layer: TcpLayer,
    readonly address: IPv4Address,
    readonly port: number,
    readonly backlog: number,
    readonly onConnection: (c: TcpConnection) => void,
  ) {}

  /** Stops listening; half-open connections are reset. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.removeListener(this);
  }
}

/** Destination-unreachable code → errno, as Linux's icmp_err_convert. */
const UNREACH_ERRNO: readonly string[] = [
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENOPROTOOPT',
  'ECONNREFUSED',
  'EMSGSIZE',
  'EOPNOTSUPP',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENONET',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EHOSTUNREACH',
  'EHOSTUNREACH',
  'EHOSTUNREACH',
];
/** Linux's min_pmtu and the PMTU cache lifetime (mtu_expires). */
const MIN_PMTU = 552;
const PMTU_EXPIRES_MS = 600_000;

/**
 * The table key of a connection: its remote address, remote port and local
 * port mixed into 30 bits (murmur3's finalizer), so 100,000 connections to
 * one server port spread over as many buckets instead of sharing one. The
 * local address is matched in the bucket, not hashed (a host has few).
 */
function tupleKey(remote: IPv4Address, rport: number, lport: number): number {
  let h = Math.imul(remote ^ 0x5bd1e995, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ ((rport << 16) | lport), 0x1b873593);
  h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

export class TcpLayer implements TcpHost, TimeWaitHost {
  readonly opts: ResolvedTcpOptions;
  readonly stats: TcpStats = newTcpStats();
  readonly secrets: TcpSecrets;
  /** Called with every segment in and out of a connection (for tests and tools). */
  probe: TcpProbe | null = null;
  readonly scratch = new Uint8Array(60 + 65535);
  /**
   * Connections and TIME-WAIT records by a hash of their 4-tuple (`tupleKey`),
   * matched in full; a bucket is the one entry itself, or an array only when
   * hashes collide (an array per entry was ~50 bytes of every TIME-WAIT record).
   */
  private readonly table = new Map<number, TcpConnection | TimeWaitSock | Array<TcpConnection | TimeWaitSock>>();
  private readonly all = new Set<TcpConnection>();
  private readonly listeners = new Map<number, TcpListener[]>();
  private readonly view = new SegmentView();
  private readonly pmtu = new Map<IPv4Address, { mtu: number; expires: number }>();
  private portCounter = 0;
  /** TIME-WAIT records (tcp_max_tw_buckets bounds them). */
  private readonly timeWaits: TimeWaitList;
  private readonly sendOpts = { src: 0 as IPv4Address, dontFragment: true, gsoSize: 0, tos: 0 };
  private challengeWindowStart = Number.NEGATIVE_INFINITY;
  /** Inside a received batch (src/ip's batch hooks): output waits for its end. */
  private batching = false;
  /** Connections that had input in this batch, each once. */
  private readonly deferred: TcpConnection[] = [];
  /** The IP layer's batch brackets for this layer. */
  readonly batch = {
    begin: (gro: boolean): void => {
      this.batching = gro;
    },
    end: (): void => this.endBatch(),
  };
  private challengeCount = 0;

  constructor(
    readonly ip: TcpIpSender,
    readonly clock: Clock,
    options: TcpOptions = {},
  ) {
    this.opts = resolveTcpOptions(options);
    this.secrets = new TcpSecrets(this.opts.seed);
    this.timeWaits = new TimeWaitList(this);
  }

  // ---- TcpHost -------------------------------------------------------------

  sendRaw(src: IPv4Address, dst: IPv4Address, segment: Uint8Array, gsoSize = 0, tos = 0): void {
    // One options object for every segment: IP reads it before sendIPv4 returns.
    const o = this.sendOpts;
    o.src = src;
    o.gsoSize = gsoSize;
    o.tos = tos;
    this.ip.sendIPv4(dst, 6, segment, o);
  }

  gsoCapable(dst: IPv4Address): boolean {
    return this.ip.gsoCapable?.(dst) ?? false;
  }

  pathMtu(dst: IPv4Address): number {
    const e = this.pmtu.get(dst);
    const dev = this.ip.mtuFor(dst);
    if (e === undefined) return dev;
    if (e.expires <= this.clock.now()) {
      this.pmtu.delete(dst);
      return dev;
    }
    return Math.min(e.mtu, dev);
  }

  advMssFor(dst: IPv4Address): number {
    return Math.max(88, this.ip.mtuFor(dst) - 40);
  }

  allowChallengeAck(): boolean {
    const now = this.clock.now();
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.opts.challengeAckLimit) return false;
    this.challengeCount++;
    return true;
  }

  connectionEstablished(c: TcpConnection): void {
    const l = c.listener;
    if (l === null) return;
    c.listener = null;
    l.synQueue--;
    (l as TcpListener).onConnection(c);
  }

  deferOutput(c: TcpConnection): boolean {
    if (!this.batching) return false;
    if (!c.outputDeferred) {
      c.outputDeferred = true;
      this.deferred.push(c);
    }
    return true;
  }

  /** The batch is in: each connection that had input sends what is due, its ACK once. */
  private endBatch(): void {
    this.batching = false;
    const list = this.deferred;
    try {
      for (let i = 0; i < list.length; i++) {
        const c = list[i]!;
        c.outputDeferred = false;
        c.output();
      }
    } finally {
      for (const c of list) c.outputDeferred = false;
      list.length = 0;
    }
  }

  timeWaitDone(c: TcpConnection): void {
    // tcp_time_wait: with tcp_max_tw_buckets records held there is no bucket,
    // and the socket is simply done (TCPTimeWaitOverflow).
    if (this.timeWaits.size >= this.opts.maxTimeWait) {
      this.stats.timeWaitOverflow++;
      c.destroy();
      return;
    }
    const window = Math.min(65535, Math.floor(c.rcv.selectWindow() / 2 ** c.rcvWscale));
    const tsOffset = (c.tsNow() - Math.floor(this.clock.now())) >>> 0;
    const { localAddress, localPort, remoteAddress, remotePort } = c;
    const sndNxt = c.snd.sndMax;
    const rcvNxt = c.rcv.rcvNxt;
    c.destroy();
    this.register(this.timeWaits.add(localAddress, localPort, remoteAddress, remotePort, sndNxt, rcvNxt, window, c.tsOk, c.tsRecent, tsOffset));
  }

  timeWaitOver(tw: TimeWaitSock): void {
    this.unregister(tw);
  }

  connectionClosed(c: TcpConnection, previous: TcpState): void {
    void previous;
    if (c.listener !== null) {
      c.listener.synQueue--;
      c.listener = null;
    }
    this.unregister(c);
    this.all.delete(c);
  }

  private unregister(c: TcpConnection | TimeWaitSock): void {
    const key = tupleKey(c.remoteAddress, c.remotePort, c.localPort);
    const slot = this.table.get(key);
    if (slot === undefined) return;
    if (!Array.isArray(slot)) {
      if (slot === c) this.table.delete(key);
      return;
    }
    const i = slot.indexOf(c);
    if (i >= 0) slot.splice(i, 1);
    if (slot.length === 1) this.table.set(key, slot[0]!);
    else if (slot.length === 0) this.table.delete(key);
  }

  // ---- sockets ---------------------------------------------------------------

  /** Listens on a port (all addresses unless `address`); throws EADDRINUSE. */
  listen(opts: ListenOptions, onConnection: (c: TcpConnection) => void): TcpListener {
    const port = opts.port;
    const address = opts.address ?? 0;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw tcpError('EINVAL', `port ${port}`);
    if (address !== 0 && !this.ip.isLocalAddress(address)) throw tcpError('EADDRNOTAVAIL', formatIPv4(address));
    if (this.listenerConflict(port, address)) throw tcpError('EADDRINUSE', `${formatIPv4(address)}:${port}`);
    const l = new TcpListener(this, address, port, Math.max(1, opts.backlog ?? 511), onConnection);
    const list = this.listeners.get(port);
    if (list === undefined) this.listeners.set(port, [l]);
    else list.push(l);
    return l;
  }

  private listenerConflict(port: number, address: IPv4Address): boolean {
    const list = this.listeners.get(port);
    if (list === undefined) return false;
    for (const l of list) if (l.address === 0 || address === 0 || l.address === address) return true;
    return false;
  }

  /** @internal */
  removeListener(l: TcpListener): void {
    const list = this.listeners.get(l.port);
    if (list !== undefined) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.listeners.delete(l.port);
    }
    for (const c of [...this.all]) if (c.listener === l) c.abort();
  }

  /** Opens a connection; the outcome arrives through the handler (established, or closed with ECONNREFUSED/ETIMEDOUT/…). */
  connect(
    opts: { remoteAddress: IPv4Address; remotePort: number; localAddress?: IPv4Address; localPort?: number },
    handler: TcpConnectionHandler,
  ): TcpConnection {
    const remote = opts.remoteAddress >>> 0;
    const rport = opts.remotePort;
    if (!Number.isInteger(rport) || rport < 1 || rport > 65535) throw tcpError('EINVAL', `remote port ${rport}`);
    let local = opts.localAddress;
    if (local === undefined || local === 0) {
      local = this.ip.localAddressFor(remote);
      if (local === undefined) throw tcpError('ENETUNREACH', `no route to ${formatIPv4(remote)}`);
    } else if (!this.ip.isLocalAddress(local)) {
      throw tcpError('EADDRNOTAVAIL', formatIPv4(local));
    }
    let lport = opts.localPort ?? 0;
    if (lport !== 0) {
      if (this.lookup(local, lport, remote, rport) !== undefined || this.listenerConflict(lport, local)) {
        throw tcpError('EADDRINUSE', `${formatIPv4(local)}:${lport}`);
      }
    } else {
      lport = this.ephemeralPort(local, remote, rport);
    }
    const c = new TcpConnection(this, local, lport, remote, rport, false);
    c.handler = handler;
    this.register(c);
    this.stats.activeOpens++;
    startActiveOpen(c);
    return c;
  }

  /** RFC 6056 algorithm 3: a keyed per-destination start, then a scan for a free 4-tuple. */
  private ephemeralPort(local: IPv4Address, remote: IPv4Address, rport: number): number {
    const [lo, hi] = this.opts.ephemeralPortRange;
    const n = hi - lo + 1;
    const offset = this.secrets.portOffset(local, remote, rport) + this.portCounter;
    for (let i = 0; i < n; i++) {
      const port = lo + ((offset + i) % n);
      if (this.listeners.has(port) || this.lookup(local, port, remote, rport) !== undefined) continue;
      this.portCounter += i + 1;
      return port;
    }
    throw tcpError('EADDRNOTAVAIL', 'no free ephemeral port');
  }

  private register(c: TcpConnection | TimeWaitSock): void {
    const key = tupleKey(c.remoteAddress, c.remotePort, c.localPort);
    const slot = this.table.get(key);
    if (slot === undefined) this.table.set(key, c);
    else if (Array.isArray(slot)) slot.push(c);
    else this.table.set(key, [slot, c]);
    if (c instanceof TcpConnection) this.all.add(c);
  }

  private lookup(local: IPv4Address, lport: number, remote: IPv4Address, rport: number): TcpConnection | TimeWaitSock | undefined {
    const slot = this.table.get(tupleKey(remote, rport, lport));
    if (slot === undefined) return undefined;
    if (!Array.isArray(slot)) {
      const c = slot;
      return c.localPort === lport && c.localAddress === local && c.remoteAddress === remote && c.remotePort === rport ? c : undefined;
    }
    for (let i = 0; i < slot.length; i++) {
      const c = slot[i]!;
      if (c.localPort === lport && c.localAddress === local && c.remoteAddress === remote && c.remotePort === rport) return c;
    }
    return undefined;
  }

  private findListener(local: IPv4Address, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (list === undefined) return undefined;
    let wildcard: TcpListener | undefined;
    for (const l of list) {
      if (l.address === local) return l;
      if (l.address === 0) wildcard = l;
    }
    return wildcard;
  }

  // ---- input -------------------------------------------------------------------

  /**
   * A TCP segment (header + payload, borrowed) from `src` to our `dst`;
   * `tos` is the IP header's TOS byte (its ECN bits matter here, ecn.ts).
   */
  input(src: IPv4Address, dst: IPv4Address, segment: Uint8Array, csumOk = false, tos = 0): void {
    const stats = this.stats;
    stats.inSegs++;
    const v = this.view;
    const r = v.parse(segment, src, dst, !csumOk);
    if (r !== 'ok') {
      stats.drops[r]++;
      return;
    }
    v.ipEcn = tos & 3;
    let isnHint: number | undefined;
    const c = this.lookup(dst, v.dstPort, src, v.srcPort);
    if (c !== undefined) {
      const bareSyn = (v.flags & (FLAG_SYN | FLAG_ACK | FLAG_RST)) === FLAG_SYN;
      if (c instanceof TimeWaitSock) {
        if (bareSyn && c.acceptsSyn(v)) {
          isnHint = (c.sndNxt + 65535 + 2) >>> 0;
          c.end();
          stats.timeWaitRecycled++;
        } else {
          c.input(v);
          return;
        }
      } else if (c.state === 'TIME-WAIT' && bareSyn && timeWaitAcceptsSyn(c, v)) {
        isnHint = (c.snd.sndMax + 65535 + 2) >>> 0;
        c.destroy();
        stats.timeWaitRecycled++;
      } else {
        c.input(v);
        return;
      }
    }
    if (!this.ip.isLocalAddress(dst) || src === 0 || src === 0xffffffff || src >>> 28 === 0xe) {
      stats.drops.notUnicast++;
      return;
    }
    const l = this.findListener(dst, v.dstPort);
    if (l !== undefined) this.listenerInput(l, v, isnHint);
    else this.noSocket(v);
  }

  private listenerInput(l: TcpListener, v: SegmentView, isnHint: number | undefined): void {
    const stats = this.stats;
    const now = this.clock.now();
    // tcp_rcv_state_process, TCP_LISTEN: a RST is discarded (drop reason TCP_RESET) — counted, not silent.
    if (v.has(FLAG_RST)) {
      stats.drops.rstToListener++;
      return;
    }
    if (v.has(FLAG_ACK)) {
      if (!v.has(FLAG_SYN) && this.opts.synCookies && now - l.lastOverflowAt < 2 * COOKIE_PERIOD_MS) {
        const mss = this.secrets.checkCookie(v.dst, v.dstPort, v.src, v.srcPort, (v.ack - 1) >>> 0, (v.seq - 1) >>> 0, now);
        if (mss !== undefined) {
          stats.synCookiesRecv++;
          stats.passiveOpens++;
          const c = new TcpConnection(this, v.dst, v.dstPort, v.src, v.srcPort, true);
          c.listener = l;
          l.synQueue++;
          this.register(c);
          establishFromCookie(c, v, mss);
          if (c.state !== 'CLOSED' && (v.dataLen > 0 || v.flags & 1)) c.input(v);
          return;
        }
        stats.synCookiesFailed++;
      }
      // tcp_rcv_state_process, TCP_LISTEN: "if (th->ack) return 1" → tcp_v4_do_rcv resets; counted as a refusal.
      stats.drops.ackToListener++;
      this.sendReset(v);
      return;
    }
    if (!v.has(FLAG_SYN)) {
      stats.drops.noSocket++;
      return;
    }
    if (l.synQueue >= l.backlog) {
      stats.listenOverflows++;
      if (!this.opts.synCookies) {
        stats.drops.listenDrops++;
        return;
      }
      l.lastOverflowAt = now;
      const mssOffered = v.mss > 0 ? v.mss : 536;
      const { isn } = this.secrets.cookie(v.dst, v.dstPort, v.src, v.srcPort, v.seq, mssOffered, now);
      stats.synCookiesSent++;
      sendCookieSynAck(this, v, isn);
      return;
    }
    stats.passiveOpens++;
    const c = new TcpConnection(this, v.dst, v.dstPort, v.src, v.srcPort, true);
    c.listener = l;
    l.synQueue++;
    this.register(c);
    const iss = isnHint ?? this.secrets.isn(v.dst, v.dstPort, v.src, v.srcPort, now);
    startPassiveOpen(c, v, iss);
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection gets a RST unless it is one. */
  private noSocket(v: SegmentView): void {
    this.stats.drops.noSocket++;
    if (v.has(FLAG_RST)) return;
    this.sendReset(v);
  }

  private sendReset(v: SegmentView): void {
    const ack = v.has(FLAG_ACK);
    const buf = this.scratch;
    finishSegment(
      buf,
      20,
      20,
      {
        srcPort: v.dstPort,
        dstPort: v.srcPort,
        seq: ack ? v.ack : 0,
        ack: ack ? 0 : (v.seq + v.segLen) >>> 0,
        flags: ack ? FLAG_RST : FLAG_RST | FLAG_ACK,
        window: 0,
      },
      v.dst,
      v.src,
    );
    this.stats.outSegs++;
    this.stats.outRsts++;
    this.sendRaw(v.dst, v.src, buf.subarray(0, 20));
  }

  /** An ICMP error quoting one of our segments (type 3 or 11; code; next-hop MTU for "fragmentation needed"). */
  icmpError(q: TcpQuote, type: number, code: number, nextHopMtu: number): void {
    const c = this.lookup(q.src, q.srcPort, q.dst, q.dstPort);
    if (c === undefined || c instanceof TimeWaitSock) return;
    const snd = c.snd;
    // RFC 5927: only errors about data in flight (Linux: snd_una <= seq < snd_nxt).
    if (q.seq !== undefined && c.state !== 'SYN-SENT' && !(seqGeq(q.seq, snd.sndUna) && seqLt(q.seq, snd.sndMax))) return;
    if (type === 3 && code === 4) {
      const mtu = nextHopMtu >= 68 ? Math.max(nextHopMtu, MIN_PMTU) : MIN_PMTU;
      if (mtu >= c.pmtu) return;
      this.stats.pmtuUpdates++;
      this.pmtu.set(q.dst, { mtu, expires: this.clock.now() + PMTU_EXPIRES_MS });
      for (const other of [...this.all]) if (other.remoteAddress === q.dst) other.pmtuChanged(mtu);
      return;
    }
    if (type !== 3 && type !== 11) return;
    const errno = type === 11 ? 'EHOSTUNREACH' : UNREACH_ERRNO[code] ?? 'EHOSTUNREACH';
    if (c.state === 'SYN-SENT' || (c.state === 'SYN-RECV' && !c.passive)) {
      c.fail(tcpError(errno, `ICMP type ${type} code ${code}`));
    } else if (c.state === 'SYN-RECV') {
      c.destroy();
    } else if (isSynchronized(c.state)) {
      c.softError = errno;
    }
  }

  // ---- inspection ------------------------------------------------------------------

  /**
   * The state of a 4-tuple as `ss` shows it: a connection's own state, or
   * TIME-WAIT while a record holds the tuple after its connection is gone,
   * else CLOSED.
   */
  socketState(t: { localAddress: IPv4Address; localPort: number; remoteAddress: IPv4Address; remotePort: number }): TcpState {
    return this.lookup(t.localAddress, t.localPort, t.remoteAddress, t.remotePort)?.state ?? 'CLOSED';
  }

  connections(): TcpInfo[] {
    return [...[...this.all].map((c) => c.info()), ...[...this.timeWaits].map(timeWaitInfo)];
  }

  /**
   * The SYN queues of every listener against their backlogs (refusals:
   * ListenOverflows, answered with cookies when they are on), and TIME-WAIT
   * against tcp_max_tw_buckets. Half-open connections leave when their
   * SYN-ACK retransmissions run out; TIME-WAIT after 2·MSL.
   */
  tables(): TableUsage[] {
    let synQueue = 0;
    let backlog = 0;
    for (const list of this.listeners.values()) {
      for (const l of list) {
        synQueue += l.synQueue;
        backlog += l.backlog;
      }
    }
    return [
      { table: 'tcp.synQueue', size: synQueue, limit: backlog, unit: 'entries', refused: this.stats.listenOverflows, evicted: 0, like: 'listen backlog' },
      { table: 'tcp.timeWait', size: this.timeWaits.size, limit: this.opts.maxTimeWait, unit: 'entries', refused: this.stats.timeWaitOverflow, evicted: 0, like: 'tcp_max_tw_buckets' },
    ];
  }

  /** Listening sockets as [address, port, SYN queue, backlog]. */
  listening(): Array<{ address: string; port: number; synQueue: number; backlog: number }> {
    const out: Array<{ address: string; port: number; synQueue: number; backlog: number }> = [];
    for (const list of this.listeners.values()) {
      for (const l of list) out.push({ address: formatIPv4(l.address), port: l.port, synQueue: l.synQueue, backlog: l.backlog });
    }
    return out;
  }

  /** Like `ss -tani`: one line per socket, and for connections a second line of internals. */
  format(): string {
    return formatSockets(this.listening(), [...this.all], [...this.timeWaits].map(timeWaitInfo));
  }

  /** Aborts every connection and forgets every listener (timers stop). */
  close(): void {
    for (const list of [...this.listeners.values()]) for (const l of [...list]) l.close();
    for (const c of [...this.all]) c.destroy();
    for (const tw of [...this.timeWaits]) tw.end();
  }
}

/** A TIME-WAIT record as `ss` shows it: the 4-tuple and the state; nothing queued, no congestion state. */
function timeWaitInfo(tw: TimeWaitSock): TcpInfo {
  return {
    state: 'TIME-WAIT', localAddress: formatIPv4(tw.localAddress), localPort: tw.localPort, remoteAddress: formatIPv4(tw.remoteAddress), remotePort: tw.remotePort,
    cwnd: 0, ssthresh: undefined, srttMs: undefined, rttvarMs: 0, rtoMs: 0, mss: 0, retransmits: 0, bytesSent: 0, bytesAcked: 0, bytesReceived: 0,
    sendQueue: 0, receiveQueue: 0, sack: false, timestamps: tw.tsOk, cc: '', caState: 'open', sndWnd: 0, rcvWnd: 0, ecn: false, ecnSeen: false,
  };
}
