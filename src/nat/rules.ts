/**
 * The NAT's rules, as data: masquerade (SNAT to an uplink's address) per
 * interface, and published ports (DNAT of a protocol and external port range
 * to a container address and port). Checked once per new flow, never per
 * packet; lookups by a numeric key (protocol << 16 | port).
 */
import { formatIPv4, parseIPv4, type IPv4Address } from '../wire/address.js';
import { IP_PROTOCOL } from '../wire/ipv4.js';
import type { PortRange } from './ports.js';

export interface MasqueradeOptions {
  /** NAT source ports for TCP and UDP (iptables MASQUERADE --to-ports); default: keep the port's class as Linux does. */
  portRange?: readonly [number, number];
}

export interface MasqueradeRule {
  readonly uplink: string;
  readonly portRange: PortRange | undefined;
}

export interface PublishOptions {
  protocol: 'tcp' | 'udp';
  /** External port, or the first of a range ending at `portEnd`. */
  port: number;
  portEnd?: number;
  /** Where the flows go: the container's address and port (the first of a range as long as the external one). */
  toAddress: string;
  toPort: number;
  /** Only packets for this interface's addresses; default: any address of the router (Docker's 0.0.0.0). */
  uplink?: string;
  /** Only packets for this one address of the router. */
  address?: string;
  /** Who owns the mapping, for messages (e.g. the container's name). */
  owner?: string;
}

export interface PublishedPort {
  readonly id: number;
  readonly protocol: 'tcp' | 'udp';
  readonly protocolNumber: number;
  readonly port: number;
  readonly portEnd: number;
  readonly toAddress: IPv4Address;
  readonly toPort: number;
  readonly uplink: string | undefined;
  /** 0: any address. */
  readonly address: IPv4Address;
  readonly owner: string;
}

export interface NatHandle {
  close(): void;
}

function invalid(message: string): Error {
  return Object.assign(new Error(message), { code: 'EINVAL' });
}

function checkPort(what: string, n: number, min = 1): void {
  if (!Number.isInteger(n) || n < min || n > 65535) throw invalid(`${what} must be an integer in ${min}..65535, got ${n}`);
}

export function checkPortRange(range: readonly [number, number]): PortRange {
  checkPort('portRange start', range[0]);
  checkPort('portRange end', range[1]);
  if (range[0] > range[1]) throw invalid(`portRange [${range[0]}, ${range[1]}] is empty: the start is above the end`);
  return [range[0], range[1]];
}

/** Validates publish options (already-parsed numbers) into a mapping. */
export function makeMapping(id: number, o: PublishOptions): PublishedPort {
  if (o.protocol !== 'tcp' && o.protocol !== 'udp') throw invalid(`protocol must be tcp or udp, got ${String(o.protocol)}`);
  checkPort('port', o.port);
  const portEnd = o.portEnd ?? o.port;
  checkPort('portEnd', portEnd);
  if (portEnd < o.port) throw invalid(`port range ${o.port}-${portEnd} is empty`);
  checkPort('toPort', o.toPort);
  if (o.toPort + (portEnd - o.port) > 65535) throw invalid(`container port range ${o.toPort}-${o.toPort + portEnd - o.port} passes 65535`);
  const toAddress = parseIPv4(o.toAddress);
  const address = o.address !== undefined ? parseIPv4(o.address) : 0;
  return {
    id, protocol: o.protocol, protocolNumber: o.protocol === 'tcp' ? IP_PROTOCOL.TCP : IP_PROTOCOL.UDP,
    port: o.port, portEnd, toAddress, toPort: o.toPort, uplink: o.uplink, address,
    owner: o.owner ?? `mapping #${id}`,
  };
}

export function describeMapping(m: PublishedPort): string {
  const ports = m.portEnd === m.port ? `${m.port}` : `${m.port}-${m.portEnd}`;
  const to = m.portEnd === m.port ? `${m.toPort}` : `${m.toPort}-${m.toPort + m.portEnd - m.port}`;
  const where = m.address !== 0 ? formatIPv4(m.address) : m.uplink !== undefined ? m.uplink : '0.0.0.0';
  return `${where}:${ports}/${m.protocol} -> ${formatIPv4(m.toAddress)}:${to}`;
}

/**
 * Published ports by (protocol, port): the DNAT table. A mapping that
 * overlaps one in use (same protocol, a shared port, addresses that can be
 * the same) is refused with EADDRINUSE naming the owner.
 */
export class PublishedPorts {
  private readonly byKey = new Map<number, PublishedPort[]>();
  private readonly all = new Map<number, PublishedPort>();

  list(): PublishedPort[] {
    return [...this.all.values()];
  }

  get size(): number {
    return this.all.size;
  }

  add(m: PublishedPort, addressesOf: (uplink: string) => readonly IPv4Address[]): void {
    for (let p = m.port; p <= m.portEnd; p++) {
      for (const other of this.byKey.get((m.protocolNumber << 16) | p) ?? []) {
        if (overlaps(m, other, addressesOf)) {
          const ports = m.portEnd === m.port ? `${m.protocol} port ${m.port}` : `${m.protocol} port ${p} (in ${m.port}-${m.portEnd})`;
          throw Object.assign(
            new Error(`${ports} is already published by ${other.owner} (${describeMapping(other)}); close that mapping or choose another port`),
            { code: 'EADDRINUSE' },
          );
        }
      }
    }
    for (let p = m.port; p <= m.portEnd; p++) {
      const key = (m.protocolNumber << 16) | p;
      const list = this.byKey.get(key);
      if (list) list.push(m);
      else this.byKey.set(key, [m]);
    }
    this.all.set(m.id, m);
  }

  remove(m: PublishedPort): void {
    if (!this.all.delete(m.id)) return;
    for (let p = m.port; p <= m.portEnd; p++) {
      const key = (m.protocolNumber << 16) | p;
      const list = this.byKey.get(key)?.filter((x) => x !== m) ?? [];
      if (list.length === 0) this.byKey.delete(key);
      else this.byKey.set(key, list);
    }
  }

  /** The mapping for a new flow to `dst`:`port`, or undefined. `isMine(m, dst)` checks the address scope. */
  match(protocol: number, port: number, dst: IPv4Address, isMine: (m: PublishedPort, dst: IPv4Address) => boolean): PublishedPort | undefined {
    const list = this.byKey.get((protocol << 16) | port);
    if (list === undefined) return undefined;
    for (const m of list) if (isMine(m, dst)) return m;
    return undefined;
  }
}

function overlaps(a: PublishedPort, b: PublishedPort, addressesOf: (uplink: string) => readonly IPv4Address[]): boolean {
  const set = (m: PublishedPort): readonly IPv4Address[] | 'any' =>
    m.address !== 0 ? [m.address] : m.uplink !== undefined ? addressesOf(m.uplink) : 'any';
  const sa = set(a);
  const sb = set(b);
  if (sa === 'any' || sb === 'any') return true;
  if (a.uplink !== undefined && a.uplink === b.uplink) return true;
  return sa.some((x) => sb.includes(x));
}
