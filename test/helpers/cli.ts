/**
 * Runs the `wirelab` command as a user would (`node --import tsx
 * src/cli/main.ts …` from the repository root) and returns what it printed
 * and its exit code, never throwing on a non-zero exit.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

export async function wirelab(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  try {
    const r = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: opts.timeoutMs ?? 30_000 });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}
