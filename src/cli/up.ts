/**
 * The lab verbs: `up` (foreground, or detached with -d: a supervisor process
 * per lab, as compose users expect), `down`, `ps`, `ls`, `exec`, `config`.
 * Thin: the loader checks the file, `RunningLab` does the work, the control
 * socket (src/lab/control.ts) answers a running lab's questions; this parses
 * flags and prints.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { CONTROL_PROTOCOL_VERSION, ControlServer, controlSocketPath, labSockets, labsDir, request, type LabStatus } from '../lab/control.js';
import { loadLabFile } from '../lab/file/index.js';
import type { LabModel } from '../lab/file/model.js';
import { formatServiceTable, labLogDir, RunningLab } from '../lab/file/up.js';
import { labTopology } from '../lab/file/topology.js';
import { topologyToMermaid } from '../lab/graph-mermaid.js';
import { topologyToSvg } from '../lab/graph-svg.js';
import { formatPingAll, pingAll } from '../lab/file/pingall.js';
import { cleanupAllSync, cleanupStale } from '../lab/registry.js';
import { insideNote, insideUserNamespace, receiveListeners, runInUserNamespace, userNamespaceProblem, type HostListener } from '../lab/rootless.js';
import { expandPortSpec, parsePortSpec } from '../nat/portspec.js';

const out = (line: string): void => void process.stdout.write(line + '\n');
const v = CONTROL_PROTOCOL_VERSION;

function requireRoot(verb: string): void {
  if (process.getuid?.() !== 0) throw new Error(`a lab creates network namespaces and TAP devices: run \`wirelab ${verb}\` as root`);
}

/** The published TCP ports with a fixed host port (bound outside, handed in), and the rest, named. */
function publishedListeners(model: LabModel): { listeners: HostListener[]; stayInside: string[] } {
  const listeners: HostListener[] = [];
  const stayInside: string[] = [];
  for (const node of [...model.services, ...model.hosts]) {
    for (const spec of node.ports) {
      for (const m of expandPortSpec(parsePortSpec(spec))) {
        if (m.protocol === 'tcp' && m.hostPort !== 0) listeners.push({ hostIp: m.hostIp, hostPort: m.hostPort });
        else stayInside.push(`${node.name}'s ${spec}`);
      }
    }
  }
  return { listeners, stayInside };
}

/** The lab a verb is about: the one named, or the only one running. */
export async function pickLab(name: string | undefined): Promise<string> {
  if (name !== undefined) return name;
  const alive: string[] = [];
  for (const l of labSockets()) if (await request(l, { v, op: 'ps' }, 3_000).then(() => true, () => false)) alive.push(l);
  if (alive.length === 1) return alive[0]!;
  throw new Error(alive.length === 0 ? 'no lab is running (wirelab up -d -f lab.yaml starts one)' : `several labs are running (${alive.join(', ')}): name one`);
}

/** Lab names are unique on a machine, as compose project names: refuse a second one before creating anything. */
async function refuseIfRunning(name: string): Promise<void> {
  const status = await request<LabStatus>(name, { v, op: 'ps' }, 3_000).catch(() => undefined);
  if (status !== undefined) throw new Error(`a lab named ${name} is already running (supervisor pid ${status.pid}); wirelab down ${name} stops it`);
}

/** Brings the lab up in this process, serves its control socket, and resolves once it has been taken down. */
async function runLab(model: LabModel, opts: { supervised: boolean; json: boolean }): Promise<void> {
  let lab: RunningLab | undefined;
  let control: ControlServer | undefined;
  let stopping: Promise<void> | undefined;
  let release: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (release = resolve));
  const stop = (why: string): void => {
    if (stopping !== undefined) return;
    out(`${why}: taking lab ${model.name} down`);
    stopping = (lab?.down() ?? Promise.resolve())
      .then(() => out(`lab ${model.name} removed`))
      .finally(() => {
        control?.close();
        release();
      });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) {
      // A second Ctrl-C: no more waiting; remove what is recorded and go.
      cleanupAllSync();
      control?.close();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    stop(signal === 'SIGINT' ? '\nCtrl-C' : signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await refuseIfRunning(model.name);
  out(`lab ${model.name} (${model.file})`);
  lab = await RunningLab.up(model, { progress: (l) => out(`  ${l}`) });
  if (stopping !== undefined) return finished;
  control = new ControlServer(lab, () => stop('wirelab down'));
  try {
    await control.listen();
  } catch (e) {
    await lab.down().catch(() => undefined);
    throw e;
  }
  if (opts.json) out(JSON.stringify(lab.rows(), null, 2));
  else out('\n' + formatServiceTable(lab.rows()));
  out(opts.supervised ? `\nlab ${model.name} is up (supervisor pid ${process.pid})` : `\nlab ${model.name} is up; Ctrl-C takes it down`);
  return finished;
}

/** `up -d`: starts a detached supervisor (this same command with --supervise) and returns once the lab answers. */
async function upDetached(file: string, model: LabModel, json: boolean): Promise<void> {
  await refuseIfRunning(model.name);
  mkdirSync(labsDir(), { recursive: true, mode: 0o700 });
  const log = join(labsDir(), `${model.name}.log`);
  const fd = openSync(log, 'w', 0o600);
  const main = fileURLToPath(new URL('./main.' + (import.meta.url.endsWith('.ts') ? 'ts' : 'js'), import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, main, 'up', '-f', file, '--supervise'], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await request<LabStatus>(model.name, { v, op: 'ps' }, 2_000).catch(() => undefined);
    if (status !== undefined && status.pid !== child.pid) {
      throw new Error(`a lab named ${model.name} is already running (supervisor pid ${status.pid}); wirelab down ${model.name} stops it`);
    }
    if (status !== undefined && status.pid === child.pid) {
      out(json ? JSON.stringify(status.services, null, 2) : formatServiceTable(status.services));
      out(`\nlab ${model.name} is up (supervisor pid ${status.pid}, log ${log}); wirelab down ${model.name} removes it`);
      return;
    }
    if (exited !== null || Date.now() > deadline) {
      const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n');
      throw new Error(`lab ${model.name} did not come up${exited !== null ? ` (supervisor exited ${exited})` : ''}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description('bring a lab up from its file — networks, containers, DNS, published ports — in the foreground until Ctrl-C, or detached with -d (root)')
    .option('-f, --file <path>', 'the lab file', 'lab.yaml')
    .option('-d, --detach', 'run the lab in a supervisor process and return once it is up')
    .option('--json', 'print the services as JSON once the lab is up')
    .addOption(new Option('--supervise', 'be the supervisor of a detached lab (used by -d)').hideHelp())
    .addHelpText('after', '\nExamples:\n  sudo wirelab up                  # ./lab.yaml, until Ctrl-C\n  sudo wirelab up -d -f examples/labs/quickstart.yaml\n  sudo wirelab ps; sudo wirelab exec web -- curl -s http://db:5432/; sudo wirelab down')
    .action(async (opts: { file: string; detach?: boolean; json?: boolean; supervise?: boolean }) => {
      const model = loadLabFile(opts.file); // a LabFileError names file:line:col and the field
      if (process.getuid?.() !== 0 && !insideUserNamespace()) {
        // Without root: the same command again inside a user namespace of its own (src/lab/rootless.ts).
        if (opts.detach) throw new Error('a detached lab (-d) needs root; without root, run `wirelab up` in the foreground');
        const problem = userNamespaceProblem();
        if (problem !== undefined) throw new Error(`a lab needs root or a user namespace, and ${problem}: run \`wirelab up\` as root`);
        const { listeners, stayInside } = publishedListeners(model);
        out(`(not root: the lab runs in a user namespace of its own, as rootless podman's containers do${stayInside.length > 0 ? `; ${stayInside.join(', ')} stay inside it (only fixed TCP ports reach this namespace)` : ''})`);
        process.exit(await runInUserNamespace(listeners));
      }
      if (insideUserNamespace()) {
        await receiveListeners();
        out(insideNote());
      }
      requireRoot('up');
      if (opts.detach && !opts.supervise) return upDetached(opts.file, model, opts.json ?? false);
      await runLab(model, { supervised: opts.supervise ?? false, json: opts.json ?? false });
      process.exit(0); // the lab is gone; nothing else may hold the process
    });

  program
    .command('down')
    .argument('[lab]', 'the lab to take down; default: the only one running')
    .description('take a running lab down: containers, networks, published ports, its supervisor (root)')
    .addHelpText('after', '\nExamples:\n  sudo wirelab down\n  sudo wirelab down quickstart')
    .action(async (name: string | undefined) => {
      requireRoot('down');
      let lab: string;
      try {
        lab = await pickLab(name);
      } catch (e) {
        // No live supervisor: remove what dead ones recorded, as `wirelab cleanup` does, and their sockets.
        const removed = await cleanupStale();
        for (const l of labSockets()) {
          if (await request(l, { v, op: 'ps' }, 2_000).then(() => false, () => true)) {
            rmSync(controlSocketPath(l), { force: true });
            rmSync(labLogDir(l), { recursive: true, force: true });
          }
        }
        if (name === undefined && removed.length === 0) throw e;
        out(removed.length > 0 ? `no live lab${name ? ` named ${name}` : ''}; removed what ${removed.length} dead wirelab run(s) left` : `no running lab named ${name}`);
        return;
      }
      await request(lab, { v, op: 'down' }, 120_000);
      out(`lab ${lab} removed`);
    });

  program
    .command('ps')
    .argument('[lab]', 'the lab; default: the only one running')
    .option('--json', 'print JSON')
    .description('the services of a running lab: network, address, status, namespace, ports')
    .addHelpText('after', '\nExamples:\n  sudo wirelab ps\n  sudo wirelab ps quickstart --json')
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const lab = await pickLab(name);
      const status = await request<LabStatus>(lab, { v, op: 'ps' });
      out(opts.json ? JSON.stringify(status, null, 2) : formatServiceTable(status.services));
    });

  program
    .command('ls')
    .option('--json', 'print JSON')
    .description('the running labs')
    .addHelpText('after', '\nExamples:\n  sudo wirelab ls')
    .action(async (opts: { json?: boolean }) => {
      const rows: Array<{ name: string; file: string; pid: number; services: number }> = [];
      for (const l of labSockets()) {
        const s = await request<LabStatus>(l, { v, op: 'ps' }, 3_000).catch(() => undefined);
        if (s !== undefined) rows.push({ name: s.name, file: s.file, pid: s.pid, services: s.services.length });
      }
      if (opts.json) return out(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return out('no lab is running');
      out(formatColumns(['NAME', 'SERVICES', 'SUPERVISOR', 'FILE'], rows.map((r) => [r.name, String(r.services), String(r.pid), r.file])));
    });

  program
    .command('exec')
    .argument('<service>', 'the service to run the command in')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--lab <name>', 'the lab; default: the only one running')
    .description('run a command inside a service of a running lab (a TTY when stdin is one), as docker compose exec')
    .addHelpText('after', '\nExamples:\n  sudo wirelab exec web -- getent hosts db\n  sudo wirelab exec web -- sh')
    .action(async (service: string, command: string[], opts: { lab?: string }) => {
      requireRoot('exec');
      const lab = await pickLab(opts.lab);
      const status = await request<LabStatus>(lab, { v, op: 'ps' });
      const row = status.services.find((s) => s.name === service);
      if (row === undefined) throw new Error(`lab ${lab} has no service ${service} (it has ${status.services.map((s) => s.name).join(', ')})`);
      // stdio inherited: the user's terminal is the command's, so an interactive shell works.
      const r = spawnSync('ip', ['netns', 'exec', row.namespace, ...command], { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    });

  for (const op of ['conntrack', 'dns'] as const) {
    program
      .command(op)
      .argument('[lab]', 'the lab; default: the only one running')
      .option('--network <name>', "the network whose gateway to ask; default: the lab's first")
      .description(op === 'conntrack' ? "the connection-tracking table of a running lab's gateway, as conntrack -L prints it" : "the DNS counters of a running lab's gateway")
      .addHelpText('after', `\nExamples:\n  sudo wirelab ${op}\n  sudo wirelab ${op} quickstart --network front`)
      .action(async (name: string | undefined, opts: { network?: string }) => {
        const lab = await pickLab(name);
        const text = await request<string>(lab, { v, op, ...(opts.network !== undefined ? { network: opts.network } : {}) });
        out(text.trimEnd() || '(empty)');
      });
  }

  program
    .command('pingall')
    .argument('[lab]', 'the lab; default: the only one running')
    .option('--json', 'print JSON')
    .description("every service pings every other one, as Mininet's pingall: who reached whom, and the loss")
    .addHelpText('after', '\nExamples:\n  sudo wirelab pingall')
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      requireRoot('pingall');
      const lab = await pickLab(name);
      const status = await request<LabStatus>(lab, { v, op: 'ps' });
      const r = await pingAll(status.services);
      out(opts.json ? JSON.stringify(r, null, 2) : formatPingAll(status.services, r));
      if (r.lossPercent > 0) process.exitCode = 1;
    });

  program
    .command('config')
    .description('check a lab file and print it normalized — defaults filled, addresses allocated, services in start order')
    .option('-f, --file <path>', 'the lab file', 'lab.yaml')
    .addHelpText('after', '\nExamples:\n  wirelab config -f examples/labs/quickstart.yaml')
    .action((opts: { file: string }) => {
      out(JSON.stringify(loadLabFile(opts.file), null, 2));
    });
}

/** `wirelab logs` and `wirelab graph`: what a service printed, and the lab drawn. */
export function registerLogsAndGraph(program: Command): void {
  program
    .command('logs')
    .description("a service's output (stdout and stderr of its command), as docker compose logs")
    .argument('<service>', 'the service')
    .option('-f, --follow', 'keep printing what it prints until Ctrl-C')
    .option('--lab <name>', 'the lab; default: the only one running')
    .addHelpText('after', '\nExamples:\n  wirelab logs web\n  wirelab logs -f --lab shop api')
    .action(async (service: string, opts: { follow?: boolean; lab?: string }) => {
      const lab = await pickLab(opts.lab);
      const status = await request<LabStatus>(lab, { v, op: 'ps' });
      if (!status.services.some((s) => s.name === service && s.namespace !== '')) {
        throw new Error(`lab ${lab} has no service ${service} (services: ${status.services.filter((s) => s.namespace !== '').map((s) => s.name).join(', ')})`);
      }
      const file = join(labLogDir(lab), `${service}.log`);
      if (!existsSync(file)) throw new Error(`service ${service} runs no command, so it has no output`);
      let at = 0;
      const drain = (): void => {
        const text = readFileSync(file);
        if (text.length > at) process.stdout.write(text.subarray(at));
        at = text.length;
      };
      drain();
      if (!opts.follow) return;
      process.stdout.on('error', () => process.exit(0)); // | head closed the pipe
      watchFile(file, { interval: 250 }, drain);
      await new Promise<void>((done) => process.once('SIGINT', () => done()));
      unwatchFile(file);
    });

  program
    .command('graph')
    .description('the lab drawn: nodes, switches, VLANs, addresses, impaired links — Mermaid text, or a self-contained SVG')
    .argument('[lab]', 'a running lab; default: the only one running (or -f)')
    .option('-f, --file <path>', 'draw a lab file instead of a running lab')
    .option('--svg <file>', 'write an SVG picture (- for stdout)')
    .option('--json', 'the topology as JSON')
    .addHelpText('after', '\nExamples:\n  wirelab graph -f examples/labs/vlans.yaml\n  wirelab graph --svg lab.svg\n  wirelab graph shop > shop.mmd')
    .action(async (name: string | undefined, opts: { file?: string; svg?: string; json?: boolean }) => {
      const model = opts.file !== undefined ? loadLabFile(opts.file) : await request<LabModel>(await pickLab(name), { v, op: 'model' });
      const topology = labTopology(model);
      if (opts.json) return out(JSON.stringify(topology, null, 2));
      if (opts.svg === undefined) return void process.stdout.write(topologyToMermaid(topology));
      const svg = await topologyToSvg(topology);
      if (opts.svg === '-') process.stdout.write(svg);
      else {
        writeFileSync(opts.svg, svg);
        out(`wrote ${opts.svg} (${topology.nodes.length} nodes, ${topology.edges.length} links)`);
      }
    });
}

/** Columns padded to their widest cell, as `docker compose ls` prints. */
function formatColumns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}
