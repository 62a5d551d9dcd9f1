/**
 * bench/portmap: a published container port (`-p`), four ways, in one run.
 *
 *   wirelab     container on a TAP (vnet_hdr) behind a wirelab gateway host
 *               in this process; `publishPort(gateway, '127.0.0.1:P:5201')`
 *               (proxy mode). Client in the root namespace on 127.0.0.1.
 *   slirp4netns the reference: `slirp4netns --configure --mtu 65520
 *               --api-socket S` on a fresh namespace, then `add_hostfwd`
 *               (proto tcp, host_addr 127.0.0.1) over its JSON API socket.
 *               Client in the root namespace on 127.0.0.1.
 *   socat       a userland proxy in C, what docker-proxy does:
 *               `socat TCP-LISTEN:P,bind=127.0.0.1,fork,reuseaddr TCP:ctr:5201`.
 *               Topology: [client ns: iperf3/ab → 127.0.0.1:P → socat] —veth—
 *               [container ns]. socat and the client live in a namespace of
 *               their own so the root namespace gets no interface or route.
 *   kernel DNAT the ceiling: [client ns 10.243.0.1] —veth— [router ns
 *               10.243.0.2 | 10.243.1.1, ip_forward, `iptables -t nat -A
 *               PREROUTING -d 10.243.0.2 -p tcp --dport P -j DNAT --to
 *               10.243.1.2:5201`] —veth— [container ns 10.243.1.2]. The
 *               client connects to 10.243.0.2:P. iptables only inside the
 *               router namespace.
 *
 * Measured through each: iperf3 goodput host → container and container →
 * host (`-R`), and connections per second of short HTTP requests (`ab -n N
 * -c C`, one connection per request) against a tiny Node http server in the
 * container. Every row's reference is the slirp4netns row of the same
 * measurement (targets: wirelab ≥ 1.0× in throughput and connections/s).
 *
 *   npm run bench -- portmap [--seconds N] [--requests N] [--concurrency C] [--rounds R]
 *                             [--only wirelab,socat,DNAT]
 *
 * Bounded: each iperf3 run lasts --seconds (default 5, ≤ 30), each ab run
 * makes --requests requests (default 5000, ≤ 50000) under a time limit;
 * the paths run --rounds times (default 3, interleaved) and each row is the
 * median of its rounds.
 * Everything a path creates is removed when it ends, even on failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/lab.js';
import { forgetNamespace, recordNamespace, trackChild } from '../src/lab/registry.js';
import { openTap } from '../src/link/tap.js';
import { publishPort } from '../src/nat/port-proxy.js';
import { createStack } from '../src/stack.js';
import { RealClock } from '../src/time/index.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { parseBenchArgs, requireTools } from './lib/args.js';

const uid = () => randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NO_IPV6 = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(argv: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(argv: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run(argv, timeoutMs);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Namespaces this bench made, removed in `destroy` (and by the lab registry after a crash). */
class Namespaces {
  private readonly names: string[] = [];
  private readonly procs: ChildProcess[] = [];

  async add(name: string, sysctls: readonly string[] = NO_IPV6): Promise<string> {
    await must(['ip', 'netns', 'add', name]);
    this.names.push(name);
    recordNamespace(name);
    await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    for (const s of sysctls) await must(['ip', 'netns', 'exec', name, 'sysctl', '-qw', s]);
    return name;
  }

  exec(ns: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    return must(['ip', 'netns', 'exec', ns, ...argv], timeoutMs);
  }

  spawn(ns: string | undefined, argv: readonly string[]): ChildProcess {
    const full = ns === undefined ? argv : ['ip', 'netns', 'exec', ns, ...argv];
    const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    if (ns !== undefined) trackChild(ns, child);
    this.procs.push(child);
    return child;
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await sleep(100);
    for (const n of this.names) {
      await run(['ip', 'netns', 'del', n]);
      forgetNamespace(n);
    }
  }
}

/** Resolves once `child` printed `pattern` on stdout or stderr. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${text}`)), timeoutMs);
    const on = (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before printing ${pattern}: ${text}`));
    });
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------
// The container's servers and the client's measurements

const HTTP_SERVER = (ip: string) =>
  `require('http').createServer((q, s) => s.end('ok\\n')).listen(80, '${ip}', () => console.log('http ready'))`;

/** iperf3 on 5201 and a tiny HTTP server on 80 in the container. */
async function startServers(spawnIn: (argv: readonly string[]) => ChildProcess, ip: string): Promise<void> {
  const iperf = spawnIn(['iperf3', '-s', '-p', '5201', '-B', ip, '--forceflush']);
  const http = spawnIn(['node', '-e', HTTP_SERVER(ip)]);
  await Promise.all([waitForOutput(iperf, /Server listening/), waitForOutput(http, /http ready/)]);
}

/** What the client reaches: how to run a client command, and where each service is published. */
interface Target {
  clientNs: string | undefined;
  host: string;
  iperfPort: number;
  httpPort: number;
}

export interface Measured {
  uploadMbps: number;
  downloadMbps: number;
  connsPerSec: number;
  failed: number;
}

async function measure(t: Target, opts: Options): Promise<Measured> {
  const inClient = (argv: string[]) => (t.clientNs === undefined ? argv : ['ip', 'netns', 'exec', t.clientNs, ...argv]);
  const iperf = async (reverse: boolean): Promise<number> => {
    const args = ['iperf3', '-c', t.host, '-p', String(t.iperfPort), '-t', String(opts.seconds), '-J', '--connect-timeout', '3000'];
    if (reverse) args.push('-R');
    const r = await run(inClient(args), (opts.seconds + 20) * 1000);
    const json = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    if (json.error !== undefined || r.code !== 0) throw new Error(`iperf3 via ${t.host}:${t.iperfPort}: ${json.error ?? r.stderr}`);
    return (json.end?.sum_received?.bits_per_second ?? 0) / 1e6;
  };
  const uploadMbps = await iperf(false);
  const downloadMbps = await iperf(true);
  if (opts.requests === 0) return { uploadMbps, downloadMbps, connsPerSec: 0, failed: 0 }; // bench/throughput: goodput only
  const ab = await run(
    inClient(['ab', '-q', '-r', '-s', '10', '-n', String(opts.requests), '-c', String(opts.concurrency), `http://${t.host}:${t.httpPort}/`]),
    120_000,
  );
  const rps = /Requests per second:\s+([\d.]+)/.exec(ab.stdout);
  if (rps === null) throw new Error(`ab via ${t.host}:${t.httpPort} failed: ${ab.stderr.trim() || ab.stdout.trim()}`);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(ab.stdout)?.[1] ?? 0);
  return { uploadMbps, downloadMbps, connsPerSec: Number(rps[1]), failed };
}

// ---------------------------------------------------------------------------
// The four paths

export type PathRun = (opts: Options) => Promise<Measured>;

export const wirelabPath: PathRun = async (opts) => {
  const clock = new RealClock();
  const lab = new Lab();
  const tapName = `wlpb${uid()}`;
  const tap = openTap(tapName, { vnetHdr: true });
  const gateway = createStack({ clock, name: 'gw' });
  const published: Array<{ close(): Promise<void> }> = [];
  try {
    const c = await lab.container({
      link: tapName,
      address: '10.244.0.2/24',
      sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
    });
    gateway.addInterface(tap, { addresses: ['10.244.0.1/24'] });
    await c.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.244.0.1'], { check: true });
    await startServers((argv) => c.spawn(argv).child, '10.244.0.2');
    const iperfPort = await freePort();
    published.push(await publishPort(gateway, `127.0.0.1:${iperfPort}:5201`, '10.244.0.2'));
    const httpPort = await freePort();
    published.push(await publishPort(gateway, `127.0.0.1:${httpPort}:80`, '10.244.0.2'));
    return await measure({ clientNs: undefined, host: '127.0.0.1', iperfPort, httpPort }, opts);
  } finally {
    for (const p of published) await p.close();
    await lab.close();
    gateway.close();
    await tap.close();
    clock.close();
  }
};

/** slirp4netns's JSON API: one request per connection, one answer. */
function slirpApi(socket: string, request: object): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('end', () => resolve(answer));
    s.on('error', reject);
    s.end(JSON.stringify(request));
  });
}

export const slirpPath: PathRun = async (opts) => {
  const nss = new Namespaces();
  const dir = mkdtempSync(join(tmpdir(), 'wl-slirp-'));
  try {
    const ns = await nss.add(`wl-bps${uid()}`);
    const api = join(dir, 'api.sock');
    const slirp = nss.spawn(undefined, [
      'slirp4netns', '--configure', '--mtu=65520', '--disable-host-loopback', '--disable-dns',
      '--api-socket', api, '--netns-type=path', `/run/netns/${ns}`, 'tap0',
    ]);
    const deadline = Date.now() + 10_000;
    while (!existsSync(api) || !(await run(['ip', '-n', ns, 'addr', 'show', 'tap0'])).stdout.includes('10.0.2.100')) {
      if (slirp.exitCode !== null || Date.now() > deadline) throw new Error('slirp4netns did not come up');
      await sleep(50);
    }
    await startServers((argv) => nss.spawn(ns, argv), '10.0.2.100');
    const ports: number[] = [];
    for (const guest of [5201, 80]) {
      const hostPort = await freePort();
      const answer = await slirpApi(api, {
        execute: 'add_hostfwd',
        arguments: { proto: 'tcp', host_addr: '127.0.0.1', host_port: hostPort, guest_port: guest },
      });
      if (!answer.includes('"return"')) throw new Error(`slirp4netns add_hostfwd: ${answer}`);
      ports.push(hostPort);
    }
    return await measure({ clientNs: undefined, host: '127.0.0.1', iperfPort: ports[0]!, httpPort: ports[1]! }, opts);
  } finally {
    await nss.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
};

export const socatPath: PathRun = async (opts) => {
  const nss = new Namespaces();
  try {
    const id = uid();
    const client = await nss.add(`wl-bpc${id}`);
    const ctr = await nss.add(`wl-bpk${id}`);
    await nss.exec(client, ['ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctr]);
    await nss.exec(client, ['ip', 'addr', 'add', '10.242.0.1/24', 'dev', 'veth0']);
    await nss.exec(client, ['ip', 'link', 'set', 'veth0', 'up']);
    await nss.exec(ctr, ['ip', 'addr', 'add', '10.242.0.2/24', 'dev', 'eth0']);
    await nss.exec(ctr, ['ip', 'link', 'set', 'eth0', 'up']);
    await startServers((argv) => nss.spawn(ctr, argv), '10.242.0.2');
    for (const [p, to] of [[15201, 5201], [10080, 80]] as const) {
      nss.spawn(client, ['socat', `TCP-LISTEN:${p},bind=127.0.0.1,fork,reuseaddr`, `TCP:10.242.0.2:${to}`]);
    }
    await sleep(300);
    return await measure({ clientNs: client, host: '127.0.0.1', iperfPort: 15201, httpPort: 10080 }, opts);
  } finally {
    await nss.destroy();
  }
};

export const dnatPath: PathRun = async (opts) => {
  const nss = new Namespaces();
  try {
    const id = uid();
    const client = await nss.add(`wl-bpc${id}`);
    const router = await nss.add(`wl-bpr${id}`, [...NO_IPV6, 'net.ipv4.ip_forward=1']);
    const ctr = await nss.add(`wl-bpk${id}`);
    await nss.exec(client, ['ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'up0', 'netns', router]);
    await nss.exec(router, ['ip', 'link', 'add', 'in0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctr]);
    for (const [ns, dev, cidr] of [
      [client, 'veth0', '10.243.0.1/24'], [router, 'up0', '10.243.0.2/24'], [router, 'in0', '10.243.1.1/24'], [ctr, 'eth0', '10.243.1.2/24'],
    ] as const) {
      await nss.exec(ns, ['ip', 'addr', 'add', cidr, 'dev', dev]);
      await nss.exec(ns, ['ip', 'link', 'set', dev, 'up']);
    }
    await nss.exec(ctr, ['ip', 'route', 'add', 'default', 'via', '10.243.1.1']);
    for (const [p, to] of [[15201, 5201], [10080, 80]] as const) {
      await nss.exec(router, [
        'iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', '10.243.0.2', '-p', 'tcp', '--dport', String(p),
        '-j', 'DNAT', '--to-destination', `10.243.1.2:${to}`,
      ]);
    }
    await startServers((argv) => nss.spawn(ctr, argv), '10.243.1.2');
    return await measure({ clientNs: client, host: '10.243.0.2', iperfPort: 15201, httpPort: 10080 }, opts);
  } finally {
    await nss.destroy();
  }
};

// ---------------------------------------------------------------------------

export interface Options {
  seconds: number;
  /** Requests per ab run; 0 skips ab (goodput only). */
  requests: number;
  concurrency: number;
  rounds: number;
}

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 1, max: 30, help: 'length of each iperf3 run' },
  requests: { type: 'number', default: 5000, min: 100, max: 50_000, help: 'requests per ab run' },
  concurrency: { type: 'number', default: 16, min: 1, max: 256, help: 'ab concurrency' },
  rounds: { type: 'number', default: 3, min: 1, max: 9, help: 'rounds; each row is the median' },
  only: { type: 'list', meta: 'wirelab,socat,DNAT', help: 'run only the paths whose name contains one of these (slirp4netns, the reference, always runs)' },
} as const;

export async function main(args: string[]): Promise<void> {
  const parsed = parseBenchArgs('portmap', args, FLAGS);
  const { seconds, requests, concurrency, rounds } = parsed.flags;
  const opts: Options = { seconds, requests, concurrency, rounds };
  const paths: Array<[string, PathRun]> = [
    ['slirp4netns add_hostfwd', slirpPath],
    ['wirelab -p (proxy mode)', wirelabPath],
    ['socat proxy (C, fork)', socatPath],
    ['kernel DNAT (ceiling)', dnatPath],
  ];
  const only = parsed.flags.only;
  // --only wirelab,socat,DNAT (profiling runs; the reference, slirp4netns, always runs)
  const chosen = paths.filter(([name], i) => i === 0 || only === undefined || only.some((o) => name.includes(o)));
  requireTools('portmap', [
    'ip', 'ping', 'sysctl', 'iperf3', 'ab', 'node', 'slirp4netns',
    ...(chosen.some(([n]) => n.startsWith('socat')) ? ['socat'] : []),
    ...(chosen.some(([n]) => n.startsWith('kernel DNAT')) ? ['iptables'] : []),
  ]);
  // Rounds interleave the paths, so a burst of load from elsewhere on the machine hits
  // them alike; each metric is the median over the rounds.
  const runs = new Map<string, Measured[]>(chosen.map(([name]) => [name, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    for (const [name, fn] of chosen) {
      process.stderr.write(`portmap round ${round}/${opts.rounds}: ${name} …\n`);
      const m = await fn(opts);
      process.stderr.write(`  ${JSON.stringify(m)}\n`);
      runs.get(name)!.push(m);
    }
  }
  const median = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    const mid = v.length >> 1;
    return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  };
  const results: Array<[string, Measured]> = [...runs].map(([name, ms]) => [
    name,
    {
      uploadMbps: median(ms.map((m) => m.uploadMbps)),
      downloadMbps: median(ms.map((m) => m.downloadMbps)),
      connsPerSec: median(ms.map((m) => m.connsPerSec)),
      failed: ms.reduce((a, m) => a + m.failed, 0),
    },
  ]);
  const rows: BenchRow[] = [];
  const metrics: Array<[string, string, (m: Measured) => number]> = [
    ['host→container', 'Mbit/s', (m) => m.uploadMbps],
    ['container→host', 'Mbit/s', (m) => m.downloadMbps],
    [`HTTP ab -c${opts.concurrency}`, 'conn/s', (m) => m.connsPerSec],
  ];
  for (const [what, unit, get] of metrics) {
    const ref = `${what}: ${results[0]![0]}`;
    const refValue = get(results[0]![1]);
    for (const [name, m] of results) {
      rows.push({ path: `${what}: ${name}`, metric: unit, value: get(m), reference: ref, ratio: get(m) / refValue });
    }
  }
  for (const [name, m] of results) if (m.failed > 0) process.stderr.write(`warning: ${name}: ab reported ${m.failed} failed requests\n`);
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'portmap', rows }, parsed), parsed));
  setTimeout(() => process.exit(0), 500).unref();
}
