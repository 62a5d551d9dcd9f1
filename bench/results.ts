/**
 * The one result format every benchmark writes: bench/results/<name>.json,
 * `{ bench, rows: [{ path, metric, value, reference, ratio }] }`, the
 * reference's own row included with ratio 1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  /** What was measured, e.g. 'wirelab decode eth/ipv4/tcp'. */
  path: string;
  /** Unit, e.g. 'ops/s', 'Gbit/s', 'frames/s'. */
  metric: string;
  value: number;
  /** The `path` of the row this one is compared with. */
  reference: string;
  /** value / reference value (1 for the reference itself). */
  ratio: number;
}

export interface BenchResult {
  bench: string;
  rows: BenchRow[];
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export function writeResult(result: BenchResult): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${result.bench}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(resultsDir, `${result.bench}.svg`), renderSvg(result));
  return file;
}

/** Prints rows as an aligned table, like the README shows them. */
export function printRows(rows: BenchRow[]): void {
  const header = ['path', 'metric', 'value', 'reference', 'ratio'];
  const cells = rows.map((r) => [r.path, r.metric, formatValue(r.value), r.reference, r.ratio.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 || i === 4 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
  process.stdout.write(line(header) + '\n' + cells.map(line).join('\n') + '\n');
}

function formatValue(v: number): string {
  if (v >= 1e6) return v.toExponential(3);
  return v >= 100 ? v.toFixed(0) : v.toFixed(3);
}

/**
 * A horizontal bar chart of every row's ratio to its reference, as SVG:
 * the picture the README shows beside each table. Hand-written because it
 * is forty lines and a plotting library would be the largest dependency.
 */
export function renderSvg(result: BenchResult): string {
  const rowH = 26;
  const labelW = 380;
  const barW = 360;
  const top = 34;
  const max = Math.max(1, ...result.rows.map((r) => r.ratio));
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const h = top + result.rows.length * rowH + 24;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 140}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">bench/${esc(result.bench)}: ratio to reference (reference = 1)</text>`,
  ];
  const x1 = labelW + (barW * 1) / max;
  result.rows.forEach((r, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (barW * r.ratio) / max);
    const ref = r.path === r.reference;
    parts.push(
      `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(r.path)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${ref ? '#999' : '#3a7bd5'}"/>`,
      `<text x="${labelW + w + 6}" y="${y + 16}">${r.ratio.toFixed(2)}× (${formatValue(r.value)} ${esc(r.metric)})</text>`,
    );
  });
  parts.push(`<line x1="${x1}" y1="${top}" x2="${x1}" y2="${h - 20}" stroke="#c00" stroke-dasharray="4 3"/>`, '</svg>');
  return parts.join('\n') + '\n';
}
