/**
 * Capture filters: the parser (precedence, repeated qualifiers, errors with
 * columns, hostile text), and the part that matters, a differential test
 * against the real tcpdump: a few hundred varied frames (ARP, RARP, ICMP,
 * TCP, UDP, SCTP, IP options, fragments, VLAN and QinQ tags, runts and
 * snaplen-truncated records) are written to pcap files, tcpdump filters each
 * file with every expression (`-r in -w out`), and the frames it kept must be
 * exactly those `matches` accepts. Plus a fast-check property that `matches`
 * never throws on random bytes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCaptureFilter, type CaptureFilter } from '../../src/link/capture-filter.js';
import { PcapWriter, readCapture, type CaptureRecord } from '../../src/link/pcap.js';
import { SeededRandom } from '../../src/link/random.js';
import { parseIPv4, parseMac } from '../../src/wire/address.js';
import { ARP_OP, arpPacket, encodeArp } from '../../src/wire/arp.js';
import { encodeEthernet, type VlanTag } from '../../src/wire/ethernet.js';
import { encodeIcmp } from '../../src/wire/icmp.js';
import { encodeIPv4 } from '../../src/wire/ipv4.js';
import { encodeTcp } from '../../src/wire/tcp.js';
import { encodeUdp } from '../../src/wire/udp.js';

// ---------------------------------------------------------------------------
// Frames

const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:42:ac:11:00:02', 'ff:ff:ff:ff:ff:ff'].map(parseMac);
const ADDRS = ['10.0.0.1', '10.0.0.2', '10.0.1.5', '192.168.1.1', '172.16.0.9'].map(parseIPv4);
const PORTS = [80, 443, 53, 22, 8080, 1024, 2047, 2048, 5000];
const VIDS = [10, 20, 100];
const TPIDS = [0x8100, 0x88a8, 0x9100];

/** Whole frames, and the same list with some cut short (runts, frames ending inside a header). */
function buildFrames(): { whole: Uint8Array[]; mixed: Uint8Array[] } {
  const rnd = new SeededRandom(7);
  const pick = <T>(xs: readonly T[]): T => xs[rnd.nextInt(xs.length)]!;
  const port = (): number => (rnd.next() < 0.8 ? pick(PORTS) : rnd.nextInt(65536));
  const tags = (): VlanTag[] => {
    const r = rnd.next();
    const tag = (): VlanTag => ({ tpid: pick(TPIDS), pcp: rnd.nextInt(8), dei: false, vid: pick(VIDS) });
    return r < 0.65 ? [] : r < 0.9 ? [tag()] : [tag(), tag()];
  };
  const whole: Uint8Array[] = [];
  const mixed: Uint8Array[] = [];
  for (let i = 0; i < 420; i++) {
    const src = pick(ADDRS);
    const dst = pick(ADDRS);
    // Unique bytes per frame, and lengths on both sides of `greater`/`less`.
    const marker = new Uint8Array(3 + rnd.nextInt(120)).map(() => rnd.nextInt(256));
    marker[0] = i >> 8;
    marker[1] = i & 0xff;
    const kind = rnd.nextInt(10);
    let etherType = 0x0800;
    let payload: Uint8Array;
    if (kind <= 1) {
      // ARP or RARP: `host` and `net` match their protocol addresses too.
      etherType = rnd.next() < 0.8 ? 0x0806 : 0x8035;
      payload = encodeArp(arpPacket(rnd.next() < 0.5 ? ARP_OP.REQUEST : ARP_OP.REPLY, pick(MACS), src, 0, dst));
    } else if (kind === 2) {
      // Not IP at all (local experimental EtherType).
      etherType = 0x88b5;
      payload = new Uint8Array(46).map(() => rnd.nextInt(256));
    } else {
      const protocol = pick([1, 6, 6, 17, 17, 132]);
      let transport: Uint8Array;
      if (protocol === 6) {
        transport = encodeTcp({ srcPort: port(), dstPort: port(), seq: i, ack: 0, flags: 0x02, window: 1024 }, marker, { src, dst });
      } else if (protocol === 17) {
        transport = encodeUdp({ srcPort: port(), dstPort: port() }, marker, { src, dst });
      } else if (protocol === 132) {
        // SCTP common header: ports, verification tag, checksum (unchecked by filters).
        transport = new Uint8Array(12 + marker.length);
        new DataView(transport.buffer).setUint16(0, port());
        new DataView(transport.buffer).setUint16(2, port());
        transport.set(marker, 12);
      } else {
        transport = encodeIcmp({ kind: 'echo-request', identifier: i, sequence: 1, data: marker });
      }
      const r = rnd.next();
      // Fragments: a first fragment (MF, offset 0) still carries the ports; a later one does not.
      const fragmentOffset = r < 0.12 ? 8 * (1 + rnd.nextInt(100)) : 0;
      const moreFragments = r < 0.2;
      const options = rnd.next() < 0.15 ? new Uint8Array([1, 1, 1, 1, 1, 1, 1, 0]) : new Uint8Array(0);
      payload = encodeIPv4(
        { dscp: 0, ecn: 0, identification: i, dontFragment: false, moreFragments, reservedFlag: false, fragmentOffset, ttl: 64, protocol, src, dst, options },
        transport,
      );
    }
    const frame = encodeEthernet({ dst: pick(MACS), src: pick(MACS), tags: tags(), etherType }, payload);
    // Runts and cut frames: every filter must read past their end somewhere.
    whole.push(frame);
    mixed.push(rnd.next() < 0.2 ? frame.subarray(0, rnd.nextInt(frame.length)) : frame);
  }
  return { whole, mixed };
}

const FILTERS = [
  '',
  'arp',
  'ip',
  'icmp',
  'tcp',
  'udp',
  'not tcp',
  '! ip',
  'host 10.0.0.1',
  'src host 10.0.0.2',
  'dst host 192.168.1.1',
  'net 10.0.0.0/16',
  'src net 10.0.0.0/8',
  'dst net 172.16.0.0/12',
  'net 192.168.1.1',
  'port 80',
  'src port 443',
  'dst port 53',
  'portrange 1024-2047',
  'portrange 2047-1024',
  'tcp port 80',
  'udp port 53',
  'tcp src port 8080',
  'udp dst portrange 1000-6000',
  'port 80 or 443',
  'host 10.0.0.1 or 10.0.0.2',
  'tcp dst port 80 or not 443',
  'host 10.0.0.1 and (10.0.0.2 or 10.0.1.5)',
  'ether host 02:00:00:00:00:01',
  'ether src 02:42:ac:11:00:02',
  'ether dst ff:ff:ff:ff:ff:ff',
  'ether dst host 02:00:00:00:00:02 and ip',
  'vlan',
  'vlan 10',
  'vlan and ip',
  'vlan 20 and tcp port 80',
  'vlan and vlan 100',
  'vlan or ip',
  'vlan and (arp or udp)',
  'greater 100',
  'less 60',
  'tcp or udp and port 80',
  'tcp and port 80 or icmp',
  'not (tcp or udp) and ip',
  'not arp and not ip',
  'ip && !(host 10.0.0.1 || port 22)',
  'not not udp',
  'arp or (vlan and arp)',
];

// ---------------------------------------------------------------------------
// tcpdump

let dir = '';
const { whole, mixed } = buildFrames();
/**
 * Whole frames are compared with tcpdump as it runs by default. Files with
 * cut frames (runts, and a 42-byte snap length that leaves caplen < wire
 * length) are compared with `tcpdump -O`, libpcap's program unoptimized: its
 * optimizer may accept a frame cut short that the program as written rejects
 * (`host A or B` with the source B and the frame ending inside the
 * destination: the optimized code tests B before loading the destination).
 * The compiled filter follows the program as written.
 */
const FILES = [
  { name: 'whole.pcap', frames: whole, snaplen: 262144, tcpdumpFlags: [] as string[] },
  { name: 'runts.pcap', frames: mixed, snaplen: 262144, tcpdumpFlags: ['-O'] },
  { name: 'snaplen42.pcap', frames: whole, snaplen: 42, tcpdumpFlags: ['-O'] },
];

/** Identifies a record by its bytes and wire length (identical records always get the same verdict). */
function keyOf(data: Uint8Array, wireLength: number): string {
  return `${Buffer.from(data).toString('hex')}/${wireLength}`;
}

function readRecords(path: string): CaptureRecord[] {
  const r = readCapture(readFileSync(path));
  if (!r.ok) throw new Error(`cannot read ${path}: ${r.message}`);
  return r.value.records;
}

function tcpdumpKeeps(input: string, flags: string[], filter: string): string[] {
  const out = join(dir, 'out.pcap');
  const run = spawnSync('/usr/bin/tcpdump', [...flags, '-r', input, '-w', out, filter], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`tcpdump '${filter}' failed: ${run.stderr}`);
  return readRecords(out).map((rec) => keyOf(rec.data, rec.originalLength)).sort();
}

function filterKeeps(records: CaptureRecord[], f: CaptureFilter): string[] {
  return records.filter((rec) => f.matches(rec.data, 0, rec.capturedLength, rec.originalLength)).map((rec) => keyOf(rec.data, rec.originalLength)).sort();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wirelab-capture-filter-'));
  for (const { name, frames, snaplen } of FILES) {
    const w = new PcapWriter(join(dir, name), { snaplen, now: () => 1_704_067_200_000_000_000n });
    for (const f of frames) w.write(f);
    await w.close();
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('capture filters agree with tcpdump', () => {
  for (const { name, frames, tcpdumpFlags } of FILES) {
    for (const text of FILTERS) {
      it(`${name}: '${text}'`, () => {
        const input = join(dir, name);
        const records = readRecords(input);
        expect(records.length).toBe(frames.length);
        const expected = tcpdumpKeeps(input, tcpdumpFlags, text);
        const actual = filterKeeps(records, compileCaptureFilter(text));
        expect(actual.length).toBe(expected.length);
        expect(actual).toEqual(expected);
      });
    }
  }

  it('the frames exercise every filter both ways (each keeps some and drops some)', () => {
    const records = readRecords(join(dir, 'whole.pcap'));
    for (const text of FILTERS.filter((t) => t !== '')) {
      const kept = filterKeeps(records, compileCaptureFilter(text)).length;
      expect(kept, text).toBeGreaterThan(0);
      expect(kept, text).toBeLessThan(records.length);
    }
  });
});

// ---------------------------------------------------------------------------
// Parser

/** A minimal untagged IPv4/UDP frame from 10.0.0.1:1000 to 10.0.0.2:port. */
function udpFrame(dstPort: number): Uint8Array {
  const src = parseIPv4('10.0.0.1');
  const dst = parseIPv4('10.0.0.2');
  const ip = encodeIPv4(
    { dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false, fragmentOffset: 0, ttl: 64, protocol: 17, src, dst, options: new Uint8Array(0) },
    encodeUdp({ srcPort: 1000, dstPort }, new Uint8Array(4), { src, dst }),
  );
  return encodeEthernet({ dst: MACS[0]!, src: MACS[1]!, tags: [], etherType: 0x0800 }, ip);
}
const m = (text: string, frame: Uint8Array): boolean => compileCaptureFilter(text).matches(frame, 0, frame.length);

describe('capture filter syntax', () => {
  it('and/or have equal precedence, left to right; not binds tightest', () => {
    const f = udpFrame(53);
    // (arp or udp) and tcp: false. With and binding tighter it would be arp or (udp and tcp): also false, so use icmp/udp:
    expect(m('udp or arp and tcp', f)).toBe(false); // (udp or arp) and tcp
    expect(m('tcp and arp or udp', f)).toBe(true); // (tcp and arp) or udp
    expect(m('udp or (arp and tcp)', f)).toBe(true);
    expect(m('not udp or ip', f)).toBe(true); // (not udp) or ip
    expect(m('not (udp or ip)', f)).toBe(false);
    expect(m('! udp && ip', f)).toBe(false);
  });

  it('a bare value after and/or repeats the qualifiers before it', () => {
    expect(m('port 80 or 53', udpFrame(53))).toBe(true);
    expect(m('udp dst port 80 or 53', udpFrame(53))).toBe(true);
    expect(m('dst port 1000 or 54', udpFrame(53))).toBe(false); // dst repeated: src port 1000 does not count
    expect(m('port 53 and not 1000', udpFrame(53))).toBe(false);
    expect(m('host 10.0.0.9 or (10.0.0.1)', udpFrame(53))).toBe(true);
    expect(() => compileCaptureFilter('tcp or 80')).toThrow(/"80" at column 8 has no qualifier/);
    expect(() => compileCaptureFilter('vlan 10 or 20')).toThrow(/"20" at column 12 has no qualifier/);
  });

  it('the empty filter matches everything, as tcpdump', () => {
    expect(compileCaptureFilter('  ').matches(new Uint8Array(0), 0, 0)).toBe(true);
  });

  it('greater/less test the wire length, reads test the captured length', () => {
    const f = udpFrame(53);
    const g = compileCaptureFilter('greater 100');
    expect(g.matches(f, 0, f.length)).toBe(false);
    expect(g.matches(f, 0, 40, 1500)).toBe(true);
    expect(compileCaptureFilter('port 53').matches(f, 0, 36, f.length)).toBe(false);
    expect(compileCaptureFilter('less 100').matches(f, 0, f.length)).toBe(true);
  });

  it('matches at an offset into a larger buffer and never past `len`', () => {
    const f = udpFrame(53);
    const slab = new Uint8Array(f.length + 20);
    slab.set(f, 7);
    expect(compileCaptureFilter('udp port 53').matches(slab, 7, f.length)).toBe(true);
    expect(compileCaptureFilter('udp port 53').matches(slab, 7, 35)).toBe(false);
    expect(compileCaptureFilter('not udp').matches(slab, 7, 13)).toBe(false); // EtherType unreadable: rejected as BPF does
    expect(compileCaptureFilter('ip').matches(slab, 7, -1)).toBe(false);
    expect(compileCaptureFilter('ip').matches(slab, slab.length + 1, 10)).toBe(false);
  });

  const ERRORS: [string, RegExp][] = [
    ['tcp[13] & 2', /^capture filter "tcp\[13\] & 2": "\[" at column 4 is not supported \(supported: host, net, port, portrange, src, dst, ether, vlan, arp, ip, icmp, tcp, udp, greater, less, and, or, not, parentheses\)$/],
    ['ip6', /"ip6" at column 1 is not supported \(supported: host/],
    ['ip and gateway 10.0.0.1', /"gateway" at column 8 is not supported/],
    ['ip proto 6', /"proto" at column 4 where and, or or the end/],
    ['port http', /expected a decimal port, found "http" at column 6/],
    ['port 080', /expected a decimal port, found "080"/],
    ['port 65536', /"65536" at column 6 is out of range for a port \(at most 65535\)/],
    ['vlan 4096', /"4096" at column 6 is out of range for a VLAN ID/],
    ['host 10.0.0', /expected a dotted-quad IPv4 address like 10.0.0.1, found "10.0.0" at column 6/],
    ['host 10.0.0.0/8', /is a network: write "net"/],
    ['net 10.0.0.1/8', /"10.0.0.1\/8" at column 5 has host bits set/],
    ['net 10.0.0.0/33', /prefix length 0..32/],
    ['ether host 02:00:00:00:00', /expected a MAC address/],
    ['ether 02:00:00:00:00:01', /expected host, src or dst and a MAC address after "ether"/],
    ['tcp src host 10.0.0.1', /expected port or portrange after "tcp src", found "host" at column 9/],
    ['src 10.0.0.1', /expected host, net, port or portrange after "src"/],
    ['host', /expected a value after "host", found the end of the filter \(column 5\)/],
    ['(ip', /expected "\)" to close the "\(" at column 1, found the end of the filter/],
    ['ip)', /"\)" at column 3 has no matching "\("/],
    ['ip and', /expected a primitive .* found the end of the filter \(column 7\)/],
    ['ip ip', /"ip" at column 4 where and, or or the end of the filter was expected/],
    ['portrange 10', /expected a port range like 1024-2047/],
    ['ip and \u0000', /"\\u0000" at column 8 is not supported/],
    ['ip & tcp', /"&" at column 4 is not supported/],
    ['TCP', /"TCP" at column 1 is not supported/],
    ['80', /"80" at column 1 has no qualifier/],
  ];
  for (const [text, message] of ERRORS) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      expect(() => compileCaptureFilter(text)).toThrow(message);
    });
  }

  it('refuses hostile text with an Error, not a stack overflow', () => {
    expect(() => compileCaptureFilter('('.repeat(100_000) + 'ip' + ')'.repeat(100_000))).toThrow(/characters long; at most 65536/);
    expect(() => compileCaptureFilter('('.repeat(65) + 'ip' + ')'.repeat(65))).toThrow(/"\(" at column 65 nests deeper than 64 levels/);
    expect(() => compileCaptureFilter('not '.repeat(1000) + 'ip')).toThrow(/nests deeper than 64/);
    expect(() => compileCaptureFilter('!'.repeat(60_000))).toThrow(/nests deeper than 64/);
    expect(() => compileCaptureFilter('ip or ip and '.repeat(300) + 'ip')).toThrow(/alternates and\/or more than 256 times/);
    expect(() => compileCaptureFilter('x'.repeat(70_000))).toThrow(/at most 65536/);
    // Long flat chains are fine: one operator is one node, evaluated in a loop.
    const many = compileCaptureFilter(Array.from({ length: 3000 }, (_, i) => `host 10.0.${i >> 8}.${i & 0xff}`).join(' or '));
    expect(many.matches(udpFrame(1), 0, udpFrame(1).length)).toBe(true);
    expect(compileCaptureFilter('('.repeat(64) + 'udp' + ')'.repeat(64)).matches(udpFrame(1), 0, udpFrame(1).length)).toBe(true);
  });

  it('matches never throws on random bytes, offsets and lengths', () => {
    const compiled = FILTERS.map(compileCaptureFilter);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -5, max: 130 }), fc.integer({ min: -5, max: 130 }), (bytes, off, len) => {
        for (const f of compiled) {
          expect(typeof f.matches(bytes, off, len)).toBe('boolean');
          f.matches(bytes, 0, bytes.length);
        }
      }),
      { numRuns: 500 },
    );
  });
});
