#!/usr/bin/env node
/**
 * The `wirelab` command. Thin by design: it parses flags with commander and
 * calls into the library; no protocol logic lives here.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerReadCommand } from './read.js';
import { registerDecodeCommand } from './decode.js';
import { registerLabCommands } from './lab-commands.js';
import { registerBenchCommand } from './bench.js';
import { registerSwitchCommand } from './switch.js';
import { registerLogsAndGraph, registerUpCommands } from './up.js';
import { registerInspectCommands } from './inspect.js';
import { registerReplayCommand } from './replay.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('wirelab')
    .description('A user-space TCP/IP stack and virtual switch that Linux network namespaces plug into')
    .version(pkg.version)
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  registerUpCommands(program);
  registerLogsAndGraph(program);
  registerInspectCommands(program);
  registerReplayCommand(program);
  registerLabCommands(program);
  registerSwitchCommand(program);
  registerReadCommand(program);
  registerDecodeCommand(program);
  registerBenchCommand(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`wirelab: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
