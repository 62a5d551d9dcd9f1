/**
 * `wirelab demo` and `wirelab cleanup`: the lab commands. Thin: flags in,
 * src/lab out.
 */
import type { Command } from 'commander';
import { runDemo } from '../lab/demo.js';
import { runNetworkDemo } from '../lab/demo-network.js';
import { cleanupStale } from '../lab/registry.js';

export function registerLabCommands(program: Command): void {
  program
    .command('demo')
    .description('a Docker bridge network in user space: two containers, names, NAT and a published port through wirelab, then clean up (root)')
    .option('-p, --port <port>', 'host port for -p 127.0.0.1:PORT:80', '8080')
    .option('--forwarder', 'the smaller demo: two containers joined by a TypeScript wire, ping both ways')
    .option('--vnet', 'with --forwarder: open the TAPs with vnet_hdr (TSO and checksum offload)')
    .option('--stay', 'keep everything up until Ctrl-C')
    .addHelpText('after', '\nExamples:\n  sudo wirelab demo\n  sudo wirelab demo -p 18080 --stay\n  sudo wirelab demo --forwarder --vnet')
    .action(async (opts: { port: string; forwarder?: boolean; vnet?: boolean; stay?: boolean }) => {
      const ok = opts.forwarder
        ? await runDemo({ vnetHdr: opts.vnet ?? false, stay: opts.stay ?? false })
        : await runNetworkDemo({ port: parsePort(opts.port), stay: opts.stay ?? false });
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

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new Error(`--port ${text}: a port is a number from 1 to 65535`);
  return n;
}
