/**
 * Bringing a lab up from its model, as `docker compose up` does: every
 * network becomes a `BridgeNetwork` (wirelab switch, gateway, DNS), every
 * service a container on it — started after what it depends on (started, or
 * healthy by its healthcheck), its command running inside with its
 * environment, its ports published (proxy mode, 127.0.0.1 unless written).
 * `down()` removes everything in reverse, and is safe to call twice.
 *
 * The CLI (`wirelab up`) only parses flags and prints; this file does the
 * work, and reports progress through a callback so a test, a TTY and a log
 * each show it their own way.
 */
/**
 * Bringing a lab up from its model, as `docker compose up` does, plus what
 * compose has no words for:
 *
 *   1. switches shared by several networks (one VLAN each) and the trunk
 *      cables between them;
 *   2. routers (wirelab hosts forwarding between networks, masquerading out
 *      of their uplink); a router is the gateway of each network it joins
 *      at the gateway address;
 *   3. networks: each a `BridgeNetwork` (switch, gateway, DNS), with a
 *      VXLAN port on a host UDP socket when it spans machines (`vxlan:`);
 *   4. hosts: wirelab stacks running a Node script (the Node net/http API on
 *      wirelab TCP), in this process;
 *   5. services: containers, started after what they depend on (started, or
 *      healthy by their healthcheck), each command running inside with its
 *      environment and its output kept for `wirelab logs`;
 *   6. published ports (proxy mode, 127.0.0.1 unless written), impairments
 *      (tc-netem words on the switch port toward a node), captures.
 *
 * Every name resolves on every network's DNS: at the node's address on that
 * network, or else at its first address (reached through a router).
 * `down()` removes everything in reverse, and is safe to call twice.
 *
 * The CLI (`wirelab up`) only parses flags and prints; this file does the
 * work, and reports progress through a callback so a test, a TTY and a log
 * each show it their own way.
 */
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileCaptureFilter } from '../../link/capture-filter.js';
import { parseNetemSpec } from '../../link/netem-spec.js';
import { createPipe } from '../../link/pipe.js';
import type { Port } from '../../link/port.js';
import type { VxlanPort } from '../../link/vxlan.js';
import { PcapngWriter } from '../../link/pcap.js';
import { Stack } from '../../stack.js';
import { Bridge } from '../../switch/bridge.js';
import { openPacketPort, type PacketPort } from '../../link/packet-port.js';
import { RealClock, type TableUsage } from '../../time/index.js';
import { Lab } from '../lab.js';
import type { LabView, LinkView, NetworkView } from '../lab-view.js';
import { findLink } from '../lab-view.js';
import type { Container } from '../netns.js';
import type { ContainerProcess } from '../process.js';
import { BridgeNetwork, type SwitchRef } from '../network.js';
import { stateDir } from '../registry.js';
import { openVxlanPort } from '../vxlan-link.js';
import type { AttachmentModel, LabModel, ServiceModel } from './model.js';

export type ServiceStatus = 'created' | 'running' | 'healthy' | 'unhealthy' | 'exited';

/** One node as `wirelab up` / `ps` show it. */
export interface ServiceRow {
  name: string;
  /** 'service' (a container), 'host' (a wirelab host running a script) or 'router'. */
  kind?: 'service' | 'host' | 'router';
  /** Its networks, comma-separated in interface order. */
  network: string;
  /** Its addresses, comma-separated in interface order (the first is what pingall and DNS use). */
  address: string;
  /** The VLAN of each network on a shared switch, comma-separated in interface order ('' when none is). */
  vlans?: string;
  /** The container's namespace ('' for a wirelab host or router). */
  namespace: string;
  status: ServiceStatus;
  ports: string[];
}

export interface UpOptions {
  /** Called with one line per step ("network front created", "service web started"). */
  progress?: (line: string) => void;
  /** How long a `service_healthy` dependency may take. Default 60 s. */
  healthTimeoutMs?: number;
}

interface RunningService {
  model: ServiceModel;
  networks: BridgeNetwork[];
  container: Container;
  addresses: string[];
  process: ContainerProcess | undefined;
  status: ServiceStatus;
}

/** What a host's script module exports as default. */
export type HostScript = (ctx: { stack: Stack; name: string; env: Record<string, string> }) => unknown;

interface RunningNode {
  name: string;
  kind: 'host' | 'router';
  stack: Stack;
  networks: string[];
  addresses: string[];
  ports: string[];
  close: (() => unknown) | undefined;
}

/** Where a lab's service logs live: `<state>/labs/<lab>/<service>.log`. */
export function labLogDir(lab: string): string {
  return join(stateDir(), 'labs', lab);
}

/** Links grouped by the switch they are plugged into. */
function groupBySwitch(links: readonly LinkView[]): Map<Bridge, string[]> {
  const out = new Map<Bridge, string[]>();
  for (const l of links) out.set(l.bridge, [...(out.get(l.bridge) ?? []), l.port]);
  return out;
}

/** A lab that is up: its networks, containers and processes, until `down()`. */
export class RunningLab implements LabView {
  private readonly lab = new Lab();
  private readonly clock = new RealClock();
  private readonly bridges = new Map<string, Bridge>();
  private readonly networksByName = new Map<string, BridgeNetwork>();
  private readonly services = new Map<string, RunningService>();
  private readonly nodes = new Map<string, RunningNode>();
  private readonly cables: Port[] = [];
  private readonly vxlan: Array<{ network: string; port: VxlanPort }> = [];
  private readonly captures: Array<{ writer: PcapngWriter; stops: Array<() => void> }> = [];
  private readonly logs: WriteStream[] = [];
  private downing: Promise<void> | undefined;

  private constructor(readonly model: LabModel) {}

  get name(): string {
    return this.model.name;
  }

  /** Brings `model` up; on any failure removes what it made and rethrows. */
  static async up(model: LabModel, opts: UpOptions = {}): Promise<RunningLab> {
    const running = new RunningLab(model);
    try {
      await running.start(opts);
    } catch (e) {
      await running.down().catch(() => undefined);
      throw e;
    }
    return running;
  }

  private async start(opts: UpOptions): Promise<void> {
    const say = opts.progress ?? (() => undefined);
    const m = this.model;
    const ownSwitch = new Set(m.networks.filter((n) => n.switch === n.name).map((n) => n.name));
    for (const sw of m.switches) {
      if (ownSwitch.has(sw.name)) continue;
      this.bridges.set(sw.name, new Bridge({ clock: this.clock, name: sw.name }));
      say(`switch ${sw.name}  vlans ${sw.vlans.join(',') || 'none'}`);
    }
    for (const sw of m.switches) {
      for (const other of sw.trunks) {
        const vlans = sw.vlans.filter((v) => m.switches.find((s) => s.name === other)?.vlans.includes(v));
        const [a, b] = createPipe(this.clock, { offload: true, names: [`${sw.name}-${other}`, `${other}-${sw.name}`] });
        this.cables.push(a, b);
        this.bridges.get(sw.name)!.addPort(a, { mode: 'trunk', allowed: vlans });
        this.bridges.get(other)!.addPort(b, { mode: 'trunk', allowed: vlans });
        say(`trunk ${sw.name} <-> ${other}  vlans ${vlans.join(',')}`);
      }
    }
    for (const r of m.routers) {
      const stack = new Stack(this.clock, { name: r.name });
      stack.forwarding = true;
      this.nodes.set(r.name, { name: r.name, kind: 'router', stack, networks: r.networks.map((a) => a.network), addresses: r.networks.map((a) => a.ipv4Address), ports: [], close: undefined });
    }
    for (const n of m.networks) {
      const router = n.gatewayRouter === undefined ? undefined : m.routers.find((r) => r.name === n.gatewayRouter);
      const att = router?.networks.find((a) => a.network === n.name);
      const net = new BridgeNetwork({
        name: n.name,
        subnet: n.subnet,
        gateway: n.gateway,
        mtu: n.mtu,
        dns: n.dns ? (m.dns !== undefined ? { peers: m.dns.peers } : {}) : false,
        clock: this.clock,
        randomMacs: n.vxlan !== undefined,
        ...(ownSwitch.has(n.name) ? {} : { switch: { name: n.switch, bridge: this.bridges.get(n.switch)!, vlan: n.vlan } }),
        ...(router !== undefined && att !== undefined ? { router: { name: router.name, stack: this.nodes.get(router.name)!.stack, ifname: att.ifname } } : {}),
      });
      this.networksByName.set(n.name, net);
      if (ownSwitch.has(n.name)) this.bridges.set(n.name, net.bridge);
      const vlan = ownSwitch.has(n.name) ? '' : `  switch ${n.switch} vlan ${n.vlan}`;
      say(`network ${n.name}  ${n.subnet}  gateway ${n.gateway}${router !== undefined ? ` (router ${router.name})` : ''}${vlan}${n.dns ? '  dns' : ''}`);
      if (n.vxlan !== undefined) {
        const vx = await openVxlanPort(this.clock, n.name, n.vxlan, n.mtu);
        this.cables.push(vx);
        this.vxlan.push({ network: n.name, port: vx });
        net.bridge.addPort(vx, { mode: 'access', pvid: n.vlan });
        say(`vxlan ${n.name}  vni ${n.vxlan.vni}  remotes ${n.vxlan.remotes.join(',')}  udp ${n.vxlan.local ?? '0.0.0.0'}:${n.vxlan.port}  mtu ${n.mtu}`);
      }
    }
    for (const n of m.networks) {
      for (const ifname of n.interfaces ?? []) {
        let port: PacketPort;
        try {
          port = openPacketPort(ifname);
        } catch (e) {
          throw new Error(`network ${n.name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        this.cables.push(port);
        this.bridges.get(n.switch)!.addPort(port, { mode: 'access', pvid: n.vlan });
        say(`interface ${ifname}  on network ${n.name} (AF_PACKET)`);
      }
    }
    for (const r of m.routers) {
      const node = this.nodes.get(r.name)!;
      for (const a of r.networks) {
        if (m.networks.find((n) => n.name === a.network)?.gatewayRouter === r.name) continue;
        this.net(a.network).attachStack(r.name, node.stack, { ifname: a.ifname, ipv4Address: a.ipv4Address, aliases: a.aliases, ...this.switchOf(a) });
      }
      for (const route of r.routes) node.stack.addRoute(route.dest, { via: route.via });
      if (r.nat === 'masquerade' && r.uplink !== undefined) {
        node.stack.nat.masquerade(r.networks.find((a) => a.network === r.uplink)!.ifname);
      }
      this.announce(r.name, r.networks);
      say(`router ${r.name}  ${r.networks.map((a) => `${a.ifname} ${a.ipv4Address}`).join('  ')}${r.nat !== undefined ? `  nat ${r.nat} on ${r.uplink}` : ''}`);
    }
    for (const h of m.hosts) {
      const stack = new Stack(this.clock, { name: h.name });
      const node: RunningNode = { name: h.name, kind: 'host', stack, networks: h.networks.map((a) => a.network), addresses: h.networks.map((a) => a.ipv4Address), ports: h.ports, close: undefined };
      this.nodes.set(h.name, node);
      for (const a of h.networks) this.net(a.network).attachStack(h.name, stack, { ifname: a.ifname, ipv4Address: a.ipv4Address, aliases: a.aliases, ...this.switchOf(a) });
      const first = h.networks[0];
      if (first !== undefined) stack.addRoute('default', { via: this.net(first.network).gatewayAddress });
      this.announce(h.name, h.networks);
      const mod = (await import(pathToFileURL(h.script).href)) as { default?: unknown };
      if (typeof mod.default !== 'function') throw new Error(`host ${h.name}: ${h.script} has no default export function ({ stack, name, env }) => …`);
      const closer = await (mod.default as HostScript)({ stack, name: h.name, env: h.environment });
      if (typeof closer === 'function') node.close = closer as () => unknown;
      if (first !== undefined) for (const spec of h.ports) await this.net(first.network).publish(spec, h.name);
      say(`host ${h.name}  ${h.networks.map((a) => `${a.ifname} ${a.ipv4Address}`).join('  ')}  script ${h.script}${h.ports.length > 0 ? `  ports ${h.ports.join(', ')}` : ''}`);
    }
    mkdirSync(labLogDir(m.name), { recursive: true, mode: 0o700 });
    // Services come sorted by dependency: wait for each one's conditions, then start it.
    for (const s of m.services) {
      for (const d of s.dependsOn) {
        if (d.condition !== 'service_healthy') continue;
        const dep = this.services.get(d.service);
        if (dep === undefined) throw new Error(`service ${s.name} depends on ${d.service}, which did not start`);
        say(`service ${s.name} waits for ${d.service} to be healthy`);
        await this.waitHealthy(dep, opts.healthTimeoutMs ?? 60_000);
      }
      const [first, ...more] = s.networks;
      if (first === undefined) throw new Error(`service ${s.name} has no network`);
      const net = this.net(first.network);
      const ep = await net.run(this.lab, { name: s.name, aliases: first.aliases, ipv4Address: first.ipv4Address, ...this.switchOf(first) });
      const networks = [net];
      for (const a of more) {
        const other = this.net(a.network);
        await other.attach(ep.container, { name: s.name, ifname: a.ifname, ipv4Address: a.ipv4Address, aliases: a.aliases, ...this.switchOf(a) });
        networks.push(other);
      }
      this.announce(s.name, s.networks);
      const env = { ...process.env, ...s.environment };
      const proc = s.command !== undefined ? ep.container.spawn(s.command, { env }) : undefined;
      const svc: RunningService = { model: s, networks, container: ep.container, addresses: s.networks.map((a) => a.ipv4Address), process: proc, status: 'running' };
      this.services.set(s.name, svc);
      if (proc !== undefined) {
        void proc.exited.then(() => (svc.status = 'exited'));
        const log = createWriteStream(join(labLogDir(m.name), `${s.name}.log`), { mode: 0o600 });
        log.on('error', () => undefined);
        this.logs.push(log);
        proc.stdout?.pipe(log, { end: false });
        proc.child.stderr?.pipe(log, { end: false });
      }
      for (const spec of s.ports) await net.publish(spec, s.name);
      say(`service ${s.name}  ${s.networks.map((a) => `${a.ifname} ${a.ipv4Address}`).join('  ')}  namespace ${ep.container.name}${s.ports.length > 0 ? `  ports ${s.ports.join(', ')}` : ''}`);
    }
    this.applyImpairments(say);
    this.startCaptures(say);
  }

  private net(name: string): BridgeNetwork {
    const n = this.networksByName.get(name);
    if (n === undefined) throw new Error(`lab ${this.model.name} has no network ${name}`);
    return n;
  }

  /** `{ switch }` when the attachment plugs into another switch than its network's. */
  private switchOf(a: AttachmentModel): { switch?: SwitchRef } {
    const net = this.model.networks.find((n) => n.name === a.network);
    if (net === undefined || a.switch === net.switch) return {};
    return { switch: { name: a.switch, bridge: this.bridges.get(a.switch)! } };
  }

  /** Makes `node` resolvable on every network it is not on, at its first address. */
  private announce(node: string, on: readonly AttachmentModel[]): void {
    const first = on[0];
    if (first === undefined) return;
    for (const [name, net] of this.networksByName) {
      if (on.some((a) => a.network === name)) continue;
      net.addRemoteName(node, first.ipv4Address, first.aliases);
    }
  }

  private applyImpairments(say: (line: string) => void): void {
    for (const n of this.model.networks) {
      if (n.impair === undefined) continue;
      const opts = parseNetemSpec(n.impair);
      for (const l of this.net(n.name).linkViews()) l.impaired.setOptions(opts);
      say(`impair network ${n.name}: ${n.impair}`);
    }
    for (const node of [...this.model.services, ...this.model.hosts, ...this.model.routers]) {
      for (const a of node.networks) {
        if (a.impair === undefined) continue;
        findLink(this, `${node.name}:${a.ifname}`).impaired.setOptions(parseNetemSpec(a.impair));
        say(`impair ${node.name}:${a.ifname}: ${a.impair}`);
      }
    }
  }

  /**
   * Each capture: one pcapng file, one interface per switch port named
   * `node:iface` (trunks by their port name), each frame with its direction
   * as the node sees it, only what the capture's filter accepts.
   */
  private startCaptures(say: (line: string) => void): void {
    const names: Record<string, string> = {};
    for (const l of this.links()) names[l.port] = `${l.node}:${l.iface}`;
    for (const c of this.model.captures) {
      const writer = new PcapngWriter(c.file);
      const stops: Array<() => void> = [];
      this.captures.push({ writer, stops });
      const filter = c.filter === undefined ? undefined : compileCaptureFilter(c.filter);
      const opts = { direction: 'node' as const, interfaceNames: names, ...(filter !== undefined ? { filter: (b: Uint8Array, o: number, n: number) => filter.matches(b, o, n) } : {}) };
      for (const target of c.of) {
        const network = this.networksByName.get(target);
        const bridge = this.bridges.get(target);
        if (network !== undefined) {
          for (const [sw, ports] of groupBySwitch(network.linkViews())) stops.push(sw.mirror(writer, ports, opts));
        } else if (bridge !== undefined) stops.push(bridge.mirror(writer, undefined, opts));
        else {
          const link = findLink(this, target);
          stops.push(link.bridge.mirror(writer, [link.port], opts));
        }
      }
      say(`capture ${c.name}: ${c.of.join(', ')}${c.filter !== undefined ? ` (${c.filter})` : ''} -> ${c.file}`);
    }
  }

  /** Runs the healthcheck until it passes (status 'healthy') or the retries and the time run out. */
  private async waitHealthy(svc: RunningService, timeoutMs: number): Promise<void> {
    const hc = svc.model.healthcheck;
    if (hc === undefined) throw new Error(`service ${svc.model.name} has no healthcheck, so nothing can wait for it to be healthy`);
    const deadline = Date.now() + timeoutMs;
    const startEnds = Date.now() + hc.startPeriodMs;
    let failures = 0;
    for (;;) {
      if (svc.status === 'exited') throw new Error(`service ${svc.model.name} exited before it was healthy`);
      const r = await svc.container.exec(hc.test, { timeoutMs: hc.timeoutMs });
      if (r.code === 0) {
        svc.status = 'healthy';
        return;
      }
      if (Date.now() >= startEnds) failures++;
      if (failures >= hc.retries || Date.now() >= deadline) {
        svc.status = 'unhealthy';
        throw new Error(`service ${svc.model.name} is unhealthy: \`${hc.test.join(' ')}\` failed ${failures} times (last: exit ${r.code}${r.stderr ? `, ${r.stderr.trim().split('\n').pop()}` : ''})`);
      }
      await new Promise((resolve) => setTimeout(resolve, hc.intervalMs));
    }
  }

  /** The services, then hosts and routers, as `docker compose ps` lists them. */
  rows(): ServiceRow[] {
    const services = [...this.services.values()].map((s): ServiceRow => ({
      name: s.model.name,
      kind: 'service',
      network: s.networks.map((n) => n.name).join(','),
      address: s.addresses.join(','),
      vlans: this.vlansOf(s.model.networks),
      namespace: s.container.name,
      status: s.status,
      ports: s.model.ports,
    }));
    const others = [...this.nodes.values()].map((n): ServiceRow => ({
      name: n.name,
      kind: n.kind,
      network: n.networks.join(','),
      address: n.addresses.join(','),
      vlans: this.vlansOf([...this.model.routers, ...this.model.hosts].find((x) => x.name === n.name)?.networks ?? []),
      namespace: '',
      status: 'running',
      ports: n.ports,
    }));
    return [...services, ...others.filter((o) => o.kind === 'host'), ...others.filter((o) => o.kind === 'router')];
  }

  /** `10,-` for a node on VLAN 10 of a shared switch and on a network of its own; '' when none is shared. */
  private vlansOf(attachments: readonly AttachmentModel[]): string {
    const ids = attachments.map((a) => {
      const n = this.model.networks.find((x) => x.name === a.network);
      return n === undefined || n.switch === n.name ? '-' : String(n.vlan);
    });
    return ids.every((v) => v === '-') ? '' : ids.join(',');
  }

  /** The network of `name`, for inspection (conntrack, DNS, FDB). */
  network(name: string): BridgeNetwork | undefined {
    return this.networksByName.get(name);
  }

  /** The container of a service, for `exec`. */
  container(service: string): Container | undefined {
    return this.services.get(service)?.container;
  }

  /** The wirelab stack of a host or router. */
  stack(node: string): Stack | undefined {
    return this.nodes.get(node)?.stack;
  }

  // ---- LabView -----------------------------------------------------------

  switches(): Array<{ name: string; bridge: Bridge }> {
    return [...this.bridges].map(([name, bridge]) => ({ name, bridge }));
  }

  stacks(): Array<{ name: string; stack: Stack }> {
    const gateways = this.model.networks
      .filter((n) => n.gatewayRouter === undefined && this.networksByName.has(n.name))
      .map((n) => ({ name: `${n.name}-gw`, stack: this.net(n.name).gateway }));
    return [...gateways, ...[...this.nodes.values()].map((n) => ({ name: n.name, stack: n.stack }))];
  }

  containers(): Array<{ name: string; container: Container }> {
    return [...this.services.values()].map((s) => ({ name: s.model.name, container: s.container }));
  }

  networks(): NetworkView[] {
    return this.model.networks
      .filter((n) => this.networksByName.has(n.name))
      .map((n) => ({ name: n.name, subnet: n.subnet, gateway: n.gateway, switch: n.switch, vlan: n.switch === n.name ? undefined : n.vlan }));
  }

  links(): LinkView[] {
    return [...this.networksByName.values()].flatMap((n) => [...n.linkViews()]);
  }

  vxlanPorts(): Array<{ network: string; port: VxlanPort }> {
    return [...this.vxlan];
  }

  serviceTables(): Array<{ network: string; usage: TableUsage }> {
    return [...this.networksByName].flatMap(([network, n]) => n.tables().map((usage) => ({ network, usage })));
  }

  /** Removes everything the lab made: captures, containers (and their processes), hosts, networks, switches. Idempotent. */
  down(): Promise<void> {
    this.downing ??= (async () => {
      const errors: string[] = [];
      const note = (e: unknown): void => void errors.push(e instanceof Error ? e.message : String(e));
      for (const c of this.captures) {
        for (const stop of c.stops) stop();
        await c.writer.close().catch(note);
      }
      await this.lab.close().catch(note);
      for (const log of this.logs) log.end();
      // As `docker compose down` removes the containers and their logs.
      rmSync(labLogDir(this.model.name), { recursive: true, force: true });
      for (const n of this.nodes.values()) {
        try {
          await n.close?.();
        } catch (e) {
          note(e);
        }
      }
      for (const n of [...this.networksByName.values()].reverse()) await n.close().catch(note);
      for (const n of this.nodes.values()) n.stack.close();
      for (const b of this.bridges.values()) b.close();
      await Promise.allSettled(this.cables.map((c) => c.close()));
      this.clock.close();
      if (errors.length > 0) throw new Error(`taking lab ${this.model.name} down failed:\n${errors.join('\n')}`);
    })();
    return this.downing;
  }
}

/** `docker compose ps`-style table. */
export function formatServiceTable(rows: readonly ServiceRow[]): string {
  // A VLAN column only for a lab with VLANs (after the rest, so the usual columns stay where they are).
  const withVlans = rows.some((r) => (r.vlans ?? '') !== '');
  const header = ['NAME', 'NETWORK', 'ADDRESS', 'STATUS', 'NAMESPACE', 'PORTS', ...(withVlans ? ['VLAN'] : [])];
  // A wirelab host or router has no namespace: the column says what it is instead.
  const cells = rows.map((r) => [
    r.name,
    r.network,
    r.address,
    r.status,
    r.namespace || `(wirelab ${r.kind ?? 'host'})`,
    r.ports.join(', '),
    ...(withVlans ? [r.vlans || '-'] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}
