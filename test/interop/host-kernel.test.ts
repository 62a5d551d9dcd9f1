/**
 * wirelab hosts and routers with the Linux kernel as the peer. A container's
 * eth0 is a TAP that wirelab holds; the wirelab host's interface is that
 * TAP's other end, so the kernel and wirelab are two hosts on one cable.
 *
 * - the container pings the wirelab host and the host pings the container,
 *   at 56 and 4000 bytes (fragmentation and reassembly both ways);
 * - `nc -u` in the container talks to a wirelab UDP echo service;
 * - two containers on different subnets reach each other through a wirelab
 *   router with two interfaces; `ping -t 1` and `tracepath` show the router's
 *   ICMP time exceeded;
 * - UDP to a closed wirelab port gets ICMP port unreachable, which the
 *   kernel reports to the sender as "connection refused".
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { RealClock } from '../../src/time/index.js';
import { createStack, type Stack } from '../../src/stack.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['ip', 'ping', 'nc', 'python3', 'tracepath']);
const clock = new RealClock();
const lab = new Lab();
const ports: TapPort[] = [];
const stacks: Stack[] = [];

beforeAll(() => cap.assert());
afterAll(async () => {
  await lab.close().catch(() => undefined);
  for (const s of stacks) s.close();
  for (const p of ports) await p.close().catch(() => undefined);
  clock.close();
});

const uid = () => randomBytes(3).toString('hex');
function tap(): TapPort {
  const p = openTap(`wlh${uid()}`);
  ports.push(p);
  return p;
}

/** A container whose eth0 is a TAP; returns the wirelab side of that cable. */
async function containerOnTap(address: string, gateway?: string): Promise<{ c: Container; port: TapPort }> {
  const port = tap();
  const c = await lab.container({ link: port.ifname, address, ...(gateway ? { gateway } : {}) });
  return { c, port };
}

const UDP_PY = (ip: string, port: number) =>
  `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\ns.connect(('${ip}',${port}))\ns.send(b'x')\ntry:\n  s.recv(100)\n  print('answered')\nexcept ConnectionRefusedError:\n  print('refused')\nexcept socket.timeout:\n  print('timeout')\n`;

describe('a wirelab host, the kernel in a container as its peer', () => {
  let host: Stack;
  let c: Container;

  beforeAll(async () => {
    const side = await containerOnTap('10.220.0.1/24');
    c = side.c;
    host = createStack({ clock, name: 'wl-host' });
    stacks.push(host);
    host.addInterface(side.port, { addresses: ['10.220.0.2/24'], mac: '02:00:00:dc:00:02' });
    // A UDP echo service on port 7, the way inetd's echo answers.
    const echo = host.udp.createSocket();
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    echo.bind(7);
  });

  it('the container pings the host: 56 and 4000 bytes (the host reassembles and fragments its replies)', async () => {
    const small = await c.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.220.0.2']);
    expect(small.stdout).toContain('2 packets transmitted, 2 received');
    expect(small.stdout).toMatch(/64 bytes from 10\.220\.0\.2: icmp_seq=1 ttl=64/);
    const big = await c.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '-s', '4000', '10.220.0.2']);
    expect(big.stdout).toContain('2 packets transmitted, 2 received');
    expect(big.stdout).toMatch(/4008 bytes from 10\.220\.0\.2/);
    expect(host.ip.stats.reassembled).toBeGreaterThanOrEqual(2);
    expect(host.ip.stats.fragCreates).toBeGreaterThanOrEqual(6);
  });

  it('ping -R: the reply carries the Record Route option back with the host address added, as between two kernels', async () => {
    const r = await c.exec(['ping', '-R', '-c', '1', '-W', '2', '10.220.0.2']);
    expect(r.stdout).toContain('1 packets transmitted, 1 received');
    // Linux between two kernels: the sender records itself leaving, the receiver itself arriving and its reply leaving, the sender itself arriving.
    expect(r.stdout).toMatch(/RR:\s+10\.220\.0\.1\s+10\.220\.0\.2\s+10\.220\.0\.2\s+10\.220\.0\.1\s/);
    const ts = await c.exec(['ping', '-T', 'tsandaddr', '-c', '1', '-W', '2', '10.220.0.2']);
    expect(ts.stdout).toContain('1 packets transmitted, 1 received');
    expect(ts.stdout).toMatch(/TS:\s+10\.220\.0\.1\s+\d+ absolute\s+10\.220\.0\.2\s+-?\d+\s+10\.220\.0\.2\s+-?\d+\s+10\.220\.0\.1\s+-?\d+\s/);
  });

  it('the host pings the container: 56 and 4000 bytes (the kernel reassembles and fragments)', async () => {
    const r = await host.icmp.ping('10.220.0.1', { timeoutMs: 2000 });
    expect(r.from).toBe('10.220.0.1');
    expect(r.bytes).toBe(64);
    expect(r.ttl).toBe(64);
    const big = await host.icmp.ping('10.220.0.1', { size: 4000, timeoutMs: 2000 });
    expect(big.bytes).toBe(4008);
    // The container's neighbour table learned the host, and the host the container.
    expect(host.neighbours.format()).toMatch(/10\.220\.0\.1 dev eth0 lladdr [0-9a-f:]+ (REACHABLE|STALE|DELAY)/);
  });

  it('nc -u in the container talks to the wirelab UDP echo', async () => {
    const r = await c.exec(['sh', '-c', 'printf "hello wirelab\\n" | nc -u -w 1 10.220.0.2 7'], { timeoutMs: 10_000 });
    expect(r.stdout).toBe('hello wirelab\n');
  });

  it('UDP to a closed wirelab port: ICMP port unreachable, which the kernel reports as connection refused', async () => {
    const before = host.icmp.stats.outErrors;
    const r = await c.exec(['python3', '-c', UDP_PY('10.220.0.2', 9999)], { timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe('refused');
    expect(host.icmp.stats.outErrors).toBe(before + 1);
  });
});

describe('a wirelab router between two containers on different subnets', () => {
  let a: Container;
  let b: Container;
  let router: Stack;

  beforeAll(async () => {
    const left = await containerOnTap('10.221.1.2/24', '10.221.1.1');
    const right = await containerOnTap('10.221.2.2/24', '10.221.2.1');
    a = left.c;
    b = right.c;
    router = createStack({ clock, name: 'wl-router', forwarding: true });
    stacks.push(router);
    router.addInterface(left.port, { name: 'eth0', addresses: ['10.221.1.1/24'] });
    router.addInterface(right.port, { name: 'eth1', addresses: ['10.221.2.1/24'] });
  });

  it('A and B ping each other through the router (TTL 63 on arrival)', async () => {
    const ab = await a.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '10.221.2.2']);
    expect(ab.stdout).toContain('2 packets transmitted, 2 received');
    expect(ab.stdout).toMatch(/from 10\.221\.2\.2: icmp_seq=1 ttl=63/);
    const ba = await b.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', '10.221.1.2']);
    expect(ba.stdout).toContain('2 packets transmitted, 2 received');
    expect(router.ip.stats.forwarded).toBeGreaterThanOrEqual(8);
  });

  it('ping -t 1 gets Time to live exceeded from the router', async () => {
    const r = await a.exec(['ping', '-c', '1', '-t', '1', '-W', '2', '10.221.2.2']);
    expect(r.stdout).toMatch(/From 10\.221\.1\.1 icmp_seq=1 Time to live exceeded/);
  });

  it('tracepath shows the router as the first hop and reaches B', async () => {
    const r = await a.exec(['tracepath', '-n', '-m', '4', '10.221.2.2'], { timeoutMs: 30_000 });
    expect(r.stdout).toMatch(/1:\s+10\.221\.1\.1/);
    expect(r.stdout).toMatch(/10\.221\.2\.2\s/);
    expect(r.stdout).toMatch(/reached/);
  });

  it('a destination with no route gets net unreachable from the router', async () => {
    const r = await a.exec(['ping', '-c', '1', '-W', '2', '10.221.9.9']);
    expect(r.stdout).toMatch(/From 10\.221\.1\.1 icmp_seq=1 Destination Net Unreachable/);
  });
});
