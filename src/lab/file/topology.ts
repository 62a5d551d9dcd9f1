/**
 * A lab model as a drawing's topology (src/lab/graph.ts): every service,
 * router and host a node, every switch a node, each network without a
 * router its gateway host; an edge per interface to the switch it plugs
 * into (its interface and address, its VLAN on a shared switch, its
 * impairment), and the trunks between switches. `wirelab graph` renders it
 * as Mermaid or SVG.
 */
import type { Topology, TopologyEdge, TopologyNode } from '../graph.js';
import type { AttachmentModel, LabModel } from './model.js';

export function labTopology(model: LabModel): Topology {
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  // A shared switch is one of `switches:`; every other switch is one network's own.
  const own = new Set(model.networks.filter((n) => n.switch === n.name).map((n) => n.name));
  const shared = new Set(model.switches.filter((s) => !own.has(s.name)).map((s) => s.name));
  for (const s of model.switches) {
    const nets = model.networks.filter((n) => n.switch === s.name || (n.switch === n.name && n.name === s.name));
    nodes.push({
      id: `switch:${s.name}`,
      kind: 'switch',
      label: s.name,
      details: shared.has(s.name) ? [`vlans ${s.vlans.join(', ')}`] : nets.map((n) => n.subnet),
    });
  }
  const attach = (node: string, a: AttachmentModel): void => {
    const net = model.networks.find((n) => n.name === a.network);
    const impaired = a.impair ?? net?.impair;
    edges.push({
      from: node,
      to: `switch:${a.switch}`,
      label: `${a.ifname} ${a.ipv4Address}`,
      ...(net !== undefined && shared.has(net.switch) ? { vlan: net.vlan } : {}),
      ...(impaired !== undefined ? { impaired } : {}),
    });
  };
  for (const n of model.networks) {
    if (n.gatewayRouter !== undefined) continue;
    const id = `${n.name}-gw`;
    nodes.push({ id, kind: 'gateway', label: id, details: [n.gateway, ...(n.dns ? ['dns'] : [])] });
    edges.push({ from: id, to: `switch:${n.switch}`, label: `eth0 ${n.gateway}`, ...(shared.has(n.switch) ? { vlan: n.vlan } : {}), ...(n.impair !== undefined ? { impaired: n.impair } : {}) });
  }
  for (const r of model.routers) {
    nodes.push({ id: r.name, kind: 'router', label: r.name, details: [...(r.nat !== undefined ? [`nat ${r.nat} on ${r.uplink}`] : []), ...r.routes.map((x) => `${x.dest} via ${x.via}`)] });
    for (const a of r.networks) attach(r.name, a);
  }
  for (const h of model.hosts) {
    nodes.push({ id: h.name, kind: 'host', label: h.name, details: [h.script.split('/').pop() ?? h.script, ...h.ports.map((p) => `ports ${p}`)] });
    for (const a of h.networks) attach(h.name, a);
  }
  for (const s of model.services) {
    nodes.push({ id: s.name, kind: 'service', label: s.name, details: s.ports.map((p) => `ports ${p}`) });
    for (const a of s.networks) attach(s.name, a);
  }
  for (const s of model.switches) {
    for (const t of s.trunks) {
      const vlans = s.vlans.filter((v) => model.switches.find((x) => x.name === t)?.vlans.includes(v));
      edges.push({ from: `switch:${s.name}`, to: `switch:${t}`, label: `vlans ${vlans.join(', ')}`, trunk: true });
    }
  }
  return { name: model.name, nodes, edges };
}
