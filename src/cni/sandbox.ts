/**
 * The container's side of an attachment, done by the plugin itself: the lab
 * opened the TAP in its own namespace; `wirelab-cni` runs where the runtime
 * runs and sees the namespace path the runtime gave (a bind mount under
 * /run/netns, or /proc/PID/ns/net, possibly in the runtime's own mount
 * namespace), so it moves the TAP in and configures it there.
 *
 * `ip link set … netns PATH` takes a path; `ip -n` takes only a name under
 * /run/netns, so the commands inside run under `nsenter --net=PATH`. One
 * `ip -batch` does the configuration: MTU, MAC, no IPv6 link-local address
 * (the network is IPv4, as wirelab's containers), the address, up; then the
 * default route, unless the container has one already.
 */
import { run, type RunResult } from '../lab/command.js';
import { CNI_CODE, CniError } from './errors.js';

export interface SandboxConfig {
  /** The TAP's name in the lab's (root) namespace. */
  tap: string;
  netns: string;
  ifname: string;
  /** With prefix length. */
  address: string;
  gateway: string;
  mtu: number;
  mac?: string;
  defaultRoute: boolean;
}

const TIMEOUT = 10_000;

function failure(code: number, what: string, r: RunResult): CniError {
  const reason = r.stderr.trim().split('\n').filter((l) => l !== '').join('; ') || (r.timedOut ? 'timed out' : `exit ${String(r.code)}`);
  return new CniError(code, `${what}: ${reason}`);
}

/** Whether `netns` names a network namespace that exists (DEL and CHECK ask). */
export async function netnsExists(netns: string): Promise<boolean> {
  return (await run(['nsenter', `--net=${netns}`, 'true'], { timeoutMs: TIMEOUT })).code === 0;
}

/**
 * Moves the TAP into the namespace as `ifname` and configures it; returns
 * its MAC and whether the default route is ours (a container already on
 * another network keeps the default route it has, as Docker's second
 * network does).
 */
export async function configureSandbox(c: SandboxConfig): Promise<{ mac: string; defaultRoute: boolean }> {
  const move = await run(['ip', 'link', 'set', 'dev', c.tap, 'netns', c.netns, 'name', c.ifname], { timeoutMs: TIMEOUT });
  if (move.code !== 0) throw failure(CNI_CODE.interfaceSetup, `cannot move ${c.tap} into ${c.netns} as ${c.ifname}`, move);
  const lines = [
    `link set dev ${c.ifname} mtu ${c.mtu}${c.mac !== undefined ? ` address ${c.mac}` : ''} addrgenmode none`,
    `addr add ${c.address} dev ${c.ifname}`,
    `link set dev ${c.ifname} up`,
  ];
  const batch = await run(['nsenter', `--net=${c.netns}`, 'ip', '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: TIMEOUT });
  if (batch.code !== 0) throw failure(CNI_CODE.interfaceSetup, `cannot configure ${c.ifname} in ${c.netns}`, batch);
  let defaultRoute = false;
  if (c.defaultRoute) {
    const route = await run(['nsenter', `--net=${c.netns}`, 'ip', 'route', 'add', 'default', 'via', c.gateway, 'dev', c.ifname], { timeoutMs: TIMEOUT });
    if (route.code !== 0 && !/File exists/.test(route.stderr)) throw failure(CNI_CODE.interfaceSetup, `cannot add the default route via ${c.gateway} in ${c.netns}`, route);
    defaultRoute = route.code === 0;
  }
  const state = await interfaceState(c.netns, c.ifname);
  if (state === undefined) throw new CniError(CNI_CODE.interfaceSetup, `${c.ifname} is not in ${c.netns} after the move`);
  return { mac: state.mac, defaultRoute };
}

export interface InterfaceState {
  mac: string;
  up: boolean;
  /** IPv4 addresses with prefix length. */
  addresses: string[];
}

/** The interface as `ip -j addr` shows it inside the namespace, or undefined when it is not there. */
export async function interfaceState(netns: string, ifname: string): Promise<InterfaceState | undefined> {
  const r = await run(['nsenter', `--net=${netns}`, 'ip', '-j', 'addr', 'show', 'dev', ifname], { timeoutMs: TIMEOUT });
  if (r.code !== 0) return undefined;
  const rows = JSON.parse(r.stdout) as Array<{ address?: string; flags?: string[]; addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>;
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    mac: row.address ?? '',
    up: (row.flags ?? []).includes('UP'),
    addresses: (row.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  };
}
