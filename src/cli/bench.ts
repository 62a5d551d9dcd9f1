/**
 * `wirelab bench NAME [args…]`: runs bench/NAME.ts (the same as
 * `npm run bench -- NAME`), which prints its table and writes
 * bench/results/NAME.json. Benchmarks are TypeScript run with tsx from the
 * package's own folder, so they need the dev dependencies `npm ci` installs.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function listBenchmarks(): string[] {
  const dir = join(packageRoot, 'bench');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !['run.ts', 'results.ts'].includes(f))
    .map((f) => f.slice(0, -3))
    .sort();
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark from bench/ and write bench/results/<name>.json')
    .argument('[name]', 'benchmark name; omit to list them')
    .argument('[args...]', 'arguments for the benchmark, e.g. --seconds 5')
    .allowUnknownOption(true)
    .action(async (name: string | undefined, args: string[]) => {
      const names = listBenchmarks();
      if (name === undefined) {
        process.stdout.write(names.join('\n') + '\n');
        return;
      }
      if (!names.includes(name)) throw new Error(`unknown benchmark "${name}"; available: ${names.join(', ')}`);
      const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'run.ts'), name, ...args], {
        cwd: packageRoot,
        stdio: 'inherit',
      });
      const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
      if (code !== 0) process.exitCode = code;
    });
}
