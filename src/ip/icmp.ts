/**
 * ICMP for a wirelab host: the echo responder, the ping API, generating
 * errors (rate-limited as Linux does, never about ICMP errors, broadcasts or
 * later fragments), and routing received errors to whoever sent the datagram
 * they quote (a ping, a UDP socket, later TCP).
 */
import type { Clock } from '../time/index.js';
import { echoOptions } from './options-echo.js';
import { Timer } from '../time/index.js';
import { formatIPv4, parseIPv4, type IPv4Address } from '../wire/address.js';
import {
  decodeIcmp,
  decodeQuotedDatagram,
  encodeIcmp,
  ICMP_TYPE,
  ICMP_UNREACH,
  type QuotedDatagram,
} from '../wire/icmp.js';
import { ipv4Dst, ipv4HeaderLength, ipv4Protocol, ipv4Src, IP_PROTOCOL } from '../wire/ipv4.js';
import type { NetInterface } from './interface.js';
import type { IcmpErrorSink, IpLayer } from './ipv4.js';
import { IcmpRateLimiter } from './ratelimit.js';

export interface PingOptions {
  /** Payload bytes, as `ping -s` (default 56). */
  size?: number;
  timeoutMs?: number;
  ttl?: number;
  dontFragment?: boolean;
  sequence?: number;
  /** Source address to send from. */
  src?: string;
}

export interface PingReply {
  from: string;
  sequence: number;
  /** ICMP bytes received, as ping prints them ("64 bytes from …"). */
  bytes: number;
  ttl: number;
  rttMs: number;
}

/** Why a ping failed: Node-style `code`, and the router that said so, if any. */
export class PingError extends Error {
  constructor(
    message: string,
    readonly code: 'ETIMEDOUT' | 'EHOSTUNREACH' | 'ENETUNREACH' | 'EMSGSIZE' | 'ECONNREFUSED' | 'ETIMEEXCEEDED' | 'EINVAL',
    readonly from?: string,
    readonly icmp?: { type: number; code: number },
  ) {
    super(message);
  }
}

/** Receives ICMP errors about datagrams of one transport protocol. */
export type TransportErrorHandler = (quoted: QuotedDatagram, type: number, code: number, from: IPv4Address, nextHopMtu: number) => void;

interface PendingPing {
  resolve: (r: PingReply) => void;
  reject: (e: PingError) => void;
  sentAt: number;
  timer: Timer;
}

export interface IcmpStats {
  inMsgs: number;
  inEchos: number;
  inEchoReps: number;
  inErrors: number;
  outMsgs: number;
  outEchoReps: number;
  outErrors: number;
  rateLimited: number;
  drops: Record<string, number>;
}

/** Linux quotes as much of the original as fits a 576-byte ICMP datagram. */
const MAX_QUOTE = 576 - 20 - 8;

export class IcmpLayer implements IcmpErrorSink {
  readonly stats: IcmpStats = { inMsgs: 0, inEchos: 0, inEchoReps: 0, inErrors: 0, outMsgs: 0, outEchoReps: 0, outErrors: 0, rateLimited: 0, drops: {} };
  /** Set to false to answer broadcast pings (Linux: icmp_echo_ignore_broadcasts = 1). */
  ignoreBroadcastEcho = true;
  private readonly limiter: IcmpRateLimiter;
  private readonly pings = new Map<number, PendingPing>();
  private readonly transports = new Map<number, TransportErrorHandler>();
  private readonly identifier: number;
  private sequence = 0;

  constructor(
    private readonly ip: IpLayer,
    private readonly clock: Clock,
    opts: { identifier?: number; rateLimit?: boolean } = {},
  ) {
    this.identifier = (opts.identifier ?? 0x574c) & 0xffff; // 'WL'
    this.limiter = new IcmpRateLimiter(clock, opts.rateLimit === false ? { msgsPerSec: 0, peerIntervalMs: 0 } : undefined);
    ip.icmp = this;
    ip.register(IP_PROTOCOL.ICMP, (d, hl, iface) => this.input(d, hl, iface));
  }

  onTransportError(protocol: number, handler: TransportErrorHandler): void {
    this.transports.set(protocol, handler);
  }

  private drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  input(datagram: Uint8Array, hl: number, iface: NetInterface | undefined): void {
    this.stats.inMsgs++;
    const src = ipv4Src(datagram, 0);
    const dst = ipv4Dst(datagram, 0);
    const m = decodeIcmp(datagram.subarray(hl));
    if (!m.ok) return this.drop(m.code === 'bad-checksum' ? 'badChecksum' : m.code);
    const msg = m.value;
    switch (msg.kind) {
      case 'echo-request': {
        this.stats.inEchos++;
        if (this.ip.isBroadcast(dst) && this.ignoreBroadcastEcho) return this.drop('broadcastEcho');
        const reply = encodeIcmp({ kind: 'echo-reply', identifier: msg.identifier, sequence: msg.sequence, data: msg.data });
        const from = this.ip.isLocalAddress(dst) ? dst : iface?.sourceFor(src);
        // Record Route and Timestamp come back with our entry added (ip_options_echo), so ping -R shows the route.
        const options = hl > 20 ? echoOptions(datagram, 0, hl, from ?? dst, Number(this.clock.wallTimeNs() / 1_000_000n)) : undefined;
        const r = this.ip.send(src, IP_PROTOCOL.ICMP, reply, { src: from, tos: datagram[1]! & 0xfc, ...(options !== undefined && options.length > 0 ? { options } : {}) });
        if (!(r instanceof Error)) {
          this.stats.outMsgs++;
          this.stats.outEchoReps++;
        }
        return;
      }
      case 'echo-reply': {
        this.stats.inEchoReps++;
        if (msg.identifier !== this.identifier) return this.drop('unknownEchoReply');
        const p = this.pings.get(msg.sequence);
        if (!p) return this.drop('unknownEchoReply');
        this.pings.delete(msg.sequence);
        p.timer.cancel();
        p.resolve({
          from: formatIPv4(src),
          sequence: msg.sequence,
          bytes: datagram.length - hl,
          ttl: datagram[8]!,
          rttMs: this.clock.now() - p.sentAt,
        });
        return;
      }
      case 'dest-unreachable':
      case 'time-exceeded': {
        this.stats.inErrors++;
        const q = decodeQuotedDatagram(msg.quoted);
        if (!q.ok) return this.drop('badQuote');
        const mtu = msg.kind === 'dest-unreachable' ? msg.nextHopMtu : 0;
        this.dispatchError(q.value, msg.type, msg.code, src, mtu);
        return;
      }
      default:
        this.drop('unhandledType');
    }
  }

  private dispatchError(q: QuotedDatagram, type: number, code: number, from: IPv4Address, mtu: number): void {
    if (q.protocol === IP_PROTOCOL.ICMP) {
      // The quote starts with our echo request's header: type, code, checksum, id, seq.
      const t = q.transport;
      if (t.length < 8 || t[0] !== ICMP_TYPE.ECHO_REQUEST) return;
      const id = (t[4]! << 8) | t[5]!;
      const seq = (t[6]! << 8) | t[7]!;
      if (id !== this.identifier) return;
      const p = this.pings.get(seq);
      if (!p) return;
      this.pings.delete(seq);
      p.timer.cancel();
      p.reject(errorFor(type, code, formatIPv4(from), mtu));
      return;
    }
    this.transports.get(q.protocol)?.(q, type, code, from, mtu);
  }

  /**
   * Sends an ICMP error about `datagram` to its source (RFC 1122 §3.2.2,
   * RFC 1812 §4.3.2.7): never about an ICMP error, a non-first fragment, a
   * broadcast or multicast destination, or an unusable source; rate-limited.
   * For a Parameter Problem (type 12), `nextHopMtu` carries the pointer.
   */
  error(type: number, code: number, datagram: Uint8Array, iface: NetInterface | undefined, nextHopMtu = 0): void {
    if (datagram.length < 20) return;
    const src = ipv4Src(datagram, 0);
    const dst = ipv4Dst(datagram, 0);
    const hl = ipv4HeaderLength(datagram, 0);
    if (((datagram[6]! << 8) | datagram[7]!) & 0x1fff) return this.drop('errorAboutFragment');
    if (src === 0 || src === 0xffffffff || src >>> 28 === 0xe || this.ip.isBroadcast(src)) return this.drop('errorToBadSource');
    if (dst >>> 28 === 0xe || this.ip.isBroadcast(dst)) return this.drop('errorAboutBroadcast');
    if (ipv4Protocol(datagram, 0) === IP_PROTOCOL.ICMP) {
      const t = datagram[hl];
      if (t !== undefined && t !== ICMP_TYPE.ECHO_REQUEST && t !== ICMP_TYPE.ECHO_REPLY && t !== ICMP_TYPE.TIMESTAMP) {
        return this.drop('errorAboutError');
      }
    }
    const quoted = datagram.subarray(0, Math.min(datagram.length, MAX_QUOTE));
    if (this.ip.isLocalAddress(src)) {
      // An error about our own datagram (ARP failed for it): report it straight
      // to the sender, as Linux's ip_local_error does, without the wire or
      // the rate limiter.
      const q = decodeQuotedDatagram(quoted);
      if (q.ok) this.dispatchError(q.value, type, code, src, nextHopMtu);
      return;
    }
    if (!this.limiter.allow(src)) {
      this.stats.rateLimited++;
      return;
    }
    const msg =
      type === ICMP_TYPE.PARAMETER_PROBLEM
        ? encodeIcmp({ kind: 'other', type, code, restOfHeader: new Uint8Array([nextHopMtu & 0xff, 0, 0, 0]), body: quoted })
        : type === ICMP_TYPE.TIME_EXCEEDED
        ? encodeIcmp({ kind: 'time-exceeded', code, quoted })
        : encodeIcmp({ kind: 'dest-unreachable', code, quoted, nextHopMtu: code === ICMP_UNREACH.FRAGMENTATION_NEEDED ? nextHopMtu : 0 });
    this.stats.outErrors++;
    this.stats.outMsgs++;
    const from = iface?.sourceFor(src);
    this.ip.send(src, IP_PROTOCOL.ICMP, msg, { src: from, tos: 0xc0 });
  }

  /** Sends one echo request and resolves with the reply, like one line of `ping`. */
  ping(dst: string, opts: PingOptions = {}): Promise<PingReply> {
    let target: IPv4Address;
    try {
      target = parseIPv4(dst);
    } catch (e) {
      return Promise.reject(new PingError((e as Error).message, 'EINVAL'));
    }
    const size = opts.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) {
      return Promise.reject(new PingError(`ping size ${size} is outside 0..65507`, 'EINVAL'));
    }
    const seq = opts.sequence ?? (this.sequence = (this.sequence + 1) & 0xffff);
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i + 8) & 0xff; // ping's pattern
    const msg = encodeIcmp({ kind: 'echo-request', identifier: this.identifier, sequence: seq, data });
    return new Promise<PingReply>((resolve, reject) => {
      const timer = new Timer(this.clock.timers, () => {
        this.pings.delete(seq);
        reject(new PingError(`no reply from ${dst} within ${opts.timeoutMs ?? 1000} ms`, 'ETIMEDOUT'));
      });
      this.pings.get(seq)?.timer.cancel();
      this.pings.set(seq, { resolve, reject, sentAt: this.clock.now(), timer });
      timer.arm(opts.timeoutMs ?? 1000);
      const r = this.ip.send(target, IP_PROTOCOL.ICMP, msg, {
        ttl: opts.ttl,
        dontFragment: opts.dontFragment,
        src: opts.src !== undefined ? parseIPv4(opts.src) : undefined,
      });
      if (r instanceof Error) {
        this.pings.delete(seq);
        timer.cancel();
        const code = (r as Error & { code?: string }).code;
        reject(new PingError(r.message, code === 'EMSGSIZE' ? 'EMSGSIZE' : code === 'EHOSTUNREACH' ? 'EHOSTUNREACH' : 'ENETUNREACH'));
      } else {
        this.stats.outMsgs++;
      }
    });
  }
}

function errorFor(type: number, code: number, from: string, mtu: number): PingError {
  if (type === ICMP_TYPE.TIME_EXCEEDED) {
    return new PingError(`From ${from}: ${code === 0 ? 'Time to live exceeded' : 'Frag reassembly time exceeded'}`, 'ETIMEEXCEEDED', from, { type, code });
  }
  switch (code) {
    case ICMP_UNREACH.NET:
      return new PingError(`From ${from}: Destination Net Unreachable`, 'ENETUNREACH', from, { type, code });
    case ICMP_UNREACH.FRAGMENTATION_NEEDED:
      return new PingError(`From ${from}: Frag needed and DF set (mtu = ${mtu})`, 'EMSGSIZE', from, { type, code });
    case ICMP_UNREACH.PORT:
    case ICMP_UNREACH.PROTOCOL:
      return new PingError(`From ${from}: Destination ${code === 3 ? 'Port' : 'Protocol'} Unreachable`, 'ECONNREFUSED', from, { type, code });
    default:
      return new PingError(`From ${from}: Destination Host Unreachable`, 'EHOSTUNREACH', from, { type, code });
  }
}
