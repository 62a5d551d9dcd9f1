/**
 * bench/hol: head-of-line blocking. The same message stream — `--messages`
 * messages of `--size` bytes, one every `--interval` ms (or `--burst N` back
 * to back every N intervals), each stamped with its sequence number and send
 * time — crosses a path with `--delay` ms each way and `--loss` percent loss
 * each way, over four transports:
 *
 *   tcp       one connection: a lost segment holds back every message behind it
 *   tcp-n     `--connections` connections, round robin: a loss holds back one of N
 *   udp       datagrams: a loss is a lost message, nothing waits for it (the reference)
 *   udp-rtx   datagrams with acknowledgements and resends, no ordering (QUIC's design point)
 *
 *   npm run bench -- hol [--mode virtual|real] [--loss 0,0.5,1,2,5] [--transports tcp,udp] …
 *
 * `--mode virtual` (the default) runs two wirelab hosts on the virtual
 * clock (bench/lib/hol-virtual.ts): exact, repeatable for a `--seed`, a
 * few seconds for the whole default grid, no root. `--mode real` runs
 * kernel sockets in two containers over an impaired wirelab link
 * (bench/lib/hol-real.ts, loaded only then; needs root).
 *
 * Latency is receivedMs − sentMs of each delivered message, kept in an HDR
 * histogram (hdr-histogram-js, 1 µs resolution, 3 significant digits) →
 * p50, p99, p99.9 and max; "delivered" is the share of messages that
 * arrived at all (percentiles are over delivered messages only, so UDP's
 * lost ones show in that row, not in its latency). Each row's reference is
 * `udp` at the same loss (the path's own delay with nothing waiting). For
 * TCP the table also puts the closed-form expectation (bench/lib/hol-model.ts:
 * fast retransmit after three later segments, else an RTO of at least
 * 200 ms) beside what was measured: the stall per loss event and the p99.
 *
 * Writes hol.json (the rows, plus a `hol` section with every run's
 * percentiles and the model) and hol.svg (latency CDFs per loss rate, p99
 * against loss, and the timeline of the first stall) into the results
 * directory (bench/results/ with --save; see bench/results.ts).
 */
import * as hdr from 'hdr-histogram-js';
import { BenchExit, parseBenchArgs, requireTools } from './lib/args.js';
import { holModel, measuredStalls, type HolModel } from './lib/hol-model.js';
import { renderHolSvg } from './lib/hol-plot.js';
import type { HolRunResult, HolRunSpec, HolTransport } from './lib/hol-types.js';
import { GE_MEAN_BURST_FRAMES, HOL_HEADER_BYTES, runVirtualHol, sendTimeMs } from './lib/hol-virtual.js';
import { printRows, writeResult, wroteLine, type BenchResult, type BenchRow } from './results.js';

export const TRANSPORTS: readonly HolTransport[] = ['tcp', 'tcp-n', 'udp', 'udp-rtx'];
const DEFAULT_LOSS = [0, 0.5, 1, 2, 5];

export const FLAGS = {
  mode: { type: 'list', meta: 'virtual|real', choices: ['virtual', 'real'], help: 'virtual clock (default) or kernel sockets in containers (root)' },
  loss: { type: 'list', meta: '0,0.5,1,2,5', help: 'loss rates, percent each way (default 0,0.5,1,2,5)' },
  transports: { type: 'list', meta: 'LIST', choices: TRANSPORTS, help: 'transports to run (default all)' },
  messages: { type: 'number', default: 2000, min: 10, max: 1_000_000, help: 'messages per run' },
  interval: { type: 'number', default: 1, min: 0.01, max: 10_000, help: 'ms between messages' },
  size: { type: 'number', default: 200, min: 16, max: 1400, help: 'message bytes (one segment or datagram)' },
  delay: { type: 'number', default: 10, min: 0, max: 5000, help: 'one-way delay, ms' },
  jitter: { type: 'number', default: 0, min: 0, max: 1000, help: 'jitter around the delay, ms' },
  reorder: { type: 'number', default: 0, min: 0, max: 100, help: 'reorder, percent of frames' },
  connections: { type: 'number', default: 4, min: 1, max: 256, help: 'connections of tcp-n' },
  burst: { type: 'number', default: 0, min: 0, max: 10_000, help: 'send N back to back every N intervals (0: steady)' },
  model: { type: 'list', meta: 'MODEL', choices: ['random', 'gilbert-elliott'], help: 'loss model (default random; GE: mean burst 4 frames)' },
  seed: { type: 'number', default: 1, min: 0, max: 2 ** 31 - 1, help: 'seeds loss, jitter and the stacks' },
} as const;

/** One run's figures: what the table, hol.json and the plots are made of. */
export interface HolSummary {
  transport: HolTransport;
  lossPercent: number;
  sent: number;
  delivered: number;
  /** delivered / sent. */
  deliveredFraction: number;
  /** Latency percentiles of delivered messages, ms (0 when none was delivered). */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  linkLosses: number;
  baseRttMs: number;
  /** Loss-caused jumps in latency (bench/lib/hol-model.ts `measuredStalls`) and their mean height, ms. */
  stalls: number;
  stallMeanMs: number;
}

/** Latencies of `r`'s messages in sequence order (null: never delivered). */
export function latencies(r: HolRunResult): Array<number | null> {
  return r.messages.map((m) => (m.receivedMs === null ? null : m.receivedMs - m.sentMs));
}

/** The percentiles and delivered share of one run (HDR histogram in microseconds). */
export function summarize(r: HolRunResult): HolSummary {
  const h = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  let delivered = 0;
  const lat = latencies(r);
  for (const l of lat) {
    if (l === null) continue;
    delivered++;
    h.recordValue(Math.max(0, Math.round(l * 1000)));
  }
  const at = (p: number) => (delivered === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
  const stalls = measuredStalls(lat, r.baseRttMs);
  const s: HolSummary = {
    transport: r.spec.transport,
    lossPercent: r.spec.lossPercent,
    sent: r.messages.length,
    delivered,
    deliveredFraction: r.messages.length === 0 ? 0 : delivered / r.messages.length,
    p50Ms: at(50),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: delivered === 0 ? 0 : h.maxValue / 1000,
    linkLosses: r.linkLosses,
    baseRttMs: r.baseRttMs,
    stalls: stalls.count,
    stallMeanMs: stalls.meanMs,
  };
  h.destroy();
  return s;
}

/** The model's input for a spec: its schedule's interval and three-later time, its loss model's burst. */
export function modelFor(spec: HolRunSpec, baseRttMs: number): HolModel {
  const n = Math.max(4, Math.min(spec.messages, 1000));
  let three = 0;
  for (let k = 0; k + 3 < n; k++) three += sendTimeMs(spec, k + 3) - sendTimeMs(spec, k);
  return holModel({
    rttMs: baseRttMs,
    intervalMs: spec.intervalMs,
    threeLaterMs: three / (n - 3),
    loss: spec.lossPercent / 100,
    burstFrames: spec.lossModel === 'gilbert-elliott' ? GE_MEAN_BURST_FRAMES : 1,
  });
}

export const lossLabel = (lossPercent: number): string => `${lossPercent}%`;
const runPath = (t: HolTransport, lossPercent: number) => `${t} loss ${lossLabel(lossPercent)}`;

const METRICS: ReadonlyArray<[string, (s: HolSummary) => number]> = [
  ['p50 ms', (s) => s.p50Ms],
  ['p99 ms', (s) => s.p99Ms],
  ['p99.9 ms', (s) => s.p999Ms],
  ['max ms', (s) => s.maxMs],
  ['delivered %', (s) => s.deliveredFraction * 100],
];

export interface HolModelRow {
  lossPercent: number;
  model: HolModel;
  measuredStallMs: number;
  measuredStalls: number;
  measuredP99Ms: number;
}

/**
 * The table: per loss rate and transport, p50/p99/p99.9/max and delivered %,
 * each against `udp` at the same loss (else the first transport run); and per
 * loss rate > 0 with `tcp` run, the model's stall per loss and p99 beside the
 * measured ones.
 */
export function holRows(summaries: HolSummary[], models: HolModelRow[]): BenchRow[] {
  const rows: BenchRow[] = [];
  const losses = [...new Set(summaries.map((s) => s.lossPercent))];
  for (const L of losses) {
    const atL = summaries.filter((s) => s.lossPercent === L);
    const ref = atL.find((s) => s.transport === 'udp') ?? atL[0]!;
    for (const s of atL) {
      for (const [metric, get] of METRICS) {
        const v = get(s);
        const rv = get(ref);
        rows.push({ path: runPath(s.transport, L), metric, value: v, reference: runPath(ref.transport, L), ratio: rv > 0 ? v / rv : 1 });
      }
    }
    const m = models.find((x) => x.lossPercent === L);
    if (m !== undefined) {
      const modelPath = `model: tcp loss ${lossLabel(L)}`;
      const tcpPath = runPath('tcp', L);
      const ratio = (v: number, rv: number) => (rv > 0 ? v / rv : 1);
      rows.push(
        { path: modelPath, metric: 'stall per loss ms', value: m.model.stallPerLossMs, reference: modelPath, ratio: 1 },
        { path: tcpPath, metric: 'stall per loss ms', value: m.measuredStallMs, reference: modelPath, ratio: ratio(m.measuredStallMs, m.model.stallPerLossMs) },
        { path: modelPath, metric: 'p99 ms (model)', value: m.model.p99Ms, reference: modelPath, ratio: 1 },
        { path: tcpPath, metric: 'p99 ms (model)', value: m.measuredP99Ms, reference: modelPath, ratio: ratio(m.measuredP99Ms, m.model.p99Ms) },
      );
    }
  }
  return rows;
}

/** The model rows for every loss rate > 0 at which `tcp` ran. */
export function holModels(results: HolRunResult[], summaries: HolSummary[]): HolModelRow[] {
  const out: HolModelRow[] = [];
  results.forEach((r, i) => {
    if (r.spec.transport !== 'tcp' || r.spec.lossPercent === 0) return;
    const s = summaries[i]!;
    out.push({
      lossPercent: r.spec.lossPercent,
      model: modelFor(r.spec, r.baseRttMs),
      measuredStallMs: s.stallMeanMs,
      measuredStalls: s.stalls,
      measuredP99Ms: s.p99Ms,
    });
  });
  return out;
}

/** p99 (and delivered %) as a loss × transport grid, for the terminal. */
function pivot(summaries: HolSummary[], transports: readonly HolTransport[], losses: readonly number[]): string {
  const head = ['loss', ...transports.map((t) => `${t} p99`), ...transports.map((t) => `${t} dlv%`)];
  const cells = losses.map((L) => {
    const at = (t: HolTransport) => summaries.find((s) => s.transport === t && s.lossPercent === L);
    return [
      lossLabel(L),
      ...transports.map((t) => (at(t)?.p99Ms ?? NaN).toFixed(1)),
      ...transports.map((t) => ((at(t)?.deliveredFraction ?? NaN) * 100).toFixed(1)),
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

function parseLosses(items: string[] | undefined): number[] {
  if (items === undefined) return DEFAULT_LOSS;
  const out = items.map((x) => {
    const v = Number(x);
    if (x.trim() === '' || !Number.isFinite(v) || v < 0 || v >= 100) {
      throw new BenchExit(`bench/hol: --loss takes percents in 0..<100, got "${x}"`, 2);
    }
    return v;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

function single<T extends string>(flag: string, items: string[] | undefined, fallback: T): T {
  if (items === undefined) return fallback;
  if (items.length !== 1) throw new BenchExit(`bench/hol: --${flag} takes one value, got "${items.join(',')}"`, 2);
  return items[0] as T;
}

function integer(flag: string, v: number): number {
  if (!Number.isInteger(v)) throw new BenchExit(`bench/hol: --${flag} must be a whole number, got ${v}`, 2);
  return v;
}

type Runner = (s: HolRunSpec) => Promise<HolRunResult>;

async function realRunner(): Promise<Runner> {
  const path = './lib/hol-real.js'; // a variable, so tsc does not need the file
  try {
    const { runRealHol } = (await import(path)) as { runRealHol: Runner };
    return runRealHol;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('hol-real')) throw new BenchExit('bench/hol: --mode real needs bench/lib/hol-real.ts, which this checkout does not have', 1);
    throw e;
  }
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('hol', args, FLAGS);
  const f = opts.flags;
  const mode = single<'virtual' | 'real'>('mode', f.mode, 'virtual');
  const lossModel = single<'random' | 'gilbert-elliott'>('model', f.model, 'random');
  const losses = parseLosses(f.loss);
  const transports = TRANSPORTS.filter((t) => (f.transports ?? TRANSPORTS).includes(t));
  const messages = integer('messages', f.messages);
  const size = integer('size', f.size);
  const connections = integer('connections', f.connections);
  const burst = integer('burst', f.burst);
  const seed = integer('seed', f.seed);
  if (size < HOL_HEADER_BYTES) throw new BenchExit(`bench/hol: --size must be at least ${HOL_HEADER_BYTES}`, 2);
  requireTools('hol', mode === 'real' ? ['ip'] : []);
  const run: Runner = mode === 'real' ? await realRunner() : runVirtualHol;

  const results: HolRunResult[] = [];
  const t0 = performance.now();
  for (const lossPercent of losses) {
    for (const transport of transports) {
      const spec: HolRunSpec = {
        transport,
        lossPercent,
        lossModel,
        delayMs: f.delay,
        jitterMs: f.jitter,
        reorderPercent: f.reorder,
        messageBytes: size,
        intervalMs: f.interval,
        pattern: burst > 1 ? 'burst' : 'steady',
        burstSize: burst > 1 ? burst : 0,
        messages,
        connections,
        seed,
      };
      results.push(await run(spec));
    }
  }
  const summaries = results.map(summarize);
  const models = holModels(results, summaries);
  const rows = holRows(summaries, models);
  const wallS = (performance.now() - t0) / 1000;

  process.stdout.write(
    `bench/hol (${mode}): ${messages} messages of ${size} B every ${f.interval} ms${burst > 1 ? ` in bursts of ${burst}` : ''}, ` +
      `${f.delay} ms each way${f.jitter > 0 ? ` ±${f.jitter} ms` : ''}, ${lossModel} loss, seed ${seed}; ${results.length} runs in ${wallS.toFixed(1)} s\n\n`,
  );
  process.stdout.write(pivot(summaries, transports, losses) + '\n');
  for (const m of models) {
    process.stdout.write(
      `model tcp loss ${lossLabel(m.lossPercent)}: ${m.model.fastRetransmit ? 'fast retransmit' : 'RTO'}, stall ${m.model.stallPerLossMs.toFixed(1)} ms per loss ` +
        `(measured ${m.measuredStallMs.toFixed(1)} ms over ${m.measuredStalls}), p99 ${m.model.p99Ms.toFixed(1)} ms (measured ${m.measuredP99Ms.toFixed(1)})\n`,
    );
  }
  if (models.length > 0) process.stdout.write('\n');
  printRows(rows);

  const result: BenchResult & { hol: unknown } = {
    bench: 'hol',
    rows,
    hol: {
      mode,
      settings: { messages, messageBytes: size, intervalMs: f.interval, burst, delayMs: f.delay, jitterMs: f.jitter, reorderPercent: f.reorder, connections, lossModel, seed },
      runs: summaries,
      model: models,
    },
  };
  const svg = await renderHolSvg(results, summaries, models);
  process.stdout.write(wroteLine(writeResult(result, { save: opts.save, svg }), opts));
}
