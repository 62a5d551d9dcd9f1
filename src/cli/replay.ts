/**
 * `wirelab replay FILE --into NODE:IFACE`: plays a pcap or pcapng capture
 * into a running lab's switch, as if the node's interface had sent it, and
 * prints what the lab accepted and refused (src/lab/replay-op.ts). Thin: it
 * checks the file can be read as a capture (so a bad file fails here, with
 * its fault), sends the control socket an absolute path, and prints.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readCaptureUntilFault } from '../link/capture-reader.js';
import { REPLAY_DIRECTIONS, REPLAY_PACES, type ReplayDirection, type ReplayPace } from '../link/replay.js';
import { CONTROL_PROTOCOL_VERSION, request } from '../lab/control.js';
import type { ReplayResult } from '../lab/replay-op.js';
import { pickLab } from './up.js';

/** How long the lab may take beyond the capture's own duration (× scale) to answer. */
const ANSWER_MARGIN_MS = 60_000;

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .argument('<file>', 'a pcap or pcapng capture (Ethernet frames; other link types are skipped)')
    .requiredOption('--into <target>', 'NODE:IFACE (the frames enter the switch as if that interface sent them), NODE, or SWITCH:PORT')
    .option('--pace <pace>', `${REPLAY_PACES.join(' | ')}: the capture's own gaps, gaps × --scale, or as fast as batches go`, 'recorded')
    .option('--scale <n>', 'multiply the recorded gaps by N (2: half speed; implies --pace scaled)')
    .option('--direction <dir>', `${REPLAY_DIRECTIONS.join(' | ')}: only the frames a pcapng marks as sent (out) or received (in) by the captured interface`, 'all')
    .option('--lab <name>', 'the lab; default: the only one running')
    .option('--json', 'print JSON: played, skipped, fault, every switch port\'s counter changes, refused frames by reason')
    .description("play a capture into a running lab's switch as if a node had sent it; say what was accepted and refused")
    .addHelpText(
      'after',
      '\nThe frames are received on the switch port of NODE:IFACE and forwarded like anything that node sends\n' +
        "(to other nodes, the gateway, captures); runts and frames over the MTU go in as recorded. The answer\n" +
        "gives the change of the switch ports' counters and every drop, with its reason, by the switch and the\n" +
        'wirelab stacks while it played.\n' +
        '\nExamples:\n' +
        '  sudo wirelab capture web:eth0 -c 20 -w web.pcapng\n' +
        '  sudo wirelab replay web.pcapng --into web:eth0 --pace max\n' +
        '  sudo wirelab replay web.pcapng --into web:eth0 --direction out   # only what web sent\n' +
        '  sudo wirelab replay web.pcapng --into web:eth0 --scale 0.5 --lab quickstart --json',
    )
    .action(async (file: string, opts: { into: string; pace: string; direction: string; scale?: string; lab?: string; json?: boolean }) => {
      const path = resolve(file);
      let scale: number | undefined;
      if (opts.scale !== undefined) {
        scale = Number(opts.scale);
        if (!(Number.isFinite(scale) && scale > 0)) throw new Error(`--scale ${opts.scale}: a number above 0`);
      }
      if (!(REPLAY_PACES as readonly string[]).includes(opts.pace)) throw new Error(`--pace ${opts.pace}: say ${REPLAY_PACES.join(', ')}`);
      if (!(REPLAY_DIRECTIONS as readonly string[]).includes(opts.direction)) throw new Error(`--direction ${opts.direction}: say ${REPLAY_DIRECTIONS.join(', ')}`);
      const direction = opts.direction as ReplayDirection;
      let pace = opts.pace as ReplayPace;
      if (pace === 'recorded' && scale !== undefined) pace = 'scaled';
      if (pace === 'scaled' && scale === undefined) throw new Error('--pace scaled needs --scale N');
      if (pace === 'max' && scale !== undefined) throw new Error('--scale goes with a recorded or scaled pace, not max');
      const bytes = readFileSync(path);
      const cap = readCaptureUntilFault(bytes);
      if (!cap.ok) throw new Error(`${file} is not a capture wirelab can replay: ${cap.layer}: ${cap.code}: ${cap.message}`);
      const ts = cap.value.records.map((r) => r.timestampNs);
      const spanMs = pace === 'max' || ts.length < 2 ? 0 : (Number(ts[ts.length - 1]! - ts[0]!) / 1e6) * (scale ?? 1);
      const lab = await pickLab(opts.lab);
      const r = await request<{ text: string; json: ReplayResult }>(
        lab,
        { v: CONTROL_PROTOCOL_VERSION, op: 'replay', target: opts.into, file: path, pace, direction, ...(scale !== undefined ? { scale } : {}) },
        Math.max(0, spanMs) + ANSWER_MARGIN_MS,
      );
      process.stdout.write(opts.json === true ? JSON.stringify(r.json, null, 2) + '\n' : r.text);
    });
}
