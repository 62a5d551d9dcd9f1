/**
 * `pingall`, as Mininet's: every service pings every other one (one echo
 * each, by address, all pairs at once) and the answer is a matrix with the
 * loss per pair, plus the overall loss. Runs `ping` inside the services'
 * namespaces, so the kernel's own ICMP is what crosses the wirelab network.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ServiceRow } from './up.js';

const run = promisify(execFile);

export interface PingPair {
  from: string;
  to: string;
  /** Loss in percent (0 or 100 with one echo, more values with `count`). */
  lossPercent: number;
}

export interface PingAllResult {
  pairs: PingPair[];
  lossPercent: number;
}

/** Pings every ordered pair of services; `count` echoes each, `timeoutS` to wait for a reply. */
export async function pingAll(rows: readonly ServiceRow[], opts: { count?: number; timeoutS?: number } = {}): Promise<PingAllResult> {
  const count = opts.count ?? 1;
  const timeoutS = opts.timeoutS ?? 2;
  const jobs: Array<Promise<PingPair>> = [];
  for (const a of rows) {
    if (a.namespace === '') continue; // a wirelab host or router is pinged, it does not run ping
    for (const b of rows) {
      if (a === b) continue;
      jobs.push(
        run('ip', ['netns', 'exec', a.namespace, 'ping', '-n', '-q', '-c', String(count), '-W', String(timeoutS), b.address.split(',')[0]!], { timeout: (timeoutS * count + 5) * 1000 })
          .then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '')
          .then((out) => ({ from: a.name, to: b.name, lossPercent: Number(/(\d+(?:\.\d+)?)% packet loss/.exec(out)?.[1] ?? 100) })),
      );
    }
  }
  const pairs = await Promise.all(jobs);
  const lossPercent = pairs.length === 0 ? 0 : pairs.reduce((s, p) => s + p.lossPercent, 0) / pairs.length;
  return { pairs, lossPercent };
}

/** Mininet's shape: one line per service with the ones it reached, `X` for a loss; then the total. */
export function formatPingAll(rows: readonly ServiceRow[], r: PingAllResult): string {
  const lines = rows.filter((a) => a.namespace !== '').map((a) => {
    const cells = rows.filter((b) => b !== a).map((b) => {
      const p = r.pairs.find((x) => x.from === a.name && x.to === b.name);
      return p !== undefined && p.lossPercent === 0 ? b.name : 'X';
    });
    return `${a.name} -> ${cells.join(' ')}`;
  });
  const received = r.pairs.filter((p) => p.lossPercent === 0).length;
  lines.push(`*** Results: ${Math.round(r.lossPercent)}% dropped (${received}/${r.pairs.length} received)`);
  return lines.join('\n');
}
