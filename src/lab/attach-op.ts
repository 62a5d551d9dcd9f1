/**
 * The control socket's attachment operations, what the CNI plugin
 * (src/cni/) asks a running lab for a container it does not own:
 *
 * - `attach`: a TAP on the network's switch, an address (given or the next
 *   free one), the container's name and aliases in the network's DNS, its
 *   port mappings published (proxy mode, as `ports:` of a service). The TAP
 *   stays in the lab's namespace: the plugin, which runs where the runtime
 *   runs and sees its namespace paths, moves it in.
 * - `detach`: undoes it; a missing attachment is not an error (CNI's DEL is
 *   idempotent), the answer says whether there was one.
 * - `attached`: what the lab holds for an attachment (CNI's CHECK).
 * - `prune`: detaches every attachment of the network not in `keep` (CNI's
 *   GC, given the runtime's valid attachments); answers with what went.
 *
 * An attachment is keyed by the runtime's container id and interface name,
 * as the CNI specification keys them. The TAP is the lab's open file: when
 * the lab goes, the container's interface goes with it.
 */
import { BridgeNetwork, type ForeignPort } from './network.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  /** tcp (default) or udp. */
  protocol?: string;
  /** The host address to listen on; 127.0.0.1 when empty, as `ports:` in a lab file. */
  hostIP?: string;
}

export type AttachRequest =
  | {
      v: number;
      op: 'attach';
      /** The network; default the lab's first. */
      network?: string;
      containerId: string;
      ifname: string;
      /** The name others find it by (default: the container id's first 12 characters). */
      name?: string;
      aliases?: string[];
      ipv4Address?: string;
      portMappings?: PortMapping[];
    }
  | { v: number; op: 'detach' | 'attached'; network?: string; containerId: string; ifname: string }
  | { v: number; op: 'prune'; network?: string; keep: Array<{ containerId: string; ifname: string }> };

export const ATTACH_OPS = ['attach', 'detach', 'attached', 'prune'] as const;

/** What `attach` and `attached` answer: everything the plugin needs for the interface and the CNI result. */
export interface AttachmentInfo {
  network: string;
  name: string;
  /** The TAP's name in the lab's namespace (the plugin moves it in and renames it to `ifname`). */
  tap: string;
  ifname: string;
  /** With prefix length, e.g. 10.89.0.2/24. */
  address: string;
  gateway: string;
  mtu: number;
  dns: { nameservers: string[]; search: string[] } | undefined;
}

/** The lab whose networks can take attachments (RunningLab). */
export interface AttachableLab {
  readonly model: { readonly name: string; readonly networks: ReadonlyArray<{ readonly name: string }> };
  network(name: string): unknown;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function networkOf(lab: AttachableLab, name: string | undefined): BridgeNetwork {
  const n = name ?? lab.model.networks[0]?.name;
  const net = n === undefined ? undefined : lab.network(n);
  if (!(net instanceof BridgeNetwork)) {
    const have = lab.model.networks.map((x) => x.name).join(', ') || 'none';
    throw new Error(`lab ${lab.model.name} has no network ${n ?? ''} (it has ${have})`);
  }
  return net;
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new Error(`${what} must be a non-empty string`);
  return v;
}

function info(net: BridgeNetwork, fp: ForeignPort): AttachmentInfo {
  return {
    network: net.name,
    name: fp.name,
    tap: fp.tap.ifname,
    ifname: fp.ifname,
    address: `${fp.address}/${net.subnet.prefixLength}`,
    gateway: net.gatewayAddress,
    mtu: net.mtu,
    dns: net.dns === undefined ? undefined : { nameservers: [net.gatewayAddress], search: [net.name] },
  };
}

/** Answers `attach`, `detach`, `attached` or `prune` on `lab`. */
export async function answerAttach(lab: AttachableLab, req: AttachRequest): Promise<AttachmentInfo | { detached: boolean } | { pruned: string[] } | null> {
  const net = networkOf(lab, req.network);
  if (req.op === 'prune') {
    if (!Array.isArray(req.keep)) throw new Error('prune needs keep, a list of {containerId, ifname}');
    const keep = new Set(req.keep.map((k) => `${k.containerId}/${k.ifname}`));
    const pruned = net.foreignKeys().filter((k) => !keep.has(k));
    for (const k of pruned) await net.unplugForeign(k);
    return { pruned };
  }
  const key = `${text(req.containerId, 'containerId')}/${text(req.ifname, 'ifname')}`;
  if (req.op !== 'attach') {
    if (req.op === 'detach') return { detached: await net.unplugForeign(key) };
    const fp = net.foreignPort(key);
    return fp === undefined ? null : info(net, fp);
  }
  const name = req.name ?? req.containerId.slice(0, 12);
  if (!NAME.test(name)) throw new Error(`container name "${name}" must start with a letter or digit and hold only letters, digits, '_', '.', '-' (at most 63)`);
  const aliases = (req.aliases ?? []).filter((a) => a !== name);
  for (const a of aliases) if (!NAME.test(a)) throw new Error(`alias "${a}" must start with a letter or digit and hold only letters, digits, '_', '.', '-'`);
  const fp = await net.plugForeign(key, { name, ifname: req.ifname, aliases, ...(req.ipv4Address !== undefined ? { ipv4Address: req.ipv4Address } : {}) });
  try {
    for (const m of req.portMappings ?? []) {
      const proto = m.protocol ?? 'tcp';
      if (proto !== 'tcp' && proto !== 'udp') throw new Error(`port mapping ${m.hostPort}:${m.containerPort}: protocol ${proto} is not tcp or udp`);
      const host = m.hostIP !== undefined && m.hostIP !== '' ? `${m.hostIP}:` : '';
      await net.publishForeign(key, `${host}${m.hostPort}:${m.containerPort}/${proto}`);
    }
  } catch (e) {
    await net.unplugForeign(key);
    throw e;
  }
  return info(net, fp);
}
