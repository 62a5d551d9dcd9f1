/**
 * Transport edges (issue 13 item 3) as Linux decides them, and callbacks that
 * throw. What Linux does (checked by test/interop/hostile-kernel.test.ts):
 * - a UDP datagram from port 0 is delivered, and to a closed port answered
 *   with port unreachable (__udp4_lib_rcv has no port-0 rule);
 * - a TCP segment from or to port 0 gets the usual RST (tcp_v4_rcv →
 *   tcp_v4_send_reset has no port-0 rule either) — unlike issue 13's wording;
 * - LAND (our own address as source) and broadcast/multicast sources never
 *   reach TCP or UDP: ip_route_input drops them (martianSource*).
 * A throwing callback: the batch is finished and flushed first, then the
 * error is rethrown to the batch's deliverer (here the virtual clock's run).
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { createStack } from '../../src/stack.js';
import { ClockQueue } from '../../src/tcp/clock-queue.js';
import { VirtualClock } from '../../src/time/index.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import { echoFrame, hostileHost, ipFrame, TARGET_IP, TESTER_IP, tcpFrame, udpFrame } from '../helpers/hostile.js';

function setup() {
  const clock = new VirtualClock();
  const { host, tester } = hostileHost(clock);
  return { clock, host, tester };
}

describe('port 0 and LAND, as Linux', () => {
  it('UDP from port 0 is delivered to a bound socket; to a closed port it gets port unreachable', () => {
    const { clock, host, tester } = setup();
    const got: number[] = [];
    const s = host.udp.createSocket();
    s.on('message', (_m, r) => got.push(r.port));
    s.bind(5000);
    tester.send(udpFrame({ srcPort: 0, dstPort: 5000 }), udpFrame({ srcPort: 0, dstPort: 5001 }));
    clock.advance(10);
    expect(got).toEqual([0]);
    expect(tester.take()).toEqual([`${TARGET_IP} > ${TESTER_IP} icmp 3/3`]);
    expect(host.udp.stats.noPorts).toBe(1);
  });

  it('TCP SYN from and to port 0 gets the RST Linux sends', () => {
    const { clock, tester } = setup();
    tester.send(tcpFrame({ srcPort: 0, dstPort: 9 }), tcpFrame({ srcPort: 40000, dstPort: 0 }));
    clock.advance(10);
    expect(tester.take()).toEqual([`${TARGET_IP} > ${TESTER_IP} tcp 9 > 0 [RA]`, `${TARGET_IP} > ${TESTER_IP} tcp 0 > 40000 [RA]`]);
  });

  it('LAND SYN and UDP from our own address: no reply, martianSourceLocal', () => {
    const { clock, host, tester } = setup();
    tester.send(tcpFrame({ srcIp: TARGET_IP, srcPort: 9, dstPort: 9 }), udpFrame({ srcIp: TARGET_IP, dstPort: 9 }));
    clock.advance(10);
    expect(tester.take()).toEqual([]);
    expect(host.ip.stats.drops.martianSourceLocal).toBe(2);
    expect(host.tcpLayer.stats.drops).not.toHaveProperty('noSocket', 1);
  });

  it('TCP from a multicast source: dropped by IP, no RST', () => {
    const { clock, host, tester } = setup();
    tester.send(tcpFrame({ srcIp: '224.0.0.9', flags: TCP_FLAG.SYN }));
    clock.advance(10);
    expect(tester.take()).toEqual([]);
    expect(host.ip.stats.drops.martianSourceMulticast).toBe(1);
  });
});

describe('a callback that throws never leaves a batch half done', () => {
  it('UDP: both datagrams of one batch are delivered; the error surfaces from the clock run', () => {
    const { clock, host, tester } = setup();
    const got: string[] = [];
    const s = host.udp.createSocket();
    s.on('message', (m) => {
      got.push(m.toString('hex'));
      if (got.length === 1) throw new Error('user bug');
    });
    s.bind(5000);
    tester.send(udpFrame({ dstPort: 5000, payload: new Uint8Array([1]) }), udpFrame({ dstPort: 5000, payload: new Uint8Array([2]) }));
    expect(() => clock.advance(10)).toThrow('user bug');
    expect(got).toEqual(['01', '02']);
    expect(host.udp.stats.inDatagrams).toBe(2);
  });

  it('a handler throwing inside input: the rest of the batch is processed and flushed, then the error is rethrown', () => {
    const { clock, host, tester } = setup();
    // Stands for a user's TCP 'data'/'connection' handler, which runs inside input.
    host.ip.register(253, () => {
      throw new Error('handler bug');
    });
    tester.send(ipFrame(253, new Uint8Array(4)), echoFrame(), ipFrame(253, new Uint8Array(4)));
    let thrown: unknown;
    try {
      clock.advance(10);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors).toHaveLength(2);
    expect(host.ip.stats.callbackErrors).toBe(2);
    expect(tester.take()).toEqual([`${TARGET_IP} > ${TESTER_IP} icmp 0/0`]);
  });

  it('TCP: two SYNs in one batch to a listener with a throwing connection listener are both answered (the listener itself runs after the handshake)', () => {
    const { clock, host, tester } = setup();
    let calls = 0;
    const server = host.tcp.createServer(() => {
      calls++;
      throw new Error('listener bug');
    });
    server.listen(80);
    clock.advance(1);
    const errors: unknown[] = [];
    const run = () => {
      try {
        clock.advance(10);
      } catch (e) {
        errors.push(e);
      }
    };
    tester.send(tcpFrame({ srcPort: 41000, dstPort: 80, seq: 100 }), tcpFrame({ srcPort: 41001, dstPort: 80, seq: 200 }));
    run();
    // Both SYNs were answered with a SYN-ACK in the same batch.
    expect(tester.take().filter((r) => r.endsWith('[SA]'))).toHaveLength(2);
    expect(calls).toBe(0); // the listener runs once the handshake completes
    expect(errors).toEqual([]);
  });
});

describe('a socket callback that throws loses nothing behind it', () => {
  it("TCP: a 'connect' handler that throws: the connection goes on, every byte, 'end' and 'close' arrive, and the error surfaces from the clock run", async () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const server = createStack({ clock, name: 'srv' });
    server.addInterface(a, { addresses: ['10.240.0.1/24'] });
    const client = createStack({ clock, name: 'cli' });
    client.addInterface(b, { addresses: ['10.240.0.2/24'] });
    const data = randomBytes(256 * 1024);
    server.tcp.createServer((s) => s.end(data)).listen(80);
    const got: Buffer[] = [];
    let ended = false;
    let closed = false;
    const c = client.tcp.connect({ host: '10.240.0.1', port: 80 });
    c.on('connect', () => {
      throw new Error('user bug in connect');
    });
    c.on('data', (d: Buffer) => got.push(d));
    c.on('end', () => (ended = true));
    c.on('close', () => (closed = true));
    const errors: string[] = [];
    for (let i = 0; i < 2000 && !closed; i++) {
      try {
        clock.advance(5);
      } catch (e) {
        errors.push((e as Error).message);
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(errors).toEqual(['user bug in connect']);
    expect(createHash('sha256').update(Buffer.concat(got)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(ended).toBe(true);
    expect(closed).toBe(true);
  });

  it('the socket callback queue runs every callback of a run even when one throws, then rethrows (all of them: AggregateError)', () => {
    const clock = new VirtualClock();
    const q = new ClockQueue(clock);
    const ran: number[] = [];
    q.push(() => ran.push(1));
    q.push(() => {
      ran.push(2);
      throw new Error('first');
    });
    q.push(() => ran.push(3));
    expect(() => clock.advance(1)).toThrow('first');
    expect(ran).toEqual([1, 2, 3]);
    q.push(() => {
      throw new Error('a');
    });
    q.push(() => {
      throw new Error('b');
    });
    q.push(() => ran.push(4));
    let thrown: unknown;
    try {
      clock.advance(1);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a', 'b']);
    expect(ran).toEqual([1, 2, 3, 4]);
  });
});
