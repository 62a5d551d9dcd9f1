/**
 * `docker run -p` in proxy mode: `publishPort(gateway, '8080:80', '10.0.0.2')`
 * parses the spec, opens one host listener per port (TCP: proxy-tcp.ts,
 * UDP: proxy-udp.ts) and splices what arrives into the container through
 * the gateway host's wirelab sockets.
 *
 * The process keeps one registry of published host ports, so a mapping that
 * collides with one already published here is refused with EADDRINUSE and
 * a sentence naming the owner, before the OS is asked (two mappings on
 * 127.0.0.1:8080 and 0.0.0.0:8080 collide, as two binds would). A port taken
 * by another program is refused by the OS, also with EADDRINUSE and a
 * sentence. `publishedPorts()` and `formatPortTable()` print the registry
 * the way `docker port` does, with counters; `toJSON()` gives the same data.
 *
 * Default host address is 127.0.0.1, not Docker's 0.0.0.0 (portspec.ts).
 */
import type { TableUsage } from '../time/index.js';
import { parseIPv4 } from '../wire/address.js';
import { expandPortSpec, formatPortSpec, parsePortSpec, type PortMapping, type PortSpec } from './portspec.js';
import { inUseByMapping } from './proxy-errors.js';
import { TcpPortProxy, type TcpProxyGateway, type TcpProxyOptions, type TcpProxyStats } from './proxy-tcp.js';
import { UdpPortProxy, type UdpProxyGateway, type UdpProxyOptions, type UdpProxyStats } from './proxy-udp.js';

/** The gateway host the proxy connects from: a wirelab `Stack` on the container's network. */
export type ProxyGateway = TcpProxyGateway & UdpProxyGateway;

export interface PublishOptions extends UdpProxyOptions, TcpProxyOptions {
  /** Who owns the mapping, for tables and collision messages (e.g. the container's name). Default: the container address. */
  owner?: string;
}

/** One published port as `docker port` shows it, with its counters. */
export interface PublishedPortInfo {
  /** e.g. '80/tcp'. */
  containerPort: string;
  /** e.g. '127.0.0.1:8080'. */
  host: string;
  containerAddress: string;
  gateway: string;
  owner: string;
  spec: string;
  stats: TcpProxyStats | UdpProxyStats;
}

type Proxy = TcpPortProxy | UdpPortProxy;

interface RegistryEntry {
  mapping: PortMapping;
  /** The bound host port (the chosen one for a random mapping). */
  hostPort: number;
  proxy: Proxy;
  published: PublishedPort;
}

/** Every host port published by this process, by `protocol/port`. */
const registry = new Map<string, RegistryEntry[]>();

const regKey = (protocol: string, port: number) => `${protocol}/${port}`;

function collides(a: string, b: string): boolean {
  return a === b || a === '0.0.0.0' || b === '0.0.0.0';
}

function findOwner(mapping: PortMapping): RegistryEntry | undefined {
  if (mapping.hostPort === 0) return undefined;
  return registry.get(regKey(mapping.protocol, mapping.hostPort))?.find((e) => collides(e.mapping.hostIp, mapping.hostIp));
}

function describeOwner(e: RegistryEntry): string {
  return `${e.published.owner} ("${e.published.specText}" → ${e.published.containerAddress}:${e.mapping.containerPort} via gateway ${e.published.gatewayName})`;
}

/** The ports of one `-p` spec, published; `close()` unpublishes them. */
export class PublishedPort {
  readonly specText: string;
  private readonly entries: RegistryEntry[] = [];
  private closed = false;

  /** @internal Use `publishPort`. */
  constructor(
    readonly spec: PortSpec,
    readonly containerAddress: string,
    readonly owner: string,
    readonly gatewayName: string,
  ) {
    this.specText = formatPortSpec(spec);
  }

  /** The mappings with their bound host ports (random ones filled in). */
  get mappings(): PortMapping[] {
    return this.entries.map((e) => ({ ...e.mapping, hostPort: e.hostPort }));
  }

  /** The first mapping's bound host port: the common single-port case. */
  get hostPort(): number {
    return this.entries[0]?.hostPort ?? 0;
  }

  /** Rows as `docker port` prints them, with counters. */
  info(): PublishedPortInfo[] {
    return this.entries.map((e) => ({
      containerPort: `${e.mapping.containerPort}/${e.mapping.protocol}`,
      host: `${e.mapping.hostIp}:${e.hostPort}`,
      containerAddress: this.containerAddress,
      gateway: this.gatewayName,
      owner: this.owner,
      spec: this.specText,
      stats: { ...e.proxy.stats },
    }));
  }

  /** Counters summed over the spec's ports. */
  stats(): { tcp: TcpProxyStats; udp: UdpProxyStats } {
    const tcp: TcpProxyStats = { connections: 0, active: 0, refused: 0, resets: 0, bytesToContainer: 0, bytesToHost: 0 };
    const udp: UdpProxyStats = {
      flows: 0, active: 0, expired: 0, refused: 0, datagramsToContainer: 0, datagramsToHost: 0, bytesToContainer: 0, bytesToHost: 0,
    };
    for (const e of this.entries) {
      if (e.proxy instanceof TcpPortProxy) addCounters(tcp, e.proxy.stats);
      else addCounters(udp, e.proxy.stats);
    }
    return { tcp, udp };
  }

  /** Each UDP mapping's flow table against its limit. */
  tables(): TableUsage[] {
    return this.entries.flatMap((e) => (e.proxy instanceof UdpPortProxy ? [e.proxy.usage()] : []));
  }

  /** The UDP proxies' open flows (for inspection). */
  udpFlows(): ReturnType<UdpPortProxy['flowTable']> {
    return this.entries.flatMap((e) => (e.proxy instanceof UdpPortProxy ? e.proxy.flowTable() : []));
  }

  toJSON(): PublishedPortInfo[] {
    return this.info();
  }

  /** Unpublishes: closes the host listeners, resets open connections, ends UDP flows. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries) unregister(e);
    await Promise.all(this.entries.map((e) => e.proxy.close()));
  }

  /** @internal */
  add(e: RegistryEntry): void {
    this.entries.push(e);
  }
}

/** into[k] += from[k] for every counter. */
function addCounters<T extends object>(into: T, from: T): void {
  for (const k of Object.keys(into) as Array<keyof T>) (into[k] as number) += from[k] as number;
}

function register(e: RegistryEntry): void {
  const k = regKey(e.mapping.protocol, e.hostPort);
  const list = registry.get(k);
  if (list === undefined) registry.set(k, [e]);
  else list.push(e);
}

function unregister(e: RegistryEntry): void {
  const k = regKey(e.mapping.protocol, e.hostPort);
  const list = registry.get(k);
  if (list === undefined) return;
  const i = list.indexOf(e);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) registry.delete(k);
}

/**
 * Publishes `spec` (Docker's `-p` syntax, or a parsed `PortSpec`) to
 * `containerAddress` through `gateway`. Rejects with a `PortSpecError`
 * (EINVAL) for a bad spec, EADDRINUSE naming the owner for a collision,
 * EACCES for a privileged port without the right to bind it. When one port
 * of a range fails, the ports already opened are closed again.
 */
export async function publishPort(
  gateway: ProxyGateway,
  spec: string | PortSpec,
  containerAddress: string,
  opts: PublishOptions = {},
): Promise<PublishedPort> {
  const parsed = typeof spec === 'string' ? parsePortSpec(spec) : spec;
  parseIPv4(containerAddress); // a clear error for a bad address
  const published = new PublishedPort(parsed, containerAddress, opts.owner ?? containerAddress, gateway.name);
  const mappings = expandPortSpec(parsed);
  // Refuse a collision with this process's own mappings before binding anything.
  for (const m of mappings) {
    const owner = findOwner(m);
    if (owner !== undefined) throw inUseByMapping(m, describeOwner(owner));
  }
  try {
    for (const m of mappings) {
      const proxy = m.protocol === 'tcp' ? new TcpPortProxy(gateway, m, containerAddress, opts) : new UdpPortProxy(gateway, m, containerAddress, opts);
      let hostPort: number;
      try {
        hostPort = await proxy.listen();
      } catch (e) {
        await proxy.close();
        throw e;
      }
      // Another publishPort may have registered the port while this one awaited the bind.
      const raced = findOwner({ ...m, hostPort });
      if (raced !== undefined) {
        await proxy.close();
        throw inUseByMapping(m, describeOwner(raced));
      }
      const entry: RegistryEntry = { mapping: m, hostPort, proxy, published };
      register(entry);
      published.add(entry);
    }
  } catch (e) {
    await published.close();
    throw e;
  }
  return published;
}

/** Every port this process has published, as `docker port` rows with counters. */
export function publishedPorts(): PublishedPortInfo[] {
  const seen = new Set<PublishedPort>();
  const rows: PublishedPortInfo[] = [];
  for (const list of registry.values()) {
    for (const e of list) {
      if (seen.has(e.published)) continue;
      seen.add(e.published);
      rows.push(...e.published.info());
    }
  }
  return rows;
}

/**
 * `docker port`-style table: `80/tcp -> 127.0.0.1:8080`, then the owner
 * and the counters (connections or flows, bytes each way, refusals).
 */
export function formatPortTable(rows: readonly PublishedPortInfo[] = publishedPorts()): string {
  const header = ['PORT', 'HOST', 'CONTAINER', 'OWNER', 'CONNS/FLOWS', 'ACTIVE', 'REFUSED', 'BYTES IN', 'BYTES OUT'];
  const cells = rows.map((r) => {
    const s = r.stats;
    const opened = 'connections' in s ? s.connections : s.flows;
    return [
      r.containerPort, `-> ${r.host}`, r.containerAddress, r.owner,
      String(opened), String(s.active), String(s.refused), String(s.bytesToContainer), String(s.bytesToHost),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}
