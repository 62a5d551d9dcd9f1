/**
 * Hostile frames, built by hand, and a tester that sends them on any Port
 * and records what comes back — the packetimpact pattern. The same frames
 * go to a wirelab host (a pipe, virtual clock) and to a Linux namespace (a
 * TAP, real clock); `summarize` turns each reply into a short string so the
 * two can be compared with one `toEqual`.
 *
 * The tester answers ARP requests for its own address (so a target that
 * wants to reply to an IP packet can), and does not record that exchange.
 */
import { createPipe } from '../../src/link/pipe.js';
import type { Port, RxBatch } from '../../src/link/port.js';
import { createStack, type Stack, type StackOptions } from '../../src/stack.js';
import type { VirtualClock } from '../../src/time/index.js';
import { formatIPv4, MAC_BROADCAST, parseIPv4, parseMac, type IPv4Address, type Mac } from '../../src/wire/address.js';
import { ARP_OP, arpPacket, decodeArp, encodeArp } from '../../src/wire/arp.js';
import { decodeEthernet, encodeEthernet, ETHERTYPE, type VlanTag } from '../../src/wire/ethernet.js';
import { decodeIcmp, encodeIcmp } from '../../src/wire/icmp.js';
import { decodeIPv4, encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { decodeTcp, encodeTcp, TCP_FLAG } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';

/** The target (wirelab host or Linux namespace): same address and MAC on both sides. */
export const TARGET_IP = '10.230.0.1';
export const TARGET_MAC = '02:00:00:e6:00:01';
export const TARGET_CIDR = `${TARGET_IP}/24`;
export const SUBNET_BROADCAST = '10.230.0.255';
export const SUBNET_NETWORK = '10.230.0.0';
/** The tester's own address and MAC (it answers ARP for this one). */
export const TESTER_IP = '10.230.0.9';
export const TESTER_MAC = '02:00:00:e6:00:09';
/** A second peer on the subnet, used as an ARP claimant. */
export const OTHER_IP = '10.230.0.7';
export const OTHER_MAC = '02:00:00:e6:00:07';

const ip = parseIPv4;
const mac = parseMac;

export interface EthOpts {
  src?: string;
  dst?: string;
  tags?: VlanTag[];
}

function eth(etherType: number, payload: Uint8Array, o: EthOpts = {}): Uint8Array {
  return encodeEthernet({ dst: mac(o.dst ?? TARGET_MAC), src: mac(o.src ?? TESTER_MAC), tags: o.tags ?? [], etherType }, payload);
}

export interface ArpOpts extends EthOpts {
  op?: 'request' | 'reply';
  senderMac?: string;
  senderIp: string;
  targetMac?: string;
  targetIp: string;
}

export function arpFrame(o: ArpOpts): Uint8Array {
  const op = o.op === 'reply' ? ARP_OP.REPLY : ARP_OP.REQUEST;
  const sha = o.senderMac ?? o.src ?? TESTER_MAC;
  const p = arpPacket(op, mac(sha), ip(o.senderIp), mac(o.targetMac ?? '00:00:00:00:00:00'), ip(o.targetIp));
  return eth(ETHERTYPE.ARP, encodeArp(p), { dst: o.dst ?? (op === ARP_OP.REQUEST ? 'ff:ff:ff:ff:ff:ff' : TARGET_MAC), src: o.src ?? sha, tags: o.tags });
}

export interface IpOpts extends EthOpts {
  srcIp?: string;
  dstIp?: string;
  ttl?: number;
  options?: Uint8Array;
  id?: number;
}

export function ipFrame(protocol: number, payload: Uint8Array, o: IpOpts = {}): Uint8Array {
  const datagram = encodeIPv4(
    {
      dscp: 0, ecn: 0, identification: o.id ?? 0x1234, dontFragment: true, moreFragments: false, reservedFlag: false,
      fragmentOffset: 0, ttl: o.ttl ?? 64, protocol, src: ip(o.srcIp ?? TESTER_IP), dst: ip(o.dstIp ?? TARGET_IP),
      options: o.options ?? new Uint8Array(0),
    },
    payload,
  );
  return eth(ETHERTYPE.IPV4, datagram, o);
}

export function echoFrame(o: IpOpts & { seq?: number } = {}): Uint8Array {
  const data = new Uint8Array(16).fill(0x61);
  return ipFrame(IP_PROTOCOL.ICMP, encodeIcmp({ kind: 'echo-request', identifier: 0x4242, sequence: o.seq ?? 1, data }), o);
}

export function tcpFrame(o: IpOpts & { srcPort?: number; dstPort?: number; flags?: number; seq?: number; ack?: number } = {}): Uint8Array {
  const seg = encodeTcp(
    { srcPort: o.srcPort ?? 40000, dstPort: o.dstPort ?? 9, seq: o.seq ?? 1000, ack: o.ack ?? 0, flags: o.flags ?? TCP_FLAG.SYN, window: 64240 },
    new Uint8Array(0),
    { src: ip(o.srcIp ?? TESTER_IP), dst: ip(o.dstIp ?? TARGET_IP) },
  );
  return ipFrame(IP_PROTOCOL.TCP, seg, o);
}

export function udpFrame(o: IpOpts & { srcPort?: number; dstPort?: number; payload?: Uint8Array } = {}): Uint8Array {
  const d = encodeUdp({ srcPort: o.srcPort ?? 40000, dstPort: o.dstPort ?? 9999 }, o.payload ?? new Uint8Array([1, 2, 3]), {
    src: ip(o.srcIp ?? TESTER_IP),
    dst: ip(o.dstIp ?? TARGET_IP),
  });
  return ipFrame(IP_PROTOCOL.UDP, d, o);
}

/** One reply as a short, comparable string. */
export function summarize(frame: Uint8Array): string {
  const e = decodeEthernet(frame);
  if (!e.ok) return 'garbage';
  const f = e.value;
  if (f.etherType === ETHERTYPE.ARP) {
    const a = decodeArp(f.payload);
    if (!a.ok) return 'arp ?';
    const p = a.value;
    const op = p.operation === ARP_OP.REQUEST ? 'request' : p.operation === ARP_OP.REPLY ? 'reply' : `op${p.operation}`;
    return `arp ${op} ${formatIPv4(p.senderIp)} -> ${formatIPv4(p.targetIp)}`;
  }
  if (f.etherType !== ETHERTYPE.IPV4) return `ethertype 0x${f.etherType.toString(16)}`;
  const d = decodeIPv4(f.payload);
  if (!d.ok) return 'ipv4 ?';
  const p = d.value;
  const head = `${f.dst === MAC_BROADCAST ? '(link broadcast) ' : ''}${formatIPv4(p.src)} > ${formatIPv4(p.dst)}`;
  if (p.protocol === IP_PROTOCOL.ICMP) {
    const m = decodeIcmp(p.payload);
    if (!m.ok) return `${head} icmp ?`;
    const v = m.value;
    // Parameter Problem (12): the pointer is the first byte of bytes 4–7.
    if (v.type === 12 && v.kind === 'other') return `${head} icmp 12/${v.code} ptr ${v.restOfHeader[0]}`;
    return `${head} icmp ${v.type}/${v.code}`;
  }
  if (p.protocol === IP_PROTOCOL.TCP) {
    const t = decodeTcp(p.payload);
    if (!t.ok) return `${head} tcp ?`;
    const fl = t.value.flags;
    const names = [
      fl & TCP_FLAG.SYN ? 'S' : '', fl & TCP_FLAG.RST ? 'R' : '', fl & TCP_FLAG.FIN ? 'F' : '', fl & TCP_FLAG.ACK ? 'A' : '',
    ].join('');
    return `${head} tcp ${t.value.srcPort} > ${t.value.dstPort} [${names}]`;
  }
  return `${head} proto ${p.protocol}`;
}

/** Sends frames on a port and records what arrives, answering ARP for TESTER_IP. */
export class Tester {
  readonly received: Uint8Array[] = [];

  constructor(readonly port: Port) {
    port.onReceive = (batch: RxBatch) => {
      for (let i = 0; i < batch.count; i++) {
        const off = batch.offsets[i]!;
        this.onFrame(batch.buf.slice(off, off + batch.lengths[i]!));
      }
    };
  }

  private onFrame(frame: Uint8Array): void {
    const e = decodeEthernet(frame);
    if (e.ok && e.value.etherType === ETHERTYPE.ARP) {
      const a = decodeArp(e.value.payload);
      if (a.ok && a.value.operation === ARP_OP.REQUEST && a.value.targetIp === ip(TESTER_IP) && a.value.senderIp !== ip(TESTER_IP)) {
        this.send(arpFrame({ op: 'reply', senderIp: TESTER_IP, targetIp: formatIPv4(a.value.senderIp), targetMac: fmtMac(a.value.senderMac), dst: fmtMac(e.value.src) }));
        return;
      }
    }
    if (e.ok && e.value.etherType === 0x86dd) return; // IPv6 noise (disabled in containers, but be safe)
    this.received.push(frame);
  }

  send(...frames: Uint8Array[]): void {
    for (const f of frames) this.port.send(f, 0, f.length, -1);
    this.port.flush();
  }

  /** Summaries of everything received since the last call, then forgets them. */
  take(): string[] {
    const out = this.received.map(summarize);
    this.received.length = 0;
    return out;
  }
}

function fmtMac(m: Mac): string {
  const hex = m.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

export { MAC_BROADCAST, type IPv4Address };

/** IP option bytes (padded to a multiple of 4 with EOL). */
export function ipOptions(...bytes: number[]): Uint8Array {
  const len = Math.ceil(bytes.length / 4) * 4;
  const out = new Uint8Array(len);
  out.set(bytes);
  return out;
}

/** A wirelab host with the target's address and MAC, default route via the tester, and the tester on the other end of its cable. */
export function hostileHost(clock: VirtualClock, opts: Partial<StackOptions> = {}): { host: Stack; tester: Tester } {
  const [hp, tp] = createPipe(clock);
  const host = createStack({ clock, name: 'wl-hostile', icmpRateLimit: false, ...opts });
  host.addInterface(hp, { addresses: [TARGET_CIDR], mac: TARGET_MAC, announce: false });
  host.addRoute('default', { via: TESTER_IP });
  host.arp.onConflict = () => undefined;
  return { host, tester: new Tester(tp) };
}
