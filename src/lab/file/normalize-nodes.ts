/**
 * Which networks each node (service, router, host) joins, and at which
 * address: the `networks:` of every node → its AttachmentModels.
 *
 * - A service or host without `networks` joins the lab's only network.
 * - Interfaces are eth0, eth1, … in the order the node lists its networks;
 *   eth0 carries the default route.
 * - A router joining a network without `ipv4_address` takes the network's
 *   gateway address if no router took it before (file order): the router
 *   is then the network's gateway, and the network has no gateway host of
 *   its own.
 * - Static addresses are reserved before anything is allocated; the rest
 *   are allocated from the first free host address, services first, then
 *   hosts, then routers, each in file order, as Docker's IPAM hands out
 *   addresses in creation order.
 */
import type { AttachmentModel } from './model.js';
import type { AttachmentsFile } from './schema.js';
import { allocate, hostAddressProblem, intToIp, ipToInt, type NetState } from './normalize-networks.js';
import type { Report } from './normalize.js';

export type NodeKind = 'services' | 'routers' | 'hosts';

const SINGULAR: Record<NodeKind, string> = { services: 'service', routers: 'router', hosts: 'host' };

type PathSegment = string | number;

interface PendingAttachment {
  kind: NodeKind;
  node: string;
  net: NetState;
  seg: PathSegment;
  staticAddress: number | undefined;
  aliases: string[];
  impair: string | undefined;
  switch: string | undefined;
  ifname: string;
  address: number | undefined;
}

/** Collects every node's attachments, then reserves and allocates their addresses. */
export class AttachmentPlanner {
  private readonly pending: PendingAttachment[] = [];

  constructor(
    private readonly declaredNetworks: string[],
    private readonly byNetwork: Map<string, NetState>,
    private readonly report: Report,
  ) {}

  /** Reads one node's `networks:`; problems are reported, what is valid is kept. */
  add(kind: NodeKind, node: string, list: AttachmentsFile): void {
    const { report, declaredNetworks: declared } = this;
    const base = [kind, node];
    if (list === undefined) {
      if (kind === 'routers') {
        report(base, 'a router needs networks: (the networks it joins and forwards between)');
        return;
      }
      if (declared.length === 1) {
        const only = this.byNetwork.get(declared[0]!);
        if (only !== undefined) this.push(kind, node, only, 'networks', undefined, 0);
        return;
      }
      if (declared.length === 0) {
        report(base, 'the lab declares no network to join: add one under the top-level networks: (e.g. networks: { net: {} })');
      } else {
        report(base, `the lab has ${declared.length} networks (${declared.join(', ')}): say which this ${SINGULAR[kind]} joins with networks:`);
      }
      return;
    }
    const entries: Array<[string, { ipv4_address?: string | undefined; aliases?: string[] | undefined; impair?: string | undefined; switch?: string | undefined } | null, PathSegment]> =
      Array.isArray(list) ? list.map((n, i) => [n, null, i]) : Object.entries(list).map(([n, v]) => [n, v, n]);
    const path = [...base, 'networks'];
    if (entries.length === 0) {
      report(path, `lists no network: a ${SINGULAR[kind]} joins at least one`);
      return;
    }
    const seen = new Set<string>();
    let index = 0;
    for (const [netName, opts, seg] of entries) {
      if (seen.has(netName)) {
        report([...path, seg], `lists network ${netName} twice`);
        continue;
      }
      seen.add(netName);
      const net = this.byNetwork.get(netName);
      if (net === undefined) {
        // A declared network missing from byNetwork had its own problem reported: say nothing more here.
        if (!declared.includes(netName)) {
          report([...path, seg], `unknown network "${netName}" (${declared.length === 0 ? 'the lab declares no networks' : `declared: ${declared.join(', ')}`})`, { atKey: true });
        }
        continue;
      }
      let staticAddress: number | undefined;
      if (opts?.ipv4_address !== undefined) {
        const a = ipToInt(opts.ipv4_address);
        const why = hostAddressProblem(a, net.base, net.prefix);
        if (why !== undefined) {
          report([...path, netName, 'ipv4_address'], `${opts.ipv4_address} ${why} ${net.model.subnet} of network ${netName}`);
          continue;
        }
        staticAddress = a;
      }
      const p = this.push(kind, node, net, seg, staticAddress, index++);
      p.aliases = opts?.aliases ?? [];
      p.impair = opts?.impair;
      p.switch = opts?.switch;
    }
  }

  private push(kind: NodeKind, node: string, net: NetState, seg: PathSegment, staticAddress: number | undefined, index: number): PendingAttachment {
    const p: PendingAttachment = { kind, node, net, seg, staticAddress, aliases: [], impair: undefined, switch: undefined, ifname: `eth${index}`, address: undefined };
    this.pending.push(p);
    return p;
  }

  /** Reserves statics, gives routers their gateways, allocates the rest; returns each node's attachments. */
  assign(): Map<string, AttachmentModel[]> {
    const { report } = this;
    const describe = (owner: string): string => {
      if (owner === '') return "the network's gateway";
      const p = this.pending.find((x) => x.node === owner);
      return `the address of ${p === undefined ? 'service' : SINGULAR[p.kind]} ${owner}`;
    };
    for (const p of this.pending) {
      if (p.staticAddress === undefined) continue;
      const other = p.net.used.get(p.staticAddress);
      if (other === '' && p.kind === 'routers' && p.net.model.gatewayRouter === undefined) {
        p.net.model.gatewayRouter = p.node; // a router written at the gateway address is the gateway
      } else if (other !== undefined) {
        report([p.kind, p.node, 'networks', p.net.model.name, 'ipv4_address'], `${intToIp(p.staticAddress)} is already ${describe(other)}`);
        continue;
      }
      p.net.used.set(p.staticAddress, p.node);
      p.address = p.staticAddress;
    }
    for (const p of this.pending) {
      if (p.kind !== 'routers' || p.staticAddress !== undefined || p.net.model.gatewayRouter !== undefined) continue;
      const gw = ipToInt(p.net.model.gateway);
      p.net.model.gatewayRouter = p.node;
      p.net.used.set(gw, p.node);
      p.address = gw;
    }
    for (const kind of ['services', 'hosts', 'routers'] as const) {
      for (const p of this.pending) {
        if (p.kind !== kind || p.address !== undefined || p.staticAddress !== undefined) continue;
        p.address = allocate(p.net, p.node);
        if (p.address === undefined) {
          report([p.kind, p.node], `network ${p.net.model.name} (${p.net.model.subnet}) has no free address left for this ${SINGULAR[kind]}`);
        }
      }
    }
    const out = new Map<string, AttachmentModel[]>();
    for (const p of this.pending) {
      const key = `${p.kind}/${p.node}`;
      const list = out.get(key) ?? [];
      out.set(key, list);
      list.push({ network: p.net.model.name, ipv4Address: p.address === undefined ? '' : intToIp(p.address), aliases: p.aliases, ifname: p.ifname, impair: p.impair, switch: p.switch ?? p.net.model.switch });
    }
    return out;
  }
}
