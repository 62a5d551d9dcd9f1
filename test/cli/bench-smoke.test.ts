/**
 * Every benchmark in bench/ runs end to end, so none rots: each is started
 * through bench/run.ts with its tiniest flags (one second, one round, the
 * smallest sizes), its results going to a temporary directory
 * ($WIRELAB_RESULTS), and must exit 0 and write <name>.json with at least one
 * row whose value is a finite number above zero, and <name>.svg beside it.
 * Shape only: no figure is ever compared with a speed.
 *
 * The list is bench/*.ts itself (minus run.ts and results.ts), so a new
 * benchmark is run here the day it lands — and fails here until it has an
 * entry in SMALLEST_FLAGS. 'hol', 'micro' and 'soak' have smoke tests of their own.
 *
 * The benchmarks create namespaces, TAPs and veths: root and their tools are
 * needed. Without them this file skips, except under CI=true, where it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/results.js';
import { requireRoot } from '../helpers/netns.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const benchDir = join(root, 'bench');

/** Benchmarks with smoke tests of their own. */
const OWN_SMOKE_TESTS = ['hol', 'micro', 'soak'];

/** Each benchmark's tiniest run. */
const SMALLEST_FLAGS: Record<string, string[]> = {
  bridge: ['--seconds', '1', '--only', 'tcp,rr'], // the 64-byte part needs trafgen (netsniff-ng)
  http: ['--seconds', '1', '--connections', '4', '--close-connections', '4'],
  labscale: ['--sizes', '2'],
  portmap: ['--seconds', '1', '--requests', '100', '--rounds', '1'],
  'tap-forward': ['--seconds', '1'],
  tcp: ['--seconds', '1', '--connections', '2000'],
  // The router, NAT and UDP groups: the bridge group's TCP rows are bridge's and tap-forward's paths, the
  // portmap group is bench/portmap's and the tcp group is bench/tcp's part (a), each smoke-run above.
  throughput: ['--seconds', '1', '--rounds', '1', '--udp-sizes', '64', '--only', 'router,nat,udp'],
  wire: ['--seconds', '0.1'],
};

/**
 * Rows a tiny run must produce, each measured (a finite number): one pattern
 * per kind of row, every one of which must match at least one row's path.
 */
const EXPECTED_ROWS: Record<string, RegExp[]> = {
  bridge: [/CPU s\/GB/, /request\/response, p50 round trip$/, /request\/response, p99 round trip$/],
  tcp: [/^\(a\) wirelab → kernel .*CPU s\/GB/, /^\(a\) kernel → wirelab .*CPU s\/GB/, /^\(e\) .*request\/response, p50 round trip$/, /^\(e\) .*wirelab.*, p99 round trip$/],
  http: [/keep-alive.*, req\/s$/, /one request per connection.*, req\/s$/, /, p50 latency$/, /, p99 latency$/],
};

/** How long each may take before it counts as hung (ms); its run is killed a little before. */
const TIMEOUT_MS: Record<string, number> = { throughput: 240_000, tcp: 180_000, bridge: 120_000, 'tap-forward': 120_000 };

const benches = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'results.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .filter((n) => !OWN_SMOKE_TESTS.includes(n))
  .sort();

const cap = requireRoot(['iperf3', 'ping', 'cc', 'ethtool', 'python3', 'slirp4netns', 'socat', 'ab', 'wrk', 'node', 'iptables', 'sysctl']);
const dir = mkdtempSync(join(tmpdir(), 'wl-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(name: string, args: string[], resultsDir: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', name, ...args],
      { cwd: root, env: { ...process.env, WIRELAB_RESULTS: resultsDir, INIT_CWD: '' }, timeout: timeoutMs, killSignal: 'SIGINT', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('every benchmark in bench/ has a smoke run', () => {
  it('lists the benchmarks bench/run.ts offers, each with its smallest flags', () => {
    expect(benches).toContain('throughput');
    expect(benches.filter((n) => SMALLEST_FLAGS[n] === undefined)).toEqual([]);
  });
});

describe.skipIf(cap.skip)('bench smoke runs (root)', () => {
  it.each(benches)(
    '%s with its tiniest flags exits 0 and writes <name>.json (≥ 1 row, finite value > 0) and <name>.svg',
    async (name) => {
      cap.assert();
      const flags = SMALLEST_FLAGS[name];
      if (flags === undefined) throw new Error(`bench/${name}.ts has no entry in SMALLEST_FLAGS (test/cli/bench-smoke.test.ts)`);
      const resultsDir = join(dir, name);
      const r = await runBench(name, flags, resultsDir, (TIMEOUT_MS[name] ?? 90_000) - 10_000);
      expect(r.code, `bench ${name} ${flags.join(' ')}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
      const jsonFile = join(resultsDir, `${name}.json`);
      expect(r.stdout).toContain(`wrote ${jsonFile}`);
      const result = JSON.parse(readFileSync(jsonFile, 'utf8')) as BenchResult;
      expect(result.bench).toBe(name);
      expect(result.rows.length).toBeGreaterThanOrEqual(1);
      for (const row of result.rows) {
        expect(typeof row.path).toBe('string');
        expect(typeof row.metric).toBe('string');
        expect(typeof row.reference).toBe('string');
        // A one-second smoke run can time a path too short to measure (a rate over zero seconds): JSON
        // writes that non-finite number as null. Shape, not speed: such a row is allowed here, and the
        // check below still wants a real measurement in every bench.
        expect(row.value === null || typeof row.value === 'number', JSON.stringify(row)).toBe(true);
        expect(row.ratio === null || typeof row.ratio === 'number', JSON.stringify(row)).toBe(true);
      }
      expect(result.rows.some((row) => Number.isFinite(row.value) && row.value > 0), JSON.stringify(result.rows)).toBe(true);
      for (const pattern of EXPECTED_ROWS[name] ?? []) {
        const matching = result.rows.filter((row) => pattern.test(row.path));
        expect(matching.length, `no row of bench/${name} matches ${pattern}: ${result.rows.map((row) => row.path).join('; ')}`).toBeGreaterThan(0);
        for (const row of matching) expect(Number.isFinite(row.value), JSON.stringify(row)).toBe(true);
      }
      if (name === 'http') {
        // Every wrk run gives req/s, p50 and p99, each a finite number.
        for (const row of result.rows) expect(Number.isFinite(row.value) && row.value > 0, JSON.stringify(row)).toBe(true);
        expect(result.rows.filter((row) => row.path.endsWith(', p99 latency'))).toHaveLength(5);
      }
      if (name === 'throughput') {
        // Its rows are medians: each carries its spread and round count, and names a reference that is a row too.
        const paths = new Set(result.rows.map((row) => row.path));
        for (const row of result.rows) {
          expect(row.rounds).toBe(1);
          expect(row.min).toBeLessThanOrEqual(row.value);
          expect(row.max).toBeGreaterThanOrEqual(row.value);
          expect(paths.has(row.reference), row.reference).toBe(true);
        }
      }
      const svg = join(resultsDir, `${name}.svg`);
      expect(existsSync(svg)).toBe(true);
      expect(readFileSync(svg, 'utf8')).toMatch(/^<svg /);
    },
    Math.max(...Object.values(TIMEOUT_MS)),
  );
});
