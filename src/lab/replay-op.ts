/**
 * The control socket's `replay` operation: a pcap or pcapng file played into
 * a running lab's switch (src/link/replay.ts), and what the lab made of it.
 *
 * Semantics: the frames ENTER THE SWITCH as if the target had sent them.
 * For `node:iface` (or `node`, its only interface) they are received on the
 * switch port that interface is plugged into — counted, mirrored into
 * captures, learned and forwarded (`Bridge.receiveAs`) exactly like frames
 * the node sent — so they reach whatever the switch forwards them to: other
 * nodes, the gateway's stack, captures. The node itself does not see them
 * (they come from its side of the cable). `switch:PORT` names a switch port
 * directly (a trunk or an uplink with no node behind it); a node name wins
 * over a switch of the same name. Without a target, the lab's only link.
 * As on a real switch, a replayed frame whose source is another station
 * (the inbound half of a capture of that link) moves that station's FDB
 * entry to the target's port until the station is heard again, and frames
 * toward the target's own node are dropped there as 'sameSegment'.
 *
 * The file is read by the lab (a path on its host: the CLI sends an
 * absolute one). It must be readable as a capture before anything plays;
 * one cut short plays its complete frames and names the fault. Pace
 * `recorded` (default), `scaled` (gaps × scale; a scale alone implies it)
 * or `max` (64 frames per tick), on the lab's clock. `direction: 'out'`
 * plays only the frames a pcapng marks as sent by the captured interface
 * (`wirelab capture` marks them as the node sees them): replaying a capture
 * of web:eth0 into web:eth0 with 'out' is web speaking again, without the
 * inbound half that would move the other stations' FDB entries.
 *
 * The answer (once everything has played, and 50 ms of the lab's clock
 * later so frames on a pipe have arrived): what was played and skipped; the
 * change of every switch port's counters during the replay (the ingress
 * port's rx grows by the frames played); and what was refused — each
 * switch drop reason and each wirelab stack's drop counter (`Stack.stats()`:
 * every `drops` record and ARP's `refused*`, named `ip.oversize`,
 * `eth0.runt`, `arp.refusedSenderAddress`) that grew. Deltas cover the
 * replay's time: other traffic of the lab in that time counts too.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { createReplayPort, REPLAY_DIRECTIONS, REPLAY_PACES, type ReplayDirection, type ReplayPace, type ReplayStats } from '../link/replay.js';
import type { RxBatch } from '../link/port.js';
import { Timer } from '../time/index.js';
import { BRIDGE_DROP_REASONS, TX_DROP_REASONS, type BridgePortCounters } from '../switch/counters.js';
import type { Bridge } from '../switch/bridge.js';
import { findLink, type LabView } from './lab-view.js';
import { linkName, type Table } from './inspect.js';

export interface ReplayRequest {
  v: number;
  op: 'replay';
  /** `node:iface`, `node` (its only interface) or `switch:PORT`; default the lab's only link. */
  target?: string;
  /** Absolute path of a pcap or pcapng file on the lab's host. */
  file: string;
  /** Default 'recorded' ('scaled' when only a scale is given). */
  pace?: ReplayPace;
  scale?: number;
  /** Only frames a pcapng marks as sent ('out') or received ('in') by the captured interface; default 'all'. */
  direction?: ReplayDirection;
}

/** How one switch port's counters changed during the replay (only what moved). */
export interface PortDelta {
  switch: string;
  port: string;
  /** `node:iface`, undefined for a port with no lab link. */
  link: string | undefined;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  floods: number;
  drops: Record<string, number>;
}

/** Frames dropped with a named reason during the replay. */
export interface Refusal {
  /** `switch front port web-eth0 (web:eth0)` or a stack's name (`front-gw`). */
  where: string;
  /** A bridge drop reason (switch/counters.ts) or a stack counter (`ip.oversize`, `eth0.runt`). */
  reason: string;
  frames: number;
}

export interface ReplayResult {
  target: string;
  switch: string;
  port: string;
  file: string;
  pace: ReplayPace;
  scale: number;
  /** Ethernet frames in the file, played, their bytes; other link types skipped. */
  frames: number;
  played: number;
  bytes: number;
  skipped: number;
  skippedLinkTypes: Record<string, number>;
  direction: ReplayDirection;
  /** Frames of the other direction, not played. */
  skippedDirection: number;
  /** Where the file stopped being readable, if it did. */
  fault: string | undefined;
  /** The ingress port's change (rx counts what the switch took in). */
  ingress: PortDelta;
  /** Every port whose counters moved. */
  ports: PortDelta[];
  refused: Refusal[];
  /** Sum of `refused`. */
  refusedFrames: number;
}

/** Lab clock milliseconds to wait after the last frame before reading counters. */
export const REPLAY_SETTLE_MS = 50;

interface Target {
  name: string;
  bridge: Bridge;
  switch: string;
  port: string;
}

function resolveTarget(lab: LabView, target: string | undefined): Target {
  if (target === undefined || target === '') {
    const links = lab.links();
    if (links.length !== 1) throw new Error(`replay needs a target: node:iface or switch:PORT (links: ${links.map(linkName).join(', ')})`);
    const l = links[0]!;
    return { name: linkName(l), bridge: l.bridge, switch: l.switch, port: l.port };
  }
  const [left, right] = target.split(':', 2) as [string, string | undefined];
  const sw = lab.switches().find((s) => s.name === left);
  if (sw !== undefined && right !== undefined && !lab.links().some((l) => l.node === left)) {
    const ports = sw.bridge.ports().map((p) => p.name);
    if (!ports.includes(right)) throw new Error(`switch ${left} has no port ${right} (ports: ${ports.join(', ')})`);
    const l = lab.links().find((x) => x.switch === left && x.port === right);
    return { name: l === undefined ? target : linkName(l), bridge: sw.bridge, switch: left, port: right };
  }
  const l = findLink(lab, target);
  return { name: linkName(l), bridge: l.bridge, switch: l.switch, port: l.port };
}

function snapshotPorts(lab: LabView): Map<string, BridgePortCounters> {
  const out = new Map<string, BridgePortCounters>();
  for (const s of lab.switches()) {
    for (const [port, c] of Object.entries(s.bridge.allPortCounters())) out.set(`${s.name}\0${port}`, c);
  }
  return out;
}

/** A stack's refusal counters, flat: every `drops` record (`ip.oversize`, `eth0.runt`, `tcp.noSocket`) and ARP's `refused*`. */
export function stackDropCounters(stats: Record<string, unknown>): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (obj: unknown, path: string[]): void => {
    if (obj === null || typeof obj !== 'object') return;
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (k === 'drops' && v !== null && typeof v === 'object') {
        const where = path.filter((p) => p !== 'interfaces').join('.');
        for (const [reason, n] of Object.entries(v as Record<string, unknown>)) {
          if (typeof n === 'number') out.set(where === '' ? reason : `${where}.${reason}`, n);
        }
      } else if (typeof v === 'number' && k.startsWith('refused')) {
        out.set([...path, k].join('.'), v);
      } else {
        walk(v, [...path, k]);
      }
    }
  };
  walk(stats, []);
  return out;
}

function snapshotStacks(lab: LabView): Map<string, Map<string, number>> {
  return new Map(lab.stacks().map((s) => [s.name, stackDropCounters(s.stack.stats())]));
}

function portDelta(sw: string, port: string, link: string | undefined, a: BridgePortCounters | undefined, b: BridgePortCounters): PortDelta {
  const drops: Record<string, number> = {};
  for (const r of BRIDGE_DROP_REASONS) {
    const d = b.drops[r] - (a?.drops[r] ?? 0);
    if (d !== 0) drops[r] = d;
  }
  return {
    switch: sw,
    port,
    link,
    rxFrames: b.rxFrames - (a?.rxFrames ?? 0),
    rxBytes: b.rxBytes - (a?.rxBytes ?? 0),
    txFrames: b.txFrames - (a?.txFrames ?? 0),
    txBytes: b.txBytes - (a?.txBytes ?? 0),
    floods: b.floods - (a?.floods ?? 0),
    drops,
  };
}

function moved(d: PortDelta): boolean {
  return d.rxFrames !== 0 || d.txFrames !== 0 || d.floods !== 0 || Object.keys(d.drops).length > 0;
}

/** Plays `req.file` into the lab's switch and answers with what was accepted and refused. */
export async function replayIntoLab(lab: LabView, req: ReplayRequest): Promise<Table<ReplayResult>> {
  if (typeof req.file !== 'string' || req.file === '') throw new Error('replay needs a file: the path of a pcap or pcapng capture');
  if (!isAbsolute(req.file)) throw new Error(`replay needs an absolute path (the lab reads it), got ${req.file}`);
  if (req.pace !== undefined && !REPLAY_PACES.includes(req.pace)) throw new Error(`replay pace ${String(req.pace)} is not one of ${REPLAY_PACES.join(', ')}`);
  if (req.scale !== undefined && typeof req.scale !== 'number') throw new Error(`replay scale must be a number, got ${JSON.stringify(req.scale)}`);
  if (req.direction !== undefined && !REPLAY_DIRECTIONS.includes(req.direction)) {
    throw new Error(`replay direction ${String(req.direction)} is not one of ${REPLAY_DIRECTIONS.join(', ')}`);
  }
  const direction = req.direction ?? 'all';
  const pace: ReplayPace = req.pace === undefined || req.pace === 'recorded' ? (req.scale !== undefined ? 'scaled' : 'recorded') : req.pace;
  const t = resolveTarget(lab, req.target);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(req.file);
  } catch (e) {
    throw new Error(`replay cannot read ${req.file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const clock = t.bridge.clock;
  const port = createReplayPort(bytes, { clock, name: `replay:${t.name}`, pace, direction, ...(req.scale !== undefined ? { scale: req.scale } : {}) });
  if (port instanceof Error) throw new Error(`${req.file}: ${port.message}`);

  const ports0 = snapshotPorts(lab);
  const stacks0 = snapshotStacks(lab);
  port.onReceive = (batch: RxBatch) => t.bridge.receiveAs(t.port, batch);
  const stats: ReplayStats = await port.start();
  await new Promise<void>((resolve) => new Timer(clock.timers, resolve).arm(REPLAY_SETTLE_MS));

  const ports1 = snapshotPorts(lab);
  const deltas: PortDelta[] = [];
  const refused: Refusal[] = [];
  for (const s of lab.switches()) {
    for (const p of s.bridge.ports()) {
      const key = `${s.name}\0${p.name}`;
      const l = lab.links().find((x) => x.switch === s.name && x.port === p.name);
      const d = portDelta(s.name, p.name, l === undefined ? undefined : linkName(l), ports0.get(key), ports1.get(key)!);
      if (!moved(d) && !(s.name === t.switch && p.name === t.port)) continue;
      deltas.push(d);
      for (const [reason, n] of Object.entries(d.drops)) {
        if (n > 0) refused.push({ where: `switch ${s.name} port ${p.name}${d.link !== undefined ? ` (${d.link})` : ''}${TX_DROP_REASONS.has(reason as never) ? ' tx' : ''}`, reason, frames: n });
      }
    }
  }
  for (const s of lab.stacks()) {
    const before = stacks0.get(s.name);
    for (const [reason, n] of stackDropCounters(s.stack.stats())) {
      const d = n - (before?.get(reason) ?? 0);
      if (d > 0) refused.push({ where: s.name, reason, frames: d });
    }
  }
  const ingress = deltas.find((d) => d.switch === t.switch && d.port === t.port)!;
  const json: ReplayResult = {
    target: t.name,
    switch: t.switch,
    port: t.port,
    file: req.file,
    pace,
    scale: port.scale,
    frames: stats.frames,
    played: stats.framesPlayed,
    bytes: stats.bytesPlayed,
    skipped: stats.skipped,
    skippedLinkTypes: stats.skippedLinkTypes,
    direction,
    skippedDirection: stats.skippedDirection,
    fault: stats.fault,
    ingress,
    ports: deltas,
    refused,
    refusedFrames: refused.reduce((n, r) => n + r.frames, 0),
  };
  return { text: formatReplay(json), json };
}

/** The answer as a person reads it. */
export function formatReplay(r: ReplayResult): string {
  const lines: string[] = [];
  const paceText = r.pace === 'scaled' ? `scaled ×${r.scale}` : r.pace;
  lines.push(`replayed ${r.played} of ${r.frames} frames (${r.bytes} bytes) into ${r.target} (port ${r.port} of ${r.switch}), pace ${paceText}`);
  if (r.skipped > 0) {
    lines.push(`skipped ${r.skipped} frames of other link types: ${Object.entries(r.skippedLinkTypes).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  if (r.skippedDirection > 0) lines.push(`skipped ${r.skippedDirection} frames the capture marks ${r.direction === 'out' ? 'received (in)' : 'sent (out)'}`);
  if (r.fault !== undefined) lines.push(`the file stops being readable there: ${r.fault}`);
  lines.push(`switch ${r.switch} took in ${r.ingress.rxFrames} frames on ${r.port} (${r.ingress.floods} flooded)`);
  const w = Math.max(4, ...r.ports.map((p) => (p.link ?? p.port).length));
  lines.push('', `${'PORT'.padEnd(w)}  ${'RX'.padStart(6)}  ${'TX'.padStart(6)}  DROPS`);
  for (const p of r.ports) {
    const drops = Object.entries(p.drops).map(([k, n]) => `${k} ${n}`).join(' ');
    lines.push(`${(p.link ?? p.port).padEnd(w)}  ${String(p.rxFrames).padStart(6)}  ${String(p.txFrames).padStart(6)}  ${drops}`.trimEnd());
  }
  lines.push('');
  if (r.refused.length === 0) lines.push('refused: none');
  else {
    lines.push(`refused: ${r.refusedFrames} frames`);
    for (const x of r.refused) lines.push(`  ${x.where}: ${x.reason} ${x.frames}`);
  }
  return lines.join('\n') + '\n';
}
