/**
 * Throwaway Linux network namespaces for interop tests.
 *
 * Hand-written rather than taken from a library: what the tests need is a thin,
 * safe wrapper over `ip netns` / `ip netns exec` that (1) only ever acts inside
 * namespaces it created itself, (2) tracks every namespace, process and temp
 * file so `destroy()` can undo all of it even after a failed test, and (3) can
 * wrap an async action in a tcpdump capture that is known to be listening
 * before the action starts and flushed after it ends. No npm package does that.
 *
 * Safety rules (DESIGN.md, "Network safety"): nothing here changes the root
 * namespace's routes or interfaces. The veth pair is created inside namespace
 * A with its peer moved straight into B, so it never appears in the root
 * namespace; the addresses come from 10.199.0.0/16, used only by these
 * namespaces; `exec` refuses any namespace this module did not create.
 */
import { spawn as nodeSpawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// ---------------------------------------------------------------------------
// Capability check

export interface Capability {
  /** True only when the capability is missing and CI is not set: the suite may skip. */
  readonly skip: boolean;
  /** Why the capability is missing; undefined when everything is present. */
  readonly reason: string | undefined;
  /** Throws the reason when the capability is missing (call it in beforeAll). */
  assert(): void;
}

function onPath(tool: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => {
    try {
      accessSync(join(d, tool), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Checks that we run as root and that `ip` and the given tools are installed.
 * Missing and CI unset: `skip` is true, with a reason the suite prints.
 * Missing and CI=true: `skip` is false and `assert()` throws, so the tests
 * FAIL — a CI run must never pass by skipping the kernel interop tests.
 */
export function requireRoot(tools: readonly string[] = []): Capability {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push(`not root (uid ${process.getuid?.() ?? 'unknown'})`);
  const missing = ['ip', ...tools].filter((t) => !onPath(t));
  if (missing.length > 0) problems.push(`missing tools: ${missing.join(', ')}`);
  const reason =
    problems.length === 0 ? undefined : `kernel interop tests need root, network namespaces and tools: ${problems.join('; ')}`;
  const ci = process.env.CI === 'true';
  if (reason !== undefined && !ci) console.warn(`skipping: ${reason} (set CI=true to make this a failure)`);
  return {
    skip: reason !== undefined && !ci,
    reason,
    assert() {
      if (reason !== undefined) throw new Error(reason);
    },
  };
}

// ---------------------------------------------------------------------------
// Bookkeeping: everything this module created, so it can be undone.

const ownedNamespaces = new Set<string>();
const liveProcesses = new Set<NsProcess>();

function assertOwned(ns: string): void {
  if (!ownedNamespaces.has(ns)) {
    throw new Error(`refusing to run in namespace "${ns}": it was not created by test/helpers/netns.ts`);
  }
}

// Last resort if the worker exits without afterAll having run: delete our
// namespaces synchronously (this also removes their veths).
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of liveProcesses) p.child.kill('SIGKILL');
    for (const ns of ownedNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });
}

// ---------------------------------------------------------------------------
// Running commands

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long. Default 10 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Throw if the command exits non-zero, times out or dies by a signal. */
  check?: boolean;
}

export interface ExecResult {
  argv: readonly string[];
  stdout: string;
  stderr: string;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

function describeResult(r: ExecResult): string {
  const how = r.timedOut ? 'timed out' : r.signal !== null ? `died by ${r.signal}` : `exited ${r.code}`;
  return `\`${r.argv.join(' ')}\` ${how}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`;
}

function runArgv(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('exec: empty argv'));
  return new Promise((resolve, reject) => {
    const child = nodeSpawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 10_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run \`${argv.join(' ')}\`: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r: ExecResult = {
        argv,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code,
        signal,
        timedOut,
      };
      if (opts.check && (code !== 0 || timedOut)) reject(new Error(describeResult(r)));
      else resolve(r);
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs `argv` inside namespace `ns` (one this module created) and collects its output. */
export function exec(ns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  assertOwned(ns);
  return runArgv(['ip', 'netns', 'exec', ns, ...argv], opts);
}

/** A long-running command inside a namespace (tcpdump, nc -l, …). */
export class NsProcess {
  private out = '';
  private err = '';
  private exitResult: ExecResult | undefined;
  /** Resolves when the process has exited, with everything it printed. */
  readonly exited: Promise<ExecResult>;

  constructor(
    readonly ns: string,
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (b: Buffer) => (this.out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (this.err += b.toString()));
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        liveProcesses.delete(this);
        this.exitResult ??= { argv, stdout: this.out, stderr: this.err, code, signal, timedOut: false };
        resolve(this.exitResult);
      };
      child.on('close', finish);
      child.on('error', (e) => {
        this.err += `\n${e.message}`;
        finish(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  get running(): boolean {
    return this.exitResult === undefined;
  }

  /** Resolves once stdout or stderr matches `pattern`; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => pattern.test(this.out) || pattern.test(this.err);
      if (check()) return resolve();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        this.child.stderr?.off('data', onData);
      };
      const onData = (): void => {
        // Our own 'data' listener was attached first, so the text is already appended.
        if (check()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`\`${this.argv.join(' ')}\` did not print ${pattern} within ${timeoutMs} ms; stderr: ${this.err.trim()}`));
      }, timeoutMs);
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      void this.exited.then((r) => {
        if (check()) return;
        cleanup();
        reject(new Error(`${describeResult(r)} before printing ${pattern}`));
      });
    });
  }

  /** Sends `signal` (default SIGTERM); SIGKILL if still alive after `graceMs`. Resolves on exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2_000): Promise<ExecResult> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/**
 * Starts a long-running command inside namespace `ns`. `ip netns exec` execs
 * the command in place, so the child's pid is the command's own pid.
 */
export function spawn(ns: string, argv: readonly string[]): NsProcess {
  assertOwned(ns);
  const child = nodeSpawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new NsProcess(ns, argv, child);
  liveProcesses.add(p);
  return p;
}

// ---------------------------------------------------------------------------
// Capturing

export interface CaptureOptions {
  /** A tcpdump filter expression, as separate words (e.g. ['tcp', 'port', '5555']). */
  filter?: readonly string[];
  /** Wait this long after the action before stopping tcpdump, for late frames. Default 150 ms. */
  settleMs?: number;
  /** Directory for the pcap file; a fresh temp directory by default. */
  dir?: string;
}

export interface CaptureResult<T> {
  /** The whole pcap file tcpdump wrote. */
  bytes: Uint8Array;
  /** Where it is (for tshark); removed with the namespaces' temp directory or by the caller. */
  path: string;
  /** What the action returned. */
  result: T;
  /** tcpdump's stderr: "N packets captured … 0 packets dropped by kernel". */
  tcpdumpStderr: string;
}

/** Temp directories made by `capture`, each with the namespace it was made for. */
const captureDirs = new Map<string, string>();

/**
 * Runs `tcpdump -U -w` on `iface` inside `ns` around `fn`: the action starts
 * only after tcpdump printed "listening on" (its socket is open), and tcpdump
 * is stopped with SIGINT afterwards so it flushes and closes the file.
 */
export async function capture<T>(
  ns: string,
  iface: string,
  fn: () => Promise<T>,
  opts: CaptureOptions = {},
): Promise<CaptureResult<T>> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'wl-cap-')));
  if (opts.dir === undefined) captureDirs.set(dir, ns);
  const path = join(dir, `${ns}-${iface}-${Date.now()}.pcap`);
  const td = spawn(ns, ['tcpdump', '-i', iface, '-n', '-U', '--immediate-mode', '-s', '0', '-w', path, ...(opts.filter ?? [])]);
  let result: T;
  try {
    await td.waitForOutput(/listening on/, 5_000);
    result = await fn();
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 150));
  } finally {
    await td.kill('SIGINT', 3_000);
  }
  const stopped = await td.exited;
  if (stopped.signal === 'SIGKILL') throw new Error(`tcpdump on ${ns}/${iface} had to be killed: ${stopped.stderr}`);
  return { bytes: new Uint8Array(await readFile(path)), path, result, tcpdumpStderr: stopped.stderr };
}

// ---------------------------------------------------------------------------
// The veth pair

export interface NsEnd {
  /** Namespace name, e.g. `wl-t-3f9a1c-a`. */
  ns: string;
  /** The veth end inside it, e.g. `wl3f9a1ca` (short enough for `.42` suffixes). */
  iface: string;
  /** Dotted-quad address on the veth, e.g. `10.199.177.1`. */
  ip: string;
  prefixLength: number;
  /** MAC of the veth end as `ip link` prints it. */
  mac: string;
}

export interface VethPair {
  /** Short random id shared by the names of everything this pair created. */
  id: string;
  a: NsEnd;
  b: NsEnd;
  /** Kills tracked and leftover processes in both namespaces, deletes them (and the veth), removes temp files. Idempotent. */
  destroy(): Promise<void>;
}

export interface VethPairOptions {
  /** Third octet of 10.199.x.0/24; random in 128..254 by default (below 128 is left for tests' own subnets). */
  subnet?: number;
  /** Disable IPv6 in both namespaces so captures hold only the tests' own traffic. Default true. */
  disableIpv6?: boolean;
}

/** MAC of `iface` in `ns`, read from `ip -j link`. */
export async function linkMac(ns: string, iface: string): Promise<string> {
  const r = await exec(ns, ['ip', '-j', 'link', 'show', 'dev', iface], { check: true });
  const links = JSON.parse(r.stdout) as Array<{ address?: string }>;
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no MAC for ${iface} in ${ns}: ${r.stdout}`);
  return mac;
}

/**
 * Makes two fresh namespaces `wl-t-<id>-a` and `wl-t-<id>-b`, joined by a veth
 * pair with 10.199.x.1/24 in A and 10.199.x.2/24 in B, both ends and both `lo` up.
 */
export async function createVethPair(opts: VethPairOptions = {}): Promise<VethPair> {
  installExitHook();
  const id = randomBytes(3).toString('hex');
  const x = opts.subnet ?? 128 + (randomBytes(1)[0]! % 127);
  const a: NsEnd = { ns: `wl-t-${id}-a`, iface: `wl${id}a`, ip: `10.199.${x}.1`, prefixLength: 24, mac: '' };
  const b: NsEnd = { ns: `wl-t-${id}-b`, iface: `wl${id}b`, ip: `10.199.${x}.2`, prefixLength: 24, mac: '' };
  const created: string[] = [];
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const p of [...liveProcesses]) if (created.includes(p.ns)) await p.kill('SIGTERM', 1_000);
    for (const ns of created) {
      // Anything else still running inside our namespace was started by a test.
      const pids = await runArgv(['ip', 'netns', 'pids', ns]).catch(() => undefined);
      for (const pid of (pids?.stdout ?? '').split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await runArgv(['ip', 'netns', 'del', ns]);
      ownedNamespaces.delete(ns);
    }
    for (const [dir, ns] of [...captureDirs]) {
      if (!created.includes(ns)) continue;
      await rm(dir, { recursive: true, force: true });
      captureDirs.delete(dir);
    }
  };

  try {
    for (const end of [a, b]) {
      await runArgv(['ip', 'netns', 'add', end.ns], { check: true });
      created.push(end.ns);
      ownedNamespaces.add(end.ns);
      await exec(end.ns, ['ip', 'link', 'set', 'lo', 'up'], { check: true });
      if (opts.disableIpv6 ?? true) {
        for (const scope of ['all', 'default']) {
          await exec(end.ns, ['sysctl', '-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`]);
        }
      }
    }
    // Created inside A with the peer placed directly in B: never visible in the root namespace.
    await exec(a.ns, ['ip', 'link', 'add', a.iface, 'type', 'veth', 'peer', 'name', b.iface, 'netns', b.ns], {
      check: true,
    });
    for (const end of [a, b]) {
      await exec(end.ns, ['ip', 'addr', 'add', `${end.ip}/${end.prefixLength}`, 'dev', end.iface], { check: true });
      await exec(end.ns, ['ip', 'link', 'set', end.iface, 'up'], { check: true });
      end.mac = await linkMac(end.ns, end.iface);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return { id, a, b, destroy };
}

/**
 * Turns off checksum, segmentation, receive-coalescing and VLAN offloads on
 * `iface`, so captured frames carry real checksums and inline VLAN tags.
 * Features the device cannot change are ignored (ethtool still exits 0 or
 * reports them as fixed).
 */
export async function disableOffloads(ns: string, iface: string): Promise<void> {
  const features = [
    ['tx', 'off'], ['rx', 'off'], ['tso', 'off'], ['gso', 'off'], ['gro', 'off'],
    ['txvlan', 'off'], ['rxvlan', 'off'], ['tx-vlan-stag-hw-insert', 'off'], ['rx-vlan-stag-hw-parse', 'off'],
  ];
  // One feature per call: ethtool -K stops at the first name a driver lacks.
  for (const [name, value] of features) await exec(ns, ['ethtool', '-K', iface, name!, value!]);
  const after = await exec(ns, ['ethtool', '-k', iface], { check: true });
  for (const must of ['tx-checksumming', 'rx-checksumming']) {
    if (new RegExp(`^${must}: on`, 'm').test(after.stdout)) {
      throw new Error(`could not turn ${must} off on ${ns}/${iface}:\n${after.stdout}`);
    }
  }
}

/** Deletes every namespace this module still owns (for a file-level afterAll safety net). */
export async function destroyAll(): Promise<void> {
  for (const p of [...liveProcesses]) await p.kill('SIGKILL', 500);
  for (const ns of [...ownedNamespaces]) {
    await runArgv(['ip', 'netns', 'del', ns]);
    ownedNamespaces.delete(ns);
  }
  for (const dir of captureDirs.keys()) rmSync(dir, { recursive: true, force: true });
  captureDirs.clear();
}
