/**
 * bench/bridge: the wirelab switch (src/switch/bridge.ts, run as
 * examples/switch.ts in its own process) between two containers, against
 *   - the Linux kernel bridge (veth + bridge inside a throwaway namespace),
 *   - bench/c/tapfwd.c, the ceiling of a one-syscall-per-frame C forwarder,
 * measuring
 *   1. iperf3 TCP A→B and B→A, with vnet_hdr off and on (kernel bridge with
 *      offloads off and on), in Gbit/s;
 *   2. 64-byte UDP frames/s: trafgen (netsniff-ng) in A sends minimum-size
 *      frames to B for N seconds; what B's eth0 received (`ip -s -j link`)
 *      divided by the sending time.
 *   3. the CPU those TCP transfers cost, in CPU seconds per GB received (A→B
 *      and B→A together): this process, every process it started (the
 *      forwarder, iperf3 on both ends, live or reaped) and the ksoftirqd
 *      threads, from /proc (bench/lib/cpu.ts says exactly what is counted);
 *   4. request/response round trips (TCP_RR-style, bench/c/rr.c compiled at
 *      run time: 64-byte request and answer over one connection for N
 *      seconds, kernel TCP on both ends), p50 and p99 in µs, through each
 *      path with vnet_hdr on (the kernel bridge with offloads on).
 * Rows: wirelab vs the C forwarder (target ≥ 0.7×) for TCP, wirelab vs the
 * kernel bridge (target ≥ 0.5×) for 64-byte frames/s; CPU s/GB and round
 * trips against the kernel bridge.
 *
 *   npm run bench -- bridge [--seconds N] [--only tcp,frames,rr]
 *
 * Safety: only addresses inside the namespaces created here (10.202.0.0/24);
 * every iperf3 run is bounded in time, every rr client in time and count, every trafgen run in time (timeout)
 * and in count (--num); trafgen is told not to touch socket memory or IRQ
 * affinity (host-wide settings). Everything is removed at the end, even on
 * failure. Hand-written: the same harness shape as bench/tap-forward.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Container } from '../src/lab/netns.js';
import { parseIPv4, parseMac } from '../src/wire/address.js';
import { encodeEthernet, ETHERTYPE } from '../src/wire/ethernet.js';
import { encodeIPv4, IP_PROTOCOL } from '../src/wire/ipv4.js';
import { encodeUdp } from '../src/wire/udp.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { iperfRun, kernelBridge, sh, throughTaps, type Pair, type PairAddresses, type Path } from './lib/paths.js';
import { CPU_COUNTED, withCpu } from './lib/cpu.js';
import { compileRr, rrBetween, rrLine, type RrResult } from './lib/rr.js';
import { parseBenchArgs, requireTools } from './lib/args.js';

const here = dirname(fileURLToPath(import.meta.url));
const A_IP = '10.202.0.1';
const B_IP = '10.202.0.2';
const A_MAC = '02:00:00:02:02:01';
const B_MAC = '02:00:00:02:02:02';
/** trafgen stops after this many frames even if the clock has not run out. */
const MAX_FRAMES = 50_000_000;
const ADDRESSES = { aIp: A_IP, bIp: B_IP, aMac: A_MAC, bMac: B_MAC };

// ---------------------------------------------------------------------------
// Measurements

/** Packets counted by the kernel on the container's eth0 (`ip -s -j link`). */
async function linkPackets(c: Container): Promise<{ rx: number; tx: number }> {
  const r = await c.exec(['ip', '-s', '-j', 'link', 'show', 'dev', c.ifname], { check: true });
  const [link] = JSON.parse(r.stdout) as Array<{ stats64?: { rx: { packets: number }; tx: { packets: number } } }>;
  if (link?.stats64 === undefined) throw new Error(`no stats64 for ${c.name}/${c.ifname}: ${r.stdout}`);
  return { rx: link.stats64.rx.packets, tx: link.stats64.tx.packets };
}

/** The 60-byte frame (64 on a real wire, with the FCS): UDP A:9000 → B:9 with 18 bytes of payload. */
function minimumUdpFrame(): Uint8Array {
  const src = parseIPv4(A_IP);
  const dst = parseIPv4(B_IP);
  const udp = encodeUdp({ srcPort: 9000, dstPort: 9 }, new Uint8Array(18), { src, dst });
  const ip = encodeIPv4(
    {
      dscp: 0, ecn: 0, identification: 0, dontFragment: true, moreFragments: false, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.UDP, src, dst, options: new Uint8Array(0),
    },
    udp,
  );
  return encodeEthernet({ dst: parseMac(B_MAC), src: parseMac(A_MAC), tags: [], etherType: ETHERTYPE.IPV4 }, ip);
}

/** trafgen in A sends minimum-size frames to B for `seconds`; returns frames/s B received. */
async function smallFrames({ a, b }: Pair, seconds: number, cfg: string): Promise<{ rate: number; sent: number; received: number }> {
  await a.exec(['ping', '-c', '1', '-W', '2', B_IP], { check: true }); // both neighbour tables and the FDB filled
  const a0 = await linkPackets(a);
  const b0 = await linkPackets(b);
  const t0 = performance.now();
  const r = await a.exec(
    [
      'timeout', '-s', 'INT', String(seconds),
      'trafgen', '--dev', a.ifname, '--conf', cfg, '--num', String(MAX_FRAMES), '--cpus', '1',
      '--no-sock-mem', '--notouch-irq', '--no-cpu-stats',
    ],
    { timeoutMs: (seconds + 10) * 1000 },
  );
  const elapsed = (performance.now() - t0) / 1000;
  if (r.code !== 0 && r.code !== 124 && r.code !== 130) throw new Error(`trafgen exited ${r.code}: ${r.stderr}`);
  await new Promise((res) => setTimeout(res, 300)); // let queued frames drain
  const a1 = await linkPackets(a);
  const b1 = await linkPackets(b);
  const received = b1.rx - b0.rx;
  return { rate: received / elapsed, sent: a1.tx - a0.tx, received };
}

// ---------------------------------------------------------------------------
// Paths (bench/throughput.ts runs them too)

/** Compiles bench/c/tapfwd.c into `dir`; returns the binary's path. */
export function compileTapfwd(dir: string): string {
  const tapfwd = join(dir, 'tapfwd');
  sh(['cc', '-O2', '-o', tapfwd, join(here, 'c', 'tapfwd.c')]);
  return tapfwd;
}

/** A and B on two TAPs joined by the C forwarder (`tapfwd`, from compileTapfwd). */
export function cForwarderPath(tapfwd: string, vnet: boolean, addresses: PairAddresses): Path {
  return throughTaps((ta, tb) => [tapfwd, ...(vnet ? ['--vnet'] : []), ta, tb], addresses);
}

/** A and B on two TAPs joined by the wirelab switch (examples/switch.ts in its own process). */
export function wirelabBridgePath(vnet: boolean, addresses: PairAddresses): Path {
  return throughTaps((ta, tb) => [process.execPath, '--import', 'tsx', 'examples/switch.ts', ...(vnet ? ['--vnet'] : []), ta, tb], addresses);
}

// ---------------------------------------------------------------------------

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 1, max: 60, help: 'length of each iperf3 and trafgen run' },
  only: {
    type: 'list',
    meta: 'tcp,frames,rr',
    choices: ['tcp', 'frames', 'rr'],
    help: 'run only these parts: iperf3 TCP (and its CPU s/GB), 64-byte frames/s (trafgen), request/response round trips (default all)',
  },
} as const;
export const TOOLS = ['ip', 'ping', 'iperf3', 'trafgen', 'timeout', 'cc', 'ethtool'];

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('bridge', args, FLAGS);
  const seconds = opts.flags.seconds;
  const only = new Set(opts.flags.only ?? ['tcp', 'frames', 'rr']);
  requireTools('bridge', only.has('frames') ? TOOLS : TOOLS.filter((t) => t !== 'trafgen' && t !== 'timeout'));

  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-'));
  const tapfwd = compileTapfwd(dir);
  const rr = compileRr(dir);
  const cfg = join(dir, 'udp64.trafgen');
  writeFileSync(cfg, `{ ${[...minimumUdpFrame()].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(', ')} }\n`);

  const cForwarder = (vnet: boolean): Path => cForwarderPath(tapfwd, vnet, ADDRESSES);
  const wirelab = (vnet: boolean): Path => wirelabBridgePath(vnet, ADDRESSES);

  const rows: BenchRow[] = [];
  const add = (path: string, metric: string, value: number, reference: string, refValue: number) =>
    rows.push({ path, metric, value, reference, ratio: refValue > 0 ? value / refValue : 0 });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  // Both directions, with the CPU counted over the two transfers and the bytes B and A received.
  const bothWays = async (p: Pair) => {
    const { result, cpuSeconds } = await withCpu(async () => [await iperfRun(p, seconds, false), await iperfRun(p, seconds, true)] as const);
    const gb = (result[0].bytes + result[1].bytes) / 1e9;
    return Object.assign([result[0].gbps, result[1].gbps] as const, { cpuPerGb: gb > 0 ? cpuSeconds / gb : NaN });
  };

  try {
    for (const vnet of only.has('tcp') ? [false, true] : []) {
      const mode = vnet ? 'vnet_hdr on' : 'vnet_hdr off';
      const kName = `kernel bridge (offloads ${vnet ? 'on' : 'off'})`;
      const cName = `C forwarder (${mode})`;
      const wName = `wirelab bridge (${mode})`;
      const k = await kernelBridge(vnet, ADDRESSES)(bothWays);
      say(`${kName}: A→B ${k[0].toFixed(2)}, B→A ${k[1].toFixed(2)} Gbit/s`);
      const c = await cForwarder(vnet)(bothWays);
      say(`${cName}: A→B ${c[0].toFixed(2)}, B→A ${c[1].toFixed(2)} Gbit/s`);
      const w = await wirelab(vnet)(bothWays);
      say(`${wName}: A→B ${w[0].toFixed(2)}, B→A ${w[1].toFixed(2)} Gbit/s`);
      for (const [i, dirName] of [[0, 'A→B'], [1, 'B→A']] as const) {
        add(`${kName} TCP ${dirName}`, 'Gbit/s', k[i], `${kName} TCP ${dirName}`, k[i]);
        add(`${cName} TCP ${dirName}`, 'Gbit/s', c[i], `${kName} TCP ${dirName}`, k[i]);
        add(`${wName} TCP ${dirName}`, 'Gbit/s', w[i], `${cName} TCP ${dirName}`, c[i]);
      }
      const cpuRef = `${kName} TCP, ${CPU_COUNTED}`;
      say(`CPU s/GB: kernel bridge ${k.cpuPerGb.toFixed(2)}, C forwarder ${c.cpuPerGb.toFixed(2)}, wirelab bridge ${w.cpuPerGb.toFixed(2)}`);
      add(cpuRef, 'CPU s/GB', k.cpuPerGb, cpuRef, k.cpuPerGb);
      add(`${cName} TCP, ${CPU_COUNTED}`, 'CPU s/GB', c.cpuPerGb, cpuRef, k.cpuPerGb);
      add(`${wName} TCP, ${CPU_COUNTED}`, 'CPU s/GB', w.cpuPerGb, cpuRef, k.cpuPerGb);
    }

    if (only.has('rr')) {
      const roundTrips = (p: Pair) => rrBetween(rr, p, seconds);
      const paths: Array<[string, Path]> = [
        ['kernel bridge (offloads on)', kernelBridge(true, ADDRESSES)],
        ['C forwarder (vnet_hdr on)', cForwarder(true)],
        ['wirelab bridge (vnet_hdr on)', wirelab(true)],
      ];
      const results: Array<[string, RrResult]> = [];
      for (const [name, path] of paths) {
        const r = await path(roundTrips);
        say(`${name} round trips: ${rrLine(r)}`);
        results.push([name, r]);
      }
      const ref = results[0]![1];
      for (const [name, r] of results) {
        for (const [p, v, refV] of [['p50', r.p50Us, ref.p50Us], ['p99', r.p99Us, ref.p99Us]] as const) {
          const refName = `${results[0]![0]} TCP 64 B request/response, ${p} round trip`;
          add(`${name} TCP 64 B request/response, ${p} round trip`, 'µs', v, refName, refV);
        }
      }
    }

    if (only.has('frames')) {
      const small = (p: Pair) => smallFrames(p, seconds, cfg);
      const k = await kernelBridge(true, ADDRESSES)(small);
      say(`kernel bridge 64 B: sent ${k.sent}, B received ${k.received}: ${k.rate.toFixed(0)} frames/s`);
      const c = await cForwarder(false)(small);
      say(`C forwarder 64 B: sent ${c.sent}, B received ${c.received}: ${c.rate.toFixed(0)} frames/s`);
      const w = await wirelab(false)(small);
      say(`wirelab bridge 64 B: sent ${w.sent}, B received ${w.received}: ${w.rate.toFixed(0)} frames/s`);
      const kRef = 'kernel bridge 64 B UDP A→B';
      add(kRef, 'frames/s', k.rate, kRef, k.rate);
      add('C forwarder (vnet_hdr off) 64 B UDP A→B', 'frames/s', c.rate, kRef, k.rate);
      add('wirelab bridge (vnet_hdr off) 64 B UDP A→B', 'frames/s', w.rate, kRef, k.rate);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'bridge', rows }, opts), opts));
}
