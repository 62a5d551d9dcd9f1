/**
 * A topology as a standalone SVG picture: one file that opens in any
 * browser or image viewer, with no external references, fonts or scripts.
 *
 * ELK (elkjs, the layered algorithm) decides where every node, edge bend and
 * edge label goes; it only lays out, it draws nothing. Turning its
 * coordinates into SVG elements is hand-written here: boxes coloured by kind
 * with a legend, polylines from ELK's edge sections (dashed and red when
 * impaired, thick for trunks), and every piece of text escaped for XML.
 *
 * Text is measured by assumption, not by a font engine (there is none in
 * Node): a monospace font, whose advance is close to 0.6 em in every common
 * face, so ELK is given boxes the text really fits.
 */
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { checkTopology, edgeWords, KIND_COLOURS, TOPOLOGY_NODE_KINDS, type Topology, type TopologyEdge, type TopologyNodeKind } from './graph.js';

export interface SvgOptions {
  /** Which way ELK's layers run: RIGHT (default, as Mermaid's `flowchart LR`) or DOWN. */
  direction?: 'RIGHT' | 'DOWN';
}

const FONT = 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
const CHAR_EM = 0.6; // a monospace advance, in ems
const LINE_EM = 1.35;
const LABEL_PX = 13;
const DETAIL_PX = 11;
const EDGE_PX = 11;
const PAD_X = 12;
const PAD_Y = 8;
const TITLE_H = 30;
const MARGIN = 16;

/** Corner radius by kind: switches and the outside world read as rounder than hosts and routers. */
const RADIUS: Record<TopologyNodeKind, number> = { service: 3, router: 8, host: 3, gateway: 8, switch: 14, outside: 20 };

const LINK = { stroke: '#868e96', width: 1.5 };
const TRUNK_WIDTH = 4;
const IMPAIRED = { stroke: '#e03131', text: '#c92a2a', dash: '6 4' };

/** The topology as a standalone SVG document laid out by ELK; the same topology always gives the same text. */
export async function topologyToSvg(t: Topology, options: SvgOptions = {}): Promise<string> {
  checkTopology(t);
  const laidOut = await layout(t, options.direction ?? 'RIGHT');
  const graphW = laidOut.width ?? 0;
  const graphH = laidOut.height ?? 0;
  const title = `wirelab lab ${t.name}`;
  const legend = legendItems(t);
  const width = Math.max(graphW, textWidth(title, LABEL_PX) + 2 * MARGIN, legendWidth(legend) + 2 * MARGIN);
  const legendTop = TITLE_H + graphH;
  const height = legendTop + LEGEND_H + MARGIN;

  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" font-family="${FONT}">`,
    `<title>${xml(title)}</title>`,
    `<rect x="0" y="0" width="${num(width)}" height="${num(height)}" fill="#ffffff"/>`,
    `<text x="${num(MARGIN)}" y="${num(MARGIN + LABEL_PX)}" font-size="${LABEL_PX}" font-weight="bold" fill="#212529">${xml(title)}</text>`,
    `<g transform="translate(0 ${num(TITLE_H)})">`,
  ];
  // Edges first, so boxes sit on top of where lines meet them.
  t.edges.forEach((e, i) => {
    const laid = laidOut.edges?.[i];
    if (laid === undefined || laid.id !== `e${i}`) throw new Error(`ELK's result lost edge ${e.from}–${e.to}`);
    out.push(...edgeSvg(e, laid));
  });
  t.nodes.forEach((n, i) => {
    const box = laidOut.children?.[i];
    if (box === undefined || box.id !== `n${i}`) throw new Error(`ELK's result lost node ${n.id}`);
    const { fill, stroke } = KIND_COLOURS[n.kind];
    const x = box.x ?? 0;
    const y = box.y ?? 0;
    const w = box.width ?? 0;
    out.push(`<g class="node ${n.kind}">`);
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(box.height ?? 0)}" rx="${RADIUS[n.kind]}" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`);
    let baseline = y + PAD_Y + LABEL_PX;
    out.push(`<text x="${num(x + w / 2)}" y="${num(baseline)}" text-anchor="middle" font-size="${LABEL_PX}" font-weight="bold" fill="#212529">${xml(n.label)}</text>`);
    baseline += (LABEL_PX * (LINE_EM - 1)) + DETAIL_PX;
    for (const d of n.details) {
      out.push(`<text x="${num(x + w / 2)}" y="${num(baseline)}" text-anchor="middle" font-size="${DETAIL_PX}" fill="#495057">${xml(d)}</text>`);
      baseline += DETAIL_PX * LINE_EM;
    }
    out.push('</g>');
  });
  out.push('</g>');
  out.push(...legendSvg(legend, legendTop));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * ELK's answer for the topology. Nodes are `n<index>` and edges `e<index>`
 * rather than their own ids so that no id, however odd, reaches ELK; the
 * seed is fixed and model order considered so that the same topology lays out
 * the same way every time, in the order its author wrote it.
 */
async function layout(t: Topology, direction: 'RIGHT' | 'DOWN'): Promise<ElkNode> {
  const index = new Map(t.nodes.map((n, i) => [n.id, i]));
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': direction,
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.spacing.nodeNode': '40',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.spacing.nodeNodeBetweenLayers': '60',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.randomSeed': '1',
      'elk.padding': `[top=${MARGIN},left=${MARGIN},bottom=${MARGIN},right=${MARGIN}]`,
    },
    children: t.nodes.map((n, i) => {
      const lines = [{ text: n.label, px: LABEL_PX }, ...n.details.map((d) => ({ text: d, px: DETAIL_PX }))];
      const w = Math.max(80, ...lines.map((l) => textWidth(l.text, l.px))) + 2 * PAD_X;
      const h = 2 * PAD_Y + LABEL_PX * LINE_EM + n.details.length * DETAIL_PX * LINE_EM;
      return { id: `n${i}`, width: Math.ceil(w), height: Math.ceil(h) };
    }),
    edges: t.edges.map((e, i) => {
      const words = edgeWords(e);
      const labels = words.length === 0 ? [] : [{ id: `e${i}_label`, text: words.join(' '), ...edgeLabelSize(words) }];
      return { id: `e${i}`, sources: [`n${index.get(e.from)!}`], targets: [`n${index.get(e.to)!}`], labels };
    }),
  };
  return (await elk()).layout(graph);
}

let elkInstance: Promise<ELK> | undefined;

/**
 * One ELK for the process, loaded on first use: the bundle is large, and a
 * `wirelab` that never draws SVG should not pay for reading it.
 */
function elk(): Promise<ELK> {
  elkInstance ??= import('elkjs/lib/elk.bundled.js').then((mod) => {
    // elk.bundled.js is CommonJS: Node's default import is module.exports
    // (the constructor), while TypeScript, reading its `export default`,
    // types it as { default: constructor }. The constructor also carries
    // itself as `.default`, so this line is right for both.
    const ElkConstructor = mod.default.default;
    return new ElkConstructor();
  });
  return elkInstance;
}

/** One edge: a polyline per ELK section, then its words on a white ground at ELK's label place. */
function edgeSvg(e: TopologyEdge, laid: ElkExtendedEdge): string[] {
  const impaired = e.impaired !== undefined && e.impaired !== '';
  const stroke = impaired ? IMPAIRED.stroke : LINK.stroke;
  const width = e.trunk === true ? TRUNK_WIDTH : LINK.width;
  const dash = impaired ? ` stroke-dasharray="${IMPAIRED.dash}"` : '';
  const kind = ['edge', ...(e.trunk === true ? ['trunk'] : []), ...(impaired ? ['impaired'] : [])].join(' ');
  const out = [`<g class="${kind}">`];
  for (const s of laid.sections ?? []) {
    const points = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint].map((p) => `${num(p.x)},${num(p.y)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${stroke}" stroke-width="${width}"${dash} stroke-linejoin="round"/>`);
  }
  const label = laid.labels?.[0];
  const words = edgeWords(e);
  if (label !== undefined && words.length > 0) {
    const x = label.x ?? 0;
    const y = label.y ?? 0;
    const w = label.width ?? 0;
    out.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(label.height ?? 0)}" rx="2" fill="#ffffff" fill-opacity="0.9"/>`);
    words.forEach((word, i) => {
      const baseline = y + 2 + EDGE_PX + i * EDGE_PX * LINE_EM;
      out.push(`<text x="${num(x + w / 2)}" y="${num(baseline)}" text-anchor="middle" font-size="${EDGE_PX}" fill="${impaired ? IMPAIRED.text : '#343a40'}">${xml(word)}</text>`);
    });
  }
  out.push('</g>');
  return out;
}

function edgeLabelSize(words: string[]): { width: number; height: number } {
  return {
    width: Math.ceil(Math.max(...words.map((w) => textWidth(w, EDGE_PX))) + 8),
    height: Math.ceil(words.length * EDGE_PX * LINE_EM + 4),
  };
}

// The legend: one row under the drawing, naming only what the drawing shows.

const LEGEND_H = 22;
const SWATCH = 14;
const ITEM_GAP = 18;

type LegendItem = { kind: TopologyNodeKind } | { line: 'trunk' | 'impaired' };

function legendItems(t: Topology): LegendItem[] {
  const items: LegendItem[] = TOPOLOGY_NODE_KINDS.filter((k) => t.nodes.some((n) => n.kind === k)).map((kind) => ({ kind }));
  if (t.edges.some((e) => e.trunk === true)) items.push({ line: 'trunk' });
  if (t.edges.some((e) => e.impaired !== undefined && e.impaired !== '')) items.push({ line: 'impaired' });
  return items;
}

const legendWord = (item: LegendItem): string => ('kind' in item ? item.kind : item.line);
const legendItemWidth = (item: LegendItem): number => SWATCH + 6 + textWidth(legendWord(item), DETAIL_PX) + ITEM_GAP;
const legendWidth = (items: LegendItem[]): number => items.reduce((sum, item) => sum + legendItemWidth(item), 0);

function legendSvg(items: LegendItem[], top: number): string[] {
  const out = ['<g class="legend">'];
  let x = MARGIN;
  const mid = top + LEGEND_H / 2;
  for (const item of items) {
    if ('kind' in item) {
      const { fill, stroke } = KIND_COLOURS[item.kind];
      out.push(`<rect x="${num(x)}" y="${num(mid - SWATCH / 2)}" width="${SWATCH}" height="${SWATCH}" rx="3" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`);
    } else {
      const style = item.line === 'trunk'
        ? `stroke="${LINK.stroke}" stroke-width="${TRUNK_WIDTH}"`
        : `stroke="${IMPAIRED.stroke}" stroke-width="${LINK.width}" stroke-dasharray="${IMPAIRED.dash}"`;
      out.push(`<line x1="${num(x)}" y1="${num(mid)}" x2="${num(x + SWATCH)}" y2="${num(mid)}" ${style}/>`);
    }
    out.push(`<text x="${num(x + SWATCH + 6)}" y="${num(mid + DETAIL_PX * 0.35)}" font-size="${DETAIL_PX}" fill="#495057">${legendWord(item)}</text>`);
    x += legendItemWidth(item);
  }
  out.push('</g>');
  return out;
}

/** Width of `text` at `px` in the assumed monospace font (code points, not UTF-16 units). */
function textWidth(text: string, px: number): number {
  return [...text].length * px * CHAR_EM;
}

/**
 * A coordinate as text: one decimal, so the same layout prints the same
 * bytes. A non-finite number would make the picture silently blank, so it
 * is an error instead.
 */
function num(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`graph layout produced a non-finite coordinate (${n})`);
  const r = Math.round(n * 10) / 10;
  return String(r === 0 ? 0 : r); // no "-0"
}

/**
 * Text for an XML element or attribute: the five special characters as
 * entities, and what XML 1.0 cannot hold at all (control characters, lone
 * surrogates) as U+FFFD. Line breaks become spaces; SVG would collapse them
 * anyway.
 */
function xml(text: string): string {
  return text
    .replace(/[\r\n\t]/g, ' ')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[&<>"']/g, (ch) => XML_ENTITIES[ch]!);
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
