/**
 * bench/wire: micro benchmarks (benny) of the codecs every frame meets.
 *
 *  - decoding an Ethernet/IPv4/TCP frame (with a Linux SYN's options), as a
 *    full representation (the reference) and through the hot-path accessors;
 *  - the RFC 1071 checksum over 1500 and 65535 bytes, wirelab's 32-bit-word
 *    fast path against a textbook 16-bit loop in the same run.
 *
 *   npm run bench -- wire [--seconds S]
 *
 * --seconds is benchmark.js's maxTime per case (its default, 5 s, unless
 * given; a fraction such as 0.2 makes a quick smoke run).
 */
import b from 'benny';
import { decodeEthernet, encodeEthernet, ETHERTYPE, type EthernetHeader } from '../src/wire/ethernet.js';
import { decodeIPv4, encodeIPv4, IP_PROTOCOL, type IPv4Header } from '../src/wire/ipv4.js';
import { decodeTcp, encodeTcp, TCP_FLAG, type IpPair, type TcpHeader } from '../src/wire/tcp.js';
import { internetChecksum } from '../src/wire/checksum.js';
import { parseIPv4, parseMac } from '../src/wire/address.js';
import { printRows, writeResult, wroteLine, type BenchRow } from './results.js';
import { parseBenchArgs } from './lib/args.js';

function textbookChecksum(buf: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (buf.length & 1) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The headers of the frame the codec benchmarks use: a Linux SYN (MSS, SACK-permitted, timestamps, window scale), 10.0.0.1:40000 -> 10.0.0.2:80. */
export interface SampleHeaders {
  eth: EthernetHeader;
  ip: IPv4Header;
  tcp: TcpHeader;
  pair: IpPair;
}

export function sampleHeaders(): SampleHeaders {
  const src = parseIPv4('10.0.0.1');
  const dst = parseIPv4('10.0.0.2');
  return {
    eth: { dst: parseMac('02:00:00:00:00:02'), src: parseMac('02:00:00:00:00:01'), tags: [], etherType: ETHERTYPE.IPV4 },
    ip: {
      dscp: 0, ecn: 0, identification: 1, dontFragment: true, moreFragments: false, reservedFlag: false,
      fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL.TCP, src, dst, options: new Uint8Array(0),
    },
    tcp: {
      srcPort: 40000,
      dstPort: 80,
      seq: 123456,
      ack: 0,
      flags: TCP_FLAG.SYN,
      window: 64240,
      urgentPointer: 0,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sack-permitted' },
        { kind: 'timestamps', value: 1, echo: 0 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
      ],
    },
    pair: { src, dst },
  };
}

const EMPTY = new Uint8Array(0);

/** Encodes the TCP segment, the IPv4 datagram around it and the Ethernet frame around that, checksums included. */
export function encodeSample(h: SampleHeaders): Uint8Array {
  return encodeEthernet(h.eth, encodeIPv4(h.ip, encodeTcp(h.tcp, EMPTY, h.pair)));
}

export function sampleFrame(): Uint8Array {
  return encodeSample(sampleHeaders());
}

interface BennyResult { name: string; ops: number }

async function suite(name: string, cases: Record<string, () => unknown>, maxTime: number): Promise<BennyResult[]> {
  const summary = (await b.suite(
    name,
    ...Object.entries(cases).map(([n, fn]) => b.add(n, fn, { maxTime })),
    b.cycle(),
  )) as unknown as { results: BennyResult[] };
  return summary.results;
}

export const FLAGS = {
  seconds: { type: 'number', default: 5, min: 0.1, max: 60, help: 'time per case (benchmark.js maxTime)' },
} as const;

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('wire', args, FLAGS);
  const maxTime = opts.flags.seconds;
  const frame = sampleFrame();
  let sink = 0;
  const decode = await suite('decode ethernet/ipv4/tcp', {
    'decode eth/ipv4/tcp (representation)': () => {
      const e = decodeEthernet(frame);
      if (!e.ok) throw new Error('bad frame');
      const ip = decodeIPv4(e.value.payload);
      if (!ip.ok) throw new Error('bad ip');
      const t = decodeTcp(ip.value.payload, { src: ip.value.src, dst: ip.value.dst });
      if (!t.ok) throw new Error('bad tcp');
      sink += t.value.dstPort;
    },
    'decode eth/ipv4/tcp (no checksum verify)': () => {
      const e = decodeEthernet(frame);
      if (!e.ok) throw new Error('bad frame');
      const ip = decodeIPv4(e.value.payload, { verifyChecksum: false });
      if (!ip.ok) throw new Error('bad ip');
      const t = decodeTcp(ip.value.payload, { verifyChecksum: false });
      if (!t.ok) throw new Error('bad tcp');
      sink += t.value.dstPort;
    },
  }, maxTime);
  const sizes = [1500, 65535];
  const checks: BennyResult[] = [];
  for (const size of sizes) {
    const data = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
    checks.push(
      ...(await suite(`checksum ${size} bytes`, {
        [`textbook 16-bit loop, ${size} B`]: () => (sink ^= textbookChecksum(data)),
        [`wirelab checksum, ${size} B`]: () => (sink ^= internetChecksum(data)),
      }, maxTime)),
    );
  }
  if (sink === 0.5) process.stdout.write('');
  const rows: BenchRow[] = [];
  const refDecode = decode[0]!;
  for (const r of decode) rows.push({ path: r.name, metric: 'ops/s', value: r.ops, reference: refDecode.name, ratio: r.ops / refDecode.ops });
  for (let i = 0; i < checks.length; i += 2) {
    const ref = checks[i]!;
    for (const r of [ref, checks[i + 1]!]) rows.push({ path: r.name, metric: 'ops/s', value: r.ops, reference: ref.name, ratio: r.ops / ref.ops });
  }
  // Throughput in Gbit/s makes the checksum figures comparable to link speeds.
  for (const r of rows.filter((x) => x.path.startsWith('wirelab checksum'))) {
    const bytes = Number(/(\d+) B/.exec(r.path)![1]);
    process.stdout.write(`${r.path}: ${((r.value * bytes * 8) / 1e9).toFixed(2)} Gbit/s\n`);
  }
  printRows(rows);
  process.stdout.write(wroteLine(writeResult({ bench: 'wire', rows }, opts), opts));
}
