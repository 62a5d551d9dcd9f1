/**
 * A background process inside a container: the ChildProcess of
 * `ip netns exec <ns> argv…` (which execs in place, so its pid is the
 * program's), its output so far, its exit as a promise, and a kill that
 * escalates to SIGKILL.
 *
 * Hand-written: a small wrapper over child_process; the same shape as the
 * test helper's NsProcess, which src/ must not import.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

import { formatArgv } from './command.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Cap on the output a `ContainerProcess` keeps as text (per stream); the streams themselves carry everything. */
const MAX_KEPT_OUTPUT = 1 << 20;

/** A background process in a container: the ChildProcess, its streams, its output so far and its exit. */
export class ContainerProcess {
  private out = '';
  private err = '';
  private status: ExitStatus | undefined;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;

  constructor(
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    const keep = (s: string, b: Buffer): string => (s.length < MAX_KEPT_OUTPUT ? s + b.toString() : s);
    child.stdout?.on('data', (b: Buffer) => (this.out = keep(this.out, b)));
    child.stderr?.on('data', (b: Buffer) => (this.err = keep(this.err, b)));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve((this.status ??= { code, signal })));
      child.on('error', (e) => {
        this.err += `cannot run \`${formatArgv(argv)}\`: ${e.message}\n`;
        resolve((this.status ??= { code: null, signal: null }));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  get stdin(): Writable | null {
    return this.child.stdin;
  }
  get stdout(): Readable | null {
    return this.child.stdout;
  }
  get stderr(): Readable | null {
    return this.child.stderr;
  }
  /** Everything printed to stdout so far (up to 1 MiB). */
  get stdoutText(): string {
    return this.out;
  }
  get stderrText(): string {
    return this.err;
  }
  get running(): boolean {
    return this.status === undefined;
  }

  /** Resolves once stdout or stderr matches `pattern`; rejects if the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs = 5_000): Promise<void> {
    const seen = (): boolean => pattern.test(this.out) || pattern.test(this.err);
    return new Promise((resolve, reject) => {
      if (seen()) return resolve();
      const onData = (): void => {
        // Our own 'data' listeners were attached first, so the text is already appended.
        if (seen()) done();
      };
      const done = (error?: Error): void => {
        this.child.stdout?.off('data', onData);
        this.child.stderr?.off('data', onData);
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      const timer = setTimeout(
        () => done(new Error(`\`${formatArgv(this.argv)}\` did not print ${pattern} within ${timeoutMs} ms; stderr: ${this.err.trim()}`)),
        timeoutMs,
      );
      void this.exited.then((s) => {
        if (seen()) done();
        else done(new Error(`\`${formatArgv(this.argv)}\` exited (${s.signal ?? s.code}) before printing ${pattern}; stderr: ${this.err.trim()}`));
      });
    });
  }

  /** Same as `waitForOutput`. */
  waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<void> {
    return this.waitForOutput(pattern, timeoutMs);
  }

  /** Sends `signal` (default SIGTERM), then SIGKILL if it is still running after `graceMs`. Resolves on exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2_000): Promise<ExitStatus> {
    if (this.status !== undefined) return this.status;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}
