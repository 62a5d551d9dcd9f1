/** wirelab's public API: everything a user of the library imports from 'wirelab'. */
export * from './wire/result.js';
export * from './wire/address.js';
export * from './wire/checksum.js';
export * from './wire/ethernet.js';
export * from './wire/arp.js';
export * from './wire/ipv4.js';
export * from './wire/icmp.js';
export * from './wire/udp.js';
export * from './wire/tcp.js';
export * from './wire/tcp-options.js';
export * from './wire/dissect.js';
export * from './link/pcap.js';
export * from './time/index.js'; // Clock, VirtualClock, RealClock, Timer, TableUsage
export * from './link/port.js';
export * from './link/tap.js';
export * from './link/packet-port.js';
export * from './link/forward.js';
export * from './link/gso.js';
export * from './lab/index.js';
export * from './switch/index.js';
export * from './link/pipe.js';
export * from './link/impair.js';
export * from './link/random.js';
export * from './link/vxlan.js';
export * from './link/vxlan-underlay.js';
export * from './wire/vxlan.js';
export * from './stack.js';
export { PingError, type PingOptions, type PingReply } from './ip/icmp.js';
export { RouteTable, type Route } from './ip/routes.js';
export { NeighbourTable } from './ip/neighbour.js';
export { UdpSocket, UdpLayer } from './udp/index.js';
export { TcpLayer } from './tcp/tcp.js';
export { TcpApi } from './tcp/api.js';
export { TcpSocket } from './tcp/socket.js';
export { TcpServer } from './tcp/server.js';
export type { TcpOptions, TcpInfo, TcpState } from './tcp/state.js';
export { HttpApi, WirelabHttpServer, type WirelabHttpServerOptions } from './tcp/http.js';
// Port publishing (`docker run -p`), proxy mode: src/nat/portspec.ts, port-proxy.ts, proxy-tcp.ts, proxy-udp.ts.
export {
  parsePortSpec,
  parsePortSpecs,
  formatPortSpec,
  expandPortSpec,
  formatPortMapping,
  PortSpecError,
  DEFAULT_HOST_IP,
  type PortSpec,
  type PortMapping,
  type PortProtocol,
} from './nat/portspec.js';
export {
  publishPort,
  publishedPorts,
  formatPortTable,
  PublishedPort,
  type ProxyGateway,
  type PublishOptions,
  type PublishedPortInfo,
} from './nat/port-proxy.js';
export { TcpPortProxy, type TcpProxyStats, type TcpProxyOptions } from './nat/proxy-tcp.js';
export { UdpPortProxy, type UdpProxyStats, type UdpProxyOptions } from './nat/proxy-udp.js';
export type { PublishError } from './nat/proxy-errors.js';
export { NatLayer, Conntrack, defaultTimeouts, TCP_CT_NAMES } from './nat/index.js';
export type {
  NatOptions, NatStats, NatCounters, PortUsage, ConntrackOptions, ConntrackStats, ConntrackEntryJSON, ConntrackTupleJSON,
  ConntrackTimeouts, MasqueradeOptions, PublishOptions as NatPublishOptions, PublishedPort as NatPublishedPort, NatHandle,
} from './nat/index.js';
export {
  DnsServer,
  DnsResolver,
  LabZone,
  DnsCache,
  Forwarder,
  type DnsServerOptions,
  type DnsServerStats,
  type LookupAddress,
  type LookupOptions,
  type ResolverOptions,
  type ResolverStats,
  type HostRecord,
  type HostRecordOptions,
  type LabZoneOptions,
  type DnsCacheOptions,
  type DnsCacheRow,
  type DnsCacheStats,
  type ForwarderOptions,
  type ForwarderStats,
  type DnsHost,
} from './dns/index.js';
