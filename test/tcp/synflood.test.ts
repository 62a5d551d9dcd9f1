/**
 * A SYN flood past the listener's backlog from spoofed sources that never
 * answer, while a legitimate client still connects: the SYN queue stays at
 * the backlog, overflowing SYNs get SYN cookies (as Linux with
 * tcp_syncookies = 1), the client's returning cookie rebuilds its
 * connection (MSS, SACK and window scale recovered from the cookie and its
 * timestamp), and the half-open entries expire after the SYN-ACK retries.
 */
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { createStack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';
import { parseIPv4 } from '../../src/wire/address.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { encodeIPv4 } from '../../src/wire/ipv4.js';
import { encodeTcp, TCP_FLAG } from '../../src/wire/tcp.js';
import { linuxTcpOptions } from '../../src/wire/tcp-options.js';
import { pattern, pump, Recorder, runUntil, sha256 } from './harness.js';

function flooded(tcp: { synCookies?: boolean; timestamps?: boolean } = {}) {
  const clock = new VirtualClock();
  const [ca, sa] = createPipe(clock);
  const [attacker, sx] = createPipe(clock);
  const client = createStack({ clock, name: 'client', seed: 1, tcp: { timestamps: tcp.timestamps ?? true } });
  const server = createStack({ clock, name: 'server', seed: 2, tcp });
  client.addInterface(ca, { addresses: ['10.0.0.1/24'], announce: false });
  server.addInterface(sa, { addresses: ['10.0.0.2/24'], announce: false });
  server.addInterface(sx, { addresses: ['10.9.0.2/24'], announce: false });
  const spoofed = parseIPv4('10.9.0.66');
  // The spoofed source "exists" at layer 2 but never answers: SYN-ACKs vanish into the attacker's pipe.
  server.neighbours.addPermanent(spoofed, 0x02000000bb01, 'eth1');
  let synAcksToAttacker = 0;
  attacker.onReceive = (batch) => {
    synAcksToAttacker += batch.count;
  };
  const serverMac = server.interfaces[1]!.mac;
  const flood = (n: number, firstPort = 1024) => {
    for (let i = 0; i < n; i++) {
      const tcpBytes = encodeTcp(
        { srcPort: firstPort + i, dstPort: 80, seq: 1_000_000 * i, ack: 0, flags: TCP_FLAG.SYN, window: 65535, options: linuxTcpOptions({ mss: 1460 }) },
        new Uint8Array(0),
        { src: spoofed, dst: parseIPv4('10.9.0.2') },
      );
      const ip = encodeIPv4(
        { dscp: 0, ecn: 0, identification: i, dontFragment: true, moreFragments: false, reservedFlag: false, fragmentOffset: 0, ttl: 64, protocol: 6, src: spoofed, dst: parseIPv4('10.9.0.2'), options: new Uint8Array(0) },
        tcpBytes,
      );
      const frame = encodeEthernet({ dst: serverMac, src: 0x02000000bb01, tags: [], etherType: ETHERTYPE.IPV4 }, ip);
      attacker.send(frame, 0, frame.length, -1);
    }
    clock.advance(1);
  };
  return { clock, client, server, flood, synAcks: () => synAcksToAttacker };
}

describe('SYN flood', () => {
  it('past the backlog: SYN cookies, and a legitimate client still connects and transfers', () => {
    const f = flooded();
    const accepted = new Recorder();
    const listener = f.server.tcpLayer.listen({ port: 80, backlog: 16 }, (c) => {
      accepted.conn = c;
      c.handler = accepted;
    });
    f.flood(500);
    const st = f.server.tcpLayer.stats;
    expect(listener.synQueue).toBe(16);
    expect(st.passiveOpens).toBe(16);
    expect(st.listenOverflows).toBe(484);
    expect(st.synCookiesSent).toBe(484);
    expect(f.synAcks()).toBe(500);
    // The legitimate client arrives while the queue is still full.
    const client = new Recorder();
    const cc = f.client.tcpLayer.connect({ remoteAddress: parseIPv4('10.0.0.2'), remotePort: 80 }, client);
    client.conn = cc;
    runUntil(f.clock, () => client.isEstablished && accepted.conn !== null, 5000, 1);
    expect(st.synCookiesSent).toBe(485);
    expect(st.synCookiesRecv).toBe(1);
    expect(listener.synQueue).toBe(16);
    const sc = accepted.conn!;
    expect(sc.state).toBe('ESTAB');
    // Everything the cookie carried: the MSS (from Linux's table), SACK and window scale (in the timestamp).
    expect(sc.info()).toMatchObject({ mss: 1448, sack: true, timestamps: true, wscale: [7, 7] });
    const data = pattern(500_000, 2);
    const s = { off: 0 };
    accepted.keepChunks = false;
    client.onWritable = () => pump(cc, data, s, true);
    pump(cc, data, s, true);
    runUntil(f.clock, () => accepted.fin, 20_000, 5);
    expect(accepted.digest()).toBe(sha256(data));
    // The half-open entries give up after 5 SYN-ACK retransmissions (1+2+4+8+16+32 s).
    f.clock.advance(64_000);
    expect(listener.synQueue).toBe(0);
    expect(f.server.tcpLayer.connections().filter((i) => i.state === 'SYN-RECV')).toEqual([]);
  });

  it('without timestamps only the MSS survives the cookie (as Linux)', () => {
    const f = flooded({ timestamps: false });
    const accepted = new Recorder();
    f.server.tcpLayer.listen({ port: 80, backlog: 4 }, (c) => {
      accepted.conn = c;
      c.handler = accepted;
    });
    f.flood(10);
    const client = new Recorder();
    const cc = f.client.tcpLayer.connect({ remoteAddress: parseIPv4('10.0.0.2'), remotePort: 80 }, client);
    client.conn = cc;
    runUntil(f.clock, () => client.isEstablished && accepted.conn !== null, 5000, 1);
    expect(accepted.conn!.info()).toMatchObject({ mss: 1460, sack: false, timestamps: false });
    expect(accepted.conn!.info().wscale).toBeUndefined();
    expect(cc.info().wscale).toBeUndefined();
    cc.write(new TextEncoder().encode('still works'));
    runUntil(f.clock, () => accepted.bytes === 11, 2000, 1);
    expect(accepted.text()).toBe('still works');
  });

  it('with cookies off, SYNs beyond the backlog are dropped and counted', () => {
    const f = flooded({ synCookies: false });
    const listener = f.server.tcpLayer.listen({ port: 80, backlog: 8 }, () => undefined);
    f.flood(50);
    expect(listener.synQueue).toBe(8);
    expect(f.server.tcpLayer.stats.drops.listenDrops).toBe(42);
    expect(f.server.tcpLayer.stats.synCookiesSent).toBe(0);
    expect(f.synAcks()).toBe(8);
  });

  it('a forged cookie ACK is refused with RST', () => {
    const f = flooded();
    f.server.tcpLayer.listen({ port: 80, backlog: 1 }, () => undefined);
    f.flood(3);
    f.flood(1, 5000);
    // An ACK guessing a cookie from a port whose SYN-ACK it never saw.
    const st = f.server.tcpLayer.stats;
    const before = st.outRsts;
    const spoofed = parseIPv4('10.9.0.66');
    const bytes = encodeTcp({ srcPort: 6000, dstPort: 80, seq: 42, ack: 0xdeadbeef, flags: TCP_FLAG.ACK, window: 100 }, new Uint8Array(0), {
      src: spoofed,
      dst: parseIPv4('10.9.0.2'),
    });
    f.server.tcpLayer.input(spoofed, parseIPv4('10.9.0.2'), bytes);
    expect(st.synCookiesFailed).toBe(1);
    expect(st.outRsts).toBe(before + 1);
  });
});
