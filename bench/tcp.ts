/**
 * bench/tcp: wirelab's TCP, each path against a reference measured in the
 * same run.
 *
 *   (a) bulk goodput wirelab ↔ kernel over a TAP, both directions, against
 *       kernel ↔ kernel through a Linux bridge (veths in a throwaway
 *       namespace), offloads off (and vnet_hdr on against offloads on when
 *       the stack sends GSO frames);
 *   (b) goodput over a 100 Mbit/s, 20 ms RTT, 1% loss path (impair() on both
 *       directions: rate 100e6, delay 10 ms, loss 0.01, 1000-frame queue):
 *       wirelab CUBIC sending to a container, against Linux CUBIC sending
 *       between two containers joined by a wirelab forwarder whose ports are
 *       impaired the same way (target ≥ 0.9×; the kernel senders set
 *       TCP_CONGESTION=cubic per socket: a namespace cannot make CUBIC its
 *       default when the host uses another); plus the kernel sending to
 *       wirelab on that path (wirelab as the receiver);
 *   (c) wirelab ↔ wirelab in memory (two stacks over a pipe, socket API), in
 *       MB/s, against two Node `net` sockets over 127.0.0.1 (target ≥ 0.5×):
 *       on the virtual clock (the stack's own cost: the target row) and on
 *       the real clock (where each pipe hop is a ≥ 1 ms Node timer);
 *   (d) scale: 1,000, 10,000 and 100,000 concurrent connections in memory
 *       (TcpLayer connections, both ends in this process): connections
 *       opened per second against Node `net` opening 8,000 over 127.0.0.1,
 *       and heap bytes per idle connection endpoint after a full GC against
 *       the 1,000 row; then a churn of 100,000 one-shot connections (open,
 *       request, answer, close), its rate and the heap with their TIME-WAIT
 *       records held against the idle heap before;
 *   (e) request/response round trips (TCP_RR-style, bench/c/rr.c compiled at
 *       run time: a 64-byte request and answer over one connection for N
 *       seconds), p50 and p99: rr's client in a container against a wirelab
 *       TCP echo server over a TAP (vnet_hdr on), against rr's client and
 *       server kernel ↔ kernel through a Linux bridge (offloads on, the
 *       reference) and through the C TAP forwarder (vnet_hdr on).
 *
 * Part (a) also gives each bulk path's CPU seconds per GB received: this
 * process (the wirelab stack), every process it started (the python senders
 * and receivers in the containers, live or reaped) and the ksoftirqd threads,
 * from /proc over the transfer (bench/lib/cpu.ts says exactly what is counted).
 *
 *   npm run bench -- tcp [--seconds N] [--only a,b,c,d,e]
 *
 * Goodput is measured at the receiver (bytes delivered to the application
 * over the time from accept to end of stream). Every load is bounded in time;
 * the namespaces are the ones created here (the lab registry removes them
 * even after a crash); results go to tcp.json in the results directory
 * (bench/results/ with --save; see bench/results.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Lab } from '../src/lab/lab.js';
import type { Container } from '../src/lab/netns.js';
import { relay } from '../src/link/forward.js';
import { impair, type ImpairmentOptions } from '../src/link/impair.js';
import { createPipe } from '../src/link/pipe.js';
import type { Port } from '../src/link/port.js';
import { openTap, type TapPort } from '../src/link/tap.js';
import { createStack, type Stack } from '../src/stack.js';
import { RealClock, VirtualClock, type Clock } from '../src/time/index.js';
import { parseIPv4 } from '../src/wire/address.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { parseBenchArgs, requireTools } from './lib/args.js';
import { CPU_COUNTED, withCpu } from './lib/cpu.js';
import { benchRoundTrips } from './lib/tcp-rr.js';
import { compileTapfwd, cForwarderPath } from './bridge.js';

const uid = () => randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Goodput {
  bytes: number;
  seconds: number;
}
const mbps = (g: Goodput) => (g.bytes * 8) / g.seconds / 1e6;

// ---------------------------------------------------------------------------
// Loads: python in containers, wirelab sockets in this process, all time-bounded

const PY_SINK = (ip: string, port: number) => `
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic')
s.bind(('${ip}', ${port}))
s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
t0 = time.monotonic()
n = 0
buf = bytearray(1 << 20)
while True:
    k = c.recv_into(buf)
    if not k:
        break
    n += k
t1 = time.monotonic()
c.close()
print('done', n, t1 - t0, flush=True)
`;

const PY_SOURCE = (ip: string, port: number, seconds: number) => `
import socket, time, os
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'cubic')
s.settimeout(30)
s.connect(('${ip}', ${port}))
s.settimeout(${seconds} + 30)
buf = os.urandom(1 << 20)
end = time.monotonic() + ${seconds}
while time.monotonic() < end:
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
print('sent', flush=True)
`;

/** A python sink in `c`; resolves with what it received once the sender ends. */
async function pySink(c: Container, ip: string, port: number, timeoutMs: number): Promise<() => Promise<Goodput>> {
  const p = c.spawn(['python3', '-c', PY_SINK(ip, port)]);
  await p.waitForOutput(/ready/, 10_000);
  return async () => {
    try {
      await p.waitForOutput(/^done /m, timeoutMs);
    } finally {
      p.child.kill('SIGKILL');
    }
    const [, n, t] = p.stdoutText.trim().split('\n').pop()!.split(' ');
    return { bytes: Number(n), seconds: Number(t) };
  };
}

async function pySource(c: Container, ip: string, port: number, seconds: number): Promise<void> {
  const r = await c.exec(['python3', '-c', PY_SOURCE(ip, port, seconds)], { timeoutMs: (seconds + 60) * 1000 });
  if (r.code !== 0) throw new Error(`python source in ${c.name} failed: ${r.stderr.trim() || r.stdout.trim()}${r.timedOut ? ' (timed out)' : ''}`);
}

const CHUNK = randomBytes(1 << 20);

/** Writes CHUNK to `sock` with backpressure for `seconds`, then ends it. */
function streamFor(sock: Duplex, seconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = performance.now() + seconds * 1000;
    sock.on('error', reject);
    const pump = (): void => {
      while (performance.now() < end) {
        if (!sock.write(CHUNK)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end(() => resolve());
    };
    pump();
  });
}

/** Counts what arrives on `sock` from its first byte (or now) to its end. */
function countUntilEnd(sock: Duplex, timeoutMs: number): Promise<Goodput> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let n = 0;
    const timer = setTimeout(() => sock.destroy(new Error(`sink: no end of stream in ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', (d: Uint8Array) => (n += d.length));
    sock.on('end', () => {
      clearTimeout(timer);
      resolve({ bytes: n, seconds: (performance.now() - t0) / 1000 });
      sock.end();
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A wirelab server on `stack` that sinks one connection. */
function wlSink(stack: Stack, ip: string, port: number, timeoutMs: number): Promise<Goodput> {
  return new Promise((resolve, reject) => {
    const server = stack.tcp.createServer((sock) => {
      server.close();
      countUntilEnd(sock, timeoutMs).then(resolve, reject);
    });
    server.on('error', reject);
    server.listen(port, ip);
  });
}

// ---------------------------------------------------------------------------
// Topologies

/** The real clock every site here runs on; main closes it (so does bench/throughput, which runs benchBulk). */
export const clock = new RealClock();

interface WirelabSite {
  lab: Lab;
  c: Container;
  stack: Stack;
  tap: TapPort;
  hostIp: string;
  containerIp: string;
  close(): Promise<void>;
}

/**
 * A container on a TAP with a wirelab host at the other end. With
 * `impairment`, the host and the TAP are joined by a pipe whose ends are
 * both impaired (both directions suffer it).
 */
async function wirelabSite(subnet: number, opts: { vnetHdr?: boolean; impairment?: ImpairmentOptions } = {}): Promise<WirelabSite> {
  const name = `wlbt${uid()}`;
  const tap = openTap(name, { vnetHdr: opts.vnetHdr ?? false });
  const lab = new Lab();
  const containerIp = `10.${subnet}.0.1`;
  const hostIp = `10.${subnet}.0.2`;
  const stack = createStack({ clock, name });
  const extra: Port[] = [];
  try {
    const c = await lab.container({
      link: name,
      address: `${containerIp}/24`,
      sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' },
    });
    let port: Port = tap;
    if (opts.impairment) {
      const [hostEnd, wireEnd] = createPipe(clock);
      const toKernel = impair(hostEnd, clock, { ...opts.impairment, seed: 3 });
      const toWirelab = impair(wireEnd, clock, { ...opts.impairment, seed: 5 });
      wireEnd.onReceive = (b) => relay(b, tap);
      tap.onReceive = (b) => relay(b, toWirelab);
      extra.push(toKernel, toWirelab);
      port = toKernel;
    }
    stack.addInterface(port, { addresses: [`${hostIp}/24`] });
    await c.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', hostIp], { timeoutMs: 15_000 });
    return {
      lab, c, stack, tap, hostIp, containerIp,
      close: async () => {
        await lab.close();
        stack.close();
        for (const p of extra) await p.close().catch(() => undefined);
        await tap.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await lab.close().catch(() => undefined);
    stack.close();
    await tap.close().catch(() => undefined);
    throw e;
  }
}

/** Two containers A and B on TAPs joined by a wirelab forwarder; each TAP's egress impaired. */
async function forwardedPair(subnet: number, impairment: ImpairmentOptions): Promise<{ a: Container; b: Container; aIp: string; bIp: string; close(): Promise<void> }> {
  const id = uid();
  const ta = openTap(`wlbf${id}a`);
  const tb = openTap(`wlbf${id}b`);
  const lab = new Lab();
  const toA = impair(ta, clock, { ...impairment, seed: 5 });
  const toB = impair(tb, clock, { ...impairment, seed: 3 });
  ta.onReceive = (b) => relay(b, toB);
  tb.onReceive = (b) => relay(b, toA);
  const aIp = `10.${subnet}.0.1`;
  const bIp = `10.${subnet}.0.2`;
  const close = async () => {
    await lab.close();
    await toA.close().catch(() => undefined);
    await toB.close().catch(() => undefined);
  };
  try {
    const sysctls = { 'net.ipv6.conf.all.disable_ipv6': '1' };
    const a = await lab.container({ link: ta.name, address: `${aIp}/24`, sysctls });
    const b = await lab.container({ link: tb.name, address: `${bIp}/24`, sysctls });
    await a.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', bIp], { timeoutMs: 15_000 });
    return { a, b, aIp, bIp, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Two containers joined by veths to a Linux bridge in a throwaway namespace. */
async function bridgedPair(subnet: number, offloads: boolean): Promise<{ a: Container; b: Container; aIp: string; bIp: string; close(): Promise<void> }> {
  const id = uid();
  const brNs = `wl-bt${id}`;
  const lab = new Lab();
  sh(['ip', 'netns', 'add', brNs]);
  const close = async () => {
    await lab.close();
    try {
      sh(['ip', 'netns', 'del', brNs]);
    } catch {
      /* already gone */
    }
  };
  try {
    sh(['ip', '-n', brNs, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['ip', '-n', brNs, 'link', 'set', 'br0', 'up']);
    const ends: string[] = [];
    for (const side of ['a', 'b']) {
      const outer = `wlbv${id}${side}`;
      sh(['ip', '-n', brNs, 'link', 'add', `p${side}`, 'type', 'veth', 'peer', 'name', outer, 'netns', '1']);
      sh(['ip', '-n', brNs, 'link', 'set', `p${side}`, 'master', 'br0', 'up']);
      if (!offloads) sh(['ip', 'netns', 'exec', brNs, 'ethtool', '-K', `p${side}`, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      ends.push(outer);
    }
    const aIp = `10.${subnet}.0.1`;
    const bIp = `10.${subnet}.0.2`;
    const sysctls = { 'net.ipv6.conf.all.disable_ipv6': '1' };
    const a = await lab.container({ link: ends[0]!, address: `${aIp}/24`, sysctls });
    const b = await lab.container({ link: ends[1]!, address: `${bIp}/24`, sysctls });
    if (!offloads) for (const c of [a, b]) await c.exec(['ethtool', '-K', c.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    await a.exec(['ping', '-c', '1', '-W', '2', bIp], { check: true });
    return { a, b, aIp, bIp, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Kernel → kernel goodput, A sends to B. */
async function kernelPairGoodput(p: { a: Container; b: Container; bIp: string }, port: number, seconds: number): Promise<Goodput> {
  const done = await pySink(p.b, p.bIp, port, (seconds + 60) * 1000);
  await pySource(p.a, p.bIp, port, seconds);
  return done();
}

/** wirelab → container and container → wirelab goodput on a site, and the CPU seconds each direction took (bench/lib/cpu.ts). */
async function wirelabGoodput(s: WirelabSite, port: number, seconds: number): Promise<{ toKernel: Goodput; fromKernel: Goodput; cpuToKernel: number; cpuFromKernel: number }> {
  const { result: toKernel, cpuSeconds: cpuToKernel } = await withCpu(async () => {
    const done = await pySink(s.c, s.containerIp, port, (seconds + 60) * 1000);
    const sock = s.stack.tcp.connect({ host: s.containerIp, port });
    await streamFor(sock, seconds);
    return done();
  });
  const { result: fromKernel, cpuSeconds: cpuFromKernel } = await withCpu(async () => {
    const sink = wlSink(s.stack, s.hostIp, port + 1, (seconds + 60) * 1000);
    await pySource(s.c, s.hostIp, port + 1, seconds);
    return sink;
  });
  return { toKernel, fromKernel, cpuToKernel, cpuFromKernel };
}

// ---------------------------------------------------------------------------
// (a) bulk over a TAP

/**
 * True once the host stack takes and sends GSO frames on a vnet_hdr port:
 * src/ip takes the kernel's TSO super-frames whole (NEEDS_CSUM trusted) and
 * src/tcp sends up to 64 KB per segment with a GSO_TCPV4 header, so the
 * vnet_hdr rows run too.
 */
function stackDoesGso(): boolean {
  return true;
}

export async function benchBulk(rows: BenchRow[], seconds: number): Promise<void> {
  const modes: Array<{ vnet: boolean }> = [{ vnet: false }];
  if (stackDoesGso()) modes.push({ vnet: true });
  else process.stdout.write('(a) vnet_hdr on: skipped, the host stack handles no vnet_hdr (GSO) frames yet (offloads-off rows only)\n');
  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-tcp-'));
  try {
    const tapfwd = compileTapfwd(dir);
    for (const { vnet } of modes) await bulkMode(rows, seconds, vnet, tapfwd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Addresses of the C forwarder pair: only inside the namespaces it creates. */
const FWD_ADDRESSES = { aIp: '10.242.0.1', bIp: '10.242.0.2', aMac: '02:00:00:f2:00:01', bMac: '02:00:00:f2:00:02' };

/**
 * The ceiling of any user-space path (issue 14 item 2's reference): kernel ↔
 * kernel through bench/c/tapfwd.c, the same python source and sink as the
 * wirelab rows, vnet_hdr as the row.
 */
async function cForwarderGoodput(tapfwd: string, vnet: boolean, seconds: number): Promise<Goodput> {
  return cForwarderPath(tapfwd, vnet, FWD_ADDRESSES)(async (p) => {
    if (!vnet) for (const c of [p.a, p.b]) await c.exec(['ethtool', '-K', c.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    return kernelPairGoodput({ a: p.a, b: p.b, bIp: p.addresses.bIp }, 5203, seconds);
  });
}

async function bulkMode(rows: BenchRow[], seconds: number, vnet: boolean, tapfwd: string): Promise<void> {
  const bridgeName = `kernel↔kernel via Linux bridge (offloads ${vnet ? 'on' : 'off'})`;
  const br = await bridgedPair(240, vnet);
  let ref: Goodput;
  let refCpu: number;
  try {
    ({ result: ref, cpuSeconds: refCpu } = await withCpu(() => kernelPairGoodput(br, 5201, seconds)));
  } finally {
    await br.close();
  }
  const fwdName = `kernel↔kernel via C TAP forwarder (vnet_hdr ${vnet ? 'on' : 'off'})`;
  const fwd = await cForwarderGoodput(tapfwd, vnet, seconds);
  const refName = fwdName;
  const s = await wirelabSite(241, { vnetHdr: vnet });
  let w: Awaited<ReturnType<typeof wirelabGoodput>>;
  try {
    w = await wirelabGoodput(s, 5202, seconds);
  } finally {
    await s.close();
  }
  const r = mbps(fwd);
  const mode = vnet ? 'vnet_hdr on' : 'vnet_hdr off';
  const target = vnet ? 1.0 : 0.7;
  rows.push({ path: bridgeName, metric: 'Mbit/s', value: mbps(ref), reference: refName, ratio: mbps(ref) / r });
  rows.push({ path: refName, metric: 'Mbit/s', value: r, reference: refName, ratio: 1 });
  rows.push({ path: `(a) wirelab → kernel over TAP (${mode}) (target ≥ ${target.toFixed(1)})`, metric: 'Mbit/s', value: mbps(w.toKernel), reference: refName, ratio: mbps(w.toKernel) / r });
  rows.push({ path: `(a) kernel → wirelab over TAP (${mode}) (target ≥ ${target.toFixed(1)})`, metric: 'Mbit/s', value: mbps(w.fromKernel), reference: refName, ratio: mbps(w.fromKernel) / r });
  process.stdout.write(`(a) ${mode}: Linux bridge ${mbps(ref).toFixed(0)}, C forwarder ${r.toFixed(0)}, wirelab→kernel ${mbps(w.toKernel).toFixed(0)}, kernel→wirelab ${mbps(w.fromKernel).toFixed(0)} Mbit/s\n`);
  // CPU seconds per GB received, each bulk path (metric 'CPU s/GB': bench/throughput keeps only the Mbit/s rows).
  const perGb = (cpu: number, g: Goodput) => (g.bytes > 0 ? cpu / (g.bytes / 1e9) : NaN);
  const cpuRef = `${bridgeName}, ${CPU_COUNTED}`;
  const kCpu = perGb(refCpu, ref);
  const toCpu = perGb(w.cpuToKernel, w.toKernel);
  const fromCpu = perGb(w.cpuFromKernel, w.fromKernel);
  rows.push({ path: cpuRef, metric: 'CPU s/GB', value: kCpu, reference: cpuRef, ratio: 1 });
  rows.push({ path: `(a) wirelab → kernel over TAP (${mode}), ${CPU_COUNTED}`, metric: 'CPU s/GB', value: toCpu, reference: cpuRef, ratio: toCpu / kCpu });
  rows.push({ path: `(a) kernel → wirelab over TAP (${mode}), ${CPU_COUNTED}`, metric: 'CPU s/GB', value: fromCpu, reference: cpuRef, ratio: fromCpu / kCpu });
  process.stdout.write(`(a) ${mode}: CPU s/GB: bridge ${kCpu.toFixed(2)}, wirelab→kernel ${toCpu.toFixed(2)}, kernel→wirelab ${fromCpu.toFixed(2)}\n`);
}

// ---------------------------------------------------------------------------
// (b) 100 Mbit/s, 20 ms RTT, 1% loss

const LOSSY_PATH: ImpairmentOptions = { rateBitsPerSec: 100e6, delayMs: 10, loss: 0.01, queueLimitFrames: 1000 };

async function benchLossy(rows: BenchRow[], seconds: number): Promise<void> {
  const refName = '(b) Linux CUBIC, 100 Mbit/s 20 ms 1% loss (wirelab forwarder)';
  const pair = await forwardedPair(242, LOSSY_PATH);
  let ref: Goodput;
  try {
    ref = await kernelPairGoodput(pair, 5301, seconds);
  } finally {
    await pair.close();
  }
  const s = await wirelabSite(243, { impairment: LOSSY_PATH });
  let w: { toKernel: Goodput; fromKernel: Goodput };
  try {
    w = await wirelabGoodput(s, 5302, seconds);
  } finally {
    await s.close();
  }
  const r = mbps(ref);
  rows.push({ path: refName, metric: 'Mbit/s', value: r, reference: refName, ratio: 1 });
  rows.push({ path: '(b) wirelab CUBIC → kernel, same path (target ≥ 0.9)', metric: 'Mbit/s', value: mbps(w.toKernel), reference: refName, ratio: mbps(w.toKernel) / r });
  rows.push({ path: '(b) Linux CUBIC → wirelab receiver, same path', metric: 'Mbit/s', value: mbps(w.fromKernel), reference: refName, ratio: mbps(w.fromKernel) / r });
  process.stdout.write(`(b) kernel ${r.toFixed(1)}, wirelab→kernel ${mbps(w.toKernel).toFixed(1)}, kernel→wirelab ${mbps(w.fromKernel).toFixed(1)} Mbit/s\n`);
}

// ---------------------------------------------------------------------------
// (c) in memory

/**
 * wirelab → wirelab over a pipe through the socket API. On the virtual clock
 * the loop below runs the clock and yields to Node's event loop in turn, so
 * the figure is what the stack's own work allows (no timer granularity); on
 * the real clock every pipe hop and socket callback is a Node timer (≥ 1 ms).
 */
async function wirelabInMemory(seconds: number, kind: 'virtual' | 'real', offload: boolean): Promise<Goodput> {
  const c: Clock = kind === 'virtual' ? new VirtualClock() : clock;
  const [pa, pb] = createPipe(c, { offload });
  const a = createStack({ clock: c, name: `mem-a-${kind}` });
  const b = createStack({ clock: c, name: `mem-b-${kind}` });
  a.addInterface(pa, { addresses: ['10.244.0.1/24'] });
  b.addInterface(pb, { addresses: ['10.244.0.2/24'] });
  let running = true;
  const driver =
    c instanceof VirtualClock
      ? (async () => {
          while (running) {
            c.advance(1);
            await new Promise((r) => setImmediate(r));
          }
        })()
      : Promise.resolve();
  try {
    const sink = wlSink(b, '10.244.0.2', 5401, (seconds + 60) * 1000);
    const sock = a.tcp.connect({ host: '10.244.0.2', port: 5401 });
    await streamFor(sock, seconds);
    return await sink;
  } finally {
    running = false;
    await driver;
    a.close();
    b.close();
  }
}

async function benchMemory(rows: BenchRow[], seconds: number): Promise<void> {
  // Node net over loopback.
  const ref = await new Promise<Goodput>((resolve, reject) => {
    const server = net.createServer((sock) => {
      server.close();
      countUntilEnd(sock, (seconds + 60) * 1000).then(resolve, reject);
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const c = net.connect({ host: '127.0.0.1', port }, () => void streamFor(c, seconds).catch(reject));
      c.on('error', reject);
    });
  });
  // A pipe with veth's offloads (super-frames, partial checksums) and a plain one (MSS-sized frames, every checksum computed).
  const virt = await wirelabInMemory(seconds, 'virtual', true);
  const real = await wirelabInMemory(seconds, 'real', true);
  const plain = await wirelabInMemory(seconds, 'virtual', false);
  const MB = (g: Goodput) => g.bytes / g.seconds / 1e6;
  const refName = '(c) Node net over 127.0.0.1';
  rows.push({ path: refName, metric: 'MB/s', value: MB(ref), reference: refName, ratio: 1 });
  rows.push({ path: '(c) wirelab ↔ wirelab in memory, offload pipe, virtual clock (target ≥ 1.0)', metric: 'MB/s', value: MB(virt), reference: refName, ratio: MB(virt) / MB(ref) });
  rows.push({ path: '(c) wirelab ↔ wirelab in memory, offload pipe, real clock', metric: 'MB/s', value: MB(real), reference: refName, ratio: MB(real) / MB(ref) });
  rows.push({ path: '(c) wirelab ↔ wirelab in memory, plain pipe (1500-byte frames), virtual clock', metric: 'MB/s', value: MB(plain), reference: refName, ratio: MB(plain) / MB(ref) });
  process.stdout.write(
    `(c) Node net ${MB(ref).toFixed(0)} MB/s; wirelab in memory, offload pipe ${MB(virt).toFixed(0)} MB/s (virtual clock), ${MB(real).toFixed(0)} MB/s (real clock); plain pipe ${MB(plain).toFixed(0)} MB/s\n`,
  );
}

// ---------------------------------------------------------------------------
// (d) scale

function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    for (let i = 0; i < 4; i++) gc();
  };
}

/** Listening ports a run of n connections needs: one client address has ~28,000 ephemeral ports per server port. */
const portsFor = (n: number): number => Math.ceil(n / 25_000);

async function scaleOnce(n: number, gc: () => void): Promise<{ opensPerSec: number; heapPerEndpoint: number }> {
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: `scale-a-${n}` });
  const b = createStack({ clock, name: `scale-b-${n}` });
  a.addInterface(pa, { addresses: ['10.245.0.1/24'] });
  b.addInterface(pb, { addresses: ['10.245.0.2/24'] });
  const idle = { data: () => undefined, peerFin: () => undefined, writable: () => undefined, closed: () => undefined };
  const kept: unknown[] = [];
  try {
    // ARP once before measuring.
    await new Promise<void>((resolve, reject) => {
      const l = b.tcpLayer.listen({ port: 9, backlog: 16 }, (c) => {
        c.handler = idle;
        c.abort();
        l.close();
        resolve();
      });
      a.tcpLayer.connect({ remoteAddress: parseIPv4('10.245.0.2'), remotePort: 9 }, { ...idle, closed: (e) => (e && e.code !== 'ECONNRESET' ? reject(e) : undefined) });
    });
    await sleep(50);
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    let accepted = 0;
    let established = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`scale ${n}: ${established} established, ${accepted} accepted after 120 s`)), 120_000);
      const check = () => {
        if (accepted === n && established === n) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (let p = 0; p < portsFor(n); p++) {
        b.tcpLayer.listen({ port: 80 + p, backlog: n }, (c) => {
          c.handler = idle;
          kept.push(c);
          accepted++;
          check();
        });
      }
      for (let i = 0; i < n; i++) {
        kept.push(
          a.tcpLayer.connect(
            { remoteAddress: parseIPv4('10.245.0.2'), remotePort: 80 + (i % portsFor(n)) },
            {
              ...idle,
              established: () => {
                established++;
                check();
              },
              closed: (e) => {
                if (e) {
                  clearTimeout(timer);
                  reject(e);
                }
              },
            },
          ),
        );
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    await sleep(300); // delayed ACKs and handshake leftovers settle: the connections are idle
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    return { opensPerSec: n / seconds, heapPerEndpoint: (heap1 - heap0) / (2 * n) };
  } finally {
    a.close();
    b.close();
    kept.length = 0;
  }
}

/**
 * Node `net` over 127.0.0.1: n connections opened at once (the reference for
 * opens/s). Bounded by the file-descriptor limit (two per connection).
 */
async function nodeNetOpens(n: number): Promise<number> {
  const server = net.createServer((s) => void s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 511, r));
  const { port } = server.address() as net.AddressInfo;
  const socks: net.Socket[] = [];
  const t0 = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let connected = 0;
      const timer = setTimeout(() => reject(new Error(`node net: ${connected}/${n} connected after 120 s`)), 120_000);
      for (let i = 0; i < n; i++) {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          if (++connected === n) {
            clearTimeout(timer);
            resolve();
          }
        });
        s.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        socks.push(s);
      }
    });
    return n / ((performance.now() - t0) / 1000);
  } finally {
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/**
 * n one-shot connections in memory (open, a 100-byte request, a 100-byte
 * answer and FIN from the server, the client's FIN), 200 at a time: the
 * server closes first, so TIME-WAIT records pile up on its side, as on a
 * busy HTTP server. Returns the rate, the idle heap before, the heap with
 * the TIME-WAIT records held, and the heap once they have expired.
 */
async function churn(n: number, gc: () => void): Promise<{ perSec: number; heapIdle: number; heapAfter: number; heapExpired: number; timeWait: number }> {
  const vclock = new VirtualClock();
  const [pa, pb] = createPipe(vclock, { offload: true });
  const a = createStack({ clock: vclock, name: 'churn-a' });
  const b = createStack({ clock: vclock, name: 'churn-b' });
  a.addInterface(pa, { addresses: ['10.246.0.1/24'] });
  b.addInterface(pb, { addresses: ['10.246.0.2/24'] });
  const request = new Uint8Array(100).fill(0x71);
  const answer = new Uint8Array(100).fill(0x61);
  const ports = portsFor(n);
  for (let p = 0; p < ports; p++) {
    b.tcpLayer.listen({ port: 80 + p, backlog: 1024 }, (c) => {
      c.handler = {
        data: () => {
          c.write(answer);
          c.shutdown();
        },
        peerFin: () => undefined,
        writable: () => undefined,
        closed: () => undefined,
      };
    });
  }
  vclock.advance(1);
  gc();
  const heapIdle = process.memoryUsage().heapUsed;
  let started = 0;
  let done = 0;
  const open = (): void => {
    const i = started++;
    const c = a.tcpLayer.connect(
      { remoteAddress: parseIPv4('10.246.0.2'), remotePort: 80 + (i % ports) },
      {
        established: () => void c.write(request),
        data: () => undefined,
        peerFin: () => c.close(),
        writable: () => undefined,
        closed: () => {
          done++;
          if (started < n) open();
        },
      },
    );
  };
  const t0 = performance.now();
  for (let i = 0; i < Math.min(200, n); i++) open();
  while (done < n) {
    vclock.advance(1);
    if (performance.now() - t0 > 300_000) throw new Error(`churn: ${done}/${n} after 300 s`);
  }
  const perSec = n / ((performance.now() - t0) / 1000);
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const tw = (s: typeof a): number => s.tcpLayer.tables().find((t) => t.table === 'tcp.timeWait')!.size;
  const timeWait = tw(a) + tw(b);
  vclock.advance(61_000); // 2·MSL: every record expires
  gc();
  const heapExpired = process.memoryUsage().heapUsed;
  a.close();
  b.close();
  return { perSec, heapIdle, heapAfter, heapExpired, timeWait };
}

async function benchScale(rows: BenchRow[], most: number): Promise<void> {
  const gc = gcFunction();
  const nodeN = Math.min(8000, most); // two descriptors a connection under a 20,000 ulimit
  const nodeRate = await nodeNetOpens(nodeN);
  const mid = Math.max(1000, Math.min(10_000, Math.round(most / 10)));
  const small = await scaleOnce(1000, gc);
  const large = await scaleOnce(mid, gc);
  const huge = await scaleOnce(most, gc);
  const one = await churn(most, gc);
  const n = (x: number): string => x.toLocaleString('en');
  const ref = `(d) Node net, ${n(nodeN)} connections over 127.0.0.1: opened/s`;
  const r2 = '(d) 1,000 connections: heap B per idle endpoint';
  rows.push({ path: ref, metric: 'conn/s', value: nodeRate, reference: ref, ratio: 1 });
  rows.push({ path: '(d) 1,000 connections: opened/s', metric: 'conn/s', value: small.opensPerSec, reference: ref, ratio: small.opensPerSec / nodeRate });
  rows.push({ path: `(d) ${n(mid)} connections: opened/s`, metric: 'conn/s', value: large.opensPerSec, reference: ref, ratio: large.opensPerSec / nodeRate });
  rows.push({ path: `(d) ${n(most)} connections: opened/s (target ≥ 1.0)`, metric: 'conn/s', value: huge.opensPerSec, reference: ref, ratio: huge.opensPerSec / nodeRate });
  rows.push({ path: r2, metric: 'bytes', value: small.heapPerEndpoint, reference: r2, ratio: 1 });
  rows.push({ path: `(d) ${n(mid)} connections: heap B per idle endpoint`, metric: 'bytes', value: large.heapPerEndpoint, reference: r2, ratio: large.heapPerEndpoint / small.heapPerEndpoint });
  rows.push({ path: `(d) ${n(most)} connections: heap B per idle endpoint (target ≤ 4096, flat)`, metric: 'bytes', value: huge.heapPerEndpoint, reference: r2, ratio: huge.heapPerEndpoint / small.heapPerEndpoint });
  const idleRef = '(d) churn: heap before, idle';
  rows.push({ path: idleRef, metric: 'MB', value: one.heapIdle / 1e6, reference: idleRef, ratio: 1 });
  rows.push({ path: `(d) churn: heap after ${n(most)} one-shot connections, ${n(one.timeWait)} in TIME-WAIT (target ≤ 2×)`, metric: 'MB', value: one.heapAfter / 1e6, reference: idleRef, ratio: one.heapAfter / one.heapIdle });
  rows.push({ path: '(d) churn: heap once every TIME-WAIT record expired (no leak: ≈ 1×)', metric: 'MB', value: one.heapExpired / 1e6, reference: idleRef, ratio: one.heapExpired / one.heapIdle });
  rows.push({ path: '(d) churn: one-shot connections/s (open, request, answer, close)', metric: 'conn/s', value: one.perSec, reference: ref, ratio: one.perSec / nodeRate });
  process.stdout.write(
    `(d) Node net ${nodeRate.toFixed(0)} conn/s; wirelab 1k: ${small.opensPerSec.toFixed(0)} conn/s, ${small.heapPerEndpoint.toFixed(0)} B/endpoint; ` +
      `${n(mid)}: ${large.opensPerSec.toFixed(0)} conn/s, ${large.heapPerEndpoint.toFixed(0)} B/endpoint; ` +
      `${n(most)}: ${huge.opensPerSec.toFixed(0)} conn/s, ${huge.heapPerEndpoint.toFixed(0)} B/endpoint; ` +
      `churn ${n(most)}: ${one.perSec.toFixed(0)}/s, heap ${(one.heapIdle / 1e6).toFixed(1)} → ${(one.heapAfter / 1e6).toFixed(1)} MB with ${one.timeWait} in TIME-WAIT → ${(one.heapExpired / 1e6).toFixed(1)} MB after\n`,
  );
}

// ---------------------------------------------------------------------------

export const FLAGS = {
  seconds: { type: 'number', default: 10, min: 1, max: 60, help: 'length of each timed transfer' },
  only: { type: 'list', meta: 'a,b,c,d,e', choices: ['a', 'b', 'c', 'd', 'e'], help: 'run only these parts (default all)' },
  connections: { type: 'number', default: 100_000, min: 1000, max: 200_000, help: '(d): the largest connection count and the churn length' },
} as const;

/** What each part runs in its containers; (c) and (d) are in memory. */
export function tools(only: ReadonlySet<string>): string[] {
  return [
    ...(only.has('a') ? ['ip', 'ping', 'ethtool', 'python3'] : []),
    ...(only.has('b') ? ['ip', 'ping', 'python3'] : []),
    ...(only.has('e') ? ['ip', 'ping', 'cc'] : []),
  ];
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('tcp', args, FLAGS);
  const seconds = opts.flags.seconds;
  const only = new Set(opts.flags.only ?? ['a', 'b', 'c', 'd', 'e']);
  requireTools('tcp', tools(only));
  const rows: BenchRow[] = [];
  try {
    if (only.has('a')) await benchBulk(rows, seconds);
    if (only.has('b')) await benchLossy(rows, seconds);
    if (only.has('c')) await benchMemory(rows, seconds);
    if (only.has('d')) await benchScale(rows, opts.flags.connections);
    if (only.has('e')) await benchRoundTrips(rows, seconds, (subnet, o) => wirelabSite(subnet, o));
  } finally {
    clock.close();
  }
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'tcp', rows }, opts), opts));
  // Sockets and taps are closed; anything left (a Node timer of a closed stack) must not hold the process.
  setTimeout(() => process.exit(0), 500).unref();
}
