/**
 * Opening connections on the virtual clock: options negotiated (each of
 * SACK, timestamps and window scaling on and off on either side), the MSS
 * from the egress MTU and the peer's MSS honoured, simultaneous open,
 * refusals (RST and ICMP), SYN retransmission to ETIMEDOUT, `ss` output.
 */
import { describe, expect, it } from 'vitest';
import { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpSegmentInfo } from '../../src/tcp/state.js';
import { FLAG_SYN } from '../../src/tcp/segment.js';
import { A, B, connectPair, Recorder, runUntil, twoStacks } from './harness.js';

describe('three-way handshake', () => {
  it('negotiates Linux defaults: MSS 1460, SACK, timestamps, wscale 7', () => {
    const p = twoStacks();
    const synOpts: TcpSegmentInfo[] = [];
    p.a.tcpLayer.probe = (_c, dir, seg) => {
      if (dir === 'out') synOpts.push(seg);
    };
    const { cc, sc } = connectPair(p);
    const ci = cc.info();
    const si = sc().info();
    for (const i of [ci, si]) {
      expect(i.state).toBe('ESTAB');
      expect(i.sack).toBe(true);
      expect(i.timestamps).toBe(true);
      expect(i.wscale).toEqual([7, 7]);
      expect(i.mss).toBe(1448); // 1500 − 40 − 12 bytes of timestamps
    }
    expect(ci.localAddress).toBe('10.0.0.1');
    expect(ci.remotePort).toBe(80);
    expect(ci.localPort).toBeGreaterThanOrEqual(32768);
    expect(ci.localPort).toBeLessThanOrEqual(60999);
    // The SYN: flags S, window 65535 (never scaled), then the handshake's ACK.
    expect(synOpts[0]!.flags).toBe(FLAG_SYN);
    expect(synOpts[0]!.window).toBe(65535);
    expect(synOpts[0]!.tsEcr).toBeUndefined();
    expect(TcpConnection.offeredWscale(256 * 1024)).toBe(7);
    expect(p.a.tcpLayer.stats.activeOpens).toBe(1);
    expect(p.b.tcpLayer.stats.passiveOpens).toBe(1);
  });

  const combos: Array<[string, boolean, boolean, boolean]> = [];
  for (const sack of [true, false]) for (const timestamps of [true, false]) for (const windowScaling of [true, false]) {
    combos.push([`sack=${sack} ts=${timestamps} ws=${windowScaling}`, sack, timestamps, windowScaling]);
  }
  it.each(combos)('each option only when both sides offer it: %s on the client, all on the server', (_n, sack, timestamps, windowScaling) => {
    const p = twoStacks({ tcpA: { sack, timestamps, windowScaling } });
    const { cc, sc } = connectPair(p);
    for (const i of [cc.info(), sc().info()]) {
      expect(i.sack).toBe(sack);
      expect(i.timestamps).toBe(timestamps);
      expect(i.wscale).toEqual(windowScaling ? [7, 7] : undefined);
      expect(i.mss).toBe(timestamps ? 1448 : 1460);
    }
  });

  it.each(combos)('and the same when the server lacks them: %s on the server', (_n, sack, timestamps, windowScaling) => {
    const p = twoStacks({ tcpB: { sack, timestamps, windowScaling } });
    const { cc, sc } = connectPair(p);
    for (const i of [cc.info(), sc().info()]) {
      expect([i.sack, i.timestamps, i.wscale !== undefined]).toEqual([sack, timestamps, windowScaling]);
    }
  });

  it('announces MSS from the egress MTU and honours the peer’s smaller MSS', () => {
    const p = twoStacks({ mtu: 1000 });
    const { cc, sc } = connectPair(p);
    expect(cc.advMss).toBe(960);
    expect(cc.info().mss).toBe(948);
    expect(sc().info().mss).toBe(948);
    const big = new Uint8Array(5000);
    const sizes: number[] = [];
    p.a.tcpLayer.probe = (_c, dir, seg) => {
      if (dir === 'out' && seg.len > 0) sizes.push(seg.len);
    };
    cc.write(big);
    runUntil(p.clock, () => sizes.reduce((x, y) => x + y, 0) >= 5000, 1000, 1);
    expect(Math.max(...sizes)).toBe(948);
  });

  it('simultaneous open: SYNs cross, both go SYN-RECV, then ESTAB without a listener', () => {
    const p = twoStacks();
    const ra = new Recorder();
    const rb = new Recorder();
    const states: string[] = [];
    p.a.tcpLayer.probe = (c, dir, seg) => states.push(`${dir} ${c.state} ${seg.flags}`);
    const ca = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 6000, localPort: 5000 }, ra);
    const cb = p.b.tcpLayer.connect({ remoteAddress: A, remotePort: 5000, localPort: 6000 }, rb);
    ra.conn = ca;
    rb.conn = cb;
    runUntil(p.clock, () => ra.isEstablished && rb.isEstablished, 5000, 1);
    expect(ca.state).toBe('ESTAB');
    expect(cb.state).toBe('ESTAB');
    // a: SYN out; SYN in (while SYN-SENT); SYN-ACK out (SYN-RECV); SYN-ACK in; ACK out (ESTAB).
    expect(states.slice(0, 4)).toEqual(['out SYN-SENT 2', 'in SYN-SENT 2', 'out SYN-RECV 18', 'in SYN-RECV 18']);
    ca.write(new TextEncoder().encode('ping'));
    cb.write(new TextEncoder().encode('pong'));
    runUntil(p.clock, () => ra.bytes === 4 && rb.bytes === 4, 2000, 1);
    expect(ra.text()).toBe('pong');
    expect(rb.text()).toBe('ping');
  });

  it('a SYN to a closed port is refused with RST → ECONNREFUSED', () => {
    const p = twoStacks();
    const r = new Recorder();
    p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 81 }, r);
    runUntil(p.clock, () => r.done, 2000, 1);
    expect(r.closedWith?.code).toBe('ECONNREFUSED');
    expect(p.b.tcpLayer.stats.drops.noSocket).toBe(1);
    expect(p.b.tcpLayer.stats.outRsts).toBe(1);
    expect(p.a.tcpLayer.stats.attemptFails).toBe(1);
    expect(p.a.tcpLayer.connections()).toEqual([]);
  });

  it('ICMP port unreachable during SYN-SENT → ECONNREFUSED', () => {
    const p = twoStacks();
    const r = new Recorder();
    const c = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 81 }, r);
    p.a.tcpLayer.icmpError({ src: A, dst: B, srcPort: c.localPort, dstPort: 81, seq: c.snd.iss }, 3, 3, 0);
    expect(r.closedWith?.code).toBe('ECONNREFUSED');
  });

  it('SYN retransmitted at 1, 3, 7, 15, 31, 63 s; ETIMEDOUT at 127 s as Linux', () => {
    const p = twoStacks();
    p.pb.setUp(false);
    const r = new Recorder();
    const times: number[] = [];
    p.a.tcpLayer.probe = (_c, dir) => {
      if (dir === 'out') times.push(p.clock.now());
    };
    p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, r);
    runUntil(p.clock, () => r.done, 200_000, 100);
    expect(times).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    expect(r.closedWith?.code).toBe('ETIMEDOUT');
    expect(p.clock.now()).toBeGreaterThanOrEqual(127_000);
    expect(p.clock.now()).toBeLessThan(127_200);
  });

  it('EADDRINUSE for a second listener and for a taken 4-tuple; ephemeral ports differ', () => {
    const p = twoStacks();
    p.b.tcpLayer.listen({ port: 80 }, () => undefined);
    expect(() => p.b.tcpLayer.listen({ port: 80 }, () => undefined)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => p.b.tcpLayer.listen({ port: 80, address: B }, () => undefined)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    const r = new Recorder();
    p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80, localPort: 4000 }, r);
    expect(() => p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80, localPort: 4000 }, new Recorder())).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE' }),
    );
    const c1 = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, new Recorder());
    const c2 = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80 }, new Recorder());
    expect(c1.localPort).not.toBe(c2.localPort);
  });

  it('prints an ss -tni table', () => {
    const p = twoStacks();
    const { cc } = connectPair(p);
    const text = p.b.tcpLayer.format();
    expect(text.split('\n')[0]).toMatch(/^State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port$/);
    expect(text).toMatch(/^LISTEN\s+0\s+511\s+0\.0\.0\.0:80\s+0\.0\.0\.0:\*$/m);
    expect(text).toMatch(new RegExp(`^ESTAB\\s+0\\s+0\\s+10\\.0\\.0\\.2:80\\s+10\\.0\\.0\\.1:${cc.localPort}$`, 'm'));
    expect(text).toMatch(/^\t ts sack cubic wscale:7,7 rto:\d+/m);
  });
});
