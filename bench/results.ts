/**
 * The one result format every benchmark writes: <dir>/<name>.json,
 * `{ bench, rows: [{ path, metric, value, reference, ratio }] }`, the
 * reference's own row included with ratio 1, and <dir>/<name>.svg beside it.
 *
 * Where <dir> is: a run never touches the results committed in bench/results/
 * unless asked to with `--save`. Otherwise it writes to the results
 * directory: `$WIRELAB_RESULTS` if set (a relative path is taken from the
 * directory the command was started in), else
 * `$XDG_DATA_HOME/wirelab/bench-results/`, i.e.
 * `~/.local/share/wirelab/bench-results/`. Every run prints the file it wrote.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
  /**
   * Optional, for a row that is the median of several rounds (bench/throughput):
   * the smallest and largest round, and how many rounds there were.
   */
  min?: number;
  max?: number;
  rounds?: number;
  /** Optional remark printed beside the row, e.g. that the load generator, not the path, was the limit. */
  note?: string;
}

export interface BenchResult {
  bench: string;
  rows: BenchRow[];
}

/** bench/results/: the committed results, written only with --save. */
export const committedResultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Where a run without --save writes: `$WIRELAB_RESULTS`, else `$XDG_DATA_HOME/wirelab/bench-results` (~/.local/share/…). */
export function defaultResultsDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.INIT_CWD !== undefined && env.INIT_CWD !== '' ? env.INIT_CWD : process.cwd(); // npm runs scripts in the package root
  if (env.WIRELAB_RESULTS !== undefined && env.WIRELAB_RESULTS !== '') return resolve(base, env.WIRELAB_RESULTS);
  const data = env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== '' ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(data, 'wirelab', 'bench-results');
}

/** The paragraph `--help` prints about where results go. */
export function resultsLocationHelp(): string {
  return (
    `Results (<name>.json and <name>.svg) go to ${defaultResultsDir()}\n` +
    '($WIRELAB_RESULTS, else $XDG_DATA_HOME/wirelab/bench-results, i.e. ~/.local/share/wirelab/bench-results);\n' +
    `only --save writes ${committedResultsDir}, the results committed with the repository.`
  );
}

/**
 * Writes <name>.json and <name>.svg into bench/results/ with `save`, else into
 * the results directory; returns the JSON's path. `svg` replaces the bar
 * chart with a bench's own picture (bench/hol's plots). Fields of `result`
 * beyond bench and rows are written into the JSON as they are.
 */
export function writeResult(result: BenchResult, opts: { save: boolean; svg?: string }): string {
  const dir = opts.save ? committedResultsDir : defaultResultsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${result.bench}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(dir, `${result.bench}.svg`), opts.svg ?? renderSvg(result));
  return file;
}

/** The closing line of a run: where the results went, and how to update the committed ones. */
export function wroteLine(file: string, opts: { save: boolean }): string {
  const svg = file.replace(/\.json$/, '.svg');
  return opts.save
    ? `wrote ${file} and ${svg} (the committed results)\n`
    : `wrote ${file} and ${svg} (bench/results/ untouched: --save writes there)\n`;
}

/** Prints rows as an aligned table, like the README shows them. */
export function printRows(rows: BenchRow[]): void {
  // Rows with a spread (min/max over rounds) or a note get those columns; others print as always.
  const spread = rows.some((r) => r.min !== undefined && r.max !== undefined);
  const notes = rows.some((r) => r.note !== undefined && r.note !== '');
  const header = ['path', 'metric', spread ? 'median' : 'value', ...(spread ? ['min–max'] : []), 'reference', 'ratio', ...(notes ? ['note'] : [])];
  const right = new Set(spread ? [2, 3, 5] : [2, 4]);
  const cells = rows.map((r) => [
    r.path,
    r.metric,
    formatValue(r.value),
    ...(spread ? [r.min !== undefined && r.max !== undefined ? `${formatValue(r.min)}–${formatValue(r.max)}` : ''] : []),
    r.reference,
    r.ratio.toFixed(2),
    ...(notes ? [r.note ?? ''] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (right.has(i) ? x.padStart(widths[i]!) : i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
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
      `<text x="${labelW + w + 6}" y="${y + 16}">${r.ratio.toFixed(2)}× (${formatValue(r.value)}${
        r.min !== undefined && r.max !== undefined ? ` [${formatValue(r.min)}–${formatValue(r.max)}]` : ''
      } ${esc(r.metric)})</text>`,
    );
  });
  parts.push(`<line x1="${x1}" y1="${top}" x2="${x1}" y2="${h - 20}" stroke="#c00" stroke-dasharray="4 3"/>`, '</svg>');
  return parts.join('\n') + '\n';
}
