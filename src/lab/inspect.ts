/**
 * The tables a running lab answers with (`wirelab fdb|arp|routes|sockets`;
 * `stats` is in inspect-stats.ts): each one a text in the words of the tool
 * a user already reads — `bridge fdb show`, `ip neigh`, `ip route`, `ss -tuan`
 * — and the same rows as JSON (in the shape of that tool's `-j` where it has
 * one).
 *
 * Functions over a `LabView` only: wirelab stacks are read directly; a
 * container is asked through its `Container` (`ip -j neigh`, `ip -j route`,
 * `ss -tuanH` inside its namespace), and its JSON is turned into the same
 * text as a stack's, so a table reads the same whichever kind a node is.
 *
 * Several nodes in one table: a `# NODE (kind)` line before each node's
 * lines, which are the tool's lines unchanged (grep-able, diff-able against
 * the real tool's).
 *
 * Hand-written: a few formatters; the numbers are the stacks' own.
 */
import { formatMac } from '../wire/address.js';
import type { Stack } from '../stack.js';
import type { Container } from './netns.js';
import type { LabView, LinkView } from './lab-view.js';

/** A table as text and as JSON. */
export interface Table<J> {
  text: string;
  json: J;
}

/** One node of a lab, as the per-node tables see it. */
export type LabNode =
  | { readonly name: string; readonly kind: 'stack'; readonly stack: Stack }
  | { readonly name: string; readonly kind: 'container'; readonly container: Container };

/** Every node of the lab (stacks, then containers), or only `only`; an unknown name is an error naming the nodes. */
export function labNodes(lab: LabView, only?: string): LabNode[] {
  const all: LabNode[] = [
    ...lab.stacks().map((s) => ({ name: s.name, kind: 'stack' as const, stack: s.stack })),
    ...lab.containers().map((c) => ({ name: c.name, kind: 'container' as const, container: c.container })),
  ];
  if (only === undefined) return all;
  const n = all.filter((x) => x.name === only);
  if (n.length === 0) throw new Error(`lab ${lab.name} has no node "${only}" (nodes: ${all.map((x) => x.name).sort().join(', ')})`);
  return n;
}

function nodeHeader(n: LabNode): string {
  return n.kind === 'stack' ? `# ${n.name} (wirelab stack)` : `# ${n.name} (container, netns ${n.container.name})`;
}

/** Sections `# node (kind)` + lines, a blank line between nodes. */
function sections(parts: ReadonlyArray<{ node: LabNode; lines: string[] }>): string {
  return parts.map((p) => [nodeHeader(p.node), ...(p.lines.length > 0 ? p.lines : ['(empty)'])].join('\n')).join('\n\n') + '\n';
}

async function inContainer(c: Container, argv: string[]): Promise<string> {
  const r = await c.exec(argv, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${c.name} failed: ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------
// fdb

/** One entry as `bridge -j fdb show` prints it, plus the link (`web:eth0`) behind the port and its age. */
export interface FdbRow {
  mac: string;
  ifname: string;
  link: string | undefined;
  vlan: number;
  master: string;
  state: '' | 'permanent';
  ageMs: number;
}

function linkOfPort(lab: LabView, sw: string, port: string): LinkView | undefined {
  return lab.links().find((l) => l.switch === sw && l.port === port);
}

/** `bridge fdb show` for every switch of the lab: `MAC dev PORT vlan N master SWITCH [permanent]`. */
export function fdbTable(lab: LabView, opts: { switch?: string } = {}): Table<FdbRow[]> {
  const switches = lab.switches();
  if (opts.switch !== undefined && !switches.some((s) => s.name === opts.switch)) {
    throw new Error(`lab ${lab.name} has no switch "${opts.switch}" (switches: ${switches.map((s) => s.name).join(', ')})`);
  }
  const rows: FdbRow[] = [];
  for (const s of switches) {
    if (opts.switch !== undefined && s.name !== opts.switch) continue;
    for (const e of s.bridge.fdbEntries()) {
      const l = linkOfPort(lab, s.name, e.port);
      rows.push({
        mac: formatMac(e.mac),
        ifname: e.port,
        link: l === undefined ? undefined : linkName(l),
        vlan: e.vid,
        master: s.name,
        state: e.static ? 'permanent' : '',
        ageMs: e.ageMs,
      });
    }
  }
  const text = rows.map((r) => `${r.mac} dev ${r.ifname} vlan ${r.vlan} master ${r.master}${r.state === '' ? '' : ` ${r.state}`}\n`).join('');
  return { text, json: rows };
}

export function linkName(l: LinkView): string {
  return `${l.node}:${l.iface}`;
}

// ---------------------------------------------------------------------------
// arp

/** One neighbour as `ip -j neigh` prints it. */
export interface NeighRow {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
  router?: true;
}

export interface NodeTable<R> {
  node: string;
  kind: 'stack' | 'container';
  rows: R[];
}

/** `ip neigh show` line. */
export function formatNeigh(r: NeighRow): string {
  return `${r.dst} dev ${r.dev}${r.lladdr !== undefined ? ` lladdr ${r.lladdr}` : ''}${r.router ? ' router' : ''} ${r.state.join(' ')}`;
}

async function neighRows(n: LabNode): Promise<NeighRow[]> {
  if (n.kind === 'stack') return n.stack.neighbours.toJSON().map((e) => ({ ...e, state: [...e.state] }));
  const list = await n.container.neighbours();
  return list.map((e) => ({
    dst: e.address,
    dev: e.dev,
    ...(e.mac !== undefined ? { lladdr: e.mac } : {}),
    state: e.state,
    ...(e.router ? { router: true as const } : {}),
  }));
}

/** Each node's neighbour table, as `ip neigh show`: `ADDR dev IFACE lladdr MAC STATE`. */
export async function arpTable(lab: LabView, opts: { node?: string } = {}): Promise<Table<Array<NodeTable<NeighRow>>>> {
  const nodes = labNodes(lab, opts.node);
  const json = await Promise.all(nodes.map(async (n) => ({ node: n.name, kind: n.kind, rows: await neighRows(n) })));
  return { text: sections(nodes.map((n, i) => ({ node: n, lines: json[i]!.rows.map(formatNeigh) }))), json };
}

// ---------------------------------------------------------------------------
// routes

/** One route as `ip -j route` prints it. */
export interface RouteRow {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags: string[];
}

/** `ip route show` line, from `ip -j route` JSON (the kernel's or a stack's). */
export function formatRouteRow(r: RouteRow): string {
  let s = r.dst;
  if (r.gateway !== undefined) s += ` via ${r.gateway}`;
  s += ` dev ${r.dev}`;
  if (r.protocol !== undefined && r.protocol !== 'boot') s += ` proto ${r.protocol}`;
  if (r.scope !== undefined && r.scope !== 'global') s += ` scope ${r.scope}`;
  if (r.prefsrc !== undefined) s += ` src ${r.prefsrc}`;
  if (r.metric !== undefined && r.metric !== 0) s += ` metric ${r.metric}`;
  for (const f of r.flags) s += ` ${f}`;
  return s;
}

async function routeRows(n: LabNode): Promise<RouteRow[]> {
  if (n.kind === 'stack') return n.stack.routes.toJSON();
  const out = (await inContainer(n.container, ['ip', '-j', 'route', 'show'])).trim();
  return out === '' ? [] : (JSON.parse(out) as RouteRow[]);
}

/** Each node's routes, as `ip route show`. */
export async function routesTable(lab: LabView, opts: { node?: string } = {}): Promise<Table<Array<NodeTable<RouteRow>>>> {
  const nodes = labNodes(lab, opts.node);
  const json = await Promise.all(nodes.map(async (n) => ({ node: n.name, kind: n.kind, rows: await routeRows(n) })));
  return { text: sections(nodes.map((n, i) => ({ node: n, lines: json[i]!.rows.map(formatRouteRow) }))), json };
}

// ---------------------------------------------------------------------------
// sockets

/** One socket as `ss -tuan` lists it. */
export interface SocketRow {
  netid: 'tcp' | 'udp';
  state: string;
  recvQ: number;
  sendQ: number;
  /** `address:port`. */
  local: string;
  /** `address:port`, `0.0.0.0:*` when unconnected. */
  peer: string;
}

function stackSockets(s: Stack): SocketRow[] {
  const rows: SocketRow[] = [];
  // ss's order: tcp then udp; listeners before connections.
  for (const l of s.tcpLayer.listening()) {
    rows.push({ netid: 'tcp', state: 'LISTEN', recvQ: l.synQueue, sendQ: l.backlog, local: `${l.address}:${l.port}`, peer: '0.0.0.0:*' });
  }
  for (const c of s.tcpLayer.connections()) {
    rows.push({
      netid: 'tcp',
      state: c.state,
      recvQ: c.receiveQueue,
      sendQ: c.sendQueue,
      local: `${c.localAddress}:${c.localPort}`,
      peer: `${c.remoteAddress}:${c.remotePort}`,
    });
  }
  for (const u of s.udp.sockets()) {
    rows.push({
      netid: 'udp',
      state: u.state,
      recvQ: u.recvQ,
      sendQ: u.sendQ,
      local: `${u.local.address}:${u.local.port}`,
      peer: u.remote === undefined ? '0.0.0.0:*' : `${u.remote.address}:${u.remote.port}`,
    });
  }
  return rows;
}

/** Parses `ss -tuanH` output (Netid State Recv-Q Send-Q Local Peer [Process]). */
export function parseSs(text: string): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || (f[0] !== 'tcp' && f[0] !== 'udp')) continue;
    rows.push({ netid: f[0], state: f[1]!, recvQ: Number(f[2]), sendQ: Number(f[3]), local: f[4]!, peer: f[5]! });
  }
  return rows;
}

async function socketRows(n: LabNode): Promise<SocketRow[]> {
  if (n.kind === 'stack') return stackSockets(n.stack);
  return parseSs(await inContainer(n.container, ['ss', '-tuanH']));
}

/** `ss -tuan` columns: Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port (addresses right-aligned, ports left). */
export function formatSocketRows(rows: readonly SocketRow[]): string[] {
  const split = (ap: string): [string, string] => {
    const i = ap.lastIndexOf(':');
    return i < 0 ? [ap, ''] : [ap.slice(0, i), ap.slice(i + 1)];
  };
  const cells = rows.map((r) => [r.netid, r.state, String(r.recvQ), String(r.sendQ), ...split(r.local), ...split(r.peer)]);
  const head = ['Netid', 'State', 'Recv-Q', 'Send-Q', 'Local Address', 'Port', 'Peer Address', 'Port'];
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k]!.length)));
  const line = (c: string[]): string =>
    [c[0]!.padEnd(w[0]!), c[1]!.padEnd(w[1]!), c[2]!.padEnd(w[2]!), c[3]!.padEnd(w[3]!), `${c[4]!.padStart(w[4]!)}:${c[5]!.padEnd(w[5]!)}`, `${c[6]!.padStart(w[6]!)}:${c[7]!}`]
      .join(' ')
      .trimEnd();
  return [line(head), ...cells.map(line)];
}

/** Each node's TCP and UDP sockets, as `ss -tuan`. */
export async function socketsTable(lab: LabView, opts: { node?: string } = {}): Promise<Table<Array<NodeTable<SocketRow>>>> {
  const nodes = labNodes(lab, opts.node);
  const json = await Promise.all(nodes.map(async (n) => ({ node: n.name, kind: n.kind, rows: await socketRows(n) })));
  return { text: sections(nodes.map((n, i) => ({ node: n, lines: formatSocketRows(json[i]!.rows) }))), json };
}
