/**
 * tshark reads what wirelab writes: random frames built with wirelab's
 * encoders (VLAN tags, IPv4 with options and flags, TCP with every option,
 * UDP, ICMP) go into one pcapng with several interfaces and one classic pcap;
 * tshark must open both with no malformed frame, verify every checksum as
 * good, and dissect each field to the value wirelab put there.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIPv4, formatMac } from '../../src/wire/address.js';
import { encodeEthernet, ETHERTYPE, type VlanTag } from '../../src/wire/ethernet.js';
import { encodeIcmp } from '../../src/wire/icmp.js';
import { encodeIPv4, IP_PROTOCOL } from '../../src/wire/ipv4.js';
import { encodeTcp } from '../../src/wire/tcp.js';
import type { TcpOption } from '../../src/wire/tcp-options.js';
import { encodeUdp } from '../../src/wire/udp.js';
import { PcapngWriter, PcapWriter } from '../../src/link/pcap.js';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'wl-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = [
  'frame.interface_name', 'eth.src', 'eth.dst', 'vlan.id', 'vlan.priority',
  'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.flags.df', 'ip.dsfield.dscp', 'ip.checksum.status',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.flags', 'tcp.window_size_value',
  'tcp.options.mss_val', 'tcp.options.wscale.shift', 'tcp.options.sack_perm',
  'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr', 'tcp.options.sack_le', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status',
  'icmp.type', 'icmp.ident', 'icmp.seq', 'icmp.checksum.status', '_ws.malformed', '_ws.expert.severity',
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

interface Built { frame: Uint8Array; expect: Partial<Row>; iface: number }

const mac = fc.integer({ min: 0, max: 0xffff_ffff_ffff }).map((m) => m - (Math.floor(m / 2 ** 40) % 2) * 2 ** 40); // unicast
// Addresses tshark prints as plain unicast (no multicast/broadcast/zero special cases).
const ip = fc.integer({ min: 0x01000001, max: 0xdffffffe });
const tag = fc.record({ tpid: fc.constant(0x8100), pcp: fc.integer({ min: 0, max: 7 }), dei: fc.constant(false), vid: fc.integer({ min: 1, max: 4094 }) });

const tcpOptions = fc.record({
  mss: fc.option(fc.integer({ min: 536, max: 65495 }), { nil: undefined }),
  sackPerm: fc.boolean(),
  ts: fc.option(fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })), { nil: undefined }),
  wscale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
  sack: fc.option(fc.tuple(fc.nat({ max: 0x7fffffff }), fc.integer({ min: 1, max: 60000 })), { nil: undefined }),
});

const transport = fc.oneof(
  fc.record({ kind: fc.constant('tcp' as const), src: fc.integer({ min: 1, max: 65535 }), dst: fc.integer({ min: 1, max: 65535 }),
    seq: fc.nat({ max: 0xffffffff }), flags: fc.integer({ min: 1, max: 0xff }), window: fc.nat({ max: 65535 }), opts: tcpOptions,
    payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('udp' as const), src: fc.integer({ min: 1, max: 65535 }), dst: fc.integer({ min: 1, max: 65535 }),
    payload: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('icmp' as const), id: fc.nat({ max: 65535 }), seq: fc.nat({ max: 65535 }), payload: fc.uint8Array({ maxLength: 64 }) }),
);

// Ports whose well-known dissectors would reinterpret random payloads (DNS, DHCP, …)
// are fine for tshark, but we keep tests about the layers wirelab wrote.
const frameArb = fc.record({
  src: mac, dst: mac, tags: fc.array(tag, { maxLength: 2 }), ipSrc: ip, ipDst: ip,
  ttl: fc.integer({ min: 1, max: 255 }), id: fc.nat({ max: 65535 }), df: fc.boolean(), dscp: fc.integer({ min: 0, max: 63 }),
  t: transport, iface: fc.integer({ min: 0, max: 2 }),
});

type FrameSpec = typeof frameArb extends fc.Arbitrary<infer T> ? T : never;

function build(f: FrameSpec): Built {
  const pair = { src: f.ipSrc, dst: f.ipDst };
  const e: Partial<Row> = {
    'eth.src': formatMac(f.src), 'eth.dst': formatMac(f.dst),
    'vlan.id': f.tags.map((t) => t.vid).join(','), 'vlan.priority': f.tags.map((t) => t.pcp).join(','),
    'ip.src': formatIPv4(f.ipSrc), 'ip.dst': formatIPv4(f.ipDst), 'ip.ttl': String(f.ttl), 'ip.id': `0x${f.id.toString(16).padStart(4, '0')}`,
    'ip.flags.df': f.df ? '1' : '0', 'ip.dsfield.dscp': String(f.dscp), 'ip.checksum.status': '1',
    '_ws.malformed': '',
  };
  let l4: Uint8Array;
  let protocol: number;
  const t = f.t;
  if (t.kind === 'tcp') {
    protocol = IP_PROTOCOL.TCP;
    const options: TcpOption[] = [];
    if (t.opts.mss !== undefined) options.push({ kind: 'mss', value: t.opts.mss });
    if (t.opts.sackPerm) options.push({ kind: 'sack-permitted' });
    if (t.opts.ts) options.push({ kind: 'timestamps', value: t.opts.ts[0], echo: t.opts.ts[1] });
    if (t.opts.wscale !== undefined) options.push({ kind: 'nop' }, { kind: 'wscale', shift: t.opts.wscale });
    const sack = t.opts.sack && options.length <= 4 ? t.opts.sack : undefined; // keep within 40 option bytes
    if (sack) options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [{ left: sack[0], right: sack[0] + sack[1] }] });
    l4 = encodeTcp({ srcPort: t.src, dstPort: t.dst, seq: t.seq, ack: 0, flags: t.flags, window: t.window, urgentPointer: 0, options }, t.payload, pair);
    Object.assign(e, {
      'tcp.srcport': String(t.src), 'tcp.dstport': String(t.dst), 'tcp.seq_raw': String(t.seq),
      'tcp.flags': `0x${t.flags.toString(16).padStart(4, '0')}`, 'tcp.window_size_value': String(t.window),
      'tcp.options.mss_val': t.opts.mss !== undefined ? String(t.opts.mss) : '',
      'tcp.options.wscale.shift': t.opts.wscale !== undefined ? String(t.opts.wscale) : '',
      'tcp.options.timestamp.tsval': t.opts.ts ? String(t.opts.ts[0]) : '',
      'tcp.options.timestamp.tsecr': t.opts.ts ? String(t.opts.ts[1]) : '',
      'tcp.checksum.status': '1',
    });
  } else if (t.kind === 'udp') {
    protocol = IP_PROTOCOL.UDP;
    l4 = encodeUdp({ srcPort: t.src, dstPort: t.dst }, t.payload, pair);
    Object.assign(e, { 'udp.srcport': String(t.src), 'udp.dstport': String(t.dst), 'udp.length': String(8 + t.payload.length), 'udp.checksum.status': '1' });
  } else {
    protocol = IP_PROTOCOL.ICMP;
    l4 = encodeIcmp({ kind: 'echo-request', code: 0, identifier: t.id, sequence: t.seq, data: t.payload });
    Object.assign(e, { 'icmp.type': '8', 'icmp.ident': String(t.id), 'icmp.seq': String(t.seq), 'icmp.checksum.status': '1' });
  }
  const ipBytes = encodeIPv4({
    dscp: f.dscp, ecn: 0, identification: f.id, dontFragment: f.df, moreFragments: false, reservedFlag: false,
    fragmentOffset: 0, ttl: f.ttl, protocol, src: f.ipSrc, dst: f.ipDst, options: new Uint8Array(0),
  }, l4);
  const tags: VlanTag[] = f.tags;
  const frame = encodeEthernet({ dst: f.dst, src: f.src, tags, etherType: ETHERTYPE.IPV4 }, ipBytes);
  return { frame, expect: e, iface: f.iface };
}

async function tshark(path: string): Promise<Row[]> {
  const args = ['-n', '-r', path, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    // Read the bytes as wirelab wrote them: no heuristic or port-based reinterpretation of random payloads.
    '-o', 'tcp.analyze_sequence_numbers:FALSE', '--disable-protocol', 'data-text-lines',
    '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=,', '-E', 'occurrence=a'];
  for (const f of FIELDS) args.push('-e', f);
  const { stdout } = await execFileAsync('tshark', args, { timeout: 60_000, maxBuffer: 64 << 20 });
  return stdout.split('\n').filter((l) => l !== '').map((line) => {
    const cells = line.split('\t');
    return Object.fromEntries(FIELDS.map((f, i) => [f, cells[i] ?? ''])) as Row;
  });
}

describe('tshark dissects what wirelab writes exactly as wirelab meant it', () => {
  const samples = fc.sample(frameArb, { numRuns: 400, seed: 20261125 }).map(build);
  const names = ['br0-port1', 'br0-port2', 'br0-trunk'];

  it('a three-interface pcapng of 400 random frames: no malformed frame, good checksums, every field agrees', async () => {
    const path = join(dir, 'random.pcapng');
    const w = new PcapngWriter(path);
    for (const n of names) w.addInterface({ name: n });
    samples.forEach((s, i) => expect(w.write(s.frame, 1_700_000_000_000_000_000n + BigInt(i) * 1000n, s.iface)).toBe(true));
    await w.close();
    const rows = await tshark(path);
    expect(rows.length).toBe(samples.length);
    rows.forEach((row, i) => {
      const s = samples[i]!;
      expect(row['frame.interface_name'], `frame ${i + 1} interface`).toBe(names[s.iface]);
      for (const [k, v] of Object.entries(s.expect)) expect(row[k as keyof Row], `frame ${i + 1} field ${k}`).toBe(v);
      // Expert info of error severity would mean tshark found something wrong in the bytes.
      expect(row['_ws.expert.severity'].split(',').filter((x) => x === '8388608'), `frame ${i + 1} expert errors`).toEqual([]);
    });
  });

  it('the same frames in a classic nanosecond pcap read identically', async () => {
    const path = join(dir, 'random.pcap');
    const w = new PcapWriter(path, { resolution: 'ns' });
    for (const s of samples.slice(0, 100)) w.write(s.frame, 1_700_000_000_123_456_789n);
    await w.close();
    const rows = await tshark(path);
    expect(rows.length).toBe(100);
    rows.forEach((row, i) => {
      for (const [k, v] of Object.entries(samples[i]!.expect)) expect(row[k as keyof Row], `frame ${i + 1} field ${k}`).toBe(v);
    });
    const { stdout } = await execFileAsync('tshark', ['-r', path, '-c', '1', '-T', 'fields', '-e', 'frame.time_epoch'], { timeout: 20_000 });
    expect(stdout.trim()).toMatch(/^1700000000\.123456789/);
  });
});
