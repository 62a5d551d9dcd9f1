/**
 * bench/tap-forward: iperf3 TCP between two containers through
 *   (a) the Linux kernel bridge (veth + bridge, in a throwaway namespace),
 *   (b) bench/c/tapfwd.c, a minimal C TAP-to-TAP forwarder: the ceiling of
 *       any user-space forwarder that does one syscall per frame,
 *   (c) wirelab's TypeScript forwarder (src/link/forward.ts, run as
 *       examples/two-container-forwarder.ts --taps),
 *   (d) the same forwarder on AF_PACKET ports (src/link/packet-port.ts)
 *       attached to the root-namespace ends of two veth pairs
 *       (--packet; the socket always carries virtio_net_hdr, so "off" here
 *       means TSO/GSO/GRO off on the veths),
 * each with vnet_hdr off and on, both directions, in one run. Prints Gbit/s
 * and ratios and writes tap-forward.json to the results directory
 * (bench/results/ with --save; see bench/results.ts).
 *
 *   npm run bench -- tap-forward [--seconds N]
 *
 * Only addresses inside the namespaces created here are used; every iperf3
 * run is bounded in time; everything is removed at the end, even on failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { iperf, kernelBridge, sh, throughTaps, throughVeths, type Pair, type Path } from './lib/paths.js';
import { parseBenchArgs, requireTools } from './lib/args.js';

const here = dirname(fileURLToPath(import.meta.url));
const ADDRESSES = { aIp: '10.201.0.1', bIp: '10.201.0.2', aMac: '02:00:00:00:01:01', bMac: '02:00:00:00:01:02' };

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 1, max: 60, help: 'length of each iperf3 run' },
} as const;
export const TOOLS = ['ip', 'ping', 'iperf3', 'cc', 'ethtool'];

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('tap-forward', args, FLAGS);
  const seconds = opts.flags.seconds;
  requireTools('tap-forward', TOOLS);

  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-'));
  const tapfwd = join(dir, 'tapfwd');
  sh(['cc', '-O2', '-o', tapfwd, join(here, 'c', 'tapfwd.c')]);
  const cForwarder = (vnet: boolean): Path => throughTaps((ta, tb) => [tapfwd, ...(vnet ? ['--vnet'] : []), ta, tb], ADDRESSES);
  const wirelab = (vnet: boolean): Path =>
    throughTaps(
      (ta, tb) => [process.execPath, '--import', 'tsx', 'examples/two-container-forwarder.ts', '--taps', ta, tb, ...(vnet ? ['--vnet'] : [])],
      ADDRESSES,
    );
  const packet = (offloads: boolean): Path =>
    throughVeths(
      (va, vb) => [process.execPath, '--import', 'tsx', 'examples/two-container-forwarder.ts', '--packet', va, vb],
      offloads,
      ADDRESSES,
    );
  const bothWays = (p: Pair) => iperf(p, seconds, false).then(async (ab) => [ab, await iperf(p, seconds, true)] as const);
  const say = (line: string) => process.stdout.write(`${line}\n`);

  const rows: BenchRow[] = [];
  const add = (path: string, value: number, reference: string, refValue: number) =>
    rows.push({ path, metric: 'Gbit/s', value, reference, ratio: refValue > 0 ? value / refValue : 0 });
  try {
    for (const vnet of [false, true]) {
      const mode = vnet ? 'vnet_hdr on' : 'vnet_hdr off';
      const kRef = `kernel bridge (offloads ${vnet ? 'on' : 'off'})`;
      const k = await kernelBridge(vnet, ADDRESSES)(bothWays);
      say(`${kRef}: A→B ${k[0].toFixed(2)}, B→A ${k[1].toFixed(2)} Gbit/s`);
      const c = await cForwarder(vnet)(bothWays);
      say(`C forwarder (${mode}): A→B ${c[0].toFixed(2)}, B→A ${c[1].toFixed(2)} Gbit/s`);
      const w = await wirelab(vnet)(bothWays);
      say(`wirelab forwarder (${mode}): A→B ${w[0].toFixed(2)}, B→A ${w[1].toFixed(2)} Gbit/s`);
      const pk = await packet(vnet)(bothWays);
      const pkName = `wirelab AF_PACKET forwarder (veth offloads ${vnet ? 'on' : 'off'})`;
      say(`${pkName}: A→B ${pk[0].toFixed(2)}, B→A ${pk[1].toFixed(2)} Gbit/s`);
      for (const [i, d] of [[0, 'A→B'], [1, 'B→A']] as const) {
        add(`${kRef} ${d}`, k[i], `${kRef} ${d}`, k[i]);
        add(`C forwarder (${mode}) ${d}`, c[i], `${kRef} ${d}`, k[i]);
        add(`wirelab forwarder (${mode}) ${d}`, w[i], `C forwarder (${mode}) ${d}`, c[i]);
        add(`${pkName} ${d}`, pk[i], `wirelab forwarder (${mode}) ${d}`, w[i]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'tap-forward', rows }, opts), opts));
}
