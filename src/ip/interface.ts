/**
 * A host's network interface: one Port, its MAC, its IPv4 addresses, its
 * MTU and its counters — what `ip addr` and `ip -s link` show for a device.
 * The interface holds data only; the IP layer decides what to do with frames.
 */
import type { Port } from '../link/port.js';
import {
  broadcastOf,
  formatCidr,
  formatIPv4,
  formatMac,
  prefixMask,
  type IPv4Address,
  type Mac,
} from '../wire/address.js';

export interface InterfaceAddress {
  readonly address: IPv4Address;
  readonly prefixLength: number;
  readonly broadcast: IPv4Address;
}

export interface InterfaceStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Drops by reason, e.g. otherHost, vlanTagged, unknownEtherType, runt, down. */
  drops: Record<string, number>;
}

export class NetInterface {
  readonly addresses: InterfaceAddress[] = [];
  readonly stats: InterfaceStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, drops: {} };
  up = true;
  /** Set while frames were queued on the port during the current operation. */
  dirty = false;

  constructor(
    readonly name: string,
    readonly index: number,
    readonly port: Port,
    readonly mac: Mac,
    public mtu: number,
    /** Merge a received batch's in-order TCP segments (ethtool's generic-receive-offload). */
    public gro = port.gro === true,
  ) {}

  addAddress(address: IPv4Address, prefixLength: number): InterfaceAddress {
    const a = { address, prefixLength, broadcast: broadcastOf({ address, prefixLength }) };
    this.addresses.push(a);
    return a;
  }

  hasAddress(ip: IPv4Address): boolean {
    for (const a of this.addresses) if (a.address === ip) return true;
    return false;
  }

  /** True for 255.255.255.255 and the directed broadcast of any of our subnets. */
  isBroadcast(ip: IPv4Address): boolean {
    if (ip === 0xffffffff) return true;
    for (const a of this.addresses) if (a.prefixLength < 31 && a.broadcast === ip) return true;
    return false;
  }

  /** Our address on the subnet that holds `ip`, else the primary address. */
  sourceFor(ip: IPv4Address): IPv4Address | undefined {
    for (const a of this.addresses) {
      const m = prefixMask(a.prefixLength);
      if (((a.address & m) >>> 0) === ((ip & m) >>> 0)) return a.address;
    }
    return this.addresses[0]?.address;
  }

  drop(reason: string): void {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
  }

  /** Like one device of `ip addr`. */
  format(): string {
    const flags = this.up ? '<BROADCAST,MULTICAST,UP,LOWER_UP>' : '<BROADCAST,MULTICAST>';
    const lines = [
      `${this.index}: ${this.name}: ${flags} mtu ${this.mtu} state ${this.up ? 'UP' : 'DOWN'}`,
      `    link/ether ${formatMac(this.mac)} brd ff:ff:ff:ff:ff:ff`,
    ];
    for (const a of this.addresses) {
      const brd = a.prefixLength < 31 ? ` brd ${formatIPv4(a.broadcast)}` : '';
      lines.push(`    inet ${formatCidr(a)}${brd} scope global ${this.name}`);
    }
    return lines.join('\n');
  }
}
