/**
 * bench/micro run for real, as briefly as it goes (`--seconds 1`), into a
 * temporary results directory: it exits 0, writes one row per benchmark
 * (each with a positive value and a reference: its committed value, or
 * itself when there is none) and the SVG beside them, and leaves the
 * committed results alone. Its flags are refused the way every bench's are.
 * No speed is ever asserted: only that something was measured.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { committedResultsDir, type BenchResult } from '../../bench/results.js';
import { committedReference } from '../../bench/micro.js';

const dir = mkdtempSync(join(tmpdir(), 'wl-bench-micro-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ALL_PATHS = [
  'codec: decode eth/ipv4/tcp',
  'codec: decode eth/ipv4/tcp, no checksum verify',
  'codec: encode eth/ipv4/tcp',
  'checksum: 1500 B',
  'checksum: 65535 B',
  'fdb: lookup, 1k entries',
  'fdb: lookup, 8k entries',
  'fdb: learn (refresh), 8k entries',
  'route: lookup, 10 routes',
  'route: lookup, 1000 routes',
  'conntrack: lookup hit, 10k entries',
  'conntrack: lookup miss, 10k entries',
  'timer: arm+cancel, none other armed',
  'timer: arm+cancel, 10k armed',
  'timer: re-arm one of 10k armed',
  'tcp: 64 KiB through a 1500-byte pipe',
  'tcp: 64 KiB through a 1500-byte pipe, GRO on',
  'tcp: 64 KiB through an offload pipe',
  'tcp: connection life (open, 100 B each way, close)',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function micro(args: string[], resultsDir: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', 'micro', ...args],
      { env: { ...process.env, WIRELAB_RESULTS: resultsDir }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function committedSnapshot(): string {
  return readdirSync(committedResultsDir)
    .sort()
    .map((f) => `${f}:${statSync(join(committedResultsDir, f)).mtimeMs}`)
    .join(',');
}

/** The committed micro.json's values by path, as the run read them before measuring. */
function committedValues(): Map<string, number> {
  const file = join(committedResultsDir, 'micro.json');
  if (!existsSync(file)) return new Map();
  const result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  return new Map(result.rows.map((r) => [r.path, r.value]));
}

function checkRows(result: BenchResult, paths: string[]): void {
  const committed = committedValues();
  expect(result.bench).toBe('micro');
  expect(result.rows.map((r) => r.path)).toEqual(paths);
  for (const r of result.rows) {
    expect(r.metric, r.path).toBe('ops/s');
    expect(r.value, r.path).toBeGreaterThan(0);
    const then = committed.get(r.path);
    if (then === undefined) {
      expect(r.reference, r.path).toBe(r.path);
      expect(r.ratio, r.path).toBe(1);
    } else {
      expect(r.reference, r.path).toBe(committedReference(r.path));
      expect(r.ratio, r.path).toBeCloseTo(r.value / then, 9);
    }
  }
}

describe('bench/micro', () => {
  it('a smoke run measures every benchmark, compares each with its committed value and writes micro.json and micro.svg', async () => {
    const before = committedSnapshot();
    const out = join(dir, 'all');
    const r = await micro(['--seconds', '1'], out);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.code).toBe(0);
    checkRows(JSON.parse(readFileSync(join(out, 'micro.json'), 'utf8')) as BenchResult, ALL_PATHS);
    expect(readFileSync(join(out, 'micro.svg'), 'utf8')).toMatch(/^<svg [^]*<\/svg>\n$/);
    // The table shows each result beside the committed one and the change.
    expect(r.stdout).toMatch(/^benchmark\s+ops\/s\s+±\s+previous\s+change$/m);
    for (const p of ALL_PATHS) expect(r.stdout).toContain(p);
    expect(r.stdout).toContain(`wrote ${join(out, 'micro.json')}`);
    expect(committedSnapshot()).toBe(before);
  }, 180_000);

  it('--only runs just the groups named', async () => {
    const out = join(dir, 'only');
    const r = await micro(['--seconds', '1', '--only', 'route,timer'], out);
    expect(r.code).toBe(0);
    checkRows(
      JSON.parse(readFileSync(join(out, 'micro.json'), 'utf8')) as BenchResult,
      ALL_PATHS.filter((p) => p.startsWith('route:') || p.startsWith('timer:')),
    );
  }, 180_000);

  it('refuses an unknown flag, an unknown group and --save with --only: exit 2, nothing written', async () => {
    const before = committedSnapshot();
    const out = join(dir, 'never');
    const bogus = await micro(['--bogus'], out);
    expect(bogus.code).toBe(2);
    expect(bogus.stdout).toBe('');
    expect(bogus.stderr).toBe(
      'bench/micro: unknown option --bogus; valid options: --seconds N, --only group,…, --save, --help\n',
    );
    const group = await micro(['--only', 'fdb,nosuch'], out);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('bench/micro: --only: "nosuch" is not one of codec,checksum,fdb,route,conntrack,timer');
    const range = await micro(['--seconds', '0'], out);
    expect(range.code).toBe(2);
    expect(range.stderr).toContain('bench/micro: --seconds must be a number in 1..600, got "0"');
    const save = await micro(['--only', 'fdb', '--save'], out);
    expect(save.code).toBe(2);
    expect(save.stderr).toContain('--save records every group, so it cannot be combined with --only');
    expect(existsSync(out)).toBe(false);
    expect(committedSnapshot()).toBe(before);
  }, 120_000);
});
