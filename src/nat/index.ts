/** NAT and connection tracking: the public surface of src/nat/. */
export { NatLayer, type NatOptions, type NatStats, type NatCounters, type PortUsage } from './nat.js';
export { Conntrack, type ConntrackOptions, type ConntrackStats } from './conntrack.js';
export type { ConntrackEntryJSON, ConntrackTupleJSON } from './format.js';
export type { MasqueradeOptions, PublishOptions, PublishedPort, NatHandle } from './rules.js';
export { defaultTimeouts, TCP_CT, TCP_CT_NAMES, type ConntrackTimeouts } from './timeouts.js';
