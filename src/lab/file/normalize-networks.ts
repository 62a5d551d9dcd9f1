/**
 * Networks and switches of a lab file → their models, with the address
 * bookkeeping every node's attachment draws from (normalize-nodes.ts).
 *
 * - A network without `ipam` gets 10.88.N.0/24, N = 0, 1, … counting such
 *   networks in file order and skipping any /24 a declared subnet overlaps
 *   (wirelab's own pool: Docker's default pools are 172.17-31 and 192.168).
 * - Gateway: the subnet's first host address; mtu 1500 (1450 with
 *   `vxlan:`, the underlay's 1500 less 50 bytes of encapsulation); dns true.
 * - `vxlan:` port 4789; one socket per network, so two networks may not
 *   share a port and address, and no remote may be the network's own local.
 * - A network is a switch of its own (named after it, VLAN 1) unless it
 *   names a shared switch (`switch:`), where it is one VLAN: two networks on
 *   one switch need distinct `vlan:` ids, or their traffic would mix.
 * - `switches.S.trunks: [T]` is a trunk cable carrying every VLAN S and T
 *   both have.
 */
import type { NetworkModel, SwitchModel } from './model.js';
import type { NetworkFile, SwitchFile } from './schema.js';
import type { Report } from './normalize.js';

const DEFAULT_MTU = 1500;
/** A VXLAN network's default MTU: a 1500-byte underlay less the 50 bytes of encapsulation (Linux's choice). */
const VXLAN_DEFAULT_MTU = 1450;
const VXLAN_DEFAULT_PORT = 4789;
/** wirelab's pool for networks without ipam: 10.88.N.0/24. */
const AUTO_POOL_BASE = ipToInt('10.88.0.0');

export interface NetState {
  model: NetworkModel;
  base: number;
  prefix: number;
  /** address → node name ('' for the network's own gateway host). */
  used: Map<number, string>;
  /** Next candidate for allocation. */
  next: number;
}

export function normalizeNetworks(defs: Array<[string, NetworkFile | null]>, report: Report): NetState[] {
  const out: NetState[] = [];
  const declared: Array<{ name: string; base: number; prefix: number }> = [];
  // Declared subnets first, so automatic ones can avoid them.
  for (const [name, def] of defs) {
    const cfg = def?.ipam?.config[0];
    if (cfg === undefined) continue;
    const path = ['networks', name, 'ipam', 'config', 0, 'subnet'];
    const [ip, prefixText] = cfg.subnet.split('/') as [string, string];
    const prefix = Number(prefixText);
    const addr = ipToInt(ip);
    const base = addr & maskOf(prefix);
    if ((base >>> 0) !== addr) {
      report(path, `"${cfg.subnet}" has host bits set: the subnet is ${intToIp(base)}/${prefix}`);
      continue;
    }
    if (prefix > 30) {
      report(path, `"${cfg.subnet}" is too small: a network needs room for a gateway and a container (at most /30)`);
      continue;
    }
    const clash = declared.find((d) => overlaps(d.base, d.prefix, base, prefix));
    if (clash !== undefined) {
      report(path, `"${cfg.subnet}" overlaps network ${clash.name}'s subnet ${intToIp(clash.base)}/${clash.prefix}`);
      continue;
    }
    declared.push({ name, base: base >>> 0, prefix });
  }
  // An interface can be plugged into one switch port only.
  const plugged = new Map<string, string>();
  for (const [name, def] of defs) {
    (def?.interfaces ?? []).forEach((ifname, i) => {
      const first = plugged.get(ifname);
      if (first !== undefined) report(['networks', name, 'interfaces', i], `"${ifname}" is already attached to network ${first}`);
      else plugged.set(ifname, name);
    });
  }
  let auto = 0;
  for (const [name, def] of defs) {
    const mtu = def?.mtu ?? (def?.vxlan !== undefined ? VXLAN_DEFAULT_MTU : DEFAULT_MTU);
    const dns = def?.dns ?? true;
    const cfg = def?.ipam?.config[0];
    let base: number;
    let prefix: number;
    let gateway: number;
    if (cfg === undefined) {
      // No ipam: 10.88.N.0/24, N counting in file order, skipping declared subnets.
      for (;;) {
        const candidate = (AUTO_POOL_BASE + auto * 256) >>> 0;
        auto++;
        if (!declared.some((d) => overlaps(d.base, d.prefix, candidate, 24))) {
          base = candidate;
          break;
        }
      }
      prefix = 24;
      gateway = base + 1;
    } else {
      const d = declared.find((x) => x.name === name);
      if (d === undefined) continue; // its subnet was reported
      base = d.base;
      prefix = d.prefix;
      gateway = base + 1;
      if (cfg.gateway !== undefined) {
        const g = ipToInt(cfg.gateway);
        const path = ['networks', name, 'ipam', 'config', 0, 'gateway'];
        const why = hostAddressProblem(g, base, prefix);
        if (why !== undefined) {
          report(path, `${cfg.gateway} ${why} ${intToIp(base)}/${prefix}`);
          continue;
        }
        gateway = g;
      }
    }
    out.push({
      model: {
        name,
        subnet: `${intToIp(base)}/${prefix}`,
        gateway: intToIp(gateway),
        mtu,
        dns,
        switch: def?.switch ?? name,
        vlan: def?.vlan ?? 1,
        gatewayRouter: undefined,
        impair: def?.impair,
        ...(def?.vxlan !== undefined
          ? { vxlan: { vni: def.vxlan.vni, remotes: [...def.vxlan.remotes], port: def.vxlan.port ?? VXLAN_DEFAULT_PORT, local: def.vxlan.local } }
          : {}),
        ...(def?.interfaces !== undefined && def.interfaces.length > 0 ? { interfaces: [...def.interfaces] } : {}),
      },
      base,
      prefix,
      used: new Map([[gateway, '']]),
      next: base + 1,
    });
  }
  return out;
}

/**
 * VXLAN across a lab's networks: each network has a socket of its own, so
 * two networks cannot listen on the same port and address; a network lists
 * a remote only once.
 */
export function checkVxlan(networks: readonly NetState[], report: Report): void {
  const seen = new Map<string, string>();
  for (const { model: n } of networks) {
    if (n.vxlan === undefined) continue;
    const path = ['networks', n.name, 'vxlan'];
    const dup = n.vxlan.remotes.findIndex((r, i) => n.vxlan!.remotes.indexOf(r) !== i);
    if (dup >= 0) report([...path, 'remotes', dup], `remote ${n.vxlan.remotes[dup]} is listed twice`);
    const self = n.vxlan.remotes.indexOf(n.vxlan.local ?? '');
    if (self >= 0) report([...path, 'remotes', self], `remote ${n.vxlan.local} is this machine's own address (local:): it would flood to itself`);
    const here = n.vxlan.local ?? '0.0.0.0';
    const clash = [...seen].find(([k]) => {
      const [port, local] = k.split(' ') as [string, string];
      return Number(port) === n.vxlan!.port && (local === here || local === '0.0.0.0' || here === '0.0.0.0');
    });
    if (clash !== undefined) {
      report([...path, 'port'], `network ${clash[1]} already listens for VXLAN on UDP port ${n.vxlan.port}: give this network a port: of its own`, { atKey: n.vxlan.port === VXLAN_DEFAULT_PORT });
      continue;
    }
    seen.set(`${n.vxlan.port} ${here}`, n.name);
  }
}

/**
 * The switches: each declared one, then one per network of its own. Checks
 * that networks name declared switches, that VLANs on a shared switch are
 * distinct, and that trunks join declared switches.
 */
export function normalizeSwitches(
  defs: Array<[string, SwitchFile | null]>,
  networks: readonly NetState[],
  networkDefs: ReadonlyMap<string, NetworkFile | null>,
  report: Report,
): SwitchModel[] {
  const declared = defs.map(([n]) => n);
  const out: SwitchModel[] = defs.map(([name]) => ({ name, trunks: [], vlans: [] }));
  const byName = new Map(out.map((s) => [s.name, s]));
  for (const n of networks) {
    const def = networkDefs.get(n.model.name);
    if (def?.switch === undefined) {
      if (def?.vlan !== undefined) {
        report(['networks', n.model.name, 'vlan'], `a VLAN needs a shared switch: add switch: (one of switches:) to this network`, { atKey: true });
      }
      if (byName.has(n.model.name)) {
        report(['networks', n.model.name], `network ${n.model.name} has a switch of its own, named like switch ${n.model.name}: rename one of them`, { atKey: true });
        continue;
      }
      const own: SwitchModel = { name: n.model.name, trunks: [], vlans: [1] };
      out.push(own);
      byName.set(own.name, own);
      continue;
    }
    const sw = declared.includes(def.switch) ? byName.get(def.switch) : undefined;
    if (sw === undefined) {
      report(['networks', n.model.name, 'switch'], `unknown switch "${def.switch}" (${declared.length === 0 ? 'the lab declares no switches' : `declared: ${declared.join(', ')}`})`);
      continue;
    }
    const others = networks.filter((o) => o !== n && networkDefs.get(o.model.name)?.switch === def.switch);
    if (def.vlan === undefined && others.length > 0) {
      report(['networks', n.model.name], `shares switch ${def.switch} with ${others.map((o) => o.model.name).join(', ')}: give it a vlan: id of its own`, { atKey: true });
      continue;
    }
    const clash = others.find((o) => o.model.vlan === n.model.vlan && networks.indexOf(o) < networks.indexOf(n));
    if (clash !== undefined) {
      report(['networks', n.model.name, 'vlan'], `VLAN ${n.model.vlan} on switch ${def.switch} is already network ${clash.model.name}'s`);
      continue;
    }
    sw.vlans.push(n.model.vlan);
  }
  const pairs = new Set<string>();
  for (const [name, def] of defs) {
    for (const [i, other] of (def?.trunks ?? []).entries()) {
      const path = ['switches', name, 'trunks', i];
      if (other === name) {
        report(path, `a trunk from switch ${name} to itself would loop every broadcast`);
        continue;
      }
      if (!declared.includes(other)) {
        report(path, `unknown switch "${other}" (declared: ${declared.join(', ')})`);
        continue;
      }
      const key = [name, other].sort().join('\0');
      if (pairs.has(key)) {
        report(path, `switches ${name} and ${other} already have a trunk (one cable: there is no spanning tree to break a loop)`);
        continue;
      }
      pairs.add(key);
      byName.get(name)!.trunks.push(other);
    }
  }
  return out;
}

export function allocate(net: NetState, node: string): number | undefined {
  const broadcast = net.base + 2 ** (32 - net.prefix) - 1;
  for (let a = net.next; a < broadcast; a++) {
    if (!net.used.has(a)) {
      net.used.set(a, node);
      net.next = a + 1;
      return a;
    }
  }
  return undefined;
}

/** Why `addr` is not a host address of base/prefix ("is outside"…), or undefined. */
export function hostAddressProblem(addr: number, base: number, prefix: number): string | undefined {
  if (((addr & maskOf(prefix)) >>> 0) !== base) return 'is outside the subnet';
  if (addr === base) return 'is the network address of';
  if (addr === base + 2 ** (32 - prefix) - 1) return 'is the broadcast address of';
  return undefined;
}

// ---- IPv4 arithmetic ------------------------------------------------------------

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

function overlaps(a: number, ap: number, b: number, bp: number): boolean {
  const p = Math.min(ap, bp);
  return ((a & maskOf(p)) >>> 0) === ((b & maskOf(p)) >>> 0);
}
