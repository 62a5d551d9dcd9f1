/**
 * `npm run bench -- <name> [flags…]` (the same as `wirelab bench <name>
 * [flags…]`): runs bench/<name>.ts. Each bench parses its flags with
 * bench/lib/args.ts before anything runs (an unknown flag: exit 2), checks
 * the tools it needs (one missing: exit 1, "install it"), then prints its
 * table and writes <name>.json and <name>.svg into the results directory —
 * `$WIRELAB_RESULTS`, else ~/.local/share/wirelab/bench-results/ — or, with
 * `--save`, into bench/results/, the results committed with the repository
 * (bench/results.ts). Every run prints the path it wrote.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { BenchExit } from './lib/args.js';
import { resultsLocationHelp } from './results.js';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'results.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

const usage =
  'usage: npm run bench -- <name> [flags…] [--save]   (or: wirelab bench <name> [flags…] [--save])\n' +
  `benchmarks: ${available.join(', ')}; npm run bench -- <name> --help lists a benchmark's flags\n`;

const name = process.argv[2];
if (name === '--help' || name === '-h') {
  process.stdout.write(`${usage}\n${resultsLocationHelp()}\n`);
  process.exit(0);
}
if (name === undefined || !available.includes(name)) {
  process.stderr.write(`${name === undefined ? 'no benchmark named' : `unknown benchmark "${name}"`}; available: ${available.join(', ')}\n${usage}`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { main: (args: string[]) => Promise<void> };
try {
  await mod.main(process.argv.slice(3));
} catch (e) {
  if (!(e instanceof BenchExit)) throw e;
  (e.exitCode === 0 ? process.stdout : process.stderr).write(e.message.endsWith('\n') ? e.message : `${e.message}\n`);
  process.exit(e.exitCode);
}
