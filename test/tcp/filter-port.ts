/**
 * Exact-sequence impairment for loss-recovery tests: a Port in front of a
 * host's interface that drops or delays chosen data segments by their TCP
 * sequence number (relative to `base`) and how often that sequence number was
 * seen, and a two-host setup on the virtual clock with 10 ms of delay each
 * way, warmed up so SRTT and min_rtt are known.
 */
import { impair } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import type { Port, RxHandler } from '../../src/link/port.js';
import { createStack } from '../../src/stack.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { Timer, VirtualClock } from '../../src/time/index.js';
import { A, B, Recorder, pattern, pump, runUntil, type Pair } from './harness.js';

/**
 * What to do with one data segment (seq relative to the first data byte, payload length, nth
 * sighting of that seq): pass it, drop it, delay it by a number of ms, or send it now and a
 * copy `dupAfter` ms later, as a link duplicating it.
 */
export type Verdict = 'pass' | 'drop' | number | { dupAfter: number };
export type Rule = (rel: number, len: number, nth: number) => Verdict;

export class FilterPort implements Port {
  rule: Rule | null = null;
  base: number | undefined;
  readonly seen = new Map<number, number>();
  constructor(
    private readonly inner: Port,
    private readonly clock: VirtualClock,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  get stats() {
    return this.inner.stats;
  }
  get vnetHdr(): boolean {
    return this.inner.vnetHdr;
  }
  get onReceive(): RxHandler | null {
    return this.inner.onReceive;
  }
  set onReceive(h: RxHandler | null) {
    this.inner.onReceive = h;
  }
  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    const v = this.verdict(buf, off);
    if (v === 'drop') return true;
    if (v !== 'pass') {
      const copy = buf.slice(off, off + len);
      const t = new Timer(this.clock.timers, () => {
        this.inner.send(copy, 0, copy.length, vnetOff < 0 ? vnetOff : vnetOff - off);
        this.inner.flush();
      });
      t.arm(typeof v === 'number' ? v : v.dupAfter);
      if (typeof v === 'number') return true;
    }
    return this.inner.send(buf, off, len, vnetOff);
  }
  private verdict(b: Uint8Array, off: number): Verdict {
    if (this.rule === null || this.base === undefined) return 'pass';
    if (b[off + 12] !== 0x08 || b[off + 13] !== 0x00) return 'pass';
    const ip = off + 14;
    if (b[ip + 9] !== 6) return 'pass';
    const ihl = (b[ip]! & 0xf) * 4;
    const total = (b[ip + 2]! << 8) | b[ip + 3]!;
    const tcp = ip + ihl;
    const seq = ((b[tcp + 4]! << 24) | (b[tcp + 5]! << 16) | (b[tcp + 6]! << 8) | b[tcp + 7]!) >>> 0;
    const payload = total - ihl - (b[tcp + 12]! >> 4) * 4;
    if (payload <= 0) return 'pass';
    const rel = (seq - this.base) | 0;
    const nth = (this.seen.get(rel) ?? 0) + 1;
    this.seen.set(rel, nth);
    return this.rule(rel, payload, nth);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export function setup(tcp: TcpOptions, tcpB: TcpOptions = tcp) {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a', seed: 1, tcp });
  const b = createStack({ clock, name: 'b', seed: 2, tcp: tcpB });
  const fa = new FilterPort(impair(pa, clock, { delayMs: 10 }), clock);
  a.addInterface(fa, { addresses: ['10.0.0.1/24'], mtu: 1500, announce: false });
  b.addInterface(impair(pb, clock, { delayMs: 10 }), { addresses: ['10.0.0.2/24'], mtu: 1500, announce: false });
  a.neighbours.addPermanent(B, b.interfaces[0]!.mac, 'eth0');
  b.neighbours.addPermanent(A, a.interfaces[0]!.mac, 'eth0');
  const p: Pair = { clock, a, b, pa, pb };
  const server = new Recorder();
  const client = new Recorder();
  b.tcpLayer.listen({ port: 80 }, (c) => {
    server.conn = c;
    c.handler = server;
  });
  const cc = a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, client);
  client.conn = cc;
  runUntil(clock, () => client.isEstablished && server.conn !== null, 10_000, 1);
  cc.setNoDelay(true);
  // Warm up: a few round trips so SRTT and min_rtt are known, then a quiet moment.
  const warm = pattern(4000, 3);
  cc.write(warm);
  runUntil(clock, () => server.bytes === warm.length && cc.snd.sndUna === cc.snd.sndMax, 10_000, 1);
  clock.advance(100);
  fa.base = cc.snd.sndMax;
  return { p, clock, fa, cc, client, server, stats: a.tcpLayer.stats };
}

/** Sends `n` bytes from a (pumping on `writable`) and returns the virtual ms until b has them all. */
export function send(s: ReturnType<typeof setup>, n: number, stepMs = 1): number {
  const data = pattern(n, 7);
  const st = { off: 0 };
  const before = s.server.bytes;
  s.client.onWritable = () => pump(s.cc, data, st);
  pump(s.cc, data, st);
  return runUntil(s.clock, () => s.server.bytes === before + n, 60_000, stepMs);
}

