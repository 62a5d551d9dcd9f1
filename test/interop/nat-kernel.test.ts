/**
 * wirelab's NAT against the kernel's netfilter as the reference. The same
 * topology is built twice, with the same addresses (each in its own
 * namespaces, so they never meet):
 *
 *   inside 10.230.1.2 (+ .3) ── router 10.230.1.1 | 10.230.2.1 ── outside 10.230.2.2
 *
 * - kernel: the router is a namespace with `iptables -t nat -A POSTROUTING
 *   -o rup -j MASQUERADE` and a DNAT rule for tcp/8080 -> 10.230.1.2:80;
 * - wirelab: the router is a wirelab Stack (forwarding, masquerade on eth1,
 *   tcp/8080 published to 10.230.1.2:80); its inside interface is a wirelab
 *   bridge with TAPs into the inside containers, its uplink a TAP into the
 *   outside container.
 *
 * The outside namespace has no route back to 10.230.1.0/24, so nothing
 * works there without the NAT. Compared: what the outside TCP and UDP
 * servers (python3) see as the peer, `conntrack -L` in the kernel router vs
 * wirelab's table for the same flows, and an ICMP port unreachable reaching
 * the inside socket (its quoted header translated, or the kernel could not
 * match it to the socket). Then DNAT (the inside server sees the outside
 * client's own address) and hairpin (wirelab: a container reaches its
 * sibling through the published address).
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runChecked } from '../../src/lab/command.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import type { ContainerProcess } from '../../src/lab/process.js';
import { createPipe } from '../../src/link/pipe.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/index.js';
import { RealClock } from '../../src/time/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blob, PY_SINK, PY_SOURCE } from '../helpers/bulk.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['ip', 'iptables', 'conntrack', 'python3']);
const id = randomBytes(2).toString('hex');
const clock = new RealClock();
const lab = new Lab();
const taps: TapPort[] = [];
const kernelNs: string[] = [];
const procs: ContainerProcess[] = [];
let router: Stack | undefined;
let gsoRouter: Stack | undefined;
const dir = mkdtempSync(join(tmpdir(), 'wl-natk-'));
let bridge: Bridge | undefined;

const OUT = '10.230.2.2';
const UPLINK = '10.230.2.1';

/** A place to run commands: a wirelab-side Container, or a kernel-side namespace. */
interface Node {
  exec(argv: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string; code: number | null }>;
  spawn(argv: string[]): ContainerProcess | KernelProc;
}

class KernelProc {
  out = '';
  readonly exited: Promise<unknown>;
  private readonly child: ChildProcess;
  constructor(ns: string, argv: string[]) {
    this.child = spawnChild('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => (this.out += b.toString()));
    this.child.stderr?.on('data', (b: Buffer) => (this.out += b.toString()));
    this.exited = new Promise((r) => this.child.on('close', r));
  }
  get stdoutText(): string {
    return this.out;
  }
  async waitFor(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pattern.test(this.out)) {
      if (Date.now() > end) throw new Error(`kernel-side process did not print ${pattern}; output: ${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

function kernelNode(ns: string): Node {
  return {
    exec: (argv, timeoutMs = 10_000) => run(['ip', 'netns', 'exec', ns, ...argv], { timeoutMs }),
    spawn: (argv) => new KernelProc(ns, argv),
  };
}

function containerNode(c: Container): Node {
  return {
    exec: (argv, timeoutMs = 10_000) => c.exec(argv, { timeoutMs }),
    spawn: (argv) => {
      const p = c.spawn(argv);
      procs.push(p);
      return p;
    },
  };
}

const kernelProcs: KernelProc[] = [];

// A TCP server (port 80) and a UDP echo (port 53) that print each peer.
const SERVERS_PY = `
import socket, threading
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', 53))
    while True:
        d, a = u.recvfrom(2000)
        print('udp %s %d' % a, flush=True)
        u.sendto(d, a)
def hold(c):
    try:
        while c.recv(100): pass
    finally:
        c.close()
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 80))
s.listen(16)
print('ready', flush=True)
while True:
    c, a = s.accept()
    print('tcp %s %d' % a, flush=True)
    c.sendall(c.recv(100))
    threading.Thread(target=hold, args=(c,), daemon=True).start()
`;

// Connects TCP from port 40000 and UDP from 5353 to the outside, then holds the TCP connection open.
const CLIENT_PY = (to: string, port: number, holdS: number) => `
import socket, time
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', 40000))
t.settimeout(5)
t.connect(('${to}', ${port}))
t.sendall(b'hi')
print('tcp', t.recv(10).decode(), flush=True)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('0.0.0.0', 5353))
u.settimeout(5)
u.sendto(b'q', ('${to}', 53))
print('udp', u.recvfrom(10)[0].decode(), flush=True)
time.sleep(${holdS})
t.close()
`;

const UDP_REFUSED_PY = (to: string, port: number) =>
  `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',6000))\ns.settimeout(3)\ns.connect(('${to}',${port}))\ns.send(b'x')\ntry:\n  s.recv(100)\n  print('answered')\nexcept ConnectionRefusedError:\n  print('refused')\nexcept socket.timeout:\n  print('timeout')\n`;

const TCP_CLIENT_PY = (to: string, port: number) =>
  `import socket\nt=socket.socket()\nt.settimeout(5)\nt.connect(('${to}',${port}))\nt.sendall(b'hello')\nprint('got', t.recv(10).decode(), 'from port', t.getsockname()[1], flush=True)\nt.close()\n`;

let kIn: Node;
let kOut: Node;
let kRt: Node;
let wIn: Node;
let wIn2: Node;
let wOut: Node;

async function ns(name: string): Promise<string> {
  await runChecked(['ip', 'netns', 'add', name]);
  kernelNs.push(name);
  await runChecked(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

async function buildKernel(): Promise<void> {
  const rt = await ns(`wlnat${id}krt`);
  const inside = await ns(`wlnat${id}kin`);
  const outside = await ns(`wlnat${id}kout`);
  const ipr = (...a: string[]) => runChecked(['ip', '-n', rt, ...a]);
  // veth pairs made inside the router namespace, peers moved straight into the others: nothing in the root namespace.
  await ipr('link', 'add', 'rin', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', inside);
  await ipr('link', 'add', 'rup', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside);
  await ipr('addr', 'add', '10.230.1.1/24', 'dev', 'rin');
  await ipr('addr', 'add', `${UPLINK}/24`, 'dev', 'rup');
  await ipr('link', 'set', 'rin', 'up');
  await ipr('link', 'set', 'rup', 'up');
  await runChecked(['ip', '-n', inside, 'addr', 'add', '10.230.1.2/24', 'dev', 'eth0']);
  await runChecked(['ip', '-n', inside, 'link', 'set', 'eth0', 'up']);
  await runChecked(['ip', '-n', inside, 'route', 'add', 'default', 'via', '10.230.1.1']);
  await runChecked(['ip', '-n', outside, 'addr', 'add', `${OUT}/24`, 'dev', 'eth0']);
  await runChecked(['ip', '-n', outside, 'link', 'set', 'eth0', 'up']);
  const inRt = (...a: string[]) => runChecked(['ip', 'netns', 'exec', rt, ...a]);
  await inRt('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  await inRt('iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'rup', '-j', 'MASQUERADE');
  await inRt('iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', 'rup', '-p', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '10.230.1.2:80');
  kRt = kernelNode(rt);
  kIn = kernelNode(inside);
  kOut = kernelNode(outside);
}

async function buildWirelab(): Promise<void> {
  const tap = (n: string) => {
    const t = openTap(`wn${id}${n}`);
    taps.push(t);
    return t;
  };
  const tIn = tap('i');
  const tIn2 = tap('j');
  const tOut = tap('o');
  const cIn = await lab.container({ name: `wlnat${id}win`, link: tIn.ifname, address: '10.230.1.2/24', gateway: '10.230.1.1' });
  const cIn2 = await lab.container({ name: `wlnat${id}win2`, link: tIn2.ifname, address: '10.230.1.3/24', gateway: '10.230.1.1' });
  const cOut = await lab.container({ name: `wlnat${id}wout`, link: tOut.ifname, address: `${OUT}/24` });
  bridge = new Bridge({ clock, name: `br-nat-${id}` });
  bridge.addPort(tIn);
  bridge.addPort(tIn2);
  const [routerEnd, bridgeEnd] = createPipe(clock);
  bridge.addPort(bridgeEnd);
  router = createStack({ clock, name: 'wl-nat-router', forwarding: true });
  router.addInterface(routerEnd, { name: 'eth0', addresses: ['10.230.1.1/24'] });
  router.addInterface(tOut, { name: 'eth1', addresses: [`${UPLINK}/24`] });
  router.nat.masquerade('eth1');
  router.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '10.230.1.2', toPort: 80, uplink: 'eth1', owner: 'web' });
  wIn = containerNode(cIn);
  wIn2 = containerNode(cIn2);
  wOut = containerNode(cOut);
}

beforeAll(async () => {
  cap.assert();
  await buildKernel();
  await buildWirelab();
}, 60_000);

afterAll(async () => {
  for (const p of kernelProcs) await p.kill().catch(() => undefined);
  for (const p of procs) await p.kill('SIGKILL').catch(() => undefined);
  await lab.close().catch(() => undefined);
  for (const n of kernelNs) await run(['ip', 'netns', 'del', n], { timeoutMs: 10_000 }).catch(() => undefined);
  router?.close();
  bridge?.close();
  gsoRouter?.close();
  for (const t of taps) await t.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  clock.close();
}, 60_000);

function spawnOn(node: Node, argv: string[]): ContainerProcess | KernelProc {
  const p = node.spawn(argv);
  if (p instanceof KernelProc) kernelProcs.push(p);
  return p;
}

/** conntrack -L lines without the timeout column (it ticks), sorted. */
function normalize(text: string, protocols: string[]): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => protocols.some((p) => l.startsWith(`${p} `)))
    .map((l) => l.replace(/^(\w+ \d+) \d+ /, '$1 '))
    .sort();
}

describe.skipIf(cap.skip)('NAT: wirelab router vs the kernel (iptables MASQUERADE / DNAT)', () => {
  it('masquerade: the outside TCP and UDP servers see the same peer through both; conntrack -L tables agree', async () => {
    const kSrv = spawnOn(kOut, ['python3', '-c', SERVERS_PY]);
    const wSrv = spawnOn(wOut, ['python3', '-c', SERVERS_PY]);
    await kSrv.waitFor(/ready/);
    await wSrv.waitFor(/ready/);
    const kCli = spawnOn(kIn, ['python3', '-c', CLIENT_PY(OUT, 80, 4)]);
    const wCli = spawnOn(wIn, ['python3', '-c', CLIENT_PY(OUT, 80, 4)]);
    await kCli.waitFor(/udp q/, 8000);
    await wCli.waitFor(/udp q/, 8000);
    expect(kSrv.stdoutText).toContain(`tcp ${UPLINK} 40000`);
    expect(kSrv.stdoutText).toContain(`udp ${UPLINK} 5353`);
    // The same peer, address and port, as the kernel's NAT gave.
    expect(wSrv.stdoutText.split('\n').filter((l) => /^(tcp|udp) /.test(l)).sort()).toEqual(
      kSrv.stdoutText.split('\n').filter((l) => /^(tcp|udp) /.test(l)).sort(),
    );
    const kTable = await kRt.exec(['conntrack', '-L']);
    const kLines = normalize(kTable.stdout, ['tcp', 'udp']);
    const wLines = normalize(router!.nat.conntrack.format(), ['tcp', 'udp']);
    expect(kLines.length).toBe(2);
    expect(wLines).toEqual(kLines);
    expect(wLines[0]).toMatch(/^tcp 6 ESTABLISHED src=10\.230\.1\.2 dst=10\.230\.2\.2 sport=40000 dport=80 src=10\.230\.2\.2 dst=10\.230\.2\.1 sport=80 dport=40000 \[ASSURED\] mark=0 use=1$/);
    await kCli.exited;
    await wCli.exited;
  }, 30_000);

  it('UDP to a closed port outside: the ICMP port unreachable comes back through each NAT to the inside socket', async () => {
    const before = router!.nat.stats.icmpErrorsTranslated;
    const k = await kIn.exec(['python3', '-c', UDP_REFUSED_PY(OUT, 9)]);
    const w = await wIn.exec(['python3', '-c', UDP_REFUSED_PY(OUT, 9)]);
    expect(k.stdout.trim()).toBe('refused');
    expect(w.stdout.trim()).toBe('refused');
    expect(router!.nat.stats.icmpErrorsTranslated).toBe(before + 1);
    // Both tables hold the UDP flow as unreplied (an ICMP error is not a reply).
    const kLines = normalize((await kRt.exec(['conntrack', '-L', '-p', 'udp', '--dport', '9'])).stdout, ['udp']);
    const wLines = normalize(router!.nat.conntrack.format(), ['udp']).filter((l) => l.includes('dport=9 '));
    expect(wLines).toEqual(kLines);
    expect(wLines[0]).toContain('[UNREPLIED]');
  }, 30_000);

  it('ping beyond the outside host: its ICMP error (quoting the NATed echo) comes back through each NAT', async () => {
    // The outside host forwards but has no route to 10.232.0.0/24: it answers with net unreachable.
    await kOut.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await wOut.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await kRt.exec(['ip', 'route', 'add', '10.232.0.0/24', 'via', OUT]);
    router!.addRoute('10.232.0.0/24', { via: OUT });
    const before = router!.nat.stats.icmpErrorsTranslated;
    const k = await kIn.exec(['ping', '-c', '1', '-W', '2', '10.232.0.5']);
    const w = await wIn.exec(['ping', '-c', '1', '-W', '2', '10.232.0.5']);
    const line = (out: string) => /^From .*$/m.exec(out)?.[0].replace(/icmp_seq=\d+/, 'icmp_seq=N');
    expect(line(k.stdout)).toBe(`From ${OUT} icmp_seq=N Destination Net Unreachable`);
    expect(line(w.stdout)).toBe(line(k.stdout));
    expect(router!.nat.stats.icmpErrorsTranslated).toBe(before + 1);
    // The echo flow in both tables: unreplied (an error is not a reply), same shape (ping picks its own id).
    const ids = (lines: string[]) => lines.map((l) => l.replace(/id=\d+/g, 'id=N'));
    const kLines = ids(normalize((await kRt.exec(['conntrack', '-L', '-p', 'icmp'])).stdout, ['icmp']));
    const wLines = ids(normalize(router!.nat.conntrack.format(), ['icmp']));
    expect(kLines).toEqual(['icmp 1 src=10.230.1.2 dst=10.232.0.5 type=8 code=0 id=N [UNREPLIED] src=10.232.0.5 dst=10.230.2.1 type=0 code=0 id=N mark=0 use=1']);
    expect(wLines).toEqual(kLines);
  }, 30_000);

  it('DNAT: a client outside reaches the inside server through the published port; the server sees the client itself', async () => {
    const kSrv = spawnOn(kIn, ['python3', '-c', SERVERS_PY]);
    const wSrv = spawnOn(wIn, ['python3', '-c', SERVERS_PY]);
    await kSrv.waitFor(/ready/);
    await wSrv.waitFor(/ready/);
    const k = await kOut.exec(['python3', '-c', TCP_CLIENT_PY(UPLINK, 8080)]);
    const w = await wOut.exec(['python3', '-c', TCP_CLIENT_PY(UPLINK, 8080)]);
    expect(k.stdout).toMatch(/^got hello from port \d+/);
    expect(w.stdout).toMatch(/^got hello from port \d+/);
    const kPort = /from port (\d+)/.exec(k.stdout)![1];
    const wPort = /from port (\d+)/.exec(w.stdout)![1];
    await kSrv.waitFor(new RegExp(`tcp ${OUT} ${kPort}`));
    await wSrv.waitFor(new RegExp(`tcp ${OUT} ${wPort}`));
    // Same conntrack shape for the DNAT'ed flow (ports differ: each client picked its own).
    const shape = (lines: string[]) => lines.map((l) => l.replace(/sport=\d+ dport=(8080|80) /g, 'sport=* dport=$1 ').replace(/sport=80 dport=\d+/, 'sport=80 dport=*').replace(/ (ESTABLISHED|TIME_WAIT|FIN_WAIT|CLOSE_WAIT|LAST_ACK|CLOSE) /, ' STATE '));
    const kLines = shape(normalize((await kRt.exec(['conntrack', '-L', '-p', 'tcp', '--orig-port-dst', '8080'])).stdout, ['tcp']));
    const wLines = shape(normalize(router!.nat.conntrack.format(), ['tcp']).filter((l) => l.includes('dport=8080 ')));
    expect(kLines).toHaveLength(1);
    expect(wLines).toEqual(kLines);
  }, 30_000);

  it('hairpin (wirelab): a container reaches its sibling through the published address; the sibling sees the gateway', async () => {
    const w = await wIn2.exec(['python3', '-c', TCP_CLIENT_PY(UPLINK, 8080)]);
    expect(w.stdout).toMatch(/^got hello from port \d+/);
    const srv = procs.find((p) => /tcp 10\.230\.2\.2/.test(p.stdoutText) && p.argv.includes(SERVERS_PY));
    expect(srv).toBeDefined();
    await srv!.waitFor(/tcp 10\.230\.1\.1 \d+/);
    expect(router!.nat.stats.hairpin).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe.skipIf(cap.skip)('NAT with offloads: TSO super-frames from the kernel translated whole', () => {
  it('16 MiB inside -> outside through the masquerade: TSO super-frames in, translated whole, segmented out, intact', async () => {
    const tIn = openTap(`wn${id}g`, { vnetHdr: true });
    // The uplink TAP takes no offloads: the router segments each translated
    // super-frame in software and completes its checksum, and the outside
    // kernel verifies every segment's checksum (a wrong partial-sum update
    // would stall the transfer).
    const tOut = openTap(`wn${id}h`);
    taps.push(tIn, tOut);
    const cIn = await lab.container({ name: `wlnat${id}gin`, link: tIn.ifname, address: '10.231.1.2/24', gateway: '10.231.1.1' });
    const cOut = await lab.container({ name: `wlnat${id}gout`, link: tOut.ifname, address: '10.231.2.2/24' });
    gsoRouter = createStack({ clock, name: 'wl-nat-gso', forwarding: true });
    gsoRouter.addInterface(tIn, { name: 'eth0', addresses: ['10.231.1.1/24'] });
    gsoRouter.addInterface(tOut, { name: 'eth1', addresses: ['10.231.2.1/24'] });
    gsoRouter.nat.masquerade('eth1');
    const big = blob(dir, 16);
    const sink = cOut.spawn(['python3', '-c', PY_SINK('10.231.2.2', 5201)]);
    procs.push(sink);
    await sink.waitFor(/ready/);
    const r = await cIn.exec(['python3', '-c', PY_SOURCE('10.231.2.2', 5201, big.path)], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    await sink.waitFor(/^\d+ [0-9a-f]{64}$/m, 30_000);
    expect(sink.stdoutText).toContain(`${big.bytes} ${big.sha}`);
    expect(gsoRouter.ip.stats.inGsoFrames).toBeGreaterThan(50);
    expect(gsoRouter.nat.conntrack.format()).toMatch(/src=10\.231\.1\.2 dst=10\.231\.2\.2 sport=\d+ dport=5201 src=10\.231\.2\.2 dst=10\.231\.2\.1/);
    expect(gsoRouter.nat.stats.droppedInvalid).toBe(0);
  }, 90_000);
});
