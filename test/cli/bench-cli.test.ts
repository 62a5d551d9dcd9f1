/**
 * Benchmarks' command lines, as a user meets them through both entry points
 * (`npm run bench -- NAME …`, i.e. bench/run.ts, and `wirelab bench NAME …`):
 * an unknown or out-of-range flag is refused in one line naming it and the
 * valid ones (exit 2), a missing tool says how to install it (exit 1, no
 * stack trace), `--help` documents --save and where results go — and none of
 * it creates anything. No benchmark is ever run here: every spawned bench
 * gets a PATH without the tools it needs, so even a parser that let a flag
 * through would stop at the tool check (exit 1, not the 2 expected) instead
 * of measuring anything.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BenchExit, parseBenchArgs, requireTools } from '../../bench/lib/args.js';
import { committedResultsDir, defaultResultsDir, writeResult, wroteLine } from '../../bench/results.js';

const dir = mkdtempSync(join(tmpdir(), 'wl-bench-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** A directory on PATH that holds none of the benchmarks' tools. */
const emptyBin = join(dir, 'empty-bin');
mkdirSync(emptyBin);
/** Where a run would write its results; must never appear. */
const resultsDir = join(dir, 'results-never-created');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnRun(argv: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const ENTRY_POINTS = {
  'bench/run.ts (npm run bench --)': (args: string[]) => [process.execPath, '--import', 'tsx', 'bench/run.ts', ...args],
  'wirelab bench': (args: string[]) => [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'bench', ...args],
};

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: emptyBin,
  WIRELAB_RESULTS: resultsDir,
  WIRELAB_STATE_DIR: join(dir, 'state'),
  ...extra,
});

/** Modification times of the committed results, to show a run left them alone. */
function committedSnapshot(): string {
  return readdirSync(committedResultsDir)
    .sort()
    .map((f) => `${f}:${statSync(join(committedResultsDir, f)).mtimeMs}`)
    .join(',');
}

function assertNothingCreated(before: string): void {
  expect(existsSync(resultsDir)).toBe(false);
  expect(existsSync(join(dir, 'state'))).toBe(false);
  expect(committedSnapshot()).toBe(before);
}

describe.each(Object.entries(ENTRY_POINTS))('%s', (_label, argv) => {
  it('refuses an unknown flag in one line naming it and the valid flags, exit 2, creating nothing', async () => {
    const before = committedSnapshot();
    const r = await spawnRun(argv(['tcp', '--seconds', '3', '--bogus']), env());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('bench/tcp: unknown option --bogus; valid options: --seconds N, --only a,b,c,d,e, --connections N, --save, --help\n');
    assertNothingCreated(before);
  });

  it('refuses a value out of range, a flag without its value and an unknown --only part', async () => {
    const before = committedSnapshot();
    const range = await spawnRun(argv(['portmap', '--seconds', '99']), env());
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/^bench\/portmap: --seconds must be a number in 1\.\.30, got "99"; valid options: --seconds N, --requests N, .*--save, --help\n$/);
    const missing = await spawnRun(argv(['bridge', '--seconds']), env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('bench/bridge: --seconds needs a value (a number in 1..60)');
    const part = await spawnRun(argv(['tcp', '--only', 'a,x']), env());
    expect(part.code).toBe(2);
    expect(part.stderr).toContain('bench/tcp: --only: "x" is not one of a,b,c,d,e');
    const positional = await spawnRun(argv(['http', 'fast']), env());
    expect(positional.code).toBe(2);
    expect(positional.stderr).toContain('bench/http: unexpected argument "fast"; valid options: --seconds N, --connections N, --close-connections N, --save, --help');
    assertNothingCreated(before);
  });

  it('says which tools are missing and how to install them, exit 1, no stack trace', async () => {
    const before = committedSnapshot();
    const r = await spawnRun(argv(['bridge', '--seconds', '1']), env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bench/bridge needs iperf3: install it (Debian: apt-get install iperf3)\n');
    expect(r.stderr).toContain('bench/bridge needs trafgen: install it (Debian: apt-get install netsniff-ng)\n');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('Error');
    const pm = await spawnRun(argv(['portmap', '--only', 'socat']), env());
    expect(pm.code).toBe(1);
    expect(pm.stderr).toContain('bench/portmap needs slirp4netns: install it (Debian: apt-get install slirp4netns)');
    expect(pm.stderr).toContain('bench/portmap needs socat: install it (Debian: apt-get install socat)');
    expect(pm.stderr).not.toContain('iptables'); // the DNAT path was not chosen
    assertNothingCreated(before);
  });

  it('--help lists the flags, --save and where results go, exit 0', async () => {
    const r = await spawnRun(argv(['tap-forward', '--help']), env());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm run bench -- tap-forward [--seconds N] [--save]');
    expect(r.stdout).toContain('--seconds N');
    expect(r.stdout).toMatch(/--save\s+write bench\/results\/ \(the committed results\)/);
    expect(r.stdout).toContain(`go to ${resultsDir}`);
    expect(existsSync(resultsDir)).toBe(false);
  });

  it('names an unknown benchmark and lists the real ones, exit 2', async () => {
    const r = await spawnRun(argv(['nosuch']), env());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown benchmark "nosuch"; available: bridge, hol, http, labscale, micro, portmap, soak, tap-forward, tcp, throughput, wire');
  });
});

it('npm run bench -- NAME behaves as bench/run.ts does', async () => {
  // PATH: only node, npm and sh, so nothing a benchmark needs is reachable.
  const bin = join(dir, 'npm-bin');
  mkdirSync(bin);
  const which = (tool: string) =>
    (process.env.PATH ?? '').split(':').map((d) => join(d, tool)).find((p) => existsSync(p));
  const npm = which('npm');
  const sh = which('sh') ?? '/bin/sh';
  expect(npm, 'npm on PATH').toBeDefined();
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(npm!, join(bin, 'npm'));
  symlinkSync(sh, join(bin, 'sh'));
  const before = committedSnapshot();
  const r = await spawnRun([join(bin, 'npm'), 'run', '--silent', 'bench', '--', 'tap-forward', '--bogus'], env({ PATH: bin }));
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('bench/tap-forward: unknown option --bogus; valid options: --seconds N, --save, --help');
  assertNothingCreated(before);
});

describe('the shared parser and the results location', () => {
  const spec = {
    seconds: { type: 'number', default: 5, min: 1, max: 60, help: 'h' },
    only: { type: 'list', meta: 'a,b', choices: ['a', 'b'], help: 'h' },
  } as const;

  it('keeps defaults, takes --flag value and --flag=value, and --save', () => {
    expect(parseBenchArgs('x', [], spec)).toEqual({ flags: { seconds: 5, only: undefined }, save: false });
    expect(parseBenchArgs('x', ['--seconds=7', '--only', 'b', '--save'], spec)).toEqual({ flags: { seconds: 7, only: ['b'] }, save: true });
  });

  it('throws BenchExit with code 2 for mistakes and 0 with the usage for --help', () => {
    const code = (args: string[]) => {
      try {
        parseBenchArgs('x', args, spec);
        return undefined;
      } catch (e) {
        return e instanceof BenchExit ? e.exitCode : 'other';
      }
    };
    expect(code(['-s', '5'])).toBe(2);
    expect(code(['--seconds', '--save'])).toBe(2);
    expect(code(['--seconds', 'ten'])).toBe(2);
    expect(code(['--help'])).toBe(0);
  });

  it('requireTools names each missing tool with its Debian package', () => {
    const saved = process.env.PATH;
    process.env.PATH = emptyBin;
    try {
      expect(() => requireTools('y', ['ab', 'iperf3'])).toThrow(
        'bench/y needs ab: install it (Debian: apt-get install apache2-utils)\nbench/y needs iperf3: install it (Debian: apt-get install iperf3)',
      );
      expect(() => requireTools('y', [])).not.toThrow();
    } finally {
      process.env.PATH = saved;
    }
  });

  it('writes to $WIRELAB_RESULTS (relative to where the command started), else ~/.local/share/wirelab/bench-results', () => {
    expect(defaultResultsDir({ WIRELAB_RESULTS: '/r/x' })).toBe('/r/x');
    expect(defaultResultsDir({ WIRELAB_RESULTS: 'out', INIT_CWD: '/home/u/work' })).toBe('/home/u/work/out');
    expect(defaultResultsDir({ XDG_DATA_HOME: '/d' })).toBe('/d/wirelab/bench-results');
    expect(defaultResultsDir({})).toMatch(/\/\.local\/share\/wirelab\/bench-results$/);
    expect(committedResultsDir).toBe(join(dirname(dirname(import.meta.dirname)), 'bench', 'results'));
  });

  it('writeResult without --save leaves bench/results alone and says where it wrote', () => {
    const before = committedSnapshot();
    const out = join(dir, 'written');
    const saved = process.env.WIRELAB_RESULTS;
    process.env.WIRELAB_RESULTS = out;
    try {
      const file = writeResult({ bench: 'unit', rows: [{ path: 'p', metric: 'ops/s', value: 1, reference: 'p', ratio: 1 }] }, { save: false });
      expect(file).toBe(join(out, 'unit.json'));
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ bench: 'unit' });
      expect(existsSync(join(out, 'unit.svg'))).toBe(true);
      expect(wroteLine(file, { save: false })).toBe(`wrote ${file} and ${join(out, 'unit.svg')} (bench/results/ untouched: --save writes there)\n`);
    } finally {
      if (saved === undefined) delete process.env.WIRELAB_RESULTS;
      else process.env.WIRELAB_RESULTS = saved;
    }
    expect(committedSnapshot()).toBe(before);
  });
});
