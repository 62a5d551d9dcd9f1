/**
 * The lab's ledger of what it made, and the cleanup that undoes it.
 *
 * Every network namespace the lab creates, every interface it takes over and
 * every /etc/netns/<namespace> directory it writes (a container's own
 * resolv.conf and hosts) is recorded here: in memory, and in a state file `<dir>/<pid>.json`
 * (`/run/wirelab` unless `WIRELAB_STATE_DIR` says otherwise) that is rewritten
 * on every change and removed when nothing is left. Cleanup then happens on
 * every way a process can end:
 *
 * - normally: `Lab.close()` / `Container.destroy()` remove their own records;
 * - process exit, including an uncaught error (Node still emits 'exit'): a
 *   synchronous hook, installed with the first record, removes what is left;
 * - SIGINT/SIGTERM/SIGHUP: only if `installCleanupHandlers()` was called (a
 *   library must not hijack its host's signals): clean up, then exit with
 *   128 + the signal number, as a CLI killed by that signal would;
 * - SIGKILL: nothing runs, so `cleanupStale()` later reads the state files of
 *   dead processes and removes what they list. A pid is "dead" unless
 *   /proc/<pid> exists with the recorded start time and boot id, so a reused
 *   pid does not keep a stale file alive.
 *
 * Hand-written: this is the lab's own bookkeeping over `ip netns`; there is
 * nothing to borrow. Tearing a namespace down is here too, because the exit
 * hook, the signal handler, `cleanupStale` and `Container.destroy` share it.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

import { runChecked, runSync, run } from './command.js';

/** What one process recorded, as stored in its state file. */
export interface LabState {
  version: 1;
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot): tells a reused pid apart. */
  startTime: string;
  bootId: string;
  argv: string[];
  /** Network namespaces this process created. */
  namespaces: string[];
  /** Interfaces (by their name in the root namespace) this process created or took over. */
  interfaces: string[];
  /** Namespaces whose /etc/netns/<ns> directory (resolv.conf, hosts) this process wrote. Absent in older files. */
  etc?: string[];
}

/** What `cleanupStale` found for one dead process. */
export interface StaleCleanup {
  pid: number;
  file: string;
  /** Namespaces that still existed and were deleted. */
  namespaces: string[];
  /** Interfaces that were still in the root namespace and were deleted. */
  interfaces: string[];
  /** /etc/netns/<ns> directories that were removed. */
  etc: string[];
  /** Processes killed inside those namespaces. */
  processes: number[];
  /** Anything that could not be removed; the state file is kept for another try. */
  errors: string[];
}

export const DEFAULT_STATE_DIR = '/run/wirelab';

/** The directory holding state files: `$WIRELAB_STATE_DIR`, else /run/wirelab. */
export function stateDir(): string {
  const dir = process.env.WIRELAB_STATE_DIR;
  return dir !== undefined && dir !== '' ? dir : DEFAULT_STATE_DIR;
}

// ---------------------------------------------------------------------------
// Process identity

/** Start time of `pid` from /proc/<pid>/stat, or undefined if it is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19]; // field 22 overall; fields[0] is field 3
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------
// The in-memory ledger and its state file

const namespaces = new Set<string>();
const interfaces = new Set<string>();
/** Namespaces whose /etc/netns/<ns> directory we wrote. */
const etcDirs = new Set<string>();
/** Children spawned into each namespace, killed directly in case they have not entered it yet. */
const children = new Map<string, Set<ChildProcess>>();
/** The file written for this process; fixed at the first write so a changed env cannot orphan it. */
let stateFile: string | undefined;
let exitHookInstalled = false;

export function recordNamespace(ns: string): void {
  namespaces.add(ns);
  persist();
}

export function forgetNamespace(ns: string): void {
  namespaces.delete(ns);
  children.delete(ns);
  persist();
}

export function recordInterface(name: string): void {
  interfaces.add(name);
  persist();
}

export function forgetInterface(name: string): void {
  interfaces.delete(name);
  persist();
}

/** Where `ip netns exec` looks for a namespace's own /etc files. */
export const ETC_NETNS = '/etc/netns';

export function recordEtcDir(ns: string): void {
  etcDirs.add(ns);
  persist();
}

export function forgetEtcDir(ns: string): void {
  etcDirs.delete(ns);
  persist();
}

/**
 * Removes /etc/netns/<ns> (the files `ip netns exec` bind-mounts); a name
 * that is not a plain namespace name is never touched. Never throws.
 */
export function removeEtcDir(ns: string): boolean {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(ns) || ns.includes('..')) return false;
  const dir = join(ETC_NETNS, ns);
  if (!existsSync(dir)) return false;
  try {
    rmSync(dir, { recursive: true, force: true });
    return true;
  } catch {
    return false;
  }
}

/** Tracks a child spawned into `ns` until it exits. */
export function trackChild(ns: string, child: ChildProcess): void {
  let set = children.get(ns);
  if (set === undefined) children.set(ns, (set = new Set()));
  set.add(child);
  child.once('exit', () => set.delete(child));
}

/** What this process has recorded right now. */
export function registrySnapshot(): { namespaces: string[]; interfaces: string[]; etc: string[] } {
  return { namespaces: [...namespaces], interfaces: [...interfaces], etc: [...etcDirs] };
}

/** Where this process's state file is (or would be written). */
export function stateFilePath(): string {
  return stateFile ?? join(stateDir(), `${process.pid}.json`);
}

function persist(): void {
  installExitHook();
  const file = stateFilePath();
  if (namespaces.size === 0 && interfaces.size === 0 && etcDirs.size === 0) {
    rmSync(file, { force: true });
    stateFile = undefined;
    return;
  }
  stateFile = file;
  const state: LabState = {
    version: 1,
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? 'unknown',
    bootId: bootId(),
    argv: process.argv,
    namespaces: [...namespaces],
    interfaces: [...interfaces],
    etc: [...etcDirs],
  };
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o755 });
  // Write-then-rename: a reader (or a SIGKILL mid-write) never sees half a file.
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', cleanupAllSync);
}

// ---------------------------------------------------------------------------
// Tearing down one namespace

/** Namespaces that exist now (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await runChecked(['ip', '-j', 'netns', 'list']);
  const list = out.trim() === '' ? [] : (JSON.parse(out) as Array<{ name: string }>);
  return list.map((n) => n.name);
}

/** Pids of the processes inside `ns` (`ip netns pids`); empty if it does not exist. */
export async function namespacePids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 10_000 });
  return parsePids(r.stdout);
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => p !== process.pid);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * SIGKILLs every process in `ns` (our tracked children and anything
 * `ip netns pids` lists, repeatedly, until none is left) and deletes the
 * namespace, which also destroys the virtual interfaces inside it. A namespace
 * that does not exist is not an error. Returns the pids it killed.
 */
export async function removeNamespace(ns: string, timeoutMs = 5_000): Promise<number[]> {
  if (!(await listNamespaces()).includes(ns)) return [];
  for (const c of children.get(ns) ?? []) c.kill('SIGKILL');
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await namespacePids(ns);
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in namespace ${ns} survived SIGKILL`);
    for (const pid of pids) {
      killed.add(pid);
      killQuietly(pid);
    }
    await sleep(20);
  }
  // Deleting with processes still inside would only unlink the name: the namespace would live on, unreachable.
  await runChecked(['ip', 'netns', 'del', ns]);
  return [...killed];
}

/** `removeNamespace` for the exit hook: synchronous, best effort, never throws. */
function removeNamespaceSync(ns: string): void {
  for (const c of children.get(ns) ?? []) c.kill('SIGKILL');
  for (let i = 0; i < 100; i++) {
    const pids = parsePids(runSync(['ip', 'netns', 'pids', ns]).stdout);
    if (pids.length === 0) break;
    pids.forEach(killQuietly);
    sleepSync(20);
  }
  runSync(['ip', 'netns', 'del', ns]);
}

/**
 * Deletes `name` from the current (root) namespace if it is still there and
 * is a virtual device (TAP, veth, …: `ip -d link` shows a kind). A physical
 * NIC that came back from a deleted namespace is left alone. True if deleted.
 */
export async function removeLeftoverInterface(name: string): Promise<boolean> {
  const r = await run(['ip', '-j', '-d', 'link', 'show', 'dev', name], { timeoutMs: 10_000 });
  if (r.code !== 0 || !isVirtual(r.stdout)) return false;
  const del = await run(['ip', 'link', 'del', 'dev', name], { timeoutMs: 10_000 });
  if (del.code === 0) return true;
  // Deleting one end of a veth (or a namespace's teardown) may have removed it meanwhile.
  const again = await run(['ip', 'link', 'show', 'dev', name], { timeoutMs: 10_000 });
  if (again.code !== 0) return false;
  throw new Error(`cannot delete leftover interface ${name}: ${del.stderr.trim()}`);
}

function isVirtual(ipJson: string): boolean {
  try {
    const links = JSON.parse(ipJson) as Array<{ linkinfo?: { info_kind?: string } }>;
    return links[0]?.linkinfo?.info_kind !== undefined;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Cleaning up this process

/** Removes everything this process still has recorded. Errors are collected and thrown together at the end. */
export async function cleanupAll(): Promise<void> {
  const errors: string[] = [];
  for (const ns of [...namespaces]) {
    try {
      await removeNamespace(ns);
      forgetNamespace(ns);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  for (const name of [...interfaces]) {
    try {
      await removeLeftoverInterface(name);
      forgetInterface(name);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  for (const ns of [...etcDirs]) {
    removeEtcDir(ns);
    forgetEtcDir(ns);
  }
  if (errors.length > 0) throw new Error(`wirelab cleanup failed:\n${errors.join('\n')}`);
}

/** Synchronous `cleanupAll` for the 'exit' hook and a second signal; best effort. */
export function cleanupAllSync(): void {
  for (const ns of namespaces) removeNamespaceSync(ns);
  for (const name of interfaces) {
    if (isVirtual(runSync(['ip', '-j', '-d', 'link', 'show', 'dev', name]).stdout)) {
      runSync(['ip', 'link', 'del', 'dev', name]);
    }
  }
  for (const ns of etcDirs) removeEtcDir(ns);
  namespaces.clear();
  interfaces.clear();
  etcDirs.clear();
  children.clear();
  if (stateFile !== undefined) rmSync(stateFile, { force: true });
  stateFile = undefined;
}

/**
 * On SIGINT, SIGTERM and SIGHUP: clean up, then exit with 128 + the signal
 * number. A second signal while cleaning up finishes synchronously and exits
 * at once. Call this from a CLI, not a library. Returns a function that
 * uninstalls the handlers.
 */
export function installCleanupHandlers(
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'],
): () => void {
  let cleaning = false;
  const handler = (signal: NodeJS.Signals): void => {
    const code = 128 + (osConstants.signals[signal] ?? 0);
    if (cleaning) {
      cleanupAllSync();
      process.exit(code);
    }
    cleaning = true;
    cleanupAll()
      .catch((e: unknown) => console.error(e instanceof Error ? e.message : e))
      .finally(() => process.exit(code));
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

// ---------------------------------------------------------------------------
// Cleaning up after processes that died without doing it themselves

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function readState(file: string): LabState | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<LabState>;
    if (s.version !== 1 || typeof s.pid !== 'number' || !Array.isArray(s.namespaces) || !Array.isArray(s.interfaces)) {
      return undefined;
    }
    return s as LabState;
  } catch {
    return undefined;
  }
}

function isAlive(s: LabState): boolean {
  return processStartTime(s.pid) === s.startTime && bootId() === s.bootId;
}

/**
 * Finds state files of processes that are no longer running, kills the
 * processes inside their namespaces, deletes the namespaces and any leftover
 * interfaces, removes the state files, and reports what it removed. Files of
 * live processes (and unreadable ones) are left alone.
 */
export async function cleanupStale(dir: string = stateDir()): Promise<StaleCleanup[]> {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^\d+\.json$/.test(f));
  } catch {
    return [];
  }
  const reports: StaleCleanup[] = [];
  for (const f of files) {
    const file = join(dir, f);
    const state = readState(file);
    if (state === undefined || isAlive(state)) continue;
    const report: StaleCleanup = { pid: state.pid, file, namespaces: [], interfaces: [], etc: [], processes: [], errors: [] };
    const existing = await listNamespaces();
    for (const ns of state.namespaces) {
      if (!NAME.test(ns) || !existing.includes(ns)) continue;
      try {
        report.processes.push(...(await removeNamespace(ns)));
        report.namespaces.push(ns);
      } catch (e) {
        report.errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    for (const name of state.interfaces) {
      if (!NAME.test(name)) continue;
      try {
        if (await removeLeftoverInterface(name)) report.interfaces.push(name);
      } catch (e) {
        report.errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    for (const ns of Array.isArray(state.etc) ? state.etc : []) {
      if (typeof ns === 'string' && removeEtcDir(ns)) report.etc.push(ns);
    }
    if (report.errors.length === 0) rmSync(file, { force: true });
    reports.push(report);
  }
  return reports;
}
