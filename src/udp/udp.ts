/**
 * The UDP layer of one host: the port table, demultiplexing of received
 * datagrams to sockets, ICMP port unreachable for closed ports, ICMP errors
 * back to connected sockets, and ephemeral port allocation.
 *
 * Hand-written: Node's `dgram` only talks to the kernel's UDP, and wirelab's
 * hosts have their own IP layer underneath. The rules are Linux's
 * (net/ipv4/udp.c), so a wirelab host and a kernel peer agree:
 * - bind conflicts: two sockets on one port conflict when either is bound to
 *   0.0.0.0 or both to the same address, unless BOTH set SO_REUSEADDR;
 * - demux scores a socket +4 for a matching bound address and +8 for a
 *   matching connected peer (a connected socket never sees other peers); the
 *   best score wins, ties going to the socket bound last; broadcast and
 *   multicast go to every matching socket;
 * - nothing listening: ICMP port unreachable (NoPorts), except for broadcast
 *   and multicast, which are only counted (IgnoredMulti);
 * - ICMP errors reach only connected sockets (no IP_RECVERR).
 */
import type { Clock } from '../time/index.js';
import { type IPv4Address, formatIPv4 } from '../wire/address.js';
import { ICMP_TYPE } from '../wire/icmp.js';
import { IP_PROTOCOL_UDP, decodeUdp, encodeUdp } from '../wire/udp.js';
import { UdpSocket, type UdpSocketOptions, type UdpSocketEvents } from './socket.js';

/** What the UDP layer needs from the host's IP layer. */
export interface IpSender {
  sendIPv4(
    dst: IPv4Address,
    protocol: number,
    payload: Uint8Array,
    opts?: { src?: IPv4Address; ttl?: number; dontFragment?: boolean; broadcast?: boolean },
  ): 'sent' | 'queued' | Error;
  /** Source address the route to `dst` would use; undefined when there is no route. */
  localAddressFor(dst: IPv4Address): IPv4Address | undefined;
  isLocalAddress(a: IPv4Address): boolean;
  isBroadcast(a: IPv4Address): boolean;
  sendIcmpPortUnreachable(originalIpDatagram: Uint8Array): void;
}

export interface UdpLayerOptions {
  /** Random numbers in [0, 1) for the ephemeral port search. Default Math.random. */
  random?: () => number;
  /** Inclusive ephemeral range, like net.ipv4.ip_local_port_range. Default [49152, 65535] (Node/IANA). */
  ephemeralPortRange?: readonly [number, number];
}

/** Counters named after Linux's `Udp:` lines in /proc/net/snmp. */
export interface UdpStats {
  /** Datagrams queued to a socket. */
  inDatagrams: number;
  /** Unicast datagrams to a port nobody listens on (ICMP port unreachable sent). */
  noPorts: number;
  /** Broadcast/multicast datagrams nobody listens for (no ICMP). */
  ignoredMulti: number;
  /** Datagrams dropped for a bad header, bad checksum or a full receive queue. */
  inErrors: number;
  outDatagrams: number;
  /** Sends that failed (EACCES, EMSGSIZE, ENETUNREACH, an IP-layer error, …). */
  sendErrors: number;
  /** ICMP errors handed to a connected socket / ignored (no connected socket matched). */
  icmpErrorsReported: number;
  icmpErrorsIgnored: number;
  drops: {
    /** Checksum did not verify (Linux InCsumErrors). */
    badChecksum: number;
    /** Length field below 8 or past the bytes received. */
    badLength: number;
    /** Fewer than 8 bytes. */
    truncated: number;
    /** A socket's receive queue was full (Linux RcvbufErrors). */
    rcvbuf: number;
  };
}

export interface UdpSocketInfo {
  state: 'UNCONN' | 'ESTAB';
  local: { address: string; port: number };
  remote?: { address: string; port: number };
  /** Payload bytes waiting to be delivered, as ss prints Recv-Q. */
  recvQ: number;
  /** Always 0: datagrams leave when sent. */
  sendQ: number;
  recvQFrames: number;
  drops: number;
}

/** The four fields of a datagram we sent, as quoted in an ICMP error. */
export interface UdpQuote {
  src: IPv4Address;
  dst: IPv4Address;
  srcPort: number;
  dstPort: number;
}

export type UdpIcmpErrorCode =
  | 'ECONNREFUSED'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EHOSTDOWN'
  | 'ENONET'
  | 'ENOPROTOOPT'
  | 'EMSGSIZE'
  | 'EOPNOTSUPP'
  | 'EACCES'
  | 'EPROTO';

/** Destination unreachable code → (errno, hard) as Linux's icmp_err_convert table. */
const UNREACH_ERRORS: ReadonlyArray<readonly [UdpIcmpErrorCode, boolean]> = [
  ['ENETUNREACH', true], // NET
  ['EHOSTUNREACH', true], // HOST
  ['ENOPROTOOPT', true], // PROTOCOL
  ['ECONNREFUSED', true], // PORT
  ['EMSGSIZE', true], // FRAGMENTATION_NEEDED: hard for UDP with the default IP_PMTUDISC_WANT
  ['EOPNOTSUPP', false], // SOURCE_ROUTE_FAILED
  ['ENETUNREACH', true], // NET_UNKNOWN
  ['EHOSTDOWN', true], // HOST_UNKNOWN
  ['ENONET', true], // SOURCE_HOST_ISOLATED
  ['ENETUNREACH', true], // NET_PROHIBITED
  ['EHOSTUNREACH', true], // HOST_PROHIBITED
  ['ENETUNREACH', true], // NET_TOS
  ['EHOSTUNREACH', true], // HOST_TOS
  ['EHOSTUNREACH', true], // ADMIN_PROHIBITED
  ['EHOSTUNREACH', true], // HOST_PRECEDENCE_VIOLATION
  ['EHOSTUNREACH', true], // PRECEDENCE_CUTOFF
];

/**
 * The error a UDP socket sees for an ICMP message about a datagram it sent,
 * as Linux's __udp4_lib_err: `hard` errors reach connected sockets; soft
 * ones (time exceeded, …) only sockets with IP_RECVERR, which wirelab lacks.
 * Undefined for ICMP types that are not errors.
 */
export function udpErrorForIcmp(type: number, code: number): { code: UdpIcmpErrorCode; hard: boolean } | undefined {
  if (type === ICMP_TYPE.DEST_UNREACHABLE) {
    const e = UNREACH_ERRORS[code];
    return e === undefined ? { code: 'EHOSTUNREACH', hard: false } : { code: e[0], hard: e[1] };
  }
  if (type === ICMP_TYPE.TIME_EXCEEDED) return { code: 'EHOSTUNREACH', hard: false };
  if (type === ICMP_TYPE.PARAMETER_PROBLEM) return { code: 'EPROTO', hard: true };
  return undefined;
}

const UDP_MAX_PAYLOAD = 65535 - 20 - 8; // 65507: one IPv4 datagram without options

function isMulticast(a: IPv4Address): boolean {
  return a >>> 28 === 0xe;
}

function newStats(): UdpStats {
  return {
    inDatagrams: 0,
    noPorts: 0,
    ignoredMulti: 0,
    inErrors: 0,
    outDatagrams: 0,
    sendErrors: 0,
    icmpErrorsReported: 0,
    icmpErrorsIgnored: 0,
    drops: { badChecksum: 0, badLength: 0, truncated: 0, rcvbuf: 0 },
  };
}

export class UdpLayer {
  readonly stats: UdpStats = newStats();
  /** Sockets by local port, in bind order (the last one bound wins ties). */
  private readonly ports = new Map<number, UdpSocket[]>();
  /** Every socket in the port table, in bind order (for listings). */
  private readonly bound = new Set<UdpSocket>();
  private readonly random: () => number;
  private readonly ephemeralLow: number;
  private readonly ephemeralHigh: number;

  constructor(
    readonly ip: IpSender,
    readonly clock: Clock,
    opts: UdpLayerOptions = {},
  ) {
    this.random = opts.random ?? Math.random;
    const [low, high] = opts.ephemeralPortRange ?? [49152, 65535];
    if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
      throw new RangeError(`ephemeral port range ${low}-${high} must be within 1-65535, low <= high`);
    }
    this.ephemeralLow = low;
    this.ephemeralHigh = high;
  }

  /** Like dgram.createSocket: options (or 'udp4') and an optional 'message' listener. */
  createSocket(opts?: UdpSocketOptions | 'udp4', onMessage?: (...args: UdpSocketEvents['message']) => void): UdpSocket {
    const sock = new UdpSocket(this, typeof opts === 'object' ? opts : {});
    if (onMessage !== undefined) sock.on('message', onMessage);
    return sock;
  }

  /**
   * A UDP datagram for a local address (or a broadcast/multicast one the IP
   * layer accepted). `udp` may be borrowed: what a socket keeps is copied.
   * `ipDatagram` is the whole IPv4 datagram, quoted in a port unreachable.
   */
  input(src: IPv4Address, dst: IPv4Address, udp: Uint8Array, ipDatagram: Uint8Array): void {
    const d = decodeUdp(udp, { src, dst });
    if (!d.ok) {
      const drops = this.stats.drops;
      if (d.code === 'bad-checksum') drops.badChecksum++;
      else if (d.code === 'truncated') drops.truncated++;
      else drops.badLength++;
      this.stats.inErrors++;
      return;
    }
    const { srcPort, dstPort, payload } = d.value;
    if (this.ip.isBroadcast(dst) || isMulticast(dst)) {
      let delivered = false;
      for (const sock of this.ports.get(dstPort) ?? []) {
        if (this.score(sock, src, srcPort, dst) < 0) continue;
        delivered = true;
        this.deliver(sock, payload, src, srcPort);
      }
      if (!delivered) this.stats.ignoredMulti++;
      return;
    }
    const sock = this.lookup(src, srcPort, dst, dstPort);
    if (sock === undefined) {
      this.stats.noPorts++;
      this.ip.sendIcmpPortUnreachable(ipDatagram);
      return;
    }
    this.deliver(sock, payload, src, srcPort);
  }

  /**
   * An ICMP error about a datagram this host sent. A connected socket whose
   * 4-tuple matches gets `code` (an 'error' event, or the failure of its next
   * send); others ignore it, as Linux sockets without IP_RECVERR do. Soft
   * errors (`hard: false`) are ignored. Returns whether a socket got it.
   */
  icmpError(quoted: UdpQuote, code: UdpIcmpErrorCode | string, opts?: { hard?: boolean }): boolean {
    // The socket that would receive the reply to the quoted datagram.
    const sock = this.lookup(quoted.dst, quoted.dstPort, quoted.src, quoted.srcPort);
    if (sock === undefined || !sock.connected || opts?.hard === false) {
      this.stats.icmpErrorsIgnored++;
      return false;
    }
    this.stats.icmpErrorsReported++;
    sock.reportIcmpError(code);
    return true;
  }

  /** The port table, like `ss -uan`. */
  sockets(): UdpSocketInfo[] {
    const out: UdpSocketInfo[] = [];
    for (const sock of this.bound) {
      const b = sock.binding;
      const info: UdpSocketInfo = {
        state: b.remotePort !== 0 ? 'ESTAB' : 'UNCONN',
        local: { address: formatIPv4(b.rcvAddr || b.srcAddr), port: b.port },
        recvQ: sock.recvQueueBytes,
        sendQ: 0,
        recvQFrames: sock.recvQueueFrames,
        drops: sock.stats.drops,
      };
      if (b.remotePort !== 0) info.remote = { address: formatIPv4(b.remoteAddr), port: b.remotePort };
      out.push(info);
    }
    return out;
  }

  /**
   * Like `ss -uan`:
   * ```
   * State  Recv-Q Send-Q Local Address:Port Peer Address:Port
   * UNCONN 0      0            0.0.0.0:53        0.0.0.0:*
   * ESTAB  0      0           10.0.0.2:49152    10.0.0.1:53
   * ```
   */
  format(): string {
    const rows = this.sockets().map((s) => ({
      state: s.state,
      recvQ: String(s.recvQ),
      sendQ: String(s.sendQ),
      localAddr: s.local.address,
      localPort: String(s.local.port),
      peerAddr: s.remote?.address ?? '0.0.0.0',
      peerPort: s.remote === undefined ? '*' : String(s.remote.port),
    }));
    const width = (title: string, values: string[]): number => Math.max(title.length, ...values.map((v) => v.length));
    const wState = width('State', rows.map((r) => r.state));
    const wRecv = width('Recv-Q', rows.map((r) => r.recvQ));
    const wSend = width('Send-Q', rows.map((r) => r.sendQ));
    const wLocalAddr = width('Local Address', rows.map((r) => r.localAddr));
    const wLocalPort = width('Port', rows.map((r) => r.localPort));
    const wPeerAddr = width('Peer Address', rows.map((r) => r.peerAddr));
    const line = (c: string[]): string =>
      [
        c[0]!.padEnd(wState),
        c[1]!.padEnd(wRecv),
        c[2]!.padEnd(wSend),
        `${c[3]!.padStart(wLocalAddr)}:${c[4]!.padEnd(wLocalPort)}`,
        `${c[5]!.padStart(wPeerAddr)}:${c[6]!}`,
      ]
        .join(' ')
        .trimEnd();
    const lines = [line(['State', 'Recv-Q', 'Send-Q', 'Local Address', 'Port', 'Peer Address', 'Port'])];
    for (const r of rows) lines.push(line([r.state, r.recvQ, r.sendQ, r.localAddr, r.localPort, r.peerAddr, r.peerPort]));
    return lines.join('\n');
  }

  // ---- used by UdpSocket ----

  /**
   * @internal Puts `sock` in the port table at `addr:port` (port 0: an
   * ephemeral port). Returns the errno code on failure.
   */
  bindSocket(sock: UdpSocket, addr: IPv4Address, port: number): 'EADDRINUSE' | 'EADDRNOTAVAIL' | undefined {
    const local = addr !== 0 && this.ip.isLocalAddress(addr);
    if (addr !== 0 && !local && !this.ip.isBroadcast(addr) && !isMulticast(addr)) return 'EADDRNOTAVAIL';
    let chosen = port;
    if (chosen === 0) {
      const found = this.findEphemeralPort();
      if (found === undefined) return 'EADDRINUSE';
      chosen = found;
    } else {
      for (const other of this.ports.get(chosen) ?? []) {
        if (other !== sock && this.conflicts(sock, addr, other)) return 'EADDRINUSE';
      }
    }
    const b = sock.binding;
    b.rcvAddr = addr;
    // Bound to a broadcast or multicast address, the source is chosen per route (Linux: "use device").
    b.srcAddr = local ? addr : 0;
    b.port = chosen;
    let list = this.ports.get(chosen);
    if (list === undefined) {
      list = [];
      this.ports.set(chosen, list);
    }
    list.push(sock);
    this.bound.add(sock);
    return undefined;
  }

  /** @internal Takes `sock` out of the port table (close, or disconnect of an auto-bound port). */
  unbindSocket(sock: UdpSocket): void {
    const b = sock.binding;
    if (b.port === 0) return;
    const list = this.ports.get(b.port);
    if (list !== undefined) {
      const i = list.indexOf(sock);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.ports.delete(b.port);
    }
    this.bound.delete(sock);
    b.port = 0;
  }

  /**
   * @internal connect(): checks the route and broadcast permission, and fixes
   * the local address to the route's source when bound to 0.0.0.0 (Linux
   * ip4_datagram_connect). Returns the errno code on failure.
   */
  connectSocket(sock: UdpSocket, dst: IPv4Address, dstPort: number, broadcastAllowed: boolean): string | undefined {
    if (this.ip.isBroadcast(dst) && !broadcastAllowed) return 'EACCES';
    const b = sock.binding;
    let src = b.srcAddr;
    if (src === 0) {
      const routed = this.ip.localAddressFor(dst);
      if (routed === undefined) return 'ENETUNREACH';
      src = routed;
    }
    b.srcAddr = src;
    if (b.rcvAddr === 0) b.rcvAddr = src;
    b.remoteAddr = dst;
    b.remotePort = dstPort;
    return undefined;
  }

  /**
   * @internal disconnect(): forgets the peer; an address chosen by connect
   * goes back to 0.0.0.0 and a port chosen by the stack is released, to be
   * chosen again by the next send (Linux __udp_disconnect).
   */
  disconnectSocket(sock: UdpSocket): void {
    const b = sock.binding;
    b.remoteAddr = 0;
    b.remotePort = 0;
    if (!b.addrLocked) {
      b.rcvAddr = 0;
      b.srcAddr = 0;
    } else if (!this.ip.isLocalAddress(b.rcvAddr)) {
      b.srcAddr = 0;
    }
    if (!b.portLocked) this.unbindSocket(sock);
  }

  /** @internal Sends one datagram from `sock` (bound); returns the errno code on failure. */
  transmit(
    sock: UdpSocket,
    payload: Uint8Array,
    dst: IPv4Address,
    dstPort: number,
    broadcastAllowed: boolean,
    ttl: number | undefined,
  ): string | undefined {
    const code = this.transmitInner(sock, payload, dst, dstPort, broadcastAllowed, ttl);
    if (code === undefined) this.stats.outDatagrams++;
    return code;
  }

  private transmitInner(
    sock: UdpSocket,
    payload: Uint8Array,
    dst: IPv4Address,
    dstPort: number,
    broadcastAllowed: boolean,
    ttl: number | undefined,
  ): string | undefined {
    // Checks in Linux's udp_sendmsg order.
    if (payload.length > 0xffff) return 'EMSGSIZE';
    const broadcast = this.ip.isBroadcast(dst);
    if (broadcast && !broadcastAllowed) return 'EACCES';
    if (payload.length > UDP_MAX_PAYLOAD) return 'EMSGSIZE';
    const b = sock.binding;
    let src = b.srcAddr;
    if (src === 0) {
      const routed = this.ip.localAddressFor(dst);
      if (routed === undefined) return 'ENETUNREACH';
      src = routed;
    }
    const datagram = encodeUdp({ srcPort: b.port, dstPort }, payload, { src, dst });
    const opts: { src: IPv4Address; broadcast: boolean; ttl?: number } = { src, broadcast };
    if (ttl !== undefined) opts.ttl = ttl;
    const r = this.ip.sendIPv4(dst, IP_PROTOCOL_UDP, datagram, opts);
    if (r instanceof Error) {
      const code = (r as Error & { code?: unknown }).code;
      return typeof code === 'string' ? code : 'EIO';
    }
    return undefined;
  }

  // ---- internals ----

  /** Linux udp_lib_lport_inuse: a conflict unless the addresses differ (neither wildcard) or both reuse. */
  private conflicts(sock: UdpSocket, addr: IPv4Address, other: UdpSocket): boolean {
    const o = other.binding.rcvAddr;
    const overlap = o === 0 || addr === 0 || o === addr;
    return overlap && !(sock.binding.reuseAddr && other.binding.reuseAddr);
  }

  /** A random start in the range, then a scan (wrapping) for a port no socket holds. */
  private findEphemeralPort(): number | undefined {
    const count = this.ephemeralHigh - this.ephemeralLow + 1;
    const start = Math.min(count - 1, Math.floor(this.random() * count));
    for (let i = 0; i < count; i++) {
      const port = this.ephemeralLow + ((start + i) % count);
      if (!this.ports.has(port)) return port;
    }
    return undefined;
  }

  /** Linux compute_score: -1 = no match; +4 bound address; +8 connected peer. */
  private score(sock: UdpSocket, src: IPv4Address, srcPort: number, dst: IPv4Address): number {
    const b = sock.binding;
    let score = 0;
    if (b.rcvAddr !== 0) {
      if (b.rcvAddr !== dst) return -1;
      score += 4;
    }
    if (b.remotePort !== 0) {
      if (b.remoteAddr !== src || b.remotePort !== srcPort) return -1;
      score += 8;
    }
    return score;
  }

  /** The best-scoring socket for a unicast datagram; ties go to the one bound last. */
  private lookup(src: IPv4Address, srcPort: number, dst: IPv4Address, dstPort: number): UdpSocket | undefined {
    const list = this.ports.get(dstPort);
    if (list === undefined) return undefined;
    let best: UdpSocket | undefined;
    let bestScore = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      const sock = list[i]!;
      const s = this.score(sock, src, srcPort, dst);
      if (s > bestScore) {
        best = sock;
        bestScore = s;
      }
    }
    return best;
  }

  private deliver(sock: UdpSocket, payload: Uint8Array, src: IPv4Address, srcPort: number): void {
    if (sock.enqueue(payload, src, srcPort)) {
      this.stats.inDatagrams++;
    } else {
      this.stats.drops.rcvbuf++;
      this.stats.inErrors++;
    }
  }
}
