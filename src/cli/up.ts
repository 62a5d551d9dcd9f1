/**
 * `wirelab up` and `wirelab config`: a lab from its file. Thin: the loader
 * (src/lab/file/load.ts) reads and checks the file, `RunningLab` does the
 * work; this parses flags, prints progress and tables, and waits for Ctrl-C.
 */
import type { Command } from 'commander';
import { loadLabFile } from '../lab/file/index.js';
import { formatServiceTable, RunningLab } from '../lab/file/up.js';
import { cleanupAllSync } from '../lab/registry.js';

const out = (line: string): void => void process.stdout.write(line + '\n');

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description('bring a lab up from its file — networks, containers, DNS, published ports — until Ctrl-C, then remove all of it (root)')
    .option('-f, --file <path>', 'the lab file', 'lab.yaml')
    .option('--json', 'print the services as JSON once the lab is up')
    .addHelpText('after', '\nExamples:\n  sudo wirelab up                  # ./lab.yaml\n  sudo wirelab up -f examples/labs/web.yaml --json')
    .action(async (opts: { file: string; json?: boolean }) => {
      const model = loadLabFile(opts.file); // a LabFileError names file:line:col and the field
      if (process.getuid?.() !== 0) throw new Error('a lab creates network namespaces and TAP devices: run `wirelab up` as root');
      let stopping: Promise<void> | undefined;
      let lab: RunningLab | undefined;
      const stop = (signal: NodeJS.Signals): void => {
        if (stopping !== undefined) {
          // A second Ctrl-C: no more waiting, remove what is recorded and go.
          cleanupAllSync();
          process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
        }
        out(`\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: taking lab ${model.name} down`);
        stopping = (lab?.down() ?? Promise.resolve()).then(() => out(`lab ${model.name} removed`));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      out(`lab ${model.name} (${opts.file})`);
      lab = await RunningLab.up(model, { progress: (l) => out(`  ${l}`) });
      if (stopping !== undefined) return void (await stopping);
      if (opts.json) out(JSON.stringify(lab.rows(), null, 2));
      else out('\n' + formatServiceTable(lab.rows()));
      out(`\nlab ${model.name} is up; Ctrl-C takes it down`);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (stopping !== undefined) {
            clearInterval(check);
            void stopping.then(resolve, resolve);
          }
        }, 100);
      });
      await stopping;
    });

  program
    .command('config')
    .description('check a lab file and print it normalized — defaults filled, addresses allocated, services in start order')
    .option('-f, --file <path>', 'the lab file', 'lab.yaml')
    .addHelpText('after', '\nExamples:\n  wirelab config -f examples/labs/web.yaml')
    .action((opts: { file: string }) => {
      out(JSON.stringify(loadLabFile(opts.file), null, 2));
    });
}
