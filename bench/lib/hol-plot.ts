/**
 * bench/hol's picture, one self-contained SVG: a vega-lite spec (vconcat of
 * three charts) compiled to vega and rendered headless in Node (renderer
 * 'none', no canvas, no browser):
 *
 *   (a) latency CDF per transport, one panel per loss rate: y is the share
 *       of SENT messages delivered within x, so a lossy UDP line tops out
 *       below 1; x is logarithmic (the TCP tail is tens of times the base);
 *   (b) p99 against loss rate per transport (log y), with the closed-form
 *       TCP expectation (bench/lib/hol-model.ts) dashed;
 *   (c) the first stall, at the loss rate nearest 1–2 %: latency against
 *       send time around each transport's first loss (x = 0 at the lost
 *       message) — TCP's messages after the hole pile up behind its
 *       retransmission (a falling ramp), UDP drops one (a cross at 0) and
 *       delivers the rest on time.
 *
 * vega and vega-lite are loaded here only, when a run is over.
 */
import type { HolModelRow, HolSummary } from '../hol.js';
import { stallHeads } from './hol-model.js';
import type { HolRunResult, HolTransport } from './hol-types.js';

const COLORS: Record<string, string> = {
  tcp: '#d62728',
  'tcp-n': '#ff7f0e',
  udp: '#1f77b4',
  'udp-rtx': '#2ca02c',
  'tcp (model)': '#7f7f7f',
};

const lat = (r: HolRunResult, k: number): number | null => {
  const m = r.messages[k]!;
  return m.receivedMs === null ? null : m.receivedMs - m.sentMs;
};

/** CDF points of one run: one per distinct latency (to 3 significant digits), as a share of messages sent. */
function cdfPoints(r: HolRunResult): Array<{ latency: number; fraction: number }> {
  const l = r.messages
    .map((m) => (m.receivedMs === null ? null : m.receivedMs - m.sentMs))
    .filter((x): x is number => x !== null)
    .map((x) => Math.max(0.01, Number(x.toPrecision(3))))
    .sort((a, b) => a - b);
  const out: Array<{ latency: number; fraction: number }> = [];
  const n = r.messages.length;
  for (let k = 0; k < l.length; k++) {
    if (k + 1 < l.length && l[k + 1] === l[k]) continue;
    if (out.length === 0) out.push({ latency: l[k]!, fraction: 0 });
    out.push({ latency: l[k]!, fraction: (k + 1) / n });
  }
  return out;
}

/** The loss rate whose stall (c) shows: 1 % or 2 % if run, else the smallest above 0. */
export function timelineLoss(losses: readonly number[]): number | undefined {
  return [1, 2].find((L) => losses.includes(L)) ?? losses.filter((L) => L > 0).sort((a, b) => a - b)[0];
}

/** The index of a run's first loss: UDP's first undelivered message, else the first latency jump (hol-model.ts `stallHeads`). */
function firstLoss(r: HolRunResult): number | undefined {
  if (r.spec.transport === 'udp') {
    const k = r.messages.findIndex((m) => m.receivedMs === null);
    return k < 0 ? undefined : k;
  }
  return stallHeads(
    r.messages.map((_, k) => lat(r, k)),
    r.baseRttMs,
  )[0];
}

export function holPlotSpec(results: HolRunResult[], summaries: HolSummary[], models: HolModelRow[]): Record<string, unknown> {
  const transports = [...new Set(results.map((r) => r.spec.transport))];
  const losses = [...new Set(results.map((r) => r.spec.lossPercent))].sort((a, b) => a - b);
  const lossLabels = losses.map((L) => `loss ${L}%`);
  const colorDomain = [...transports, ...(models.length > 0 ? ['tcp (model)'] : [])];
  const color = {
    field: 'transport',
    type: 'nominal',
    scale: { domain: colorDomain, range: colorDomain.map((t) => COLORS[t] ?? '#000') },
    legend: { title: 'transport' },
  };

  // Each line runs on to the largest latency of any run, so a share never delivered stays visible as a plateau below 1.
  const cdfRuns = results.map((r) => ({ r, points: cdfPoints(r) }));
  const xMax = Math.max(0.01, ...cdfRuns.map(({ points }) => points[points.length - 1]?.latency ?? 0));
  const cdf = cdfRuns.flatMap(({ r, points }) => {
    const last = points[points.length - 1];
    const all = last !== undefined && last.latency < xMax ? [...points, { latency: xMax, fraction: last.fraction }] : points;
    return all.map((p) => ({ transport: r.spec.transport, loss: `loss ${r.spec.lossPercent}%`, ...p }));
  });
  const p99 = [
    ...summaries.map((s) => ({ transport: s.transport, lossPercent: s.lossPercent, p99: Math.max(0.01, s.p99Ms), kind: 'measured' })),
    ...models.map((m) => ({ transport: 'tcp (model)', lossPercent: m.lossPercent, p99: Math.max(0.01, m.model.p99Ms), kind: 'model' })),
  ];

  const charts: Record<string, unknown>[] = [
    {
      title: 'Latency CDF (share of messages sent delivered within x)',
      data: { values: cdf },
      mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5, opacity: 0.85 },
      width: 170,
      height: 150,
      encoding: {
        column: { field: 'loss', type: 'nominal', sort: lossLabels, title: null },
        x: { field: 'latency', type: 'quantitative', scale: { type: 'log' }, title: 'latency, ms (log)' },
        y: { field: 'fraction', type: 'quantitative', scale: { domain: [0, 1] }, title: 'share of messages' },
        color,
      },
    },
    {
      title: 'p99 latency against loss (dashed: TCP model)',
      data: { values: p99 },
      mark: { type: 'line', point: true },
      width: 360,
      height: 220,
      encoding: {
        x: { field: 'lossPercent', type: 'quantitative', title: 'loss each way, %' },
        y: { field: 'p99', type: 'quantitative', scale: { type: 'log' }, title: 'p99 latency, ms (log)' },
        strokeDash: { field: 'kind', type: 'nominal', scale: { domain: ['measured', 'model'], range: [[1, 0], [5, 4]] }, legend: null },
        color,
      },
    },
  ];

  const L = timelineLoss(losses);
  if (L !== undefined) {
    const atL = results.filter((r) => r.spec.lossPercent === L);
    const events = atL.map((r) => ({ r, k: firstLoss(r) })).filter((e): e is { r: HolRunResult; k: number } => e.k !== undefined);
    if (events.length > 0) {
      const interval = Math.max(0.01, atL[0]!.spec.intervalMs);
      const tcp = events.find((e) => e.r.spec.transport === 'tcp') ?? events[0]!;
      const stall = lat(tcp.r, tcp.k) ?? tcp.r.baseRttMs;
      const before = Math.max(5 * interval, 5);
      const after = Math.max(2 * stall, 2 * tcp.r.baseRttMs) + 5 * interval;
      const points = events.flatMap(({ r, k }) => {
        const t0 = r.messages[k]!.sentMs;
        return r.messages
          .filter((m) => m.sentMs >= t0 - before && m.sentMs <= t0 + after)
          .slice(0, 600)
          .map((m) => ({
            transport: r.spec.transport,
            t: m.sentMs - t0,
            latency: m.receivedMs === null ? 0 : m.receivedMs - m.sentMs,
            status: m.receivedMs === null ? 'lost' : 'delivered',
          }));
      });
      const rows: HolTransport[] = events.map((e) => e.r.spec.transport);
      charts.push({
        title: `The first stall at ${L}% loss: latency by send time, 0 = the first lost message`,
        data: { values: points },
        mark: { type: 'point', filled: true },
        width: 560,
        height: 90,
        encoding: {
          row: { field: 'transport', type: 'nominal', sort: rows, title: null },
          x: { field: 't', type: 'quantitative', title: 'send time relative to the first loss, ms' },
          y: { field: 'latency', type: 'quantitative', title: 'latency, ms' },
          shape: { field: 'status', type: 'nominal', scale: { domain: ['delivered', 'lost'], range: ['circle', 'cross'] }, legend: { title: null } },
          size: { condition: { test: "datum.status === 'lost'", value: 90 }, value: 18 },
          color,
        },
      });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'bench/hol: head-of-line blocking', fontSize: 16 },
    background: 'white',
    padding: 12,
    vconcat: charts,
    resolve: { scale: { color: 'shared', shape: 'shared', strokeDash: 'shared' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** hol.svg: the spec above compiled and rendered headless. */
export async function renderHolSvg(results: HolRunResult[], summaries: HolSummary[], models: HolModelRow[]): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const spec = holPlotSpec(results, summaries, models) as unknown as Parameters<typeof vl.compile>[0];
  // Warnings go nowhere: the spec is ours and fixed, and the bench's output is its table.
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(vl.compile(spec, { logger }).spec), { renderer: 'none', logger });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
