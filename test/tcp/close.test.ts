/**
 * Closing on the virtual clock: half-close with the peer still sending,
 * the full close sequence through FIN-WAIT-2/TIME-WAIT and CLOSE-WAIT/
 * LAST-ACK, simultaneous close through CLOSING, TIME-WAIT for exactly
 * 2·MSL, TIME-WAIT reuse by a newer SYN, RST on abort and on data for a
 * closed application.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { A, B, connectPair, pattern, pump, Recorder, runUntil, sha256, twoStacks } from './harness.js';

function track(conn: TcpConnection, into: string[]): () => void {
  let last = '';
  return () => {
    if (conn.state !== last) {
      last = conn.state;
      into.push(last);
    }
  };
}

describe('closing', () => {
  it('half-close: the client shuts down, the server keeps sending 300 KB, then closes', () => {
    const p = twoStacks();
    const { client, server, cc, sc } = connectPair(p);
    const s = sc();
    client.keepChunks = false;
    cc.shutdown();
    expect(cc.state).toBe('FIN-WAIT-1');
    runUntil(p.clock, () => server.fin, 1000, 1);
    expect(s.state).toBe('CLOSE-WAIT');
    expect(cc.state).toBe('FIN-WAIT-2');
    expect(() => cc.write(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    const data = pattern(300_000, 5);
    const st = { off: 0 };
    server.onWritable = () => pump(s, data, st);
    pump(s, data, st);
    runUntil(p.clock, () => client.bytes === data.length, 10_000, 1);
    expect(client.digest()).toBe(sha256(data));
    expect(client.fin).toBe(false);
    s.close();
    expect(s.state).toBe('LAST-ACK');
    runUntil(p.clock, () => server.done && client.done, 2000, 1);
    expect(s.state).toBe('CLOSED');
    expect(p.a.tcpLayer.socketState(cc)).toBe('TIME-WAIT');
    expect(client.fin).toBe(true);
    expect(client.closedWith).toBeUndefined();
    expect(server.closedWith).toBeUndefined();
  });

  it('passes through every closing state on each side', () => {
    const p = twoStacks();
    const { cc, sc } = connectPair(p);
    const s = sc();
    const cs: string[] = [];
    const ss: string[] = [];
    const tc = track(cc, cs);
    const ts = track(s, ss);
    p.a.tcpLayer.probe = () => {
      tc();
      ts();
    };
    p.b.tcpLayer.probe = () => {
      tc();
      ts();
    };
    tc();
    ts();
    cc.close();
    tc();
    runUntil(p.clock, () => s.state === 'CLOSE-WAIT', 1000, 1);
    ts();
    s.close();
    ts();
    runUntil(p.clock, () => s.state === 'CLOSED', 1000, 1);
    tc();
    ts();
    // Its last ACK out, the connection hands its 4-tuple to a TIME-WAIT record (inet_timewait_sock)
    // and is itself CLOSED; the tuple stays in TIME-WAIT.
    expect(cs).toEqual(['ESTAB', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'CLOSED']);
    expect(p.a.tcpLayer.socketState(cc)).toBe('TIME-WAIT');
    expect(ss).toEqual(['ESTAB', 'CLOSE-WAIT', 'LAST-ACK', 'CLOSED']);
  });

  it('simultaneous close: both FINs cross, both go CLOSING then TIME-WAIT', () => {
    const p = twoStacks();
    const { client, server, cc, sc } = connectPair(p);
    const s = sc();
    const seen = new Set<string>();
    const note = (c: TcpConnection) => seen.add(`${c === cc ? 'c' : 's'}:${c.state}`);
    p.a.tcpLayer.probe = (c) => note(c);
    p.b.tcpLayer.probe = (c) => note(c);
    cc.close();
    s.close();
    runUntil(p.clock, () => client.done && server.done, 2000, 1);
    expect(p.a.tcpLayer.socketState(cc)).toBe('TIME-WAIT');
    expect(p.b.tcpLayer.socketState(s)).toBe('TIME-WAIT');
    expect(seen.has('c:CLOSING')).toBe(true);
    expect(seen.has('s:CLOSING')).toBe(true);
    expect(client.fin && server.fin).toBe(true);
  });

  it('TIME-WAIT lasts 2·MSL (60 s by default), then the connection is gone', () => {
    const p = twoStacks();
    const { client, cc, sc } = connectPair(p);
    cc.close();
    runUntil(p.clock, () => sc().state === 'CLOSE-WAIT', 1000, 1);
    sc().close();
    runUntil(p.clock, () => p.a.tcpLayer.socketState(cc) === 'TIME-WAIT', 1000, 1);
    expect(client.done).toBe(true);
    const t0 = p.clock.now();
    p.clock.advance(59_990);
    expect(p.a.tcpLayer.socketState(cc)).toBe('TIME-WAIT');
    expect(p.a.tcpLayer.connections().map((i) => i.state)).toEqual(['TIME-WAIT']);
    p.clock.advanceTo(t0 + 60_000);
    expect(p.a.tcpLayer.socketState(cc)).toBe('CLOSED');
    expect(p.a.tcpLayer.connections()).toEqual([]);
  });

  it('TIME-WAIT with msl 1000 lasts 2 s; the same 4-tuple is EADDRINUSE meanwhile', () => {
    const p = twoStacks({ tcpA: { msl: 1000 } });
    const { cc, sc } = connectPair(p);
    cc.close();
    runUntil(p.clock, () => sc().state === 'CLOSE-WAIT', 1000, 1);
    sc().close();
    runUntil(p.clock, () => p.a.tcpLayer.socketState(cc) === 'TIME-WAIT', 1000, 1);
    expect(() => p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80, localPort: cc.localPort }, new Recorder())).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE' }),
    );
    const spent = runUntil(p.clock, () => p.a.tcpLayer.socketState(cc) === 'CLOSED', 3000, 1);
    expect(spent).toBeGreaterThan(1990);
    expect(spent).toBeLessThanOrEqual(2001);
  });

  it('a newer SYN reopens a 4-tuple the server holds in TIME-WAIT', () => {
    const p = twoStacks();
    const { client, cc, sc } = connectPair(p);
    const port = cc.localPort;
    sc().close();
    runUntil(p.clock, () => cc.state === 'CLOSE-WAIT', 1000, 1);
    cc.close();
    const old = sc();
    runUntil(p.clock, () => client.done && p.b.tcpLayer.socketState(old) === 'TIME-WAIT', 1000, 1);
    p.clock.advance(1000);
    const r = new Recorder();
    const c2 = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: 80, localPort: port }, r);
    r.conn = c2;
    runUntil(p.clock, () => r.isEstablished, 2000, 1);
    expect(p.b.tcpLayer.stats.timeWaitRecycled).toBe(1);
    expect(old.state).toBe('CLOSED');
    expect(sc()).not.toBe(old);
    expect(p.b.tcpLayer.socketState(old)).toBe('ESTAB'); // the tuple's new incarnation
    expect(sc().state).toBe('ESTAB');
  });

  it('abort sends RST: ECONNRESET at the peer (and locally)', () => {
    const p = twoStacks();
    const { client, server, cc } = connectPair(p);
    cc.abort();
    expect(client.closedWith?.code).toBe('ECONNRESET');
    runUntil(p.clock, () => server.done, 1000, 1);
    expect(server.closedWith?.code).toBe('ECONNRESET');
    expect(p.b.tcpLayer.stats.estabResets).toBe(1);
    expect(p.b.tcpLayer.connections()).toEqual([]);
  });

  it('data for an application that closed is answered with RST (Linux TCPAbortOnData)', () => {
    const p = twoStacks();
    const { client, server, cc, sc } = connectPair(p);
    cc.close();
    runUntil(p.clock, () => cc.state === 'FIN-WAIT-2', 1000, 1);
    sc().write(new Uint8Array(100));
    runUntil(p.clock, () => server.done, 1000, 1);
    // The server is in CLOSE-WAIT (it heard our FIN): Linux reports that RST as EPIPE.
    expect(server.closedWith?.code).toBe('EPIPE');
    expect(cc.state).toBe('CLOSED');
    expect(client.done).toBe(true);
  });

  it('an orphaned FIN-WAIT-2 times out after tcp_fin_timeout', () => {
    const p = twoStacks({ tcpA: { finTimeoutMs: 5000 } });
    const { cc } = connectPair(p);
    cc.close();
    runUntil(p.clock, () => cc.state === 'FIN-WAIT-2', 1000, 1);
    const spent = runUntil(p.clock, () => cc.state === 'CLOSED', 10_000, 10);
    expect(spent).toBeGreaterThanOrEqual(4900);
    expect(spent).toBeLessThanOrEqual(5010);
  });

  it('a RST in CLOSE-WAIT reports EPIPE as Linux', () => {
    const p = twoStacks();
    const { server, cc, sc } = connectPair(p);
    cc.shutdown();
    runUntil(p.clock, () => sc().state === 'CLOSE-WAIT', 1000, 1);
    cc.abort();
    runUntil(p.clock, () => server.done, 1000, 1);
    expect(server.closedWith?.code).toBe('EPIPE');
    void A;
  });
});
