/**
 * bench/soak's picture, one self-contained SVG: a vega-lite spec compiled to
 * vega and rendered headless in Node (renderer 'none', as bench/lib/hol-plot.ts):
 *
 *   (a) the heap in use (heapUsed, MB) over the run;
 *   (b) every bounded table's size as a fraction of its limit, one line per
 *       table, one panel per host (and one for the switch's FDB); 1 is the
 *       limit (dashed).
 *
 * x is virtual seconds from the start of the load; a dashed rule marks where
 * the load stops and the idle phase begins. Each point is the largest
 * sample in its bucket (soak-sample.ts `series`), so no peak is lost.
 *
 * vega and vega-lite are loaded here only, when a run is over.
 */
import type { SoakReport } from '../soak.js';

export interface SoakSeries {
  t: number[];
  heapMB: number[];
  fractions: Record<string, number[]>;
}

/** Dash patterns, so lines that sit on top of each other at the limit stay apart. */
const TABLE_DASHES: Record<string, number[]> = {
  neighbours: [1, 0],
  reassembly: [6, 3],
  'tcp.synQueue': [2, 2],
  'tcp.timeWait': [1, 0],
  conntrack: [8, 3, 2, 3],
  'dns.cache': [4, 2],
  fdb: [1, 0],
};

const TABLE_COLORS: Record<string, string> = {
  neighbours: '#1f77b4',
  reassembly: '#ff7f0e',
  'tcp.synQueue': '#d62728',
  'tcp.timeWait': '#9467bd',
  conntrack: '#2ca02c',
  'dns.cache': '#8c564b',
  fdb: '#17becf',
};

export function soakPlotSpec(r: SoakReport, s: SoakSeries): Record<string, unknown> {
  const loadEnd = r.run.opts.seconds;
  const heap = s.t.map((t, i) => ({ t, mb: s.heapMB[i]! }));
  const tables = r.tables.filter((x) => x.limit > 0);
  const where = [...new Set(tables.map((x) => x.where))];
  const kinds = [...new Set(tables.map((x) => x.table))];
  const points = tables.flatMap((x) =>
    (s.fractions[x.key] ?? []).map((f, i) => ({ t: s.t[i]!, where: x.where, table: x.table, fraction: f })),
  );
  const rule = (y: number | undefined) => ({
    mark: { type: 'rule', strokeDash: [5, 4], color: '#555' },
    encoding: y === undefined ? { x: { datum: loadEnd } } : { y: { datum: y } },
  });
  const xTitle = 'virtual seconds from the start of the load (dashed: load stops, idle begins)';
  const h = r.run.heap;
  const tEnd = s.t[s.t.length - 1] ?? loadEnd;
  const x = { field: 't', type: 'quantitative', scale: { domain: [0, tEnd], nice: false } };
  const settled = [
    { t: 0, mb: h.startMB, label: `start ${h.startMB.toFixed(1)} MB` },
    { t: tEnd, mb: h.endMB, label: `end ${h.endMB.toFixed(1)} MB` },
  ];
  const phases = [
    { t: loadEnd / 2, label: 'load' },
    { t: (loadEnd + tEnd) / 2, label: 'idle' },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `bench/soak: ${r.run.opts.seconds} s of load + ${r.run.opts.idleSeconds} s idle (virtual time), ${r.verdict.pass ? 'PASS' : 'FAIL'}`,
      subtitle: `${r.run.load.transfers.intact} transfers intact · heap start ${h.startMB.toFixed(1)} MB, peak ${h.peakMB.toFixed(1)} MB, end ${h.endMB.toFixed(1)} MB`,
      fontSize: 16,
    },
    background: 'white',
    padding: 12,
    vconcat: [
      {
        title: `Heap in use (heapUsed, MB; the sawtooth is garbage between collections; dots: after a full collection${h.gc ? '' : ' — none was available'})`,
        width: 760,
        height: 160,
        layer: [
          {
            data: { values: heap },
            mark: { type: 'line', color: '#444', strokeWidth: 1.5 },
            encoding: {
              x: { ...x, title: xTitle },
              y: { field: 'mb', type: 'quantitative', title: 'MB', scale: { zero: true } },
            },
          },
          {
            data: { values: settled },
            mark: { type: 'point', filled: true, size: 60, color: '#d62728' },
            encoding: { x, y: { field: 'mb', type: 'quantitative' } },
          },
          ...settled.map((p, i) => ({
            data: { values: [p] },
            mark: { type: 'text', dy: 14, dx: i === 0 ? 4 : -4, align: i === 0 ? 'left' : 'right', color: '#d62728', fontSize: 11 },
            encoding: { x, y: { field: 'mb', type: 'quantitative' }, text: { field: 'label' } },
          })),
          {
            data: { values: phases },
            mark: { type: 'text', y: 8, fontSize: 12, fontWeight: 'bold', color: '#555' },
            encoding: { x, text: { field: 'label' } },
          },
          { data: { values: [{}] }, ...rule(undefined) },
        ],
      },
      {
        title: 'Each table\'s size as a fraction of its limit (1 = the limit, dashed)',
        data: { values: points },
        facet: { field: 'where', type: 'nominal', sort: where, title: null },
        columns: 3,
        spec: {
          width: 240,
          height: 130,
          layer: [
            {
              mark: { type: 'line', strokeWidth: 1.6, interpolate: 'step-after' },
              encoding: {
                x: { ...x, title: 'virtual s' },
                y: { field: 'fraction', type: 'quantitative', title: 'size / limit', scale: { domain: [0, 1.05] } },
                color: {
                  field: 'table',
                  type: 'nominal',
                  scale: { domain: kinds, range: kinds.map((k) => TABLE_COLORS[k] ?? '#000') },
                  legend: { title: 'table', orient: 'right', symbolStrokeWidth: 2 },
                },
                strokeDash: { field: 'table', type: 'nominal', scale: { domain: kinds, range: kinds.map((k) => TABLE_DASHES[k] ?? [1, 0]) }, legend: null },
              },
            },
            // One rule per panel, not per point: the rules' data is one empty row.
            { data: { values: [{}] }, ...rule(1) },
            { data: { values: [{}] }, ...rule(undefined) },
          ],
        },
      },
    ],
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** soak.svg: the spec above compiled and rendered headless. */
export async function renderSoakSvg(r: SoakReport, s: SoakSeries): Promise<string> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const spec = soakPlotSpec(r, s) as unknown as Parameters<typeof vl.compile>[0];
  const logger = vega.logger(vega.Error);
  const view = new vega.View(vega.parse(vl.compile(spec, { logger }).spec), { renderer: 'none', logger });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
