/**
 * wirelab hosts and routers on the virtual clock, over in-memory pipes:
 * ARP with queued packets and timeouts, ping, forwarding with TTL expiry and
 * unreachables, fragmentation at a router and DF, UDP echo and port
 * unreachable, and the counters that name every drop.
 */
import { describe, expect, it } from 'vitest';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import { VirtualClock } from '../../src/time/index.js';
import { createStack, type Stack } from '../../src/stack.js';
import { PingError } from '../../src/ip/icmp.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { parseIPv4 } from '../../src/wire/address.js';

/** Runs the virtual clock in small steps until `p` settles (or `maxMs` pass). */
async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 10_000): Promise<T> {
  let done = false;
  const guarded = p.finally(() => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) {
    clock.advance(10);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
  return guarded;
}

function twoHosts(clock: VirtualClock, mtu = 1500): { a: Stack; b: Stack; pa: PipePort; pb: PipePort } {
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a' });
  const b = createStack({ clock, name: 'b' });
  a.addInterface(pa, { addresses: ['10.0.0.1/24'], mtu });
  b.addInterface(pb, { addresses: ['10.0.0.2/24'], mtu });
  return { a, b, pa, pb };
}

/** A — R — B: two subnets joined by a forwarding stack. */
function routed(clock: VirtualClock, rightMtu = 1500) {
  const [al, rl] = createPipe(clock);
  const [rr, br] = createPipe(clock);
  const a = createStack({ clock, name: 'a' });
  const r = createStack({ clock, name: 'r', forwarding: true });
  const b = createStack({ clock, name: 'b' });
  a.addInterface(al, { addresses: ['10.1.0.2/24'] });
  r.addInterface(rl, { addresses: ['10.1.0.1/24'] });
  r.addInterface(rr, { addresses: ['10.2.0.1/24'], mtu: rightMtu });
  b.addInterface(br, { addresses: ['10.2.0.2/24'], mtu: rightMtu });
  a.addRoute('default', { via: '10.1.0.1' });
  b.addRoute('default', { via: '10.2.0.1' });
  return { a, r, b };
}

describe('hosts on one link', () => {
  it('ARP resolves with the first ping queued, and both tables show the neighbour', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const reply = await settle(clock, a.icmp.ping('10.0.0.2'));
    expect(reply).toMatchObject({ from: '10.0.0.2', bytes: 64, ttl: 64 });
    expect(a.neighbours.format()).toMatch(/^10\.0\.0\.2 dev eth0 lladdr 02:77:6c:[0-9a-f:]+ REACHABLE$/m);
    expect(b.neighbours.format()).toMatch(/^10\.0\.0\.1 dev eth0 lladdr/m);
    expect(a.arp.stats.requestsOut).toBe(1);
    expect(b.icmp.stats.outEchoReps).toBe(1);
  });

  it('an address nobody has: 3 solicitations, then host unreachable for every queued ping, oldest beyond 3 dropped', async () => {
    const clock = new VirtualClock();
    const { a } = twoHosts(clock);
    const results = await settle(
      clock,
      Promise.allSettled([1, 2, 3, 4, 5].map((seq) => a.icmp.ping('10.0.0.9', { sequence: seq, timeoutMs: 10_000 }))),
    );
    const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as PingError).code : 'ok'));
    // The ARP queue holds 3 (Linux's default): the two oldest are dropped and time out.
    expect(reasons.filter((c) => c === 'EHOSTUNREACH')).toHaveLength(3);
    expect(reasons.filter((c) => c === 'ETIMEDOUT')).toHaveLength(2);
    expect(a.arp.stats.requestsOut).toBe(3);
    expect(a.neighbours.format()).toMatch(/^10\.0\.0\.9 dev eth0 FAILED$/m);
    expect(a.neighbours.stats.queueDrops).toBe(2);
  });

  it('a 4000-byte ping is fragmented and reassembled both ways', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const r = await settle(clock, a.icmp.ping('10.0.0.2', { size: 4000 }));
    expect(r.bytes).toBe(4008);
    expect(a.ip.stats.fragCreates).toBe(3);
    expect(b.ip.stats.reassembled).toBe(1);
    expect(b.ip.stats.fragCreates).toBe(3);
    expect(a.ip.stats.reassembled).toBe(1);
  });

  it('UDP echo, and a connected socket hears ECONNREFUSED from a closed port', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const echo = b.udp.createSocket();
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    echo.bind(7);
    const client = a.udp.createSocket();
    const got = new Promise<string>((resolve) => client.on('message', (m) => resolve(m.toString())));
    client.send('hello', 7, '10.0.0.2');
    expect(await settle(clock, got)).toBe('hello');

    const c2 = a.udp.createSocket();
    const refused = new Promise<string>((resolve) => c2.on('error', (e: NodeJS.ErrnoException) => resolve(String(e.code))));
    c2.connect(9999, '10.0.0.2', () => c2.send('x'));
    expect(await settle(clock, refused)).toBe('ECONNREFUSED');
    expect(b.udp.stats.noPorts).toBe(1);
  });

  it('counts malformed and foreign input instead of throwing', async () => {
    const clock = new VirtualClock();
    const { a, pb } = twoHosts(clock);
    const aMac = a.interfaces[0]!.mac;
    const src = parseIPv4('10.0.0.2');
    const dst = parseIPv4('10.0.0.1');
    const good = encodeIPv4({ dscp: 0, ecn: 0, identification: 1, dontFragment: false, moreFragments: false, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.UDP, src, dst, options: new Uint8Array(0) },
      encodeUdp({ srcPort: 1, dstPort: 2 }, new Uint8Array(4), { src, dst }));
    const bad = good.slice();
    bad[10] = bad[10]! ^ 0xff; // header checksum
    const send = (payload: Uint8Array, mac = aMac) => {
      const f = encodeEthernet({ dst: mac, src: 0x020000000099, tags: [], etherType: ETHERTYPE.IPV4 }, payload);
      pb.send(f, 0, f.length, -1);
    };
    send(bad);
    send(good.subarray(0, 10));
    send(good, 0x020000000042); // not our MAC
    send(good);
    clock.advance(10);
    expect(a.ip.stats.drops).toMatchObject({ badChecksum: 1, truncated: 1 });
    expect(a.interfaces[0]!.stats.drops).toMatchObject({ otherHost: 1 });
    expect(a.udp.stats.noPorts).toBe(1);
  });
});

describe('a router between two subnets', () => {
  it('forwards with TTL decremented', async () => {
    const clock = new VirtualClock();
    const { a, r } = routed(clock);
    const reply = await settle(clock, a.icmp.ping('10.2.0.2'));
    expect(reply.ttl).toBe(63);
    expect(r.ip.stats.forwarded).toBe(2);
  });

  it('TTL 1 gets time exceeded from the router; no route gets net unreachable', async () => {
    const clock = new VirtualClock();
    const { a } = routed(clock);
    const e1 = await settle(clock, a.icmp.ping('10.2.0.2', { ttl: 1 }).catch((e: PingError) => e));
    expect(e1).toBeInstanceOf(PingError);
    expect((e1 as PingError).code).toBe('ETIMEEXCEEDED');
    expect((e1 as PingError).from).toBe('10.1.0.1');
    const e2 = await settle(clock, a.icmp.ping('10.9.0.1').catch((e: PingError) => e));
    expect((e2 as PingError).code).toBe('ENETUNREACH');
    expect((e2 as PingError).from).toBe('10.1.0.1');
  });

  it('fragments for a smaller next-hop MTU, and answers DF with fragmentation needed and the MTU', async () => {
    const clock = new VirtualClock();
    const { a, r } = routed(clock, 1000);
    const ok = await settle(clock, a.icmp.ping('10.2.0.2', { size: 1400 }));
    expect(ok.bytes).toBe(1408);
    expect(r.ip.stats.fragCreates).toBeGreaterThanOrEqual(2);
    const e = await settle(clock, a.icmp.ping('10.2.0.2', { size: 1400, dontFragment: true }).catch((x: PingError) => x));
    expect((e as PingError).code).toBe('EMSGSIZE');
    expect((e as PingError).message).toContain('mtu = 1000');
  });

  it('a host with two interfaces and forwarding off does not forward', async () => {
    const clock = new VirtualClock();
    const { a, r } = routed(clock);
    r.forwarding = false;
    const e = await settle(clock, a.icmp.ping('10.2.0.2', { timeoutMs: 500 }).catch((x: PingError) => x));
    expect((e as PingError).code).toBe('ETIMEDOUT');
    expect(r.ip.stats.drops['notForUs']).toBe(1);
  });

  it('shows its tables like ip route and ip addr', () => {
    const clock = new VirtualClock();
    const { r, a } = routed(clock);
    expect(r.routes.format()).toBe(
      '10.1.0.0/24 dev eth0 proto kernel scope link src 10.1.0.1\n10.2.0.0/24 dev eth1 proto kernel scope link src 10.2.0.1',
    );
    expect(a.routes.format().split('\n')[0]).toBe('default via 10.1.0.1 dev eth0 proto static');
    expect(r.formatAddresses()).toContain('inet 10.2.0.1/24 brd 10.2.0.255 scope global eth1');
  });
});
