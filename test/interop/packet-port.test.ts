/**
 * Any interface as a port: a wirelab bridge switching, through AF_PACKET,
 * between two veth pairs whose other ends are in namespaces A and B.
 *
 *   ns A: eth0 ══ veth ══ ap<id>a ─┐  (root ns, AF_PACKET PacketPort)
 *                                  ├── wirelab Bridge (trunk: native 1, VLAN 100)
 *   ns B: eth0 ══ veth ══ ap<id>b ─┘
 *
 * The kernels are the real peers: ping, 100 MB over TCP compared by SHA-256
 * (the veths hand AF_PACKET 64 KiB TSO super-frames, so this also proves the
 * vnet-header path), and an 802.1Q frame written by hand with a raw socket in
 * A — the kernel strips its tag before any packet socket sees it, so it only
 * reaches B tagged if the port put the tag back. Plus the refusals: the
 * default-route interface (with an injected route table) and bad names.
 *
 * The root-namespace veth ends are created and deleted here (unique `ap…`
 * names, no addresses, IPv6 off), so nothing routes through them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseLabText } from '../../src/lab/file/load.js';
import { RunningLab } from '../../src/lab/file/up.js';
import { defaultRouteInterfaces, openPacketPort, type PacketPort } from '../../src/link/packet-port.js';
import { Bridge } from '../../src/switch/bridge.js';
import { RealClock } from '../../src/time/clock.js';
import { requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['ip', 'ping', 'nc', 'ss', 'sha256sum', 'python3']);
/** Debian's python3 directly: a version-manager shim on PATH can take seconds to start. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const id = randomBytes(3).toString('hex');
const NS = { a: `ap-${id}-a`, b: `ap-${id}-b`, c: `ap-${id}-c` } as const;
const HOST_IF = { a: `ap${id}a`, b: `ap${id}b`, c: `ap${id}c` } as const;
const x = 100 + (randomBytes(1)[0]! % 100);
const IP = { a: `10.213.${x}.1`, b: `10.213.${x}.2` } as const;
const dir = mkdtempSync(join(tmpdir(), 'wl-ap-'));
const children = new Set<ChildProcess>();

const bridge = new Bridge({ clock: new RealClock(), name: `br-${id}` });
const ports: PacketPort[] = [];
let lab: RunningLab | undefined;

function nsExec(ns: string, argv: string[], timeout = 10_000): Promise<{ stdout: string; stderr: string }> {
  return run('ip', ['netns', 'exec', ns, ...argv], { timeout, maxBuffer: 1 << 20 });
}

/** A long-running command in a namespace; killed in afterAll if still alive. */
function nsSpawn(ns: string, argv: string[]): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, out: () => out, done };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  cap.assert();
  for (const side of ['a', 'b'] as const) {
    await run('ip', ['netns', 'add', NS[side]]);
    // Created with the peer straight in the namespace; only HOST_IF stays in the root namespace.
    await run('ip', ['link', 'add', HOST_IF[side], 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[side]]);
    await run('sysctl', ['-q', '-w', `net.ipv6.conf.${HOST_IF[side]}.disable_ipv6=1`]);
    await run('ip', ['link', 'set', HOST_IF[side], 'up']);
    await nsExec(NS[side], ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    await nsExec(NS[side], ['ip', 'addr', 'add', `${IP[side]}/24`, 'dev', 'eth0']);
    await nsExec(NS[side], ['ip', 'link', 'set', 'eth0', 'up']);
    await nsExec(NS[side], ['ip', 'link', 'set', 'lo', 'up']);
    const port = openPacketPort(HOST_IF[side]);
    ports.push(port);
    bridge.addPort(port, { mode: 'trunk', allowed: [100], native: 1 });
  }
}, 30_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of ports) await p.close();
  bridge.close();
  await lab?.down().catch(() => undefined);
  for (const side of ['a', 'b', 'c'] as const) {
    await run('ip', ['link', 'del', HOST_IF[side]]).catch(() => undefined);
    await run('ip', ['netns', 'del', NS[side]]).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(cap.skip)('AF_PACKET port: a wirelab bridge between two veth-attached namespaces', () => {
  it('passes ping both ways', async () => {
    const r = await nsExec(NS.a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', IP.b]);
    expect(r.stdout).toMatch(/3 received/);
    const back = await nsExec(NS.b, ['ping', '-c', '2', '-i', '0.2', '-W', '2', IP.a]);
    expect(back.stdout).toMatch(/2 received/);
    for (const p of ports) expect(p.stats.rxFrames).toBeGreaterThan(0);
  });

  it('carries 100 MB of TCP intact', async () => {
    const file = join(dir, 'payload');
    await run('sh', ['-c', `head -c ${100 << 20} /dev/urandom > ${file}`]);
    const [sent] = (await run('sha256sum', [file])).stdout.split(/\s+/);
    const port = 20000 + (randomBytes(2).readUInt16BE(0) % 20000);
    const sink = nsSpawn(NS.b, ['timeout', '30', 'sh', '-c', `nc -l -p ${port} | sha256sum`]);
    await waitFor('the listener', async () => (await nsExec(NS.b, ['ss', '-Hltn', `sport = :${port}`])).stdout.includes(`:${port}`));
    await nsExec(NS.a, ['timeout', '30', 'sh', '-c', `nc -N ${IP.b} ${port} < ${file}`], 35_000);
    expect(await sink.done).toBe(0);
    expect(sink.out().split(/\s+/)[0]).toBe(sent);
    // A's veth handed AF_PACKET TSO super-frames (the average frame is above any
    // 1500-byte MTU's 1514 bytes), and B's took them whole: none refused as too big.
    expect(ports[0]!.stats.rxBytes / ports[0]!.stats.rxFrames).toBeGreaterThan(1514);
    const drops = { ...ports[0]!.stats.drops, ...ports[1]!.stats.drops };
    expect(drops['txError:EMSGSIZE'] ?? 0).toBe(0);
  }, 45_000);

  it('keeps an 802.1Q tag the kernel stripped on receive', async () => {
    const macB = JSON.parse((await nsExec(NS.b, ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0].address as string;
    const recv = nsSpawn(NS.b, ['timeout', '8', PYTHON, '-c', RECV_PY]);
    await waitFor('the raw receiver', () => recv.out().includes('ready'));
    await nsExec(NS.a, [PYTHON, '-c', SEND_PY, macB]);
    expect(await recv.done).toBe(0);
    expect(recv.out()).toMatch(/vid=100 prio=5 payload=wirelab-vlan-test/);
  }, 15_000);
});

describe.skipIf(cap.skip)('a lab file plugs an existing interface into a network', () => {
  it('networks.<n>.interfaces: a namespace behind the veth reaches the network\'s gateway', async () => {
    await run('ip', ['netns', 'add', NS.c]);
    await run('ip', ['link', 'add', HOST_IF.c, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.c]);
    await run('sysctl', ['-q', '-w', `net.ipv6.conf.${HOST_IF.c}.disable_ipv6=1`]);
    await run('ip', ['link', 'set', HOST_IF.c, 'up']);
    await nsExec(NS.c, ['ip', 'addr', 'add', `10.215.${x}.9/24`, 'dev', 'eth0']);
    await nsExec(NS.c, ['ip', 'link', 'set', 'eth0', 'up']);
    const text = `name: ap${id}\nnetworks:\n  wired:\n    ipam:\n      config:\n        - subnet: 10.215.${x}.0/24\n    interfaces: [${HOST_IF.c}]\nservices: {}\n`;
    const model = parseLabText(text, 'wired.yaml');
    expect(model.networks[0]!.interfaces).toEqual([HOST_IF.c]);
    const said: string[] = [];
    lab = await RunningLab.up(model, { progress: (l) => said.push(l) });
    expect(said.join('\n')).toContain(`interface ${HOST_IF.c}  on network wired (AF_PACKET)`);
    const r = await nsExec(NS.c, ['ping', '-c', '2', '-i', '0.2', '-W', '2', `10.215.${x}.1`]);
    expect(r.stdout).toMatch(/2 received/);
    await lab.down();
    lab = undefined;
  }, 20_000);

  it('an interface named twice, or one that does not exist, is an error naming the network', async () => {
    const twice = `networks:\n  a:\n    interfaces: [${HOST_IF.c}]\n  b:\n    interfaces: [${HOST_IF.c}]\nservices: {}\n`;
    expect(() => parseLabText(twice, 'twice.yaml')).toThrow(new RegExp(`networks\\.b\\.interfaces\\[0\\]: "${HOST_IF.c}" is already attached to network a`));
    expect(() => parseLabText('networks:\n  a:\n    interfaces: ["bad name"]\nservices: {}\n', 'bad.yaml')).toThrow(/must be an interface name/);
    const missing = parseLabText(`name: ap${id}m\nnetworks:\n  a:\n    interfaces: [ap${id}zz]\nservices: {}\n`, 'missing.yaml');
    await expect(RunningLab.up(missing)).rejects.toThrow(new RegExp(`network a: cannot attach to interface "ap${id}zz": no such interface`));
  });
});

describe('AF_PACKET port: refusals', () => {
  it('refuses the interface that carries the default route unless forced', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      `${HOST_IF.a}\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0`,
      `${HOST_IF.b}\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0`,
    ].join('\n');
    const v6 = [
      `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     ap${id}v6`,
      `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 ${HOST_IF.b}`,
    ].join('\n');
    const readProcFile = (path: string): string => {
      if (path === '/proc/net/route') return table;
      if (path === '/proc/net/ipv6_route') return v6;
      throw new Error(`unexpected ${path}`);
    };
    expect([...defaultRouteInterfaces(readProcFile)].sort()).toEqual([HOST_IF.a, `ap${id}v6`].sort());
    expect([...defaultRouteInterfaces(() => { throw new Error('no /proc'); })]).toEqual([]);
    expect(() => openPacketPort(HOST_IF.a, { readProcFile })).toThrow(
      new RegExp(`refusing to attach to interface "${HOST_IF.a}": it carries this host's default route.*force: true`),
    );
    if (cap.skip) return;
    // Forced, it opens (the interface is our own veth end, whatever the injected table says).
    const forced = openPacketPort(HOST_IF.a, { readProcFile, force: true });
    expect(forced.ifindex).toBeGreaterThan(0);
    void forced.close();
  });

  it('says clearly what is wrong with a bad interface name', () => {
    expect(() => openPacketPort('no/such')).toThrow(/cannot attach to interface "no\/such": not a valid interface name/);
    expect(() => openPacketPort('x'.repeat(16))).toThrow(/not a valid interface name \(1 to 15 bytes/);
    if (cap.skip) return;
    expect(() => openPacketPort(`ap${id}zz`)).toThrow(
      new RegExp(`cannot attach to interface "ap${id}zz": no such interface in this network namespace`),
    );
  });
});

/** In B: wait for one frame of EtherType 0x88b5 and print its tag, read through PACKET_AUXDATA. */
const RECV_PY = String.raw`
import socket, struct, sys
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(('eth0', 0))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.settimeout(6)
print('ready', flush=True)
while True:
    data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
    if addr[2] == socket.PACKET_OUTGOING: continue
    tci = None
    for level, kind, aux in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= 20:
            status, _, _, _, _, vtci = struct.unpack('IIIHHH', aux[:18])
            if status & TP_STATUS_VLAN_VALID: tci = vtci
    etype = struct.unpack('!H', data[12:14])[0]
    if etype != 0x88b5: continue
    if tci is None:
        print('untagged', flush=True); sys.exit(1)
    print('vid=%d prio=%d payload=%s' % (tci & 0xfff, tci >> 13, data[14:31].decode()), flush=True)
    sys.exit(0)
`;

/** In A: one frame to B's MAC with an 802.1Q tag (VID 100, PCP 5), EtherType 0x88b5 (local experimental). */
const SEND_PY = String.raw`
import socket, struct, sys, time
dst = bytes.fromhex(sys.argv[1].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
src = s.getsockname()[4]
frame = dst + src + struct.pack('!HHH', 0x8100, (5 << 13) | 100, 0x88b5) + b'wirelab-vlan-test' + b'\0' * 30
for _ in range(3):
    s.send(frame); time.sleep(0.2)
`;
