/**
 * ECN (RFC 3168) on the virtual clock, as Linux runs it with tcp_ecn = 2 by
 * default (accept, never ask) and 1 with `ecn: true`: the setup flags on SYN
 * and SYN-ACK, ECT(0) on new data only, CE marks (made by a CeMarkPort in
 * front of the sender, as a congested router would instead of dropping)
 * echoed with ECE until CWR, and the sender's one reduction per window — no
 * retransmission, no undo, the bytes intact.
 */
import { describe, expect, it } from 'vitest';
import { impair, type ImpairmentOptions } from '../../src/link/impair.js';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import { FLAG_ACK, FLAG_CWR, FLAG_ECE, FLAG_FIN, FLAG_SYN } from '../../src/tcp/segment.js';
import type { TcpOptions, TcpSegmentInfo } from '../../src/tcp/state.js';
import { VirtualClock } from '../../src/time/index.js';
import { CeMarkPort, everyNth } from '../helpers/ecn.js';
import { A, B, Recorder, pattern, pump, runUntil, sha256, type Pair } from './harness.js';

interface Seen {
  dir: 'in' | 'out';
  seg: TcpSegmentInfo;
}

/** a → b over 10 ms each way; a's frames pass a CE-marking port (and `lossAtoB`, after it). */
function ecnPair(tcpA: TcpOptions, tcpB: TcpOptions = {}, lossAtoB?: ImpairmentOptions) {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a', seed: 1, tcp: tcpA });
  const b = createStack({ clock, name: 'b', seed: 2, tcp: tcpB });
  const wire = impair(pa, clock, { delayMs: 10, ...lossAtoB });
  const mark = new CeMarkPort(wire);
  a.addInterface(mark, { addresses: ['10.0.0.1/24'], mtu: 1500, announce: false });
  b.addInterface(impair(pb, clock, { delayMs: 10 }), { addresses: ['10.0.0.2/24'], mtu: 1500, announce: false });
  a.neighbours.addPermanent(B, b.interfaces[0]!.mac, 'eth0');
  b.neighbours.addPermanent(A, a.interfaces[0]!.mac, 'eth0');
  const p: Pair = { clock, a, b, pa, pb };
  const seenA: Seen[] = [];
  const seenB: Seen[] = [];
  const record = (s: Stack, into: Seen[]) => {
    s.tcpLayer.probe = (_c, dir, seg) => into.push({ dir, seg });
  };
  record(a, seenA);
  record(b, seenB);
  return { p, clock, a, b, mark, wire, seenA, seenB };
}

function open(e: ReturnType<typeof ecnPair>, listen: (l: { synQueue: number; backlog: number }) => void = () => {}) {
  const server = new Recorder();
  const client = new Recorder();
  const l = e.b.tcpLayer.listen({ port: 80, backlog: 1 }, (c) => {
    server.conn = c;
    c.handler = server;
  });
  listen(l);
  const cc = e.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, client);
  client.conn = cc;
  runUntil(e.clock, () => client.isEstablished && server.conn !== null, 20_000, 1);
  return { client, server, cc, sc: server.conn! };
}

const flagsOf = (seen: Seen[], dir: 'in' | 'out', pred: (s: TcpSegmentInfo) => boolean) =>
  seen.filter((x) => x.dir === dir && pred(x.seg)).map((x) => x.seg.flags);
const isSyn = (s: TcpSegmentInfo) => (s.flags & FLAG_SYN) !== 0;

describe('ECN negotiation (RFC 3168 §6.1.1, Linux tcp_ecn = 2 / 1)', () => {
  it('by default nobody asks: plain SYNs, no ECT on the wire', () => {
    const e = ecnPair({});
    const { cc, sc } = open(e);
    cc.write(pattern(20_000, 1));
    runUntil(e.clock, () => cc.snd.sndUna === cc.snd.sndMax, 5_000, 1);
    expect(flagsOf(e.seenA, 'out', isSyn)).toEqual([FLAG_SYN]);
    expect(flagsOf(e.seenB, 'out', isSyn)).toEqual([FLAG_SYN | FLAG_ACK]);
    expect(cc.info().ecn).toBe(false);
    expect(sc.info().ecn).toBe(false);
    expect(e.mark.out.byCodepoint[2]).toBe(0);
    expect(e.mark.out.byCodepoint[0]).toBeGreaterThan(10);
  });

  it('ecn: true asks with ECE+CWR; a default listener accepts with ECE alone', () => {
    const e = ecnPair({ ecn: true });
    const { cc, sc } = open(e);
    expect(flagsOf(e.seenA, 'out', isSyn)).toEqual([FLAG_SYN | FLAG_ECE | FLAG_CWR]);
    expect(flagsOf(e.seenB, 'out', isSyn)).toEqual([FLAG_SYN | FLAG_ACK | FLAG_ECE]);
    expect(cc.info().ecn).toBe(true);
    expect(sc.info().ecn).toBe(true);
    expect(e.a.tcpLayer.stats.ecnNegotiated).toBe(1);
    expect(e.b.tcpLayer.stats.ecnNegotiated).toBe(1);
    expect(e.a.tcpLayer.format()).toMatch(/ ts sack ecn cubic /);
  });

  it('a listener with ecn: true does not make a plain client use it', () => {
    const e = ecnPair({}, { ecn: true });
    const { cc, sc } = open(e);
    expect(flagsOf(e.seenB, 'out', isSyn)).toEqual([FLAG_SYN | FLAG_ACK]);
    expect(cc.info().ecn).toBe(false);
    expect(sc.info().ecn).toBe(false);
  });

  it('a retransmitted SYN goes without ECN flags (tcp_ecn_clear_syn), and the connection without ECN', () => {
    const e = ecnPair({ ecn: true }, {}, { loss: 1 });
    const server = new Recorder();
    const client = new Recorder();
    e.b.tcpLayer.listen({ port: 80 }, (c) => {
      server.conn = c;
      c.handler = server;
    });
    const cc = e.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, client);
    client.conn = cc;
    e.clock.advance(100);
    e.wire.setOptions({ delayMs: 10 });
    runUntil(e.clock, () => client.isEstablished && server.conn !== null, 10_000, 1);
    expect(flagsOf(e.seenA, 'out', isSyn)).toEqual([FLAG_SYN | FLAG_ECE | FLAG_CWR, FLAG_SYN]);
    expect(cc.info().ecn).toBe(false);
    expect(server.conn!.info().ecn).toBe(false);
  });

  it('survives a SYN cookie: the cookie timestamp carries ECN back (TS_OPT_ECN)', () => {
    const e = ecnPair({ ecn: true });
    // The SYN queue is full when our SYN comes: the listener answers with a cookie.
    const { cc, sc } = open(e, (l) => (l.synQueue = l.backlog));
    expect(e.b.tcpLayer.stats.synCookiesSent).toBe(1);
    expect(e.b.tcpLayer.stats.synCookiesRecv).toBe(1);
    expect(flagsOf(e.seenB, 'out', isSyn)).toEqual([]); // the cookie SYN-ACK is stateless (no connection probe)
    expect(cc.info().ecn).toBe(true);
    expect(sc.info().ecn).toBe(true);
  });
});

describe('ECN on the data path', () => {
  it('ECT(0) only on new data: never on retransmissions, pure ACKs, SYNs or a FIN alone (RFC 3168 §6.1.5)', () => {
    const e = ecnPair({ ecn: true }, {}, { loss: 0.03, seed: 5 });
    const { client, cc, server } = open(e);
    cc.setNoDelay(true);
    const data = pattern(300_000, 2);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st);
    pump(cc, data, st);
    runUntil(e.clock, () => server.bytes === data.length, 60_000, 1);
    cc.shutdown();
    runUntil(e.clock, () => server.fin, 10_000, 1);
    expect(e.a.tcpLayer.stats.retransSegs).toBeGreaterThan(3);
    let highest = cc.snd.iss + 1;
    let newData = 0;
    let fins = 0;
    for (const { dir, seg } of e.seenA) {
      if (dir !== 'out') continue;
      const end = (seg.seq + seg.len) >>> 0;
      const fresh = seg.len > 0 && ((end - highest) | 0) > 0 && seg.seq === highest;
      if (fresh) {
        newData++;
        expect(seg.tos, `new data at ${seg.seq}`).toBe(2);
        highest = end;
      } else {
        expect(seg.tos, `segment ${JSON.stringify(seg)}`).toBeUndefined();
      }
      if (seg.len === 0 && seg.flags & FLAG_FIN) fins++;
    }
    expect(fins).toBe(1);
    // On the wire, before the loss: as many ECT(0) frames as new data segments, everything else Not-ECT.
    expect(e.mark.out.byCodepoint[2]).toBe(newData);
    expect(e.mark.out.byCodepoint[1] + e.mark.out.byCodepoint[3]).toBe(0);
    // b sends only ACKs: never ECN-capable.
    expect(e.seenB.filter((x) => x.dir === 'out' && x.seg.tos !== undefined)).toEqual([]);
  });

  it('CE marks: b echoes ECE until CWR, a reduces once per window and sends CWR; nothing is retransmitted', () => {
    const e = ecnPair({ ecn: true });
    const { client, cc, server, sc } = open(e);
    cc.setNoDelay(true);
    e.mark.markOut = everyNth(25);
    const data = pattern(2 * 1024 * 1024, 3);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st);
    pump(cc, data, st);
    runUntil(e.clock, () => server.bytes === data.length, 60_000, 1);
    e.clock.advance(500);
    const sa = e.a.tcpLayer.stats;
    const sb = e.b.tcpLayer.stats;
    const marked = e.mark.out.marked;
    expect(marked).toBeGreaterThan(20);
    expect(server.digest()).toBe(sha256(data));
    // Every mark reached b and was counted.
    expect(sb.ecnCeReceived).toBe(marked);
    expect(sc.info().ecnSeen).toBe(true);
    // b's receiver (Linux's TCP_ECN_DEMAND_CWR): ECE on every segment from the first CE until a CWR arrives.
    let demand = false;
    let eceOut = 0;
    for (const { dir, seg } of e.seenB) {
      if (isSyn(seg)) continue;
      if (dir === 'in' && seg.len > 0) {
        if (seg.flags & FLAG_CWR) demand = false;
        if (seg.tos === 3) demand = true;
      } else if (dir === 'out') {
        expect((seg.flags & FLAG_ECE) !== 0, `b's segment ${JSON.stringify(seg)}`).toBe(demand);
        if (seg.flags & FLAG_ECE) eceOut++;
      }
    }
    expect(eceOut).toBeGreaterThan(marked);
    expect(sa.ecnEceReceived).toBe(eceOut);
    // a: one reduction per window of data, however many marks and ECEs it holds.
    expect(sa.ecnCwndReductions).toBeGreaterThan(5);
    expect(sa.ecnCwndReductions).toBeLessThan(marked);
    const cwrs = flagsOf(e.seenA, 'out', (s) => (s.flags & FLAG_CWR) !== 0 && !isSyn(s));
    expect(cwrs.length).toBe(sa.ecnCwrSent);
    expect(sa.ecnCwrSent).toBeGreaterThanOrEqual(sa.ecnCwndReductions - 1);
    expect(sa.ecnCwrSent).toBeLessThanOrEqual(sa.ecnCwndReductions);
    // A congestion signal without loss: nothing resent, nothing timed out, nothing undone.
    expect(sa.retransSegs).toBe(0);
    expect(sa.timeouts).toBe(0);
    expect(sa.fastRetransmits).toBe(0);
    expect(sa.undoDsack + sa.undoRecovery + sa.undoPartial + sa.undoLoss).toBe(0);
    expect(cc.info().ssthresh).toBeDefined();
  });

  it('the window an ECN-echo leaves is the one a loss in the same place would leave, without the retransmission', () => {
    const mss = 1448;
    const at = (mode: 'ce' | 'drop') => {
      const e = ecnPair({ ecn: true, congestionControl: 'newreno' });
      const { client, cc, server } = open(e);
      cc.setNoDelay(true);
      // The 30th data frame: marked, or dropped as the same queue would without ECN.
      e.mark.markOut = (i) => i === 30;
      e.mark.dropOut = mode === 'drop';
      const data = pattern(60 * mss, 4);
      const st = { off: 0 };
      client.onWritable = () => pump(cc, data, st);
      pump(cc, data, st);
      runUntil(e.clock, () => server.bytes === data.length, 20_000, 1);
      return { ssthresh: cc.snd.cc.ssthresh, retrans: e.a.tcpLayer.stats.retransSegs };
    };
    const ce = at('ce');
    const drop = at('drop');
    expect(ce.retrans).toBe(0);
    expect(drop.retrans).toBeGreaterThan(0);
    expect(ce.ssthresh).toBeLessThan(0x7fffffff);
    // NewReno halves the flight in both cases; the flights differ by at most a few segments.
    expect(Math.abs(ce.ssthresh - drop.ssthresh)).toBeLessThanOrEqual(4 * mss);
  });
});
