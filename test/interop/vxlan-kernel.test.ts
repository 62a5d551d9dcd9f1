/**
 * wirelab's VXLAN port against Linux's own vxlan driver (issue 15's
 * acceptance): two "machine" namespaces M1 and M2, each joined to the root
 * namespace by a veth pair of this test's own (underlay 10.213.X.0/30 and
 * .4/30, used by nothing else), each with `ip link add vx0 type vxlan id 42
 * remote <root side> dstport 4789`. In this process: a wirelab bridge
 * network whose bridge has a VxlanPort on a Node dgram socket bound to the
 * root side's address (remotes M1 and M2) and a TAP to a container C.
 *
 * Checked: ping both ways across the overlay; tshark on each machine's
 * underlay decodes VXLAN with VNI 42, and C's broadcast ARP arrives at both
 * remotes (head-end replication); 100 MB over TCP intact both ways between
 * C and M1 (SHA-256 on both sides); the overlay MTU matches the kernel's
 * (1450 on a 1500 underlay).
 *
 * Traffic goes only to the namespaces and veths this test made; they go in
 * afterAll even when a test fails.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { BridgeNetwork, type Endpoint } from '../../src/lab/network.js';
import { VxlanPort } from '../../src/link/vxlan.js';
import { bindHostUnderlay } from '../../src/link/vxlan-underlay.js';
import { blob, PY_SINK, PY_SOURCE, type Blob } from '../helpers/bulk.js';
import { capture, createVethPair, exec, requireRoot, spawn, type VethPair } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['tshark', 'tcpdump', 'python3', 'ping', 'ethtool']);
const id = randomBytes(2).toString('hex');
const x = randomBytes(1)[0]!;
const UNDER = `10.213.${x}`;
const OVER = `10.214.${x}`;
const ROOT1 = `vx${id}r1`;
const ROOT2 = `vx${id}r2`;
const M1_IF = `vx${id}m1`;
const M2_IF = `vx${id}m2`;
const lab = new Lab();
let pair: VethPair | undefined;
let net: BridgeNetwork | undefined;
let vx: VxlanPort | undefined;
let c: Endpoint;
let dir: string;
let big: Blob;

function m1(): string {
  return pair!.a.ns;
}
function m2(): string {
  return pair!.b.ns;
}

/** A veth from the root namespace into `ns`, root end `rootIp/30`, far end `farIp/30`, and a kernel VTEP on it. */
async function machine(ns: string, rootIf: string, farIf: string, rootIp: string, farIp: string, overlayIp: string): Promise<void> {
  await run('ip', ['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', farIf, 'netns', ns]);
  await run('sysctl', ['-q', '-w', `net.ipv6.conf.${rootIf}.disable_ipv6=1`]);
  await run('ip', ['addr', 'add', `${rootIp}/30`, 'dev', rootIf]);
  await run('ip', ['link', 'set', rootIf, 'up']);
  await exec(ns, ['ip', 'addr', 'add', `${farIp}/30`, 'dev', farIf], { check: true });
  await exec(ns, ['ip', 'link', 'set', farIf, 'up'], { check: true });
  // A veth hands a locally encapsulated frame over with its inner checksum
  // still partial (a NIC would finish it on the wire); a user-space VTEP
  // reads the bytes as they are, so the machine finishes it, as a NIC would.
  await exec(ns, ['ethtool', '-K', farIf, 'tx', 'off'], { check: true });
  if (rootIp !== `${UNDER}.1`) await exec(ns, ['ip', 'route', 'add', `${UNDER}.0/30`, 'via', rootIp], { check: true });
  await exec(ns, ['ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'remote', `${UNDER}.1`, 'local', farIp, 'dstport', '4789', 'dev', farIf], { check: true });
  await exec(ns, ['ip', 'addr', 'add', `${overlayIp}/24`, 'dev', 'vx0'], { check: true });
  await exec(ns, ['ip', 'link', 'set', 'vx0', 'up'], { check: true });
}

beforeAll(async () => {
  if (cap.skip) return;
  cap.assert();
  pair = await createVethPair();
  await machine(m1(), ROOT1, M1_IF, `${UNDER}.1`, `${UNDER}.2`, `${OVER}.10`);
  await machine(m2(), ROOT2, M2_IF, `${UNDER}.5`, `${UNDER}.6`, `${OVER}.11`);
  net = new BridgeNetwork({ name: `vx${id}`, subnet: `${OVER}.0/24`, mtu: 1450, dns: false });
  vx = new VxlanPort({ clock: net.clock, underlay: await bindHostUnderlay(4789, `${UNDER}.1`), vni: 42, remotes: [`${UNDER}.2`, `${UNDER}.6`] });
  net.bridge.addPort(vx);
  c = await net.run(lab, { name: 'c', ipv4Address: `${OVER}.2`, namespace: `vx${id}c` });
  dir = mkdtempSync(join(tmpdir(), 'wl-vx-'));
  big = blob(dir, 100);
}, 30_000);

afterAll(async () => {
  await lab.close().catch(() => undefined);
  await vx?.close();
  await net?.close();
  await pair?.destroy();
  for (const dev of [ROOT1, ROOT2]) await run('ip', ['link', 'del', dev]).catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** VNI, inner Ethernet source, ARP opcode and ICMP type of every VXLAN frame in a capture, as tshark decodes them. */
async function vxlanFrames(path: string): Promise<string[]> {
  const fields = ['vxlan.vni', 'eth.src', 'arp.opcode', 'icmp.type'].flatMap((f) => ['-e', f]);
  const r = await run('tshark', ['-r', path, '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'occurrence=l', ...fields], { timeout: 20_000 });
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

describe.skipIf(cap.skip)('VXLAN: a wirelab bridge and Linux vxlan devices', () => {
  it('matches the kernel MTU; ping both ways; tshark sees VNI 42; the broadcast ARP reaches both remotes', async () => {
    const mtu = await exec(m1(), ['cat', '/sys/class/net/vx0/mtu'], { check: true });
    expect(Number(mtu.stdout)).toBe(1450);
    expect(vx!.mtu).toBe(1450);
    const cMac = (await c.container.exec(['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    const caps = await capture(m1(), M1_IF, () =>
      capture(m2(), M2_IF, async () => {
        const p = await c.container.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', `${OVER}.10`]);
        expect(p.stdout).toMatch(/3 received/);
      }, { filter: ['udp', 'port', '4789'] }),
    { filter: ['udp', 'port', '4789'] });
    const at1 = await vxlanFrames(caps.path);
    const at2 = await vxlanFrames(caps.result.path);
    // The ARP request C broadcast, replicated to both VTEPs, with VNI 42.
    expect(at1).toContain(`42\t${cMac}\t1\t`);
    expect(at2).toContain(`42\t${cMac}\t1\t`);
    // Every VXLAN frame on M1's underlay carries VNI 42; the echo requests went to M1 only (learned).
    expect(at1.every((l) => l.startsWith('42\t'))).toBe(true);
    expect(at1.filter((l) => l === `42\t${cMac}\t\t8`).length).toBe(3);
    expect(at2.filter((l) => l.endsWith('\t8'))).toEqual([]);
    // The other way, and to the second machine.
    const back = await exec(m1(), ['ping', '-c', '2', '-i', '0.2', '-W', '2', `${OVER}.2`]);
    expect(back.stdout).toMatch(/2 received/);
    const second = await c.container.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', `${OVER}.11`]);
    expect(second.stdout).toMatch(/2 received/);
    const remotes = vx!.remotes();
    expect(remotes.map((r) => r.address)).toEqual([`${UNDER}.2`, `${UNDER}.6`]);
    for (const r of remotes) expect(r.rxFrames).toBeGreaterThan(0);
    expect(vx!.learned().map((e) => e.dst).sort()).toEqual([`${UNDER}.2`, `${UNDER}.6`]);
    expect(vx!.stats.drops).toEqual({});
  }, 30_000);

  it('carries 100 MB over TCP intact both ways between a container and the kernel VTEP', async () => {
    const sink = spawn(m1(), ['python3', '-c', PY_SINK(`${OVER}.10`, 5201)]);
    await sink.waitForOutput(/ready/);
    const up = await c.container.exec(['python3', '-c', PY_SOURCE(`${OVER}.10`, 5201, big.path)], { timeoutMs: 40_000 });
    expect(up.code, up.stderr).toBe(0);
    await sink.waitForOutput(/^\d+ [0-9a-f]{64}$/m, 20_000);
    expect(sink.stdout).toContain(`${big.bytes} ${big.sha}`);
    const back = c.container.spawn(['python3', '-c', PY_SINK(`${OVER}.2`, 5202)]);
    await back.waitForOutput(/ready/);
    const down = await exec(m1(), ['python3', '-c', PY_SOURCE(`${OVER}.2`, 5202, big.path)], { timeoutMs: 40_000 });
    expect(down.code, down.stderr).toBe(0);
    await back.waitForOutput(/^\d+ [0-9a-f]{64}$/m, 20_000);
    expect(back.stdoutText).toContain(`${big.bytes} ${big.sha}`);
    expect(vx!.stats.drops).toEqual({});
  }, 90_000);
});
