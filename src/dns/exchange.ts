/**
 * One DNS question and its answer between a wirelab host and one server:
 * over UDP from a fresh socket (a random source port for every query, as
 * resolvers do since 2008), retried over TCP when the answer comes back
 * truncated (TC set, RFC 7766), with a timeout on the host's clock.
 *
 * A UDP answer is accepted only from the server's address and port, with
 * the query's ID, QR set and the same question (names compared without
 * case); anything else is counted and ignored, and the wait goes on. The
 * forwarder of the DNS server and the resolver of wirelab hosts both ask
 * through this.
 *
 * Also here: the two-byte length framing of DNS over TCP (RFC 1035 §4.2.2),
 * used by the TCP side of both client and server.
 */
import type { TcpApi } from '../tcp/api.js';
import type { TcpSocket } from '../tcp/socket.js';
import { Timer, type Clock } from '../time/index.js';
import type { UdpLayer } from '../udp/index.js';
import { copyBytes, HEADER_BYTES, isResponse, isTruncated, readId, sameQuestion } from './message.js';

/** What the DNS code needs of a wirelab host (a `Stack` is one). */
export interface DnsHost {
  readonly clock: Clock;
  readonly udp: Pick<UdpLayer, 'createSocket'>;
  readonly tcp: Pick<TcpApi, 'connect' | 'createServer'>;
}

export interface DnsEndpoint {
  address: string;
  port: number;
}

export type ExchangeFailure = 'timeout' | 'refused' | 'error';

export type ExchangeOutcome =
  | { ok: true; response: Uint8Array; transport: 'udp' | 'tcp' }
  | { ok: false; reason: ExchangeFailure; message: string };

export interface ExchangeStats {
  udpQueries: number;
  tcpQueries: number;
  /** UDP answers with TC set, each followed by a TCP retry. */
  truncated: number;
  timeouts: number;
  /** Datagrams that were not the answer (wrong source, ID or question): ignored. */
  mismatched: number;
  /** Refused (ICMP port unreachable, TCP RST) or failed otherwise. */
  errors: number;
}

export const newExchangeStats = (): ExchangeStats => ({ udpQueries: 0, tcpQueries: 0, truncated: 0, timeouts: 0, mismatched: 0, errors: 0 });

export class DnsExchanger {
  constructor(
    private readonly host: DnsHost,
    readonly stats: ExchangeStats = newExchangeStats(),
  ) {}

  /** Asks `server`; over TCP straight away with `tcp`, else UDP first and TCP when truncated. */
  async exchange(server: DnsEndpoint, query: Uint8Array, timeoutMs: number, tcp = false): Promise<ExchangeOutcome> {
    if (!tcp) {
      const r = await this.overUdp(server, query, timeoutMs);
      if (!r.ok || !isTruncated(r.response)) return r;
      this.stats.truncated++;
    }
    return this.overTcp(server, query, timeoutMs);
  }

  private overUdp(server: DnsEndpoint, query: Uint8Array, timeoutMs: number): Promise<ExchangeOutcome> {
    this.stats.udpQueries++;
    return new Promise((resolve) => {
      const sock = this.host.udp.createSocket();
      let done = false;
      const timer = new Timer(this.host.clock.timers, () => {
        this.stats.timeouts++;
        finish({ ok: false, reason: 'timeout', message: `no answer from ${server.address}:${server.port} over UDP in ${timeoutMs} ms` });
      });
      const finish = (o: ExchangeOutcome): void => {
        if (done) return;
        done = true;
        timer.cancel();
        sock.close();
        resolve(o);
      };
      const fail = (e: Error & { code?: string }): void => {
        this.stats.errors++;
        finish({ ok: false, reason: e.code === 'ECONNREFUSED' ? 'refused' : 'error', message: e.message });
      };
      sock.on('error', fail);
      sock.on('message', (msg) => {
        if (msg.length < HEADER_BYTES || !isResponse(msg) || readId(msg) !== readId(query) || !sameQuestion(query, msg)) {
          this.stats.mismatched++;
          return;
        }
        finish({ ok: true, response: copyBytes(msg), transport: 'udp' });
      });
      timer.arm(timeoutMs);
      try {
        // Connected: the source is fixed and an ICMP port unreachable comes back as ECONNREFUSED.
        sock.connect(server.port, server.address, (err) => {
          if (done) return; // timed out meanwhile: the socket is closed
          if (err !== undefined) return fail(err);
          try {
            sock.send(query, (e) => {
              if (e !== null) fail(e);
            });
          } catch (e) {
            fail(e instanceof Error ? e : new Error(String(e)));
          }
        });
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private overTcp(server: DnsEndpoint, query: Uint8Array, timeoutMs: number): Promise<ExchangeOutcome> {
    this.stats.tcpQueries++;
    return new Promise((resolve) => {
      let done = false;
      let sock: TcpSocket | undefined;
      const timer = new Timer(this.host.clock.timers, () => {
        this.stats.timeouts++;
        finish({ ok: false, reason: 'timeout', message: `no answer from ${server.address}:${server.port} over TCP in ${timeoutMs} ms` });
      });
      const finish = (o: ExchangeOutcome): void => {
        if (done) return;
        done = true;
        timer.cancel();
        sock?.destroy();
        resolve(o);
      };
      const reader = new TcpFrameReader();
      timer.arm(timeoutMs);
      try {
        sock = this.host.tcp.connect({ host: server.address, port: server.port });
      } catch (e) {
        this.stats.errors++;
        return finish({ ok: false, reason: 'error', message: e instanceof Error ? e.message : String(e) });
      }
      sock.on('error', (e: Error & { code?: string }) => {
        this.stats.errors++;
        finish({ ok: false, reason: e.code === 'ECONNREFUSED' ? 'refused' : 'error', message: e.message });
      });
      sock.on('data', (chunk: Uint8Array) => {
        for (const msg of reader.push(chunk)) {
          if (msg.length < HEADER_BYTES || !isResponse(msg) || readId(msg) !== readId(query) || !sameQuestion(query, msg)) {
            this.stats.mismatched++;
            continue;
          }
          return finish({ ok: true, response: msg, transport: 'tcp' });
        }
        if (reader.failed) {
          this.stats.errors++;
          finish({ ok: false, reason: 'error', message: `malformed TCP framing from ${server.address}:${server.port}` });
        }
      });
      sock.on('end', () => {
        this.stats.errors++;
        finish({ ok: false, reason: 'error', message: `${server.address}:${server.port} closed the TCP connection without an answer` });
      });
      sock.write(frame(query));
    });
  }
}

/** A message with its two-byte length prefix, for DNS over TCP. */
export function frame(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(msg.length + 2);
  out[0] = (msg.length >> 8) & 0xff;
  out[1] = msg.length & 0xff;
  out.set(msg, 2);
  return out;
}

/**
 * Splits a DNS-over-TCP byte stream into messages. A zero length is a framing
 * error (`failed` turns true and nothing more is returned): no DNS message is
 * shorter than its header.
 */
export class TcpFrameReader {
  private buf = new Uint8Array(0);
  failed = false;

  /** Bytes waiting for the rest of their message. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) return [];
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let off = 0;
    while (joined.length - off >= 2) {
      const len = (joined[off]! << 8) | joined[off + 1]!;
      if (len === 0) {
        this.failed = true;
        break;
      }
      if (joined.length - off - 2 < len) break;
      out.push(joined.slice(off + 2, off + 2 + len));
      off += 2 + len;
    }
    this.buf = joined.slice(off);
    return out;
  }
}
