/**
 * bench/throughput: every forwarding and endpoint path wirelab has, in one
 * table, each beside its reference measured in the same run.
 *
 *   npm run bench -- throughput [--seconds N] [--rounds R] [--only bridge,router,nat,portmap,tcp,udp]
 *                               [--udp-sizes 64,512,1472]
 *
 * Paths (two containers A and B, iperf3 from A to B):
 *
 *   bridge   Linux bridge (offloads on; the kernel reference), the C TAP
 *            forwarder bench/c/tapfwd.c (the ceiling of a one-syscall-per-
 *            frame forwarder; vnet_hdr off and on), the wirelab bridge
 *            (examples/switch.ts in its own process; vnet_hdr off and on,
 *            each against the C forwarder in the same mode).
 *   router   a Linux router (a namespace with ip_forward=1 between two
 *            veths) against a wirelab Stack with forwarding=true between two
 *            TAPs (vnet_hdr on), in this process; A and B on two /24s.
 *   nat      the same two routers with masquerade out of B's side: iptables
 *            MASQUERADE in the router namespace, stack.nat.masquerade('eth1').
 *   portmap  a published container port from bench/portmap.ts: wirelab -p
 *            (proxy mode) and socat against slirp4netns add_hostfwd; iperf3
 *            host→container and container→host (one stream).
 *   tcp      wirelab's TCP endpoint over a TAP against kernel TCP through a
 *            Linux bridge (bench/tcp.ts part (a): python sources and sinks,
 *            vnet_hdr off and on).
 *   udp      iperf3 UDP (`-u -l SIZE -b 0`) over the bridge, router and NAT
 *            paths (the C forwarder and wirelab bridge with vnet_hdr on),
 *            frames/s received (sent − lost, from iperf3's JSON).
 *
 * On the bridge, router and nat paths iperf3 runs TCP with 1 and 4 streams
 * (`-P 4`). Every row is the MEDIAN of --rounds rounds, with its spread
 * (min–max) in the JSON (`min`, `max`, `rounds`) and in the table; rounds
 * interleave the paths, so a burst of load from elsewhere hits them alike.
 * The ratio is median / median of the reference row.
 *
 * Small frames: one iperf3 client is one thread sending one datagram per
 * syscall and one iperf3 server one thread receiving them, so on a fast
 * path iperf3, not the path, is the limit: frames/s then barely change with
 * the size. Where a UDP run lost under 1% the row says "iperf3-bound": the
 * path took everything iperf3 could send, and its real ceiling is higher.
 * Loss of 1% or more does not prove the path was the limit either (the
 * receiving iperf3's socket buffer overflows too). A frame generator that
 * can fill a path (trafgen, from netsniff-ng) is not used here: it is not
 * installed on every machine this runs on; bench/bridge measures 64-byte
 * frames/s with it where it is.
 *
 * Bounded: every iperf3 run lasts --seconds (plus a 15 s allowance before
 * it is killed); the portmap and tcp transfers likewise. Only addresses
 * inside the namespaces created here are used (10.203.0.0/24 for the L2
 * paths, 10.204.1.0/24 and 10.204.2.0/24 for the routed ones, and those
 * bench/portmap and bench/tcp use). Everything a path creates is removed
 * when it ends, even on failure (the lab registry removes namespaces left
 * by a crash).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/lab.js';
import { forgetNamespace, recordNamespace } from '../src/lab/registry.js';
import { openTap, type TapPort } from '../src/link/tap.js';
import { createStack } from '../src/stack.js';
import { RealClock } from '../src/time/index.js';
import { cForwarderPath, compileTapfwd, wirelabBridgePath } from './bridge.js';
import { kernelBridge, NO_IPV6, sh, type Pair, type Path } from './lib/paths.js';
import { BenchExit, parseBenchArgs, requireTools } from './lib/args.js';
import { slirpPath, socatPath, wirelabPath, type Measured, type PathRun } from './portmap.js';
import { benchBulk, clock as tcpClock } from './tcp.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';

const GROUPS = ['bridge', 'router', 'nat', 'portmap', 'tcp', 'udp'] as const;
type Group = (typeof GROUPS)[number];

export const FLAGS = {
  seconds: { type: 'number', default: 3, min: 1, max: 30, help: 'length of each iperf3 run (and each portmap/tcp transfer)' },
  rounds: { type: 'number', default: 3, min: 1, max: 9, help: 'rounds; each row is the median, with min–max' },
  only: { type: 'list', meta: 'bridge,udp,…', choices: GROUPS, help: 'run only these path groups (default all)' },
  'udp-sizes': { type: 'list', meta: '64,512,1472', help: 'UDP payload sizes in bytes for the udp group (each 16..1472)' },
} as const;

const L2 = { aIp: '10.203.0.1', bIp: '10.203.0.2', aMac: '02:00:00:02:03:01', bMac: '02:00:00:02:03:02' };
/** A and B on two networks; the router is .1 on each. */
const L3 = { aIp: '10.204.1.2', bIp: '10.204.2.2', aMac: '02:00:00:02:04:01', bMac: '02:00:00:02:04:02' };
const uid = () => randomBytes(3).toString('hex');

// ---------------------------------------------------------------------------
// iperf3

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number };
    sum?: { packets?: number; lost_packets?: number; lost_percent?: number; seconds?: number };
  };
}

/** One iperf3 client run in A against a one-off server in B; returns the parsed JSON. */
async function iperf3({ a, b, addresses }: Pair, seconds: number, extra: string[]): Promise<IperfJson> {
  const server = b.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', addresses.bIp]);
  try {
    await server.waitFor(/Server listening/, 5000);
    const args = ['iperf3', '-c', addresses.bIp, '-t', String(seconds), '-J', '--connect-timeout', '3000', ...extra];
    const r = await a.exec(args, { timeoutMs: (seconds + 15) * 1000 });
    let json: IperfJson;
    try {
      json = JSON.parse(r.stdout) as IperfJson;
    } catch {
      throw new Error(`iperf3 ${extra.join(' ')}: no JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
    }
    if (json.error) throw new Error(`iperf3 ${extra.join(' ')}: ${json.error}`);
    return json;
  } finally {
    await server.kill('SIGKILL');
  }
}

/** One measurement of a round: a row key and its value (plus a note, if any). */
interface Sample {
  key: string;
  metric: string;
  value: number;
  note?: string;
}

async function tcpStreams(p: Pair, seconds: number, streams: number): Promise<number> {
  const json = await iperf3(p, seconds, streams > 1 ? ['-P', String(streams)] : []);
  return (json.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

async function udpFrames(p: Pair, seconds: number, size: number): Promise<{ rate: number; lostPercent: number }> {
  const json = await iperf3(p, seconds, ['-u', '-l', String(size), '-b', '0']);
  const sum = json.end?.sum;
  const packets = sum?.packets ?? 0;
  const lost = sum?.lost_packets ?? 0;
  const secs = sum?.seconds ?? seconds;
  return { rate: secs > 0 ? (packets - lost) / secs : 0, lostPercent: sum?.lost_percent ?? 0 };
}

// ---------------------------------------------------------------------------
// Routed paths

/** A and B on veths into a Linux router namespace (ip_forward=1), with `nat`: MASQUERADE out of B's side. */
function kernelRouter(nat: boolean): Path {
  return async (fn) => {
    const id = uid();
    const rNs = `wl-rt${id}`;
    const lab = new Lab();
    sh(['ip', 'netns', 'add', rNs]);
    recordNamespace(rNs);
    try {
      sh(['ip', '-n', rNs, 'link', 'set', 'lo', 'up']);
      sh(['ip', 'netns', 'exec', rNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1']);
      const outer: string[] = [];
      for (const [side, net] of [['a', 1], ['b', 2]] as const) {
        const o = `wlr${id}${side}`;
        // Made inside the router namespace; the outer end visits the root
        // namespace only until the lab moves it into its container.
        sh(['ip', '-n', rNs, 'link', 'add', `r${side}`, 'type', 'veth', 'peer', 'name', o, 'netns', '1']);
        sh(['ip', '-n', rNs, 'addr', 'add', `10.204.${net}.1/24`, 'dev', `r${side}`]);
        sh(['ip', '-n', rNs, 'link', 'set', `r${side}`, 'up']);
        outer.push(o);
      }
      if (nat) sh(['ip', 'netns', 'exec', rNs, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'rb', '-j', 'MASQUERADE']);
      const a = await lab.container({ link: outer[0]!, address: `${L3.aIp}/24`, gateway: '10.204.1.1', mac: L3.aMac, sysctls: NO_IPV6 });
      const b = await lab.container({ link: outer[1]!, address: `${L3.bIp}/24`, gateway: '10.204.2.1', mac: L3.bMac, sysctls: NO_IPV6 });
      await a.exec(['ping', '-c', '1', '-W', '2', L3.bIp], { check: true });
      return await fn({ a, b, addresses: L3 });
    } finally {
      await lab.close();
      try {
        sh(['ip', 'netns', 'del', rNs]);
      } catch {
        // already gone
      }
      forgetNamespace(rNs);
    }
  };
}

/** A and B on two TAPs into a wirelab Stack with forwarding=true (in this process); with `nat`, masquerade out of eth1. */
function wirelabRouter(nat: boolean, vnetHdr: boolean): Path {
  return async (fn) => {
    const id = uid();
    const clock = new RealClock();
    const taps: TapPort[] = [];
    const router = createStack({ clock, name: nat ? 'nat' : 'router', forwarding: true });
    const lab = new Lab();
    try {
      taps.push(openTap(`wlr${id}a`, { vnetHdr }), openTap(`wlr${id}b`, { vnetHdr }));
      const a = await lab.container({ link: taps[0]!.name, address: `${L3.aIp}/24`, gateway: '10.204.1.1', mac: L3.aMac, sysctls: NO_IPV6 });
      const b = await lab.container({ link: taps[1]!.name, address: `${L3.bIp}/24`, gateway: '10.204.2.1', mac: L3.bMac, sysctls: NO_IPV6 });
      router.addInterface(taps[0]!, { name: 'eth0', addresses: ['10.204.1.1/24'] });
      router.addInterface(taps[1]!, { name: 'eth1', addresses: ['10.204.2.1/24'] });
      if (nat) router.nat.masquerade('eth1');
      await a.exec(['ping', '-c', '1', '-W', '2', L3.bIp], { check: true });
      return await fn({ a, b, addresses: L3 });
    } finally {
      await lab.close();
      router.close();
      for (const t of taps) await t.close().catch(() => undefined);
      clock.close();
    }
  };
}

// ---------------------------------------------------------------------------
// The matrix

interface PathSpec {
  group: Group;
  name: string;
  /** The `name` of this path's reference (itself for a reference). */
  reference: string;
  /** Also runs the UDP sizes when the udp group is chosen. */
  udp: boolean;
  path: (tapfwd: string) => Path;
}

const K_BRIDGE = 'Linux bridge (offloads on)';
const C_OFF = 'C TAP forwarder (vnet_hdr off)';
const C_ON = 'C TAP forwarder (vnet_hdr on)';
const K_ROUTER = 'Linux router (ip_forward)';
const K_NAT = 'Linux NAT (iptables MASQUERADE)';

const PATHS: PathSpec[] = [
  { group: 'bridge', name: K_BRIDGE, reference: K_BRIDGE, udp: true, path: () => kernelBridge(true, L2) },
  { group: 'bridge', name: C_OFF, reference: K_BRIDGE, udp: false, path: (t) => cForwarderPath(t, false, L2) },
  { group: 'bridge', name: C_ON, reference: K_BRIDGE, udp: true, path: (t) => cForwarderPath(t, true, L2) },
  { group: 'bridge', name: 'wirelab bridge (vnet_hdr off)', reference: C_OFF, udp: false, path: () => wirelabBridgePath(false, L2) },
  { group: 'bridge', name: 'wirelab bridge (vnet_hdr on)', reference: C_ON, udp: true, path: () => wirelabBridgePath(true, L2) },
  { group: 'router', name: K_ROUTER, reference: K_ROUTER, udp: true, path: () => kernelRouter(false) },
  { group: 'router', name: 'wirelab router (forwarding=true, vnet_hdr on)', reference: K_ROUTER, udp: true, path: () => wirelabRouter(false, true) },
  { group: 'nat', name: K_NAT, reference: K_NAT, udp: true, path: () => kernelRouter(true) },
  { group: 'nat', name: 'wirelab NAT (masquerade, vnet_hdr on)', reference: K_NAT, udp: true, path: () => wirelabRouter(true, true) },
];

const PORTMAP_PATHS: Array<[string, PathRun]> = [
  ['slirp4netns add_hostfwd', slirpPath],
  ['wirelab -p (proxy mode)', wirelabPath],
  ['socat proxy (C, fork)', socatPath],
];

interface RowSpec {
  metric: string;
  reference: string;
  values: number[];
  notes: string[];
}

function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('throughput', args, FLAGS);
  const { seconds, rounds } = opts.flags;
  const only = new Set<Group>((opts.flags.only as Group[] | undefined) ?? GROUPS);
  const udpSizes = (opts.flags['udp-sizes'] ?? ['64', '512', '1472']).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 16 || n > 1472) throw new BenchExit(`bench/throughput: --udp-sizes: "${s}" is not a payload size from 16 to 1472`, 2);
    return n;
  });
  const l2l3 = PATHS.filter((p) => only.has(p.group) || (only.has('udp') && p.udp));
  requireTools('throughput', [
    ...(l2l3.length > 0 ? ['ip', 'ping', 'iperf3', 'cc', 'ethtool'] : []),
    ...(l2l3.some((p) => p.name === K_NAT) ? ['iptables'] : []),
    ...(only.has('portmap') ? ['ip', 'ping', 'sysctl', 'iperf3', 'node', 'slirp4netns', 'socat'] : []),
    ...(only.has('tcp') ? ['ip', 'ping', 'ethtool', 'python3'] : []),
  ]);

  const say = (line: string) => process.stderr.write(`${line}\n`);
  process.stdout.write(
    `bench/throughput: median of ${rounds} round(s) of ${seconds} s per run, spread min–max; ratio = median / reference median.\n` +
      'UDP rows are iperf3 frames/s received (sent − lost). One iperf3 thread sends and one receives, so on fast paths iperf3 is the limit, not the path\n' +
      '(frames/s barely change with size); "iperf3-bound" marks runs that lost < 1%: the path took everything iperf3 could send.\n' +
      'trafgen (netsniff-ng) is not used: it is not installed on every machine; bench/bridge measures 64-byte frames/s with it.\n',
  );

  // Rows in the order they are first seen; values appended round by round.
  const table = new Map<string, RowSpec>();
  const record = (key: string, metric: string, reference: string, value: number, note?: string) => {
    let r = table.get(key);
    if (r === undefined) table.set(key, (r = { metric, reference, values: [], notes: [] }));
    r.values.push(value);
    if (note !== undefined) r.notes.push(note);
  };

  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-'));
  try {
    const tapfwd = l2l3.some((p) => p.name.startsWith('C TAP')) ? compileTapfwd(dir) : '';
    for (let round = 1; round <= rounds; round++) {
      for (const spec of l2l3) {
        say(`throughput round ${round}/${rounds}: ${spec.name} …`);
        const samples = await spec.path(tapfwd)(async (p) => {
          const out: Sample[] = [];
          if (only.has(spec.group)) {
            for (const streams of [1, 4]) {
              out.push({ key: `TCP ×${streams}`, metric: 'Gbit/s', value: await tcpStreams(p, seconds, streams) });
            }
          }
          if (only.has('udp') && spec.udp) {
            for (const size of udpSizes) {
              const u = await udpFrames(p, seconds, size);
              out.push({ key: `UDP ${size} B`, metric: 'frames/s', value: u.rate, note: u.lostPercent < 1 ? 'iperf3-bound' : undefined });
            }
          }
          return out;
        });
        for (const s of samples) {
          say(`  ${s.key}: ${s.value.toFixed(s.metric === 'Gbit/s' ? 2 : 0)} ${s.metric}${s.note ? ` (${s.note})` : ''}`);
          record(`${spec.name}: ${s.key}`, s.metric, `${spec.reference}: ${s.key}`, s.value, s.note);
        }
      }
      if (only.has('portmap')) {
        for (const [name, run] of PORTMAP_PATHS) {
          say(`throughput round ${round}/${rounds}: port map, ${name} …`);
          const m: Measured = await run({ seconds, requests: 0, concurrency: 1, rounds: 1 });
          say(`  host→container ${(m.uploadMbps / 1e3).toFixed(2)}, container→host ${(m.downloadMbps / 1e3).toFixed(2)} Gbit/s`);
          const ref = PORTMAP_PATHS[0]![0];
          record(`port map ${name}: host→container`, 'Gbit/s', `port map ${ref}: host→container`, m.uploadMbps / 1e3);
          record(`port map ${name}: container→host`, 'Gbit/s', `port map ${ref}: container→host`, m.downloadMbps / 1e3);
        }
      }
      if (only.has('tcp')) {
        say(`throughput round ${round}/${rounds}: TCP endpoint over TAP (bench/tcp part a) …`);
        const rows: BenchRow[] = [];
        await benchBulk(rows, seconds);
        const name = (path: string) => `TCP endpoint: ${path.replace(/^\(a\) /, '')}`;
        for (const r of rows.filter((row) => row.metric === 'Mbit/s')) record(name(r.path), 'Gbit/s', name(r.reference), r.value / 1e3);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    tcpClock.close();
  }

  const medians = new Map([...table].map(([key, r]) => [key, median(r.values)]));
  const rows: BenchRow[] = [...table].map(([key, r]) => {
    const value = medians.get(key)!;
    const refValue = medians.get(r.reference) ?? NaN;
    const bound = r.notes.filter((n) => n === 'iperf3-bound').length;
    return {
      path: key,
      metric: r.metric,
      value,
      reference: r.reference,
      ratio: refValue > 0 ? value / refValue : 0,
      min: Math.min(...r.values),
      max: Math.max(...r.values),
      rounds: r.values.length,
      ...(bound > 0 ? { note: bound === r.values.length ? 'iperf3-bound' : `iperf3-bound in ${bound}/${r.values.length} rounds` } : {}),
    };
  });
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'throughput', rows }, opts), opts));
  // Taps, stacks and clocks are closed; a leftover Node timer of a closed stack must not hold the process.
  setTimeout(() => process.exit(0), 500).unref();
}
