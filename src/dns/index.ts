/**
 * DNS for wirelab networks: the gateway's server (lab names with authority,
 * everything else forwarded and cached) and the resolver of wirelab hosts
 * (`stack.dns`). Wire format from `dns-packet`.
 */
export { DnsServer, type DnsServerOptions, type DnsServerStats } from './server.js';
export { DnsResolver, type LookupAddress, type LookupOptions, type ResolverOptions, type ResolverStats } from './resolver.js';
export { LabZone, checkDnsName, type HostRecord, type HostRecordOptions, type LabZoneOptions, type ZoneAnswer } from './zone.js';
export { DnsCache, cacheKey, type DnsCacheOptions, type DnsCacheRow, type DnsCacheStats } from './cache.js';
export { Forwarder, parseEndpoint, type ForwarderOptions, type ForwarderStats, type ForwardResult } from './forwarder.js';
export { DnsExchanger, TcpFrameReader, frame, type DnsEndpoint, type DnsHost, type ExchangeOutcome, type ExchangeStats } from './exchange.js';
export { RCODE, EDNS_PAYLOAD, UDP_LIMIT, parseQuery, encodeQuery, encodeResponse, decodeResponse, type ParsedQuery, type MalformedReason } from './message.js';
