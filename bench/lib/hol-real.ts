/**
 * The head-of-line-blocking benchmark in REAL time with KERNEL endpoints
 * (`npm run bench -- hol --mode real`): the same `HolRunSpec` as the virtual
 * mode, run by Linux's own TCP and UDP between two containers.
 *
 *   [container A: sender, eth0 10.213.N.1/24] ─TAP─┐
 *                                                   wirelab: forward(impair(tapA), impair(tapB))
 *   [container B: receiver, eth0 10.213.N.2/24] ─TAP┘
 *
 * - Each container's eth0 is a TAP that wirelab holds, opened WITHOUT
 *   vnet_hdr, with TSO/GSO/GRO turned off inside the containers (ethtool),
 *   so the impairment drops real MTU-sized segments, never a 64 KB
 *   super-frame standing for forty of them.
 * - The two TAPs are joined by `forward()` through an `impair()` wrapper on
 *   each (a wrapper impairs what is sent through it, so both directions are
 *   impaired alike, ACKs included): `delayMs`, `jitterMs`, `reorder`, and
 *   random loss `lossPercent / 100` or Gilbert–Elliott bursts with the same
 *   average and a mean burst of 4 frames (r = 1/4, p = r·L / (1 − L)),
 *   seeded by `spec.seed` (A→B) and `spec.seed + 1` (B→A). On a real clock a
 *   run does not repeat exactly — which frame is the n-th depends on timing —
 *   but the n-th frame of each direction has the same fate every run.
 * - IPv6 is off and each side has a permanent neighbour entry for the other,
 *   so nothing but the benchmark's own traffic crosses the link (no ARP to
 *   lose or to stall a run).
 * - `linkLosses`: frames the two wrappers dropped, both directions (data and
 *   the ACKs coming back), from the run's start.
 * - Base RTT: `ping -c 5 -i 0.2` A → B over the link with the run's delay and
 *   jitter but no loss, before the run (fresh, unlossy wrappers; the run's
 *   wrappers start their random streams at the run).
 * - The endpoints are ./hol-real-agent.ts (Python 3, kernel sockets, TCP_NODELAY
 *   on TCP); timestamps are CLOCK_MONOTONIC, which every namespace of the
 *   host shares. Times in the result are ms from the sender's start (the
 *   first message's scheduled send time).
 * - `udp-rtx` resends after `holRtxTimeoutMs(spec)` = max(2 × RTT + 4 ×
 *   jitter + 10 ms, 20 ms) with RTT = 2 × delay: a fixed, QUIC-like probe
 *   timeout of about two round trips (QUIC's PTO is smoothed RTT + 4 × RTT
 *   variance + the peer's max ACK delay), the same rule as the virtual mode.
 *
 * Bounded: the sender stops after `spec.messages`; TCP's sender and
 * udp-rtx's resends get `drainMs` (default 3 s) after the last scheduled send;
 * the receiver stops when everything arrived, or `drainMs` after the sender
 * ended; every process has a lifetime bound and the run an overall timeout.
 * Containers (through `Lab`, so a crash is recorded for `wirelab cleanup`),
 * TAPs and the temp dir are removed in `finally`, even on failure.
 *
 * Needs root, `ip`, `ethtool`, `ping` and `python3`. Not a CLI: the caller
 * (bench/hol.ts) installs the signal handlers (`installCleanupHandlers`).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../src/lab/lab.js';
import type { Container, ContainerProcess } from '../../src/lab/index.js';
import { forward } from '../../src/link/forward.js';
import { impair, type ImpairedPort, type ImpairmentOptions } from '../../src/link/impair.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { RealClock } from '../../src/time/index.js';
import { HOL_AGENT_PY, type HolAgentConfig } from './hol-real-agent.js';
import type { HolMessage, HolRunResult, HolRunSpec } from './hol-types.js';

export interface RealHolOptions {
  /** How long after its last scheduled send the run waits for what is still in flight. Default 3000 ms. */
  drainMs?: number;
  /** Progress and details (names, base RTT, resends), one line each. */
  log?: (line: string) => void;
  /** Called once the topology exists: what the run created (for tests checking nothing is left). */
  onTopology?: (t: { namespaces: string[]; taps: string[]; subnet: string }) => void;
}

/** Mean Gilbert–Elliott burst, frames (r = 1 / this). */
export const GE_MEAN_BURST_FRAMES = 4;
/** The header of every message: uint32 seq + uint64 send ns. */
export const HOL_HEADER_BYTES = 12;
const PORT = 40_000;
const CONNECT_TIMEOUT_MS = 15_000;
const NS_PER_MS = 1e6;

/** udp-rtx's retransmission timeout: max(2 × RTT + 4 × jitter + 10 ms, 20 ms), RTT = 2 × delay. */
export function holRtxTimeoutMs(spec: Pick<HolRunSpec, 'delayMs' | 'jitterMs'>): number {
  return Math.max(2 * (2 * spec.delayMs) + 4 * spec.jitterMs + 10, 20);
}

/** The impairment of each direction for `spec` (seed left to the caller). */
export function holImpairment(spec: HolRunSpec): ImpairmentOptions {
  const L = spec.lossPercent / 100;
  const o: ImpairmentOptions = {
    delayMs: spec.delayMs,
    jitterMs: spec.jitterMs,
    reorder: spec.reorderPercent / 100,
  };
  if (L > 0) {
    if (spec.lossModel === 'gilbert-elliott') {
      const r = 1 / GE_MEAN_BURST_FRAMES;
      o.gilbertElliott = { p: Math.min(1, (r * L) / (1 - L)), r };
    } else {
      o.loss = L;
    }
  }
  return o;
}

function check(spec: HolRunSpec): void {
  const int = (v: number, what: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`runRealHol: ${what} must be an integer >= ${min}, got ${v}`);
  };
  const num = (v: number, what: string, max = Number.POSITIVE_INFINITY): void => {
    if (!(v >= 0 && v <= max)) throw new RangeError(`runRealHol: ${what} must be a number in [0, ${max}], got ${v}`);
  };
  if (!['tcp', 'tcp-n', 'udp', 'udp-rtx'].includes(spec.transport)) throw new RangeError(`runRealHol: unknown transport ${String(spec.transport)}`);
  if (spec.lossModel !== 'random' && spec.lossModel !== 'gilbert-elliott') throw new RangeError(`runRealHol: unknown lossModel ${String(spec.lossModel)}`);
  if (spec.pattern !== 'steady' && spec.pattern !== 'burst') throw new RangeError(`runRealHol: unknown pattern ${String(spec.pattern)}`);
  num(spec.lossPercent, 'lossPercent', 99);
  num(spec.delayMs, 'delayMs', 10_000);
  num(spec.jitterMs, 'jitterMs', 10_000);
  num(spec.reorderPercent, 'reorderPercent', 100);
  num(spec.intervalMs, 'intervalMs', 60_000);
  int(spec.messageBytes, 'messageBytes', HOL_HEADER_BYTES);
  if (spec.messageBytes > 65_000) throw new RangeError(`runRealHol: messageBytes must be <= 65000 (one datagram), got ${spec.messageBytes}`);
  int(spec.messages, 'messages', 1);
  if (spec.messages > 2 ** 32 - 1) throw new RangeError('runRealHol: messages must fit a uint32 sequence number');
  int(spec.burstSize, 'burstSize', spec.pattern === 'burst' ? 1 : 0); // a steady run carries 0
  if (spec.transport === 'tcp-n') int(spec.connections, 'connections', 1);
  if (!Number.isFinite(spec.seed)) throw new RangeError(`runRealHol: seed must be finite, got ${spec.seed}`);
}

/** When the last message is scheduled, ms after the first. */
function scheduleMs(spec: HolRunSpec): number {
  const last = spec.messages - 1;
  return spec.pattern === 'burst' ? Math.floor(last / spec.burstSize) * spec.burstSize * spec.intervalMs : last * spec.intervalMs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cancellableSleep(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return { done, cancel: () => clearTimeout(timer) };
}

/** Average of `ping`'s rtt line, ms; undefined when ping got no reply. */
function parsePingAvg(out: string): number | undefined {
  const m = /= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/.exec(out);
  return m ? Number(m[1]) : undefined;
}

/** Turns offloads off on eth0 (one feature per call: ethtool -K stops at the first a driver lacks) and checks TSO/GSO are off. */
async function offloadsOff(c: Container): Promise<void> {
  for (const f of ['tso', 'gso', 'gro']) await c.exec(['ethtool', '-K', c.ifname, f, 'off'], { timeoutMs: 10_000 });
  const k = await c.exec(['ethtool', '-k', c.ifname], { timeoutMs: 10_000, check: true });
  for (const must of ['tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload']) {
    if (new RegExp(`^${must}: on`, 'm').test(k.stdout)) throw new Error(`runRealHol: could not turn ${must} off in ${c.name}`);
  }
}

function describeExit(p: ContainerProcess): string {
  return `${p.stderrText.trim() || p.stdoutText.trim() || '(no output)'}`;
}

/** Runs one HOL benchmark run in real time between two containers; see the header. */
export async function runRealHol(spec: HolRunSpec, opts: RealHolOptions = {}): Promise<HolRunResult> {
  check(spec);
  if (process.getuid?.() !== 0) throw new Error('runRealHol: the real mode creates network namespaces and TAP devices: run it as root');
  const drainMs = opts.drainMs ?? 3_000;
  const log = opts.log ?? (() => undefined);
  const id = randomBytes(3).toString('hex');
  const n = randomInt(0, 256);
  const subnet = `10.213.${n}.0/24`;
  const ipA = `10.213.${n}.1`;
  const ipB = `10.213.${n}.2`;
  const hex = n.toString(16).padStart(2, '0');
  const macA = `02:00:0a:d5:${hex}:01`;
  const macB = `02:00:0a:d5:${hex}:02`;
  const clock = new RealClock();
  const lab = new Lab();
  const taps: TapPort[] = [];
  const wrappers: ImpairedPort[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'wl-hol-'));
  let ok = false;
  try {
    // Plain frames: no vnet_hdr, no offload negotiated with the kernel.
    const ta = openTap(`wlh${id}a`, { vnetHdr: false });
    taps.push(ta);
    const tb = openTap(`wlh${id}b`, { vnetHdr: false });
    taps.push(tb);
    const sysctls = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' };
    const a = await lab.container({ link: ta.name, address: `${ipA}/24`, mac: macA, sysctls });
    const b = await lab.container({ link: tb.name, address: `${ipB}/24`, mac: macB, sysctls });
    opts.onTopology?.({ namespaces: [a.name, b.name], taps: [ta.name, tb.name], subnet });
    for (const [c, ip, mac] of [[a, ipB, macB], [b, ipA, macA]] as const) {
      await offloadsOff(c);
      await c.exec(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', c.ifname, 'nud', 'permanent'], { timeoutMs: 10_000, check: true });
    }
    log(`hol-real: ${spec.transport} in ${a.name} (${ipA}) → ${b.name} (${ipB}) over TAPs ${ta.name}/${tb.name}, ${subnet}`);

    // Base RTT: the run's delay and jitter, no loss, no reordering.
    const base = holImpairment({ ...spec, lossPercent: 0, reorderPercent: 0 });
    const pingA = impair(ta, clock, { ...base, seed: spec.seed });
    const pingB = impair(tb, clock, { ...base, seed: spec.seed + 1 });
    const unjoin = forward(pingA, pingB);
    const ping = await a.exec(['ping', '-n', '-c', '5', '-i', '0.2', '-W', '2', ipB], { timeoutMs: 20_000 });
    const baseRttMs = parsePingAvg(ping.stdout) ?? 2 * spec.delayMs;
    if (ping.code !== 0) log(`hol-real: ping before the run failed (${ping.stdout.trim()} ${ping.stderr.trim()}); base RTT taken as 2 × delay`);
    // Let anything the ping wrappers still hold leave, then the run's own wrappers.
    await sleep(Math.min(2 * spec.delayMs + 6 * spec.jitterMs + 20, 5_000));
    unjoin();
    const imp = holImpairment(spec);
    const toA = impair(ta, clock, { ...imp, seed: spec.seed + 1 });
    const toB = impair(tb, clock, { ...imp, seed: spec.seed });
    wrappers.push(toA, toB);
    forward(toA, toB);
    const rtoMs = holRtxTimeoutMs(spec);
    log(`hol-real: base RTT ${baseRttMs.toFixed(2)} ms (ping, no loss)${spec.transport === 'udp-rtx' ? `, RTO ${rtoMs} ms` : ''}`);

    // The endpoints.
    const script = join(dir, 'hol_agent.py');
    writeFileSync(script, HOL_AGENT_PY);
    const runMs = scheduleMs(spec);
    const lifetimeMs = CONNECT_TIMEOUT_MS + runMs + 3 * drainMs + 10_000;
    const common = {
      transport: spec.transport,
      ip: ipB,
      port: PORT,
      messages: spec.messages,
      size: spec.messageBytes,
      intervalNs: Math.round(spec.intervalMs * NS_PER_MS),
      pattern: spec.pattern,
      burst: Math.max(1, spec.burstSize),
      connections: spec.transport === 'tcp-n' ? spec.connections : 1,
      rtoMs,
      drainMs,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      bufBytes: Math.min(Math.max(4 << 20, 2 * spec.messages * spec.messageBytes + (1 << 20)), 256 << 20),
      lifetimeMs,
    } satisfies Omit<HolAgentConfig, 'role' | 'out'>;
    const recvOut = join(dir, 'recv.txt');
    const sendOut = join(dir, 'send.txt');
    const rcfg: HolAgentConfig = { ...common, role: 'recv', out: recvOut };
    const scfg: HolAgentConfig = { ...common, role: 'send', out: sendOut };
    // Both start together (a Python start-up can take a second on a busy host); the sender goes once the receiver listens.
    const receiver = b.spawn(['python3', script, JSON.stringify(rcfg)], { stdin: 'pipe' });
    const sender = a.spawn(['python3', script, JSON.stringify(scfg)], { stdin: 'pipe' });
    // A process that already ended makes a write to its stdin fail (EPIPE): that is not the run's error.
    for (const p of [receiver, sender]) p.stdin?.on('error', () => undefined);
    await Promise.all([receiver.waitForOutput(/^ready$/m, 20_000), sender.waitForOutput(/^ready$/m, 20_000)]);
    sender.stdin?.end('go\n');
    const senderDeadline = setTimeout(() => void sender.kill('SIGKILL'), lifetimeMs + 5_000);
    const sent = await sender.exited;
    clearTimeout(senderDeadline);
    if (sent.code !== 0) throw new Error(`runRealHol: the sender in ${a.name} failed (${sent.signal ?? `exit ${sent.code}`}): ${describeExit(sender)}`);
    // What is still in flight gets the drain, then the receiver is told to stop. udp-rtx's sender ends
    // only when everything is acknowledged or its own drain has passed: nothing more is coming.
    const drained = cancellableSleep(spec.transport === 'udp-rtx' ? 0 : drainMs);
    await Promise.race([receiver.exited, drained.done]);
    drained.cancel();
    if (receiver.running) receiver.stdin?.end('stop\n');
    const recvDeadline = setTimeout(() => void receiver.kill('SIGKILL'), 10_000);
    const received = await receiver.exited;
    clearTimeout(recvDeadline);
    if (received.code !== 0) throw new Error(`runRealHol: the receiver in ${b.name} failed (${received.signal ?? `exit ${received.code}`}): ${describeExit(receiver)}`);

    // Results: send times from the sender, receive times from the receiver, both CLOCK_MONOTONIC ns.
    const sendLines = readFileSync(sendOut, 'utf8').trim().split('\n');
    const startText = /^start (\d+)$/.exec(sendLines[0] ?? '')?.[1];
    if (startText === undefined) throw new Error(`runRealHol: the sender's output has no start time: ${sendLines.slice(0, 2).join(' | ')}`);
    const start = BigInt(startText);
    const resends = Number(/^resends (\d+)$/.exec(sendLines[1] ?? '')?.[1]);
    const sentNs = new Map<number, bigint>();
    for (const l of sendLines.slice(2)) {
      const [seq, ns] = l.split(' ');
      sentNs.set(Number(seq), BigInt(ns!));
    }
    const recvNs = new Map<number, bigint>();
    for (const l of readFileSync(recvOut, 'utf8').split('\n')) {
      if (l === '') continue;
      const [seq, ns] = l.split(' ');
      recvNs.set(Number(seq), BigInt(ns!));
    }
    const ms = (ns: bigint): number => Number(ns - start) / NS_PER_MS;
    const messages: HolMessage[] = [];
    for (let seq = 0; seq < spec.messages; seq++) {
      const s = sentNs.get(seq);
      if (s === undefined) throw new Error(`runRealHol: the sender did not send message ${seq} of ${spec.messages}`);
      const r = recvNs.get(seq);
      messages.push({ seq, sentMs: ms(s), receivedMs: r === undefined ? null : ms(r) });
    }
    const linkLosses = toA.impairStats.lost + toB.impairStats.lost;
    log(
      `hol-real: delivered ${recvNs.size}/${spec.messages}, link losses ${linkLosses} ` +
        `(A→B ${toB.impairStats.lost}/${toB.impairStats.sent}, B→A ${toA.impairStats.lost}/${toA.impairStats.sent})` +
        (spec.transport === 'udp-rtx' ? `, resends ${resends}` : ''),
    );
    ok = true;
    return { spec, mode: 'real', messages, linkLosses, baseRttMs };
  } finally {
    const errors: string[] = [];
    await lab.close().catch((e: unknown) => errors.push(String(e)));
    for (const w of wrappers) await w.close().catch(() => undefined);
    for (const t of taps) await t.close().catch((e: unknown) => errors.push(String(e)));
    clock.close();
    rmSync(dir, { recursive: true, force: true });
    // A failed cleanup fails the run, unless the run already failed (its error says more).
    if (errors.length > 0) {
      if (ok) throw new Error(`runRealHol: cleanup failed: ${errors.join('; ')}`);
      log(`hol-real: cleanup: ${errors.join('; ')}`);
    }
  }
}
