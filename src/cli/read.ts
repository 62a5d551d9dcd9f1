/**
 * `wirelab read FILE`: prints a pcap or pcapng capture one line per frame,
 * the way `tshark -r` and `tcpdump -r` do, or as JSON with `--json`.
 *
 * As `tcpdump -r` does:
 * - A file cut short (in the middle of a record or block) or corrupt part-way
 *   prints every complete frame before the fault, then one warning on stderr
 *   naming the file, the offset and the fault, and exits 1 (tcpdump 4.99:
 *   "tcpdump: pcap_loop: truncated dump file; tried to read 104 captured
 *   bytes, only got 10", exit status 1). No warning when `-c` is reached first.
 * - When the reader of standard output goes away (`| head -1`), it stops
 *   quietly: no stack trace, exit status 0.
 * - Linux cooked captures (`tcpdump -i any`: LINKTYPE_LINUX_SLL2, 276, and
 *   LINKTYPE_LINUX_SLL, 113) print the interface and direction before the
 *   packet: `if2   Out IP 10.0.0.1 > 10.0.0.2: ICMP echo request, …`. tcpdump
 *   prints the interface's name as the reading host knows that index
 *   ("interface names might be incorrect"); wirelab prints the index itself.
 *   SLL carries no interface, so only the direction (In, Out, B, M, P).
 * - Any other link type prints one line per frame saying it is not decoded.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { readCaptureUntilFault } from '../link/capture-reader.js';
import { dissectLinkType, dissectionToJson } from '../wire/dissect.js';
import { formatWireError } from '../wire/result.js';

/** Lines handed to stdout in one write; between writes, a closed reader is noticed. */
const BATCH_LINES = 512;

export function registerReadCommand(program: Command): void {
  program
    .command('read')
    .description('print the frames of a pcap or pcapng file, one line each (like tcpdump -r)')
    .argument('<file>', 'capture file, or - for standard input')
    .option('--json', 'print one JSON object per frame instead')
    .option('-c, --count <n>', 'stop after n frames', (v) => parsePositiveInt(v, '--count'))
    .addHelpText(
      'after',
      `
Examples:
  wirelab read lab.pcapng
  wirelab read any.pcap -c 10            # tcpdump -i any capture: "if2   Out IP ..."
  wirelab read lab.pcapng --json | jq .summary

A file cut short prints its complete frames, then a warning on stderr, and
exits 1, as tcpdump -r does. Linux cooked captures (tcpdump -i any) show the
interface index and direction (In, Out, B, M, P) before each packet.`,
    )
    .action(async (file: string, opts: { json?: boolean; count?: number }) => {
      const bytes = file === '-' ? readFileSync(0) : readCapturedFile(file);
      const cap = readCaptureUntilFault(bytes);
      if (!cap.ok) throw new Error(`${file}: ${formatWireError(cap)}`);
      const { interfaces, records, stopped } = cap.value;
      const limit = Math.min(opts.count ?? records.length, records.length);
      const first = records[0]?.timestampNs ?? 0n;
      const out = new QuietStdout();

      let batch: string[] = [];
      for (let i = 0; i < limit; i++) {
        const rec = records[i]!;
        const ifc = interfaces[rec.interfaceId];
        const linkType = ifc?.linkType ?? 1;
        const d = dissectLinkType(linkType, rec.data);
        if (opts.json) {
          batch.push(
            JSON.stringify({
              number: i + 1,
              time: Number(rec.timestampNs) / 1e9,
              interface: ifc?.name ?? rec.interfaceId,
              length: rec.originalLength,
              linkType,
              ...(d ? dissectionToJson(d) : { summary: unknownLinkType(linkType, rec.capturedLength) }),
            }),
          );
        } else {
          const rel = (Number(rec.timestampNs - first) / 1e9).toFixed(6);
          const where = interfaces.length > 1 ? ` ${ifc?.name ?? `if${rec.interfaceId}`}` : '';
          const text = d ? d.summary : unknownLinkType(linkType, rec.capturedLength);
          batch.push(`${String(i + 1).padStart(4)} ${rel.padStart(11)}${where} ${text}`);
        }
        if (batch.length >= BATCH_LINES) {
          if (!(await out.write(batch))) return; // the reader went away: stop quietly
          batch = [];
        }
      }
      if (!(await out.write(batch))) return;

      // Like tcpdump: the fault is worth a warning only if it kept us from frames asked for.
      if (stopped !== undefined && (opts.count === undefined || opts.count > records.length)) {
        process.stderr.write(
          `wirelab: warning: ${file}: ${stopped.code === 'truncated' ? 'truncated capture' : 'damaged capture'}, ` +
            `stopped at byte ${stopped.offset} of ${bytes.length} after ${records.length} complete frame${records.length === 1 ? '' : 's'}: ` +
            `${formatWireError(stopped)}\n`,
        );
        process.exitCode = 1;
      }
    });
}

function unknownLinkType(linkType: number, length: number): string {
  return `link type ${linkType} not decoded (wirelab decodes 1 Ethernet, 113 Linux SLL, 276 Linux SLL2), ${length} bytes`;
}

/**
 * Standard output that reports a reader gone away (EPIPE) instead of
 * throwing: `write` resolves false from then on, and the process exits 0.
 */
class QuietStdout {
  private closed = false;

  constructor() {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE: the reader went away, which is how `| head` ends a read. Anything else is worth a line.
      if (err.code !== 'EPIPE' && !this.closed) {
        process.stderr.write(`wirelab: cannot write to standard output: ${err.message}\n`);
        process.exitCode = 1;
      }
      this.closed = true;
    });
  }

  /** Writes the lines; resolves false when the reader has gone away. */
  write(lines: readonly string[]): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (lines.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      process.stdout.write(lines.join('\n') + '\n', (err) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EPIPE' && !this.closed) {
            process.stderr.write(`wirelab: cannot write to standard output: ${err.message}\n`);
            process.exitCode = 1;
          }
          this.closed = true;
          resolve(false);
        } else {
          resolve(true);
        }
      });
    });
  }
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
