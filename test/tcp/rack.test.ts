/**
 * RACK-TLP (RFC 8985, on by default as Linux's tcp_recovery = 1) on the
 * virtual clock: a tail loss repaired by a loss probe instead of an RTO,
 * reordering inside the reordering window tolerated once reordering was seen,
 * a lost retransmission detected by RACK without a timeout, and heavily
 * reordering links crossed no slower, and with no more segments sent, than
 * with the 3-dupack rule. Frames are dropped or delayed by exact TCP sequence
 * number through a small filtering port in front of a 10 ms netem delay.
 */
import { describe, expect, it } from 'vitest';
import { ImpairedPort, type ImpairmentOptions } from '../../src/link/impair.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { CongestionControlChoice } from '../../src/tcp/state.js';
import { send, setup } from './filter-port.js';
import { connectPair, pattern, pump, runUntil, sha256, twoStacks } from './harness.js';

const rackOf = (c: TcpConnection) => c.snd.rack;

describe('RACK-TLP (RFC 8985)', () => {
  it('repairs a tail loss with a loss probe in about 2·SRTT instead of an RTO', () => {
    const results: Record<string, { ms: number; timeouts: number; probes: number }> = {};
    for (const rack of [true, false]) {
      const s = setup({ rack });
      const mss = s.cc.mss;
      // A burst of 8 segments; the last two are lost once.
      s.fa.rule = (rel, _len, nth) => (nth === 1 && rel >= 6 * mss ? 'drop' : 'pass');
      const srtt = s.cc.snd.rtt.srtt!;
      const t0 = s.stats.timeouts;
      const ms = send(s, 8 * mss);
      results[rack ? 'on' : 'off'] = { ms, timeouts: s.stats.timeouts - t0, probes: rackOf(s.cc).probes };
      if (rack) {
        expect(srtt).toBeGreaterThanOrEqual(20);
        expect(srtt).toBeLessThan(25);
        expect(rackOf(s.cc).probes).toBe(1);
        expect(s.stats.lossProbes).toBe(1); // TCPLossProbes
        expect(s.stats.timeouts).toBe(t0);
        // PTO (2·SRTT) + one round trip for the probe + RACK's reordering window, not a 200 ms+ RTO.
        expect(ms).toBeLessThan(4 * srtt + 20);
      } else {
        expect(s.stats.timeouts).toBeGreaterThan(t0);
      }
    }
    console.log('tail loss (8 segments, last 2 dropped):', JSON.stringify(results));
    expect(results.on!.ms).toBeLessThan(results.off!.ms / 2);
  });

  it('tolerates reordering within reo_wnd once reordering has been seen', () => {
    const s = setup({ rack: true });
    const mss = s.cc.mss;
    // Without reordering seen, 3+ SACKed segments above a hole make reo_wnd 0 (as Linux).
    const rack = rackOf(s.cc);
    expect(rack.reordSeen).toBe(false);
    // First episode: segment 1 of a burst of 8 is 3 ms late.
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 1 * mss ? 3 : 'pass');
    send(s, 8 * mss);
    s.clock.advance(200);
    expect(rack.reordSeen).toBe(true);
    const firstEpisode = s.stats.retransSegs;
    // Second episode: the same late segment, now inside reo_wnd = min_rtt/4 ≈ 5 ms: no retransmission.
    const r0 = s.stats.retransSegs;
    const f0 = s.stats.fastRetransmits;
    s.fa.base = s.cc.snd.sndMax;
    s.fa.rule = (rel, _len, nth) => (nth === 1 && rel === 1 * mss ? 3 : 'pass');
    s.fa.seen.clear();
    send(s, 8 * mss);
    s.clock.advance(200);
    expect(s.stats.retransSegs).toBe(r0);
    expect(s.stats.fastRetransmits).toBe(f0);
    expect(s.stats.timeouts).toBe(0);
    console.log('reordering by 3 ms: retransmissions before reordering was seen', firstEpisode, 'after', s.stats.retransSegs - r0);
  });

  it('detects a lost retransmission without an RTO', () => {
    const s = setup({ rack: true });
    const mss = s.cc.mss;
    // Segment 2 is lost, and so is its first retransmission; data keeps flowing behind it.
    s.fa.rule = (rel, _len, nth) => (rel === 2 * mss && nth <= 2 ? 'drop' : 'pass');
    const ms = send(s, 60 * mss);
    expect(s.stats.timeouts).toBe(0);
    expect(s.stats.retransSegs).toBe(2); // the lost retransmission, then the one that arrives
    expect(s.stats.fastRetransmits).toBe(1);
    expect(rackOf(s.cc).marked).toBeGreaterThanOrEqual(2);
    expect(ms).toBeLessThan(s.cc.snd.rtt.rto + 100);
    console.log('lost retransmission repaired in', ms, 'ms; retransmitted segments', s.stats.retransSegs);
  });

  it('takes a zero RTT sample as one jiffy for min_RTT, as tcp_update_rtt_min', () => {
    // No delay either way: on the virtual clock every round trip measures exactly 0 ms, and a
    // min_RTT of 0 would leave RACK no reordering window however many D-SACK steps it took.
    const p = twoStacks();
    const { client, server, cc } = connectPair(p);
    const data = pattern(200_000, 2);
    const st = { off: 0 };
    client.onWritable = () => pump(cc, data, st);
    pump(cc, data, st);
    runUntil(p.clock, () => server.bytes === data.length, 10_000, 1);
    expect(rackOf(cc).minRtt).toBe(1);
  });

  /**
   * 2 MB one way over a link that reorders heavily and drops nothing, with
   * RACK and with the 3-dupack rule; everything else (seeds, options) equal.
   * Per run, RACK sends far fewer retransmissions; in time it wins in total
   * over the first five seeds, though not in every single run: before it has
   * seen reordering RACK uses no reordering window at all (tcp_rack_reo_wnd),
   * and a spurious reduction made then, early in slow start, stays when the
   * next episode starts before its D-SACKs are back (Linux keeps one episode's
   * undo information too).
   *
   * Delays are floored as on a real path (uniform jitter around 10 ms, netem's
   * zero-delay `reorder` on the data path only): RACK's reordering window is
   * min_RTT/4 per step, so a link whose delay can fall to nearly 0 both ways —
   * normal jitter clipped at 0, or zero-delay reordering of the ACKs too, as
   * in transfer.test.ts — leaves it no window, in Linux as here.
   */
  const REORDERING: Array<[string, ImpairmentOptions, ImpairmentOptions]> = [
    [
      'data and ACKs jittered ±5 ms (both reorder)',
      { delayMs: 10, jitterMs: 5, jitterDistribution: 'uniform' },
      { delayMs: 10, jitterMs: 5, jitterDistribution: 'uniform' },
    ],
    [
      '20% of data segments overtake, ACKs jittered in order',
      { delayMs: 10, jitterMs: 5, jitterDistribution: 'uniform', reorder: 0.2 },
      { delayMs: 10, jitterMs: 5, jitterDistribution: 'uniform', keepOrder: true },
    ],
  ];
  const CCS: CongestionControlChoice[] = ['cubic', 'newreno'];
  const cases = REORDERING.flatMap(([name, fwd, rev]) => CCS.map((cc) => [`${name}, ${cc}`, fwd, rev, cc] as const));
  const SEEDS = [1, 3, 5, 7, 9];

  it.each(cases)('heavy reordering (%s): RACK finishes no later and sends no more than the 3-dupack rule', (_name, fwd, rev, congestionControl) => {
    const data = pattern(2 * 1024 * 1024, 9);
    const run = (rack: boolean, seed: number) => {
      const tcp = { rack, congestionControl };
      const p = twoStacks({ tcpA: tcp, tcpB: tcp, impairAtoB: { ...fwd, seed }, impairBtoA: { ...rev, seed: seed + 1 } });
      const { client, server, cc } = connectPair(p);
      client.keepChunks = false;
      server.keepChunks = false;
      const st = { off: 0 };
      client.onWritable = () => pump(cc, data, st, true);
      pump(cc, data, st, true);
      const ms = runUntil(p.clock, () => server.bytes === data.length, 600_000, 1);
      expect(server.digest()).toBe(sha256(data));
      const stats = p.a.tcpLayer.stats;
      const port = p.a.interfaces[0]!.port;
      if (!(port instanceof ImpairedPort)) throw new Error('expected the impaired port');
      expect(port.impairStats.lost).toBe(0);
      expect(stats.timeouts).toBe(0);
      return { ms, retransSegs: stats.retransSegs, outSegs: stats.outSegs };
    };
    const total = { on: { ms: 0, retransSegs: 0, outSegs: 0 }, off: { ms: 0, retransSegs: 0, outSegs: 0 } };
    for (const seed of SEEDS) {
      const on = run(true, seed);
      const off = run(false, seed);
      // The reordering is real: the 3-dupack rule retransmits (spuriously) on it, RACK much less.
      expect(off.retransSegs).toBeGreaterThan(20);
      expect(on.retransSegs).toBeLessThanOrEqual(off.retransSegs);
      for (const k of ['ms', 'retransSegs', 'outSegs'] as const) {
        total.on[k] += on[k];
        total.off[k] += off[k];
      }
    }
    console.log(`reordering, ${congestionControl}, ${SEEDS.length} seeds: RACK ${JSON.stringify(total.on)}; 3-dupack ${JSON.stringify(total.off)}`);
    expect(total.on.ms).toBeLessThanOrEqual(total.off.ms);
    expect(total.on.retransSegs).toBeLessThanOrEqual(total.off.retransSegs);
    expect(total.on.outSegs).toBeLessThanOrEqual(total.off.outSegs);
  });
});
