/**
 * bench/tcp part (e): request/response round trips (TCP_RR-style, 64-byte
 * request and answer over one connection for N seconds, bench/c/rr.c), p50
 * and p99 in µs:
 *   - rr's client and server kernel ↔ kernel through a Linux bridge, offloads
 *     on (the reference);
 *   - the same through the C TAP forwarder (bench/c/tapfwd.c), vnet_hdr on;
 *   - rr's client in a container against an echo server on wirelab TCP at the
 *     other end of its TAP (vnet_hdr on): the wirelab endpoint answers.
 * Every rr client is bounded in time and count; the namespaces and TAPs are
 * the paths' own, removed even on failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from '../../src/lab/netns.js';
import type { Stack } from '../../src/stack.js';
import { cForwarderPath, compileTapfwd } from '../bridge.js';
import type { BenchRow } from '../results.js';
import { kernelBridge } from './paths.js';
import { compileRr, rrBetween, rrClient, rrLine, RR_PORT, wirelabEcho, type RrResult } from './rr.js';

const ADDRESSES = { aIp: '10.247.0.1', bIp: '10.247.0.2', aMac: '02:00:00:02:47:01', bMac: '02:00:00:02:47:02' };
const WIRELAB_SUBNET = 248;

/** A container on a TAP with a wirelab host at the other end (bench/tcp's wirelabSite). */
export type WirelabSiteFactory = (subnet: number, opts: { vnetHdr?: boolean }) => Promise<{ c: Container; stack: Stack; hostIp: string; close(): Promise<void> }>;

export async function benchRoundTrips(rows: BenchRow[], seconds: number, wirelabSite: WirelabSiteFactory): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wl-bench-rr-'));
  const results: Array<[string, RrResult]> = [];
  const say = (name: string, r: RrResult) => process.stdout.write(`(e) ${name}: ${rrLine(r)}\n`);
  try {
    const rr = compileRr(dir);
    const tapfwd = compileTapfwd(dir);
    for (const [name, path] of [
      ['kernel ↔ kernel via Linux bridge (offloads on)', kernelBridge(true, ADDRESSES)],
      ['kernel ↔ kernel via C forwarder (vnet_hdr on)', cForwarderPath(tapfwd, true, ADDRESSES)],
    ] as const) {
      const r = await path((p) => rrBetween(rr, p, seconds));
      say(name, r);
      results.push([name, r]);
    }
    const s = await wirelabSite(WIRELAB_SUBNET, { vnetHdr: true });
    try {
      const closeEcho = wirelabEcho(s.stack, s.hostIp, RR_PORT);
      try {
        const name = 'kernel client → wirelab TCP echo over TAP (vnet_hdr on)';
        const r = await rrClient(rr, s.c, s.hostIp, RR_PORT, seconds);
        say(name, r);
        results.push([name, r]);
      } finally {
        closeEcho();
      }
    } finally {
      await s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const [refName, ref] = results[0]!;
  for (const [name, r] of results) {
    for (const [p, v, refV] of [['p50', r.p50Us, ref.p50Us], ['p99', r.p99Us, ref.p99Us]] as const) {
      const row = (n: string) => `(e) ${n}, 64 B request/response, ${p} round trip`;
      rows.push({ path: row(name), metric: 'µs', value: v, reference: row(refName), ratio: v / refV });
    }
  }
}
