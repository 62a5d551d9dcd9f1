/**
 * bench/soak: ten minutes of everything at once, then a quarter of an hour
 * of nothing — does anything grow that should not, does every bounded table
 * hold its limit, and does every table shrink back?
 *
 *   npm run bench -- soak [--seconds 600] [--idle-seconds 900] [--seed 1] [--save]
 *
 * TIME IS VIRTUAL: wirelab hosts in memory on a VirtualClock
 * (bench/lib/soak-lab.ts: a switch with a server, a client behind an
 * impaired cable — loss 1 %, delay 5 ms each way — a NAT router with an
 * outside host, a hostile port and an ARP churn port). "600 seconds" are 600
 * seconds of the stacks' clock, run as fast as the CPU allows (about a minute
 * of wall time here); every figure but the heap and the wall time
 * repeats exactly for a seed.
 *
 * Load (bench/lib/soak-load.ts), all at once: TCP transfers both ways, a new
 * connection each, SHA-256 checked on arrival; UDP request/response; NAT
 * flows (TCP and UDP through masquerade, by name through the router's DNS);
 * ARP churn; and a pcapng of hostile frames replayed in a loop into the
 * switch (bench/lib/soak-hostile.ts). Table limits are lowered
 * (SOAK_LIMITS, printed) so the hostile replay fills every bounded table in
 * seconds; timeouts keep their defaults.
 *
 * Every virtual second (bench/lib/soak-sample.ts): the heap in use and every
 * table of every stack and the switch — size, limit, refused, evicted — each
 * sample checked: size ≤ limit. After the idle phase every table must be at
 * the size it had before the load (sampled after a warm-up and a settle as
 * long as the idle phase), and the heap after a full collection within
 * HEAP_FACTOR × start + HEAP_SLACK_MB.
 *
 * Prints a table and a verdict (PASS, or FAIL with the reasons: exit 1),
 * writes soak.json (rows, and a `soak` section with every figure and the
 * downsampled series) and soak.svg (bench/lib/soak-plot.ts).
 */
import { BenchExit, parseBenchArgs } from './lib/args.js';
import { HOSTILE_FPS, HOSTILE_MIX } from './lib/soak-hostile.js';
import { DEFAULT_LIMITS, IMPAIRMENT, SOAK_LIMITS } from './lib/soak-lab.js';
import { renderSoakSvg } from './lib/soak-plot.js';
import { runSoak, type SoakRun } from './lib/soak-run.js';
import { round } from './lib/soak-sample.js';
import { writeResult, wroteLine, type BenchResult, type BenchRow } from './results.js';

export const FLAGS = {
  seconds: { type: 'number', default: 600, min: 1, max: 86_400, help: 'virtual seconds of load' },
  'idle-seconds': { type: 'number', default: 900, min: 1, max: 86_400, help: 'virtual seconds of idle after the load (longer than every timeout: FDB aging is 300 s)' },
  seed: { type: 'number', default: 1, min: 0, max: 2 ** 31 - 1, help: 'seeds the load, the hostile capture, the impairment and the stacks' },
} as const;

/** "No leak": the heap after the idle phase and a full collection is at most this × the start, plus the slack. */
export const HEAP_FACTOR = 1.5;
export const HEAP_SLACK_MB = 8;
/** Tables the hostile replay must drive to their limits (refused or evicted > 0 somewhere). */
export const MUST_FILL = ['neighbours', 'fdb', 'reassembly', 'tcp.synQueue', 'conntrack'] as const;

export interface TableReport {
  key: string;
  where: string;
  table: string;
  unit: string;
  like: string;
  limit: number;
  peak: number;
  peakAt: number;
  refused: number;
  evicted: number;
  before: number;
  after: number;
  overLimit: number;
}

export interface SoakVerdict {
  pass: boolean;
  reasons: string[];
  /** Every sample of every table at or under its limit. */
  underLimit: boolean;
  /** At least one transfer, every one checked intact, none failed or unfinished. */
  transfersIntact: boolean;
  /** Every table back at its baseline size after the idle phase. */
  tablesBack: boolean;
  heapOk: boolean;
  /** Per MUST_FILL table kind: did the load drive one to its limit (refused or evicted > 0)? */
  filled: Record<string, boolean>;
  /** UDP answers and NAT flows correct (wrong answers, failures, unexpected addresses). */
  flowsOk: boolean;
}

export interface SoakReport {
  run: SoakRun;
  tables: TableReport[];
  heapLimitMB: number;
  verdict: SoakVerdict;
}

export function tableReports(run: SoakRun): TableReport[] {
  const s = run.sampler;
  return s.tracks.map((tr) => ({
    key: tr.key, where: tr.where, table: tr.table, unit: tr.unit, like: tr.like, limit: tr.limit,
    peak: tr.peak, peakAt: tr.peakAt, refused: tr.refused - tr.refused0, evicted: tr.evicted - tr.evicted0,
    before: s.size(tr, 0), after: s.size(tr, s.n - 1), overLimit: tr.overLimit,
  }));
}

export function soakVerdict(run: SoakRun, tables: TableReport[], heapLimitMB: number): SoakVerdict {
  const reasons: string[] = [];
  const over = tables.filter((t) => t.overLimit > 0);
  for (const t of over) reasons.push(`${t.key} went over its limit in ${t.overLimit} samples (peak ${t.peak} / ${t.limit})`);
  const tr = run.load.transfers;
  const transfersIntact = tr.intact > 0 && tr.corrupt === 0 && tr.failed === 0 && tr.intact === tr.started && run.unfinished === 0;
  if (tr.intact === 0) reasons.push('no transfer completed');
  if (tr.corrupt > 0) reasons.push(`${tr.corrupt} transfers arrived corrupt (SHA-256 or length)`);
  if (tr.failed > 0) reasons.push(`${tr.failed} transfers failed: ${tr.failures.join('; ')}`);
  if (run.unfinished > 0) reasons.push(`${run.unfinished} transfers or flows still under way after the idle phase`);
  const notBack = tables.filter((t) => t.after !== t.before);
  for (const t of notBack) reasons.push(`${t.key} did not shrink back: ${t.after} after the idle phase, ${t.before} before the load`);
  const heapOk = run.heap.endMB <= heapLimitMB;
  if (!heapOk) reasons.push(`heap after idle ${run.heap.endMB.toFixed(1)} MB > ${HEAP_FACTOR} × start + ${HEAP_SLACK_MB} MB = ${heapLimitMB.toFixed(1)} MB`);
  const filled: Record<string, boolean> = {};
  for (const kind of MUST_FILL) {
    filled[kind] = tables.some((t) => t.table === kind && t.refused + t.evicted > 0);
    if (!filled[kind]) reasons.push(`no ${kind} table reached its limit (nothing refused or evicted): the soak did not test it`);
  }
  const { udp, natTcp, natUdp } = run.load;
  const flowsOk = udp.answered > 0 && udp.wrong === 0 && natTcp.ok > 0 && natTcp.failed + natTcp.wrongAddress + natTcp.corrupt === 0 && natUdp.answered > 0 && natUdp.wrong + natUdp.failed === 0;
  if (udp.answered === 0 || udp.wrong > 0) reasons.push(`UDP: ${udp.answered} answered, ${udp.wrong} wrong answers`);
  if (natTcp.ok === 0 || natTcp.failed + natTcp.wrongAddress + natTcp.corrupt > 0) {
    reasons.push(`NAT TCP: ${natTcp.ok} ok, ${natTcp.failed} failed, ${natTcp.wrongAddress} not masqueraded, ${natTcp.corrupt} corrupt${natTcp.failures.length > 0 ? ` (${natTcp.failures.join('; ')})` : ''}`);
  }
  if (natUdp.answered === 0 || natUdp.wrong + natUdp.failed > 0) reasons.push(`NAT UDP: ${natUdp.answered} answered, ${natUdp.wrong} wrong, ${natUdp.failed} without a DNS answer`);
  return { pass: reasons.length === 0, reasons, underLimit: over.length === 0, transfersIntact, tablesBack: notBack.length === 0, heapOk, filled, flowsOk };
}

export function soakReport(run: SoakRun): SoakReport {
  const tables = tableReports(run);
  const heapLimitMB = HEAP_FACTOR * run.heap.startMB + HEAP_SLACK_MB;
  return { run, tables, heapLimitMB, verdict: soakVerdict(run, tables, heapLimitMB) };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const n = (x: number): string => x.toLocaleString('en-US');
const limitText = (v: number, unit: string): string => (unit === 'bytes' ? `${v / 1024} KiB` : String(v));

/** The verdict line: `verdict: PASS — …` or `verdict: FAIL — reason; reason`. */
export function verdictLine(r: SoakReport): string {
  if (!r.verdict.pass) return `verdict: FAIL — ${r.verdict.reasons.join('; ')}`;
  const t = r.run.load.transfers;
  return `verdict: PASS — ${n(t.intact)} transfers all intact, every sample under its limit, every table back to its size before the load, hostile replay filled ${MUST_FILL.join(', ')}, heap end ${r.run.heap.endMB.toFixed(1)} MB ≤ ${r.heapLimitMB.toFixed(1)} MB`;
}

/** What the bench prints. */
export function formatSoak(r: SoakReport): string {
  const { run } = r;
  const o = run.opts;
  const L = run.load;
  const lines: string[] = [];
  lines.push(
    `bench/soak: ${o.seconds} s of load + ${o.idleSeconds} s idle, seed ${o.seed} — VIRTUAL TIME (a VirtualClock: ${run.virtualSeconds.toFixed(0)} virtual s with a ${run.warmupSeconds} s warm-up and a ${o.idleSeconds} s settle before the load, in ${run.wallSeconds.toFixed(1)} s of wall time)`,
    `lab: switch lan with server, client (cable impaired each way: loss ${IMPAIRMENT.loss * 100} % delay ${IMPAIRMENT.delayMs} ms), NAT router (masquerade to an outside host, DNS), a hostile port and an ARP churn port`,
    `limits lowered so the tables fill: ${Object.entries(SOAK_LIMITS).map(([k, v]) => `${k} ${k === 'reassemblyBytes' ? `${v / 1024} KiB` : v} (default ${k === 'reassemblyBytes' ? `${DEFAULT_LIMITS[k as keyof typeof SOAK_LIMITS] / 2 ** 20} MiB` : DEFAULT_LIMITS[k as keyof typeof SOAK_LIMITS]})`).join(', ')}; timeouts at their defaults`,
    '',
    `TCP transfers   ${n(L.transfers.started)} (${n(L.transfers.up)} client→server, ${n(L.transfers.down)} server→client), ${n(L.transfers.intact)} intact (SHA-256), ${L.transfers.corrupt} corrupt, ${L.transfers.failed} failed, ${mb(L.transfers.bytes)}`,
    `UDP exchanges   ${n(L.udp.sent)} requests, ${n(L.udp.answered)} answered, ${n(L.udp.lost)} lost on the impaired cable, ${L.udp.wrong} wrong`,
    `NAT flows       TCP ${n(L.natTcp.started)} (${n(L.natTcp.ok)} ok, seen outside as the router's uplink; ${L.natTcp.failed} failed), UDP ${n(L.natUdp.started)} (${n(L.natUdp.answered)} answered, ${n(L.natUdp.lost)} lost)`,
    `ARP churn       ${n(L.arpChurn.frames)} frames from random addresses and MACs`,
    `hostile replay  ${n(run.hostile.framesPlayed)} frames (${mb(run.hostile.bytesPlayed)}) at ${HOSTILE_FPS}/s, ${run.hostile.loops} whole passes of a ${n(run.hostile.capture.frames)}-frame pcapng (${mb(run.hostile.captureBytes)}): ${Object.entries(run.hostile.capture.kinds).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  counted as     ${countedText(run)}`,
    `                 (every drop counter that grew during the run: the hostile frames', and the legitimate traffic's own — tcp.outOfWindow is mostly duplicate segments TCP's recovery resent)`,
    `drain           ${(run.drainSeconds * 1000).toFixed(0)} ms after the load stopped; ${run.unfinished} still under way at the end`,
    '',
  );
  const head = ['table', 'peak', 'limit', 'refused', 'evicted', 'before', 'after idle'];
  const cells = r.tables.map((t) => [
    `${t.key}${t.unit === 'bytes' ? ' (bytes)' : ''}`,
    n(t.peak),
    t.limit === 0 ? '0 (no listener)' : n(t.limit),
    n(t.refused),
    n(t.evicted),
    n(t.before),
    n(t.after) + (t.after === t.before ? '' : '  ✗') + (t.overLimit > 0 ? `  ✗ over limit ×${t.overLimit}` : ''),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ').trimEnd();
  lines.push(line(head), ...cells.map(line), '');
  const h = run.heap;
  lines.push(
    `heap (heapUsed${h.gc ? ', after a full collection at start and end' : '; NO collector: start and end include garbage'}): start ${h.startMB.toFixed(1)} MB, peak ${h.peakMB.toFixed(1)} MB, end ${h.endMB.toFixed(1)} MB (limit ${HEAP_FACTOR} × start + ${HEAP_SLACK_MB} MB = ${r.heapLimitMB.toFixed(1)} MB)`,
    verdictLine(r),
  );
  return lines.join('\n') + '\n';
}

function countedText(run: SoakRun): string {
  const by = new Map<string, string[]>();
  for (const c of [...run.hostile.counted].sort((a, b) => b.frames - a.frames)) {
    const list = by.get(c.where) ?? [];
    list.push(`${c.reason} ${n(c.frames)}`);
    by.set(c.where, list);
  }
  return [...by].map(([where, list]) => `${where}: ${list.slice(0, 8).join(', ')}${list.length > 8 ? `, … (${list.length - 8} more)` : ''}`).join('\n                 ');
}

/** The rows every bench writes: heap against its start, transfers against those started, each table's peak against its limit. */
export function soakRows(r: SoakReport): BenchRow[] {
  const h = r.run.heap;
  const t = r.run.load.transfers;
  const rows: BenchRow[] = [
    { path: 'heap start', metric: 'MB', value: round(h.startMB, 2), reference: 'heap start', ratio: 1 },
    { path: 'heap peak', metric: 'MB', value: round(h.peakMB, 2), reference: 'heap start', ratio: round(h.peakMB / h.startMB, 3) },
    { path: 'heap end', metric: 'MB', value: round(h.endMB, 2), reference: 'heap start', ratio: round(h.endMB / h.startMB, 3) },
    { path: 'transfers started', metric: 'transfers', value: t.started, reference: 'transfers started', ratio: 1 },
    { path: 'transfers intact', metric: 'transfers', value: t.intact, reference: 'transfers started', ratio: t.started > 0 ? round(t.intact / t.started, 4) : 0 },
  ];
  for (const x of r.tables.filter((y) => y.limit > 0)) {
    rows.push(
      { path: `${x.key} limit`, metric: x.unit, value: x.limit, reference: `${x.key} limit`, ratio: 1 },
      { path: `${x.key} peak`, metric: x.unit, value: x.peak, reference: `${x.key} limit`, ratio: round(x.peak / x.limit, 4), note: `refused ${x.refused}, evicted ${x.evicted}, ${x.before} → ${x.after} after idle` },
    );
  }
  return rows;
}

export async function main(args: string[]): Promise<void> {
  const opts = parseBenchArgs('soak', args, FLAGS);
  const f = opts.flags;
  for (const [k, v] of Object.entries(f)) if (!Number.isInteger(v)) throw new BenchExit(`bench/soak: --${k} must be a whole number, got ${v}`, 2);
  const run = await runSoak({
    seconds: f.seconds,
    idleSeconds: f['idle-seconds'],
    seed: f.seed,
    progress: (l) => void process.stderr.write(`soak: ${l}\n`),
  });
  const report = soakReport(run);
  process.stdout.write(formatSoak(report));
  const { sampler, ...rest } = run;
  const result: BenchResult & { soak: unknown } = {
    bench: 'soak',
    rows: soakRows(report),
    soak: {
      virtualTime: true,
      settings: { ...run.opts, progress: undefined, warmupSeconds: run.warmupSeconds, limits: SOAK_LIMITS, defaultLimits: DEFAULT_LIMITS, impairment: IMPAIRMENT, hostileFps: HOSTILE_FPS, hostileMix: HOSTILE_MIX },
      ...rest,
      opts: undefined,
      tables: report.tables,
      heapLimitMB: report.heapLimitMB,
      verdict: report.verdict,
      series: sampler.series(300),
      loadEndSeconds: run.opts.seconds,
    },
  };
  const svg = await renderSoakSvg(report, sampler.series(300));
  process.stdout.write(wroteLine(writeResult(result, { save: opts.save, svg }), opts));
  if (!report.verdict.pass) throw new BenchExit(`bench/soak: FAIL: ${report.verdict.reasons.join('; ')}`, 1);
}
