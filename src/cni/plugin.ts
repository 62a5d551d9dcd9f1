/**
 * `wirelab-cni`'s four commands (CNI spec 1.0.0), on a network of a running
 * lab reached over its control socket (src/lab/attach-op.ts):
 *
 * - ADD: the lab opens a TAP on the network's switch, takes an address (its
 *   own allocator, `CNI_ARGS` `IP=`, or a delegated IPAM plugin), puts the
 *   container's name (`K8S_POD_NAME`, which podman sets to the container's
 *   name, else the id's first 12 characters) and the runtime's aliases in
 *   the network's DNS and publishes `runtimeConfig.portMappings`; the plugin
 *   moves the TAP into CNI_NETNS as CNI_IFNAME and configures it.
 * - DEL: idempotent. The lab closes the TAP (the interface goes with it); a
 *   missing attachment, namespace or lab is success.
 * - CHECK: the lab still holds the attachment, and the interface is in the
 *   namespace, up, with the address.
 * - VERSION: the versions this plugin speaks.
 * - GC (1.1.0): the lab drops every attachment of the network that is not in
 *   `cni.dev/valid-attachments`; no lab running is nothing to collect.
 * - STATUS (1.1.0): success when the lab runs and has the network, code 50
 *   otherwise.
 */
import type { AttachmentInfo, AttachRequest } from '../lab/attach-op.js';
import { SUPPORTED_VERSIONS, type CniEnv, type NetConf } from './config.js';
import { CNI_CODE, CniError } from './errors.js';
import { delegateIpam, firstIPv4 } from './ipam.js';
import { buildResult, type CniResult } from './result.js';
import { askLab, LabUnavailable } from './lab-client.js';
import { configureSandbox, interfaceState, netnsExists } from './sandbox.js';

const V = 1;

/** One control request; a lab that is not running is "try again later" (or nothing to do, for DEL). */
async function ask<T>(lab: string, req: AttachRequest): Promise<T> {
  try {
    return await askLab<T>(lab, req);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof LabUnavailable) throw new CniError(CNI_CODE.tryAgainLater, `${msg}; start it with wirelab up -d`);
    throw new CniError(CNI_CODE.labRefused, `lab ${lab}: ${msg}`);
  }
}

export function version(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: '1.0.0', supportedVersions: [...SUPPORTED_VERSIONS] };
}

export async function add(conf: NetConf, env: CniEnv, stdin: string, processEnv: NodeJS.ProcessEnv): Promise<CniResult> {
  const name = env.args.get('K8S_POD_NAME') || env.containerId.slice(0, 12);
  const aliases = conf.runtimeConfig?.aliases?.[conf.name] ?? [];
  let ipv4Address = env.args.get('IP') || undefined;
  if (conf.ipam !== undefined && ipv4Address === undefined) {
    ipv4Address = firstIPv4(await delegateIpam(conf.ipam.type, 'ADD', stdin, processEnv, env.path), conf.ipam.type);
  }
  const where = { containerId: env.containerId, ifname: env.ifname, ...(conf.network !== undefined ? { network: conf.network } : {}) };
  const undoIpam = async (): Promise<void> => {
    if (conf.ipam !== undefined) await delegateIpam(conf.ipam.type, 'DEL', stdin, processEnv, env.path).catch(() => undefined);
  };
  let info: AttachmentInfo;
  try {
    info = await ask<AttachmentInfo>(conf.lab, {
      v: V,
      op: 'attach',
      ...where,
      name,
      aliases,
      ...(ipv4Address !== undefined ? { ipv4Address } : {}),
      ...(conf.runtimeConfig?.portMappings !== undefined ? { portMappings: conf.runtimeConfig.portMappings } : {}),
    });
  } catch (e) {
    await undoIpam();
    throw e;
  }
  try {
    const { mac, defaultRoute } = await configureSandbox({
      tap: info.tap,
      netns: env.netns,
      ifname: env.ifname,
      address: info.address,
      gateway: info.gateway,
      mtu: info.mtu,
      defaultRoute: conf.defaultRoute ?? true,
      ...(env.args.get('MAC') ? { mac: env.args.get('MAC')! } : {}),
    });
    return buildResult(conf.cniVersion, { ifname: env.ifname, mac, sandbox: env.netns, address: info.address, gateway: info.gateway, defaultRoute, dns: info.dns }, conf.prevResult);
  } catch (e) {
    await ask(conf.lab, { v: V, op: 'detach', ...where }).catch(() => undefined);
    await undoIpam();
    throw e;
  }
}

export async function del(conf: NetConf, env: CniEnv, stdin: string, processEnv: NodeJS.ProcessEnv): Promise<void> {
  try {
    await ask(conf.lab, { v: V, op: 'detach', containerId: env.containerId, ifname: env.ifname, ...(conf.network !== undefined ? { network: conf.network } : {}) });
  } catch (e) {
    // The lab is gone, and its TAPs (the containers' interfaces) with it: nothing left to undo.
    if (!(e instanceof CniError && e.code === CNI_CODE.tryAgainLater)) throw e;
  }
  if (conf.ipam !== undefined) await delegateIpam(conf.ipam.type, 'DEL', stdin, processEnv, env.path);
}

function needs110(conf: NetConf, command: string): void {
  const [major = 0, minor = 0] = conf.cniVersion.split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 1)) throw new CniError(CNI_CODE.incompatibleVersion, `${command} is not part of cniVersion ${conf.cniVersion} (it came with 1.1.0)`);
}

export async function gc(conf: NetConf): Promise<void> {
  needs110(conf, 'GC');
  const keep = (conf['cni.dev/valid-attachments'] ?? []).map((a) => ({ containerId: a.containerID, ifname: a.ifname }));
  try {
    await ask(conf.lab, { v: V, op: 'prune', keep, ...(conf.network !== undefined ? { network: conf.network } : {}) });
  } catch (e) {
    if (!(e instanceof CniError && e.code === CNI_CODE.tryAgainLater)) throw e; // no lab: nothing attached to collect
  }
}

export async function status(conf: NetConf): Promise<void> {
  needs110(conf, 'STATUS');
  try {
    // Any attachment query proves the lab runs and has the network.
    await ask(conf.lab, { v: V, op: 'attached', containerId: 'status', ifname: 'none', ...(conf.network !== undefined ? { network: conf.network } : {}) });
  } catch (e) {
    throw new CniError(CNI_CODE.notAvailable, `wirelab-cni cannot add containers now: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function check(conf: NetConf, env: CniEnv): Promise<void> {
  if (conf.cniVersion.startsWith('0.3.')) throw new CniError(CNI_CODE.incompatibleVersion, `CHECK is not part of cniVersion ${conf.cniVersion} (it came with 0.4.0)`);
  if (conf.prevResult === undefined) throw new CniError(CNI_CODE.invalidConfig, 'CHECK needs prevResult (the result of ADD) in the configuration');
  const info = await ask<AttachmentInfo | null>(conf.lab, { v: V, op: 'attached', containerId: env.containerId, ifname: env.ifname, ...(conf.network !== undefined ? { network: conf.network } : {}) });
  if (info === null) throw new CniError(CNI_CODE.checkFailed, `lab ${conf.lab} has no attachment for container ${env.containerId} interface ${env.ifname}`);
  if (!(await netnsExists(env.netns))) throw new CniError(CNI_CODE.checkFailed, `network namespace ${env.netns} does not exist`);
  const state = await interfaceState(env.netns, env.ifname);
  if (state === undefined) throw new CniError(CNI_CODE.checkFailed, `${env.ifname} is not in ${env.netns}`);
  if (!state.up) throw new CniError(CNI_CODE.checkFailed, `${env.ifname} in ${env.netns} is down`);
  if (!state.addresses.includes(info.address)) throw new CniError(CNI_CODE.checkFailed, `${env.ifname} in ${env.netns} has not ${info.address} (it has ${state.addresses.join(', ') || 'no IPv4 address'})`);
  const prevIps = (conf.prevResult.ips ?? []) as Array<{ address?: string }>;
  if (prevIps.length > 0 && !prevIps.some((ip) => ip.address === info.address)) {
    throw new CniError(CNI_CODE.checkFailed, `the lab holds ${info.address} for ${env.ifname}, not the address in prevResult (${prevIps.map((ip) => ip.address).join(', ')})`);
  }
}
