/**
 * A wirelab switch over TAP devices, as `wirelab switch` runs it: one TAP per
 * port, every port in one Bridge, optional pcapng mirror of every port to a
 * file or a stream (stdout, for `| wireshark -k -i -`).
 *
 * Before any TAP is opened, `checkSwitchSetup` refuses what would fail
 * later or harm the host: a capture file that cannot be written, and a port
 * name that is already an interface — one wirelab did not make ("choose
 * another name"; it never advises deleting it), or one a wirelab run
 * recorded in its registry (src/lab/registry.ts: a live run is using it, or
 * a dead run left it behind and `wirelab cleanup` removes it). A TAP made
 * beforehand (`ip tuntap add … mode tap`) is still accepted, as before.
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { forgetInterface, processStartTime, recordInterface, stateDir, type LabState } from './registry.js';
import { PcapngWriter } from '../link/pcap.js';
import { openTap, type TapPort } from '../link/tap.js';
import { Bridge, type PortVlanConfig } from '../switch/index.js';
import { RealClock } from '../time/index.js';

export interface SwitchPortSpec {
  tap: string;
  vlan: PortVlanConfig;
}

/** `tap0` (access VLAN 1), `tap0:10` (access VLAN 10), `tap0:trunk=10,20[,native=1]`. */
export function parseSwitchPort(spec: string): SwitchPortSpec {
  const colon = spec.indexOf(':');
  const tap = colon < 0 ? spec : spec.slice(0, colon);
  const vlan = colon < 0 ? undefined : spec.slice(colon + 1);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(tap)) throw new Error(`port "${spec}": "${tap}" is not a valid interface name (1-15 characters)`);
  if (vlan === undefined) return { tap, vlan: { mode: 'access', pvid: 1 } };
  const trunk = /^trunk=([0-9,]+?)(?:,native=(\d+))?$/.exec(vlan);
  if (trunk) {
    const allowed = trunk[1]!.split(',').filter(Boolean).map((v) => vid(v, spec));
    if (allowed.length === 0) throw new Error(`port "${spec}": a trunk needs at least one VLAN`);
    return { tap, vlan: trunk[2] !== undefined ? { mode: 'trunk', allowed, native: vid(trunk[2], spec) } : { mode: 'trunk', allowed } };
  }
  if (/^\d+$/.test(vlan)) return { tap, vlan: { mode: 'access', pvid: vid(vlan, spec) } };
  throw new Error(`port "${spec}": expected TAP, TAP:VLAN or TAP:trunk=V,V[,native=V]`);
}

function vid(text: string, spec: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 4094) throw new Error(`port "${spec}": VLAN ${text} is outside 1..4094`);
  return n;
}

export interface RunningSwitch {
  readonly bridge: Bridge;
  readonly taps: TapPort[];
  stop(): Promise<void>;
}

/** `errno code` of a failed fs call, e.g. 'EACCES'. */
function errCode(e: unknown): string {
  return typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : String(e);
}

/** Throws a sentence if `file` cannot be created or overwritten; creates nothing. */
export function checkCaptureFile(file: string): void {
  const path = resolve(file);
  const dir = dirname(path);
  const fail = (why: string): never => {
    throw new Error(`cannot write the capture to ${file}: ${why}`);
  };
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (e) {
    fail(errCode(e) === 'ENOENT' ? `directory ${dir} does not exist` : `directory ${dir}: ${errCode(e)}`);
  }
  if (!dirStat!.isDirectory()) fail(`${dir} is not a directory`);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) fail('it is a directory');
    try {
      accessSync(path, fsConstants.W_OK);
    } catch (e) {
      fail(`the file is not writable (${errCode(e)})`);
    }
  } else {
    try {
      accessSync(dir, fsConstants.W_OK);
    } catch (e) {
      fail(`directory ${dir} is not writable (${errCode(e)})`);
    }
  }
}

/** Which wirelab run (live or not) recorded `ifname` in the registry's state files, if any. */
export function registryOwner(ifname: string, dir: string = stateDir()): { pid: number; alive: boolean; argv: string[] } | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^\d+\.json$/.test(f));
  } catch {
    return undefined;
  }
  let boot = 'unknown';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux: compare start times only
  }
  for (const f of files) {
    let s: Partial<LabState>;
    try {
      s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<LabState>;
    } catch {
      continue;
    }
    if (typeof s.pid !== 'number' || !Array.isArray(s.interfaces) || !s.interfaces.includes(ifname)) continue;
    const alive = processStartTime(s.pid) === s.startTime && (s.bootId === undefined || s.bootId === boot);
    return { pid: s.pid, alive, argv: Array.isArray(s.argv) ? s.argv : [] };
  }
  return undefined;
}

/** True if an interface named `name` exists in this network namespace. */
function interfaceExists(name: string): boolean {
  return existsSync(join('/sys/class/net', name));
}

/** True if the existing interface `name` is a TUN/TAP device (the kind `ip tuntap add` makes). */
function isTunTap(name: string): boolean {
  return existsSync(join('/sys/class/net', name, 'tun_flags'));
}

/** Why the port name `name`, an existing interface, cannot be a switch port; undefined if it may be (a TAP made beforehand). */
function existingInterfaceProblem(name: string): string | undefined {
  if (!interfaceExists(name)) return undefined;
  const owner = registryOwner(name);
  if (owner?.alive) {
    const cmd = owner.argv.slice(1).join(' ');
    return `interface ${name} exists: wirelab process ${owner.pid}${cmd ? ` (${cmd})` : ''} holds it and is still running; stop that run or choose another name`;
  }
  if (owner !== undefined) {
    return `interface ${name} exists: a previous wirelab run (pid ${owner.pid}, no longer running) recorded it as its own and left it behind; \`wirelab cleanup\` removes it, or choose another name`;
  }
  if (!isTunTap(name)) return `interface ${name} exists and was not made by wirelab: choose another name for the switch port`;
  return undefined;
}

/**
 * Everything `startSwitch` can refuse before it opens a TAP: a port given
 * twice, a port name that is an existing interface wirelab cannot use, a
 * capture file that cannot be written. Throws the first problem as a sentence.
 */
export function checkSwitchSetup(opts: { ports: SwitchPortSpec[]; pcap?: string | Writable }): void {
  const names = new Set<string>();
  for (const p of opts.ports) {
    if (names.has(p.tap)) throw new Error(`port ${p.tap} is given twice`);
    names.add(p.tap);
  }
  if (typeof opts.pcap === 'string') checkCaptureFile(opts.pcap);
  for (const p of opts.ports) {
    const problem = existingInterfaceProblem(p.tap);
    if (problem !== undefined) throw new Error(problem);
  }
}

/** Opens the TAP for a port; an error about a name that existed before gets a sentence that never advises deleting it. */
function openPortTap(name: string, vnetHdr: boolean): TapPort {
  const existed = interfaceExists(name);
  try {
    return openTap(name, { vnetHdr });
  } catch (e) {
    const code = errCode(e);
    if (existed || code === 'EBUSY' || (e instanceof Error && e.message.includes('ip link del'))) {
      const why = code === 'EBUSY' ? 'another program holds it open' : `the kernel refused to attach to it: ${code}`;
      throw new Error(`cannot open TAP ${name}: it exists and was not made by wirelab (${why}); choose another name for the switch port`, { cause: e });
    }
    throw e;
  }
}

/**
 * Records (or forgets) a port's TAP in wirelab's registry, so another run
 * told the name is taken can say which wirelab process holds it. The TAP
 * dies with this process anyway; a registry that cannot be written (no
 * /run/wirelab for a non-root user with CAP_NET_ADMIN) must not stop the switch.
 */
function ledger(fn: (name: string) => void, name: string): void {
  try {
    fn(name);
  } catch {
    // bookkeeping only
  }
}

export function startSwitch(opts: { ports: SwitchPortSpec[]; vnetHdr?: boolean; pcap?: string | Writable; agingMs?: number }): RunningSwitch {
  checkSwitchSetup(opts);
  const clock = new RealClock();
  const bridge = new Bridge({ clock, name: 'br0', ...(opts.agingMs !== undefined ? { agingMs: opts.agingMs } : {}) });
  const taps: TapPort[] = [];
  const made: string[] = [];
  try {
    for (const p of opts.ports) {
      const existed = interfaceExists(p.tap);
      const t = openPortTap(p.tap, opts.vnetHdr ?? false);
      taps.push(t);
      if (!existed) {
        // Only a TAP this run created: one made beforehand stays the user's, never recorded, never deleted.
        made.push(t.ifname);
        ledger(recordInterface, t.ifname);
      }
      bridge.addPort(t, p.vlan);
    }
  } catch (e) {
    for (const t of taps) void t.close();
    for (const name of made) ledger(forgetInterface, name);
    clock.close();
    throw e;
  }
  const writer = opts.pcap !== undefined ? new PcapngWriter(opts.pcap) : undefined;
  const unmirror = writer ? bridge.mirror(writer) : undefined;
  let stopped: Promise<void> | undefined;
  return {
    bridge,
    taps,
    stop: () =>
      (stopped ??= (async () => {
        unmirror?.();
        await writer?.close();
        bridge.close();
        await Promise.all(taps.map((t) => t.close()));
        for (const name of made) ledger(forgetInterface, name);
        clock.close();
      })()),
  };
}
