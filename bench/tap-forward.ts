/**
 * bench/tap-forward: iperf3 TCP between two containers through
 *   (a) the Linux kernel bridge (veth + bridge, in a throwaway namespace),
 *   (b) bench/c/tapfwd.c, a minimal C TAP-to-TAP forwarder: the ceiling of
 *       any user-space forwarder that does one syscall per frame,
 *   (c) wirelab's TypeScript forwarder (examples/forwarder.ts),
 * each with vnet_hdr off and on, both directions, in one run. Prints Gbit/s
 * and ratios and writes bench/results/tap-forward.json.
 *
 *   npm run bench -- tap-forward [--seconds N]
 *
 * Only addresses inside the namespaces created here are used; every iperf3
 * run is bounded in time; everything is removed at the end, even on failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../src/lab/lab.js';
import type { Container } from '../src/lab/netns.js';
import { printRows, writeResult, type BenchRow } from './results.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const A_IP = '10.201.0.1';
const B_IP = '10.201.0.2';

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs iperf3 from A to B (or B to A with reverse) and returns Gbit/s received. */
async function iperf(a: Container, b: Container, seconds: number, reverse: boolean): Promise<number> {
  const server = b.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', B_IP]);
  try {
    await server.waitFor(/Server listening/, 5000);
    const args = ['iperf3', '-c', B_IP, '-t', String(seconds), '-J', '--connect-timeout', '3000'];
    if (reverse) args.push('-R');
    const r = await a.exec(args, { timeoutMs: (seconds + 15) * 1000 });
    const json = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    return (json.end?.sum_received?.bits_per_second ?? 0) / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

interface Forwarder { proc: ChildProcess; stop(): Promise<void> }

/** Starts a forwarder process that creates TAPs `ta` and `tb` and says READY. */
function startForwarder(argv: string[]): Promise<Forwarder> {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => reject(new Error(`forwarder did not start: ${err}`)), 15000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) {
        clearTimeout(timer);
        resolve({
          proc,
          stop: () =>
            new Promise<void>((res) => {
              if (proc.exitCode !== null) return res();
              proc.once('exit', () => res());
              proc.kill('SIGTERM');
              setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
            }),
        });
      }
    });
    proc.once('exit', (code) => reject(new Error(`forwarder exited (${code}): ${err}`)));
  });
}

async function throughTaps(
  label: string, argv: (ta: string, tb: string) => string[], seconds: number,
): Promise<[number, number]> {
  const id = randomBytes(3).toString('hex');
  const ta = `wlb${id}a`;
  const tb = `wlb${id}b`;
  const fwd = await startForwarder(argv(ta, tb));
  const lab = new Lab();
  try {
    const a = await lab.container({ link: ta, address: `${A_IP}/24`, mac: '02:00:00:00:01:01' });
    const b = await lab.container({ link: tb, address: `${B_IP}/24`, mac: '02:00:00:00:01:02' });
    await a.exec(['ping', '-c', '1', '-W', '2', B_IP], { check: true });
    const ab = await iperf(a, b, seconds, false);
    const ba = await iperf(a, b, seconds, true);
    process.stdout.write(`${label}: A→B ${ab.toFixed(2)} Gbit/s, B→A ${ba.toFixed(2)} Gbit/s\n`);
    return [ab, ba];
  } finally {
    await lab.close();
    await fwd.stop();
  }
}

async function kernelBridge(seconds: number, offloads: boolean): Promise<[number, number]> {
  const id = randomBytes(3).toString('hex');
  const brNs = `wl-br${id}`;
  const lab = new Lab();
  sh(['ip', 'netns', 'add', brNs]);
  try {
    sh(['ip', '-n', brNs, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['ip', '-n', brNs, 'link', 'set', 'br0', 'up']);
    const ends: string[] = [];
    for (const side of ['a', 'b']) {
      const outer = `wlv${id}${side}`;
      // Create the pair inside the bridge namespace, then move one end out to
      // the root namespace only long enough for the lab to take it.
      sh(['ip', '-n', brNs, 'link', 'add', `p${side}`, 'type', 'veth', 'peer', 'name', outer, 'netns', '1']);
      sh(['ip', '-n', brNs, 'link', 'set', `p${side}`, 'master', 'br0', 'up']);
      if (!offloads) sh(['ip', 'netns', 'exec', brNs, 'ethtool', '-K', `p${side}`, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      ends.push(outer);
    }
    const a = await lab.container({ link: ends[0]!, address: `${A_IP}/24` });
    const b = await lab.container({ link: ends[1]!, address: `${B_IP}/24` });
    if (!offloads) {
      for (const c of [a, b]) await c.exec(['ethtool', '-K', c.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    }
    await a.exec(['ping', '-c', '1', '-W', '2', B_IP], { check: true });
    const ab = await iperf(a, b, seconds, false);
    const ba = await iperf(a, b, seconds, true);
    process.stdout.write(`kernel bridge (offloads ${offloads ? 'on' : 'off'}): A→B ${ab.toFixed(2)}, B→A ${ba.toFixed(2)} Gbit/s\n`);
    return [ab, ba];
  } finally {
    await lab.close();
    try { sh(['ip', 'netns', 'del', brNs]); } catch { /* already gone */ }
  }
}

export async function main(args: string[]): Promise<void> {
  const si = args.indexOf('--seconds');
  const seconds = si >= 0 ? Number(args[si + 1]) : 5;
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 60) throw new Error('--seconds must be 1..60');

  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-'));
  const tapfwd = join(dir, 'tapfwd');
  sh(['cc', '-O2', '-o', tapfwd, join(here, 'c', 'tapfwd.c')]);
  const rows: BenchRow[] = [];
  const add = (path: string, value: number, reference: string, refValue: number) =>
    rows.push({ path, metric: 'Gbit/s', value, reference, ratio: refValue > 0 ? value / refValue : 0 });
  try {
    for (const vnet of [false, true]) {
      const mode = vnet ? 'vnet_hdr on' : 'vnet_hdr off';
      const [kab, kba] = await kernelBridge(seconds, vnet);
      const kRef = `kernel bridge (offloads ${vnet ? 'on' : 'off'})`;
      const [cab, cba] = await throughTaps(`C forwarder (${mode})`, (ta, tb) => [tapfwd, ...(vnet ? ['--vnet'] : []), ta, tb], seconds);
      const [wab, wba] = await throughTaps(
        `wirelab forwarder (${mode})`,
        (ta, tb) => [process.execPath, '--import', 'tsx', 'examples/two-container-forwarder.ts', '--taps', ta, tb, ...(vnet ? ['--vnet'] : [])],
        seconds,
      );
      for (const [dir_, k, c, w] of [['A→B', kab, cab, wab], ['B→A', kba, cba, wba]] as const) {
        add(`${kRef} ${dir_}`, k, `${kRef} ${dir_}`, k);
        add(`C forwarder (${mode}) ${dir_}`, c, `${kRef} ${dir_}`, k);
        add(`wirelab forwarder (${mode}) ${dir_}`, w, `C forwarder (${mode}) ${dir_}`, c);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printRows(rows);
  process.stdout.write(`wrote ${writeResult({ bench: 'tap-forward', rows })}\n`);
}
