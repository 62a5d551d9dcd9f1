/**
 * Running external commands (`ip`, and programs inside containers) for the lab.
 *
 * Hand-written rather than taken from a library (execa and friends): the lab
 * needs only a thin layer over `child_process` with three properties no
 * wrapper gives us together: argv only (never a shell), a hard timeout that
 * SIGKILLs, and errors whose message names the exact command and its stderr,
 * so "why did the lab fail to start" is answered by the error alone. A
 * synchronous variant exists for the process 'exit' hook, where nothing
 * asynchronous can run any more.
 */
import { spawn as nodeSpawn, spawnSync } from 'node:child_process';

export interface RunOptions {
  /** SIGKILL the command after this long. Default: no limit. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Reject with a `CommandError` when the command exits non-zero, dies by a signal or times out. */
  check?: boolean;
  /** Environment of the command; the parent's by default. */
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command died by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when `timeoutMs` ran out and the command was killed. */
  timedOut: boolean;
}

/** A command that failed: the message names the command, how it ended, and its stderr. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    super(`\`${formatArgv(argv)}\` ${describeEnd(result)}${stderrSuffix(result.stderr)}`);
    this.name = 'CommandError';
  }
}

/** `ip netns exec wl-1 sh -c 'echo hi'`: argv joined, words with spaces or quotes quoted. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function describeEnd(r: RunResult): string {
  if (r.timedOut) return 'timed out';
  if (r.signal !== null) return `died by ${r.signal}`;
  return `exited ${r.code}`;
}

function stderrSuffix(stderr: string): string {
  const s = stderr.trim();
  return s === '' ? '' : `: ${s}`;
}

/** Runs argv[0] with the rest as arguments and collects its output. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error('run: empty argv'));
  return new Promise((resolve, reject) => {
    const child = nodeSpawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run \`${formatArgv(argv)}\`: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code,
        signal,
        timedOut,
      };
      if (opts.check === true && (code !== 0 || timedOut)) reject(new CommandError(argv, result));
      else resolve(result);
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** `run` with `check: true`: resolves with stdout, rejects with a `CommandError`. */
export async function runChecked(argv: readonly string[], opts: Omit<RunOptions, 'check'> = {}): Promise<string> {
  const r = await run(argv, { timeoutMs: 10_000, ...opts, check: true });
  return r.stdout;
}

/** Synchronous `run`, for exit hooks. Never throws; a command that cannot start reports code null. */
export function runSync(argv: readonly string[], timeoutMs = 5_000): RunResult {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('runSync: empty argv');
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? (r.error?.message ?? ''),
    code: r.status,
    signal: r.signal,
    timedOut: r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT',
  };
}
