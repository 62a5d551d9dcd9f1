/**
 * Per-port counters of the bridge, and their `ip -s link`-style table.
 *
 * Hand-written: a handful of numbers and a text layout; the point is that the
 * names of the drop reasons are fixed here, once, so the bridge, the CLI and
 * the tests all speak of the same `taggedOnAccess` or `sameSegment`.
 *
 * Counters are the bridge's view of a port (frames the bridge took from it
 * and handed to it), separate from the `Port.stats` the port keeps itself.
 * Every reason is present from the start, at 0, so the object keeps one shape
 * and its JSON always has the same keys.
 */
import type { PortVlanConfig } from './vlan.js';

/**
 * Why a frame was dropped. Receive-side reasons are counted on the port the
 * frame came in on; transmit-side ones (TX_DROP_REASONS) on the port it
 * would have gone out of.
 */
export const BRIDGE_DROP_REASONS = [
  /** Shorter than an Ethernet header (14 bytes), or than its 802.1Q tag (18). */
  'runt',
  /** Source MAC with the group bit set: no station sends from a multicast address. */
  'multicastSource',
  /** Destination learned on the port the frame came in on: it is already on that segment. */
  'sameSegment',
  /** A VLAN-tagged frame (other than priority-tagged, VID 0), or an 802.1ad/0x9100 frame, on an access port. */
  'taggedOnAccess',
  /** An untagged or priority-tagged frame on a trunk without a native VLAN. */
  'untaggedOnTrunk',
  /** A tagged frame on a trunk whose VID is not in the allowed list. */
  'vlanNotAllowed',
  /** An 802.1ad (0x88a8) or 0x9100 outer tag on a trunk: this is an 802.1Q (C-VLAN) bridge. */
  'unsupportedTpid',
  /** A priority tag (VID 0) with another VLAN tag behind it, on a trunk: its VLAN is ambiguous. */
  'stackedTag',
  /** Link-local group address 01:80:c2:00:00:01..0f (pause, LACP, 802.1X, LLDP): never forwarded. */
  'linkLocal',
  /** Arrived while the port was down. */
  'portDown',
  /** Destination known on a port that is down (a static entry). */
  'egressDown',
  /** TX: the egress port refused the frame (`send` returned false; the port's own stats say why). */
  'txFailed',
  /** TX: would leave untagged, but removing its tag exposes another VLAN tag. */
  'innerTagExposed',
] as const;

export type BridgeDropReason = (typeof BRIDGE_DROP_REASONS)[number];

export const TX_DROP_REASONS: ReadonlySet<BridgeDropReason> = new Set<BridgeDropReason>(['txFailed', 'innerTagExposed']);

export interface BridgePortCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames received on this port that were flooded (unknown unicast, broadcast, multicast). */
  floods: number;
  drops: Record<BridgeDropReason, number>;
}

export function newBridgePortCounters(): BridgePortCounters {
  const drops = {} as Record<BridgeDropReason, number>;
  for (const r of BRIDGE_DROP_REASONS) drops[r] = 0;
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, floods: 0, drops };
}

/** A deep copy, safe to keep or serialise while the bridge keeps counting. */
export function copyBridgePortCounters(c: BridgePortCounters): BridgePortCounters {
  return { ...c, drops: { ...c.drops } };
}

export function rxDropped(c: BridgePortCounters): number {
  let n = 0;
  for (const r of BRIDGE_DROP_REASONS) if (!TX_DROP_REASONS.has(r)) n += c.drops[r];
  return n;
}

export function txDropped(c: BridgePortCounters): number {
  let n = 0;
  for (const r of TX_DROP_REASONS) n += c.drops[r];
  return n;
}

/** `access vlan 10`, `trunk vlans 10,20 native 1`. */
export function formatVlanConfig(v: PortVlanConfig): string {
  if (v.mode === 'access') return `access vlan ${v.pvid}`;
  const list = [...v.allowed].sort((a, b) => a - b).join(',');
  return `trunk vlans ${list === '' ? 'none' : list}${v.native === undefined ? '' : ` native ${v.native}`}`;
}

export interface PortCounterRow {
  name: string;
  up: boolean;
  vlan: PortVlanConfig;
  counters: BridgePortCounters;
}

/**
 * Like `ip -s link`:
 *
 *     1: port1: <UP> master br0 access vlan 10
 *         RX:  bytes packets  floods dropped
 *               640      10       3       1
 *         TX:  bytes packets dropped
 *               640      10       0
 *         drops: taggedOnAccess 1
 */
export function formatCounterTable(bridgeName: string, rows: readonly PortCounterRow[]): string {
  const lines: string[] = [];
  rows.forEach((row, i) => {
    const c = row.counters;
    lines.push(`${i + 1}: ${row.name}: <${row.up ? 'UP' : 'DOWN'}> master ${bridgeName} ${formatVlanConfig(row.vlan)}`);
    lines.push(`    RX: ${cols(['bytes', 'packets', 'floods', 'dropped'])}`);
    lines.push(`        ${cols([c.rxBytes, c.rxFrames, c.floods, rxDropped(c)])}`);
    lines.push(`    TX: ${cols(['bytes', 'packets', 'dropped'])}`);
    lines.push(`        ${cols([c.txBytes, c.txFrames, txDropped(c)])}`);
    const reasons = BRIDGE_DROP_REASONS.filter((r) => c.drops[r] > 0).map((r) => `${r} ${c.drops[r]}`);
    if (reasons.length > 0) lines.push(`    drops: ${reasons.join(', ')}`);
  });
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}

/** Right-aligned columns like iproute2's: the first 6 wide, the others 8 (wider when a number needs it). */
function cols(values: ReadonlyArray<string | number>): string {
  return values.map((v, i) => String(v).padStart(i === 0 ? 6 : 8)).join('');
}
