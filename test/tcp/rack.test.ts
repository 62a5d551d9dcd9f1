/**
 * RACK-TLP (RFC 8985) on the virtual clock: a tail loss repaired by a loss
 * probe instead of an RTO, reordering inside the reordering window tolerated
 * once reordering was seen, and a lost retransmission detected by RACK
 * without a timeout. Frames are dropped or delayed by exact TCP sequence
 * number through a small filtering port in front of a 10 ms netem delay.
 */
import { describe, expect, it } from 'vitest';
import { impair } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import type { Port, RxHandler } from '../../src/link/port.js';
import { createStack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpOptions } from '../../src/tcp/state.js';
import { Timer, VirtualClock } from '../../src/time/index.js';
import { A, B, Recorder, pattern, pump, runUntil, type Pair } from './harness.js';

/** What to do with one data segment (seq relative to the first data byte, payload length, nth sighting of that seq). */
type Verdict = 'pass' | 'drop' | number;
type Rule = (rel: number, len: number, nth: number) => Verdict;

class FilterPort implements Port {
  rule: Rule | null = null;
  base: number | undefined;
  private readonly seen = new Map<number, number>();
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
    if (typeof v === 'number') {
      const copy = buf.slice(off, off + len);
      const t = new Timer(this.clock.timers, () => {
        this.inner.send(copy, 0, copy.length, vnetOff < 0 ? vnetOff : vnetOff - off);
        this.inner.flush();
      });
      t.arm(v);
      return true;
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

function setup(tcp: TcpOptions) {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a', seed: 1, tcp });
  const b = createStack({ clock, name: 'b', seed: 2, tcp });
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
function send(s: ReturnType<typeof setup>, n: number, stepMs = 1): number {
  const data = pattern(n, 7);
  const st = { off: 0 };
  const before = s.server.bytes;
  s.client.onWritable = () => pump(s.cc, data, st);
  pump(s.cc, data, st);
  return runUntil(s.clock, () => s.server.bytes === before + n, 60_000, stepMs);
}

const rackOf = (c: TcpConnection) => c.snd.rack;

describe('RACK-TLP (RFC 8985)', () => {
  it('repairs a tail loss with a loss probe in about 2·SRTT instead of an RTO', () => {
    const results: Record<string, { ms: number; timeouts: number; probes: number }> = {};
    for (const rack of [true, false]) {
      const s = setup({ rack });
      const mss = s.cc.mss;
      // A burst of 8 segments; the last two are lost once.
      s.fa.rule = (rel, _len, nth) => (nth === 1 && rel >= 6 * mss ? 'drop' : 'pass');
      const srtt = s.cc.snd.rtt.srtt!;
      const t0 = s.stats.timeouts;
      const ms = send(s, 8 * mss);
      results[rack ? 'on' : 'off'] = { ms, timeouts: s.stats.timeouts - t0, probes: rackOf(s.cc).probes };
      if (rack) {
        expect(srtt).toBeGreaterThanOrEqual(20);
        expect(srtt).toBeLessThan(25);
        expect(rackOf(s.cc).probes).toBe(1);
        expect(s.stats.timeouts).toBe(t0);
        // PTO (2·SRTT) + one round trip for the probe + RACK's reordering window, not a 200 ms+ RTO.
        expect(ms).toBeLessThan(4 * srtt + 20);
      } else {
        expect(s.stats.timeouts).toBeGreaterThan(t0);
      }
    }
    console.log('tail loss (8 segments, last 2 dropped):', JSON.stringify(results));
    expect(results.on!.ms).toBeLessThan(results.off!.ms / 2);
  });

  it('tolerates reordering within reo_wnd once reordering has been seen', () => {
    const s = setup({ rack: true });
    const mss = s.cc.mss;
    // Without reordering seen, 3+ SACKed segments above a hole make reo_wnd 0 (as Linux).
    const rack = rackOf(s.cc);
    expect(rack.reordSeen).toBe(false);
    // First episode: segment 1 of a burst of 8 is 3 ms late.
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 1 * mss ? 3 : 'pass');
    send(s, 8 * mss);
    s.clock.advance(200);
    expect(rack.reordSeen).toBe(true);
    const firstEpisode = s.stats.retransSegs;
    // Second episode: the same late segment, now inside reo_wnd = min_rtt/4 ≈ 5 ms: no retransmission.
    const r0 = s.stats.retransSegs;
    const f0 = s.stats.fastRetransmits;
    s.fa.base = s.cc.snd.sndMax;
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 1 * mss ? 3 : 'pass');
    (s.fa as unknown as { seen: Map<number, number> }).seen.clear();
    send(s, 8 * mss);
    s.clock.advance(200);
    expect(s.stats.retransSegs).toBe(r0);
    expect(s.stats.fastRetransmits).toBe(f0);
    expect(s.stats.timeouts).toBe(0);
    console.log('reordering by 3 ms: retransmissions before reordering was seen', firstEpisode, 'after', s.stats.retransSegs - r0);
  });

  it('detects a lost retransmission without an RTO', () => {
    const s = setup({ rack: true });
    const mss = s.cc.mss;
    // Segment 2 is lost, and so is its first retransmission; data keeps flowing behind it.
    s.fa.rule = (rel, _len, nth) => (rel === 2 * mss && nth <= 2 ? 'drop' : 'pass');
    const ms = send(s, 60 * mss);
    expect(s.stats.timeouts).toBe(0);
    expect(s.stats.retransSegs).toBe(2); // the lost retransmission, then the one that arrives
    expect(s.stats.fastRetransmits).toBe(1);
    expect(rackOf(s.cc).marked).toBeGreaterThanOrEqual(2);
    expect(ms).toBeLessThan(s.cc.snd.rtt.rto + 100);
    console.log('lost retransmission repaired in', ms, 'ms; retransmitted segments', s.stats.retransSegs);
  });
});
