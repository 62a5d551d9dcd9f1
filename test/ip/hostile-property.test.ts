/**
 * Issue 13's property test: random frames — fully random bytes, and valid
 * Ethernet/802.1Q/ARP/IPv4/ICMP/UDP/TCP headers whose fields are hostile
 * (martian, broadcast and our own addresses, port 0, bad lengths and
 * checksums, IP and TCP options of any kind and length, fragments at any
 * offset, TTL 0/1, every TCP flag combination) — injected into a host, a
 * router and a bridge on the virtual clock. Seeded, so a failure repeats;
 * fast-check prints the counterexample.
 *
 * Properties, for every frame:
 * 1. nothing throws, neither on input nor when the clock then runs for
 *    minutes (ARP, reassembly, TCP timers);
 * 2. everything sent is well formed: it decodes with src/wire's decoders,
 *    and what a host or router writes itself has valid checksums (a router
 *    forwards a transport checksum it does not check; the bridge forwards
 *    the frame byte for byte, up to its outer tag);
 * 3. every frame is accounted for exactly once: it is answered or
 *    forwarded, or delivered to a socket (or held for reassembly, or taken
 *    by an existing connection), XOR exactly one named drop counter rises.
 *    Legitimate doubles, each relaxed to "the answer AND exactly one drop"
 *    (found by the counters that moved, see answeredRefusal): a refusal
 *    that is answered — a datagram counted
 *    as dropped AND answered with an ICMP error (TTL exceeded, no route,
 *    bad options, protocol/port unreachable), a TCP segment for no socket
 *    AND answered with a RST, an ARP claim of our address counted as a
 *    conflict AND defended, a segment a connection refuses (out of window,
 *    SYN in a synchronized state) AND answered with a (challenge) ACK.
 *    Linux counts and answers these too
 *    (ip_forward's IPSTATS_MIB_INHDRERRORS + icmp_send, __udp4_lib_rcv's
 *    UDP_MIB_NOPORTS + icmp_send, tcp_v4_rcv's no_tcp_socket →
 *    tcp_v4_send_reset), so for such a frame the count is exactly one drop,
 *    not zero. Also: an ARP request for us from our subnet's broadcast
 *    address is answered (as Linux does) and counted refusedSenderAddress,
 *    since its NOARP entry learns nothing. On a bridge, a flooded frame is
 *    copied per egress; a copy one egress refuses (innerTagExposed,
 *    txFailed) is counted there while the others leave, so a flood with a
 *    refused copy has no receive-side drop.
 *
 * Frames this test found uncounted, now counted in src/ (each naming the
 * Linux function that behaves the same): a RST to a listener
 * (tcp.drops.rstToListener), a bare ACK to a listener answered with a RST
 * (tcp.drops.ackToListener), an ACK in SYN-RECV that is not for our
 * SYN-ACK, reset (tcp.drops.ackUnsent / ackTooOld), an ARP probe (sender
 * 0.0.0.0) not for us (arp.drops.probeNotForUs), and an empty last
 * fragment, which opened a reassembly that held nothing
 * (reassembly.malformed, as ip_frag_queue).
 *
 * One legitimate silence: an ICMP Destination Unreachable or Time Exceeded
 * that decodes but quotes a datagram no socket or ping of ours owns is
 * consumed without a drop counter (it counts in icmp.inErrors, the
 * InDestUnreachs/InTimeExcds of icmp_rcv, and UDP's icmpErrorsIgnored).
 * Linux's udp_err/tcp_v4_err add ICMP_MIB_INERRORS there and ping_err
 * nothing; wirelab has no such counter yet, so the test takes a received
 * ICMP error that no drop counter refused as consumed.
 *
 * What is a "named drop counter" here: interface drops, ip.stats.drops,
 * ICMP input drops, ARP drops and refusals (refusedSender/Target/Mac,
 * unsolicitedIgnored, conflict), UDP drops + noPorts + ignoredMulti, TCP
 * drops, reassembly rejections (overlaps, malformed, oversize, duplicates),
 * port drops and the bridge's per-port drops. ICMP's reasons for NOT
 * answering (errorToBadSource, errorAboutFragment, errorAboutBroadcast,
 * errorAboutError, rateLimited) are not drops of the frame: they say why a
 * refusal went unanswered, as icmp_send's silent returns do in Linux; ARP's
 * defenceRateLimited likewise notes a conflict (counted) left undefended.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { Bridge } from '../../src/switch/index.js';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import type { RxBatch } from '../../src/link/port.js';
import { createStack, type Stack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';
import { formatIPv4, parseIPv4, parseMac, readIPv4, writeIPv4, writeMac, type IPv4Address } from '../../src/wire/address.js';
import { decodeArp } from '../../src/wire/arp.js';
import { finishChecksum, pseudoHeaderSum, sum16 } from '../../src/wire/checksum.js';
import { decodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { decodeIcmp } from '../../src/wire/icmp.js';
import { computeIPv4Checksum, decodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { decodeTcp } from '../../src/wire/tcp.js';
import { decodeUdp } from '../../src/wire/udp.js';
import { rxDropped } from '../../src/switch/counters.js';

const SEED = 0x13_0d_2026;
const RUNS = Number(process.env.HOSTILE_RUNS ?? 2000);

// ---- the devices ---------------------------------------------------------------------

const OUR_MAC = '02:00:00:e6:00:01';
const OUR_MAC2 = '02:00:00:e7:00:01';
const TESTER_MAC = '02:00:00:e6:00:09';
const PEER2_MAC = '02:00:00:e7:00:09';
const OTHER_MAC = '02:00:00:e6:00:07';

const A = {
  us: '10.230.0.1', tester: '10.230.0.9', other: '10.230.0.7', bcast: '10.230.0.255', net: '10.230.0.0',
  us2: '10.231.0.1', peer2: '10.231.0.9', far: '10.231.0.5',
};

/** One output frame and the port it left by. */
interface Out {
  frame: Uint8Array;
  port: string;
}

interface Device {
  clock: VirtualClock;
  /** Sends one frame into the device by the port it listens on. */
  inject(frame: Uint8Array, port: number): void;
  ports: number;
  out: Out[];
  drops(): number;
  /** Anything taken in without an answer and without a drop: delivered to a socket, held, learned. */
  consumed(): string;
  stack?: Stack;
  bridge?: Bridge;
  /** True if, before it is injected, the frame is bound for state that exists: a TCP connection, an ARP entry. */
  takenBy?(frame: Uint8Array, port: number): boolean;
}

function sum(o: Record<string, number>): number {
  let n = 0;
  for (const k in o) n += o[k]!;
  return n;
}

/** ICMP's reasons for not answering a refusal: notes, not drops of the frame (see the header). */
const ICMP_SUPPRESSION = new Set(['errorToBadSource', 'errorAboutFragment', 'errorAboutBroadcast', 'errorAboutError']);
/** ARP's reason for not defending a claimed address again so soon: a note on the conflict, which is counted. */
const ARP_SUPPRESSION = new Set(['defenceRateLimited']);

function stackDrops(s: Stack, peers: PipePort[]): number {
  let n = 0;
  for (const i of s.interfaces) n += sum(i.stats.drops) + sum(i.port.stats.drops);
  for (const p of peers) n += sum(p.stats.drops);
  n += sum(s.ip.stats.drops);
  for (const [k, v] of Object.entries(s.icmp.stats.drops)) if (!ICMP_SUPPRESSION.has(k)) n += v;
  const a = s.arp.stats;
  for (const [k, v] of Object.entries(a.drops)) if (!ARP_SUPPRESSION.has(k)) n += v;
  n += a.refusedSenderAddress + a.refusedTargetAddress + a.refusedSenderMac + a.unsolicitedIgnored + a.conflict;
  const u = s.udp.stats;
  n += sum(u.drops) + u.noPorts + u.ignoredMulti;
  n += sum(s.tcpLayer.stats.drops as unknown as Record<string, number>);
  const r = s.ip.reassembler.stats;
  n += r.overlaps + r.malformed + r.oversize + r.duplicates;
  return n;
}

/**
 * An answer that is a refusal too (see the header), from the counters that
 * moved: an ICMP error or a RST sent, an ARP claim of ours defended, or an
 * ARP request from a directed-broadcast sender, which Linux answers while
 * its NOARP neighbour entry learns nothing (arp_constructor; counted as
 * refusedSenderAddress, see src/ip/arp.ts). For a bridge: a flooded frame
 * is copied per egress, and a copy an egress refuses is counted there
 * (txFailed, innerTagExposed) while others leave.
 */
function answeredRefusal(before: Map<string, number>, after: Map<string, number>): boolean {
  const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  if (d('icmp.outErrors') > 0 || d('tcp.outRsts') > 0 || d('arp.defended') > 0) return true;
  if (d('arp.repliesOut') > 0 && d('arp.refusedSenderAddress') > 0) return true;
  // A segment a connection refuses (out of window, SYN or RST in a synchronized state, PAWS)
  // is answered with an ACK — a challenge ACK or a duplicate (tcp_validate_incoming →
  // tcp_send_challenge_ack / tcp_send_dupack), which Linux counts too.
  if (d('tcp.outSegs') > 0) for (const k of after.keys()) if (k.startsWith('tcp.drops.') && d(k) > 0) return true;
  for (const k of after.keys()) if ((k.endsWith('.drops.txFailed') || k.endsWith('.drops.innerTagExposed')) && d(k) > 0) return true;
  return false;
}

/** An ARP packet whose sender has an entry on `dev`: "Update our ARP tables" takes it (a permanent entry stays as it is). */
function arpToEntry(s: Stack, frame: Uint8Array, port: number): boolean {
  const e = decodeEthernet(frame);
  if (!e.ok || e.value.etherType !== ETHERTYPE.ARP || e.value.tags.some((t) => t.vid !== 0 || t.tpid !== 0x8100)) return false;
  const a = decodeArp(e.value.payload);
  return a.ok && s.neighbours.has(a.value.senderIp, `eth${port}`);
}

function stackConsumed(s: Stack): string {
  const r = s.ip.reassembler;
  return JSON.stringify([
    // Forwarded counts even while the datagram waits behind an unresolved neighbour.
    s.ip.stats.forwarded, s.udp.stats.inDatagrams, s.tcpLayer.stats.passiveOpens, s.tcpLayer.stats.synCookiesSent,
    s.neighbours.format(), s.tcpLayer.connections().map((c) => c.state),
  ]);
}

function record(port: PipePort, out: Out[]): void {
  port.onReceive = (batch: RxBatch) => {
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i]!;
      out.push({ frame: batch.buf.slice(off, off + batch.lengths[i]!), port: port.name });
    }
  };
}

/** Calls the receiving port's handler with a one-frame batch, as a pipe's delivery would. */
function oneFrame(frame: Uint8Array): RxBatch {
  return { buf: frame, offsets: Uint32Array.of(0), lengths: Uint32Array.of(frame.length), count: 1, vnetHdr: false };
}

function listenEverywhere(s: Stack): void {
  s.udp.createSocket().bind(5353);
  s.udp.createSocket().on('message', () => undefined).bind(67);
  s.tcp.createServer((sock) => sock.on('error', () => undefined).on('data', () => undefined)).listen(80);
}

function hostDevice(): Device {
  const clock = new VirtualClock();
  const [hp, tp] = createPipe(clock, { names: ['host-eth0', 'tester'] });
  const s = createStack({ clock, name: 'prop-host', icmpRateLimit: false, seed: 13 });
  s.addInterface(hp, { addresses: [`${A.us}/24`], mac: OUR_MAC, announce: false });
  s.addRoute('default', { via: A.tester });
  s.neighbours.addPermanent(A.tester, TESTER_MAC, 'eth0');
  s.arp.onConflict = () => undefined;
  listenEverywhere(s);
  const out: Out[] = [];
  record(tp, out);
  return {
    clock, ports: 1, out, stack: s,
    inject: (f) => hp.onReceive!(oneFrame(f), hp),
    drops: () => stackDrops(s, [tp]),
    consumed: () => stackConsumed(s),
    takenBy: (f, p) => takenBy(s, f, p),
  };
}

function routerDevice(): Device {
  const clock = new VirtualClock();
  const [r0, t0] = createPipe(clock, { names: ['r-eth0', 'side0'] });
  const [r1, t1] = createPipe(clock, { names: ['r-eth1', 'side1'] });
  const s = createStack({ clock, name: 'prop-router', icmpRateLimit: false, forwarding: true, seed: 17 });
  s.addInterface(r0, { addresses: [`${A.us}/24`], mac: OUR_MAC, announce: false });
  s.addInterface(r1, { addresses: [`${A.us2}/24`], mac: OUR_MAC2, announce: false });
  s.addRoute('default', { via: A.tester });
  s.neighbours.addPermanent(A.tester, TESTER_MAC, 'eth0');
  s.neighbours.addPermanent(A.peer2, PEER2_MAC, 'eth1');
  s.neighbours.addPermanent(A.far, PEER2_MAC, 'eth1');
  s.arp.onConflict = () => undefined;
  listenEverywhere(s);
  const out: Out[] = [];
  record(t0, out);
  record(t1, out);
  const ports = [r0, r1];
  return {
    clock, ports: 2, out, stack: s,
    inject: (f, p) => ports[p]!.onReceive!(oneFrame(f), ports[p]!),
    drops: () => stackDrops(s, [t0, t1]),
    consumed: () => stackConsumed(s),
    takenBy: (f, p) => takenBy(s, f, p),
  };
}

function bridgeDevice(): Device {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock, name: 'br-prop' });
  const configs = [
    { mode: 'access', pvid: 1 },
    { mode: 'access', pvid: 10 },
    { mode: 'trunk', allowed: [1, 10, 20], native: 1 },
    { mode: 'trunk', allowed: [10, 20] },
  ] as const;
  const out: Out[] = [];
  const bridgeEnds: PipePort[] = [];
  const nodeEnds: PipePort[] = [];
  configs.forEach((cfg, i) => {
    const [b, n] = createPipe(clock, { names: [`br-p${i}`, `node${i}`] });
    bridge.addPort(b, cfg.mode === 'access' ? cfg : { mode: 'trunk', allowed: [...cfg.allowed], ...('native' in cfg ? { native: cfg.native } : {}) });
    record(n, out);
    bridgeEnds.push(b);
    nodeEnds.push(n);
  });
  return {
    clock, ports: configs.length, out, bridge,
    inject: (f, p) => bridgeEnds[p]!.onReceive!(oneFrame(f), bridgeEnds[p]!),
    // Receive-side drops: a copy refused by one egress of a flood is not a drop of the frame (answeredRefusal).
    drops: () => {
      let n = 0;
      for (const c of Object.values(bridge.allPortCounters())) n += rxDropped(c);
      for (const p of [...bridgeEnds, ...nodeEnds]) n += sum(p.stats.drops);
      return n;
    },

    // Learning is not an outcome: a frame the bridge neither forwards nor counts is a failure.
    consumed: () => '',
  };
}

function takenBy(s: Stack, frame: Uint8Array, port: number): boolean {
  if (arpToEntry(s, frame, port)) return true;
  const t = tcpTuple(frame);
  return t !== null && hasConn(s, ...t);
}

function hasConn(s: Stack, src: IPv4Address, sport: number, dst: IPv4Address, dport: number): boolean {
  for (const c of s.tcpLayer.connections()) {
    if (c.remoteAddress === formatIPv4(src) && c.remotePort === sport && c.localAddress === formatIPv4(dst) && c.localPort === dport) return true;
  }
  return false;
}

// ---- the frames ----------------------------------------------------------------------

const ip = parseIPv4;
const addr = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(A.us, A.tester, A.other, A.bcast, A.net, A.us2, A.peer2, A.far).map(ip) },
  { weight: 3, arbitrary: fc.constantFrom('255.255.255.255', '0.0.0.0', '0.1.2.3', '127.0.0.1', '224.0.0.1', '239.255.255.250', '240.0.0.1', '10.231.0.255', '192.0.2.1').map(ip) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const macArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(OUR_MAC, OUR_MAC2, TESTER_MAC, PEER2_MAC, OTHER_MAC, 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '01:80:c2:00:00:0e', '00:00:00:00:00:00').map(parseMac) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 48 - 1 }) },
);
const dstMacArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant(parseMac(OUR_MAC)) },
  { weight: 3, arbitrary: fc.constantFrom(OUR_MAC2, 'ff:ff:ff:ff:ff:ff').map(parseMac) },
  { weight: 1, arbitrary: macArb },
);
const srcMacArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(TESTER_MAC, PEER2_MAC, OTHER_MAC).map(parseMac) }, { weight: 1, arbitrary: macArb });
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 53, 67, 80, 5353, 40000, 65535) }, { weight: 1, arbitrary: u16 });

/** 802.1Q tags in front of the EtherType: none, priority, a VLAN, 802.1ad, stacked. */
const tags = fc.oneof(
  { weight: 12, arbitrary: fc.constant<number[][]>([]) },
  { weight: 2, arbitrary: fc.array(fc.tuple(fc.constantFrom(0x8100, 0x8100, 0x88a8, 0x9100), fc.constantFrom(0, 1, 10, 20, 4095, 0x2000 | 10), fc.integer({ min: 0, max: 7 })).map(([tpid, vid, pcp]) => [tpid, (pcp << 13) | vid]), { minLength: 1, maxLength: 3 }) },
);

function ethernet(dst: number, src: number, tagList: number[][], type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 4 * tagList.length + payload.length);
  writeMac(f, 0, dst);
  writeMac(f, 6, src);
  let o = 12;
  for (const [tpid, tci] of tagList) {
    f[o] = tpid! >>> 8; f[o + 1] = tpid! & 255; f[o + 2] = tci! >>> 8; f[o + 3] = tci! & 255;
    o += 4;
  }
  f[o] = type >>> 8;
  f[o + 1] = type & 255;
  f.set(payload, o + 2);
  return f;
}

/** How a length or checksum field is written: right, or wrong in a given way. */
const fieldMode = fc.oneof({ weight: 16, arbitrary: fc.constant<'ok'>('ok') }, { weight: 1, arbitrary: fc.constantFrom<'bad' | 'zero' | 'random'>('bad', 'zero', 'random') });

function l4Checksum(seg: Uint8Array, at: number, src: IPv4Address, dst: IPv4Address, proto: number, mode: string, rnd: number): void {
  seg[at] = 0; seg[at + 1] = 0;
  let c = finishChecksum(sum16(seg, 0, seg.length, pseudoHeaderSum(src, dst, proto, seg.length)));
  if (proto === IP_PROTOCOL.UDP && c === 0) c = 0xffff;
  if (mode === 'bad') c ^= 0x0101;
  else if (mode === 'zero') c = 0;
  else if (mode === 'random') c = rnd;
  seg[at] = c >>> 8; seg[at + 1] = c & 255;
}

/** IPv4 options: well-formed ones (RR, TS, RA, LSRR, SSRR, NOP, EOL), any kind, any length byte. */
const ipOptions = fc.oneof(
  { weight: 10, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 2, arbitrary: fc.array(fc.oneof(
    fc.constant([1]), fc.constant([0]),
    fc.tuple(fc.constantFrom(7, 68, 131, 137, 148, 130, 136, 30), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 16 })).map(([k, l, p]) => [k, l, p, ...new Array(Math.max(0, l - 3)).fill(0)]),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }),
  ), { maxLength: 4 }).map((parts) => {
    const flat = parts.flat().slice(0, 40);
    const b = new Uint8Array(Math.ceil(flat.length / 4) * 4);
    b.set(flat);
    return b;
  }) },
);

interface IpSpec {
  src: IPv4Address; dst: IPv4Address; ttl: number; proto: number; id: number; flags: number; fragOff: number; tos: number;
  options: Uint8Array; totalMode: string; totalRnd: number; csumMode: string; csumRnd: number; version: number; ihlRnd: number | null;
}

const ipSpec = fc.record({
  src: addr,
  dst: fc.oneof({ weight: 2, arbitrary: fc.constant(ip(A.us)) }, { weight: 3, arbitrary: addr }),
  ttl: fc.oneof({ weight: 6, arbitrary: fc.constant(64) }, { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 255) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  id: fc.constantFrom(1, 2, 0x1234), // few ids, so fragments of one run meet
  flags: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }), // 2 = DF, 1 = MF, 4 = reserved
  fragOff: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constantFrom(1, 2, 3, 8, 185, 0x1fff) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1fff }) }),
  tos: fc.integer({ min: 0, max: 255 }),
  options: ipOptions,
  totalMode: fieldMode, totalRnd: u16,
  csumMode: fc.oneof({ weight: 20, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('bad', 'random') }), csumRnd: u16,
  version: fc.oneof({ weight: 40, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
  ihlRnd: fc.oneof({ weight: 40, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
});

function ipv4(s: IpSpec & { proto: number }, payload: Uint8Array): Uint8Array {
  const hl = 20 + s.options.length;
  const d = new Uint8Array(hl + payload.length);
  d[0] = (s.version << 4) | (s.ihlRnd ?? hl >>> 2);
  d[1] = s.tos;
  let total = d.length;
  if (s.totalMode === 'bad') total = d.length + 1 + (s.totalRnd % 40);
  else if (s.totalMode === 'zero') total = s.totalRnd % 24;
  else if (s.totalMode === 'random') total = s.totalRnd;
  d[2] = total >>> 8; d[3] = total & 255;
  d[4] = s.id >>> 8; d[5] = s.id & 255;
  const ff = (s.flags << 13) | s.fragOff;
  d[6] = ff >>> 8; d[7] = ff & 255;
  d[8] = s.ttl; d[9] = s.proto;
  writeIPv4(d, 12, s.src);
  writeIPv4(d, 16, s.dst);
  d.set(s.options, 20);
  d.set(payload, hl);
  let c = computeIPv4Checksum(d, 0, Math.min(hl, (d[0]! & 15) * 4 || 20));
  if (s.csumMode === 'bad') c ^= 0x8001;
  else if (s.csumMode === 'random') c = s.csumRnd;
  d[10] = c >>> 8; d[11] = c & 255;
  return d;
}

const udpSpec = fc.record({ sport: port, dport: port, payload: bytes(40), lenMode: fieldMode, lenRnd: u16, csum: fc.oneof({ weight: 5, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('bad', 'zero', 'random') }), csumRnd: u16 });
const tcpSpec = fc.record({
  sport: port, dport: port, seq: u32, ack: u32,
  flags: fc.integer({ min: 0, max: 0x1ff }), // every combination, NS included
  offRnd: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
  window: u16, urg: u16,
  options: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 3, arbitrary: fc.array(fc.oneof(
      fc.constant([2, 4, 5, 0xb4]), fc.constant([3, 3, 14]), fc.constant([4, 2]), fc.constant([8, 10, 0, 0, 0, 1, 0, 0, 0, 0]), fc.constant([1]), fc.constant([0]),
      fc.tuple(fc.constantFrom(2, 3, 4, 5, 8, 19, 28, 29, 30, 34, 254), fc.integer({ min: 0, max: 40 })).map(([k, l]) => [k, l, ...new Array(Math.max(0, Math.min(l, 10) - 2)).fill(7)]),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }),
    ), { maxLength: 5 }).map((p) => p.flat().slice(0, 40)) },
  ),
  payload: bytes(40),
  csum: fc.oneof({ weight: 6, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('bad', 'zero', 'random') }), csumRnd: u16,
});

function udpSeg(u: typeof udpSpec extends fc.Arbitrary<infer T> ? T : never, src: IPv4Address, dst: IPv4Address): Uint8Array {
  const seg = new Uint8Array(8 + u.payload.length);
  seg[0] = u.sport >>> 8; seg[1] = u.sport & 255; seg[2] = u.dport >>> 8; seg[3] = u.dport & 255;
  let len = seg.length;
  if (u.lenMode === 'bad') len = seg.length + 1 + (u.lenRnd % 20);
  else if (u.lenMode === 'zero') len = u.lenRnd % 8;
  else if (u.lenMode === 'random') len = u.lenRnd;
  seg[4] = len >>> 8; seg[5] = len & 255;
  seg.set(u.payload, 8);
  l4Checksum(seg, 6, src, dst, IP_PROTOCOL.UDP, u.csum, u.csumRnd);
  return seg;
}

interface TcpSpec {
  sport: number; dport: number; seq: number; ack: number; flags: number; offRnd: number | null; window: number; urg: number;
  options: number[]; payload: Uint8Array; csum: string; csumRnd: number;
}

function tcpSeg(t: TcpSpec, src: IPv4Address, dst: IPv4Address): Uint8Array {
  const optLen = Math.ceil(t.options.length / 4) * 4;
  const seg = new Uint8Array(20 + optLen + t.payload.length);
  const v = new DataView(seg.buffer);
  v.setUint16(0, t.sport); v.setUint16(2, t.dport); v.setUint32(4, t.seq); v.setUint32(8, t.ack);
  seg[12] = ((t.offRnd ?? (20 + optLen) >>> 2) << 4) | (t.flags >>> 8);
  seg[13] = t.flags & 255;
  v.setUint16(14, t.window); v.setUint16(18, t.urg);
  seg.set(t.options, 20);
  seg.set(t.payload, 20 + optLen);
  l4Checksum(seg, 16, src, dst, IP_PROTOCOL.TCP, t.csum, t.csumRnd);
  return seg;
}

/** ICMP: echo, errors quoting a datagram "from us" (so they reach UDP/TCP/ping), anything else. */
const icmpSpec = fc.record({
  type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, 3, 4, 5, 8, 11, 12, 13) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  code: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 13), fc.integer({ min: 0, max: 255 })),
  rest: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  quote: fc.option(fc.record({ proto: fc.constantFrom(1, 6, 17, 50), sport: port, dport: port, extra: bytes(12), cut: fc.integer({ min: 0, max: 40 }) })),
  body: bytes(24),
  csum: fc.oneof({ weight: 6, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('bad', 'random') }), csumRnd: u16,
});

function icmpMsg(m: typeof icmpSpec extends fc.Arbitrary<infer T> ? T : never, src: IPv4Address): Uint8Array {
  let body: Uint8Array = m.body;
  if (m.quote !== null) {
    const q = m.quote;
    const t = new Uint8Array(8 + q.extra.length);
    t[0] = q.sport >>> 8; t[1] = q.sport & 255; t[2] = q.dport >>> 8; t[3] = q.dport & 255;
    t.set(q.extra, 8);
    const quoted = ipv4({
      src: ip(A.us), dst: src, ttl: 64, proto: q.proto, id: 7, flags: 2, fragOff: 0, tos: 0, options: new Uint8Array(0),
      totalMode: 'ok', totalRnd: 0, csumMode: 'ok', csumRnd: 0, version: 4, ihlRnd: null,
    }, t);
    body = quoted.subarray(0, Math.max(0, quoted.length - q.cut));
  }
  const msg = new Uint8Array(8 + body.length);
  msg[0] = m.type; msg[1] = m.code;
  msg.set(m.rest, 4);
  msg.set(body, 8);
  let c = finishChecksum(sum16(msg, 0, msg.length));
  if (m.csum === 'bad') c ^= 0x0404;
  else if (m.csum === 'random') c = m.csumRnd;
  msg[2] = c >>> 8; msg[3] = c & 255;
  return msg;
}

const ipv4Frame = fc.tuple(ipSpec, fc.oneof(
  fc.tuple(fc.constant(IP_PROTOCOL.UDP), udpSpec),
  fc.tuple(fc.constant(IP_PROTOCOL.TCP), tcpSpec),
  fc.tuple(fc.constant(IP_PROTOCOL.ICMP), icmpSpec),
  fc.tuple(fc.constantFrom(0, 2, 41, 47, 50, 132, 253, 255), bytes(40)),
)).map(([s, [proto, l4]]) => {
  const spec = { ...s, proto };
  let payload: Uint8Array;
  if (proto === IP_PROTOCOL.UDP) payload = udpSeg(l4 as never, s.src, s.dst);
  else if (proto === IP_PROTOCOL.TCP) payload = tcpSeg(l4 as never, s.src, s.dst);
  else if (proto === IP_PROTOCOL.ICMP) payload = icmpMsg(l4 as never, s.src);
  else payload = l4 as Uint8Array;
  return { type: ETHERTYPE.IPV4, payload: ipv4(spec, payload) };
});

const arpPayload = fc.record({
  htype: fc.oneof({ weight: 10, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u16 }),
  ptype: fc.oneof({ weight: 10, arbitrary: fc.constant(0x0800) }, { weight: 1, arbitrary: u16 }),
  hlen: fc.oneof({ weight: 10, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  plen: fc.oneof({ weight: 10, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  op: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(1, 2) }, { weight: 1, arbitrary: u16 }),
  sha: macArb, spa: addr, tha: macArb, tpa: addr,
}).map((a) => {
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  v.setUint16(0, a.htype); v.setUint16(2, a.ptype); p[4] = a.hlen; p[5] = a.plen; v.setUint16(6, a.op);
  writeMac(p, 8, a.sha); writeIPv4(p, 14, a.spa); writeMac(p, 18, a.tha); writeIPv4(p, 24, a.tpa);
  return { type: ETHERTYPE.ARP, payload: p };
});

/** Structured frames, then sometimes cut short or padded. */
const structured = fc.tuple(
  dstMacArb, srcMacArb, tags,
  fc.oneof({ weight: 6, arbitrary: ipv4Frame }, { weight: 2, arbitrary: arpPayload }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0x86dd, 0x88cc, 0x0806, 0x0800, 0x8100, 0x0000, 0x05dc), bytes(40)).map(([type, payload]) => ({ type, payload })) }),
  fc.oneof({ weight: 16, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 80 }) }),
  fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 4, 26, 1500) }),
).map(([dst, src, tg, { type, payload }, cut, pad]) => {
  let f: Uint8Array = ethernet(dst, src, tg, type, payload);
  if (cut !== null) f = f.subarray(0, Math.min(f.length, cut));
  if (pad > 0) {
    const g = new Uint8Array(f.length + pad);
    g.set(f);
    f = g;
  }
  return f;
});

/** Random bytes, and random bytes behind a plausible Ethernet header (else nearly all are "otherHost"). */
const randomFrame = fc.oneof(
  bytes(100),
  fc.tuple(dstMacArb, srcMacArb, fc.constantFrom(0x0800, 0x0806, 0x8100, 0x88a8), bytes(100)).map(([d, s, t, p]) => ethernet(d, s, [], t, p)),
);

const frameArb = fc.oneof({ weight: 1, arbitrary: randomFrame }, { weight: 4, arbitrary: structured });
/**
 * A datagram cut into fragments (offsets multiples of 8, or not), some
 * pieces overlapping, repeated or missing, in any order: reassembly's input.
 */
const fragmented = fc.tuple(ipv4Frame, fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: -8, max: 8 }), fc.boolean(), fc.boolean(), fc.constantFrom(1, 2, 0x1234))
  .map(([{ payload: whole }, cuts, overlap, shuffle, dropOne, id]) => {
    const hl = Math.max(20, (whole[0]! & 15) * 4);
    const data = whole.subarray(Math.min(hl, whole.length));
    const header = whole.subarray(0, Math.min(hl, whole.length));
    const pieces: Array<[number, number, boolean]> = [];
    let at = 0;
    for (const c of cuts) {
      if (at >= data.length) break;
      const end = Math.min(data.length, at + c * 8);
      pieces.push([at, end, end < data.length]);
      // A negative `overlap` starts the next piece inside this one (same bytes: accepted).
      at = Math.max(0, end + Math.min(0, overlap));
    }
    if (at < data.length) pieces.push([at, data.length, false]);
    if (dropOne && pieces.length > 1) pieces.splice(1, 1);
    if (shuffle) pieces.reverse();
    return pieces.map(([from, to, more]) => {
      const f = new Uint8Array(header.length + (to - from));
      f.set(header);
      f.set(data.subarray(from, to), header.length);
      if (f.length >= 20) {
        f[2] = f.length >>> 8; f[3] = f.length & 255;
        f[4] = id >>> 8; f[5] = id & 255;
        const ff = (more ? 0x2000 : 0) | ((from >>> 3) & 0x1fff);
        f[6] = ff >>> 8; f[7] = ff & 255;
        f[10] = 0; f[11] = 0;
        const c = computeIPv4Checksum(f, 0, Math.min(header.length, (f[0]! & 15) * 4 || 20));
        f[10] = c >>> 8; f[11] = c & 255;
      }
      return ethernet(parseMac(OUR_MAC), parseMac(TESTER_MAC), [], ETHERTYPE.IPV4, f);
    });
  });

/** A segment built at run time from the device's last SYN-ACK (so it reaches a connection): hostile flags, sequence numbers near the window, options, payload. */
interface Follow {
  follow: true;
  seqDelta: number;
  ackDelta: number;
  flags: number;
  options: number[];
  payload: Uint8Array;
  csum: string;
  csumRnd: number;
}
const follow = fc.record({
  follow: fc.constant<true>(true),
  seqDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1, 1000, 65535, -65536, 0x7fffffff) }, { weight: 1, arbitrary: fc.integer({ min: -70000, max: 70000 }) }),
  ackDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1, 100, -100000, 0x7fffffff) }),
  flags: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0x10, 0x18, 0x11, 0x14, 0x04, 0x02, 0x12) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x1ff }) }),
  options: tcpSpec.map((t) => t.options),
  payload: bytes(60),
  csum: fc.oneof({ weight: 10, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constant('bad') }),
  csumRnd: u16,
});

type Item = [Uint8Array | Follow, number];
const scenario = (ports: number): fc.Arbitrary<Item[]> => {
  const port = fc.integer({ min: 0, max: ports - 1 });
  const one = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(frameArb, port).map((x): Item[] => [x]) },
    { weight: 1, arbitrary: fragmented.map((fs): Item[] => fs.map((f) => [f, 0])) },
    // A SYN to the listener, then what follows it on the connection.
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(40000, 0, 65535), fc.array(follow, { minLength: 1, maxLength: 5 })).map(([sport, rest]): Item[] => [[synTo80(sport), 0], ...rest.map((f): Item => [f, 0])]) },
  );
  return fc.array(one, { minLength: 1, maxLength: 3 }).map((groups) => groups.flat());
};

function synTo80(sport: number): Uint8Array {
  const seg = tcpSeg({ sport, dport: 80, seq: 1000, ack: 0, flags: 0x02, offRnd: null, window: 64240, urg: 0, options: [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7], payload: new Uint8Array(0), csum: 'ok', csumRnd: 0 }, ip(A.tester), ip(A.us));
  return ethernet(parseMac(OUR_MAC), parseMac(TESTER_MAC), [], ETHERTYPE.IPV4, ipv4({ ...OK_IP, proto: IP_PROTOCOL.TCP, src: ip(A.tester), dst: ip(A.us) }, seg));
}

const OK_IP: IpSpec = {
  src: 0, dst: 0, ttl: 64, proto: 0, id: 9, flags: 2, fragOff: 0, tos: 0, options: new Uint8Array(0),
  totalMode: 'ok', totalRnd: 0, csumMode: 'ok', csumRnd: 0, version: 4, ihlRnd: null,
};

/** Builds a Follow item's frame from the last SYN-ACK the device sent to the tester, or null if there is none. */
function followFrame(f: Follow, synAck: Uint8Array | null): Uint8Array | null {
  if (synAck === null) return null;
  const e = decodeEthernet(synAck);
  if (!e.ok) return null;
  const d = decodeIPv4(e.value.payload);
  if (!d.ok) return null;
  const t = decodeTcp(d.value.payload);
  if (!t.ok) return null;
  const seq = (t.value.ack + f.seqDelta) >>> 0;
  const ack = (t.value.seq + 1 + f.ackDelta) >>> 0;
  const seg = tcpSeg({ sport: t.value.dstPort, dport: t.value.srcPort, seq, ack, flags: f.flags, offRnd: null, window: 64240, urg: 0, options: f.options, payload: f.payload, csum: f.csum, csumRnd: f.csumRnd }, d.value.dst, d.value.src);
  return ethernet(parseMac(OUR_MAC), parseMac(TESTER_MAC), [], ETHERTYPE.IPV4, ipv4({ ...OK_IP, proto: IP_PROTOCOL.TCP, src: d.value.dst, dst: d.value.src }, seg));
}

function isSynAck(frame: Uint8Array): boolean {
  const e = decodeEthernet(frame);
  if (!e.ok || e.value.etherType !== ETHERTYPE.IPV4) return false;
  const p = e.value.payload;
  if (p.length < 20 || p[9] !== IP_PROTOCOL.TCP) return false;
  const hl = (p[0]! & 15) * 4;
  return p.length >= hl + 14 && (p[hl + 13]! & 0x12) === 0x12;
}

/** Every counter of the device, flattened ('ip.drops.noRoute' → n). */
function flat(dev: Device): Map<string, number> {
  const m = new Map<string, number>();
  const walk = (o: unknown, path: string): void => {
    if (typeof o === 'number') m.set(path, o);
    else if (o !== null && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, path === '' ? k : `${path}.${k}`);
  };
  walk(dev.stack !== undefined ? dev.stack.stats() : dev.bridge!.allPortCounters(), '');
  return m;
}

function changed(dev: Device, before: Map<string, number>): string {
  const out: string[] = [];
  for (const [k, v] of flat(dev)) if (v !== (before.get(k) ?? 0)) out.push(`${k}+${v - (before.get(k) ?? 0)}`);
  return out.join(' ');
}

// ---- checking one output frame --------------------------------------------------------

function wellFormed(o: Out, dev: Device): string | null {
  const e = decodeEthernet(o.frame);
  if (!e.ok) return `undecodable Ethernet: ${e.message}`;
  const f = e.value;
  if (f.etherType === ETHERTYPE.ARP) {
    const a = decodeArp(f.payload);
    return a.ok ? null : `bad ARP: ${a.message}`;
  }
  if (f.etherType !== ETHERTYPE.IPV4) return `sent EtherType 0x${f.etherType.toString(16)}`;
  const d = decodeIPv4(f.payload);
  if (!d.ok) return `bad IPv4: ${d.message}`;
  const p = d.value;
  // Written by the device itself (a reply, an error, a RST), not forwarded: transport checksum too.
  if (!dev.stack!.ip.isLocalAddress(p.src)) return null;
  if (p.fragmentOffset !== 0 || p.moreFragments) return null;
  if (p.protocol === IP_PROTOCOL.ICMP) {
    const m = decodeIcmp(p.payload);
    return m.ok ? null : `bad ICMP: ${m.message}`;
  }
  if (p.protocol === IP_PROTOCOL.TCP) {
    const t = decodeTcp(p.payload, { src: p.src, dst: p.dst });
    return t.ok ? null : `bad TCP: ${t.message}`;
  }
  if (p.protocol === IP_PROTOCOL.UDP) {
    const u = decodeUdp(p.payload, { src: p.src, dst: p.dst });
    return u.ok ? null : `bad UDP: ${u.message}`;
  }
  return `sent IP protocol ${p.protocol}`;
}

/** The frame without its outer 802.1Q tag (the one a bridge pushes, pops or renumbers). */
function untagged(f: Uint8Array): string {
  const t = f.length >= 18 ? (f[12]! << 8) | f[13]! : 0;
  const rest = t === 0x8100 ? [...f.subarray(0, 12), ...f.subarray(16)] : [...f];
  return Buffer.from(rest).toString('hex');
}

/** The frame's TCP 4-tuple (dst = us) if it is a TCP segment in an IPv4 frame. */
function tcpTuple(f: Uint8Array): [number, number, number, number] | null {
  const e = decodeEthernet(f);
  if (!e.ok || e.value.etherType !== ETHERTYPE.IPV4) return null;
  const p = e.value.payload;
  if (p.length < 24 || p[9] !== IP_PROTOCOL.TCP) return null;
  const hl = (p[0]! & 15) * 4;
  if (p.length < hl + 4) return null;
  return [readIPv4(p, 12), (p[hl]! << 8) | p[hl + 1]!, readIPv4(p, 16), (p[hl + 2]! << 8) | p[hl + 3]!];
}

interface Verdict {
  frame: string;
  /** Counters that moved, for the failure message. */
  changed?: string;
  sent: number;
  drops: number;
  consumed: boolean;
  refusalAnswer: boolean;
  err?: string;
}

/** Injects each frame, measuring it alone, then runs the clock for minutes. Returns the first broken rule, or null. */
function run(make: () => Device, items: Item[]): Verdict | null {
  const dev = make();
  dev.clock.advance(1);
  dev.out.length = 0;
  let synAck: Uint8Array | null = null;
  for (const [item, p] of items) {
    const frame = item instanceof Uint8Array ? item : followFrame(item, synAck);
    if (frame === null) continue;
    const toConnection = dev.takenBy?.(frame, p) ?? false;
    const e0 = dev.stack?.icmp.stats.inErrors ?? 0;
    const h0 = dev.stack?.ip.reassembler.heldBytes ?? 0;
    const d0 = dev.drops();
    const before = flat(dev);
    const c0 = dev.consumed();
    const copy = frame.slice(); // the device may rewrite a forwarded frame in place
    dev.inject(frame, p);
    dev.clock.advance(1); // pipe deliveries and loopback, not yet any protocol timer
    const sent = dev.out.splice(0);
    for (const o of sent) if (isSynAck(o.frame)) synAck = o.frame;
    const drops = dev.drops() - d0;
    // State that existed takes the frame only if nothing refused it on the way (otherHost, a TCP window check…).
    // An ICMP error received whole is taken by the error machinery even when no socket matches it (see the header).
    const icmpError = (dev.stack?.icmp.stats.inErrors ?? 0) !== e0;
    // A fragment is taken when reassembly holds more bytes; the one that completes a
    // datagram has the outcome of the whole datagram.
    const held = (dev.stack?.ip.reassembler.heldBytes ?? 0) > h0;
    const consumed = ((toConnection || icmpError) && drops === 0) || held || dev.consumed() !== c0;
    const v: Verdict = { frame: Buffer.from(copy).toString('hex'), sent: sent.length, drops, consumed, refusalAnswer: answeredRefusal(before, flat(dev)), changed: changed(dev, before) };
    for (const o of sent) {
      const bad = dev.bridge !== undefined ? (untagged(o.frame) === untagged(copy) ? null : 'the bridge changed more than the outer tag') : wellFormed(o, dev);
      if (bad !== null) return { ...v, err: `${o.port}: ${bad}` };
    }
    const answered = sent.length > 0 || consumed;
    if (v.refusalAnswer) {
      // A host counts the refusal it answers; a bridge counts a refused copy on its egress, not on receive.
      const want = dev.bridge !== undefined ? 0 : 1;
      if (drops !== want) return { ...v, err: `answered a refusal with ${drops} drops counted (want ${want})` };
    } else if (answered ? drops !== 0 : drops !== 1) {
      return { ...v, err: answered ? `answered/consumed AND ${drops} drops counted` : `${drops} drops counted for a frame nothing took` };
    }
  }
  // Timers: ARP retries and failures, reassembly timeouts, TCP retransmissions and keepalive.
  for (const ms of [1000, 5000, 30_000, 120_000]) {
    dev.clock.advance(ms);
    for (const o of dev.out.splice(0)) {
      const bad = dev.bridge !== undefined ? null : wellFormed(o, dev);
      if (bad !== null) return { frame: 'timer', sent: 1, drops: 0, consumed: false, refusalAnswer: false, err: `${o.port} after timers: ${bad}` };
    }
  }
  return null;
}

function check(name: string, make: () => Device, ports: number): void {
  if (process.env.HOSTILE_CENSUS !== undefined) {
    // Debugging aid: tally every broken rule over many scenarios instead of shrinking the first.
    const tally = new Map<string, { n: number; example: string }>();
    for (const frames of fc.sample(scenario(ports), { seed: SEED, numRuns: RUNS })) {
      const v = run(make, frames);
      if (v === null) continue;
      const key = `${v.err} | ${v.changed}`;
      const t = tally.get(key) ?? { n: 0, example: v.frame };
      t.n++;
      tally.set(key, t);
    }
    for (const [k, t] of [...tally].sort((a, b) => b[1].n - a[1].n)) console.log(`${name} ${t.n}× ${k}\n    ${t.example}`);
    return;
  }
  fc.assert(
    fc.property(scenario(ports), (frames) => {
      const v = run(make, frames);
      if (v !== null) throw new Error(`${name}: ${v.err}\n${JSON.stringify(v)}`);
    }),
    { seed: SEED, numRuns: RUNS },
  );
}

describe('hostile frames, random and structured (property, seeded)', () => {
  it('a host: never throws, sends only well-formed frames, accounts for every frame once', () => {
    check('host', hostDevice, 1);
  });
  it('a router: the same, forwarding between two interfaces', () => {
    check('router', routerDevice, 2);
  });
  it('a bridge: the same, forwarding byte for byte up to the outer tag', () => {
    check('bridge', bridgeDevice, 4);
  });
});

