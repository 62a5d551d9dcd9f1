/**
 * Shared fixtures for the NAT tests on the virtual clock: a Docker-like
 * topology (two containers on a bridge behind a wirelab router, a server on
 * the router's uplink), crafted datagrams, and a way to drive the NAT's
 * hooks directly with exact packets.
 */
import { Bridge } from '../../src/switch/index.js';
import { createPipe } from '../../src/link/pipe.js';
import { VirtualClock } from '../../src/time/index.js';
import { createStack, type Stack, type StackOptions } from '../../src/stack.js';
import { parseIPv4 } from '../../src/wire/address.js';
import { encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { encodeTcp, TCP_FLAG } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { encodeIcmp } from '../../src/wire/icmp.js';
import type { TcpOption } from '../../src/wire/tcp-options.js';

export { TCP_FLAG };

/** Runs the virtual clock in small steps until `p` settles (or `maxMs` pass). */
export async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 10_000): Promise<T> {
  let done = false;
  const guarded = p.finally(() => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) {
    clock.advance(10);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
  return guarded;
}

/** Advances virtual time by `ms`, letting promise callbacks run between steps. */
export async function run(clock: VirtualClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
}

export interface NatLab {
  clock: VirtualClock;
  /** Containers 172.30.0.2 and .3 on a bridge, gateway 172.30.0.1. */
  a: Stack;
  c: Stack;
  /** The router: eth0 172.30.0.1/24 (inside), eth1 10.201.0.1/24 (uplink). */
  r: Stack;
  /** A server on the uplink, 10.201.0.2/24. */
  s: Stack;
  bridge: Bridge;
  close(): void;
}

export function natLab(opts: { uplinkMtu?: number; router?: Partial<StackOptions> } = {}): NatLab {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock, name: 'br-nat' });
  const a = createStack({ clock, name: 'a' });
  const c = createStack({ clock, name: 'c' });
  const r = createStack({ clock, name: 'r', forwarding: true, ...opts.router });
  const s = createStack({ clock, name: 's' });
  for (const [host, addr] of [[a, '172.30.0.2/24'], [c, '172.30.0.3/24'], [r, '172.30.0.1/24']] as const) {
    const [hp, bp] = createPipe(clock);
    bridge.addPort(bp);
    host.addInterface(hp, { name: 'eth0', addresses: [addr] });
  }
  const [ru, su] = createPipe(clock);
  r.addInterface(ru, { name: 'eth1', addresses: ['10.201.0.1/24'], mtu: opts.uplinkMtu ?? 1500 });
  s.addInterface(su, { name: 'eth0', addresses: ['10.201.0.2/24'], mtu: opts.uplinkMtu ?? 1500 });
  a.addRoute('default', { via: '172.30.0.1' });
  c.addRoute('default', { via: '172.30.0.1' });
  return {
    clock, a, c, r, s, bridge,
    close() {
      for (const h of [a, c, r, s]) h.close();
      bridge.close();
    },
  };
}

export const ip = parseIPv4;

export function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array, id = 1, ttl = 64): Uint8Array {
  return encodeIPv4(
    { dscp: 0, ecn: 0, identification: id, dontFragment: false, moreFragments: false, reservedFlag: false, fragmentOffset: 0, ttl, protocol, src: ip(src), dst: ip(dst), options: new Uint8Array(0) },
    payload,
  );
}

export interface TcpSpec {
  flags: number;
  seq: number;
  ack?: number;
  window?: number;
  payload?: Uint8Array;
  options?: TcpOption[];
}

export function tcp(src: string, sport: number, dst: string, dport: number, t: TcpSpec): Uint8Array {
  const seg = encodeTcp(
    { srcPort: sport, dstPort: dport, seq: t.seq >>> 0, ack: (t.ack ?? 0) >>> 0, flags: t.flags, window: t.window ?? 65535, ...(t.options ? { options: t.options } : {}) },
    t.payload ?? new Uint8Array(0),
    { src: ip(src), dst: ip(dst) },
  );
  return ipv4(src, dst, IP_PROTOCOL.TCP, seg);
}

export function udp(src: string, sport: number, dst: string, dport: number, payload: Uint8Array = new Uint8Array([1, 2, 3])): Uint8Array {
  return ipv4(src, dst, IP_PROTOCOL.UDP, encodeUdp({ srcPort: sport, dstPort: dport }, payload, { src: ip(src), dst: ip(dst) }));
}

export function echo(src: string, dst: string, id: number, kind: 'echo-request' | 'echo-reply' = 'echo-request', seq = 1): Uint8Array {
  return ipv4(src, dst, IP_PROTOCOL.ICMP, encodeIcmp({ kind, identifier: id, sequence: seq, data: new Uint8Array(8) }));
}

/** An ICMP error from `from` to `to` quoting the first 28+ bytes of `about`. */
export function icmpError(from: string, to: string, about: Uint8Array, kind: 'dest-unreachable' | 'time-exceeded' = 'dest-unreachable', code = 3): Uint8Array {
  const quoted = about.subarray(0, Math.min(about.length, 28 + 20));
  const m = kind === 'time-exceeded' ? encodeIcmp({ kind, code: 0, quoted }) : encodeIcmp({ kind, code, quoted });
  return ipv4(from, to, IP_PROTOCOL.ICMP, m);
}

export const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
export const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/**
 * A router whose NAT hooks are driven directly with crafted datagrams, as
 * ip/ calls them when forwarding: `out(pkt)` goes inside -> uplink
 * (PREROUTING on eth0, POSTROUTING on eth1), `back(pkt)` uplink -> inside.
 * Each returns the verdict; the datagram is rewritten in place.
 */
export function hookRouter(opts: Partial<StackOptions> = {}) {
  const clock = new VirtualClock();
  const r = createStack({ clock, name: 'r', forwarding: true, ...opts });
  const [ri] = createPipe(clock);
  const [ru] = createPipe(clock);
  const inside = r.addInterface(ri, { name: 'eth0', addresses: ['172.30.0.1/24'], announce: false });
  const uplink = r.addInterface(ru, { name: 'eth1', addresses: ['10.201.0.1/24'], announce: false });
  const nat = r.nat;
  return {
    clock, r, nat, inside, uplink,
    out(pkt: Uint8Array): boolean {
      return nat.prerouting(pkt, 0, pkt.length, inside, -1) && nat.postrouting(pkt, 0, pkt.length, uplink, inside, -1);
    },
    back(pkt: Uint8Array): boolean {
      return nat.prerouting(pkt, 0, pkt.length, uplink, -1) && nat.postrouting(pkt, 0, pkt.length, inside, uplink, -1);
    },
  };
}
