/**
 * The command line every benchmark shares, parsed one way, before anything
 * runs: a bench's `main(args)` calls `parseBenchArgs` first, then
 * `requireTools`, and only then creates anything.
 *
 *   - Each bench declares its own flags (`--seconds N`, `--only LIST`, …) with
 *     their defaults and ranges; every bench also takes `--save` and `--help`.
 *   - An unknown flag, a missing value or a value out of range is a one-line
 *     error naming the flag and listing the valid ones: exit 2.
 *   - A tool the bench needs that is not on PATH is a one-line error per tool,
 *     `bench/<name> needs iperf3: install it (Debian: apt-get install iperf3)`:
 *     exit 1.
 *
 * Both are thrown as `BenchExit`, which bench/run.ts prints without a stack
 * trace. Hand-written: node:util parseArgs has no ranges and its messages
 * do not list the valid flags; commander would be a second CLI inside the CLI.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { resultsLocationHelp } from '../results.js';

/** A clean, expected end of a benchmark run: its message is printed as is, no stack trace. */
export class BenchExit extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'BenchExit';
  }
}

export interface NumberFlag {
  type: 'number';
  default: number;
  min: number;
  max: number;
  help: string;
}

export interface ListFlag {
  type: 'list';
  /** Placeholder in the usage line, e.g. 'a,b,c,d'. */
  meta: string;
  /** When given, every item must be one of these. */
  choices?: readonly string[];
  help: string;
}

export type FlagSpec = NumberFlag | ListFlag;

export type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K] extends NumberFlag ? number : string[] | undefined;
};

export interface BenchArgs<F extends Record<string, FlagSpec>> {
  /** The bench's own flags, keyed by name without the dashes. */
  flags: FlagValues<F>;
  /** --save: write into bench/results/ (the committed results) instead of the results directory. */
  save: boolean;
}

/** `usage: npm run bench -- NAME [--seconds N] … [--save]` and one line per flag. */
export function benchUsage(bench: string, spec: Record<string, FlagSpec>): string {
  const usage = Object.entries(spec)
    .map(([name, f]) => (f.type === 'number' ? `[--${name} N]` : `[--${name} ${f.meta}]`))
    .concat('[--save]');
  const lines = [`usage: npm run bench -- ${bench} ${usage.join(' ')}`, `       wirelab bench ${bench} ${usage.join(' ')}`, ''];
  for (const [name, f] of Object.entries(spec)) {
    const detail = f.type === 'number' ? ` (${f.min}..${f.max}, default ${f.default})` : f.choices ? ` (any of ${f.choices.join(',')})` : '';
    lines.push(`  --${name} ${f.type === 'number' ? 'N' : f.meta}`.padEnd(28) + f.help + detail);
  }
  lines.push('  --save'.padEnd(28) + 'write bench/results/ (the committed results) instead of the results directory');
  lines.push('  --help'.padEnd(28) + 'print this and exit');
  lines.push('', resultsLocationHelp());
  return lines.join('\n') + '\n';
}

function validFlags(spec: Record<string, FlagSpec>): string {
  return Object.entries(spec)
    .map(([name, f]) => `--${name} ${f.type === 'number' ? 'N' : f.meta}`)
    .concat('--save', '--help')
    .join(', ');
}

/**
 * Parses `args` against `spec`. `--help` throws a BenchExit with the usage
 * and code 0; any mistake throws a one-line BenchExit with code 2.
 */
export function parseBenchArgs<F extends Record<string, FlagSpec>>(bench: string, args: readonly string[], spec: F): BenchArgs<F> {
  const fail = (what: string): never => {
    throw new BenchExit(`bench/${bench}: ${what}; valid options: ${validFlags(spec)}`, 2);
  };
  const values: Record<string, number | string[] | undefined> = {};
  for (const [name, f] of Object.entries(spec)) values[name] = f.type === 'number' ? f.default : undefined;
  let save = false;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--save') {
      save = true;
      continue;
    }
    if (!arg.startsWith('-')) fail(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const name = flag.replace(/^--?/, '');
    const f = Object.hasOwn(spec, name) && flag.startsWith('--') ? spec[name] : undefined;
    if (f === undefined) fail(`unknown option ${flag}`);
    const text = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    const what = f!.type === 'number' ? `a number in ${f!.min}..${f!.max}` : f!.meta;
    if (text === undefined || (eq < 0 && text.startsWith('--'))) fail(`${flag} needs a value (${what})`);
    if (f!.type === 'number') {
      const v = Number(text);
      if (text!.trim() === '' || !Number.isFinite(v) || v < f!.min || v > f!.max) fail(`${flag} must be ${what}, got "${text}"`);
      values[name] = v;
    } else {
      const items = text!.split(',').filter((s) => s !== '');
      if (items.length === 0) fail(`${flag} needs a value (${what})`);
      const bad = f!.choices ? items.filter((x) => !f!.choices!.includes(x)) : [];
      if (bad.length > 0) fail(`${flag}: "${bad.join(',')}" is not one of ${f!.choices!.join(',')}`);
      values[name] = items;
    }
  }
  if (help) throw new BenchExit(benchUsage(bench, spec), 0);
  return { flags: values as FlagValues<F>, save };
}

// ---------------------------------------------------------------------------
// Tools

/** The Debian package that provides each tool a bench runs. */
const DEBIAN_PACKAGE: Record<string, string> = {
  ab: 'apache2-utils',
  cc: 'gcc',
  ethtool: 'ethtool',
  ip: 'iproute2',
  iperf3: 'iperf3',
  iptables: 'iptables',
  node: 'nodejs',
  ping: 'iputils-ping',
  python3: 'python3',
  slirp4netns: 'slirp4netns',
  socat: 'socat',
  sysctl: 'procps',
  timeout: 'coreutils',
  trafgen: 'netsniff-ng',
  wrk: 'wrk',
};

/** True if `tool` is an executable file in a directory of $PATH (what spawn will find). */
export function onPath(tool: string, path = process.env.PATH ?? ''): boolean {
  return path
    .split(delimiter)
    .filter((d) => d !== '')
    .some((d) => {
      try {
        accessSync(join(d, tool), fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * Throws a BenchExit (code 1) naming every tool in `tools` that is not on
 * PATH, one line each: `bench/<name> needs iperf3: install it (Debian:
 * apt-get install iperf3)`.
 */
export function requireTools(bench: string, tools: readonly string[]): void {
  const missing = [...new Set(tools)].filter((t) => !onPath(t));
  if (missing.length === 0) return;
  throw new BenchExit(
    missing.map((t) => `bench/${bench} needs ${t}: install it (Debian: apt-get install ${DEBIAN_PACKAGE[t] ?? t})`).join('\n'),
    1,
  );
}
