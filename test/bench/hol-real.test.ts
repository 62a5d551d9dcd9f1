/**
 * The HOL benchmark's real-time mode (bench/lib/hol-real.ts): kernel TCP and
 * UDP between two containers over an impaired wirelab link. Tiny runs (200
 * messages, 2 ms apart, 5 ms one-way delay) asserting the SHAPE of the
 * results only — who delivers everything, who stalls — with bounds far from
 * what a loaded machine could reach; no timing is asserted beyond a generous
 * "not absurdly late". Every run's namespaces and TAPs must be gone after it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runRealHol } from '../../bench/lib/hol-real.js';
import type { HolRunResult, HolRunSpec, HolTransport } from '../../bench/lib/hol-types.js';
import { requireRoot } from '../helpers/netns.js';

const run = promisify(execFile);
const cap = requireRoot(['python3', 'ethtool', 'ping']);

const DELAY_MS = 5;
const base: HolRunSpec = {
  transport: 'tcp',
  lossPercent: 0,
  lossModel: 'random',
  delayMs: DELAY_MS,
  jitterMs: 0,
  reorderPercent: 0,
  messageBytes: 200,
  intervalMs: 2,
  pattern: 'steady',
  burstSize: 1,
  messages: 200,
  connections: 1,
  seed: 7,
};

/** Everything each run created, checked gone at the end. */
const created = { namespaces: [] as string[], taps: [] as string[] };

async function hol(transport: HolTransport, lossPercent: number): Promise<HolRunResult> {
  const r = await runRealHol(
    { ...base, transport, lossPercent },
    {
      // The drain only has to cover what is in flight (5 ms) and TCP's tail recovery at 5 % loss.
      drainMs: 1_500,
      onTopology: (t) => {
        created.namespaces.push(...t.namespaces);
        created.taps.push(...t.taps);
      },
    },
  );
  expect(r.mode).toBe('real');
  expect(r.messages.map((m) => m.seq)).toEqual([...Array(base.messages).keys()]);
  return r;
}

const delivered = (r: HolRunResult) => r.messages.filter((m) => m.receivedMs !== null).length / r.messages.length;
const latencies = (r: HolRunResult) =>
  r.messages.flatMap((m) => (m.receivedMs === null ? [] : [m.receivedMs - m.sentMs])).sort((a, b) => a - b);
const p99 = (r: HolRunResult) => {
  const l = latencies(r);
  return l[Math.ceil(0.99 * l.length) - 1]!;
};
const max = (r: HolRunResult) => latencies(r).at(-1)!;

describe.skipIf(cap.skip)('HOL benchmark, real mode: kernel TCP and UDP over an impaired wirelab link', () => {
  beforeAll(() => cap.assert());

  it('without loss TCP and UDP deliver every message, p99 within 2 × delay + 50 ms; the base RTT is the link delay', async () => {
    for (const transport of ['tcp', 'udp'] as const) {
      const r = await hol(transport, 0);
      expect(delivered(r), transport).toBe(1);
      expect(r.linkLosses).toBe(0);
      expect(p99(r), transport).toBeLessThan(2 * DELAY_MS + 50);
      // Every latency is at least the one-way delay: the clocks agree across namespaces.
      expect(latencies(r)[0], transport).toBeGreaterThanOrEqual(DELAY_MS - 0.5);
      expect(r.baseRttMs).toBeGreaterThanOrEqual(2 * DELAY_MS);
      expect(r.baseRttMs).toBeLessThan(2 * DELAY_MS + 50);
    }
  });

  it('at 5 % loss TCP delivers everything but stalls (max latency ≥ base RTT), UDP loses messages, udp-rtx recovers them all', async () => {
    const tcp = await hol('tcp', 5);
    expect(tcp.linkLosses).toBeGreaterThan(0);
    expect(delivered(tcp)).toBe(1);
    expect(max(tcp)).toBeGreaterThanOrEqual(tcp.baseRttMs);

    const udp = await hol('udp', 5);
    expect(udp.linkLosses).toBeGreaterThan(0);
    expect(delivered(udp)).toBeLessThan(1);
    // What UDP did deliver was never held up by what it lost.
    expect(p99(udp)).toBeLessThan(2 * DELAY_MS + 50);

    const rtx = await hol('udp-rtx', 5);
    expect(rtx.linkLosses).toBeGreaterThan(0);
    expect(delivered(rtx)).toBe(1);
  });

  it('leaves nothing behind: no namespace or TAP of these runs exists', async () => {
    expect(created.namespaces.length).toBeGreaterThan(0);
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    const links = (await run('ip', ['-br', 'link'])).stdout;
    for (const ns of created.namespaces) expect(netns).not.toContain(ns);
    for (const tap of created.taps) expect(links).not.toContain(tap);
  });
});
