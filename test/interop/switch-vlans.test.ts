/**
 * The wirelab bridge with real kernels on every port: four containers whose
 * eth0 are TAPs plugged into one `Bridge` on the real clock.
 *
 *   A (10.211.0.1) ── access VLAN 10 ─┐
 *   B (10.211.0.2) ── access VLAN 10 ─┤
 *   C (10.211.0.3) ── access VLAN 20 ─┼── wirelab Bridge ── mirror → pcapng → tshark
 *   D (no address) ── trunk 10, 20 ───┘
 *
 * A, B and C share one IP subnet, so nothing but the switch keeps C apart
 * from A and B: A↔B ping and TCP must work, and not one frame of A or B
 * (ARP broadcasts included) may reach C. D speaks tagged frames on the trunk
 * and must reach A in VLAN 10 and C in VLAN 20 — through kernel VLAN
 * subinterfaces when the kernel has 802.1Q, otherwise through a raw
 * AF_PACKET socket writing tagged ARP and ICMP itself, with A's and C's
 * kernels as the real peers. tshark reads the bridge's mirror and must see
 * tags on the trunk only, with the right VLAN id for each sender.
 *
 * Hand-written: it is the switch's end-to-end contract with Linux; the
 * raw-socket half exists because this kernel lacks CONFIG_VLAN_8021Q.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import type { ContainerProcess } from '../../src/lab/process.js';
import { PcapngWriter, readCapture } from '../../src/link/pcap.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { Bridge } from '../../src/switch/bridge.js';
import { RealClock } from '../../src/time/clock.js';
import { formatMac } from '../../src/wire/address.js';
import { decodeEthernet } from '../../src/wire/ethernet.js';
import { requireRoot } from '../helpers/netns.js';

const execFileAsync = promisify(execFile);
const cap = requireRoot(['ip', 'ping', 'nc', 'ss', 'sha256sum', 'tcpdump', 'tshark', 'python3']);

const NET = '10.211.0';
const MAC = {
  a: '02:00:00:0a:00:01',
  b: '02:00:00:0a:00:02',
  c: '02:00:00:14:00:03',
  d: '02:00:00:0d:00:04',
} as const;
/** D's addresses when it speaks in VLAN 10 and VLAN 20 (same subnet: only the tag differs). */
const D_IP = { 10: `${NET}.10`, 20: `${NET}.20` } as const;
const NO_IPV6 = {
  'net.ipv6.conf.all.disable_ipv6': '1',
  'net.ipv6.conf.default.disable_ipv6': '1',
};

const id = randomBytes(3).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'wl-sw-'));
const pcapFile = join(dir, 'bridge-mirror.pcapng');
const clock = new RealClock();
const bridge = new Bridge({ clock, name: `br-${id}` });
const lab = new Lab();
const taps: TapPort[] = [];
let writer: PcapngWriter | undefined;
let unmirror: (() => void) | undefined;

let ta: TapPort, tb: TapPort, tc: TapPort, td: TapPort;
let a: Container, b: Container, c: Container, d: Container;
/** tcpdump on C's eth0 for the whole A/B phase. */
let cDump: ContainerProcess | undefined;
const cDumpFile = join(dir, 'c-eth0.pcap');

function tap(suffix: string): TapPort {
  const t = openTap(`wls${id}${suffix}`, { vnetHdr: false });
  taps.push(t);
  return t;
}

beforeAll(async () => {
  cap.assert();
  ta = tap('a');
  tb = tap('b');
  tc = tap('c');
  td = tap('d');
  bridge.addPort(ta, { mode: 'access', pvid: 10 });
  bridge.addPort(tb, { mode: 'access', pvid: 10 });
  bridge.addPort(tc, { mode: 'access', pvid: 20 });
  bridge.addPort(td, { mode: 'trunk', allowed: [10, 20] });
  writer = new PcapngWriter(pcapFile);
  unmirror = bridge.mirror(writer);
  [a, b, c, d] = await Promise.all([
    lab.container({ link: ta.ifname, address: `${NET}.1/24`, mac: MAC.a, sysctls: NO_IPV6 }),
    lab.container({ link: tb.ifname, address: `${NET}.2/24`, mac: MAC.b, sysctls: NO_IPV6 }),
    lab.container({ link: tc.ifname, address: `${NET}.3/24`, mac: MAC.c, sysctls: NO_IPV6 }),
    lab.container({ link: td.ifname, mac: MAC.d, sysctls: NO_IPV6 }),
  ]);
  cDump = c.spawn(['tcpdump', '-i', 'eth0', '-n', '-U', '--immediate-mode', '-s', '0', '-w', cDumpFile]);
  await cDump.waitForOutput(/listening on/, 5_000);
});

afterAll(async () => {
  const steps: Array<() => unknown> = [
    () => unmirror?.(),
    () => writer?.close(),
    () => cDump?.kill('SIGKILL', 500),
    () => lab.close(),
    () => bridge.close(),
    ...taps.map((t) => () => t.close()),
    () => clock.close(),
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  for (const step of steps) {
    try {
      await step();
    } catch {
      // keep cleaning up: one failure must not leave the rest behind
    }
  }
});

/** Sends `file` from `from` to `to` over TCP with nc; returns the SHA-256 of what arrived. */
async function transfer(from: Container, to: Container, toIp: string, file: string): Promise<string> {
  const out = join(dir, `received-${randomBytes(3).toString('hex')}`);
  const server = to.spawn(['sh', '-c', `nc -l -p 5001 > ${out}`]);
  for (let i = 0; i < 100; i++) {
    const ss = await to.exec(['ss', '-ltnH', 'sport = :5001']);
    if (ss.stdout.includes('5001')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await from.exec(['sh', '-c', `nc -N -w 5 ${toIp} 5001 < ${file}`], { timeoutMs: 20_000, check: true });
  await server.exited;
  const sum = await to.exec(['sha256sum', out], { check: true });
  rmSync(out, { force: true });
  return sum.stdout.split(' ')[0]!;
}

/** Source MACs of every frame in a capture file. */
function sourceMacs(bytes: Uint8Array): string[] {
  const capture = readCapture(bytes);
  if (!capture.ok) throw new Error(`capture: ${capture.message}`);
  return capture.value.records.map((r) => {
    const e = decodeEthernet(r.data);
    return e.ok ? formatMac(e.value.src) : 'undecodable';
  });
}

// ---------------------------------------------------------------------------
// The trunk without kernel 802.1Q: tagged ARP and ICMP through a packet socket.

/**
 * Run in D: for each probe, sends a tagged ARP request (and, if answered, a
 * tagged ICMP echo request) on the parent interface and prints what came
 * back and with which VLAN id, as JSON. Received tags are read inline or,
 * since Linux's receive path moves the outer tag into skb metadata, from
 * PACKET_AUXDATA. Bounded: one second per attempt, three attempts.
 */
const RAW_TRUNK_PY = String.raw`
import json, socket, struct, sys, time
ifname, mac_s, probes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
me = bytes.fromhex(mac_s.replace(':', ''))
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def send(dst, vid, etype, payload):
    payload += b'\0' * max(0, 46 - len(payload))
    s.send(dst + me + struct.pack('!HHH', 0x8100, vid, etype) + payload)
def recv(deadline, match):
    while True:
        left = deadline - time.monotonic()
        if left <= 0: return None
        s.settimeout(left)
        try: data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
        except socket.timeout: return None
        if addr[2] == socket.PACKET_OUTGOING: continue
        vid = None
        if data[12:14] == b'\x81\x00':
            vid = struct.unpack('!H', data[14:16])[0] & 0xfff
            data = data[:12] + data[16:]
        else:
            for level, kind, aux in anc:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= 20:
                    status, _, _, _, _, tci, _ = struct.unpack('IIIHHHH', aux[:20])
                    if status & TP_STATUS_VLAN_VALID: vid = tci & 0xfff
        got = match(data)
        if got is not None: return {'vid': vid, **got}
results = []
for p in probes:
    vid, src, dst = p['vid'], socket.inet_aton(p['src']), socket.inet_aton(p['dst'])
    r = {'vid': vid, 'dst': p['dst'], 'arp': None, 'echo': None}
    def arp_reply(f):
        if f[12:14] != b'\x08\x06' or f[20:22] != b'\x00\x02' or f[28:32] != dst: return None
        return {'mac': ':'.join('%02x' % x for x in f[22:28])}
    for attempt in range(3):
        send(b'\xff' * 6, vid, 0x0806, struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + me + src + b'\0' * 6 + dst)
        r['arp'] = recv(time.monotonic() + 1.0, arp_reply)
        if r['arp'] or not p['expect']: break
    if r['arp']:
        peer = bytes.fromhex(r['arp']['mac'].replace(':', ''))
        ident, data = 0x5700 + vid, b'wirelab-trunk-%04d' % vid + b'.' * 14
        icmp = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + data
        icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), vid, 0x4000, 64, 1, 0, src, dst)
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        def echo_reply(f):
            if f[12:14] != b'\x08\x00' or f[23] != 1 or f[26:30] != dst: return None
            icmp_off = 14 + (f[14] & 15) * 4
            t, _, _, i, q = struct.unpack('!BBHHH', f[icmp_off:icmp_off + 8])
            return {'seq': q} if t == 0 and i == ident else None
        send(peer, vid, 0x0800, ip + icmp)
        r['echo'] = recv(time.monotonic() + 2.0, echo_reply)
    results.append(r)
print(json.dumps(results))
`;

interface RawProbeResult {
  vid: number;
  dst: string;
  arp: { vid: number | null; mac: string } | null;
  echo: { vid: number | null; seq: number } | null;
}

// ---------------------------------------------------------------------------

describe('wirelab bridge: VLAN access ports and a trunk, kernels on every port', () => {
  it('A and B (access VLAN 10) ping each other both ways and move 4 MB of TCP each way intact', async () => {
    await a.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', `${NET}.2`], { check: true });
    await b.exec(['ping', '-c', '2', '-i', '0.2', '-W', '2', `${NET}.1`], { check: true });
    const file = join(dir, 'payload');
    const payload = randomBytes(4 * 1024 * 1024);
    writeFileSync(file, payload);
    const expected = createHash('sha256').update(payload).digest('hex');
    expect(await transfer(a, b, `${NET}.2`, file)).toBe(expected);
    expect(await transfer(b, a, `${NET}.1`, file)).toBe(expected);
    expect((await a.neighbours()).find((n) => n.address === `${NET}.2`)?.mac).toBe(MAC.b);
  });

  it("nothing of A's or B's reaches C (access VLAN 20, same subnet), ARP broadcasts included: A and B cannot ping C", async () => {
    const aBefore = ta.stats.txFrames;
    const bBefore = tb.stats.txFrames;
    const pings = await Promise.all(
      [a, b].map((x) => x.exec(['ping', '-c', '2', '-i', '0.3', '-W', '1', `${NET}.3`], { timeoutMs: 10_000 })),
    );
    for (const [i, x] of [a, b].entries()) {
      expect(pings[i]!.code).not.toBe(0);
      expect(pings[i]!.stdout).toMatch(/100% packet loss/);
      expect((await x.neighbours()).find((n) => n.address === `${NET}.3`)?.mac).toBeUndefined();
    }
    // Their "who-has 10.211.0.3" broadcasts were flooded — to each other, in VLAN 10 — and nowhere in VLAN 20.
    expect(ta.stats.txFrames).toBeGreaterThan(aBefore);
    expect(tb.stats.txFrames).toBeGreaterThan(bBefore);

    // C's side of the switch: not one frame sent to C's TAP, and C's kernel saw nothing from A or B.
    expect(tc.stats.txFrames).toBe(0);
    expect(bridge.portCounters(tc.name).txFrames).toBe(0);
    await cDump!.kill('SIGINT', 3_000);
    const macs = sourceMacs(new Uint8Array(readFileSync(cDumpFile)));
    expect(macs.filter((m) => m === MAC.a || m === MAC.b)).toEqual([]);
    // Meanwhile A and B each sent plenty (pings, two TCP transfers, the ARP broadcasts).
    expect(bridge.portCounters(ta.name).rxFrames).toBeGreaterThan(1000);
    expect(bridge.portCounters(tb.name).rxFrames).toBeGreaterThan(1000);
  });

  it('the trunk (VLANs 10 and 20) reaches A in VLAN 10 and C in VLAN 20, and only those', async ({ annotate }) => {
    const probe = await d.exec(['ip', 'link', 'add', 'link', 'eth0', 'name', 'eth0.10', 'type', 'vlan', 'id', '10']);
    if (probe.code === 0) {
      await annotate('trunk path: Linux VLAN subinterfaces eth0.10 and eth0.20 in D');
      await d.exec(['ip', 'link', 'add', 'link', 'eth0', 'name', 'eth0.20', 'type', 'vlan', 'id', '20'], { check: true });
      for (const vid of [10, 20] as const) {
        await d.exec(['ip', 'addr', 'add', `${D_IP[vid]}/24`, 'dev', `eth0.${vid}`], { check: true });
        await d.exec(['ip', 'link', 'set', `eth0.${vid}`, 'up'], { check: true });
      }
      await d.exec(['ping', '-I', 'eth0.10', '-c', '2', '-i', '0.2', '-W', '2', `${NET}.1`], { check: true });
      await d.exec(['ping', '-I', 'eth0.20', '-c', '2', '-i', '0.2', '-W', '2', `${NET}.3`], { check: true });
      const wrong = await d.exec(['ping', '-I', 'eth0.10', '-c', '1', '-W', '1', `${NET}.3`]);
      expect(wrong.code, 'C must not answer in VLAN 10').not.toBe(0);
      const wrong20 = await d.exec(['ping', '-I', 'eth0.20', '-c', '1', '-W', '1', `${NET}.1`]);
      expect(wrong20.code, 'A must not answer in VLAN 20').not.toBe(0);
    } else {
      expect(probe.stderr).toMatch(/Unknown device type|not supported/i);
      await annotate('trunk path: raw AF_PACKET socket in D sending 802.1Q-tagged ARP and ICMP (kernel lacks 802.1Q)');
      const probes = [
        { vid: 10, src: D_IP[10], dst: `${NET}.1`, expect: true },
        { vid: 20, src: D_IP[20], dst: `${NET}.3`, expect: true },
        { vid: 10, src: D_IP[10], dst: `${NET}.3`, expect: false },
        { vid: 20, src: D_IP[20], dst: `${NET}.1`, expect: false },
      ];
      const r = await d.exec(['python3', '-c', RAW_TRUNK_PY, 'eth0', MAC.d, JSON.stringify(probes)], {
        timeoutMs: 20_000,
        check: true,
      });
      const [toA, toC, cIn10, aIn20] = JSON.parse(r.stdout) as RawProbeResult[];
      expect(toA).toEqual({ vid: 10, dst: `${NET}.1`, arp: { vid: 10, mac: MAC.a }, echo: { vid: 10, seq: 1 } });
      expect(toC).toEqual({ vid: 20, dst: `${NET}.3`, arp: { vid: 20, mac: MAC.c }, echo: { vid: 20, seq: 1 } });
      expect(cIn10?.arp, 'C must not answer in VLAN 10').toBeNull();
      expect(aIn20?.arp, 'A must not answer in VLAN 20').toBeNull();
    }
    // The kernels of A and C learned D's MAC from the frames the switch untagged for them.
    expect((await a.neighbours()).find((n) => n.address === D_IP[10])?.mac).toBe(MAC.d);
    expect((await c.neighbours()).find((n) => n.address === D_IP[20])?.mac).toBe(MAC.d);
  });

  it('the FDB holds A and B in VLAN 10 on their ports, C in VLAN 20, D in both on the trunk; every port counted', async ({ annotate }) => {
    const fdb = bridge.formatFdb();
    const counters = bridge.formatPortCounters();
    await annotate(`bridge fdb:\n${fdb}`);
    await annotate(`port counters:\n${counters}`);
    const entries = bridge.fdbEntries().map((e) => ({ mac: formatMac(e.mac), vid: e.vid, port: e.port, static: e.static }));
    expect(entries).toEqual(
      expect.arrayContaining([
        { mac: MAC.a, vid: 10, port: ta.name, static: false },
        { mac: MAC.b, vid: 10, port: tb.name, static: false },
        { mac: MAC.c, vid: 20, port: tc.name, static: false },
        { mac: MAC.d, vid: 10, port: td.name, static: false },
        { mac: MAC.d, vid: 20, port: td.name, static: false },
      ]),
    );
    // Nobody is learned where they do not belong.
    expect(entries.filter((e) => [MAC.a, MAC.b].includes(e.mac as typeof MAC.a) && (e.vid !== 10 || e.port === tc.name))).toEqual([]);
    expect(fdb).toContain(`${MAC.a} dev ${ta.name} vlan 10 master br-${id}`);
    expect(fdb).toContain(`${MAC.b} dev ${tb.name} vlan 10 master br-${id}`);
    for (const t of [ta, tb, tc, td]) {
      const pc = bridge.portCounters(t.name);
      expect(pc.rxFrames, `${t.name} rx`).toBeGreaterThan(0);
      expect(pc.txFrames, `${t.name} tx`).toBeGreaterThan(0);
      expect(counters).toContain(t.name);
    }
    // The bridge's counters agree with the TAPs' own.
    expect(bridge.portCounters(ta.name).rxFrames).toBe(ta.stats.rxFrames);
    expect(bridge.portCounters(tc.name).txFrames).toBe(tc.stats.txFrames);
  });

  it('tshark reads the mirror: tags on the trunk only, VLAN 10 for A, B and D-to-A, VLAN 20 for C and D-to-C', async () => {
    unmirror?.();
    unmirror = undefined;
    await writer!.close();
    const { stdout } = await execFileAsync(
      'tshark',
      ['-r', pcapFile, '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.interface_name', '-e', 'vlan.id', '-e', 'eth.src', '-e', 'eth.dst'],
      { maxBuffer: 64 << 20 },
    );
    const rows = stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [ifc = '', vid = '', src = '', dst = ''] = l.split('\t');
        return { ifc, vid, src, dst };
      });
    const on = (t: TapPort) => rows.filter((r) => r.ifc === t.name);
    // Access ports: untagged, every frame.
    for (const t of [ta, tb, tc]) {
      expect(on(t).length, `${t.name} frames`).toBeGreaterThan(0);
      expect(on(t).filter((r) => r.vid !== ''), `tagged frames on access port ${t.name}`).toEqual([]);
    }
    // C's port never saw A or B; A's and B's ports never saw C.
    expect(on(tc).filter((r) => r.src === MAC.a || r.src === MAC.b || r.dst === MAC.a || r.dst === MAC.b)).toEqual([]);
    expect([...on(ta), ...on(tb)].filter((r) => r.src === MAC.c || r.dst === MAC.c)).toEqual([]);
    // Trunk: every frame tagged, with the VLAN of whoever it belongs to.
    const trunk = on(td);
    expect(trunk.filter((r) => r.vid !== '10' && r.vid !== '20')).toEqual([]);
    const fromA = trunk.filter((r) => r.src === MAC.a);
    const fromB = trunk.filter((r) => r.src === MAC.b);
    const fromC = trunk.filter((r) => r.src === MAC.c);
    expect(fromA.length).toBeGreaterThan(0); // A's ARP broadcasts and its replies to D
    expect(fromB.length).toBeGreaterThan(0); // B's ARP broadcasts for C
    expect(fromC.length).toBeGreaterThan(0);
    expect(new Set([...fromA, ...fromB].map((r) => r.vid))).toEqual(new Set(['10']));
    expect(new Set(fromC.map((r) => r.vid))).toEqual(new Set(['20']));
    const fromD = trunk.filter((r) => r.src === MAC.d);
    expect(fromD.filter((r) => r.dst === MAC.a).map((r) => r.vid)).not.toHaveLength(0);
    expect(new Set(fromD.filter((r) => r.dst === MAC.a).map((r) => r.vid))).toEqual(new Set(['10']));
    expect(new Set(fromD.filter((r) => r.dst === MAC.c).map((r) => r.vid))).toEqual(new Set(['20']));
    // D's frames reached A and C untagged on their access ports.
    expect(on(ta).some((r) => r.src === MAC.d)).toBe(true);
    expect(on(tc).some((r) => r.src === MAC.d)).toBe(true);
  });
});
