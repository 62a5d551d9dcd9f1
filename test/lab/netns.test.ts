/**
 * Containers and their cleanup, against the real kernel: a container gets the
 * interface, addresses and routes it asked for; two containers joined by a
 * veth ping each other; exec/spawn/destroy behave; bad input leaves nothing
 * behind; the state file mirrors what exists; and after a lab process is
 * SIGKILLed (or signalled, or crashes) nothing — namespace, interface or
 * process — survives, while the root namespace's routes stay as they were.
 *
 * Every name carries a random id; afterAll removes whatever a failing test
 * left. Addresses are 10.211.0.0/16, used only inside these namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { requireRoot } from '../helpers/netns.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { cleanupAll, cleanupStale, processStartTime, stateFilePath, type LabState } from '../../src/lab/registry.js';

const capability = requireRoot(['ping', 'sleep', 'ps']);
const id = randomBytes(3).toString('hex');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// ---------------------------------------------------------------------------
// Helpers over the real system

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function shOk(argv: string[]): boolean {
  try {
    sh(argv);
    return true;
  } catch {
    return false;
  }
}
const netnsList = (): string[] => (JSON.parse(sh(['ip', '-j', 'netns', 'list']) || '[]') as Array<{ name: string }>).map((n) => n.name);
const rootLinks = (): string[] => (JSON.parse(sh(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
const rootRoutes = (): string => sh(['ip', 'route', 'show', 'table', 'all']) + sh(['ip', '-6', 'route', 'show', 'table', 'all']);
const linkExists = (name: string): boolean => shOk(['ip', 'link', 'show', 'dev', name]);
/** Alive and not a zombie (PID 1 here may not reap orphans). */
const alive = (pid: number): boolean => processStartTime(pid) !== undefined;

const links: string[] = [];
let serial = 0;
/** A persistent TAP in the root namespace, deleted in afterAll if still there. */
function makeTap(): string {
  const name = `wlt${id}${(serial++).toString(36)}`;
  sh(['ip', 'tuntap', 'add', 'dev', name, 'mode', 'tap']);
  links.push(name);
  return name;
}
/** A veth pair in the root namespace (moved out at once by the test). */
function makeVeth(): [string, string] {
  const n = (serial++).toString(36);
  const pair: [string, string] = [`wlv${id}${n}a`, `wlv${id}${n}b`];
  sh(['ip', 'link', 'add', pair[0], 'type', 'veth', 'peer', 'name', pair[1]]);
  links.push(...pair);
  return pair;
}

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---------------------------------------------------------------------------

describe.skipIf(capability.skip)('lab containers (network namespaces)', () => {
  let lab: Lab;
  let stateDir: string;
  let routesBefore: string;
  const previousStateDir = process.env.WIRELAB_STATE_DIR;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    capability.assert();
    stateDir = mkdtempSync(join(tmpdir(), 'wl-state-'));
    process.env.WIRELAB_STATE_DIR = stateDir;
    routesBefore = rootRoutes();
    lab = new Lab();
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await lab?.close().catch(() => undefined);
    await cleanupAll().catch(() => undefined);
    if (stateDir !== undefined) await cleanupStale(stateDir).catch(() => undefined);
    for (const l of links) if (linkExists(l)) shOk(['ip', 'link', 'del', 'dev', l]);
    for (const ns of netnsList()) if (ns.includes(id)) shOk(['ip', 'netns', 'del', ns]);
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
    if (previousStateDir === undefined) delete process.env.WIRELAB_STATE_DIR;
    else process.env.WIRELAB_STATE_DIR = previousStateDir;
    if (routesBefore !== undefined) expect(rootRoutes()).toBe(routesBefore);
  });

  describe('one container', () => {
    let c: Container;
    let tap: string;

    beforeAll(async () => {
      tap = makeTap();
      c = await lab.container({
        link: tap,
        mac: '02:00:0a:d3:01:02',
        address: '10.211.1.2/24',
        mtu: 1400,
        gateway: '10.211.1.1',
        sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.eth0.rp_filter': '0' },
      });
    });

    it('gets eth0 with the MAC, address, MTU and default route asked for, and lo up', async () => {
      expect(c.name).toMatch(/^wl-[0-9a-f]{6}$/);
      expect(c.ifname).toBe('eth0');
      expect(netnsList()).toContain(c.name);
      expect(linkExists(tap)).toBe(false); // moved out of the root namespace

      const addrs = JSON.parse((await c.exec(['ip', '-j', 'addr'], { check: true })).stdout) as Array<{
        ifname: string;
        flags: string[];
        mtu: number;
        address: string;
        addr_info: Array<{ family: string; local: string; prefixlen: number }>;
      }>;
      const eth0 = addrs.find((a) => a.ifname === 'eth0');
      const lo = addrs.find((a) => a.ifname === 'lo');
      expect(eth0?.address).toBe('02:00:0a:d3:01:02');
      expect(c.mac).toBe('02:00:0a:d3:01:02');
      expect(eth0?.mtu).toBe(1400);
      expect(eth0?.flags).toContain('UP');
      expect(eth0?.addr_info).toContainEqual(expect.objectContaining({ family: 'inet', local: '10.211.1.2', prefixlen: 24 }));
      expect(lo?.flags).toContain('UP');
      expect(lo?.addr_info).toContainEqual(expect.objectContaining({ family: 'inet', local: '127.0.0.1' }));
      expect(addrs.map((a) => a.ifname).sort()).toEqual(['eth0', 'lo']);

      const routes = JSON.parse((await c.exec(['ip', '-j', 'route'], { check: true })).stdout) as Array<{
        dst: string;
        gateway?: string;
        dev: string;
      }>;
      expect(routes).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.211.1.1', dev: 'eth0' }));
      expect(routes).toContainEqual(expect.objectContaining({ dst: '10.211.1.0/24', dev: 'eth0' }));
    });

    it('sets sysctls inside the namespace only', async () => {
      const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
      expect((await c.exec(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('1');
      expect((await c.exec(['cat', '/proc/sys/net/ipv4/conf/eth0/rp_filter'])).stdout.trim()).toBe('0');
      expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(hostForward);
    });

    it('exec returns output and exit codes, takes input, times out, and names the command when checked', async () => {
      const r = await c.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', code: 3, signal: null });
      expect((await c.exec(['cat'], { input: 'via stdin' })).stdout).toBe('via stdin');
      const slow = await c.exec(['sleep', '5'], { timeoutMs: 100 });
      expect(slow).toMatchObject({ signal: 'SIGKILL', timedOut: true });
      await expect(c.exec(['sh', '-c', 'echo broken >&2; exit 2'], { check: true })).rejects.toThrow(
        /ip netns exec wl-[0-9a-f]{6} sh -c .*exited 2: broken/,
      );
      await expect(c.exec(['no-such-program-wl'], { check: true })).rejects.toThrow(/no-such-program-wl/);
    });

    it('spawn runs in the background, shows up in the namespace, and kill stops it', async () => {
      const p = c.spawn(['sh', '-c', 'echo started; exec sleep 1000']);
      await p.waitForOutput(/started/);
      expect(p.pid).toBeGreaterThan(0);
      const pids = sh(['ip', 'netns', 'pids', c.name]).split(/\s+/).filter(Boolean).map(Number);
      expect(pids).toContain(p.pid);
      expect(c.processes.has(p)).toBe(true);
      expect(await p.kill('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
      expect(p.running).toBe(false);
      expect(c.processes.has(p)).toBe(false);
      expect(alive(p.pid!)).toBe(false);
    });
  });

  it('a veth pair between two containers pings, and the neighbour table shows the peer', async () => {
    const [a, b] = makeVeth();
    const ca = await lab.container({ link: a, address: '10.211.2.1/24' });
    const cb = await lab.container({ link: b, address: '10.211.2.2/24', ifname: 'net1' });
    expect(linkExists(a) || linkExists(b)).toBe(false);
    const ping = await ca.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.211.2.2'], { timeoutMs: 10_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/2 received/);
    const neigh = await ca.neighbours();
    expect(neigh).toContainEqual(expect.objectContaining({ address: '10.211.2.2', dev: 'eth0', mac: cb.mac }));
    await Promise.all([ca.destroy(), cb.destroy()]);
  });

  it('destroy kills long-running processes inside, deletes the namespace and the moved link, and is idempotent', async () => {
    const c = await lab.container({ link: makeTap(), address: '10.211.3.2/24' });
    const spawned = c.spawn(['sleep', '1000']);
    // A process that is not our child: its shell exits, leaving an orphaned sleep in the namespace.
    const orphan = Number((await c.exec(['sh', '-c', 'sleep 1000 >/dev/null 2>&1 & echo $!'], { check: true })).stdout);
    await until(() => sh(['ip', 'netns', 'pids', c.name]).split(/\s+/).includes(String(spawned.pid)));
    expect(alive(orphan)).toBe(true);

    await c.destroy();
    expect(c.destroyed).toBe(true);
    expect(alive(orphan)).toBe(false);
    expect(alive(spawned.pid!)).toBe(false);
    expect((await spawned.exited).signal).toBe('SIGKILL');
    expect(netnsList()).not.toContain(c.name);
    expect(linkExists(c.link)).toBe(false);
    await c.destroy(); // again: fine
    await expect(c.exec(['true'])).rejects.toThrow(new RegExp(`container ${c.name} is destroyed`));
  });

  it('bad inputs give clear errors and leave nothing behind', async () => {
    const tap = makeTap();
    const nsBefore = netnsList();
    const linksBefore = rootLinks();
    const bad: Array<[Parameters<Lab['container']>[0], RegExp]> = [
      [{ link: tap, address: '10.0.0.300/24' }, /address.*invalid IPv4 address "10\.0\.0\.300"/],
      [{ link: tap, address: '10.0.0.1/33' }, /prefix length must be 0\.\.32/],
      [{ link: tap, address: '10.0.0.1' }, /no prefix length/],
      [{ link: tap, name: `wl-${'x'.repeat(40)}` }, /namespace name .* is too long \(43 > 32/],
      [{ link: tap, ifname: 'a-very-long-ifname' }, /interface name "a-very-long-ifname" is too long \(18 > 15/],
      [{ link: tap, ifname: 'bad/name' }, /invalid interface name/],
      [{ link: `wlt${id}nope` }, new RegExp(`link "wlt${id}nope" does not exist in the root namespace`)],
      [{ link: tap, mac: '01:00:5e:00:00:01' }, /multicast/],
      [{ link: tap, mac: 'zz:00' }, /invalid MAC/],
      [{ link: tap, mtu: 20 }, /mtu 20/],
      [{ link: tap, gateway: '10.211.4.1' }, /needs an address/],
      [{ link: tap, address: '10.211.4.2/24', gateway: '10.9.9.9' }, /not on the container's subnet/],
      [{ link: tap, sysctls: { 'kernel.hostname': 'x' } }, /only net\.\* keys/],
      [{ link: 'lo' }, /loopback/],
    ];
    for (const [opts, message] of bad) await expect(lab.container(opts), JSON.stringify(opts)).rejects.toThrow(message);
    // A failure after the namespace exists (the kernel rejects an MTU over the TAP's maximum) is undone too.
    await expect(lab.container({ link: tap, mtu: 65535 })).rejects.toThrow(/createContainer wl-[0-9a-f]{6}: set mtu 65535: `ip -n .*`/);
    expect(netnsList()).toEqual(nsBefore);
    // The TAP was consumed by that last attempt (moved in, then destroyed with the namespace); nothing else changed.
    expect(rootLinks()).toEqual(linksBefore.filter((l) => l !== tap));
    const state = existsSync(stateFilePath()) ? (JSON.parse(readFileSync(stateFilePath(), 'utf8')) as LabState) : undefined;
    expect(state?.interfaces ?? []).not.toContain(tap);
  });

  it('a name already in use is refused and the existing namespace is left alone', async () => {
    const c = await lab.container({ link: makeTap(), name: `wl-${id}-dup` });
    await expect(lab.container({ link: makeTap(), name: `wl-${id}-dup` })).rejects.toThrow(/namespace "wl-.*-dup" already exists/);
    expect(netnsList()).toContain(c.name);
    expect((await c.exec(['true'])).code).toBe(0);
    await c.destroy();
  });

  it('the state file lists exactly the namespaces and interfaces that exist, and follows destroy', async () => {
    await lab.close(); // start from nothing
    lab = new Lab();
    expect(existsSync(stateFilePath())).toBe(false);
    const [ta, tb] = [makeTap(), makeTap()];
    const a = await lab.container({ link: ta });
    const b = await lab.container({ link: tb });
    const read = (): LabState => JSON.parse(readFileSync(join(stateDir, `${process.pid}.json`), 'utf8')) as LabState;
    let state = read();
    expect(state).toMatchObject({ version: 1, pid: process.pid, startTime: processStartTime(process.pid) });
    expect(state.namespaces.sort()).toEqual([a.name, b.name].sort());
    expect(state.interfaces.sort()).toEqual([ta, tb].sort());
    expect(netnsList().filter((n) => state.namespaces.includes(n)).sort()).toEqual(state.namespaces);

    await a.destroy();
    state = read();
    expect(state.namespaces).toEqual([b.name]);
    expect(state.interfaces).toEqual([tb]);
    expect(netnsList()).not.toContain(a.name);

    await lab.close();
    expect(existsSync(join(stateDir, `${process.pid}.json`))).toBe(false);
    lab = new Lab();
  });

  // -------------------------------------------------------------------------
  // A lab in another process, ended three ways

  /** Starts a node process running a lab with one container (around a new TAP) and a `sleep 1000` inside. */
  async function startLabProcess(mode: 'wait' | 'signals' | 'throw'): Promise<{
    child: ChildProcess;
    ns: string;
    sleepPid: number;
    tap: string;
    exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  }> {
    const script = join(stateDir, 'lab-process.mts');
    writeFileSync(
      script,
      `import { Lab, installCleanupHandlers } from ${JSON.stringify(join(ROOT, 'src/lab/index.ts'))};
const [mode, link] = process.argv.slice(2);
if (mode === 'signals') installCleanupHandlers();
const lab = new Lab();
const c = await lab.container({ link, address: '10.211.9.2/24', gateway: '10.211.9.1' });
const p = c.spawn(['sh', '-c', 'echo up; exec sleep 1000']);
await p.waitForOutput(/up/);
console.log('READY ' + c.name + ' ' + p.pid);
if (mode === 'throw') setTimeout(() => { throw new Error('deliberate crash'); }, 100);
setInterval(() => {}, 1 << 30);
`,
    );
    const tap = makeTap();
    const child = spawn(process.execPath, ['--import', 'tsx', script, mode, tap], {
      cwd: ROOT,
      env: { ...process.env, WIRELAB_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on('exit', (code, signal) => res({ code, signal })),
    );
    let out = '';
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const ready = await new Promise<RegExpMatchArray>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`lab process not ready: ${err}`)), 20_000);
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /READY (\S+) (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(m);
        }
      });
      void exit.then((e) => rej(new Error(`lab process exited early (${e.code ?? e.signal}): ${err}`)));
    });
    return { child, ns: ready[1]!, sleepPid: Number(ready[2]), tap, exit };
  }

  it('after kill -9 of a lab process, cleanupStale removes its namespace, interface and processes', async () => {
    const linksBefore = rootLinks();
    const routes = rootRoutes();
    const { child, ns, sleepPid, tap, exit } = await startLabProcess('wait');
    const file = join(stateDir, `${child.pid}.json`);
    expect((JSON.parse(readFileSync(file, 'utf8')) as LabState).namespaces).toEqual([ns]);

    // A live process's state is not touched.
    expect(await cleanupStale(stateDir)).toEqual([]);
    expect(netnsList()).toContain(ns);

    child.kill('SIGKILL');
    await exit;
    // Nothing ran on SIGKILL: all of it is still there.
    expect(netnsList()).toContain(ns);
    expect(alive(sleepPid)).toBe(true);
    expect(existsSync(file)).toBe(true);

    const reports = await cleanupStale(stateDir);
    expect(reports).toEqual([
      { pid: child.pid, file, namespaces: [ns], interfaces: [], etc: [], processes: [sleepPid], errors: [] },
    ]);
    expect(netnsList()).not.toContain(ns);
    expect(linkExists(tap)).toBe(false);
    expect(rootLinks()).toEqual(linksBefore);
    expect(alive(sleepPid)).toBe(false);
    // ps may still list it as a zombie (<defunct>) when PID 1 does not reap orphans; that is a corpse, not a process.
    const ps = sh(['ps', '-eo', 'pid=,stat=']).split('\n').map((l) => l.trim().split(/\s+/));
    expect(ps.filter(([pid, stat]) => Number(pid) === sleepPid && !stat?.startsWith('Z'))).toEqual([]);
    expect(existsSync(file)).toBe(false);
    expect(rootRoutes()).toBe(routes);
    expect(await cleanupStale(stateDir)).toEqual([]);
  });

  it('a lab process with cleanup handlers cleans up on SIGTERM and exits 143', async () => {
    const { child, ns, sleepPid, exit } = await startLabProcess('signals');
    child.kill('SIGTERM');
    expect(await exit).toEqual({ code: 143, signal: null });
    expect(netnsList()).not.toContain(ns);
    expect(alive(sleepPid)).toBe(false);
    expect(existsSync(join(stateDir, `${child.pid}.json`))).toBe(false);
  });

  it('a lab process that crashes with an uncaught error cleans up on exit', async () => {
    const { child, ns, sleepPid, exit } = await startLabProcess('throw');
    expect(await exit).toEqual({ code: 1, signal: null });
    expect(netnsList()).not.toContain(ns);
    expect(alive(sleepPid)).toBe(false);
    expect(existsSync(join(stateDir, `${child.pid}.json`))).toBe(false);
  });

  it('cleanupStale tells a reused pid from the process that wrote the file', async () => {
    const sleeper = spawn('sleep', ['30']);
    children.push(sleeper);
    const pid = sleeper.pid!;
    await until(() => alive(pid));
    const file = join(stateDir, `${pid}.json`);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const state = (startTime: string): LabState => ({
      version: 1, pid, startTime, bootId, argv: [], namespaces: [`wl-${id}-gone`], interfaces: [],
    });
    writeFileSync(file, JSON.stringify(state(processStartTime(pid)!)));
    expect(await cleanupStale(stateDir)).toEqual([]); // the writer is alive
    expect(existsSync(file)).toBe(true);
    writeFileSync(file, JSON.stringify(state('1'))); // same pid, different process
    expect(await cleanupStale(stateDir)).toEqual([
      { pid, file, namespaces: [], interfaces: [], etc: [], processes: [], errors: [] },
    ]);
    expect(existsSync(file)).toBe(false);
    sleeper.kill('SIGKILL');
  });
});
