/**
 * TCP's vocabulary shared by every file of the core: the eleven states (named
 * as `ss` prints them), the options a TcpLayer takes and their Linux-like
 * defaults, the handler a connection reports to, what `info()` and the probe
 * hook expose, and the layer's counters.
 *
 * Hand-written: these are wirelab's own types; the state names and counter
 * names follow RFC 9293 and Linux (`ss -tni`, /proc/net/snmp, netstat -s).
 */
import type { IPv4Address } from '../wire/address.js';

/** RFC 9293 §3.3.2 states, spelled as `ss` prints them. */
export type TcpState =
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECV'
  | 'ESTAB'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT'
  | 'CLOSED';

/** States in which both sides have exchanged SYNs (RFC 9293's "synchronized" states). */
export function isSynchronized(s: TcpState): boolean {
  return s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECV' && s !== 'CLOSED';
}

/** States in which data from the peer is still delivered (its FIN not yet received). */
export function canReceive(s: TcpState): boolean {
  return s === 'ESTAB' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2';
}

/** An Error carrying Node's errno name. */
export type TcpErrorWithCode = Error & { code: string };

const MESSAGES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'connection timed out',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EPIPE: 'broken pipe',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  EINVAL: 'invalid argument',
};

export function tcpError(code: string, detail?: string): TcpErrorWithCode {
  const text = MESSAGES[code] ?? code.toLowerCase();
  return Object.assign(new Error(detail === undefined ? `${code}: ${text}` : `${code}: ${text} (${detail})`), { code });
}

/** What a connection tells its owner (the Node socket, or a test). Called synchronously from the TCP input path. */
export interface TcpConnectionHandler {
  /** The three-way handshake finished (active opens; passive ones are handed over already established). */
  established?(): void;
  /** In-order bytes from the peer; the chunk is owned by the callee. Call `consumed()` once the app has read them. */
  data(chunk: Uint8Array): void;
  /** The peer sent FIN: no more data will come (half-close). */
  peerFin(): void;
  /** Send-buffer space is available again after `write()` accepted less than offered. */
  writable(): void;
  /** The connection is over (err undefined: orderly close; otherwise ECONNRESET, ECONNREFUSED, ETIMEDOUT, …). */
  closed(err?: TcpErrorWithCode): void;
}

export type CongestionControlChoice = 'cubic' | 'newreno';

/** Options of a TcpLayer (every connection inherits them). Defaults as Linux. */
export interface TcpOptions {
  /** SACK-permitted on SYNs (net.ipv4.tcp_sack). Default true. */
  sack?: boolean;
  /**
   * RACK-TLP loss detection and tail loss probes (RFC 8985) when SACK is negotiated. Default true,
   * as Linux (tcp_recovery = 1); false falls back to the 3-dupack rule and RFC 6675's IsLost.
   */
  rack?: boolean;
  /**
   * Slow start after idle (RFC 7661 §4.1's restart rule as Linux's tcp_slow_start_after_idle = 1,
   * tcp_cwnd_restart): new data sent after more than one RTO with nothing in flight starts from
   * cwnd halved per RTO idle, never below min(cwnd, the initial window). Default true.
   */
  slowStartAfterIdle?: boolean;
  /**
   * ECN (RFC 3168). false (default) is Linux's tcp_ecn = 2: ECN is used when the peer's SYN asks for
   * it, never asked for; true is tcp_ecn = 1: our SYNs ask too.
   */
  ecn?: boolean;
  /** RFC 7323 timestamps (tcp_timestamps). Default true. */
  timestamps?: boolean;
  /** RFC 7323 window scaling (tcp_window_scaling). Default true. */
  windowScaling?: boolean;
  congestionControl?: CongestionControlChoice;
  /** Maximum segment lifetime; TIME-WAIT lasts 2*MSL. Default 30000 (60 s TIME-WAIT as Linux). */
  msl?: number;
  /**
   * Most TIME-WAIT records (tcp_max_tw_buckets). Past it a closing
   * connection skips TIME-WAIT and is gone once its last ACK is out, counted
   * in `timeWaitOverflow` (Linux's TCPTimeWaitOverflow). Default 131072,
   * what Linux sizes it to on a 4 GB machine; a record (src/tcp/timewait.ts)
   * costs about 200 heap bytes, so a full table is about 26 MB.
   */
  maxTimeWait?: number;
  minRtoMs?: number;
  /** Retransmissions of one segment before ETIMEDOUT (tcp_retries2). Default 15. */
  maxRetries?: number;
  /** SYN retransmissions before ETIMEDOUT (tcp_syn_retries). Default 6 (≈127 s). */
  synRetries?: number;
  /** SYN-ACK retransmissions of a half-open passive connection (tcp_synack_retries). Default 5. */
  synAckRetries?: number;
  /**
   * Initial send buffer (tcp_wmem[1]). Left unset, the buffer grows with the
   * congestion window up to `sendBufferMaxBytes` (tcp_sndbuf_expand); set, it
   * is fixed, as SO_SNDBUF locks it in Linux. Default 256 KiB.
   */
  sendBufferBytes?: number;
  /** Most a growing send buffer reaches (tcp_wmem[2]). Default 4 MiB. */
  sendBufferMaxBytes?: number;
  /**
   * Initial receive buffer (tcp_rmem[1]). Left unset, the buffer grows to
   * twice what the application reads per round trip, up to
   * `receiveBufferMaxBytes` (dynamic right-sizing, tcp_rcv_space_adjust);
   * set, it is fixed, as SO_RCVBUF locks it. Default 256 KiB.
   */
  receiveBufferBytes?: number;
  /** Most a growing receive buffer reaches (tcp_rmem[2]). Default 6 MiB. */
  receiveBufferMaxBytes?: number;
  /** Delayed-ACK timeout (Linux's delack ≈ 40 ms). Default 40. */
  delayedAckMs?: number;
  /** SYN cookies when a listener's SYN queue overflows (tcp_syncookies = 1). Default true. */
  synCookies?: boolean;
  /** Inclusive ephemeral port range (ip_local_port_range). Default [32768, 60999]. */
  ephemeralPortRange?: readonly [number, number];
  /** RFC 5961 challenge ACKs per second for the whole layer (tcp_challenge_ack_limit). Default 1000. */
  challengeAckLimit?: number;
  /** FIN-WAIT-2 timeout of a closed (orphaned) connection (tcp_fin_timeout). Default 60000. */
  finTimeoutMs?: number;
  /** Keepalive probes and interval (tcp_keepalive_probes / _intvl). Defaults 9 and 75000. */
  keepAliveProbes?: number;
  keepAliveIntervalMs?: number;
  /** Seeds the ISN / SYN-cookie / timestamp-offset key so virtual-clock runs repeat. Default: random. */
  seed?: number;
}

export type ResolvedTcpOptions = Required<Omit<TcpOptions, 'seed'>> & { seed: number | undefined };

/**
 * How far a buffer may grow: the ceiling given; else the initial size when
 * one was given (a fixed buffer, as SO_SNDBUF / SO_RCVBUF lock Linux's);
 * else Linux's default ceiling. Never below the initial size.
 */
function bufferCeiling(initial: number | undefined, ceiling: number | undefined, linuxDefault: number): number {
  const start = initial ?? 256 * 1024;
  return Math.max(start, ceiling ?? initial ?? linuxDefault);
}

export function resolveTcpOptions(o: TcpOptions = {}): ResolvedTcpOptions {
  return {
    sack: o.sack ?? true,
    rack: o.rack ?? true,
    slowStartAfterIdle: o.slowStartAfterIdle ?? true,
    ecn: o.ecn ?? false,
    timestamps: o.timestamps ?? true,
    windowScaling: o.windowScaling ?? true,
    congestionControl: o.congestionControl ?? 'cubic',
    msl: o.msl ?? 30_000,
    maxTimeWait: o.maxTimeWait ?? 131_072,
    minRtoMs: o.minRtoMs ?? 200,
    maxRetries: o.maxRetries ?? 15,
    synRetries: o.synRetries ?? 6,
    synAckRetries: o.synAckRetries ?? 5,
    sendBufferBytes: o.sendBufferBytes ?? 256 * 1024,
    sendBufferMaxBytes: bufferCeiling(o.sendBufferBytes, o.sendBufferMaxBytes, 4 * 1024 * 1024),
    receiveBufferBytes: o.receiveBufferBytes ?? 256 * 1024,
    receiveBufferMaxBytes: bufferCeiling(o.receiveBufferBytes, o.receiveBufferMaxBytes, 6 * 1024 * 1024),
    delayedAckMs: o.delayedAckMs ?? 40,
    synCookies: o.synCookies ?? true,
    ephemeralPortRange: o.ephemeralPortRange ?? [32768, 60999],
    challengeAckLimit: o.challengeAckLimit ?? 1000,
    finTimeoutMs: o.finTimeoutMs ?? 60_000,
    keepAliveProbes: o.keepAliveProbes ?? 9,
    keepAliveIntervalMs: o.keepAliveIntervalMs ?? 75_000,
    seed: o.seed,
  };
}

/** One connection as `ss -tni` shows it. */
export interface TcpInfo {
  state: TcpState;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Congestion window in segments (as ss). */
  cwnd: number;
  /** Slow-start threshold in segments; undefined while "infinite". */
  ssthresh: number | undefined;
  srttMs: number | undefined;
  rttvarMs: number;
  rtoMs: number;
  /** Effective send MSS (payload bytes per full segment, options accounted). */
  mss: number;
  /** Segments retransmitted over the connection's life. */
  retransmits: number;
  bytesSent: number;
  bytesAcked: number;
  bytesReceived: number;
  /** Bytes in the send buffer not yet acknowledged (ss Send-Q). */
  sendQueue: number;
  /** Bytes delivered to the app and not yet consumed (ss Recv-Q). */
  receiveQueue: number;
  /** [send shift, receive shift] when window scaling was negotiated. */
  wscale?: [number, number];
  sack: boolean;
  timestamps: boolean;
  cc: string;
  /** Fast-recovery / loss state as Linux names ca_state: open, disorder, cwr, recovery, loss. */
  caState: string;
  /** ECN negotiated (ss's `ecn`), and a CE mark seen (ss's `ecnseen`). */
  ecn: boolean;
  ecnSeen: boolean;
  /** Peer's advertised window in bytes (scaled). */
  sndWnd: number;
  /** Our advertised window in bytes. */
  rcvWnd: number;
}

/** What the probe hook sees of each segment (header fields; `len` = payload bytes). */
export interface TcpSegmentInfo {
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field. */
  window: number;
  len: number;
  /** TSval / TSecr when the segment carries timestamps. */
  tsVal?: number;
  tsEcr?: number;
  /** SACK blocks carried (D-SACK first). */
  sack?: Array<{ left: number; right: number }>;
  /** The IP header's ECN bits when not Not-ECT (2 = ECT(0), 3 = CE). */
  tos?: number;
}

/** Counters named after Linux's `Tcp:` and `TcpExt:` lines where the concept matches. */
export interface TcpStats {
  activeOpens: number;
  passiveOpens: number;
  attemptFails: number;
  estabResets: number;
  inSegs: number;
  outSegs: number;
  retransSegs: number;
  outRsts: number;
  synCookiesSent: number;
  synCookiesRecv: number;
  synCookiesFailed: number;
  listenOverflows: number;
  challengeAcks: number;
  challengeAcksSuppressed: number;
  delayedAcks: number;
  fastRetransmits: number;
  timeouts: number;
  sackRecoveries: number;
  renoRecoveries: number;
  dsacksReceived: number;
  dsacksSent: number;
  /** Tail loss probes sent (RFC 8985 §7; Linux TCPLossProbes). */
  lossProbes: number;
  /** Reductions undone because every retransmission of the episode was D-SACKed (Linux TCPDSACKUndo). */
  undoDsack: number;
  /** Fast recoveries undone at their end because the ACK's TSecr predates the first retransmission (TCPFullUndo). */
  undoRecovery: number;
  /** Recoveries undone on a partial ACK whose TSecr proves a delayed original, no retransmission out (TCPPartialUndo). */
  undoPartial: number;
  /** Timeouts undone: the ACK after an RTO shows the original arrived (TSecr, or all retransmissions D-SACKed; TCPLossUndo). */
  undoLoss: number;
  /** Connections that negotiated ECN (RFC 3168). */
  ecnNegotiated: number;
  /** Data segments received with CE in the IP header (as IpExt InCEPkts, TCP's share). */
  ecnCeReceived: number;
  /** ACKs received with ECE on an ECN connection. */
  ecnEceReceived: number;
  /** Congestion-window reductions for ECE, at most one per window (Linux's tcp_enter_cwr). */
  ecnCwndReductions: number;
  /** Segments sent with CWR. */
  ecnCwrSent: number;
  zeroWindowProbes: number;
  keepAliveProbes: number;
  timeWaitRecycled: number;
  /** Connections that closed without TIME-WAIT because maxTimeWait were in it (TCPTimeWaitOverflow). */
  timeWaitOverflow: number;
  pmtuUpdates: number;
  drops: {
    /** Checksum did not verify (Linux InCsumErrors). */
    badChecksum: number;
    /** Fewer than 20 bytes. */
    truncated: number;
    /** Data offset below 5 or past the segment. */
    badHeader: number;
    /** An option with a bad length. */
    badOption: number;
    /** Not to a unicast address of ours, or from a broadcast/multicast source. */
    notUnicast: number;
    /** Nothing listening (a RST was sent unless the segment was a RST). */
    noSocket: number;
    /** Sequence number outside the receive window (Linux TCPACKSkippedSeq / OFOdrop family). */
    outOfWindow: number;
    /** PAWS: timestamp older than TS.Recent (PAWSEstabRejected). */
    paws: number;
    /** ACK for data never sent. */
    ackUnsent: number;
    /** ACK older than snd.una - max window (RFC 5961 §5.2). */
    ackTooOld: number;
    /** RST not exactly at rcv.nxt (challenge ACK or dropped). */
    rstInvalid: number;
    /** SYN in a synchronized state (challenge ACK). */
    synInvalid: number;
    /** A segment without ACK in a synchronized state. */
    noAck: number;
    /** Out-of-order queue over its memory cap (OFOdrop). */
    oooQueueFull: number;
    /** SYN to a listener whose SYN queue is full, without cookies. */
    listenDrops: number;
    /** A RST (without ACK) to a listener: nothing to reset (Linux discards it in tcp_rcv_state_process, drop reason TCP_RESET). */
    rstToListener: number;
    /** An ACK (without SYN) to a listener that no SYN cookie vouches for: answered with a RST (tcp_v4_do_rcv → reset). */
    ackToListener: number;
  };
}

export function newTcpStats(): TcpStats {
  return {
    activeOpens: 0,
    passiveOpens: 0,
    attemptFails: 0,
    estabResets: 0,
    inSegs: 0,
    outSegs: 0,
    retransSegs: 0,
    outRsts: 0,
    synCookiesSent: 0,
    synCookiesRecv: 0,
    synCookiesFailed: 0,
    listenOverflows: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    delayedAcks: 0,
    fastRetransmits: 0,
    timeouts: 0,
    sackRecoveries: 0,
    renoRecoveries: 0,
    dsacksReceived: 0,
    dsacksSent: 0,
    lossProbes: 0,
    undoDsack: 0,
    undoRecovery: 0,
    undoPartial: 0,
    undoLoss: 0,
    ecnNegotiated: 0,
    ecnCeReceived: 0,
    ecnEceReceived: 0,
    ecnCwndReductions: 0,
    ecnCwrSent: 0,
    zeroWindowProbes: 0,
    keepAliveProbes: 0,
    timeWaitRecycled: 0,
    timeWaitOverflow: 0,
    pmtuUpdates: 0,
    drops: {
      badChecksum: 0,
      truncated: 0,
      badHeader: 0,
      badOption: 0,
      notUnicast: 0,
      noSocket: 0,
      outOfWindow: 0,
      paws: 0,
      ackUnsent: 0,
      ackTooOld: 0,
      rstInvalid: 0,
      synInvalid: 0,
      noAck: 0,
      oooQueueFull: 0,
      listenDrops: 0,
      rstToListener: 0,
      ackToListener: 0,
    },
  };
}

/** The four numbers that name a connection. */
export interface FourTuple {
  localAddress: IPv4Address;
  localPort: number;
  remoteAddress: IPv4Address;
  remotePort: number;
}
