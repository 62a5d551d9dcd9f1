/**
 * The lab's public surface: containers (network namespaces around a TAP or
 * veth end), the labs that own them, and the cleanup that never leaves a
 * namespace, interface or process behind.
 */
export { Lab } from './lab.js';
export {
  Container,
  createContainer,
  type ContainerOptions,
  type ExecOptions,
  type ExecResult,
  type Neighbour,
  type SpawnOptions,
} from './netns.js';
export { ContainerProcess, type ExitStatus } from './process.js';
export { type ContainerDnsOptions } from './netns-etc.js';
export {
  cleanupAll,
  cleanupStale,
  installCleanupHandlers,
  registrySnapshot,
  stateDir,
  stateFilePath,
  type LabState,
  type StaleCleanup,
} from './registry.js';
export { CommandError, type RunResult } from './command.js';
export { BridgeNetwork, type BridgeNetworkOptions, type RunOptions as NetworkRunOptions, type Endpoint } from './network.js';
export {
  TOPOLOGY_NODE_KINDS,
  type Topology,
  type TopologyEdge,
  type TopologyNode,
  type TopologyNodeKind,
} from './graph.js';
export { topologyToMermaid } from './graph-mermaid.js';
export { topologyToSvg, type SvgOptions } from './graph-svg.js';
