/**
 * What a running lab shows to whoever inspects or changes it while it runs
 * (the control socket's `fdb`, `arp`, `routes`, `sockets`, `stats`,
 * `capture`, `link`, `impair`, `replay`): its switches, its wirelab stacks, its
 * containers and the links between them — objects, not YAML.
 *
 * `RunningLab` (./file/up.ts) implements it; inspection code depends only on
 * this interface, so it can be tested on a hand-built lab in memory.
 */
import type { VxlanPort } from '../link/vxlan.js';
import type { ImpairedPort } from '../link/impair.js';
import type { Stack } from '../stack.js';
import type { TableUsage } from '../time/index.js';
import type { Bridge } from '../switch/bridge.js';
import type { Container } from './netns.js';

/** One node interface plugged into a switch port: `web:eth0`, `r1:eth1`, `front-gw:eth0`. */
export interface LinkView {
  /** The node: a service, router, host, or a network's gateway (`<network>-gw`). */
  readonly node: string;
  /** The interface's name on the node (`eth0`, `eth1`, …). */
  readonly iface: string;
  readonly network: string;
  /** The switch it is plugged into (a key of `switches()`). */
  readonly switch: string;
  readonly bridge: Bridge;
  /** The bridge port's name (for `bridge.setPortUp`, `bridge.mirror`, counters). */
  readonly port: string;
  /**
   * The switch port's egress toward the node, impaired (netem on the host
   * end of a Docker veth): `setOptions({})` clears it.
   */
  readonly impaired: ImpairedPort;
  /** 'container' (a namespace on a TAP) or 'stack' (a wirelab host on an in-memory cable). */
  readonly kind: 'container' | 'stack';
}

export interface NetworkView {
  readonly name: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly switch: string;
  /** The VLAN the network's ports are access ports of; undefined for a switch of its own. */
  readonly vlan: number | undefined;
}

export interface LabView {
  readonly name: string;
  switches(): ReadonlyArray<{ readonly name: string; readonly bridge: Bridge }>;
  /** wirelab stacks: each network's gateway (`<network>-gw`, or the router that is its gateway), routers, hosts. */
  stacks(): ReadonlyArray<{ readonly name: string; readonly stack: Stack }>;
  containers(): ReadonlyArray<{ readonly name: string; readonly container: Container }>;
  networks(): readonly NetworkView[];
  links(): readonly LinkView[];
  /**
   * Tables of the lab's services that are neither a stack nor a switch (a
   * network's DNS cache, its published UDP ports' flows), by network.
   */
  serviceTables?(): ReadonlyArray<{ readonly network: string; readonly usage: TableUsage }>;
  /** The VXLAN ports of networks that span machines, by network. */
  vxlanPorts?(): ReadonlyArray<{ readonly network: string; readonly port: VxlanPort }>;
}

/** `node:iface` (or `node`, meaning its only interface) → the link; errors name what exists. */
export function findLink(lab: LabView, target: string): LinkView {
  const [node, iface] = target.split(':', 2) as [string, string | undefined];
  const ofNode = lab.links().filter((l) => l.node === node);
  if (ofNode.length === 0) {
    const nodes = [...new Set(lab.links().map((l) => l.node))].sort();
    throw new Error(`lab ${lab.name} has no node "${node}" (nodes: ${nodes.join(', ')})`);
  }
  if (iface === undefined) {
    if (ofNode.length === 1) return ofNode[0]!;
    throw new Error(`${node} has several interfaces (${ofNode.map((l) => l.iface).join(', ')}): write ${node}:IFACE`);
  }
  const link = ofNode.find((l) => l.iface === iface);
  if (link === undefined) throw new Error(`${node} has no interface ${iface} (it has ${ofNode.map((l) => l.iface).join(', ')})`);
  return link;
}
