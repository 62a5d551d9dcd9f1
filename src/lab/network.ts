/**
 * A Docker bridge network, built from wirelab's parts: `docker network
 * create` + `docker run --network … -p …` as one object.
 *
 *   const net = new BridgeNetwork({ name: 'labnet', subnet: '172.30.0.0/24' });
 *   const web = await net.run(lab, { name: 'web' });        // a container on it
 *   await net.publish('8080:80', 'web');                     // -p 127.0.0.1:8080:80
 *   await web.container.exec(['ping', '-c', '1', '172.30.0.1']);
 *
 * What it is made of, as Docker's bridge driver but in user space:
 * - a wirelab `Bridge` (the switch; Docker's docker0/br-xxxx),
 * - a wirelab host on the bridge holding the gateway address (the bridge's
 *   own IP in Docker), reached by an in-memory cable,
 * - one TAP per container: the TAP is the container's eth0 in its
 *   namespace, its other end a bridge port (Docker's veth pair),
 * - addresses handed out from the subnet as Docker's IPAM does (the gateway
 *   first, then containers in order), or given,
 * - a DNS server on the gateway (Docker's embedded DNS): every container by
 *   name, alias and `name.<network>`, the rest forwarded upstream; each
 *   container's resolv.conf and hosts point at it (/etc/netns/<ns>/),
 * - optionally an uplink (the host side of Docker's NAT): the gateway
 *   routes between the bridge and the uplink and masquerades what leaves,
 * - published ports in proxy mode (src/nat/port-proxy.ts, docker-proxy's
 *   job: a host socket spliced to a connection from the gateway host) or in
 *   DNAT mode on the uplink (Docker's `--userland-proxy=false`, keeping the
 *   client's address, with hairpin for containers on the network).
 *
 * Runs on a RealClock (the containers' kernels are real) that it owns unless
 * one is given.
 */
import { randomBytes } from 'node:crypto';
import { impair, type ImpairedPort } from '../link/impair.js';
import { openTap, type TapPort } from '../link/tap.js';
import type { PacketPort } from '../link/packet-port.js';
import { openContainerLink } from './container-link.js';
import { createPipe } from '../link/pipe.js';
import type { Port } from '../link/port.js';
import { publishPort, type PublishedPort, type PublishOptions } from '../nat/port-proxy.js';
import { DEFAULT_HOST_IP, parsePortSpec } from '../nat/portspec.js';
import type { NatHandle } from '../nat/index.js';
import { DnsServer } from '../dns/server.js';
import { Stack } from '../stack.js';
import { Bridge } from '../switch/bridge.js';
import { RealClock, type Clock, type TableUsage } from '../time/index.js';
import { formatIPv4, networkOf, parseCidr, parseIPv4, prefixMask, type IPv4Address } from '../wire/address.js';
import type { Lab } from './lab.js';
import type { LinkView } from './lab-view.js';
import type { Container } from './netns.js';

export interface BridgeNetworkOptions {
  /** The network's name (Docker's `docker network create NAME`); also its DNS suffix. */
  name: string;
  /** e.g. '172.30.0.0/24'. */
  subnet: string;
  /** The gateway's address; default the subnet's first host address. */
  gateway?: string;
  mtu?: number;
  /** Containers' TAPs with IFF_VNET_HDR (checksum and TSO offload). Default true. */
  vnetHdr?: boolean;
  /** Default: a RealClock this network owns and closes. */
  clock?: Clock;
  /**
   * DNS on the gateway (default on). `upstreams` answer names outside the
   * lab ('address' or 'address:port'); without any, those get REFUSED.
   */
  dns?: false | { upstreams?: readonly string[]; domain?: string; peers?: readonly string[] };
  /**
   * The gateway's way out: a port (e.g. a TAP into an "outside" namespace)
   * with the gateway's address on it. The gateway then forwards between the
   * bridge and the uplink and masquerades what leaves (Docker's
   * `-o <ext> -j MASQUERADE`), unless `masquerade: false`.
   */
  uplink?: { port: Port; address: string; defaultGateway?: string; masquerade?: boolean };
  /**
   * Put the network on a shared switch as access VLAN `vlan` (a lab's VLANs
   * on one switch, trunked to others). Default: a switch of its own.
   */
  switch?: { name: string; bridge: Bridge; vlan: number };
  /**
   * A stack that holds the gateway address instead of a gateway host of the
   * network's own: a lab's router, as the interface `ifname`. The network
   * does not close it.
   */
  router?: { name: string; stack: Stack; ifname: string };
  /**
   * The network spans processes (VXLAN to other labs): wirelab hosts on it
   * get random locally administered MACs, since the MACs a stack derives
   * from its process-wide host counter would be the same in every lab.
   */
  randomMacs?: boolean;
}

/** How a published port reaches the container. */
export type PublishMode = 'proxy' | 'dnat';

export interface RunOptions {
  /** The container's name on this network (its DNS name). */
  name: string;
  /** More names for it (compose's `aliases`). */
  aliases?: string[];
  /** A fixed address (compose's `ipv4_address`); default the next free one. */
  ipv4Address?: string;
  /** `net.*` sysctls inside the container. */
  sysctls?: Record<string, string>;
  /** The namespace's name; default `wl-` + a random id. */
  namespace?: string;
  /** Plug into this switch instead of the network's (another switch carrying the network's VLAN). */
  switch?: SwitchRef;
}

/** A switch by name, as a lab knows it. */
export interface SwitchRef {
  name: string;
  bridge: Bridge;
}

/** One container attached to the network (Docker's endpoint). */
export interface Endpoint {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly address: string;
  readonly container: Container;
  /** The switch's end of the container's link: a TAP, or an AF_PACKET port on a veth (container-link.ts). */
  readonly tap: TapPort | PacketPort;
  /** The switch port's egress toward the container (netem on the host end of the veth). */
  readonly impaired: ImpairedPort;
  /** The interface's name in the container (eth0 for its first network). */
  readonly ifname: string;
}

/**
 * A TAP on the switch for a namespace someone else owns (a CNI runtime's
 * container): the network took its address and DNS name; whoever asked
 * moves the TAP into the namespace (src/cni/).
 */
export interface ForeignPort {
  readonly key: string;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly address: string;
  readonly tap: TapPort;
  readonly impaired: ImpairedPort;
  readonly ifname: string;
  readonly published: Array<PublishedPort | NatHandle>;
}

/** A wirelab host (a lab's router or script host) with an interface on the network. */
export interface StackAttachment {
  readonly name: string;
  readonly address: string;
  readonly ifname: string;
}

const IFNAME_MAX = 15;

/** A random unicast, locally administered MAC (as the kernel's eth_random_addr). */
function randomLocalMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export class BridgeNetwork {
  readonly name: string;
  readonly clock: Clock;
  readonly bridge: Bridge;
  /** The wirelab host holding the gateway address on the bridge. */
  readonly gateway: Stack;
  /** The switch's name (the network's own, or the shared one it is a VLAN of). */
  readonly switchName: string;
  /** The access VLAN of the network's ports (1 on a switch of its own). */
  readonly vlan: number;
  readonly subnet: { network: IPv4Address; prefixLength: number };
  readonly gatewayAddress: string;
  readonly mtu: number;
  /** The DNS server on the gateway, unless `dns: false`. */
  readonly dns: DnsServer | undefined;
  private dnsStarted: Promise<void> | undefined;
  private readonly uplinkName: string | undefined;
  private readonly ownsClock: boolean;
  private readonly ownsBridge: boolean;
  private readonly ownsGateway: boolean;
  private readonly links: LinkView[] = [];
  /** Every node's address on this network: containers and wirelab hosts, for `publish`. */
  private readonly nodeAddresses = new Map<string, string>();
  private readonly pipes: Port[] = [];
  private readonly vnetHdr: boolean;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly foreign = new Map<string, ForeignPort>();
  private readonly used = new Set<IPv4Address>();
  private readonly published: Array<PublishedPort | NatHandle> = [];
  private readonly id = randomBytes(2).toString('hex');
  private tapCounter = 0;
  private closed = false;
  private readonly randomMacs: boolean;

  constructor(opts: BridgeNetworkOptions) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(opts.name)) {
      throw new Error(`network name "${opts.name}" must start with a letter or digit and hold only letters, digits, '_', '.', '-'`);
    }
    this.name = opts.name;
    const c = parseCidr(opts.subnet);
    if (c.prefixLength > 30) throw new Error(`subnet ${opts.subnet} is too small for a gateway and a container (at most /30)`);
    this.subnet = { network: networkOf(c), prefixLength: c.prefixLength };
    const gw = opts.gateway !== undefined ? parseIPv4(opts.gateway) : this.subnet.network + 1;
    if (!this.contains(gw) || gw === this.subnet.network || gw === this.broadcast) {
      throw new Error(`gateway ${formatIPv4(gw)} is not a host address of ${opts.subnet}`);
    }
    this.gatewayAddress = formatIPv4(gw);
    this.used.add(gw);
    this.mtu = opts.mtu ?? 1500;
    this.vnetHdr = opts.vnetHdr ?? true;
    this.ownsClock = opts.clock === undefined;
    this.clock = opts.clock ?? new RealClock();
    this.ownsBridge = opts.switch === undefined;
    this.bridge = opts.switch?.bridge ?? new Bridge({ clock: this.clock, name: `br-${this.name}`.slice(0, IFNAME_MAX) });
    this.switchName = opts.switch?.name ?? this.name;
    this.vlan = opts.switch?.vlan ?? 1;
    this.randomMacs = opts.randomMacs ?? false;
    this.ownsGateway = opts.router === undefined;
    this.gateway = opts.router?.stack ?? new Stack(this.clock, { name: `${this.name}-gw` });
    this.plugStack(opts.router?.name ?? `${this.name}-gw`, this.gateway, opts.router?.ifname ?? 'eth0', this.gatewayAddress);
    if (opts.uplink !== undefined) {
      this.uplinkName = 'uplink';
      this.gateway.addInterface(opts.uplink.port, { name: 'uplink', addresses: [opts.uplink.address] });
      if (opts.uplink.defaultGateway !== undefined) this.gateway.addRoute('default', { via: opts.uplink.defaultGateway });
      this.gateway.forwarding = true;
      if (opts.uplink.masquerade !== false) this.gateway.nat.masquerade('uplink');
    }
    this.dns = opts.dns === false ? undefined : new DnsServer(this.gateway, {
      address: this.gatewayAddress,
      ...(opts.dns?.upstreams !== undefined ? { upstreams: opts.dns.upstreams } : {}),
      ...(opts.dns?.domain !== undefined ? { domain: opts.dns.domain } : {}),
      ...(opts.dns?.peers !== undefined ? { peers: opts.dns.peers } : {}),
    });
  }

  /** An in-memory cable from `stack` (as `ifname`, holding `address`) to a port of the switch. */
  private plugStack(node: string, stack: Stack, ifname: string, address: string, on?: SwitchRef): void {
    const [stackEnd, switchEnd] = createPipe(this.clock, { offload: true, names: [`${node}-${ifname}`, `${this.name}-${node}`.slice(0, 40)] });
    this.pipes.push(stackEnd, switchEnd);
    const impaired = this.plug(switchEnd, on);
    const mac = this.randomMacs ? { mac: randomLocalMac() } : {};
    stack.addInterface(stackEnd, { name: ifname, addresses: [`${address}/${this.subnet.prefixLength}`], mtu: this.mtu, ...mac });
    this.links.push(this.linkView(node, ifname, switchEnd.name, impaired, 'stack', on));
  }

  /**
   * Adds `port` to the switch (or `on`, another switch carrying the
   * network's VLAN) as an access port of the network's VLAN, behind a
   * (pass-through until set) impairment.
   */
  private plug(port: Port, on: SwitchRef | undefined): ImpairedPort {
    const impaired = impair(port, this.clock);
    (on?.bridge ?? this.bridge).addPort(impaired, { mode: 'access', pvid: this.vlan });
    return impaired;
  }

  private linkView(node: string, iface: string, port: string, impaired: ImpairedPort, kind: LinkView['kind'], on: SwitchRef | undefined): LinkView {
    return { node, iface, network: this.name, switch: on?.name ?? this.switchName, bridge: on?.bridge ?? this.bridge, port, impaired, kind };
  }

  /** Every node interface plugged into this network. */
  linkViews(): readonly LinkView[] {
    return this.links;
  }

  /** Starts the DNS server once (the first container needs it). */
  private startDns(): Promise<void> {
    return (this.dnsStarted ??= this.dns?.start() ?? Promise.resolve());
  }

  private get broadcast(): IPv4Address {
    return (this.subnet.network | ~prefixMask(this.subnet.prefixLength)) >>> 0;
  }

  private contains(a: IPv4Address): boolean {
    return ((a & prefixMask(this.subnet.prefixLength)) >>> 0) === this.subnet.network;
  }

  /** The next free host address, as Docker's IPAM hands them out. */
  private allocate(): IPv4Address {
    for (let a = this.subnet.network + 1; a < this.broadcast; a++) if (!this.used.has(a)) return a;
    throw new Error(`network ${this.name} has no free address left in ${formatIPv4(this.subnet.network)}/${this.subnet.prefixLength}`);
  }

  /** The given address (checked) or the next free one, taken. */
  private take(name: string, given: string | undefined): IPv4Address {
    if (this.closed) throw new Error(`network ${this.name} is closed`);
    if (this.nodeAddresses.has(name)) throw new Error(`network ${this.name} already has a node named "${name}"`);
    let address: IPv4Address;
    if (given !== undefined) {
      address = parseIPv4(given);
      if (!this.contains(address) || address === this.subnet.network || address === this.broadcast) {
        throw new Error(`ipv4_address ${given} of "${name}" is not a host address of network ${this.name}`);
      }
      if (this.used.has(address)) throw new Error(`ipv4_address ${given} of "${name}" is already in use on network ${this.name}`);
    } else {
      address = this.allocate();
    }
    this.used.add(address);
    return address;
  }

  /** A wirelab host (a router, a script host) joins the network as `ifname`. */
  attachStack(node: string, stack: Stack, opts: { ifname: string; ipv4Address?: string; aliases?: string[]; switch?: SwitchRef }): StackAttachment {
    const address = formatIPv4(this.take(node, opts.ipv4Address));
    this.plugStack(node, stack, opts.ifname, address, opts.switch);
    this.nodeAddresses.set(node, address);
    this.dns?.addHost(node, address, { aliases: opts.aliases ?? [], network: this.name });
    return { name: node, address, ifname: opts.ifname };
  }

  /** A container already on another network joins this one as `ifname` (compose's second network). */
  async attach(container: Container, opts: { name: string; ifname: string; ipv4Address?: string; aliases?: string[]; switch?: SwitchRef }): Promise<Endpoint> {
    const address = this.take(opts.name, opts.ipv4Address);
    await this.startDns();
    const addressText = formatIPv4(address);
    const { port: tap, link } = await openContainerLink(`wl${this.id}n${this.tapCounter++}`.slice(0, IFNAME_MAX), this.vnetHdr);
    try {
      const impaired = this.plug(tap, opts.switch);
      await container.attach({ link, ifname: opts.ifname, address: `${addressText}/${this.subnet.prefixLength}`, mtu: this.mtu });
      const ep: Endpoint = { name: opts.name, aliases: opts.aliases ?? [], address: addressText, container, tap, impaired, ifname: opts.ifname };
      this.endpoints.set(opts.name, ep);
      this.nodeAddresses.set(opts.name, addressText);
      this.links.push(this.linkView(opts.name, opts.ifname, tap.ifname, impaired, 'container', opts.switch));
      this.dns?.addHost(opts.name, addressText, { aliases: opts.aliases ?? [], network: this.name });
      return ep;
    } catch (e) {
      this.used.delete(address);
      this.bridge.removePort(tap.ifname);
      await tap.close().catch(() => undefined);
      throw e;
    }
  }

  /** Makes `name` resolvable on this network's DNS at an address it has elsewhere in the lab (reached through a router). */
  addRemoteName(name: string, address: string, aliases: readonly string[] = []): void {
    this.dns?.addHost(name, address, { aliases: [...aliases] });
  }

  /** `docker run --network NAME --name NAME`: a container whose eth0 is on this network. */
  async run(lab: Lab, opts: RunOptions): Promise<Endpoint> {
    const address = this.take(opts.name, opts.ipv4Address);
    await this.startDns();
    const addressText = formatIPv4(address);
    const { port: tap, link } = await openContainerLink(`wl${this.id}n${this.tapCounter++}`.slice(0, IFNAME_MAX), this.vnetHdr);
    try {
      const impaired = this.plug(tap, opts.switch);
      const container = await lab.container({
        link,
        address: `${formatIPv4(address)}/${this.subnet.prefixLength}`,
        gateway: this.gatewayAddress,
        mtu: this.mtu,
        ...(opts.namespace !== undefined ? { name: opts.namespace } : {}),
        // As Docker on a network without IPv6: no IPv6 in the container, so
        // no router solicitations, MLD reports or DAD probes flooding the switch.
        sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1', ...opts.sysctls },
        // As Docker: the embedded DNS server as the only nameserver, the container's own name in its hosts.
        ...(this.dns !== undefined ? { dns: { nameservers: [this.gatewayAddress], options: ['ndots:0'], hosts: { [opts.name]: addressText } } } : {}),
      });
      const ep: Endpoint = { name: opts.name, aliases: opts.aliases ?? [], address: addressText, container, tap, impaired, ifname: 'eth0' };
      this.endpoints.set(opts.name, ep);
      this.nodeAddresses.set(opts.name, addressText);
      this.links.push(this.linkView(opts.name, 'eth0', tap.ifname, impaired, 'container', opts.switch));
      this.dns?.addHost(opts.name, addressText, { aliases: opts.aliases ?? [], network: this.name });
      return ep;
    } catch (e) {
      this.used.delete(address);
      this.bridge.removePort(tap.ifname);
      await tap.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * A TAP on the switch for a namespace the lab does not own (CNI's ADD),
   * under `key` (the runtime's container id and interface): the address is
   * taken (given or the next free), the name and aliases go into DNS. The
   * TAP stays in the root namespace as `tap.ifname` for the caller to move.
   */
  async plugForeign(key: string, opts: { name: string; ifname: string; ipv4Address?: string; aliases?: string[] }): Promise<ForeignPort> {
    if (this.foreign.has(key)) throw new Error(`network ${this.name} already has an attachment ${key}`);
    const address = this.take(opts.name, opts.ipv4Address);
    const addressText = formatIPv4(address);
    let tap: TapPort | undefined;
    try {
      await this.startDns();
      tap = openTap(`wl${this.id}n${this.tapCounter++}`.slice(0, IFNAME_MAX), { vnetHdr: this.vnetHdr });
      const impaired = this.plug(tap, undefined);
      const aliases = opts.aliases ?? [];
      const fp: ForeignPort = { key, name: opts.name, aliases, address: addressText, tap, impaired, ifname: opts.ifname, published: [] };
      this.foreign.set(key, fp);
      this.nodeAddresses.set(opts.name, addressText);
      this.links.push(this.linkView(opts.name, opts.ifname, tap.ifname, impaired, 'container', undefined));
      this.dns?.addHost(opts.name, addressText, { aliases, network: this.name });
      return fp;
    } catch (e) {
      this.used.delete(address);
      if (tap !== undefined) {
        this.bridge.removePort(tap.ifname);
        await tap.close().catch(() => undefined);
      }
      throw e;
    }
  }

  /** The keys of every attachment (`plugForeign`). */
  foreignKeys(): string[] {
    return [...this.foreign.keys()];
  }

  /** The attachment under `key`, if any. */
  foreignPort(key: string): ForeignPort | undefined {
    return this.foreign.get(key);
  }

  /** Undoes `plugForeign` (CNI's DEL): ports unpublished, TAP closed (its interface goes), address and name freed. False when there was none. */
  async unplugForeign(key: string): Promise<boolean> {
    const fp = this.foreign.get(key);
    if (fp === undefined) return false;
    this.foreign.delete(key);
    await Promise.allSettled(fp.published.map(async (p) => p.close()));
    for (const p of fp.published) {
      const i = this.published.indexOf(p);
      if (i >= 0) this.published.splice(i, 1);
    }
    this.dns?.removeHost(fp.name, { network: this.name });
    this.bridge.removePort(fp.tap.ifname);
    fp.impaired.setOptions({});
    const i = this.links.findIndex((l) => l.port === fp.tap.ifname);
    if (i >= 0) this.links.splice(i, 1);
    this.nodeAddresses.delete(fp.name);
    this.used.delete(parseIPv4(fp.address));
    await fp.tap.close().catch(() => undefined);
    return true;
  }

  /** Publishes `spec` to an attachment (CNI's portMappings), unpublished with it. */
  async publishForeign(key: string, spec: string): Promise<void> {
    const fp = this.foreign.get(key);
    if (fp === undefined) throw new Error(`network ${this.name} has no attachment ${key}`);
    fp.published.push(await this.publish(spec, fp.name));
  }

  endpoint(name: string): Endpoint | undefined {
    return this.endpoints.get(name);
  }

  /**
   * `-p SPEC` for the container `name` (Docker's syntax).
   * - `proxy` (default): a host socket per port (address 127.0.0.1 unless
   *   written), spliced to the container through the gateway host — what
   *   docker-proxy does; the container sees the gateway as the client.
   * - `dnat`: the gateway's uplink address takes the port and rewrites new
   *   flows to the container, keeping the client's own address; containers
   *   on the network reach it through the same address (hairpin). Needs an
   *   uplink; a host address in the spec must be the uplink's.
   */
  async publish(spec: string, name: string, opts: PublishOptions & { mode?: PublishMode } = {}): Promise<PublishedPort | NatHandle> {
    const address = this.nodeAddresses.get(name);
    if (address === undefined) throw new Error(`no container or host "${name}" on network ${this.name}`);
    const { mode = 'proxy', ...proxyOpts } = opts;
    if (mode === 'proxy') {
      const p = await publishPort(this.gateway, spec, address, { owner: name, ...proxyOpts });
      this.published.push(p);
      return p;
    }
    if (this.uplinkName === undefined) throw new Error(`-p ${spec} in DNAT mode needs an uplink on network ${this.name}`);
    const parsed = parsePortSpec(spec);
    if (parsed.hostPortStart === 0) throw new Error(`"${spec}": DNAT mode needs a host port (a random one is a proxy-mode feature)`);
    const onUplink = parsed.hostIp === DEFAULT_HOST_IP || parsed.hostIp === '0.0.0.0' ? undefined : parsed.hostIp;
    const handle = this.gateway.nat.publish({
      protocol: parsed.protocol,
      port: parsed.hostPortStart,
      portEnd: parsed.hostPortEnd,
      toAddress: address,
      toPort: parsed.containerPortStart,
      uplink: this.uplinkName,
      ...(onUplink !== undefined ? { address: onUplink } : {}),
      owner: name,
    });
    this.published.push(handle);
    return handle;
  }

  /** Like `docker network inspect`: the subnet, the gateway and every container. */
  inspect(): { name: string; subnet: string; gateway: string; containers: Array<{ name: string; aliases: readonly string[]; ipv4Address: string; namespace: string }> } {
    return {
      name: this.name,
      subnet: `${formatIPv4(this.subnet.network)}/${this.subnet.prefixLength}`,
      gateway: this.gatewayAddress,
      containers: [...this.endpoints.values()].map((e) => ({ name: e.name, aliases: e.aliases, ipv4Address: e.address, namespace: e.container.name })),
    };
  }

  /** The tables of the network's own services: its DNS server's cache and each published UDP port's flows. */
  tables(): TableUsage[] {
    const out: TableUsage[] = [];
    if (this.dns !== undefined) out.push(this.dns.cache.usage());
    for (const p of this.published) if ('tables' in p) out.push(...p.tables());
    return out;
  }

  /** Unpublishes ports, closes the TAPs (their containers belong to the lab), the gateway and the bridge. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.published.map(async (p) => p.close()));
    this.dns?.close();
    if (this.ownsGateway) this.gateway.close();
    if (this.ownsBridge) this.bridge.close();
    else for (const l of this.links) l.bridge.removePort(l.port);
    for (const l of this.links) l.impaired.setOptions({}); // releases frames held for delay
    await Promise.allSettled([...this.endpoints.values(), ...this.foreign.values()].map((e) => e.tap.close()));
    await Promise.allSettled(this.pipes.map((p) => p.close()));
    if (this.ownsClock && this.clock instanceof RealClock) this.clock.close();
  }
}
