/**
 * `wirelab graph`'s engine: a lab's topology as a plain, renderer-neutral
 * description (nodes and the links between them, in the lab's own words),
 * drawn as Mermaid flowchart text or as a self-contained SVG.
 *
 * The description knows nothing of Bridges, Stacks or YAML, so the CLI can
 * build it from a lab file (before anything runs) or from a running lab's
 * `LabView`, and tests can write one by hand. The renderers are
 * `topologyToMermaid` (./graph-mermaid.ts) and `topologyToSvg`
 * (./graph-svg.ts); both check the description here first, so neither has to
 * guess what a dangling edge means, and both print an edge's facts in the
 * same words.
 */

/** What a node is; each renderer gives every kind its own shape or colour. */
export type TopologyNodeKind = 'service' | 'router' | 'host' | 'switch' | 'gateway' | 'outside';

/** Every kind, in the order legends list them. */
export const TOPOLOGY_NODE_KINDS: readonly TopologyNodeKind[] = ['service', 'router', 'host', 'gateway', 'switch', 'outside'];

/** Each kind's colours, shared by both renderers so the two drawings of a lab look alike. */
export const KIND_COLOURS: Record<TopologyNodeKind, { fill: string; stroke: string }> = {
  service: { fill: '#e7f5ff', stroke: '#1c7ed6' },
  router: { fill: '#fff4e6', stroke: '#e8590c' },
  host: { fill: '#ebfbee', stroke: '#2f9e44' },
  gateway: { fill: '#f3f0ff', stroke: '#7048e8' },
  switch: { fill: '#f1f3f5', stroke: '#495057' },
  outside: { fill: '#fff9db', stroke: '#f08c00' },
};

export interface TopologyNode {
  /** Unique within the topology; edges name nodes by it. Any text: renderers map it to ids of their own. */
  id: string;
  kind: TopologyNodeKind;
  /** The first line shown, as written (`web`, `r1`, `front-sw`). */
  label: string;
  /** Further lines, as written: addresses, `ports 127.0.0.1:8080→80`, `healthy`. */
  details: string[];
}

/** A link between two nodes. Links are undirected; `from`/`to` only fix the drawing's order. */
export interface TopologyEdge {
  from: string;
  to: string;
  /** The interface and address at the node's end, e.g. `eth0 172.30.0.2`. */
  label?: string;
  /** The VLAN the link is an access port of. */
  vlan?: number;
  /** The link's impairment in netem's words, e.g. `delay 20ms loss 1%`. */
  impaired?: string;
  /** An 802.1Q trunk between switches. */
  trunk?: boolean;
}

export interface Topology {
  name: string;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

/**
 * The words shown on an edge besides its line style: interface and address,
 * VLAN, netem, trunk. Both renderers print the same words so a reader of
 * either learns the same facts.
 */
export function edgeWords(e: TopologyEdge): string[] {
  const words: string[] = [];
  if (e.label !== undefined && e.label !== '') words.push(e.label);
  if (e.vlan !== undefined) words.push(`vlan ${e.vlan}`);
  if (e.trunk === true) words.push('trunk');
  if (e.impaired !== undefined && e.impaired !== '') words.push(e.impaired);
  return words;
}

/** Throws, naming the culprit, on a duplicate node id or an edge to a node that is not there. */
export function checkTopology(t: Topology): void {
  const ids = new Set<string>();
  for (const n of t.nodes) {
    if (ids.has(n.id)) throw new Error(`topology ${t.name}: node id '${n.id}' appears twice`);
    ids.add(n.id);
  }
  t.edges.forEach((e, i) => {
    for (const end of [e.from, e.to]) {
      if (!ids.has(end)) throw new Error(`topology ${t.name}: edges[${i}] names node '${end}', which is not among the nodes`);
    }
  });
}
