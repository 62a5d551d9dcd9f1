/**
 * bench/micro: micro benchmarks (benny) of the operations every packet pays
 * for, each in operations per second, each compared with its own previous
 * committed result so a regression shows up as a negative change:
 *
 *   codec      decode (with and without checksum checks) and encode of an
 *              Ethernet/IPv4/TCP SYN, the frame bench/wire uses;
 *   checksum   the RFC 1071 checksum over 1500 and 65535 bytes;
 *   fdb        the switch datapath's `Fdb.lookupHalves` with 1k and 8k
 *              learned MACs, and the `learnHalves` refresh every frame does;
 *   route      `RouteTable.lookup` (longest-prefix match) over 10 and 1000
 *              routes;
 *   conntrack  `Conntrack.find`, the NAT hot path's lookup, over 10k flows,
 *              a hit in either direction and a miss (a new flow);
 *   timer      the heap scheduler: arm+cancel of one timer beside 0 and 10k
 *              armed ones, and re-arming one of 10k (a TCP retransmission
 *              timer re-pointed on every ACK);
 *   tcp        64 KiB between two stacks through a plain pipe (GRO off and
 *              on) and an offload pipe, and a connection's whole life
 *              (bench/lib/micro-tcp.ts).
 *
 * The previous results are bench/results/micro.json, read before anything
 * runs; each row's `reference` names that committed value of the same path
 * and `ratio` is now / then. With no committed row for a path, the row is
 * its own reference (ratio 1). `--seconds` is the budget of the whole run,
 * shared among the chosen benchmarks; `--seconds 2` is a smoke run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import b from 'benny';
import { decodeEthernet } from '../src/wire/ethernet.js';
import { decodeIPv4, IP_PROTOCOL } from '../src/wire/ipv4.js';
import { decodeTcp } from '../src/wire/tcp.js';
import { internetChecksum } from '../src/wire/checksum.js';
import { prefixMask } from '../src/wire/address.js';
import { Fdb, macHi, macLo } from '../src/switch/fdb.js';
import { RouteTable } from '../src/ip/routes.js';
import { Conntrack } from '../src/nat/conntrack.js';
import { newPacketInfo, type PacketInfo } from '../src/nat/packet.js';
import { Timer, VirtualClock } from '../src/time/index.js';
import { committedResultsDir, writeResult, wroteLine, type BenchResult, type BenchRow } from './results.js';
import { BenchExit, parseBenchArgs } from './lib/args.js';
import { encodeSample, sampleFrame, sampleHeaders } from './wire.js';
import { TCP_CASE_COUNT, tcpCases } from './lib/micro-tcp.js';

const GROUPS = ['codec', 'checksum', 'fdb', 'route', 'conntrack', 'timer', 'tcp'] as const;
type Group = (typeof GROUPS)[number];

const FLAGS = {
  seconds: {
    type: 'number',
    default: 30,
    min: 1,
    max: 600,
    help: "the whole run's time budget, shared among the chosen benchmarks (2: a smoke run)",
  },
  only: { type: 'list', meta: 'group,…', choices: GROUPS, help: 'run only these groups' },
} as const;

/** One measured operation: benny calls `fn` once per operation. It must not return a function or a promise (benny would take it for a setup step). */
type Cases = Record<string, () => void>;

/** Deterministic pseudo-random numbers (mulberry32), so every run measures the same tables. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Something the measured code writes so V8 cannot drop it as dead. */
let sink = 0;

// ---------------------------------------------------------------------------
// The groups: each builds its tables, then returns its cases.

function codecCases(): Cases {
  const frame = sampleFrame();
  const headers = sampleHeaders();
  return {
    'codec: decode eth/ipv4/tcp': () => {
      const e = decodeEthernet(frame);
      if (!e.ok) throw new Error('bad frame');
      const ip = decodeIPv4(e.value.payload);
      if (!ip.ok) throw new Error('bad ip');
      const t = decodeTcp(ip.value.payload, { src: ip.value.src, dst: ip.value.dst });
      if (!t.ok) throw new Error('bad tcp');
      sink += t.value.dstPort;
    },
    'codec: decode eth/ipv4/tcp, no checksum verify': () => {
      const e = decodeEthernet(frame);
      if (!e.ok) throw new Error('bad frame');
      const ip = decodeIPv4(e.value.payload, { verifyChecksum: false });
      if (!ip.ok) throw new Error('bad ip');
      const t = decodeTcp(ip.value.payload, { verifyChecksum: false });
      if (!t.ok) throw new Error('bad tcp');
      sink += t.value.dstPort;
    },
    'codec: encode eth/ipv4/tcp': () => {
      sink += encodeSample(headers).length;
    },
  };
}

function checksumCases(): Cases {
  const cases: Cases = {};
  for (const size of [1500, 65535]) {
    const data = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
    cases[`checksum: ${size} B`] = () => {
      sink ^= internetChecksum(data);
    };
  }
  return cases;
}

/** Lookups cycle through every entry, in a shuffled order. */
function fdbCases(): Cases {
  const cases: Cases = {};
  const clock = new VirtualClock();
  for (const [label, n] of [['1k', 1024], ['8k', 8192]] as const) {
    const fdb = new Fdb<number>(clock, { maxEntries: n });
    const random = rng(n);
    // Each MAC as the 6 bytes of a frame's source field, read with the datapath's own macHi/macLo.
    const hi = new Int32Array(n);
    const lo = new Int32Array(n);
    const mac = new Uint8Array(6);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 6; k++) mac[k] = Math.floor(random() * 256);
      mac[0] = (mac[0]! & 0xfc) | 0x02; // unicast, locally administered
      hi[i] = macHi(mac, 0);
      lo[i] = macLo(mac, 0);
      fdb.learnHalves(1, hi[i]!, lo[i]!, i % 8, 0);
    }
    if (fdb.stats.entries !== n) throw new Error(`fdb: ${fdb.stats.entries} entries learned, expected ${n}`);
    const order = shuffled(n, random);
    let i = 0;
    cases[`fdb: lookup, ${label} entries`] = () => {
      const k = order[i]!;
      i = (i + 1) % n;
      sink += fdb.lookupHalves(1, hi[k]!, lo[k]!, 0)!.port;
    };
    if (n === 8192) {
      let j = 0;
      cases[`fdb: learn (refresh), ${label} entries`] = () => {
        const k = order[j]!;
        j = (j + 1) % n;
        sink += fdb.learnHalves(1, hi[k]!, lo[k]!, k % 8, 0);
      };
    }
  }
  return cases;
}

function shuffled(n: number, random: () => number): Int32Array {
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * 10 routes: a host's view (default, a connected /24, a few /16 and /24
 * statics). 1000 routes: a router's, over /8 to /32 so a lookup probes
 * several prefix lengths. Destinations fall inside random routes (a few
 * fall through to the default).
 */
function routeCases(): Cases {
  const cases: Cases = {};
  const lengths = [8, 12, 16, 20, 22, 24, 24, 24, 26, 28, 30, 32];
  for (const n of [10, 1000]) {
    const table = new RouteTable();
    const random = rng(n);
    const prefixes: Array<[number, number]> = [];
    table.add({ dest: 'default', dev: 'eth0' });
    const seen = new Set<string>();
    while (table.size < n) {
      const len = n === 10 ? [16, 24][prefixes.length % 2]! : lengths[Math.floor(random() * lengths.length)]!;
      const prefix = (Math.floor(random() * 2 ** 32) & prefixMask(len)) >>> 0;
      if (seen.has(`${prefix}/${len}`)) continue;
      seen.add(`${prefix}/${len}`);
      table.add({ dest: { prefix, prefixLength: len }, dev: `eth${prefixes.length % 4}` });
      prefixes.push([prefix, len]);
    }
    const dsts = new Uint32Array(1024);
    for (let i = 0; i < dsts.length; i++) {
      if (i % 16 === 15) dsts[i] = Math.floor(random() * 2 ** 32); // most likely the default route
      else {
        const [prefix, len] = prefixes[Math.floor(random() * prefixes.length)]!;
        dsts[i] = (prefix | (Math.floor(random() * 2 ** 32) & ~prefixMask(len))) >>> 0;
      }
    }
    let i = 0;
    cases[`route: lookup, ${n} routes`] = () => {
      sink += table.lookup(dsts[i]!)!.metric;
      i = (i + 1) & 1023;
    };
  }
  return cases;
}

/** 10k UDP flows; a hit alternates between a flow's original and reply direction. */
function conntrackCases(): Cases {
  const n = 10_000;
  const clock = new VirtualClock();
  const ct = new Conntrack(clock);
  const random = rng(n);
  const flow = (src: number, dst: number, sport: number, dport: number): PacketInfo => ({
    ...newPacketInfo(),
    protocol: IP_PROTOCOL.UDP,
    src,
    dst,
    sport,
    dport,
  });
  const hits: PacketInfo[] = [];
  const misses: PacketInfo[] = [];
  const none = new Uint8Array(0);
  for (let i = 0; i < n; i++) {
    const src = (0x0a000000 + Math.floor(random() * 0xffff)) >>> 0; // 10.0.x.y
    const dst = (0xc6336400 + Math.floor(random() * 0xff)) >>> 0; // 198.51.100.z
    const sport = 1024 + Math.floor(random() * 60000);
    const dport = [53, 123, 443, 5353][i % 4]!;
    const p = flow(src, dst, sport, dport);
    if (ct.find(p) !== null) continue; // a repeated tuple: one entry is enough
    const e = ct.create(p, none, 0);
    if (e === null || e === 'invalid') throw new Error('conntrack: could not create an entry');
    ct.insert(e);
    hits.push(i % 2 === 0 ? p : flow(dst, src, dport, sport));
    misses.push(flow(src, dst, sport, 9)); // the discard port: never tracked
  }
  let i = 0;
  let j = 0;
  return {
    'conntrack: lookup hit, 10k entries': () => {
      sink += ct.find(hits[i]!)!.dir;
      i = (i + 1) % hits.length;
    },
    'conntrack: lookup miss, 10k entries': () => {
      if (ct.find(misses[j]!) !== null) throw new Error('conntrack: a miss hit');
      j = (j + 1) % misses.length;
    },
  };
}

/** Deadlines up to a minute ahead, as TCP and conntrack timers have. */
function timerCases(): Cases {
  const random = rng(1);
  const delays = Float64Array.from({ length: 1024 }, () => 1 + Math.floor(random() * 60_000));
  const idle = new VirtualClock();
  const lone = new Timer(idle.timers, () => {});
  const busy = new VirtualClock();
  const armed = Array.from({ length: 10_000 }, () => new Timer(busy.timers, () => {}));
  armed.forEach((t, k) => t.arm(delays[k & 1023]!));
  const extra = new Timer(busy.timers, () => {});
  let i = 0;
  let j = 0;
  let k = 0;
  return {
    'timer: arm+cancel, none other armed': () => {
      lone.arm(delays[i]!);
      lone.cancel();
      i = (i + 1) & 1023;
    },
    'timer: arm+cancel, 10k armed': () => {
      extra.arm(delays[j]!);
      extra.cancel();
      j = (j + 1) & 1023;
    },
    'timer: re-arm one of 10k armed': () => {
      armed[k % 10_000]!.arm(delays[k & 1023]!);
      k++;
    },
  };
}

const SETUP: Record<Group, () => Cases> = {
  codec: codecCases,
  checksum: checksumCases,
  fdb: fdbCases,
  route: routeCases,
  conntrack: conntrackCases,
  timer: timerCases,
  tcp: tcpCases,
};

/** How many cases each group has, to share the time budget before any table is built. */
const CASE_COUNT: Record<Group, number> = { codec: 3, checksum: 2, fdb: 3, route: 2, conntrack: 2, timer: 3, tcp: TCP_CASE_COUNT };

// ---------------------------------------------------------------------------
// Running, comparing, printing

interface Measured {
  path: string;
  ops: number;
  /** Relative margin of error, in %. */
  margin: number;
}

async function runGroup(group: Group, cases: Cases, perCaseSeconds: number): Promise<Measured[]> {
  // benchmark.js samples each case for at least minTime, until maxTime is
  // spent and minSamples are taken: small values keep the whole run short.
  const minSamples = perCaseSeconds < 1 ? 3 : 5;
  const options = { minSamples, maxTime: perCaseSeconds, minTime: Math.min(0.05, perCaseSeconds / (2 * minSamples + 4)), delay: 0 };
  const summary = (await b.suite(
    group,
    ...Object.entries(cases).map(([name, fn]) => b.add(name, fn)),
    b.cycle(),
    b.configure({ cases: options }),
  )) as unknown as { results: Array<{ name: string; ops: number; margin: number }> };
  return summary.results.map((r) => ({ path: r.name, ops: r.ops, margin: r.margin }));
}

/** The committed results, path -> ops/s; empty when there are none yet. */
export function readPrevious(file: string): { values: Map<string, number>; note: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { values: new Map(), note: `no committed results yet (${file}): each row is its own reference` };
  }
  try {
    const prev = JSON.parse(text) as BenchResult;
    const values = new Map(prev.rows.filter((r) => typeof r.value === 'number' && r.value > 0).map((r) => [r.path, r.value]));
    return { values, note: `previous: ${file} (the committed results, ${values.size} rows)` };
  } catch (e) {
    return { values: new Map(), note: `ignoring ${file}: ${(e as Error).message}` };
  }
}

/** The reference a row names when it is compared with its committed value. */
export function committedReference(path: string): string {
  return `${path} (committed)`;
}

function toRows(measured: Measured[], previous: Map<string, number>): BenchRow[] {
  return measured.map((m) => {
    const then = previous.get(m.path);
    return then === undefined
      ? { path: m.path, metric: 'ops/s', value: m.ops, reference: m.path, ratio: 1 }
      : { path: m.path, metric: 'ops/s', value: m.ops, reference: committedReference(m.path), ratio: m.ops / then };
  });
}

const ops = (v: number) => Math.round(v).toLocaleString('en-US');
const pct = (r: number) => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;

/** A slowdown of more than this many percent beyond the run's own margin of error is flagged. */
const FLAG_PCT = 10;

function printTable(measured: Measured[], rows: BenchRow[], previous: Map<string, number>): void {
  const header = ['benchmark', 'ops/s', '±', 'previous', 'change', ''];
  const cells = measured.map((m, i) => {
    const then = previous.get(m.path);
    const ratio = rows[i]!.ratio;
    const slower = then !== undefined && (1 - ratio) * 100 > FLAG_PCT + m.margin;
    return [m.path, ops(m.ops), `${m.margin.toFixed(1)}%`, then === undefined ? '-' : ops(then), then === undefined ? '-' : pct(ratio), slower ? 'slower' : ''];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === 0 || i === 5 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  process.stdout.write(line(header) + '\n' + cells.map(line).join('\n') + '\n');
  const flagged = cells.filter((c) => c[5] !== '').length;
  if (flagged > 0) process.stdout.write(`${flagged} of ${cells.length} benchmarks are more than ${FLAG_PCT}% (beyond their margin) slower than the committed results\n`);
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('micro', args, FLAGS);
  const only = opts.flags.only;
  if (opts.save && only !== undefined) {
    throw new BenchExit('bench/micro: --save records every group, so it cannot be combined with --only (bench/results/micro.json would lose the others)', 2);
  }
  const groups = GROUPS.filter((g) => only === undefined || only.includes(g));
  const previousFile = join(committedResultsDir, 'micro.json');
  const previous = readPrevious(previousFile);
  const total = groups.reduce((s, g) => s + CASE_COUNT[g], 0);
  const perCase = opts.flags.seconds / total;
  process.stdout.write(`${previous.note}\n${total} benchmarks, about ${perCase.toFixed(2)} s each\n`);
  const measured: Measured[] = [];
  for (const g of groups) {
    const cases = SETUP[g]();
    if (Object.keys(cases).length !== CASE_COUNT[g]) throw new Error(`bench/micro: group ${g} has ${Object.keys(cases).length} cases, CASE_COUNT says ${CASE_COUNT[g]}`);
    measured.push(...(await runGroup(g, cases, perCase)));
  }
  if (sink === 0.5) process.stdout.write('');
  const rows = toRows(measured, previous.values);
  process.stdout.write('\n');
  printTable(measured, rows, previous.values);
  process.stdout.write(wroteLine(writeResult({ bench: 'micro', rows }, opts), opts));
}
