/**
 * `wirelab demo` and `wirelab cleanup`: the lab commands. Thin: flags in,
 * src/lab out.
 */
import type { Command } from 'commander';
import { runDemo } from '../lab/demo.js';
import { runLabDemo } from '../lab/demo-lab.js';
import { runMemoryDemo } from '../lab/demo-memory.js';
import { runNetworkDemo } from '../lab/demo-network.js';
import { cleanupStale } from '../lab/registry.js';
import { insideNote, insideUserNamespace, receiveListeners, runInUserNamespace, userNamespaceProblem } from '../lab/rootless.js';

export function registerLabCommands(program: Command): void {
  program
    .command('demo')
    .description(
      "the main job in a minute: a web application (web, api, db, cache, worker) on a wirelab network with DNS, a router with NAT, a published port and an impaired link, captured to demo.pcapng; with real containers as root or, without root, in a user namespace of its own; wirelab hosts in memory where neither works",
    )
    .option('-p, --port <port>', 'host port web is published on (127.0.0.1)', '8080')
    .option('-w, --write <file>', 'where the capture goes', 'demo.pcapng')
    .option('--memory', 'wirelab hosts in memory even as root (no namespaces, no TAPs)')
    .option('--bridge', 'the smaller container demo: one Docker-style network, names, masquerade, proxy and DNAT ports (root)')
    .option('--forwarder', 'the smallest: two containers joined by a TypeScript wire, ping both ways (root)')
    .option('--vnet', 'with --forwarder: open the TAPs with vnet_hdr (TSO and checksum offload)')
    .option('--stay', 'keep everything up until Ctrl-C')
    .addHelpText(
      'after',
      '\nExamples:\n  npx wirelab demo                 # as a user: containers in a user namespace (in memory without one)\n  sudo npx wirelab demo            # as root: real containers\n  sudo wirelab demo -p 18080 --stay\n  tshark -r demo.pcapng',
    )
    .action(async (opts: { port: string; write: string; memory?: boolean; bridge?: boolean; forwarder?: boolean; vnet?: boolean; stay?: boolean }) => {
      const port = parsePort(opts.port);
      const stay = opts.stay ?? false;
      let ok: boolean;
      if (opts.forwarder) ok = await runDemo({ vnetHdr: opts.vnet ?? false, stay });
      else if (opts.bridge) ok = await runNetworkDemo({ port, stay });
      else {
        let why = opts.memory ? undefined : whyNoContainers();
        if (why !== undefined && !insideUserNamespace()) {
          // Without root: real containers inside a user namespace of our own where the kernel allows one.
          const problem = userNamespaceProblem();
          if (problem === undefined) {
            process.stdout.write('(not root: running the lab in a user namespace of its own, as rootless podman does)\n');
            process.exitCode = await runInUserNamespace([{ hostIp: '127.0.0.1', hostPort: port }]);
            return;
          }
          why = `not root, and ${problem}`;
        }
        if (insideUserNamespace()) {
          await receiveListeners();
          process.stdout.write(`${insideNote()}\n`);
        }
        if (opts.memory || why !== undefined) {
          if (why !== undefined) process.stdout.write(`(${why}: showing the same lab with wirelab hosts in memory instead of containers)\n`);
          ok = await runMemoryDemo({ port, stay, pcapPath: opts.write });
        } else {
          ok = await runLabDemo({ port, stay, pcapPath: opts.write });
        }
      }
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

/**
 * Why real containers cannot be made here, or undefined when they can. Root
 * is enough: without /dev/net/tun containers get veth pairs held by
 * AF_PACKET (src/lab/container-link.ts).
 */
function whyNoContainers(): string | undefined {
  return process.getuid?.() !== 0 ? 'not root' : undefined;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new Error(`--port ${text}: a port is a number from 1 to 65535`);
  return n;
}
