/**
 * `wirelab decode HEX`: decodes one Ethernet frame given as hex (spaces and
 * colons allowed) and prints every layer, or the fault that stopped it.
 */
import type { Command } from 'commander';
import { dissect, dissectionToJson } from '../wire/dissect.js';

export function registerDecodeCommand(program: Command): void {
  program
    .command('decode')
    .description('decode one Ethernet frame given as hex bytes and print its layers')
    .argument('<hex...>', 'frame bytes in hex, e.g. "ff ff ff ff ff ff 02 00 ..."')
    .option('--json', 'print the layers as JSON')
    .action((hex: string[], opts: { json?: boolean }) => {
      const frame = parseHex(hex.join(''));
      const d = dissect(frame);
      if (opts.json) {
        process.stdout.write(JSON.stringify(dissectionToJson(d), null, 2) + '\n');
      } else {
        process.stdout.write(d.summary + '\n');
        for (const line of d.details) process.stdout.write(`  ${line}\n`);
      }
      if (d.error) process.exitCode = 1;
    });
}

export function parseHex(text: string): Uint8Array {
  const clean = text.replace(/[\s:.-]/g, '').replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]*$/.test(clean)) throw new Error('frame must be hex digits (spaces and colons allowed)');
  if (clean.length % 2 !== 0) throw new Error(`frame has an odd number of hex digits (${clean.length})`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}
