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
