/**
 * `npm run bench -- labscale`: how long `wirelab up` takes for N containers
 * on one network (N = 10, 25, 50 by default), and whether that grows
 * linearly, beside the same N namespaces wired the way Docker's bridge
 * driver wires them — a kernel bridge and a veth pair per container, made
 * with iproute2 — in the same run.
 *
 * Each wirelab row is the whole `RunningLab.up` of a generated lab file
 * (namespaces, TAPs, addresses, routes, resolv.conf/hosts, the gateway's
 * DNS), then `down`. Rows are containers per second (higher is better);
 * the per-container time and the up/down seconds are printed beside them.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { parseLabText } from '../src/lab/file/load.js';
import { RunningLab } from '../src/lab/file/up.js';
import { forgetNamespace, recordNamespace } from '../src/lab/registry.js';
import { parseBenchArgs, requireTools } from './lib/args.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';

const run = promisify(execFile);

export const FLAGS = {
  sizes: { type: 'list', meta: '10,25,50', help: 'container counts to bring up (each 1..200)' },
} as const;

function labText(n: number): string {
  const services = Array.from({ length: n }, (_, i) => `  c${i}: {}\n`).join('');
  return `name: labscale\nnetworks:\n  net:\n    ipam:\n      config:\n        - subnet: 10.77.0.0/22\nservices:\n${services}`;
}

async function wirelabUp(n: number): Promise<{ upS: number; downS: number }> {
  const model = parseLabText(labText(n), 'labscale.yaml');
  const t0 = performance.now();
  const lab = await RunningLab.up(model);
  const t1 = performance.now();
  await lab.down();
  const t2 = performance.now();
  return { upS: (t1 - t0) / 1000, downS: (t2 - t1) / 1000 };
}

/** Docker's wiring by hand: a kernel bridge, then per container a namespace, a veth pair, an address, a default route. */
async function kernelUp(n: number): Promise<{ upS: number; downS: number }> {
  const id = randomBytes(2).toString('hex');
  const br = `wlbr${id}`;
  const namespaces: string[] = [];
  const t0 = performance.now();
  try {
    await run('ip', ['link', 'add', br, 'type', 'bridge']);
    await run('ip', ['addr', 'add', '10.78.0.1/22', 'dev', br]);
    await run('ip', ['link', 'set', br, 'up']);
    for (let i = 0; i < n; i++) {
      const ns = `wl-ls${id}-${i}`;
      await run('ip', ['netns', 'add', ns]);
      recordNamespace(ns);
      namespaces.push(ns);
      const host = `wlv${id}h${i}`;
      await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['link', 'set', host, 'master', br, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `10.78.${(i + 2) >> 8}.${(i + 2) & 255}/22`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', '10.78.0.1']);
    }
  } finally {
    const t1 = performance.now();
    for (const ns of namespaces) {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      forgetNamespace(ns);
    }
    await run('ip', ['link', 'del', br]).catch(() => undefined);
    const t2 = performance.now();
    // eslint-disable-next-line no-unsafe-finally
    if (namespaces.length === n) return { upS: (t1 - t0) / 1000, downS: (t2 - t1) / 1000 };
  }
  throw new Error('the kernel reference did not come up');
}

export async function main(args: string[]): Promise<void> {
  const parsed = parseBenchArgs('labscale', args, FLAGS);
  const sizes = (parsed.flags.sizes ?? ['10', '25', '50']).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`--sizes: "${s}" is not a count from 1 to 200`);
    return n;
  });
  requireTools('labscale', ['ip']);
  if (process.getuid?.() !== 0) throw new Error('labscale creates namespaces: run it as root');
  const rows: BenchRow[] = [];
  for (const n of sizes) {
    const k = await kernelUp(n);
    const w = await wirelabUp(n);
    const ref = `kernel bridge + veth (iproute2), ${n} containers`;
    rows.push({ path: ref, metric: 'containers/s', value: n / k.upS, reference: ref, ratio: 1 });
    rows.push({ path: `wirelab up, ${n} containers`, metric: 'containers/s', value: n / w.upS, reference: ref, ratio: k.upS / w.upS });
    process.stdout.write(
      `${n} containers: wirelab up ${w.upS.toFixed(2)} s (${((w.upS / n) * 1000).toFixed(0)} ms each), down ${w.downS.toFixed(2)} s; ` +
        `kernel bridge + veth up ${k.upS.toFixed(2)} s (${((k.upS / n) * 1000).toFixed(0)} ms each), down ${k.downS.toFixed(2)} s\n`,
    );
  }
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'labscale', rows }, parsed), parsed));
}
