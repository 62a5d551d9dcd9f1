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

/**
 * One shell per source namespace runs that source's pings in parallel and
 * prints `<index> <ping's summary>` per target. One process per source, not
 * per pair: spawning blocks the event loop that forwards the pings' frames,
 * and 36 spawns on a busy machine took longer than a ping waits for its reply.
 */
const PING_SCRIPT =
  'c=$1; w=$2; shift 2; i=0; for t in "$@"; do i=$((i+1)); ' +
  '{ r=$(ping -n -q -c "$c" -W "$w" "$t" 2>&1); printf "%s %s\\n" "$i" "$(printf "%s" "$r" | tr "\\n" " ")"; } & done; wait';

/** Pings every ordered pair of services; `count` echoes each, `timeoutS` to wait for a reply. */
export async function pingAll(rows: readonly ServiceRow[], opts: { count?: number; timeoutS?: number } = {}): Promise<PingAllResult> {
  const count = opts.count ?? 1;
  const timeoutS = opts.timeoutS ?? 2;
  const jobs: Array<Promise<PingPair[]>> = [];
  for (const a of rows) {
    if (a.namespace === '') continue; // a wirelab host or router is pinged, it does not run ping
    const targets = rows.filter((b) => b !== a);
    const argv = ['netns', 'exec', a.namespace, 'sh', '-c', PING_SCRIPT, 'pingall', String(count), String(timeoutS), ...targets.map((b) => b.address.split(',')[0]!)];
    jobs.push(
      run('ip', argv, { timeout: (timeoutS * count + 10) * 1000 })
        .then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '')
        .then((out) => {
          const loss = new Map<number, number>();
          for (const line of out.split('\n')) {
            const m = /^(\d+) .*?(\d+(?:\.\d+)?)% packet loss/.exec(line);
            if (m !== null) loss.set(Number(m[1]), Number(m[2]));
          }
          return targets.map((b, i) => ({ from: a.name, to: b.name, lossPercent: loss.get(i + 1) ?? 100 }));
        }),
    );
  }
  const pairs = (await Promise.all(jobs)).flat();
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
