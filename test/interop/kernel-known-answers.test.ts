/**
 * Known answers from the real Linux kernel: frames the kernel itself sent
 * between two throwaway namespaces, captured with tcpdump, must decode in
 * wirelab to the fields we know the kernel used (MACs from `ip link`, the
 * addresses we assigned, Linux's SYN option order, seq/ack arithmetic), with
 * every checksum verifying, must re-encode byte for byte, and must agree
 * field by field with tshark's independent dissection of the same file.
 *
 * Hand-written because it is the ground truth for the hand-written codecs:
 * no library's opinion is involved, only the kernel's bytes and tshark's.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  capture,
  createVethPair,
  destroyAll,
  disableOffloads,
  exec,
  requireRoot,
  spawn,
  type CaptureResult,
  type VethPair,
} from '../helpers/netns.js';
import { MAC_BROADCAST, formatIPv4, formatMac, parseIPv4, parseMac } from '../../src/wire/address.js';
import { ARP_OP, decodeArp, encodeArp, type ArpPacket } from '../../src/wire/arp.js';
import { finishChecksum, internetChecksum, pseudoHeaderSum, sum16 } from '../../src/wire/checksum.js';
import { ETHERTYPE, decodeEthernet, encodeEthernet, type EthernetFrame, type VlanTag } from '../../src/wire/ethernet.js';
import { decodeIcmp, encodeIcmp, ICMP_TYPE, type IcmpMessage } from '../../src/wire/icmp.js';
import { IP_PROTOCOL, decodeIPv4, encodeIPv4, type IPv4Packet } from '../../src/wire/ipv4.js';
import { type Decoded, formatWireError } from '../../src/wire/result.js';
import { TCP_FLAG, decodeTcp, encodeTcp, type TcpSegment } from '../../src/wire/tcp.js';
import { readCapture } from '../../src/link/pcap.js';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------
// Dissection with wirelab: every layer decoded, then rebuilt from the decoded
// representations only (payload bytes of the innermost layer aside).

interface Dissected {
  index: number;
  bytes: Uint8Array;
  eth: EthernetFrame;
  arp?: ArpPacket;
  ip?: IPv4Packet;
  icmp?: IcmpMessage;
  tcp?: TcpSegment;
  /** encodeEthernet(eth, encodeIPv4(ip, encodeIcmp|encodeTcp(...))) or encodeArp, plus any link padding. */
  rebuilt: Uint8Array;
}

function unwrap<T>(d: Decoded<T>, what: string): T {
  if (!d.ok) throw new Error(`${what}: ${formatWireError(d)}`);
  return d.value;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function dissect(bytes: Uint8Array, index: number): Dissected {
  const where = `frame ${index + 1}`;
  const eth = unwrap(decodeEthernet(bytes), where);
  const d: Dissected = { index, bytes, eth, rebuilt: new Uint8Array(0) };
  let inner: Uint8Array = eth.payload;
  if (eth.etherType === ETHERTYPE.ARP) {
    d.arp = unwrap(decodeArp(eth.payload), where);
    const encoded = encodeArp(d.arp);
    inner = concat(encoded, eth.payload.subarray(encoded.length)); // link padding, if any
  } else if (eth.etherType === ETHERTYPE.IPV4) {
    const ip = unwrap(decodeIPv4(eth.payload, { verifyChecksum: true }), where);
    d.ip = ip;
    let transport: Uint8Array = ip.payload;
    if (ip.protocol === IP_PROTOCOL.ICMP) {
      d.icmp = unwrap(decodeIcmp(ip.payload, { verifyChecksum: true }), where);
      transport = encodeIcmp(d.icmp);
    } else if (ip.protocol === IP_PROTOCOL.TCP) {
      d.tcp = unwrap(decodeTcp(ip.payload, { src: ip.src, dst: ip.dst, verifyChecksum: true }), where);
      transport = encodeTcp(d.tcp, d.tcp.payload, { src: ip.src, dst: ip.dst });
    }
    inner = concat(encodeIPv4(ip, transport), eth.payload.subarray(ip.totalLength));
  }
  d.rebuilt = encodeEthernet(eth, inner);
  return d;
}

function dissectCapture(file: Uint8Array): Dissected[] {
  const cap = unwrap(readCapture(file), 'pcap');
  expect(cap.format).toBe('pcap'); // tcpdump -w writes classic pcap
  expect(cap.interfaces[0]?.linkType).toBe(1); // LINKTYPE_ETHERNET
  for (const r of cap.records) expect(r.capturedLength).toBe(r.originalLength); // -s 0: nothing truncated
  return cap.records.map((r, i) => dissect(r.data, i));
}

/** Checksums recomputed with the low-level helpers only, independent of the codecs' verify paths. */
function expectChecksumsVerify(d: Dissected): void {
  const ip = d.ip;
  if (ip === undefined) return;
  expect(internetChecksum(d.eth.payload, 0, ip.headerLength), `IPv4 header checksum of frame ${d.index + 1}`).toBe(0);
  if (d.icmp !== undefined) expect(internetChecksum(ip.payload), `ICMP checksum of frame ${d.index + 1}`).toBe(0);
  if (d.tcp !== undefined) {
    const pseudo = pseudoHeaderSum(ip.src, ip.dst, IP_PROTOCOL.TCP, ip.payload.length);
    expect(finishChecksum(sum16(ip.payload, 0, ip.payload.length, pseudo)), `TCP checksum of frame ${d.index + 1}`).toBe(0);
  }
}

function expectByteIdentical(frames: readonly Dissected[]): void {
  for (const d of frames) {
    expect(Buffer.from(d.rebuilt).toString('hex'), `re-encoded frame ${d.index + 1}`).toBe(Buffer.from(d.bytes).toString('hex'));
  }
}

// ---------------------------------------------------------------------------
// tshark's reading of the same file, and the row wirelab predicts for it.

const TSHARK_FIELDS = [
  // The fields named in the brief …
  'eth.src', 'eth.dst', 'vlan.id', 'ip.src', 'ip.dst', 'ip.ttl', 'tcp.flags', 'tcp.options.wscale.shift',
  'tcp.options.mss_val', 'icmp.type',
  // … and a few more that pin the rest of what the tests assert.
  'ieee8021ad.id', 'arp.opcode', 'icmp.code', 'icmp.seq', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.len',
  'ip.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status',
] as const;
type TsharkRow = Record<(typeof TSHARK_FIELDS)[number], string>;

async function tsharkRows(path: string): Promise<TsharkRow[]> {
  const args = ['-n', '-r', path, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];
  args.push('-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=/', ...TSHARK_FIELDS.flatMap((f) => ['-e', f]));
  const { stdout } = await execFileAsync('tshark', args, { timeout: 20_000 });
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const cols = line.split(',');
      return Object.fromEntries(TSHARK_FIELDS.map((f, i) => [f, cols[i] ?? ''])) as TsharkRow;
    });
}

function vids(tags: readonly VlanTag[], tpid: number): string {
  return tags.filter((t) => t.tpid === tpid).map((t) => String(t.vid)).join('/');
}

function expectedRow(d: Dissected): TsharkRow {
  const { eth, ip, tcp, icmp, arp } = d;
  const opt = <K extends string>(kind: K) => tcp?.options.find((o) => o.kind === kind);
  const wscale = opt('wscale');
  const mss = opt('mss');
  const echo = icmp !== undefined && (icmp.kind === 'echo-request' || icmp.kind === 'echo-reply') ? icmp : undefined;
  return {
    'eth.src': formatMac(eth.src),
    'eth.dst': formatMac(eth.dst),
    'vlan.id': vids(eth.tags, ETHERTYPE.VLAN),
    'ip.src': ip ? formatIPv4(ip.src) : '',
    'ip.dst': ip ? formatIPv4(ip.dst) : '',
    'ip.ttl': ip ? String(ip.ttl) : '',
    'tcp.flags': tcp ? `0x${tcp.flags.toString(16).padStart(4, '0')}` : '',
    'tcp.options.wscale.shift': wscale && wscale.kind === 'wscale' ? String(wscale.shift) : '',
    'tcp.options.mss_val': mss && mss.kind === 'mss' ? String(mss.value) : '',
    'icmp.type': icmp ? String(icmp.type) : '',
    'ieee8021ad.id': vids(eth.tags, ETHERTYPE.QINQ),
    'arp.opcode': arp ? String(arp.operation) : '',
    'icmp.code': icmp ? String(icmp.code) : '',
    'icmp.seq': echo ? String(echo.sequence) : '',
    'tcp.seq_raw': tcp ? String(tcp.seq) : '',
    'tcp.ack_raw': tcp ? String(tcp.ack) : '', // tshark prints it even without ACK (0 in a SYN)
    'tcp.len': tcp ? String(tcp.payload.length) : '',
    // 1 = "Good": wirelab verified these checksums while decoding, tshark now does too.
    'ip.checksum.status': ip ? '1' : '',
    'tcp.checksum.status': tcp ? '1' : '',
    'icmp.checksum.status': icmp ? '1' : '',
  };
}

async function expectTsharkAgrees(cap: CaptureResult<unknown>, frames: readonly Dissected[]): Promise<void> {
  const rows = await tsharkRows(cap.path);
  expect(rows.length, 'tshark and wirelab see the same number of frames').toBe(frames.length);
  frames.forEach((d, i) => expect(rows[i], `frame ${i + 1}`).toEqual(expectedRow(d)));
}

// ---------------------------------------------------------------------------

const TOOLS = ['tcpdump', 'tshark', 'ethtool', 'nc', 'ping', 'python3', 'ss', 'sh'];
const capability = requireRoot(TOOLS);

describe.skipIf(capability.skip)('Linux kernel known answers over a veth pair', () => {
  let pair: VethPair;

  beforeAll(async () => {
    capability.assert();
    pair = await createVethPair();
    await disableOffloads(pair.a.ns, pair.a.iface);
    await disableOffloads(pair.b.ns, pair.b.iface);
  });

  afterAll(async () => {
    await pair?.destroy();
    await destroyAll(); // anything a failed beforeAll left behind
  });

  /** `ip neigh flush` so the next exchange starts with a fresh ARP request. */
  async function forgetNeighbours(): Promise<void> {
    await exec(pair.a.ns, ['ip', 'neigh', 'flush', 'dev', pair.a.iface], { check: true });
    await exec(pair.b.ns, ['ip', 'neigh', 'flush', 'dev', pair.b.iface], { check: true });
  }

  /** The ARP request A sent for B and B's reply: kernel-chosen fields we know in advance. */
  function expectArpExchange(frames: readonly Dissected[], a = pair.a, b = pair.b): void {
    const [macA, macB, ipA, ipB] = [parseMac(a.mac), parseMac(b.mac), parseIPv4(a.ip), parseIPv4(b.ip)];
    const request = frames.find((d) => d.arp?.operation === ARP_OP.REQUEST && d.arp.targetIp === ipB);
    const reply = frames.find((d) => d.arp?.operation === ARP_OP.REPLY && d.arp.senderIp === ipB);
    expect(request, 'ARP request from A for B').toBeDefined();
    expect(reply, 'ARP reply from B').toBeDefined();
    expect(request!.eth).toMatchObject({ src: macA, dst: MAC_BROADCAST, tags: [] });
    expect(request!.arp).toMatchObject({
      hardwareType: 1, protocolType: 0x0800, hardwareLength: 6, protocolLength: 4,
      senderMac: macA, senderIp: ipA, targetIp: ipB,
    });
    expect(reply!.eth).toMatchObject({ src: macB, dst: macA, tags: [] });
    expect(reply!.arp).toMatchObject({ senderMac: macB, senderIp: ipB, targetMac: macA, targetIp: ipA });
  }

  // -------------------------------------------------------------------------
  describe('kernel ping (ICMP echo) captured in A', () => {
    let cap: CaptureResult<unknown>;
    let frames: Dissected[];

    beforeAll(async () => {
      cap = await capture(pair.a.ns, pair.a.iface, () =>
        exec(pair.a.ns, ['ping', '-c', '1', '-W', '2', pair.b.ip], { check: true, timeoutMs: 5_000 }),
      );
      expect(cap.tcpdumpStderr).toMatch(/\b0 packets dropped by kernel/);
      frames = dissectCapture(cap.bytes);
    });

    it('echo request and reply decode to the kernel MACs, addresses, TTL 64, protocol 1, type/code/id/seq, with checksums verified', () => {
      const [macA, macB, ipA, ipB] = [parseMac(pair.a.mac), parseMac(pair.b.mac), parseIPv4(pair.a.ip), parseIPv4(pair.b.ip)];
      const request = frames.find((d) => d.icmp?.type === ICMP_TYPE.ECHO_REQUEST);
      const reply = frames.find((d) => d.icmp?.type === ICMP_TYPE.ECHO_REPLY);
      expect(request, 'echo request in capture').toBeDefined();
      expect(reply, 'echo reply in capture').toBeDefined();

      expect(request!.eth).toMatchObject({ src: macA, dst: macB, tags: [], etherType: ETHERTYPE.IPV4, headerLength: 14 });
      expect(reply!.eth).toMatchObject({ src: macB, dst: macA, tags: [], etherType: ETHERTYPE.IPV4, headerLength: 14 });
      // iputils ping: 56 data bytes + 8 ICMP + 20 IPv4 = 84; DF set on the request.
      expect(request!.ip).toMatchObject({
        version: 4, headerLength: 20, totalLength: 84, ttl: 64, protocol: IP_PROTOCOL.ICMP, src: ipA, dst: ipB,
        dontFragment: true, moreFragments: false, fragmentOffset: 0,
      });
      expect(reply!.ip).toMatchObject({
        version: 4, headerLength: 20, totalLength: 84, ttl: 64, protocol: IP_PROTOCOL.ICMP, src: ipB, dst: ipA,
      });

      const req = request!.icmp!;
      const rep = reply!.icmp!;
      expect(req).toMatchObject({ kind: 'echo-request', type: 8, code: 0, sequence: 1 });
      expect(rep).toMatchObject({ kind: 'echo-reply', type: 0, code: 0, sequence: 1 });
      if (req.kind !== 'echo-request' || rep.kind !== 'echo-reply') throw new Error('unreachable');
      expect(rep.identifier).toBe(req.identifier);
      expect(req.data.length).toBe(56);
      expect(Buffer.from(rep.data).equals(Buffer.from(req.data))).toBe(true);

      for (const d of [request!, reply!]) expectChecksumsVerify(d);
    });

    it('the ARP request and reply that preceded the ping decode to the kernel MACs and addresses', () => {
      expectArpExchange(frames);
    });

    it('every frame re-encodes byte-identically: encodeIcmp → encodeIPv4 → encodeEthernet (and encodeArp)', () => {
      expect(frames.length).toBeGreaterThanOrEqual(4);
      expectByteIdentical(frames);
    });

    it('tshark agrees with wirelab frame by frame', async () => {
      await expectTsharkAgrees(cap, frames);
    });
  });

  // -------------------------------------------------------------------------
  describe('802.1Q and stacked 802.1ad (QinQ) tagged frames on the parent veth', () => {
    const C_TAG_42: VlanTag = { tpid: 0x8100, pcp: 0, dei: false, vid: 42 };
    const S_TAG_100: VlanTag = { tpid: 0x88a8, pcp: 0, dei: false, vid: 100 };
    /** 'kernel': Linux VLAN devices tagged the frames. 'injected': see below. */
    let source: 'kernel' | 'injected';
    let cap: CaptureResult<unknown>;
    let frames: Dissected[];
    /** Injected mode: the exact frames we sent, in order. */
    let sent: Uint8Array[] = [];
    /** Injected mode: the untagged kernel frames the tagged ones were made from. */
    let originals: Dissected[] = [];

    beforeAll(async () => {
      const { a, b } = pair;
      const probe = await exec(a.ns, ['ip', 'link', 'add', 'link', a.iface, 'name', `${a.iface}.42`, 'type', 'vlan', 'id', '42']);
      if (probe.code === 0) {
        // The kernel has 802.1Q (CONFIG_VLAN_8021Q): let it tag real pings.
        source = 'kernel';
        await exec(b.ns, ['ip', 'link', 'add', 'link', b.iface, 'name', `${b.iface}.42`, 'type', 'vlan', 'id', '42'], { check: true });
        for (const [end, host] of [[a, 1], [b, 2]] as const) {
          const sub = `${end.iface}.42`;
          // S-tag 100 carrying C-tag 42: names kept short (≤ 15 characters).
          await exec(end.ns, ['ip', 'link', 'add', 'link', end.iface, 'name', 'sv100', 'type', 'vlan', 'protocol', '802.1ad', 'id', '100'], { check: true });
          await exec(end.ns, ['ip', 'link', 'add', 'link', 'sv100', 'name', 'sv100.42', 'type', 'vlan', 'id', '42'], { check: true });
          await exec(end.ns, ['ip', 'addr', 'add', `10.199.42.${host}/24`, 'dev', sub], { check: true });
          await exec(end.ns, ['ip', 'addr', 'add', `10.199.43.${host}/24`, 'dev', 'sv100.42'], { check: true });
          for (const dev of [sub, 'sv100', 'sv100.42']) {
            await exec(end.ns, ['ip', 'link', 'set', dev, 'up'], { check: true });
            await disableOffloads(end.ns, dev).catch(() => undefined); // VLAN devices inherit the parent's features
          }
        }
        cap = await capture(a.ns, a.iface, async () => {
          await exec(a.ns, ['ping', '-c', '1', '-W', '2', '10.199.42.2'], { check: true, timeoutMs: 5_000 });
          await exec(a.ns, ['ping', '-c', '1', '-W', '2', '10.199.43.2'], { check: true, timeoutMs: 5_000 });
        });
      } else {
        // This kernel cannot create VLAN devices (no CONFIG_VLAN_8021Q, so no
        // bridge VLAN filtering or act_vlan either). Take the kernel's own
        // untagged ARP request and echo request, insert the tags, send them
        // from A through a packet socket, and capture them where the kernel
        // received them in B: the kernel's receive path strips the outer tag
        // into skb metadata and libpcap puts it back, so the capture shows
        // tagged frames as Linux sees them, with the kernel's own IPv4 inside.
        source = 'injected';
        expect(probe.stderr).toMatch(/Unknown device type|not supported/i);
        await forgetNeighbours();
        const plain = await capture(a.ns, a.iface, () =>
          exec(a.ns, ['ping', '-c', '1', '-W', '2', b.ip], { check: true, timeoutMs: 5_000 }),
        );
        const plainFrames = dissectCapture(plain.bytes);
        const arpRequest = plainFrames.find((d) => d.arp?.operation === ARP_OP.REQUEST);
        const echoRequest = plainFrames.find((d) => d.icmp?.type === ICMP_TYPE.ECHO_REQUEST);
        expect(arpRequest, 'kernel ARP request').toBeDefined();
        expect(echoRequest, 'kernel echo request').toBeDefined();
        originals = [arpRequest!, echoRequest!, arpRequest!, echoRequest!];
        // Tags written by hand (not by wirelab's encoder): TPID then TCI, big-endian.
        const cTag = Uint8Array.of(0x81, 0x00, 0x00, 42);
        const sTag = Uint8Array.of(0x88, 0xa8, 0x00, 100);
        const withTags = (f: Uint8Array, ...tags: Uint8Array[]): Uint8Array =>
          Uint8Array.from([...f.subarray(0, 12), ...tags.flatMap((t) => [...t]), ...f.subarray(12)]);
        sent = [
          withTags(arpRequest!.bytes, cTag),
          withTags(echoRequest!.bytes, cTag),
          withTags(arpRequest!.bytes, sTag, cTag),
          withTags(echoRequest!.bytes, sTag, cTag),
        ];
        const script =
          'import socket,sys\n' +
          's=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n' +
          's.bind((sys.argv[1],0))\n' +
          'for h in sys.argv[2:]: s.send(bytes.fromhex(h))\n';
        cap = await capture(b.ns, b.iface, () =>
          exec(a.ns, ['python3', '-c', script, a.iface, ...sent.map((f) => Buffer.from(f).toString('hex'))], { check: true }),
        );
      }
      expect(cap.tcpdumpStderr).toMatch(/\b0 packets dropped by kernel/);
      frames = dissectCapture(cap.bytes);
    });

    it('an 802.1Q frame decodes to exactly one tag, TPID 0x8100 vid 42, with its inner ARP or IPv4 decoding', async ({ annotate }) => {
      await annotate(`tag source: ${source === 'kernel' ? 'Linux VLAN device' : 'kernel frames re-sent with a hand-written tag (kernel lacks 802.1Q)'}`);
      const single = frames.filter((d) => d.eth.tags.length === 1);
      expect(single.length).toBeGreaterThanOrEqual(2);
      for (const d of single) {
        expect(d.eth.tags).toEqual([C_TAG_42]);
        expect(d.eth.headerLength).toBe(18);
        expect([ETHERTYPE.ARP, ETHERTYPE.IPV4]).toContain(d.eth.etherType);
        expect(d.arp ?? d.ip, `inner packet of frame ${d.index + 1}`).toBeDefined();
        expectChecksumsVerify(d);
      }
      if (source === 'kernel') {
        const echo = single.find((d) => d.icmp?.type === ICMP_TYPE.ECHO_REQUEST);
        expect(echo?.ip).toMatchObject({ src: parseIPv4('10.199.42.1'), dst: parseIPv4('10.199.42.2'), ttl: 64 });
      } else {
        // Exactly what we sent, and the inner bytes are the kernel's untagged payload.
        expect(frames.length).toBe(sent.length);
        frames.forEach((d, i) => {
          expect(Buffer.from(d.bytes).equals(Buffer.from(sent[i]!)), `frame ${i + 1} as sent`).toBe(true);
          expect(Buffer.from(d.eth.payload).equals(Buffer.from(originals[i]!.eth.payload))).toBe(true);
          expect(d.eth.etherType).toBe(originals[i]!.eth.etherType);
        });
      }
    });

    it('a QinQ frame decodes to tags [0x88a8/100, 0x8100/42] outermost first, with its inner ARP or IPv4 decoding', () => {
      const stacked = frames.filter((d) => d.eth.tags.length === 2);
      expect(stacked.length).toBeGreaterThanOrEqual(2);
      for (const d of stacked) {
        expect(d.eth.tags).toEqual([S_TAG_100, C_TAG_42]);
        expect(d.eth.headerLength).toBe(22);
        expect(d.arp ?? d.ip, `inner packet of frame ${d.index + 1}`).toBeDefined();
        expectChecksumsVerify(d);
      }
      if (source === 'kernel') {
        const echo = stacked.find((d) => d.icmp?.type === ICMP_TYPE.ECHO_REQUEST);
        expect(echo?.ip).toMatchObject({ src: parseIPv4('10.199.43.1'), dst: parseIPv4('10.199.43.2') });
      }
    });

    it('every tagged frame re-encodes byte-identically, tags included', () => {
      expect(frames.every((d) => d.eth.tags.length > 0)).toBe(true);
      expectByteIdentical(frames);
    });

    it('tshark agrees with wirelab frame by frame (vlan.id, ieee8021ad.id and the inner fields)', async () => {
      await expectTsharkAgrees(cap, frames);
    });
  });

  // -------------------------------------------------------------------------
  describe('kernel TCP handshake and a few bytes (nc), captured in A', () => {
    const message = 'wirelab says hi\n';
    let cap: CaptureResult<unknown>;
    let frames: Dissected[];
    let segments: Dissected[];
    let port: number;

    beforeAll(async () => {
      const { a, b } = pair;
      port = 20_000 + Math.floor(Math.random() * 30_000);
      await forgetNeighbours();
      const server = spawn(b.ns, ['nc', '-l', b.ip, String(port)]);
      // Wait until the kernel lists the socket as listening.
      for (let i = 0; ; i++) {
        const ss = await exec(b.ns, ['ss', '-Hltn', `sport = :${port}`], { check: true });
        if (ss.stdout.includes(`:${port}`)) break;
        if (i > 100 || !server.running) throw new Error(`nc -l ${port} never listened: ${server.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      cap = await capture(a.ns, a.iface, () =>
        exec(a.ns, ['nc', '-N', '-w', '3', b.ip, String(port)], { input: message, check: true, timeoutMs: 8_000 }),
      );
      const served = await Promise.race([server.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3_000))]);
      expect(served?.stdout, 'what nc -l received').toBe(message);
      expect(cap.tcpdumpStderr).toMatch(/\b0 packets dropped by kernel/);
      frames = dissectCapture(cap.bytes);
      segments = frames.filter((d) => d.tcp !== undefined);
    });

    it("the SYN carries Linux's options in order [mss, sack-permitted, timestamps, nop, wscale] with MSS 1460 on a 1500-byte MTU", () => {
      const syn = segments[0]!;
      expect(syn.tcp).toMatchObject({ dstPort: port, flags: TCP_FLAG.SYN, ack: 0, dataOffset: 10 });
      expect(syn.ip).toMatchObject({ src: parseIPv4(pair.a.ip), dst: parseIPv4(pair.b.ip), ttl: 64, protocol: 6, dontFragment: true });
      expect(syn.tcp!.options.map((o) => o.kind)).toEqual(['mss', 'sack-permitted', 'timestamps', 'nop', 'wscale']);
      expect(syn.tcp!.options[0]).toEqual({ kind: 'mss', value: 1460 });
      expect(syn.tcp!.optionBytes.length).toBe(20);
      const wscale = syn.tcp!.options[4];
      expect(wscale?.kind === 'wscale' && wscale.shift).toBeGreaterThanOrEqual(0);
    });

    it('SYN, SYN-ACK and ACK follow with matching seq/ack and timestamp echo; the data and FINs advance seq by their length', () => {
      const [syn, synAck, ack] = segments.map((d) => d.tcp!);
      expect(synAck).toMatchObject({ srcPort: port, dstPort: syn!.srcPort, flags: TCP_FLAG.SYN | TCP_FLAG.ACK, ack: (syn!.seq + 1) >>> 0 });
      expect(synAck!.options.map((o) => o.kind)).toEqual(['mss', 'sack-permitted', 'timestamps', 'nop', 'wscale']);
      expect(synAck!.options[0]).toEqual({ kind: 'mss', value: 1460 });
      const synTs = syn!.options.find((o) => o.kind === 'timestamps');
      const synAckTs = synAck!.options.find((o) => o.kind === 'timestamps');
      if (synTs?.kind !== 'timestamps' || synAckTs?.kind !== 'timestamps') throw new Error('timestamps missing');
      expect(synAckTs.echo).toBe(synTs.value);
      expect(ack).toMatchObject({
        srcPort: syn!.srcPort, flags: TCP_FLAG.ACK, seq: (syn!.seq + 1) >>> 0, ack: (synAck!.seq + 1) >>> 0,
      });
      expect(ack!.payload.length).toBe(0);

      // The client's data, then the server acknowledges exactly its length.
      const fromA = segments.filter((d) => d.tcp!.dstPort === port).map((d) => d.tcp!);
      const fromB = segments.filter((d) => d.tcp!.srcPort === port).map((d) => d.tcp!);
      const data = fromA.find((s) => s.payload.length > 0);
      expect(Buffer.from(data!.payload).toString()).toBe(message);
      expect(data!.seq).toBe((syn!.seq + 1) >>> 0);
      expect(data!.flags & TCP_FLAG.PSH).toBe(TCP_FLAG.PSH);
      const dataEnd = (data!.seq + message.length) >>> 0;
      expect(fromB.some((s) => s.ack === dataEnd)).toBe(true);
      // nc -N shuts down after stdin's EOF: A's FIN sits right after the data, and B acknowledges it.
      const finA = fromA.find((s) => (s.flags & TCP_FLAG.FIN) !== 0);
      expect(finA?.seq).toBe(dataEnd);
      expect(fromB.some((s) => s.ack === ((dataEnd + 1) >>> 0))).toBe(true);
    });

    it('every segment checksum verifies with the pseudo-header, and the ARP exchange before the SYN decodes', () => {
      expect(segments.length).toBeGreaterThanOrEqual(6);
      for (const d of segments) {
        expect(d.ip).toMatchObject({ ttl: 64, protocol: IP_PROTOCOL.TCP });
        expectChecksumsVerify(d);
      }
      expectArpExchange(frames);
    });

    it('every frame (ARP and TCP) re-encodes byte-identically: encodeTcp → encodeIPv4 → encodeEthernet', () => {
      expectByteIdentical(frames);
    });

    it('tshark agrees with wirelab frame by frame (flags, seq/ack, MSS, window scale, checksum status)', async () => {
      await expectTsharkAgrees(cap, frames);
    });
  });
});
