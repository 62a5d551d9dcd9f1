/**
 * NAT port choice (Linux's nf_nat_l4proto_unique_tuple): keep the flow's own
 * source port (or ICMP identifier) when the translated tuple is unused and
 * the port is in range; otherwise scan the range from a point derived from
 * the flow, and take the first port whose reply tuple no entry holds.
 * Ports are unique per (remote address, remote port, NAT address), as in
 * Linux, so one NAT port serves many destinations.
 */
import { IP_PROTOCOL } from '../wire/ipv4.js';
import type { ConnEntry } from './entry.js';
import type { ConntrackTable } from './table.js';

export type PortRange = readonly [number, number];

/** Linux's MASQUERADE default ranges when none is configured: keep the port's class. */
export function defaultRange(protocol: number, port: number): PortRange {
  if (protocol === IP_PROTOCOL.ICMP) return [0, 65535];
  if (port < 512) return [1, 511];
  if (port < 1024) return [600, 1023];
  return [1024, 65535];
}

/** True when the reply tuple (remote -> natAddr:port) is free, or held by `self`. */
function free(table: ConntrackTable, e: ConnEntry, natAddr: number, port: number): boolean {
  const r = e.reply;
  const n = e.protocol === IP_PROTOCOL.ICMP
    ? table.lookup(e.protocol, r.src, natAddr, port, r.dport)
    : table.lookup(e.protocol, r.src, natAddr, r.sport, port);
  return n === null || n.entry === e;
}

/**
 * The NAT port for `e`'s flow seen from `natAddr`: `preferred` when free and
 * in `range`, else a free port of `range`; -1 when every port is taken.
 */
export function choosePort(table: ConntrackTable, e: ConnEntry, natAddr: number, preferred: number, range: PortRange): number {
  const [lo, hi] = range;
  if (preferred >= lo && preferred <= hi && free(table, e, natAddr, preferred)) return preferred;
  const size = hi - lo + 1;
  // A start point that differs per flow, so concurrent flows do not all probe the same ports.
  const r = e.reply;
  let start = Math.imul((r.src ^ natAddr) + r.sport * 65599 + preferred * 31 + e.id, 0x9e3779b1) >>> 0;
  start %= size;
  for (let i = 0; i < size; i++) {
    const port = lo + ((start + i) % size);
    if (free(table, e, natAddr, port)) return port;
  }
  return -1;
}
