/**
 * The verbs that look into a running lab and change its links while it runs:
 * `fdb`, `arp`, `routes`, `sockets`, `stats` (tables, or JSON with --json),
 * `link NODE:IFACE up|down`, `impair TARGET [netem flags | --clear]` and
 * `capture TARGET -w FILE|- [-c N] [--filter EXPR]`. Thin: each asks the
 * lab's control socket (src/lab/control.ts, control-ops.ts) and prints.
 *
 * The lab is the one named (first positional when there is one more than the
 * verb needs, or --lab), else the only one running (`pickLab`, as `ps`).
 */
import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { CONTROL_PROTOCOL_VERSION, openCapture, request, type ControlRequest } from '../lab/control.js';
import { NETEM_FLAGS } from '../lab/control-ops.js';
import { pickLab } from './up.js';

const v = CONTROL_PROTOCOL_VERSION;

interface TableResult {
  text: string;
  json: unknown;
}

/** `[lab] ARGS…`: a leading lab name when there is one argument more than `needed`; --lab otherwise. */
async function splitLab(args: string[], needed: number, optLab: string | undefined): Promise<{ lab: string; rest: string[] }> {
  if (args.length > needed + 1) throw new Error(`too many arguments: ${args.join(' ')}`);
  const named = args.length === needed + 1 ? args[0] : optLab;
  return { lab: await pickLab(named), rest: args.length === needed + 1 ? args.slice(1) : args };
}

async function printTable(lab: string, req: ControlRequest, json: boolean | undefined): Promise<void> {
  const r = await request<TableResult>(lab, req);
  process.stdout.write(json ? JSON.stringify(r.json, null, 2) + '\n' : r.text === '' ? '(empty)\n' : r.text);
}

export function registerInspectCommands(program: Command): void {
  program
    .command('fdb')
    .argument('[lab]', 'the lab; default: the only one running')
    .option('--switch <name>', 'only this switch')
    .option('--json', 'print JSON (bridge -j fdb show fields, plus the link behind each port)')
    .description("the forwarding databases of a running lab's switches, as bridge fdb show prints them")
    .addHelpText('after', '\nExamples:\n  sudo wirelab fdb\n  sudo wirelab fdb quickstart --switch front --json')
    .action(async (name: string | undefined, opts: { switch?: string; json?: boolean }) => {
      const lab = await pickLab(name);
      await printTable(lab, { v, op: 'fdb', ...(opts.switch !== undefined ? { switch: opts.switch } : {}) }, opts.json);
    });

  const perNode = [
    ['arp', 'each node\'s neighbour table, as ip neigh show prints it', 'ip -j neigh'],
    ['routes', 'each node\'s routing table, as ip route show prints it', 'ip -j route'],
    ['sockets', 'each node\'s TCP and UDP sockets, as ss -tuan prints them', 'one object per socket'],
  ] as const;
  for (const [op, what, jsonShape] of perNode) {
    program
      .command(op)
      .argument('[lab]', 'the lab; default: the only one running')
      .option('--node <name>', 'only this node (a service, router, host or NETWORK-gw)')
      .option('--json', `print JSON (${jsonShape} per node)`)
      .description(`${what} (wirelab stacks and containers alike)`)
      .addHelpText('after', `\nExamples:\n  sudo wirelab ${op}\n  sudo wirelab ${op} --node web\n  sudo wirelab ${op} quickstart --json`)
      .action(async (name: string | undefined, opts: { node?: string; json?: boolean }) => {
        const lab = await pickLab(name);
        await printTable(lab, { v, op, ...(opts.node !== undefined ? { node: opts.node } : {}) }, opts.json);
      });
  }

  program
    .command('stats')
    .argument('[lab]', 'the lab; default: the only one running')
    .option('--json', 'print JSON')
    .description("every switch port's counters (packets, bytes, drops by reason, impairment), every wirelab stack's, and every bounded table's size against its limit")
    .addHelpText(
      'after',
      '\nExamples:\n  sudo wirelab stats\n  sudo wirelab stats --json | jq \'.ports[] | select(.link == "web:eth0")\'\n  sudo wirelab stats --json | jq \'.tables[] | select(.size > .limit / 2)\'',
    )
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      await printTable(await pickLab(name), { v, op: 'stats' }, opts.json);
    });

  program
    .command('link')
    .argument('<args...>', '[LAB] NODE:IFACE up|down')
    .option('--lab <name>', 'the lab; default: the only one running')
    .option('--json', 'print JSON')
    .description("take a link's switch port down or up, as a cable pulled and plugged back (ip link set … down)")
    .addHelpText('after', '\nExamples:\n  sudo wirelab link web:eth0 down\n  sudo wirelab link quickstart web:eth0 up')
    .action(async (args: string[], opts: { lab?: string; json?: boolean }) => {
      const { lab, rest } = await splitLab(args, 2, opts.lab);
      const [target, state] = rest as [string, string];
      if (state !== 'up' && state !== 'down') throw new Error(`link ${target} ${state ?? ''}: say up or down`);
      await printTable(lab, { v, op: 'link', target, up: state === 'up' }, opts.json);
    });

  const impair = program
    .command('impair')
    .argument('[args...]', '[LAB] NODE:IFACE | NODE | NETWORK; none: every link (name the lab with --lab then)')
    .option('--lab <name>', 'the lab; default: the only one running')
    .option('--clear', 'remove the impairment')
    .option('--json', 'print JSON');
  const units: Record<(typeof NETEM_FLAGS)[number], string> = {
    delay: 'one-way delay, e.g. 20ms',
    jitter: 'delay variation, e.g. 5ms',
    loss: 'random loss, e.g. 1%',
    duplicate: 'duplication, e.g. 1%',
    reorder: 'share of frames sent at once, overtaking delayed ones, e.g. 25%',
    rate: 'bottleneck rate, e.g. 100mbit',
    limit: 'most frames queued, e.g. 1000',
  };
  for (const f of NETEM_FLAGS) impair.option(`--${f} <value>`, units[f]);
  impair
    .description("netem on a link's egress toward its node (a network: all its links) — set, --clear, or with no flags show")
    .addHelpText('after', '\nExamples:\n  sudo wirelab impair web:eth0 --delay 20ms --jitter 5ms --loss 1%\n  sudo wirelab impair front --rate 100mbit      # every link of network front\n  sudo wirelab impair web:eth0                  # show\n  sudo wirelab impair web:eth0 --clear')
    .action(async (args: string[], opts: Record<string, string | boolean | undefined>) => {
      const flags: Record<string, string> = {};
      for (const f of NETEM_FLAGS) if (typeof opts[f] === 'string') flags[f] = opts[f];
      const changing = opts.clear === true || Object.keys(flags).length > 0;
      const { lab, rest } = await splitLab(args, args.length === 0 ? 0 : 1, opts.lab as string | undefined);
      const target = rest[0];
      if (changing && target === undefined) throw new Error('impair needs a target to change: NODE:IFACE or a NETWORK');
      await printTable(
        lab,
        {
          v,
          op: 'impair',
          ...(target !== undefined ? { target } : {}),
          ...(opts.clear === true ? { clear: true } : Object.keys(flags).length > 0 ? { flags } : {}),
        },
        opts.json === true,
      );
    });

  program
    .command('capture')
    .argument('<args...>', '[LAB] NODE:IFACE | NODE | NETWORK')
    .option('--lab <name>', 'the lab; default: the only one running')
    .option('-w, --write <file>', "write the pcapng to FILE, or to stdout with '-'")
    .option('-c, --count <n>', 'stop after N frames')
    .option('--filter <expr>', "a capture filter in tcpdump's syntax, e.g. 'tcp port 80'")
    .description('capture a link (or every link of a network) as pcapng, as the node sees it: interface names NODE:IFACE, directions in/out of the node')
    .addHelpText(
      'after',
      "\nExamples:\n  sudo wirelab capture web:eth0 -c 10 -w - | tshark -r -\n  sudo wirelab capture web:eth0 -w - | wireshark -k -i -\n  sudo wirelab capture front --filter 'tcp port 80' -w front.pcapng   # Ctrl-C to stop\n  tshark -r front.pcapng -T fields -e frame.interface_name -e frame.packet_flags_direction",
    )
    .action(async (args: string[], opts: { lab?: string; write?: string; count?: string; filter?: string }) => {
      const { lab, rest } = await splitLab(args, 1, opts.lab);
      const target = rest[0]!;
      const toStdout = opts.write === undefined || opts.write === '-';
      if (opts.write === undefined && process.stdout.isTTY) {
        throw new Error('a capture is binary pcapng: write it to a file (-w FILE) or pipe it (-w - | tshark -r -)');
      }
      let count: number | undefined;
      if (opts.count !== undefined) {
        count = Number(opts.count);
        if (!Number.isInteger(count) || count <= 0) throw new Error(`-c ${opts.count}: a positive number of frames`);
      }
      const cap = await openCapture(lab, {
        target,
        ...(count !== undefined ? { count } : {}),
        ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
      });
      const out = toStdout ? process.stdout : createWriteStream(opts.write!);
      const names = cap.header.interfaces.map((i) => i.name).join(', ');
      process.stderr.write(`capturing on ${names}${cap.header.filter !== undefined ? ` (${cap.header.filter})` : ''}${count !== undefined ? `, ${count} frames` : ''}; Ctrl-C stops\n`);
      let bytes = 0;
      cap.stream.on('data', (c: Buffer) => (bytes += c.length));
      // Ctrl-C (or the reader going away) asks the lab to finish the file; a second Ctrl-C leaves at once.
      let stopping = false;
      const onSignal = (): void => {
        if (stopping) process.exit(130);
        stopping = true;
        cap.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      out.on('error', (e: NodeJS.ErrnoException) => {
        // `| head`, a closed wireshark: not an error of the capture.
        if (e.code !== 'EPIPE') process.stderr.write(`wirelab: ${e.message}\n`);
        cap.stream.unpipe(out);
        cap.stream.resume();
        cap.stop();
      });
      cap.stream.pipe(out, { end: !toStdout });
      await new Promise<void>((resolve) => cap.stream.once('end', resolve));
      if (!toStdout) await new Promise<void>((resolve) => out.once('close', resolve));
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (!toStdout) process.stderr.write(`${bytes} bytes of pcapng written to ${opts.write}\n`);
    });
}
