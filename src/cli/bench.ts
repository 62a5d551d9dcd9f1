/**
 * `wirelab bench NAME [flags…]`: runs bench/NAME.ts exactly as
 * `npm run bench -- NAME [flags…]` does (bench/run.ts, in a child process):
 * the bench rejects an unknown flag (exit 2) and a missing tool (exit 1)
 * before anything runs, prints its table, and writes NAME.json and NAME.svg
 * into the results directory — `$WIRELAB_RESULTS`, else
 * ~/.local/share/wirelab/bench-results/ — or, with `--save`, into
 * bench/results/, the results committed with the repository. Benchmarks are
 * TypeScript run with tsx from the package's own folder, so they need the dev
 * dependencies `npm ci` installs.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

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
    .description('run a benchmark from bench/ (results go to $WIRELAB_RESULTS or ~/.local/share/wirelab/bench-results/; --save writes bench/results/)')
    .argument('[name]', 'benchmark name; omit to list them')
    .argument('[args...]', "the benchmark's flags, e.g. --seconds 5; `wirelab bench NAME --help` lists them")
    .allowUnknownOption(true)
    // `wirelab bench NAME --help` is the benchmark's own help, so --help is ours to pass on.
    .helpOption(false)
    .option('-h, --help', 'show help (with NAME: the benchmark\'s flags)')
    .addHelpText(
      'after',
      '\nEvery benchmark also takes --save: write NAME.json and NAME.svg into bench/results/\n' +
        '(the results committed with the repository) instead of the results directory,\n' +
        '$WIRELAB_RESULTS or ~/.local/share/wirelab/bench-results/. Each run prints the path it wrote.\n' +
        '`npm run bench -- NAME [flags…]` does the same.\n\n' +
        'Examples:\n  wirelab bench                      list the benchmarks\n  wirelab bench wire                 codec micro benchmarks, no root needed\n' +
        '  sudo wirelab bench tcp --seconds 5 --only a,b\n  wirelab bench tcp --help           the flags of bench/tcp\n',
    )
    .action(async function (this: Command, name: string | undefined, args: string[], opts: { help?: boolean }) {
      const names = listBenchmarks();
      if (name === undefined) {
        if (opts.help) this.help();
        process.stdout.write(names.join('\n') + '\n');
        return;
      }
      if (!names.includes(name)) {
        process.stderr.write(`wirelab: unknown benchmark "${name}"; available: ${names.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      // The child runs in the package's folder (for tsx); a relative $WIRELAB_RESULTS means the user's folder.
      const env = { ...process.env };
      if (env.WIRELAB_RESULTS !== undefined && env.WIRELAB_RESULTS !== '') env.WIRELAB_RESULTS = resolve(process.cwd(), env.WIRELAB_RESULTS);
      env.INIT_CWD = process.cwd();
      const child = spawn(process.execPath, ['--import', 'tsx', join('bench', 'run.ts'), name, ...args, ...(opts.help ? ['--help'] : [])], {
        cwd: packageRoot,
        stdio: 'inherit',
        env,
      });
      const code = await new Promise<number>((res) => child.once('exit', (c) => res(c ?? 1)));
      if (code !== 0) process.exitCode = code;
    });
}
