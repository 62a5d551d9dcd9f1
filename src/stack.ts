/**
 * One wirelab host: interfaces, ARP, routes, IPv4, ICMP and UDP composed
 * into the object users hold. `createStack({ clock })` gives a host; give it
 * `forwarding: true` and two interfaces and it is a router.
 *
 *   const host = createStack({ clock });
 *   host.addInterface(port, { addresses: ['10.0.0.2/24'] });
 *   host.addRoute('default', { via: '10.0.0.1' });
 *   await host.icmp.ping('10.0.0.1');
 *   const sock = host.udp.createSocket(); sock.bind(5353);
 */
import type { Port } from './link/port.js';
import type { Clock, TableUsage } from './time/index.js';
import { formatIPv4, networkOf, parseCidr, parseIPv4, parseMac, readIPv4, type Mac } from './wire/address.js';
import { ArpResponder } from './ip/arp.js';
import { IcmpLayer } from './ip/icmp.js';
import { NetInterface } from './ip/interface.js';
import { IpLayer } from './ip/ipv4.js';
import { RouteTable, type Route } from './ip/routes.js';
import type { NeighbourOptions } from './ip/neighbour.js';
import type { ReassemblerOptions } from './ip/reassembly.js';
import { IP_PROTOCOL } from './wire/ipv4.js';
import { UdpLayer, udpErrorForIcmp, type IpSender } from './udp/index.js';
import { TcpLayer, type TcpIpSender } from './tcp/tcp.js';
import type { TcpOptions } from './tcp/state.js';
import { TcpApi } from './tcp/api.js';
import { HttpApi } from './tcp/http.js';
import { NatLayer, type NatOptions } from './nat/nat.js';
import { DnsResolver } from './dns/resolver.js';
import type { TcpLookupFunction } from './tcp/socket.js';

export interface StackOptions {
  clock: Clock;
  /** A name for logs and tables, e.g. 'router1'. */
  name?: string;
  /** Forward between interfaces (net.ipv4.ip_forward). Default false. */
  forwarding?: boolean;
  /** Seeds identifiers (ICMP id, IP id) so runs repeat. */
  seed?: number;
  /** Rate-limit ICMP errors as Linux does (default true). */
  icmpRateLimit?: boolean;
  /** TCP settings (SACK, timestamps, window scaling, congestion control, buffers, …). */
  tcp?: TcpOptions;
  /** ARP cache timers and size (maxEntries is gc_thresh3, default 1024). */
  neighbours?: NeighbourOptions;
  /** Fragment reassembly: maxBytes (ipfrag_high_thresh, default 4 MiB) and timeoutMs (ipfrag_time, default 30 s). */
  reassembly?: Pick<ReassemblerOptions, 'timeoutMs' | 'maxBytes'>;
  /** Conntrack/NAT settings (table size, timeouts, log), used when `stack.nat` is first touched. */
  nat?: Omit<NatOptions, 'name'>;
}

export interface InterfaceOptions {
  name?: string;
  /** MAC as text or number; a locally administered one is derived otherwise. */
  mac?: string | Mac;
  /** CIDR strings, e.g. ['10.0.0.2/24']. */
  addresses?: string[];
  mtu?: number;
  /** Send a gratuitous ARP for each address (Linux does on link up). Default true. */
  announce?: boolean;
  /** One ACK per received batch's run of in-order segments, as GRO (ethtool -K gro). Default: the port's own (on for a TAP). */
  gro?: boolean;
}

export interface RouteOptions {
  via?: string;
  dev?: string;
  metric?: number;
  src?: string;
}

let hostCounter = 0;

export class Stack {
  readonly name: string;
  readonly routes = new RouteTable();
  readonly ip: IpLayer;
  readonly arp: ArpResponder;
  readonly icmp: IcmpLayer;
  readonly udp: UdpLayer;
  /** The TCP core: connections, listeners, `ss -tni` (`tcpLayer.format()`). */
  readonly tcpLayer: TcpLayer;
  private readonly hostId: number;
  private readonly natOptions: Omit<NatOptions, 'name'> | undefined;
  private readonly natSeed: number;
  private natLayer: NatLayer | undefined;

  constructor(readonly clock: Clock, opts: Omit<StackOptions, 'clock'> = {}) {
    this.hostId = ++hostCounter;
    this.name = opts.name ?? `host${this.hostId}`;
    this.natOptions = opts.nat;
    const seed = opts.seed ?? this.hostId * 7919;
    this.natSeed = Math.imul(seed, 0x9e3779b1) ^ 0x6e6174;
    this.ip = new IpLayer(clock, this.routes, { forwarding: opts.forwarding ?? false, seed, neighbours: opts.neighbours, reassembly: opts.reassembly });
    this.arp = new ArpResponder(this.ip);
    this.icmp = new IcmpLayer(this.ip, clock, { identifier: (seed * 31) & 0xffff, rateLimit: opts.icmpRateLimit });
    const ip = this.ip;
    const icmp = this.icmp;
    const sender: IpSender = {
      sendIPv4: (dst, protocol, payload, o) => ip.send(dst, protocol, payload, o ?? {}),
      localAddressFor: (dst) => {
        const r = ip.routes.lookup(dst);
        const iface = r ? ip.interfaceByName(r.dev) : undefined;
        return r?.src ?? iface?.sourceFor(r?.gateway ?? dst);
      },
      isLocalAddress: (a) => ip.isLocalAddress(a),
      isBroadcast: (a) => ip.isBroadcast(a),
      sendIcmpPortUnreachable: (datagram) => icmp.error(3, 3, datagram, undefined),
    };
    this.udp = new UdpLayer(sender, clock);
    this.ip.register(IP_PROTOCOL.UDP, (datagram, hl) => {
      this.udp.input(readIPv4(datagram, 12), readIPv4(datagram, 16), datagram.subarray(hl), datagram);
    });
    this.icmp.onTransportError(IP_PROTOCOL.UDP, (q, type, code) => {
      if (q.srcPort === undefined || q.dstPort === undefined) return;
      const e = udpErrorForIcmp(type, code);
      if (e === undefined) return;
      this.udp.icmpError({ src: q.src, dst: q.dst, srcPort: q.srcPort, dstPort: q.dstPort }, e.code, { hard: e.hard });
    });
    const tcpIp: TcpIpSender = {
      sendIPv4: (dst, protocol, payload, o) => ip.send(dst, protocol, payload, o ?? {}),
      gsoCapable: (dst) => ip.gsoCapable(dst),
      localAddressFor: sender.localAddressFor,
      mtuFor: (dst) => {
        const r = ip.routes.lookup(dst);
        return (r ? ip.interfaceByName(r.dev)?.mtu : undefined) ?? 1500;
      },
      isLocalAddress: (a) => ip.isLocalAddress(a),
    };
    this.tcpLayer = new TcpLayer(tcpIp, clock, { seed: seed * 131 + 7, ...opts.tcp });
    this.ip.register(IP_PROTOCOL.TCP, (datagram, hl, _iface, csumOk) => {
      this.tcpLayer.input(readIPv4(datagram, 12), readIPv4(datagram, 16), datagram.subarray(hl), csumOk, datagram[1]!);
    });
    this.ip.onBatch(this.tcpLayer.batch);
    this.icmp.onTransportError(IP_PROTOCOL.TCP, (q, type, code, _from, mtu) => {
      if (q.srcPort === undefined || q.dstPort === undefined) return;
      const t = q.transport;
      const seq = t.length >= 8 ? readIPv4(t, 4) : undefined;
      this.tcpLayer.icmpError({ src: q.src, dst: q.dst, srcPort: q.srcPort, dstPort: q.dstPort, ...(seq !== undefined ? { seq } : {}) }, type, code, mtu);
    });
  }

  private tcpApi: TcpApi | undefined;

  /** Node's `net` for this host, on `tcpLayer`: createServer, connect/createConnection, agent(). */
  get tcp(): TcpApi {
    return (this.tcpApi ??= new TcpApi(this.tcpLayer, { lookup: () => this.tcpLookup() }));
  }

  private dnsResolver: DnsResolver | undefined;

  /** Name lookup for this host, as Node's `dns.promises`: `setServers`, `lookup`, `resolve4` (src/dns/resolver.ts). */
  get dns(): DnsResolver {
    return (this.dnsResolver ??= new DnsResolver(this));
  }

  /** `stack.dns.lookup` for `stack.tcp.connect({ host: 'web' })`, once DNS servers are set (else names stay ENOTFOUND). */
  private tcpLookup(): TcpLookupFunction | undefined {
    const dns = this.dnsResolver;
    if (dns === undefined || dns.getServers().length === 0) return undefined;
    return (host, _opts, cb) => void dns.lookup(host).then((r) => cb(null, r.address, 4), (e: Error) => cb(e, '', 4));
  }

  private httpApi: HttpApi | undefined;

  /** Node's `http` for this host: createServer (listening on wirelab TCP), agent, request, get. */
  get http(): HttpApi {
    return (this.httpApi ??= new HttpApi(this.tcp));
  }

  /**
   * Connection tracking and NAT (masquerade, published ports, hairpin),
   * created on first use; it hooks into IP only once a rule is added
   * (`masquerade()`, `publish()`) or `enable()` is called, so a host
   * without NAT pays nothing.
   */
  get nat(): NatLayer {
    this.natLayer ??= new NatLayer(this.ip, this.clock, {
      ...this.natOptions,
      name: this.name,
      conntrack: { seed: this.natSeed, ...this.natOptions?.conntrack },
    });
    return this.natLayer;
  }

  get forwarding(): boolean {
    return this.ip.forwarding;
  }
  set forwarding(on: boolean) {
    this.ip.forwarding = on;
  }

  get interfaces(): readonly NetInterface[] {
    return this.ip.interfaces;
  }

  get neighbours() {
    return this.ip.neighbours;
  }

  interface(name: string): NetInterface | undefined {
    return this.ip.interfaceByName(name);
  }

  /** Attaches a port as a new interface, with its connected routes (proto kernel). */
  addInterface(port: Port, opts: InterfaceOptions = {}): NetInterface {
    const index = this.ip.interfaces.length + 1;
    const name = opts.name ?? `eth${index - 1}`;
    if (this.interface(name)) throw Object.assign(new Error(`interface ${name} already exists on ${this.name}`), { code: 'EEXIST' });
    const mac = typeof opts.mac === 'string' ? parseMac(opts.mac) : opts.mac ?? derivedMac(this.hostId, index);
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw Object.assign(new Error(`MTU ${mtu} is outside 68..65535`), { code: 'EINVAL' });
    const cidrs = (opts.addresses ?? []).map((a) => parseCidr(a));
    const iface = new NetInterface(name, index, port, mac, mtu, opts.gro ?? port.gro === true);
    this.ip.addInterface(iface);
    for (const c of cidrs) this.addAddress(name, `${formatIPv4(c.address)}/${c.prefixLength}`, opts.announce ?? true);
    return iface;
  }

  /** `ip addr add CIDR dev NAME`: the address and its connected route. */
  addAddress(dev: string, cidr: string, announce = true): void {
    const iface = this.interface(dev);
    if (!iface) throw Object.assign(new Error(`no interface ${dev} on ${this.name}`), { code: 'ENODEV' });
    const c = parseCidr(cidr);
    iface.addAddress(c.address, c.prefixLength);
    this.routes.add({
      dest: { prefix: networkOf(c), prefixLength: c.prefixLength },
      dev, proto: 'kernel', scope: 'link', src: c.address,
    });
    if (announce) this.arp.announce(iface, c.address);
  }

  /** `ip route add DEST [via GW] [dev DEV] [metric N]`; dev found from the gateway when omitted. */
  addRoute(dest: string, opts: RouteOptions): Route {
    const via = opts.via !== undefined ? parseIPv4(opts.via) : undefined;
    let dev = opts.dev;
    if (dev === undefined) {
      if (via === undefined) throw Object.assign(new Error('a route needs a gateway (via) or a device (dev)'), { code: 'EINVAL' });
      const r = this.routes.lookup(via);
      if (!r || r.gateway !== undefined) {
        throw Object.assign(new Error(`gateway ${opts.via} is not on a connected network ("Nexthop has invalid gateway")`), { code: 'ENETUNREACH' });
      }
      dev = r.dev;
    } else if (!this.interface(dev)) {
      throw Object.assign(new Error(`no interface ${dev} on ${this.name}`), { code: 'ENODEV' });
    }
    return this.routes.add({
      dest, via, dev, metric: opts.metric, proto: 'static',
      ...(opts.src !== undefined ? { src: parseIPv4(opts.src) } : {}),
    });
  }

  /** `ip link set DEV up|down`. */
  setLinkUp(dev: string, up: boolean): void {
    const iface = this.interface(dev);
    if (!iface) throw Object.assign(new Error(`no interface ${dev} on ${this.name}`), { code: 'ENODEV' });
    iface.up = up;
    if (!up) this.ip.neighbours.flushDev(dev);
  }

  /** Like `ip addr`. */
  formatAddresses(): string {
    return this.ip.interfaces.map((i) => i.format()).join('\n');
  }

  /** Every counter of every layer, as one JSON-able object. */
  stats(): Record<string, unknown> {
    return {
      ip: this.ip.stats,
      icmp: this.icmp.stats,
      arp: this.arp.stats,
      udp: this.udp.stats,
      tcp: this.tcpLayer.stats,
      neighbours: this.ip.neighbours.stats,
      reassembly: this.ip.reassembler.stats,
      interfaces: Object.fromEntries(this.ip.interfaces.map((i) => [i.name, i.stats])),
      ...(this.natLayer !== undefined ? { nat: this.natLayer.stats } : {}),
    };
  }

  /**
   * Every table an outsider can grow on this host, against its limit:
   * neighbours, reassembly, TCP's SYN queue and TIME-WAIT, the resolver's
   * cache (once used) and conntrack (once NAT is on).
   */
  tables(): TableUsage[] {
    const out = [this.ip.neighbours.usage(), this.ip.reassembler.usage(), ...this.tcpLayer.tables()];
    if (this.dnsResolver !== undefined) out.push(this.dnsResolver.cache.usage());
    if (this.natLayer !== undefined) out.push(this.natLayer.conntrack.usage());
    return out;
  }

  close(): void {
    this.dnsResolver?.cache.close();
    this.natLayer?.disable();
    this.natLayer?.conntrack.flush();
    this.tcpLayer.close();
    for (const i of this.ip.interfaces) i.port.onReceive = null;
    this.ip.close();
  }
}

export function createStack(opts: StackOptions): Stack {
  return new Stack(opts.clock, opts);
}



/** 02:77:6c:HH:HH:II — locally administered, unique per host and interface in this process. */
function derivedMac(host: number, index: number): Mac {
  return 0x02776c000000 + ((host & 0xffff) << 8) + (index & 0xff);
}
