/**
 * `wirelab read FILE`: prints a pcap or pcapng capture one line per frame,
 * the way `tshark -r` and `tcpdump -r` do, or as JSON with `--json`.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { readCapture } from '../link/pcap.js';
import { LINKTYPE_ETHERNET } from '../link/pcap.js';
import { dissect, dissectionToJson } from '../wire/dissect.js';
import { formatWireError } from '../wire/result.js';

export function registerReadCommand(program: Command): void {
  program
    .command('read')
    .description('print the frames of a pcap or pcapng file, one line each (like tcpdump -r)')
    .argument('<file>', 'capture file, or - for standard input')
    .option('--json', 'print one JSON object per frame instead')
    .option('-c, --count <n>', 'stop after n frames', (v) => parsePositiveInt(v, '--count'))
    .action((file: string, opts: { json?: boolean; count?: number }) => {
      const bytes = file === '-' ? readFileSync(0) : readCapturedFile(file);
      const cap = readCapture(bytes);
      if (!cap.ok) throw new Error(`${file}: ${formatWireError(cap)}`);
      const { interfaces, records } = cap.value;
      const limit = opts.count ?? records.length;
      const first = records[0]?.timestampNs ?? 0n;
      for (let i = 0; i < Math.min(limit, records.length); i++) {
        const rec = records[i]!;
        const ifc = interfaces[rec.interfaceId];
        const linkType = ifc?.linkType ?? LINKTYPE_ETHERNET;
        const d = linkType === LINKTYPE_ETHERNET ? dissect(rec.data) : undefined;
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({
              number: i + 1,
              time: Number(rec.timestampNs) / 1e9,
              interface: ifc?.name ?? rec.interfaceId,
              length: rec.originalLength,
              ...(d ? dissectionToJson(d) : { linkType }),
            }) + '\n',
          );
        } else {
          const rel = (Number(rec.timestampNs - first) / 1e9).toFixed(6);
          const where = interfaces.length > 1 ? ` ${ifc?.name ?? `if${rec.interfaceId}`}` : '';
          const text = d ? d.summary : `linktype ${linkType}, ${rec.capturedLength} bytes`;
          process.stdout.write(`${String(i + 1).padStart(4)} ${rel.padStart(11)}${where} ${text}\n`);
        }
      }
    });
}

function readCapturedFile(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : String(code ?? err)}`);
  }
}

export function parsePositiveInt(v: string, flag: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${flag} must be a positive integer, got "${v}"`);
  return Number(v);
}
