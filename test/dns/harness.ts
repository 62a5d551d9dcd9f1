/**
 * A small DNS lab on the virtual clock, for the tests of src/dns:
 *
 *   client 10.0.0.2 ── pipe ── 10.0.0.1 gateway (DnsServer) 10.9.0.1 ── pipe ── 10.9.0.53 upstream
 *
 * The upstream is a fake DNS server on its own wirelab host (dns-packet for
 * the wire format) that answers from a table, logs every question with the
 * transport it came on, and can answer truncated over UDP and in full over
 * TCP, or stay silent. `ask` sends one raw query from the client over UDP
 * (or TCP) and returns the decoded answer, independent of src/dns's client.
 */
import dnsPacket, { type Answer, type DecodedPacket, type Question } from 'dns-packet';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';
import { DnsServer, type DnsServerOptions } from '../../src/dns/server.js';
import { frame, TcpFrameReader } from '../../src/dns/exchange.js';

/** Runs the virtual clock in small steps until `p` settles; rejects if it has not after `maxMs` virtual ms. */
export async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 120_000, stepMs = 10): Promise<T> {
  let done = false;
  const guarded = p.finally(() => (done = true));
  guarded.catch(() => undefined);
  for (let t = 0; t < maxMs && !done; t += stepMs) {
    clock.advance(stepMs);
    await new Promise((r) => setImmediate(r));
  }
  if (!done) throw new Error(`still pending after ${maxMs} virtual ms`);
  return guarded;
}

/** Runs the virtual clock for `ms` in small steps, letting promises run in between. */
export async function runFor(clock: VirtualClock, ms: number, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    await new Promise((r) => setImmediate(r));
  }
}

export interface UpstreamRecord {
  answers?: Answer[];
  authorities?: Answer[];
  rcode?: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  /** Over UDP, answer with TC set and no records; the full answer only over TCP. */
  tcOverUdp?: boolean;
  /** Ignore this many UDP queries for the name before answering. */
  dropUdp?: number;
}

const RCODES = { NOERROR: 0, NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5 } as const;

export class FakeUpstream {
  readonly records = new Map<string, UpstreamRecord>();
  readonly log: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }> = [];
  /** Answer nothing at all (a dead server that still has the port open). */
  silent = false;

  constructor(
    readonly stack: Stack,
    port = 53,
  ) {
    const udp = stack.udp.createSocket();
    udp.on('message', (msg, rinfo) => {
      const reply = this.reply(msg, 'udp');
      if (reply !== undefined) udp.send(reply, rinfo.port, rinfo.address);
    });
    udp.bind(port);
    const tcp = stack.tcp.createServer((sock) => {
      const reader = new TcpFrameReader();
      sock.on('data', (chunk: Uint8Array) => {
        for (const m of reader.push(chunk)) {
          const reply = this.reply(Buffer.from(m), 'tcp');
          if (reply !== undefined) sock.write(frame(reply));
        }
      });
      sock.on('error', () => undefined);
    });
    tcp.listen(port);
  }

  count(name: string, transport?: 'udp' | 'tcp'): number {
    return this.log.filter((l) => l.name === name && (transport === undefined || l.transport === transport)).length;
  }

  private reply(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    try {
      return this.replyOrThrow(msg, transport);
    } catch {
      return undefined; // like a real server, a fake one drops what it cannot read
    }
  }

  private replyOrThrow(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    this.log.push({ name: question.name, type: question.type, transport });
    if (this.silent) return undefined;
    const rec = this.records.get(question.name.toLowerCase()) ?? { rcode: 'NXDOMAIN', authorities: [soa('example.test', 3600, 30)] };
    if (transport === 'udp' && rec.dropUdp !== undefined && rec.dropUdp > 0) {
      rec.dropUdp--;
      return undefined;
    }
    const rcode = RCODES[rec.rcode ?? 'NOERROR'];
    const tc = transport === 'udp' && rec.tcOverUdp === true;
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | rcode,
      questions: [question],
      answers: tc ? [] : rec.answers ?? [],
      authorities: tc ? [] : rec.authorities ?? [],
      // Echo EDNS as real servers do.
      additionals: (q.additionals ?? []).some((r) => r.type === 'OPT')
        ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
        : [],
    });
  }
}

export function soa(zone: string, ttl: number, minimum: number): Answer {
  return {
    type: 'SOA',
    name: zone,
    ttl,
    class: 'IN',
    data: { mname: `ns1.${zone}`, rname: `admin.${zone}`, serial: 1, refresh: 7200, retry: 900, expire: 604800, minimum },
  };
}

export const a = (name: string, address: string, ttl = 300): Answer => ({ type: 'A', name, ttl, class: 'IN', data: address });

export interface DnsLab {
  clock: VirtualClock;
  client: Stack;
  gateway: Stack;
  upstreamHost: Stack;
  upstream: FakeUpstream;
  server: DnsServer;
}

/** Builds the lab and starts the server (upstream 10.9.0.53 unless `opts.upstreams` says otherwise). */
export async function dnsLab(opts: DnsServerOptions = {}): Promise<DnsLab> {
  const clock = new VirtualClock();
  const [c, g1] = createPipe(clock);
  const [g2, u] = createPipe(clock);
  const client = createStack({ clock, name: 'client' });
  const gateway = createStack({ clock, name: 'gateway' });
  const upstreamHost = createStack({ clock, name: 'upstream' });
  client.addInterface(c, { addresses: ['10.0.0.2/24'] });
  gateway.addInterface(g1, { addresses: ['10.0.0.1/24'] });
  gateway.addInterface(g2, { addresses: ['10.9.0.1/24'] });
  upstreamHost.addInterface(u, { addresses: ['10.9.0.53/24'] });
  client.addRoute('default', { via: '10.0.0.1' });
  const upstream = new FakeUpstream(upstreamHost);
  const server = new DnsServer(gateway, { upstreams: ['10.9.0.53'], ...opts });
  await settle(clock, server.start());
  return { clock, client, gateway, upstreamHost, upstream, server };
}

export interface AskOptions {
  type?: Question['type'];
  /** Advertise EDNS(0) with this UDP payload size. */
  edns?: number;
  tcp?: boolean;
  id?: number;
  server?: string;
}

/** A decoded reply: dns-packet's fields plus the rcode name, records with TTLs, and the size on the wire. */
export interface Reply extends Omit<DecodedPacket, 'answers' | 'authorities' | 'additionals'> {
  additionals: Array<{ type: string }>;
  rcode: string;
  answers: Array<Answer & { ttl: number; data: unknown }>;
  authorities: Array<Answer & { ttl: number; data: unknown }>;
  size: number;
}

/** One query from `lab.client` to the gateway, raw: the decoded answer and its size on the wire. */
export async function ask(lab: DnsLab, name: string, opts: AskOptions = {}): Promise<Reply> {
  const id = opts.id ?? 4242;
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: opts.type ?? 'A', class: 'IN' }],
    additionals:
      opts.edns !== undefined
        ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
        : [],
  });
  const raw = await settle(lab.clock, sendRaw(lab, query, opts.tcp === true, opts.server));
  if (raw === undefined) throw new Error(`no answer for ${name}`);
  return Object.assign(dnsPacket.decode(Buffer.from(raw)), { size: raw.length }) as unknown as Reply;
}

/** Sends bytes to the gateway's port 53 from the client; resolves with the first reply, or undefined after 15 s. */
export function sendRaw(lab: DnsLab, bytes: Uint8Array, tcp = false, server = '10.0.0.1'): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const timer = lab.clock.timers.setTimeout(() => finish(undefined), 15_000);
    let close = (): void => undefined;
    const finish = (r: Uint8Array | undefined): void => {
      timer.cancel();
      close();
      resolve(r);
    };
    if (tcp) {
      const sock = lab.client.tcp.connect({ host: server, port: 53 });
      close = () => sock.destroy();
      const reader = new TcpFrameReader();
      sock.on('data', (d: Uint8Array) => {
        const m = reader.push(d)[0];
        if (m !== undefined) finish(m);
      });
      sock.on('error', () => finish(undefined));
      sock.write(frame(bytes));
    } else {
      const sock = lab.client.udp.createSocket();
      close = () => sock.close();
      sock.on('message', (m) => finish(Uint8Array.prototype.slice.call(m)));
      sock.send(bytes, 53, server);
    }
  });
}
