/**
 * `wirelab stats` and `wirelab impair` (show): every switch port's counters
 * with the link behind it, its impairment in netem's words and the
 * impairment counters; every wirelab stack's counters. Also the target
 * syntax the link-changing verbs share (`node:iface`, `node`, or a network).
 *
 * The netem wording is injected (`formatNetem`, src/link/netem-spec.ts's
 * `formatNetemSpec`), so this file depends on nothing but the lab's view.
 */
import type { ImpairmentOptions, ImpairStats } from '../link/impair.js';
import type { VxlanRemoteStats } from '../link/vxlan.js';
import type { TableUsage } from '../time/index.js';
import { BRIDGE_DROP_REASONS } from '../switch/counters.js';
import { findLink, type LabView, type LinkView } from './lab-view.js';
import { labNodes, linkName, type Table } from './inspect.js';

/** `tc qdisc`-style words for impairment options: `delay 20ms 5ms loss 1%`; '' for none. */
export type FormatNetem = (opts: ImpairmentOptions) => string;

/** The links a target names: `node:iface`, `node` (its only interface), or a network (all its links). */
export function resolveLinks(lab: LabView, target: string): LinkView[] {
  if (!target.includes(':')) {
    const ofNetwork = lab.links().filter((l) => l.network === target);
    if (ofNetwork.length > 0) return ofNetwork;
    if (!lab.links().some((l) => l.node === target)) {
      const nodes = [...new Set(lab.links().map((l) => l.node))].sort();
      const nets = lab.networks().map((n) => n.name);
      throw new Error(`lab ${lab.name} has no node or network "${target}" (nodes: ${nodes.join(', ')}; networks: ${nets.join(', ')})`);
    }
  }
  return [findLink(lab, target)];
}

/** True when the options impair nothing (what `impair --clear` leaves). */
export function isClear(o: ImpairmentOptions): boolean {
  return !(o.delayMs || o.jitterMs || o.loss || o.duplicate || o.reorder || o.rateBitsPerSec || o.gilbertElliott || o.queueLimitFrames || o.queueLimitBytes);
}

export interface ImpairRow {
  link: string;
  network: string;
  /** netem words, '' when clear. */
  netem: string;
  options: ImpairmentOptions;
  stats: ImpairStats;
  heldFrames: number;
}

export function impairRow(l: LinkView, formatNetem: FormatNetem): ImpairRow {
  const options = l.impaired.options;
  return {
    link: linkName(l),
    network: l.network,
    netem: isClear(options) ? '' : formatNetem(options),
    options,
    stats: { ...l.impaired.impairStats },
    heldFrames: l.impaired.heldFrames,
  };
}

function formatImpairStats(s: ImpairStats, held: number): string {
  return `sent ${s.sent} delivered ${s.delivered} lost ${s.lost} duplicated ${s.duplicated} reordered ${s.reordered} queueDrops ${s.queueDrops} held ${held}`;
}

/** The impairment of each link a target names: `web:eth0  netem delay 20ms loss 1%` and its counters. */
export function impairTable(lab: LabView, target: string | undefined, formatNetem: FormatNetem): Table<ImpairRow[]> {
  const links = target === undefined ? [...lab.links()] : resolveLinks(lab, target);
  const rows = links.map((l) => impairRow(l, formatNetem));
  const w = Math.max(4, ...rows.map((r) => r.link.length));
  const text = rows
    .map((r) => `${r.link.padEnd(w)}  ${r.netem === '' ? 'no impairment' : `netem ${r.netem}`}\n${' '.repeat(w)}  ${formatImpairStats(r.stats, r.heldFrames)}\n`)
    .join('');
  return { text, json: rows };
}

// ---------------------------------------------------------------------------

export interface PortStatsRow {
  switch: string;
  port: string;
  /** `node:iface`, or undefined for a port that is no lab link (an uplink). */
  link: string | undefined;
  up: boolean;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  floods: number;
  /** Non-zero drop counters by reason (switch/counters.ts names). */
  drops: Record<string, number>;
  netem: string;
  impair: ImpairStats | undefined;
}

export interface StatsJson {
  ports: PortStatsRow[];
  /** Each wirelab stack's `Stack.stats()`. */
  stacks: Array<{ node: string; stats: Record<string, unknown> }>;
  /** Every bounded table, its size against its limit. */
  tables: TableRow[];
  /** Each VXLAN port: its remotes' counters and its drops by reason (absent without VXLAN). */
  vxlan?: VxlanStatsRow[];
}

export interface VxlanStatsRow {
  network: string;
  port: string;
  vni: number;
  remotes: VxlanRemoteStats[];
  drops: Record<string, number>;
  /** The host socket's send and socket errors. */
  underlay: { sendErrors: number; socketErrors: number };
}

/** One bounded table of a stack (`node`), a switch (`switch <name>`) or a network's services (`network <name>`). */
export interface TableRow extends TableUsage {
  owner: string;
}

/** Every table an outsider can grow, in the lab: each stack's, each switch's FDB, each network's DNS cache and UDP port-map flows. */
export function labTables(lab: LabView): TableRow[] {
  const rows: TableRow[] = [];
  for (const s of lab.stacks()) for (const u of s.stack.tables()) rows.push({ owner: s.name, ...u });
  for (const s of lab.switches()) rows.push({ owner: `switch ${s.name}`, ...s.bridge.fdbUsage() });
  for (const t of lab.serviceTables?.() ?? []) rows.push({ owner: `network ${t.network}`, ...t.usage });
  for (const v of lab.vxlanPorts?.() ?? []) rows.push({ owner: `network ${v.network}`, ...v.port.usage() });
  return rows;
}

/**
 *     OWNER        TABLE         SIZE  LIMIT    REFUSED  EVICTED  LIKE
 *     edge         neighbours       3  1024           0        0  gc_thresh3
 *     edge         reassembly       0  4.0MiB         0        0  ipfrag_high_thresh
 */
function formatTables(rows: readonly TableRow[]): string[] {
  const head = ['OWNER', 'TABLE', 'SIZE', 'LIMIT', 'REFUSED', 'EVICTED', 'LIKE'];
  const amount = (n: number, unit: TableRow['unit']): string => (unit === 'bytes' ? formatBytes(n) : String(n));
  const cells = rows.map((r) => [r.owner, r.table, amount(r.size, r.unit), amount(r.limit, r.unit), String(r.refused), String(r.evicted), r.like]);
  const numeric = new Set([2, 3, 4, 5]);
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k]!.length)));
  const line = (c: string[]): string => c.map((x, k) => (numeric.has(k) ? x.padStart(w[k]!) : x.padEnd(w[k]!))).join('  ').trimEnd();
  return [line(head), ...cells.map(line)];
}

/** Bytes as `ip -h` prints them: 512B, 1.5KiB, 4MiB. */
function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[u]}`;
}

/** Non-zero numeric leaves as `a.b.c=N`. */
function nonZeroLeaves(obj: unknown, prefix: string, out: string[]): void {
  if (typeof obj === 'number') {
    if (obj !== 0) out.push(`${prefix}=${obj}`);
    return;
  }
  if (obj === null || typeof obj !== 'object') return;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) nonZeroLeaves(v, prefix === '' ? k : `${prefix}.${k}`, out);
}

/**
 * Every switch port as one row (ip -s link's numbers, compact):
 *
 *     SWITCH  PORT       LINK      STATE  RX-packets  RX-bytes  TX-packets  TX-bytes  DROPS        NETEM
 *     front   web-eth0   web:eth0  UP             12      1180          10       980  portDown 3   delay 20ms loss 1%
 *
 * then, per impaired link, its impairment counters, per wirelab stack its
 * non-zero counters (`ip.inReceives=12 tcp.activeOpens=1 …`), and every
 * bounded table with its size against its limit.
 */
export function statsTable(lab: LabView, formatNetem: FormatNetem): Table<StatsJson> {
  const ports: PortStatsRow[] = [];
  for (const s of lab.switches()) {
    const counters = s.bridge.allPortCounters();
    for (const p of s.bridge.ports()) {
      const c = counters[p.name]!;
      const l = lab.links().find((x) => x.switch === s.name && x.port === p.name);
      const drops: Record<string, number> = {};
      for (const r of BRIDGE_DROP_REASONS) if (c.drops[r] > 0) drops[r] = c.drops[r];
      const imp = l === undefined ? undefined : impairRow(l, formatNetem);
      ports.push({
        switch: s.name,
        port: p.name,
        link: l === undefined ? undefined : linkName(l),
        up: p.up,
        rxPackets: c.rxFrames,
        rxBytes: c.rxBytes,
        txPackets: c.txFrames,
        txBytes: c.txBytes,
        floods: c.floods,
        drops,
        netem: imp?.netem ?? '',
        impair: imp?.stats,
      });
    }
  }
  const head = ['SWITCH', 'PORT', 'LINK', 'STATE', 'RX-packets', 'RX-bytes', 'TX-packets', 'TX-bytes', 'DROPS', 'NETEM'];
  const numeric = new Set([4, 5, 6, 7]);
  const cells = ports.map((r) => [
    r.switch, r.port, r.link ?? '-', r.up ? 'UP' : 'DOWN',
    String(r.rxPackets), String(r.rxBytes), String(r.txPackets), String(r.txBytes),
    Object.entries(r.drops).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
    r.netem,
  ]);
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k]!.length)));
  const line = (c: string[]): string => c.map((x, k) => (numeric.has(k) ? x.padStart(w[k]!) : x.padEnd(w[k]!))).join('  ').trimEnd();
  const lines = [line(head), ...cells.map(line)];
  const impaired = ports.filter((r) => r.netem !== '' && r.impair !== undefined);
  if (impaired.length > 0) {
    lines.push('', 'impairments:');
    for (const r of impaired) {
      const l = lab.links().find((x) => x.switch === r.switch && x.port === r.port)!;
      lines.push(`  ${r.link}  netem ${r.netem}  ${formatImpairStats(r.impair!, l.impaired.heldFrames)}`);
    }
  }
  const stacks = labNodes(lab).flatMap((n) => (n.kind === 'stack' ? [{ node: n.name, stats: n.stack.stats() }] : []));
  if (stacks.length > 0) {
    lines.push('', 'stacks:');
    for (const s of stacks) {
      const leaves: string[] = [];
      nonZeroLeaves(s.stats, '', leaves);
      lines.push(`  ${s.node}  ${leaves.join(' ') || '(all zero)'}`);
    }
  }
  const vxlan: VxlanStatsRow[] = (lab.vxlanPorts?.() ?? []).map((v) => ({
    network: v.network,
    port: v.port.name,
    vni: v.port.vni,
    remotes: v.port.remotes(),
    drops: { ...v.port.stats.drops },
    underlay: v.port.underlayErrors(),
  }));
  if (vxlan.length > 0) {
    lines.push('', 'vxlan:');
    for (const v of vxlan) {
      const drops = Object.entries(v.drops).map(([k, n]) => `${k} ${n}`).join(', ') || '0';
      lines.push(`  ${v.network}  ${v.port}  vni ${v.vni}  drops ${drops}  socket errors ${v.underlay.sendErrors + v.underlay.socketErrors}`);
      for (const r of v.remotes) lines.push(`    remote ${r.address}:${r.port}  tx ${r.txFrames} packets ${r.txBytes} bytes  rx ${r.rxFrames} packets ${r.rxBytes} bytes`);
    }
  }
  const tables = labTables(lab);
  if (tables.length > 0) lines.push('', 'tables:', ...formatTables(tables).map((l) => `  ${l}`));
  return { text: lines.join('\n') + '\n', json: { ports, stacks, tables, ...(vxlan.length > 0 ? { vxlan } : {}) } };
}
