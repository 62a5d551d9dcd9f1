/**
 * The timers on the virtual clock: zero window and the persist timer (a
 * reader that stops and resumes), RTO backoff to ETIMEDOUT when the peer
 * vanishes (Linux's 924.6 s for tcp_retries2 = 15), delayed ACKs,
 * keepalive, and path-MTU discovery through a router with a smaller MTU.
 */
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { createStack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';
import { parseIPv4 } from '../../src/wire/address.js';
import { connectPair, pattern, pump, Recorder, runUntil, sha256, twoStacks } from './harness.js';

describe('zero window and persist', () => {
  it('a reader that stops: the window closes, probes back off, the connection survives, then resumes intact', () => {
    const p = twoStacks({ impairAtoB: { delayMs: 5 }, impairBtoA: { delayMs: 5 } });
    const { server, cc } = connectPair(p);
    server.paused = true;
    server.keepChunks = false;
    const data = pattern(1_000_000, 3);
    const st = { off: 0 };
    const client = cc.handler as Recorder;
    client.onWritable = () => pump(cc, data, st, true);
    pump(cc, data, st, true);
    const probes: number[] = [];
    p.a.tcpLayer.probe = (c, dir, seg) => {
      if (dir === 'out' && seg.len === 0 && seg.seq === ((c.snd.sndUna - 1) >>> 0)) probes.push(p.clock.now());
    };
    runUntil(p.clock, () => cc.snd.sndWnd === 0 && probes.length > 0, 10_000, 5);
    // The receive buffer (256 KiB) is full. Like Linux, a window that would shrink is rounded up
    // to the scale unit (128 bytes with wscale 7) instead, so the edge creeps by a few KB.
    expect(server.bytes).toBeGreaterThanOrEqual(256 * 1024 - 1448);
    expect(server.bytes).toBeLessThanOrEqual(256 * 1024 + 16 * 1024);
    expect(server.conn!.info().rcvWnd).toBe(0);
    // Ten virtual minutes of a stalled reader: probes answered, intervals doubling up to 120 s.
    p.clock.advance(600_000);
    expect(cc.state).toBe('ESTAB');
    const gaps = probes.slice(1).map((t, i) => Math.round(t - probes[i]!));
    expect(gaps.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBe(Math.min(120_000, gaps[i - 1]! * 2));
    expect(p.a.tcpLayer.stats.zeroWindowProbes).toBe(probes.length);
    const before = server.bytes;
    server.resume();
    runUntil(p.clock, () => server.fin, 60_000, 5);
    expect(server.bytes).toBe(data.length);
    expect(before).toBeLessThan(data.length);
    expect(server.digest()).toBe(sha256(data));
  });

  it('a window update lost on the way is recovered by the next probe', () => {
    const p = twoStacks();
    const { server, cc } = connectPair(p);
    server.paused = true;
    server.keepChunks = false;
    const data = pattern(400_000, 4);
    const st = { off: 0 };
    (cc.handler as Recorder).onWritable = () => pump(cc, data, st);
    pump(cc, data, st);
    runUntil(p.clock, () => cc.snd.sndWnd === 0, 10_000, 1);
    p.pb.setUp(false); // the window update goes nowhere
    server.resume();
    p.clock.advance(1);
    p.pb.setUp(true);
    expect(cc.snd.sndWnd).toBe(0);
    runUntil(p.clock, () => server.bytes === data.length, 30_000, 5);
    expect(server.digest()).toBe(sha256(data));
  });
});

describe('retransmission timeout', () => {
  it('backs off 200 ms, 400 ms, … capped at 120 s, and gives up with ETIMEDOUT after 15 retransmissions (924.6 s)', () => {
    const p = twoStacks();
    const { client, cc } = connectPair(p);
    const sent: number[] = [];
    p.a.tcpLayer.probe = (_c, dir, seg) => {
      if (dir === 'out' && seg.len > 0) sent.push(p.clock.now());
    };
    const t0 = p.clock.now();
    p.pb.setUp(false); // the peer vanishes
    cc.write(new Uint8Array(1000));
    runUntil(p.clock, () => client.done, 1_000_000, 100);
    expect(client.closedWith?.code).toBe('ETIMEDOUT');
    expect(sent).toHaveLength(16);
    const gaps = sent.slice(1).map((t, i) => Math.round(t - sent[i]!));
    expect(gaps).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400, 120000, 120000, 120000, 120000, 120000]);
    expect(Math.abs(p.clock.now() - t0 - 924_600)).toBeLessThanOrEqual(100);
    expect(p.a.tcpLayer.stats.timeouts).toBe(15);
    expect(cc.state).toBe('CLOSED');
  });

  it('maxRetries bounds the attempts', () => {
    const p = twoStacks({ tcpA: { maxRetries: 3 } });
    const { client, cc } = connectPair(p);
    p.pb.setUp(false);
    cc.write(new Uint8Array(10));
    const spent = runUntil(p.clock, () => client.done, 100_000, 10);
    expect(client.closedWith?.code).toBe('ETIMEDOUT');
    expect(spent).toBeGreaterThanOrEqual(200 + 400 + 800 + 1600 - 10);
    expect(spent).toBeLessThanOrEqual(200 + 400 + 800 + 1600 + 10);
  });
});

describe('delayed ACK', () => {
  it('quick ACKs at the start, then one ACK per two full segments, else after 40 ms', () => {
    const p = twoStacks();
    const { cc } = connectPair(p);
    const acks: Array<{ t: number; ack: number }> = [];
    p.b.tcpLayer.probe = (_c, dir, seg) => {
      if (dir === 'out' && seg.len === 0) acks.push({ t: p.clock.now(), ack: seg.ack });
    };
    // Use up the quick-ACK budget.
    for (let i = 0; i < 20; i++) {
      cc.write(new Uint8Array(10));
      p.clock.advance(100);
    }
    acks.length = 0;
    const t = p.clock.now();
    cc.write(new Uint8Array(10));
    p.clock.advance(100);
    expect(acks).toHaveLength(1);
    expect(acks[0]!.t - t).toBe(40);
    expect(p.b.tcpLayer.stats.delayedAcks).toBeGreaterThanOrEqual(1);
    // Two full segments: ACKed at once.
    acks.length = 0;
    const t2 = p.clock.now();
    cc.write(new Uint8Array(2 * 1448));
    p.clock.advance(100);
    expect(acks[0]!.t - t2).toBe(0);
  });
});

describe('keepalive', () => {
  it('probes an idle peer and gives up after 9 unanswered probes', () => {
    const p = twoStacks();
    const { client, cc } = connectPair(p);
    cc.setKeepAlive(true, 10_000);
    p.clock.advance(30_000);
    expect(p.a.tcpLayer.stats.keepAliveProbes).toBeGreaterThanOrEqual(1);
    expect(cc.state).toBe('ESTAB');
    p.pb.setUp(false);
    const spent = runUntil(p.clock, () => client.done, 2_000_000, 100);
    expect(client.closedWith?.code).toBe('ETIMEDOUT');
    expect(spent).toBeGreaterThan(9 * 75_000 - 80_000);
    expect(spent).toBeLessThan(9 * 75_000 + 80_000);
  });
});

describe('path MTU discovery', () => {
  it('across a router, the far host’s MSS (from its 1000-byte link) is honoured', () => {
    const clock = new VirtualClock();
    const [al, rl] = createPipe(clock);
    const [rr, br] = createPipe(clock);
    const a = createStack({ clock, name: 'a', seed: 1 });
    const r = createStack({ clock, name: 'r', forwarding: true, icmpRateLimit: false });
    const b = createStack({ clock, name: 'b', seed: 2 });
    a.addInterface(al, { addresses: ['10.1.0.2/24'] });
    r.addInterface(rl, { addresses: ['10.1.0.1/24'] });
    r.addInterface(rr, { addresses: ['10.2.0.1/24'], mtu: 1000 });
    b.addInterface(br, { addresses: ['10.2.0.2/24'], mtu: 1000 });
    a.addRoute('default', { via: '10.1.0.1' });
    b.addRoute('default', { via: '10.2.0.1' });
    const server = new Recorder();
    server.keepChunks = false;
    b.tcpLayer.listen({ port: 80 }, (c) => {
      server.conn = c;
      c.handler = server;
    });
    const client = new Recorder();
    const cc = a.tcpLayer.connect({ remoteAddress: parseIPv4('10.2.0.2'), remotePort: 80 }, client);
    client.conn = cc;
    runUntil(clock, () => client.isEstablished, 5000, 1);
    expect(cc.advMss).toBe(1460);
    expect(cc.info().mss).toBe(948); // b announced 960
    const data = pattern(200_000, 8);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st, true);
    pump(cc, data, st, true);
    runUntil(clock, () => server.fin, 30_000, 5);
    expect(server.digest()).toBe(sha256(data));
    expect(a.tcpLayer.stats.pmtuUpdates).toBe(0);
  });

  it('ICMP fragmentation needed (RFC 1191) shrinks the MSS of a running connection and resends', () => {
    const clock = new VirtualClock();
    const [al, rl] = createPipe(clock);
    const [rr, br] = createPipe(clock);
    const a = createStack({ clock, name: 'a', seed: 1 });
    const r = createStack({ clock, name: 'r', forwarding: true, icmpRateLimit: false });
    const b = createStack({ clock, name: 'b', seed: 2 });
    a.addInterface(al, { addresses: ['10.1.0.2/24'] });
    r.addInterface(rl, { addresses: ['10.1.0.1/24'] });
    const narrow = r.addInterface(rr, { addresses: ['10.2.0.1/24'] });
    b.addInterface(br, { addresses: ['10.2.0.2/24'] });
    a.addRoute('default', { via: '10.1.0.1' });
    b.addRoute('default', { via: '10.2.0.1' });
    const server = new Recorder();
    server.keepChunks = false;
    b.tcpLayer.listen({ port: 80 }, (c) => {
      server.conn = c;
      c.handler = server;
    });
    const client = new Recorder();
    const cc = a.tcpLayer.connect({ remoteAddress: parseIPv4('10.2.0.2'), remotePort: 80 }, client);
    client.conn = cc;
    runUntil(clock, () => client.isEstablished, 5000, 1);
    expect(cc.info().mss).toBe(1448);
    narrow.mtu = 1000; // the path narrows after the handshake
    const data = pattern(300_000, 9);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st, true);
    pump(cc, data, st, true);
    runUntil(clock, () => server.fin, 30_000, 5);
    expect(server.digest()).toBe(sha256(data));
    expect(a.tcpLayer.stats.pmtuUpdates).toBe(1);
    expect(cc.pmtu).toBe(1000);
    expect(cc.info().mss).toBe(948);
    expect(a.tcpLayer.stats.timeouts).toBe(0);
  });
});
