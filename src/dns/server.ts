/**
 * DnsServer: the DNS server of a wirelab network's gateway, on UDP and TCP
 * port 53 of a wirelab host — what Docker's embedded DNS (127.0.0.11) is to
 * a user-defined bridge network.
 *
 *   const dns = new DnsServer(gateway, { upstreams: ['10.9.0.2'], domain: 'lab' });
 *   await dns.start();
 *   dns.addHost('web', '10.0.0.2', { aliases: ['www'], network: 'front' });
 *
 * Lab names are answered from ./zone.ts with authority; everything else goes
 * through the cache (./cache.ts) to the upstreams (./forwarder.ts). Every
 * query ends in exactly one counted outcome: an answer (local, cache,
 * forwarded) with its rcode, or silence for input that must not be answered
 * (shorter than a header, or a response — answering those could loop two
 * servers). Malformed queries (pointer loops, counts beyond the data,
 * oversize labels, garbage) get FORMERR. Nothing a client sends can throw out
 * of here: the handlers catch, count and drop.
 *
 * Peers (`peers`) are other labs' DNS servers: names that are not the
 * lab's are asked there first, then upstream. A question *from* a peer is
 * answered from the lab's own names only (REFUSED otherwise, counted), so
 * two labs that list each other never bounce a name back and forth.
 *
 * UDP answers larger than the client can take (512 bytes, or its EDNS size)
 * go out truncated with TC set, and the client retries over TCP, where
 * messages carry a two-byte length and several may be pipelined on one
 * connection (RFC 7766); idle TCP connections are closed, and their number is
 * bounded (refusals counted).
 */
import type { TcpServer } from '../tcp/server.js';
import type { TcpSocket } from '../tcp/socket.js';
import type { UdpSocket } from '../udp/index.js';
import { cacheKey, DnsCache, rcodeName, type DnsCacheOptions } from './cache.js';
import { frame, TcpFrameReader, type DnsHost } from './exchange.js';
import { Forwarder, parseEndpoint, type ForwarderOptions } from './forwarder.js';
import {
  copyBytes,
  encodeResponse,
  HEADER_BYTES,
  parseQuery,
  RCODE,
  readRcode,
  skipQuestions,
  truncateTo,
  UDP_LIMIT,
  withoutOpt,
  writeId,
  type MalformedReason,
  type ParsedQuery,
} from './message.js';
import { LabZone, type HostRecord, type HostRecordOptions, type LabZoneOptions } from './zone.js';

export interface DnsServerOptions extends LabZoneOptions, Omit<ForwarderOptions, 'upstreams'> {
  /** Upstream resolvers for names outside the lab: 'address' or 'address:port'. */
  upstreams?: readonly string[];
  /** Other labs' DNS servers ('address' or 'address:port'): asked before the upstreams; never forwarded for. */
  peers?: readonly string[];
  /** Address to listen on. Default '0.0.0.0'. */
  address?: string;
  /** Port for UDP and TCP. Default 53. */
  port?: number;
  cache?: DnsCacheOptions;
  /** Close a TCP connection idle this long, ms. Default 10,000 (RFC 7766 suggests seconds). */
  tcpIdleMs?: number;
  /** TCP connections at once; more are closed at once, counted. Default 128. */
  maxTcpConnections?: number;
}

export interface DnsServerStats {
  queries: { udp: number; tcp: number };
  /** Where each answer came from. */
  answers: { local: number; cache: number; forwarded: number };
  /** Answers by RCODE name (NOERROR, NXDOMAIN, FORMERR, SERVFAIL, NOTIMP, REFUSED). */
  rcodes: Record<string, number>;
  /** Malformed input by reason; 'short' and 'response' get silence, the rest FORMERR. */
  malformed: Record<MalformedReason, number>;
  /** Refusals by cause. */
  refused: { noUpstream: number; overload: number; class: number; transfer: number; tcpConnections: number; peer: number };
  /** UDP answers cut to fit the client (TC set). */
  truncated: number;
  /** TCP connections closed for bad framing or idleness. */
  tcpClosed: { framing: number; idle: number };
  /** Failures inside the server (a bug if ever non-zero): caught, counted, the query dropped. */
  internalErrors: number;
}

type Transport = 'udp' | 'tcp';

export class DnsServer {
  readonly zone: LabZone;
  readonly cache: DnsCache;
  readonly forwarder: Forwarder;
  readonly stats: DnsServerStats = {
    queries: { udp: 0, tcp: 0 },
    answers: { local: 0, cache: 0, forwarded: 0 },
    rcodes: {},
    malformed: { short: 0, response: 0, badCount: 0, decode: 0, badOpt: 0 },
    refused: { noUpstream: 0, overload: 0, class: 0, transfer: 0, tcpConnections: 0, peer: 0 },
    truncated: 0,
    tcpClosed: { framing: 0, idle: 0 },
    internalErrors: 0,
  };
  readonly address: string;
  readonly port: number;
  private readonly tcpIdleMs: number;
  private readonly maxTcpConnections: number;
  private udpSocket: UdpSocket | undefined;
  private tcpServer: TcpServer | undefined;
  private readonly tcpConnections = new Set<TcpSocket>();
  /** Peers' addresses: their questions are answered from the lab's names only. */
  private readonly peerAddresses: ReadonlySet<string>;

  constructor(
    private readonly host: DnsHost,
    opts: DnsServerOptions = {},
  ) {
    this.zone = new LabZone(opts);
    this.cache = new DnsCache(host.clock, opts.cache);
    const peers = opts.peers ?? [];
    this.forwarder = new Forwarder(host, { ...opts, upstreams: [...peers, ...(opts.upstreams ?? [])] });
    this.peerAddresses = new Set(peers.map((p) => parseEndpoint(p).address));
    this.address = opts.address ?? '0.0.0.0';
    this.port = opts.port ?? 53;
    this.tcpIdleMs = opts.tcpIdleMs ?? 10_000;
    this.maxTcpConnections = opts.maxTcpConnections ?? 128;
  }

  /** Binds UDP and TCP; resolves once both listen, rejects with the socket error (EADDRINUSE, ...). */
  start(): Promise<void> {
    if (this.udpSocket !== undefined) return Promise.reject(new Error('DnsServer already started'));
    const udp = (this.udpSocket = this.host.udp.createSocket());
    const tcp = (this.tcpServer = this.host.tcp.createServer((sock) => this.onTcpConnection(sock)));
    udp.on('message', (msg, rinfo) => {
      // Copied: the reply is built after this handler returns.
      void this.handle(copyBytes(msg), 'udp', rinfo.address).then((reply) => {
        if (reply === undefined || this.udpSocket !== udp) return;
        try {
          udp.send(reply, rinfo.port, rinfo.address);
        } catch {
          this.stats.internalErrors++;
        }
      });
    });
    const udpUp = new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.once('listening', () => {
        udp.off('error', reject);
        udp.on('error', () => this.stats.internalErrors++);
        resolve();
      });
    });
    const tcpUp = new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.once('listening', () => {
        tcp.off('error', reject);
        tcp.on('error', () => this.stats.internalErrors++);
        resolve();
      });
    });
    udp.bind(this.port, this.address);
    tcp.listen(this.port, this.address);
    return Promise.all([udpUp, tcpUp]).then(
      () => undefined,
      (e: unknown) => {
        this.close(); // not half-started: both or neither
        throw e;
      },
    );
  }

  /** Adds a lab host (see LabZone.addHost). */
  addHost(name: string, address: string, opts: HostRecordOptions = {}): void {
    this.zone.addHost(name, address, opts);
  }

  /** Removes a lab host's records; returns how many hosts went. */
  removeHost(name: string, opts: { network?: string } = {}): number {
    return this.zone.removeHost(name, opts);
  }

  hosts(): HostRecord[] {
    return this.zone.hosts();
  }

  /**
   * The reply to one query message, or undefined for silence. Public so a
   * test or another transport can drive the server directly.
   */
  async handle(msg: Uint8Array, transport: Transport, from?: string): Promise<Uint8Array | undefined> {
    this.stats.queries[transport]++;
    try {
      const answered = await this.answer(msg, from !== undefined && this.peerAddresses.has(from));
      if (answered === undefined) return undefined;
      let reply = answered.bytes;
      if (transport === 'udp') {
        reply = truncateTo(reply, answered.udpLimit);
        if (reply !== answered.bytes) this.stats.truncated++;
      }
      this.stats.rcodes[rcodeName(readRcode(reply))] = (this.stats.rcodes[rcodeName(readRcode(reply))] ?? 0) + 1;
      return reply;
    } catch {
      this.stats.internalErrors++;
      return undefined;
    }
  }

  /** The reply and the most bytes the client takes over UDP (512, or its EDNS size). */
  private async answer(msg: Uint8Array, fromPeer: boolean): Promise<{ bytes: Uint8Array; udpLimit: number } | undefined> {
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      this.stats.malformed[parsed.reason]++;
      if (parsed.id === undefined || parsed.reason === 'response') return undefined;
      return { bytes: headerOnly(parsed.id, parsed.flags, RCODE.FORMERR), udpLimit: UDP_LIMIT };
    }
    const q = parsed.query;
    const udpLimit = Math.min(q.ednsPayload ?? UDP_LIMIT, 65_507);
    const reply = (rcode: number): { bytes: Uint8Array; udpLimit: number } => ({
      bytes: headerOnly(q.id, q.flags, rcode, msg.subarray(HEADER_BYTES, q.questionEnd)),
      udpLimit,
    });
    if (q.opcode !== 0) return reply(RCODE.NOTIMP);
    if ((q.question.class ?? 'IN') !== 'IN') {
      this.stats.refused.class++;
      return reply(RCODE.REFUSED);
    }
    if ((q.question.type as string) === 'AXFR' || (q.question.type as string) === 'IXFR') {
      this.stats.refused.transfer++;
      return reply(RCODE.REFUSED);
    }
    const local = this.zone.resolve(q.question);
    if (local.kind !== 'outside') {
      this.stats.answers.local++;
      const bytes = encodeResponse({
        id: q.id,
        queryFlags: q.flags,
        rcode: local.kind === 'nxdomain' ? RCODE.NXDOMAIN : RCODE.NOERROR,
        authoritative: true,
        question: q.question,
        answers: local.kind === 'answer' ? local.answers : [],
        authorities: local.kind === 'answer' ? [] : local.authority,
        edns: q.ednsPayload !== undefined,
      });
      return { bytes, udpLimit };
    }
    if (fromPeer) {
      this.stats.refused.peer++;
      return reply(RCODE.REFUSED);
    }
    const key = cacheKey(q.question.name, q.question.type, 'IN');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.stats.answers.cache++;
      return { bytes: this.asReplyTo(cached, q, msg), udpLimit };
    }
    const r = await this.forwarder.forward(q.question);
    if (!r.ok) {
      if (r.reason === 'failed') return reply(RCODE.SERVFAIL);
      this.stats.refused[r.reason]++;
      return reply(RCODE.REFUSED);
    }
    this.cache.set(key, r.response);
    this.stats.answers.forwarded++;
    return { bytes: this.asReplyTo(copyBytes(r.response), q, msg), udpLimit };
  }

  /** An upstream or cached answer made the reply to this query: its ID, RD bit and question bytes (case kept). */
  private asReplyTo(upstream: Uint8Array, q: ParsedQuery, msg: Uint8Array): Uint8Array {
    // The forwarder asked with EDNS; a client that did not gets no OPT back (RFC 6891 §7).
    const response = q.ednsPayload === undefined ? withoutOpt(upstream) : upstream;
    writeId(response, q.id);
    response[2] = (response[2]! & ~0x01) | ((q.flags >> 8) & 0x01);
    if (skipQuestions(response, 1) === q.questionEnd) response.set(msg.subarray(HEADER_BYTES, q.questionEnd), HEADER_BYTES);
    return response;
  }

  private onTcpConnection(sock: TcpSocket): void {
    sock.on('error', () => undefined); // resets and timeouts end the connection; nothing to report
    if (this.tcpConnections.size >= this.maxTcpConnections) {
      this.stats.refused.tcpConnections++;
      sock.destroy();
      return;
    }
    this.tcpConnections.add(sock);
    sock.on('close', () => this.tcpConnections.delete(sock));
    sock.setTimeout(this.tcpIdleMs, () => {
      this.stats.tcpClosed.idle++;
      sock.destroy();
    });
    const reader = new TcpFrameReader();
    sock.on('data', (chunk: Uint8Array) => {
      for (const msg of reader.push(chunk)) {
        void this.handle(msg, 'tcp', sock.remoteAddress).then((reply) => {
          if (reply === undefined || sock.destroyed) return;
          try {
            sock.write(frame(reply));
          } catch {
            this.stats.internalErrors++;
          }
        });
      }
      if (reader.failed) {
        this.stats.tcpClosed.framing++;
        sock.destroy();
      }
    });
    sock.on('end', () => sock.end());
  }

  /** Stops listening and closes every TCP connection. */
  close(): void {
    this.udpSocket?.close();
    this.udpSocket = undefined;
    this.tcpServer?.close();
    this.tcpServer = undefined;
    for (const s of this.tcpConnections) s.destroy();
    this.tcpConnections.clear();
    this.cache.close();
  }

  /** The counters as a table, one line per group (like `nstat`). */
  formatStats(): string {
    const f = this.forwarder.stats;
    const c = this.cache.stats;
    const groups: Array<[string, Record<string, number>]> = [
      ['queries', this.stats.queries],
      ['answers', this.stats.answers],
      ['rcodes', this.stats.rcodes],
      ['malformed', this.stats.malformed],
      ['refused', this.stats.refused],
      ['truncated', { udp: this.stats.truncated }],
      ['tcp-closed', this.stats.tcpClosed],
      ['forwarder', { forwarded: f.forwarded, coalesced: f.coalesced, answered: f.answered, failed: f.failed, overload: f.overload, upstreamErrors: f.upstreamErrors }],
      ['upstream', { udp: f.udpQueries, tcp: f.tcpQueries, truncated: f.truncated, timeouts: f.timeouts, mismatched: f.mismatched, errors: f.errors }],
      ['cache', { size: this.cache.size, hits: c.hits, misses: c.misses, inserts: c.inserts, evictions: c.evictions, expired: c.expired, uncacheable: c.uncacheable }],
      ['internal', { errors: this.stats.internalErrors }],
    ];
    const width = Math.max(...groups.map(([g]) => g.length));
    return groups.map(([g, v]) => `${g.padEnd(width)}  ${Object.entries(v).map(([k, n]) => `${k} ${n}`).join('  ')}`).join('\n');
  }

  toJSON(): Record<string, unknown> {
    return {
      address: this.address,
      port: this.port,
      domain: this.zone.domain,
      upstreams: this.forwarder.upstreams,
      stats: this.stats,
      forwarder: { ...this.forwarder.stats, inFlight: this.forwarder.inFlight },
      cache: this.cache.toJSON(),
      hosts: this.zone.hosts(),
    };
  }
}

/** A reply with no records: the query's ID, opcode and RD, QR and RA set, and the question when given. */
function headerOnly(id: number, queryFlags: number, rcode: number, question?: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + (question?.length ?? 0));
  writeId(out, id);
  const flags = 0x8000 | (queryFlags & 0x7900) | 0x0080 | (rcode & 0xf);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  if (question !== undefined && question.length > 0) {
    out[5] = 1;
    out.set(question, HEADER_BYTES);
  }
  return out;
}
