/**
 * Issue 13 item 5: every table an outsider can grow by sending packets has a
 * limit it never passes, counts what it refuses or evicts, and shrinks back
 * to its idle size on the clock once the sender stops.
 *
 * A wirelab host and a NAT gateway on a wirelab switch, flooded from one
 * port as a hostile neighbour would: ARP from hundreds of addresses and MACs (the
 * neighbour table and the FDB), first fragments that never complete
 * (reassembly), a SYN flood (the SYN queue), UDP flows forwarded through
 * the gateway's masquerade (conntrack); the host's own connections closed
 * first (TIME-WAIT);
 * a DNS cache filled with answers. Limits are lowered so the test is small.
 */
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { DnsCache } from '../../src/dns/cache.js';
import { createPipe } from '../../src/link/pipe.js';
import { createStack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { VirtualClock, type TableUsage } from '../../src/time/index.js';
import { parseIPv4, parseMac } from '../../src/wire/address.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import { arpFrame, TARGET_CIDR, TARGET_IP, TARGET_MAC, tcpFrame, Tester, TESTER_IP, udpFrame } from '../helpers/hostile.js';

const GATEWAY_MAC = '02:00:00:e6:00:fe';
const LIMITS = { neighbours: 32, reassemblyBytes: 64 * 1024, timeWait: 4, backlog: 8, conntrack: 16, fdb: 64 };

function hexMac(n: number): string {
  return (0x020000000000 + n).toString(16).padStart(12, '0').match(/../g)!.join(':');
}

/** A first fragment (MF set, offset 0) of a datagram whose rest never comes. */
function firstFragment(id: number, bytes: number, src: string): Uint8Array {
  const datagram = encodeIPv4(
    {
      dscp: 0, ecn: 0, identification: id, dontFragment: false, moreFragments: true, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.UDP, src: parseIPv4(src), dst: parseIPv4(TARGET_IP), options: new Uint8Array(0),
    },
    new Uint8Array(bytes),
  );
  return encodeEthernet({ dst: parseMac(TARGET_MAC), src: parseMac(hexMac(0x900 + (id % 8))), tags: [], etherType: ETHERTYPE.IPV4 }, datagram);
}

function setup() {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock, name: 'lan', maxFdbEntries: LIMITS.fdb });
  const cable = (): ReturnType<typeof createPipe>[0] => {
    const [end, port] = createPipe(clock);
    bridge.addPort(port);
    return end;
  };
  const testerEnd = cable();
  // The host under attack: its neighbours, reassembly, SYN queue and TIME-WAIT.
  const host = createStack({
    clock, name: 'host', icmpRateLimit: false,
    neighbours: { maxEntries: LIMITS.neighbours },
    reassembly: { maxBytes: LIMITS.reassemblyBytes },
    tcp: { maxTimeWait: LIMITS.timeWait },
  });
  host.addInterface(cable(), { addresses: [TARGET_CIDR], mac: TARGET_MAC, announce: false });
  host.arp.onConflict = () => undefined;
  // A peer on the LAN for the host's own connections.
  const peer = createStack({ clock, name: 'peer' });
  peer.addInterface(cable(), { addresses: ['10.230.0.2/24'], announce: false });
  // A NAT gateway with an uplink to an outside host: its conntrack.
  const gateway = createStack({ clock, name: 'gateway', forwarding: true, icmpRateLimit: false, nat: { conntrack: { maxEntries: LIMITS.conntrack } } });
  gateway.addInterface(cable(), { name: 'eth0', addresses: ['10.230.0.254/24'], mac: GATEWAY_MAC, announce: false });
  const [upGateway, upOutside] = createPipe(clock);
  gateway.addInterface(upGateway, { name: 'eth1', addresses: ['10.231.0.1/24'], announce: false });
  const outside = createStack({ clock, name: 'outside', icmpRateLimit: false });
  outside.addInterface(upOutside, { addresses: ['10.231.0.2/24'], announce: false });
  gateway.nat.masquerade('eth1');
  return { clock, bridge, host, peer, gateway, tester: new Tester(testerEnd) };
}

function usage(rows: TableUsage[], table: string): TableUsage {
  const r = rows.find((x) => x.table === table);
  if (r === undefined) throw new Error(`no table ${table} in ${rows.map((x) => x.table).join(', ')}`);
  return r;
}

describe('bounded tables (issue 13 item 5)', () => {
  it('a flood fills every table to its limit and no further, counts the rest, and every table drains on the clock', async () => {
    const { clock, bridge, host, peer, gateway, tester } = setup();
    const all = (): TableUsage[] => [...host.tables(), ...gateway.tables(), bridge.fdbUsage()];
    const idle = all().map((r) => ({ table: r.table, size: r.size }));
    const server = host.tcp.createServer((s) => s.resume());
    server.listen({ port: 80, backlog: LIMITS.backlog });
    const peerServer = peer.tcp.createServer((s) => {
      s.resume();
      s.on('end', () => s.end());
    });
    peerServer.listen(7);

    // Ten connections of the host's own that it closes first: each ends in TIME-WAIT, or,
    // past tcp_max_tw_buckets, closes at once (TCPTimeWaitOverflow).
    for (let i = 0; i < 10; i++) {
      const c = host.tcp.connect({ host: '10.230.0.2', port: 7 });
      c.on('connect', () => c.end('x'));
      c.on('error', () => undefined);
    }
    // Node's stream machinery (the sockets' 'end' → end()) runs on process.nextTick between clock steps.
    for (let i = 0; i < 200 && usage(host.tables(), 'tcp.timeWait').size + host.tcpLayer.stats.timeWaitOverflow < 10; i++) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
    expect(usage(host.tables(), 'tcp.timeWait').size).toBe(LIMITS.timeWait);

    // ARP requests for the host from 200 addresses and 200 MACs: arp_process makes a neighbour
    // entry for each sender (neigh_event_ns), and the switch learns each MAC.
    for (let i = 0; i < 200; i++) {
      tester.send(arpFrame({ senderIp: `10.230.0.${10 + (i % 240)}`, senderMac: hexMac(0x100 + i), targetIp: TARGET_IP }));
    }
    clock.advance(10);
    // 200 first fragments of 1 KB whose rest never comes: 200 KB offered to a 64 KiB reassembly budget.
    for (let i = 0; i < 200; i++) tester.send(firstFragment(i + 1, 1000, TESTER_IP));
    // A SYN flood from 100 ports that never complete the handshake.
    for (let i = 0; i < 100; i++) tester.send(tcpFrame({ srcPort: 20000 + i, dstPort: 80, flags: TCP_FLAG.SYN, seq: 1000 + i }));
    // 100 UDP flows through the masquerade: one conntrack entry each.
    for (let i = 0; i < 100; i++) tester.send(udpFrame({ srcPort: 30000 + i, dstIp: '10.231.0.2', dstPort: 9999, dst: GATEWAY_MAC }));
    clock.advance(2000);

    const busy = all();
    for (const r of busy) expect(r.size, `${r.table} ${r.size}/${r.limit}`).toBeLessThanOrEqual(r.limit);
    expect(usage(busy, 'neighbours').size).toBe(LIMITS.neighbours);
    expect(usage(busy, 'neighbours').refused + usage(busy, 'neighbours').evicted).toBeGreaterThan(0);
    expect(usage(busy, 'fdb').size).toBe(LIMITS.fdb);
    expect(usage(busy, 'fdb').refused).toBeGreaterThan(0);
    expect(usage(busy, 'reassembly').size).toBeGreaterThan(LIMITS.reassemblyBytes / 2);
    expect(usage(busy, 'reassembly').evicted).toBeGreaterThan(0);
    // The first `backlog` SYNs take the queue; the other 92 overflow (answered with cookies).
    expect(usage(busy, 'tcp.synQueue')).toMatchObject({ size: LIMITS.backlog, limit: LIMITS.backlog });
    expect(usage(busy, 'tcp.synQueue').refused).toBe(100 - LIMITS.backlog);
    expect(usage(busy, 'conntrack').size).toBe(LIMITS.conntrack);
    // Unreplied flows are unassured, so each new one early-drops an old one (early_drop) instead of being refused.
    const ct = usage(busy, 'conntrack');
    expect(ct.refused + ct.evicted).toBe(100 - LIMITS.conntrack);
    expect(usage(busy, 'tcp.timeWait')).toMatchObject({ size: LIMITS.timeWait, refused: 10 - LIMITS.timeWait });
    // The connections that found no TIME-WAIT bucket still closed cleanly: the peer saw every FIN acknowledged.
    expect(peer.tcpLayer.stats.estabResets).toBe(0);

    // Ten quiet minutes later (longer than every timeout: neighbour GC, FDB aging 300 s,
    // reassembly 30 s, SYN-ACK retries, TIME-WAIT 60 s, conntrack UDP 30 s), every table is back.
    clock.advance(600_000);
    const after = all().map((r) => ({ table: r.table, size: r.size }));
    expect(after).toEqual(idle);
    server.close();
    peerServer.close();
  });

  it('the DNS cache keeps at most maxEntries answers (least recently used out) and empties itself on the clock', () => {
    const clock = new VirtualClock();
    const cache = new DnsCache(clock, { maxEntries: 10 });
    for (let i = 0; i < 50; i++) {
      const name = `n${i}.test`;
      const bytes = dnsPacket.encode({
        type: 'response', id: 1, flags: 0,
        questions: [{ name, type: 'A', class: 'IN' }],
        answers: [{ type: 'A', name, ttl: 60 + i, class: 'IN', data: '10.9.9.9' }],
      });
      cache.set(`${name}/A/IN`, bytes);
    }
    expect(cache.usage()).toMatchObject({ table: 'dns.cache', size: 10, limit: 10, evicted: 40 });
    // Nobody asks again: the sweep timer alone removes every answer once its TTL is over.
    clock.advance(60_000 + 50_000);
    expect(cache.usage().size).toBe(0);
    expect(cache.stats.expired).toBe(10);
    cache.close();
  });
});
