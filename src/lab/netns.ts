/**
 * Containers: a Linux network namespace set up the way Docker sets one up.
 *
 * `createContainer` makes a fresh namespace, brings `lo` up, moves an
 * existing interface (a TAP wirelab holds, or a veth end) into it under the
 * container's name for it (`eth0`), sets its MAC, address and MTU, brings it
 * up and adds a default route via the gateway, all inside the namespace: the
 * root namespace's routes are never touched. Programs run inside with
 * `ip netns exec`, either to completion (`exec`) or in the background
 * (`spawn`). `destroy()` kills everything inside and deletes the namespace,
 * which also destroys the virtual interface that was moved in.
 *
 * Every namespace and taken-over interface is recorded in ./registry.ts, so a
 * crash, a signal or a SIGKILL followed by `cleanupStale()` leaves nothing.
 *
 * Hand-written over `ip` (iproute2) and child_process: the lab needs exactly
 * this sequence, with every input validated before anything is created and
 * every failure undone; no library does that for `ip netns`.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { cidrContains, formatMac, isMulticastMac, parseCidr, parseIPv4, parseMac } from '../wire/address.js';
import { CommandError, formatArgv, run, runChecked, type RunOptions, type RunResult } from './command.js';
import { ContainerProcess } from './process.js';
import { forgetEtcDir, forgetInterface, forgetNamespace, recordInterface, recordNamespace, removeEtcDir, removeNamespace, trackChild } from './registry.js';
import { checkBindTargets, renderEtcFiles, writeEtcFiles, type ContainerDnsOptions, type EtcFiles } from './netns-etc.js';

export interface ContainerOptions {
  /** Namespace name; `wl-` + a short random id by default. */
  name?: string;
  /** An interface in the root namespace to move into the container (it is consumed). */
  link: string;
  /** The interface's name inside the container. Default `eth0`. */
  ifname?: string;
  /** MAC address, e.g. `02:42:ac:11:00:02`; the link keeps its own by default. */
  mac?: string;
  /** Address with prefix length, e.g. `10.0.0.1/24`. */
  address?: string;
  mtu?: number;
  /** Default route via this address (inside the container only); needs `address` on the same subnet. */
  gateway?: string;
  /** `net.*` sysctls set inside the namespace, e.g. `{ 'net.ipv4.ip_forward': '1' }`. */
  sysctls?: Record<string, string>;
  /**
   * The container's own resolv.conf and hosts (in /etc/netns/<namespace>/,
   * which `ip netns exec` bind-mounts over /etc): e.g. `{ nameservers:
   * [gateway], search: [network], hosts: { web: '10.0.0.2' } }`. See ./netns-etc.ts.
   */
  dns?: ContainerDnsOptions;
}

export type ExecOptions = Pick<RunOptions, 'timeoutMs' | 'input' | 'check' | 'env'>;
export type ExecResult = RunResult;

export interface SpawnOptions {
  /** 'pipe' gives the process a writable `stdin`; 'ignore' (default) gives it /dev/null. */
  stdin?: 'pipe' | 'ignore';
  env?: NodeJS.ProcessEnv;
}

/** One entry of `ip -j neigh`. */
export interface Neighbour {
  address: string;
  dev: string;
  /** The neighbour's MAC, when known. */
  mac: string | undefined;
  /** NUD states, e.g. ['REACHABLE'] or ['FAILED']. */
  state: string[];
  router: boolean;
}

// ---------------------------------------------------------------------------
// Validation: everything is checked before anything is created.

/** Interface names: 1–15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace, not starting with '-' or '.'. */
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
/** Namespace names: a file in /run/netns; kept short and shell-safe. */
const NSNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;
/** Only per-namespace `net.*` sysctls: anything else would change the host. */
const SYSCTL = /^net[./][A-Za-z0-9_./-]+$/;

function checkName(kind: string, value: string, pattern: RegExp, max: number): void {
  if (value.length > max) throw new Error(`createContainer: ${kind} "${value}" is too long (${value.length} > ${max} characters)`);
  if (!pattern.test(value)) {
    throw new Error(`createContainer: invalid ${kind} "${value}": use letters, digits, '_', '.', '-', not starting with '-' or '.'`);
  }
}

interface Plan {
  name: string | undefined;
  link: string;
  ifname: string;
  mac: string | undefined;
  address: string | undefined;
  mtu: number | undefined;
  gateway: string | undefined;
  sysctls: Array<{ path: string; value: string }>;
  etc: EtcFiles | undefined;
}

function plan(opts: ContainerOptions): Plan {
  const p: Plan = {
    name: opts.name,
    link: opts.link,
    ifname: opts.ifname ?? 'eth0',
    mac: undefined,
    address: undefined,
    mtu: opts.mtu,
    gateway: opts.gateway,
    sysctls: [],
    etc: undefined,
  };
  if (p.name !== undefined) checkName('namespace name', p.name, NSNAME, 32);
  if (typeof p.link !== 'string' || p.link === '') throw new Error('createContainer: `link` (an interface to move in) is required');
  checkName('link name', p.link, IFNAME, 15);
  if (p.link === 'lo') throw new Error('createContainer: the loopback interface cannot be moved into a container');
  checkName('interface name', p.ifname, IFNAME, 15);
  const wrap = (what: string, f: () => void): void => {
    try {
      f();
    } catch (e) {
      throw new Error(`createContainer: ${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (opts.mac !== undefined) {
    wrap('mac', () => {
      const mac = parseMac(opts.mac ?? '');
      if (isMulticastMac(mac)) throw new Error(`"${opts.mac}" is a multicast address`);
      p.mac = formatMac(mac);
    });
  }
  let cidr: ReturnType<typeof parseCidr> | undefined;
  if (opts.address !== undefined) {
    wrap('address', () => {
      if (!opts.address?.includes('/')) throw new Error(`"${opts.address}" has no prefix length: write it like 10.0.0.1/24`);
      cidr = parseCidr(opts.address);
    });
    p.address = opts.address.trim();
  }
  if (p.mtu !== undefined && (!Number.isInteger(p.mtu) || p.mtu < 68 || p.mtu > 65535)) {
    throw new Error(`createContainer: mtu ${p.mtu} is not an integer in 68..65535`);
  }
  if (p.gateway !== undefined) {
    const gw = p.gateway;
    wrap('gateway', () => {
      const addr = parseIPv4(gw);
      if (cidr === undefined) throw new Error(`a gateway (${gw}) needs an address on its subnet`);
      if (!cidrContains(cidr, addr)) throw new Error(`${gw} is not on the container's subnet ${p.address}`);
      if (addr === cidr.address) throw new Error(`${gw} is the container's own address`);
    });
  }
  for (const [key, value] of Object.entries(opts.sysctls ?? {})) {
    if (!SYSCTL.test(key) || key.split(/[./]/).includes('..')) {
      throw new Error(`createContainer: sysctl "${key}" is not allowed: only net.* keys live in a network namespace`);
    }
    if (/[\n\0]/.test(value)) throw new Error(`createContainer: sysctl ${key} value must be a single line`);
    // `net.ipv4.ip_forward` → net/ipv4/ip_forward; a key written with '/' keeps its dots (eth0.42).
    p.sysctls.push({ path: `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`, value });
  }
  if (opts.dns !== undefined) {
    p.etc = renderEtcFiles(opts.dns);
    checkBindTargets();
  }
  return p;
}

// ---------------------------------------------------------------------------
// Creating a container

/** Builds a container around `opts.link`. On any failure nothing it created is left behind. */
export async function createContainer(opts: ContainerOptions): Promise<Container> {
  const p = plan(opts);
  const probe = await run(['ip', '-j', 'link', 'show', 'dev', p.link], { timeoutMs: 10_000 });
  if (probe.code !== 0) throw new Error(`createContainer: link "${p.link}" does not exist in the root namespace`);

  const name = await addNamespace(p.name);
  const step = async (what: string, argv: string[]): Promise<void> => {
    try {
      await runChecked(argv);
    } catch (e) {
      throw new Error(`createContainer ${name}: ${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const ip = (...args: string[]): string[] => ['ip', '-n', name, ...args];
  let wroteEtc = false;
  try {
    if (p.etc !== undefined) {
      writeEtcFiles(name, p.etc);
      wroteEtc = true;
    }
    recordInterface(p.link); // before the move: a crash in between must still find it
    // Moved and renamed in one step, so the sysctls below can name the interface as the container knows it.
    const rename = p.ifname !== p.link ? ['name', p.ifname] : [];
    await step(`move ${p.link} in${rename.length > 0 ? ` as ${p.ifname}` : ''}`, ['ip', 'link', 'set', 'dev', p.link, 'netns', name, ...rename]);
    if (p.sysctls.length > 0) {
      // Before the interface is up (disable_ipv6 must come before any IPv6 traffic). One shell for
      // all of them: sh only redirects into /proc/sys; paths and values travel as arguments, never as code.
      const args = p.sysctls.flatMap((x) => [x.path, x.value]);
      await step(
        `set sysctls ${p.sysctls.map((x) => x.path).join(', ')}`,
        ['ip', 'netns', 'exec', name, 'sh', '-c', 'while [ $# -gt 0 ]; do printf "%s\\n" "$2" > "$1" || exit 1; shift 2; done', 'sh', ...args],
      );
    }
    // The rest in one `ip -batch` process (a container is created in a handful of processes, not a dozen).
    const props = [...(p.mac !== undefined ? ['address', p.mac] : []), ...(p.mtu !== undefined ? ['mtu', String(p.mtu)] : [])];
    const batch: Array<[string, string[]]> = [
      ['bring lo up', ['link', 'set', 'dev', 'lo', 'up']],
      ...(props.length > 0 ? [[`set ${props.join(' ')}`, ['link', 'set', 'dev', p.ifname, ...props]] as [string, string[]]] : []),
      ...(p.address !== undefined ? [[`add address ${p.address}`, ['addr', 'add', p.address, 'dev', p.ifname]] as [string, string[]]] : []),
      [`bring ${p.ifname} up`, ['link', 'set', 'dev', p.ifname, 'up']],
      ...(p.gateway !== undefined ? [[`add default route via ${p.gateway}`, ['route', 'add', 'default', 'via', p.gateway, 'dev', p.ifname]] as [string, string[]]] : []),
    ];
    await runBatch(name, batch);
    const links = JSON.parse(await runChecked(ip('-j', 'link', 'show', 'dev', p.ifname))) as Array<{ address?: string }>;
    return new Container(name, p.ifname, p.link, links[0]?.address ?? '', p.address, wroteEtc);
  } catch (e) {
    // Undo: deleting the namespace also destroys the moved (virtual) link; an unmoved link was never ours.
    await removeNamespace(name).catch(() => undefined);
    forgetNamespace(name);
    forgetInterface(p.link);
    if (wroteEtc) {
      removeEtcDir(name);
      forgetEtcDir(name);
    }
    throw e;
  }
}

/**
 * Runs `ip -n NS -batch -` with one command per line; a failure names the
 * step of the line `ip` reports ("Command failed -:N").
 */
async function runBatch(ns: string, steps: ReadonlyArray<[string, string[]]>): Promise<void> {
  const r = await run(['ip', '-n', ns, '-batch', '-'], { input: steps.map(([, argv]) => argv.join(' ')).join('\n') + '\n', timeoutMs: 10_000 });
  if (r.code === 0) return;
  const line = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1] ?? 0);
  const what = steps[line - 1]?.[0] ?? 'configure';
  const argv = steps[line - 1]?.[1] ?? [];
  const reason = r.stderr.split('\n').filter((l) => l !== '' && !/Command failed/.test(l)).join('; ') || `exit ${r.code}`;
  throw new Error(`createContainer ${ns}: ${what}: \`ip -n ${ns} ${argv.join(' ')}\` failed: ${reason}`);
}

/** `ip netns add`, with a random `wl-xxxxxx` name unless one is given; records it. */
async function addNamespace(given: string | undefined): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const name = given ?? `wl-${randomBytes(3).toString('hex')}`;
    const r = await run(['ip', 'netns', 'add', name], { timeoutMs: 10_000 });
    if (r.code === 0) {
      try {
        recordNamespace(name);
      } catch (e) {
        // Unrecorded, it could not be cleaned up after a crash: do not keep it.
        await run(['ip', 'netns', 'del', name], { timeoutMs: 10_000 });
        throw new Error(`createContainer: cannot record namespace ${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return name;
    }
    if (/exists/i.test(r.stderr)) {
      if (given !== undefined) throw new Error(`createContainer: namespace "${name}" already exists`);
      if (attempt < 5) continue;
    }
    throw new Error(`createContainer: ${new CommandError(['ip', 'netns', 'add', name], r).message}`);
  }
}

// ---------------------------------------------------------------------------
// A container

export interface AttachOptions {
  /** An interface in the root namespace to move in (it is consumed). */
  link: string;
  /** Its name inside, e.g. `eth1`. */
  ifname: string;
  /** Address with prefix length, e.g. `10.0.2.5/24`. */
  address?: string;
  mtu?: number;
}

export class Container {
  private readonly procs = new Set<ContainerProcess>();
  private destroying: Promise<void> | undefined;
  /** Links moved in after creation (`attach`), forgotten in the registry on destroy. */
  private readonly attached: string[] = [];

  /** Use `createContainer` (or `Lab.container`) rather than this constructor. */
  constructor(
    /** Namespace name, e.g. `wl-3f9a1c`. */
    readonly name: string,
    /** The interface inside, e.g. `eth0`. */
    readonly ifname: string,
    /** What the interface was called in the root namespace. */
    readonly link: string,
    /** Its MAC as `ip link` prints it. */
    readonly mac: string,
    /** Its address with prefix length, if one was asked for. */
    readonly address: string | undefined,
    /** True when it has its own /etc/netns/<name>/ resolv.conf and hosts (the `dns` option). */
    readonly hasEtc = false,
  ) {}

  /** True once `destroy()` has been called. */
  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  /** Processes started with `spawn` that are still running. */
  get processes(): ReadonlySet<ContainerProcess> {
    return this.procs;
  }

  private assertLive(what: string, argv: readonly string[]): void {
    if (this.destroying !== undefined) throw new Error(`cannot ${what} \`${formatArgv(argv)}\`: container ${this.name} is destroyed`);
  }

  /** Runs argv inside the container to completion. With `check`, a failure rejects with a `CommandError`. */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    try {
      this.assertLive('exec', argv);
    } catch (e) {
      return Promise.reject(e);
    }
    if (argv.length === 0) return Promise.reject(new Error(`exec in ${this.name}: empty argv`));
    return run(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  /** Starts argv inside the container in the background. `ip netns exec` execs in place: the pid is the program's. */
  spawn(argv: readonly string[], opts: SpawnOptions = {}): ContainerProcess {
    this.assertLive('spawn', argv);
    if (argv.length === 0) throw new Error(`spawn in ${this.name}: empty argv`);
    const child = nodeSpawn('ip', ['netns', 'exec', this.name, ...argv], {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    trackChild(this.name, child);
    const proc = new ContainerProcess(argv, child);
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /**
   * Moves one more interface in (a second network, compose's second entry
   * under `networks:`): renamed, MTU and address set, up. No route is added:
   * the first network keeps the default route, as Docker does.
   */
  async attach(opts: AttachOptions): Promise<void> {
    this.assertLive('attach', [opts.link]);
    checkName('link name', opts.link, IFNAME, 15);
    checkName('interface name', opts.ifname, IFNAME, 15);
    if (opts.address !== undefined) parseCidr(opts.address);
    const ip = (...args: string[]): string[] => ['ip', '-n', this.name, ...args];
    const step = async (what: string, argv: string[]): Promise<void> => {
      try {
        await runChecked(argv);
      } catch (e) {
        throw new Error(`attach ${opts.link} to ${this.name}: ${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    recordInterface(opts.link);
    this.attached.push(opts.link);
    await step('move it in', ['ip', 'link', 'set', 'dev', opts.link, 'netns', this.name]);
    if (opts.ifname !== opts.link) await step(`rename to ${opts.ifname}`, ip('link', 'set', 'dev', opts.link, 'name', opts.ifname));
    if (opts.mtu !== undefined) await step(`set mtu ${opts.mtu}`, ip('link', 'set', 'dev', opts.ifname, 'mtu', String(opts.mtu)));
    if (opts.address !== undefined) await step(`add address ${opts.address}`, ip('addr', 'add', opts.address, 'dev', opts.ifname));
    await step(`bring ${opts.ifname} up`, ip('link', 'set', 'dev', opts.ifname, 'up'));
  }

  /** The container's neighbour table (`ip -j neigh`). */
  async neighbours(): Promise<Neighbour[]> {
    this.assertLive('read', ['ip', 'neigh']);
    const out = await runChecked(['ip', '-n', this.name, '-j', 'neigh', 'show']);
    const rows = (out.trim() === '' ? [] : JSON.parse(out)) as Array<{
      dst: string;
      dev: string;
      lladdr?: string;
      state?: string[];
      router?: unknown;
    }>;
    return rows.map((r) => ({ address: r.dst, dev: r.dev, mac: r.lladdr, state: r.state ?? [], router: 'router' in r }));
  }

  /**
   * Kills every process inside (spawned ones and anything `ip netns pids`
   * lists), deletes the namespace and forgets it in the registry. Idempotent:
   * later calls return the same promise.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      for (const p of this.procs) p.child.kill('SIGKILL');
      await removeNamespace(this.name);
      await Promise.all([...this.procs].map((p) => p.exited));
      forgetNamespace(this.name);
      forgetInterface(this.link);
      for (const l of this.attached) forgetInterface(l);
      if (this.hasEtc) {
        removeEtcDir(this.name);
        forgetEtcDir(this.name);
      }
    })();
    return this.destroying;
  }
}
