/**
 * bench/soak's hostile traffic: a pcapng of hostile frames, written with
 * wirelab's own encoders (src/wire) and PcapngWriter, and a replay that plays
 * it into the switch's `hostile` port in a loop through a ReplayPort
 * (src/link/replay.ts), paced by the capture's timestamps on the lab's clock
 * — as `wirelab replay` plays a file into a running lab.
 *
 * One pass of the capture is HOSTILE_CYCLE_FRAMES frames, HOSTILE_FPS a
 * second, each of one kind drawn at random by HOSTILE_MIX, every one from a
 * random locally administered source MAC (the switch's FDB):
 *
 *   arp         ARP requests for the router, server or client from random
 *               addresses of the LAN and random MACs (each target makes a
 *               neighbour entry for the sender, as arp_process does)
 *   synFlood    SYNs to server:5001 from random ports of eight spoofed
 *               addresses that never answer (the SYN queue, then cookies)
 *   fragment    first fragments (MF, offset 0, 1400 bytes) of datagrams whose
 *               rest never comes, to the server and the router (reassembly)
 *   natUdp      UDP from random ports of four spoofed LAN addresses to
 *               outside:9 through the router's masquerade (conntrack)
 *   martian     loopback, zero, multicast, broadcast and own-address sources,
 *               loopback destinations (dropped as ip_route_input_slow does)
 *   badOptions  ICMP echoes with malformed options and source routes
 *   runt        1–59 bytes (under 14: not even an Ethernet header)
 *   oversize    IPv4 frames of 1515–9000 bytes (over the 1500-byte MTU)
 *   garbage     random bytes behind a random or broadcast destination
 *
 * One pass holds more distinct senders, MACs, SYNs, fragments and flows than
 * any table's limit (SOAK_LIMITS), so every pass, the first included, drives
 * each table to its limit; later passes repeat the same frames.
 */
import { PassThrough } from 'node:stream';
import { PcapngWriter } from '../../src/link/pcapng.js';
import { createReplayPort, type ReplayPort } from '../../src/link/replay.js';
import { SeededRandom } from '../../src/link/random.js';
import type { Bridge } from '../../src/switch/bridge.js';
import type { Clock } from '../../src/time/index.js';
import { MAC_BROADCAST, writeMac, type IPv4Address, type Mac } from '../../src/wire/address.js';
import { ARP_OP, arpPacket, encodeArp } from '../../src/wire/arp.js';
import { encodeEthernet, ETHERTYPE } from '../../src/wire/ethernet.js';
import { encodeIcmp } from '../../src/wire/icmp.js';
import { encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { encodeTcp, TCP_FLAG } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { CLIENT_IP, ip, mac, OUTSIDE_IP, ROUTER_IP, ROUTER_MAC, SERVER_IP, SERVER_MAC, TRANSFER_PORT } from './soak-lab.js';

/** Hostile frames a second (virtual), and in one pass of the capture. */
export const HOSTILE_FPS = 1000;
export const HOSTILE_CYCLE_FRAMES = 8000;

export const HOSTILE_MIX = {
  arp: 0.22,
  synFlood: 0.14,
  fragment: 0.12,
  natUdp: 0.16,
  martian: 0.08,
  badOptions: 0.08,
  runt: 0.05,
  oversize: 0.05,
  garbage: 0.1,
} as const;
export type HostileKind = keyof typeof HOSTILE_MIX;
export const HOSTILE_KINDS = Object.keys(HOSTILE_MIX) as HostileKind[];

/** Malformed option areas (padded to 4 bytes), as test/ip/hostile-ipv4.test.ts sends them; the last two are source routes. */
const BAD_OPTIONS: readonly number[][] = [
  [7, 1, 0, 0],
  [7, 12, 4, 0],
  [1, 1, 1, 7],
  [7, 7, 2, 0, 0, 0, 0, 0],
  [68, 8, 1, 0, 0, 0, 0, 0],
  [7, 3, 4, 7, 3, 4, 0, 0],
  [131, 7, 4, 10, 77, 0, 2, 1],
  [137, 7, 8, 10, 77, 0, 2, 1],
];

/** Spoofed sources nobody owns: the SYN flood's, the NAT flows', the bad options'. */
const SYN_SOURCES = Array.from({ length: 8 }, (_, i) => ip(`10.77.250.${i + 1}`));
const NAT_SOURCES = Array.from({ length: 4 }, (_, i) => ip(`10.77.251.${i + 1}`));
const OPTION_SOURCES = Array.from({ length: 4 }, (_, i) => ip(`10.77.252.${i + 1}`));
const TARGETS = [ip(ROUTER_IP), ip(SERVER_IP), ip(CLIENT_IP)];

export interface HostileCapture {
  /** The pcapng file's bytes. */
  bytes: Uint8Array;
  frames: number;
  /** Frames of each kind in one pass. */
  kinds: Record<HostileKind, number>;
  /** Virtual seconds one pass lasts. */
  cycleSeconds: number;
}

/** A random locally administered unicast MAC (02:…). */
export function randomMac(rng: SeededRandom): Mac {
  return 0x020000000000 + rng.nextUint32() * 0x100 + rng.nextInt(0x100);
}

/** A random LAN address outside 10.77.0.x (the hosts) and 10.77.250–255.x (the spoofed sources). */
export function randomLanAddress(rng: SeededRandom): IPv4Address {
  return (ip('10.77.0.0') + (1 + rng.nextInt(249)) * 256 + 1 + rng.nextInt(254)) >>> 0;
}

function ipv4(src: IPv4Address, dst: IPv4Address, protocol: number, payload: Uint8Array, o: { id?: number; mf?: boolean; options?: Uint8Array } = {}): Uint8Array {
  return encodeIPv4(
    {
      dscp: 0, ecn: 0, identification: o.id ?? 0, dontFragment: o.mf !== true, moreFragments: o.mf === true, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol, src, dst, options: o.options ?? new Uint8Array(0),
    },
    payload,
  );
}

function eth(dst: Mac, src: Mac, etherType: number, payload: Uint8Array): Uint8Array {
  return encodeEthernet({ dst, src, tags: [], etherType }, payload);
}

function bytes(rng: SeededRandom, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextInt(256);
  return out;
}

/** One hostile frame of `kind`. */
export function hostileFrame(kind: HostileKind, rng: SeededRandom): Uint8Array {
  const src = randomMac(rng);
  const server = ip(SERVER_IP);
  const pick = <T>(xs: readonly T[]): T => xs[rng.nextInt(xs.length)]!;
  switch (kind) {
    case 'arp': {
      const sender = randomLanAddress(rng);
      return eth(MAC_BROADCAST, src, ETHERTYPE.ARP, encodeArp(arpPacket(ARP_OP.REQUEST, src, sender, 0, pick(TARGETS))));
    }
    case 'synFlood': {
      const s = pick(SYN_SOURCES);
      const seg = encodeTcp(
        { srcPort: 1024 + rng.nextInt(64512), dstPort: TRANSFER_PORT, seq: rng.nextUint32(), ack: 0, flags: TCP_FLAG.SYN, window: 64240, options: [{ kind: 'mss', value: 1460 }] },
        new Uint8Array(0),
        { src: s, dst: server },
      );
      return eth(mac(SERVER_MAC), src, ETHERTYPE.IPV4, ipv4(s, server, IP_PROTOCOL.TCP, seg));
    }
    case 'fragment': {
      const toRouter = rng.next() < 0.5;
      const dst = toRouter ? ip(ROUTER_IP) : server;
      return eth(mac(toRouter ? ROUTER_MAC : SERVER_MAC), src, ETHERTYPE.IPV4, ipv4(pick(SYN_SOURCES), dst, IP_PROTOCOL.UDP, new Uint8Array(1400), { id: rng.nextInt(65536), mf: true }));
    }
    case 'natUdp': {
      const s = pick(NAT_SOURCES);
      const d = encodeUdp({ srcPort: 1024 + rng.nextInt(64512), dstPort: 9 }, bytes(rng, 32), { src: s, dst: ip(OUTSIDE_IP) });
      return eth(mac(ROUTER_MAC), src, ETHERTYPE.IPV4, ipv4(s, ip(OUTSIDE_IP), IP_PROTOCOL.UDP, d));
    }
    case 'martian': {
      const [s, d] = pick<[string, string]>([
        ['127.0.0.1', SERVER_IP],
        ['0.0.0.7', SERVER_IP],
        ['224.0.0.9', SERVER_IP],
        ['255.255.255.255', ROUTER_IP],
        [SERVER_IP, SERVER_IP],
        ['10.77.9.9', '127.0.0.1'],
      ]);
      const dgram = encodeUdp({ srcPort: 53, dstPort: 7 }, bytes(rng, 16), { src: ip(s), dst: ip(d) });
      return eth(mac(d === ROUTER_IP ? ROUTER_MAC : SERVER_MAC), src, ETHERTYPE.IPV4, ipv4(ip(s), ip(d), IP_PROTOCOL.UDP, dgram));
    }
    case 'badOptions': {
      const o = pick(BAD_OPTIONS);
      const options = new Uint8Array(Math.ceil(o.length / 4) * 4);
      options.set(o);
      const echo = encodeIcmp({ kind: 'echo-request', identifier: rng.nextInt(65536), sequence: 1, data: bytes(rng, 16) });
      return eth(mac(SERVER_MAC), src, ETHERTYPE.IPV4, ipv4(pick(OPTION_SOURCES), server, IP_PROTOCOL.ICMP, echo, { options }));
    }
    case 'runt': {
      const f = bytes(rng, 1 + rng.nextInt(59));
      const head = new Uint8Array(12);
      writeMac(head, 0, MAC_BROADCAST);
      writeMac(head, 6, src);
      f.set(head.subarray(0, Math.min(12, f.length)));
      return f;
    }
    case 'oversize': {
      const n = 1515 + rng.nextInt(9000 - 1515);
      const d = encodeUdp({ srcPort: 4000, dstPort: 7 }, new Uint8Array(n - 14 - 20 - 8), { src: pick(SYN_SOURCES), dst: server });
      return eth(mac(SERVER_MAC), src, ETHERTYPE.IPV4, ipv4(pick(SYN_SOURCES), server, IP_PROTOCOL.UDP, d));
    }
    case 'garbage': {
      const dst = rng.next() < 0.5 ? MAC_BROADCAST : rng.next() < 0.5 ? mac(SERVER_MAC) : randomMac(rng);
      const type = rng.next() < 0.5 ? ETHERTYPE.IPV4 : rng.nextInt(65536);
      return eth(dst, src, type, bytes(rng, rng.nextInt(1501)));
    }
  }
}

/**
 * One frame of the ARP churn (soak-load.ts plays these live, not from the
 * capture): an ARP request for the router, server or client, or a gratuitous
 * ARP, from a random LAN address and MAC.
 */
export function arpChurnFrame(rng: SeededRandom): Uint8Array {
  const from = randomMac(rng);
  const sender = randomLanAddress(rng);
  const target = rng.next() < 0.5 ? sender : TARGETS[rng.nextInt(TARGETS.length)]!;
  return eth(MAC_BROADCAST, from, ETHERTYPE.ARP, encodeArp(arpPacket(ARP_OP.REQUEST, from, sender, 0, target)));
}

/** The hostile capture: `frames` frames, HOSTILE_FPS a second, kinds drawn by HOSTILE_MIX. */
export async function hostileCapture(seed: number, frames = HOSTILE_CYCLE_FRAMES): Promise<HostileCapture> {
  const rng = SeededRandom.derive(seed, 77);
  const kinds = Object.fromEntries(HOSTILE_KINDS.map((k) => [k, 0])) as Record<HostileKind, number>;
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => out.on('end', resolve));
  const writer = new PcapngWriter(out, { interfaces: [{ name: 'hostile', tsResolution: 'ns' }], maxBufferedBytes: 1 << 30, application: 'wirelab bench/soak' });
  const gapNs = BigInt(Math.round(1e9 / HOSTILE_FPS));
  const cumulative = HOSTILE_KINDS.map((k, i) => HOSTILE_KINDS.slice(0, i + 1).reduce((s, x) => s + HOSTILE_MIX[x], 0));
  for (let i = 0; i < frames; i++) {
    const u = rng.next() * cumulative[cumulative.length - 1]!;
    const kind = HOSTILE_KINDS[cumulative.findIndex((c) => u < c)] ?? 'garbage';
    kinds[kind]++;
    writer.write(hostileFrame(kind, rng), BigInt(i) * gapNs);
  }
  await writer.close();
  await ended;
  return { bytes: new Uint8Array(Buffer.concat(chunks)), frames, kinds, cycleSeconds: frames / HOSTILE_FPS };
}

/**
 * Plays the capture into `bridge` as if its port `portName` had received it,
 * pass after pass, until `stop()`: each pass is a new ReplayPort over a fresh
 * copy of the file (a replay's frames are views of its buffer, played once).
 */
export class HostileReplay {
  loops = 0;
  framesPlayed = 0;
  bytesPlayed = 0;
  private port: ReplayPort | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly bridge: Bridge,
    private readonly portName: string,
    private readonly capture: HostileCapture,
  ) {}

  start(): void {
    if (this.port === undefined && !this.stopped) this.pass();
  }

  /** Stops at once (mid-pass); the frames of the pass so far are counted. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const p = this.port;
    this.port = undefined;
    if (p !== undefined) {
      const s = p.replayStats;
      this.framesPlayed += s.framesPlayed;
      this.bytesPlayed += s.bytesPlayed;
      void p.close();
    }
  }

  private pass(): void {
    const p = createReplayPort(this.capture.bytes.slice(), { clock: this.clock, name: 'hostile-replay', pace: 'recorded' });
    if (p instanceof Error) throw p;
    p.onReceive = (batch) => this.bridge.receiveAs(this.portName, batch);
    this.port = p;
    void p.start().then((s) => {
      if (this.port !== p) return; // stopped meanwhile: counted by stop()
      this.loops++;
      this.framesPlayed += s.framesPlayed;
      this.bytesPlayed += s.bytesPlayed;
      this.port = undefined;
      if (!this.stopped) this.pass();
    });
  }
}
