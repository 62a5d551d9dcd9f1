/**
 * `wirelab demo` and `wirelab cleanup`: the lab commands. Thin: flags in,
 * src/lab out.
 */
import type { Command } from 'commander';
import { runDemo } from '../lab/demo.js';
import { cleanupStale } from '../lab/registry.js';

export function registerLabCommands(program: Command): void {
  program
    .command('demo')
    .description('two containers joined through wirelab by their TAP eth0s: ping both ways, print counters, clean up (root)')
    .option('--vnet', 'open the TAPs with vnet_hdr (TSO and checksum offload)')
    .option('--stay', 'keep forwarding until Ctrl-C')
    .action(async (opts: { vnet?: boolean; stay?: boolean }) => {
      const ok = await runDemo({ vnetHdr: opts.vnet ?? false, stay: opts.stay ?? false });
      if (!ok) process.exitCode = 1;
    });

  program
    .command('cleanup')
    .description('remove namespaces, interfaces, /etc/netns files and processes left by wirelab runs that died (e.g. after kill -9)')
    .option('--json', 'print what was removed as JSON')
    .action(async (opts: { json?: boolean }) => {
      const removed = await cleanupStale();
      if (opts.json) {
        process.stdout.write(JSON.stringify(removed, null, 2) + '\n');
        return;
      }
      if (removed.length === 0) process.stdout.write('nothing to clean up\n');
      for (const r of removed) {
        process.stdout.write(
          `pid ${r.pid}: removed namespaces [${r.namespaces.join(', ')}], interfaces [${r.interfaces.join(', ')}], /etc/netns dirs [${r.etc.join(', ')}], ${r.processes.length} processes\n`,
        );
        for (const e of r.errors) process.stdout.write(`  error: ${e}\n`);
      }
    });
}
