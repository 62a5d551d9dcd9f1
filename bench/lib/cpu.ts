/**
 * CPU time spent while a transfer runs, for the "CPU s/GB" rows of
 * bench/tcp and bench/bridge. What is counted, exactly:
 *
 *   - this process (process.cpuUsage(): user + system, every thread) — the
 *     wirelab stack in bench/tcp;
 *   - every process it started: user + system of each live descendant, plus
 *     the children's times the kernel adds to a parent when it reaps a child
 *     (cutime + cstime in /proc/PID/stat: getrusage(RUSAGE_CHILDREN)), so a
 *     forwarder, iperf3 or a python sender or receiver counts whether it is
 *     still running at the end or has exited;
 *   - the ksoftirqd/N kernel threads (packet work the kernel deferred).
 *
 * The kernel's packet work done in a process's context (a send that runs the
 * receiver's softirq on the way, a TAP write) is in that process's system
 * time: with tick accounting (CONFIG_IRQ_TIME_ACCOUNTING off, as on the
 * bench machine) softirq time is charged to the task it interrupted.
 * Softirq run on an otherwise idle CPU is not counted; nor is other work
 * on the machine, except what lands in ksoftirqd. /proc's times are in
 * clock ticks (1/100 s).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSample {
  /** Seconds: this process, its descendants (live, and reaped into cutime/cstime) and ksoftirqd. */
  seconds: number;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, ticks. */
  own: number;
  /** cutime + cstime, ticks: reaped children. */
  children: number;
}

/** /proc/PID/stat: the comm is in parentheses and may hold spaces, so fields are counted from the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' '); // f[0] is field 3 (state)
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: Number(f[1]),
    own: Number(f[11]) + Number(f[12]), // fields 14, 15
    children: Number(f[13]) + Number(f[14]), // fields 16, 17
  };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseProcStat(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // exited between readdir and read
    }
  }
  return out;
}

/** The CPU time counted so far (see the file header); subtract two samples with `cpuSecondsBetween`. */
export function cpuSample(): CpuSample {
  const stats = allStats();
  const byParent = new Map<number, ProcStat[]>();
  for (const s of stats) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  let ticks = 0;
  const self = stats.find((s) => s.pid === process.pid);
  if (self !== undefined) ticks += self.children;
  const stack = [...(byParent.get(process.pid) ?? [])];
  while (stack.length > 0) {
    const s = stack.pop()!;
    ticks += s.own + s.children;
    stack.push(...(byParent.get(s.pid) ?? []));
  }
  for (const s of stats) if (/^ksoftirqd\/\d+$/.test(s.comm)) ticks += s.own;
  const u = process.cpuUsage();
  return { seconds: ticks / clockTicks() + (u.user + u.system) / 1e6 };
}

export function cpuSecondsBetween(a: CpuSample, b: CpuSample): number {
  return b.seconds - a.seconds;
}

/** Runs `fn`, returning its result and the CPU seconds counted meanwhile. */
export async function withCpu<T>(fn: () => Promise<T>): Promise<{ result: T; cpuSeconds: number }> {
  const a = cpuSample();
  const result = await fn();
  return { result, cpuSeconds: cpuSecondsBetween(a, cpuSample()) };
}

/** What the CPU rows' names say they count. */
export const CPU_COUNTED = 'CPU s/GB: this process + its child processes + ksoftirqd';
