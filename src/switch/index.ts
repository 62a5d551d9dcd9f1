/**
 * The switch layer: a managed 802.1Q bridge over any `Port`s, its MAC
 * forwarding database, VLAN rules, counters and mirroring. Hand-written; see
 * bridge.ts for why and for what it deliberately does not do (spanning tree).
 */
export { Bridge, type BridgeOptions, type BridgePortInfo, type FdbEntry } from './bridge.js';
export { Fdb, DEFAULT_AGING_MS, DEFAULT_MAX_FDB_ENTRIES, LEARN, macHi, macLo, type FdbOptions, type FdbRecord, type FdbStats } from './fdb.js';
export {
  PortVlan,
  validateVlanConfig,
  DEFAULT_VLAN_CONFIG,
  CLASS,
  EGRESS,
  classDropReason,
  pushTag,
  popTag,
  retag,
  type PortVlanConfig,
} from './vlan.js';
export {
  BRIDGE_DROP_REASONS,
  TX_DROP_REASONS,
  newBridgePortCounters,
  copyBridgePortCounters,
  formatCounterTable,
  formatVlanConfig,
  rxDropped,
  txDropped,
  type BridgeDropReason,
  type BridgePortCounters,
  type PortCounterRow,
} from './counters.js';
export { ScratchSlab, copyBytes } from './scratch.js';
export { type FramePredicate, type MirrorDirection, type MirrorOptions, type MirrorSession, type MirrorTap } from './mirror.js';
