/**
 * Congestion control: NewReno (RFC 5681, RFC 3465 ABC L=2, RFC 6582 window
 * arithmetic) and CUBIC (RFC 9438), driven by simulated ACK clocks on a
 * virtual timeline (time comes only from the `now` arguments).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCongestionControl, initialWindow, type CongestionControl } from '../../src/tcp/cc/index.js';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic, cubicK, cubicW } from '../../src/tcp/cc/cubic.js';
import { NewReno } from '../../src/tcp/cc/newreno.js';

const MSS = 1000;

/**
 * One round trip of an ACK clock: the sender has a full window of
 * floor(cwnd/MSS) segments out; ACKs covering `ackSegs` segments each arrive
 * evenly spread over the RTT. Returns the time at the end of the round.
 */
function roundTrip(cc: CongestionControl, now: number, rtt: number, ackSegs = 1): number {
  const segs = Math.max(1, Math.floor(cc.cwnd / MSS));
  const acks = Math.ceil(segs / ackSegs);
  let left = segs;
  for (let k = 0; k < acks; k++) {
    const n = Math.min(ackSegs, left);
    left -= n;
    cc.onAck(n * MSS, now + (rtt * (k + 1)) / acks, rtt, left * MSS);
  }
  return now + rtt;
}

function rounds(cc: CongestionControl, now: number, rtt: number, count: number, each?: (t: number) => void): number {
  for (let i = 0; i < count; i++) {
    now = roundTrip(cc, now, rtt);
    each?.(now);
  }
  return now;
}

describe('initial window (RFC 6928)', () => {
  it('is min(10*MSS, max(2*MSS, 14600))', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(1000)).toBe(10000);
    expect(initialWindow(9000)).toBe(18000);
    for (const name of ['newreno', 'cubic'] as const) {
      const cc = createCongestionControl(name, 1460);
      expect(cc.name).toBe(name);
      expect(cc.cwnd).toBe(14600);
      expect(cc.ssthresh).toBeGreaterThan(1e9);
    }
  });
});

describe('NewReno', () => {
  it('doubles cwnd per RTT in slow start (one ACK per segment)', () => {
    const cc = new NewReno(MSS);
    let now = 0;
    const seen = [cc.cwnd];
    for (let i = 0; i < 5; i++) {
      now = roundTrip(cc, now, 50);
      seen.push(cc.cwnd);
    }
    expect(seen).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000]);
  });

  it('still doubles with delayed ACKs thanks to ABC L=2, and caps stretch ACKs', () => {
    const delayed = new NewReno(MSS);
    roundTrip(delayed, 0, 50, 2);
    expect(delayed.cwnd).toBe(20_000);
    const stretch = new NewReno(MSS);
    roundTrip(stretch, 0, 50, 4); // ACKs of 4, 4, 2 segments: +2 MSS each at most
    expect(stretch.cwnd).toBe(16_000);
  });

  it('leaves slow start at ssthresh without overshooting', () => {
    const cc = new NewReno(MSS);
    cc.ssthresh = 15_000;
    roundTrip(cc, 0, 50);
    expect(cc.cwnd).toBe(15_000);
  });

  it('grows about one MSS per RTT in congestion avoidance', () => {
    const cc = new NewReno(MSS);
    cc.cwnd = 20_000;
    cc.ssthresh = 20_000;
    const seen: number[] = [];
    rounds(cc, 0, 50, 10, () => seen.push(cc.cwnd));
    expect(seen).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30].map((s) => s * MSS));
    // with delayed ACKs the byte counting gives the same growth
    const d = new NewReno(MSS);
    d.cwnd = 20_000;
    d.ssthresh = 20_000;
    let now = 0;
    for (let i = 0; i < 10; i++) now = roundTrip(d, now, 50, 2);
    expect(d.cwnd).toBe(30_000);
  });

  it('halves on congestion and deflates to ssthresh on recovery exit', () => {
    const cc = new NewReno(MSS);
    cc.cwnd = 40_000;
    cc.onCongestion(0, 40_000);
    expect(cc.ssthresh).toBe(20_000);
    expect(cc.cwnd).toBe(20_000);
    cc.cwnd += 3 * MSS; // the caller's inflation
    cc.onRecoveryExit(10);
    expect(cc.cwnd).toBe(20_000);
    cc.onCongestion(20, 3000); // never below 2 MSS
    expect(cc.ssthresh).toBe(2000);
    expect(cc.cwnd).toBe(2000);
  });

  it('falls to one MSS on RTO, holding ssthresh across repeated timeouts', () => {
    const cc = new NewReno(MSS);
    cc.cwnd = 40_000;
    cc.onRetransmitTimeout(0, 30_000);
    expect(cc.ssthresh).toBe(15_000);
    expect(cc.cwnd).toBe(MSS);
    cc.onRetransmitTimeout(1000, 1000);
    expect(cc.ssthresh).toBe(15_000);
    expect(cc.cwnd).toBe(MSS);
    // slow start again up to ssthresh
    let now = 2000;
    const seen: number[] = [];
    while (cc.cwnd < cc.ssthresh) {
      now = roundTrip(cc, now, 50);
      seen.push(cc.cwnd);
    }
    expect(seen).toEqual([2000, 4000, 8000, 15_000]);
    cc.onRetransmitTimeout(now, 2000); // new data was acked: ssthresh recomputed
    expect(cc.ssthresh).toBe(2000);
  });

  it('keeps cwnd in segments when the MSS changes', () => {
    const cc = new NewReno(1000);
    cc.setMss(500);
    expect(cc.cwnd).toBe(5000);
  });

  it('never lets cwnd fall below one MSS nor grow faster than ABC allows', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ k: fc.constant('ack' as const), n: fc.integer({ min: 0, max: 20_000 }) }),
            fc.record({ k: fc.constantFrom('cong' as const, 'rto' as const, 'exit' as const), f: fc.integer({ min: 0, max: 100_000 }) }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const cc = new NewReno(MSS);
          let now = 0;
          for (const op of ops) {
            now += 10;
            const before = cc.cwnd;
            if (op.k === 'ack') {
              const inCa = cc.cwnd >= cc.ssthresh;
              cc.onAck(op.n, now, 10, 0);
              // L = 2 MSS in slow start; at most 1 MSS per ACK in CA (an ACK
              // crossing ssthresh may get both)
              expect(cc.cwnd - before).toBeLessThanOrEqual(inCa ? MSS : 3 * MSS);
              expect(cc.cwnd).toBeGreaterThanOrEqual(before);
            } else if (op.k === 'cong') cc.onCongestion(now, op.f);
            else if (op.k === 'rto') cc.onRetransmitTimeout(now, op.f);
            else cc.onRecoveryExit(now);
            expect(cc.cwnd).toBeGreaterThanOrEqual(MSS);
            expect(cc.ssthresh).toBeGreaterThanOrEqual(2 * MSS);
          }
        },
      ),
    );
  });
});

describe('CUBIC', () => {
  /** A congestion event at `segs` segments (full window in flight), recovery done. */
  function lossAt(cc: Cubic, segs: number, now: number): void {
    cc.cwnd = segs * MSS;
    cc.ssthresh = Math.min(cc.ssthresh, segs * MSS);
    cc.onCongestion(now, segs * MSS);
    cc.onRecoveryExit(now);
  }

  it('computes K and W_cubic(t) as RFC 9438 Figures 1 and 2', () => {
    expect(CUBIC_C).toBe(0.4);
    expect(CUBIC_BETA).toBe(0.7);
    expect(CUBIC_ALPHA).toBeCloseTo((3 * 0.3) / 1.7, 12);
    const k = cubicK(100, 70);
    expect(k).toBeCloseTo(Math.cbrt(30 / 0.4), 12);
    expect(k).toBeCloseTo(4.2172, 4);
    expect(cubicW(0, k, 100)).toBeCloseTo(70, 9);
    expect(cubicW(k, k, 100)).toBeCloseTo(100, 9);
    expect(cubicW(2 * k, k, 100)).toBeCloseTo(130, 9);
    for (const t of [0.5, 1, 2, 3, 5, 8]) {
      expect(cubicW(t, k, 100)).toBeCloseTo(0.4 * (t - k) ** 3 + 100, 9);
    }
  });

  it('decreases multiplicatively to beta = 0.7', () => {
    const cc = new Cubic(MSS);
    cc.cwnd = 100 * MSS;
    cc.onCongestion(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.wMax).toBe(100);
    cc.onCongestion(1, 2 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS); // floor of 2 MSS
  });

  it('reduces W_max on fast convergence', () => {
    const cc = new Cubic(MSS);
    lossAt(cc, 100, 0);
    expect(cc.wMax).toBe(100);
    lossAt(cc, 80, 1000); // below the previous W_max: release bandwidth
    expect(cc.wMax).toBeCloseTo((80 * 1.7) / 2, 9);
    expect(cc.ssthresh).toBe(56 * MSS);
    const plain = new Cubic(MSS);
    plain.fastConvergence = false;
    lossAt(plain, 100, 0);
    lossAt(plain, 80, 1000);
    expect(plain.wMax).toBe(80);
  });

  it('starts an epoch at the first CA ACK with K from W_max and cwnd_epoch', () => {
    const cc = new Cubic(MSS);
    lossAt(cc, 100, 0);
    expect(cc.epoch.start).toBeUndefined();
    cc.onAck(MSS, 5000, 100, 69 * MSS);
    expect(cc.epoch.start).toBe(5000);
    expect(cc.epoch.cwndEpoch).toBe(70);
    expect(cc.epoch.k).toBeCloseTo(Math.cbrt(30 / 0.4), 9);
    expect(cc.epoch.wMax).toBe(100);
  });

  it('follows W_cubic(t): concave up to W_max, plateau at K, convex beyond', () => {
    const cc = new Cubic(MSS);
    const rtt = 100;
    lossAt(cc, 1000, 0);
    const k = cubicK(1000, 700);
    const samples: Array<{ t: number; w: number }> = [];
    let now = 0;
    const n = Math.ceil((2 * k * 1000) / rtt);
    now = rounds(cc, now, rtt, n, (t) => samples.push({ t: t / 1000, w: cc.cwnd / MSS }));
    for (const { t, w } of samples) {
      // within about one RTT of the curve (the target looks one RTT ahead)
      expect(w).toBeGreaterThanOrEqual(cubicW(t - (2 * rtt) / 1000, k, 1000) - 1);
      expect(w).toBeLessThanOrEqual(cubicW(t + rtt / 1000, k, 1000) + 1);
      // and above the Reno-friendly estimate here (cubic region)
      expect(w).toBeGreaterThan(700 + (CUBIC_ALPHA * t * 1000) / rtt - 5);
    }
    const at = (sec: number) => samples.reduce((a, s) => (Math.abs(s.t - sec) < Math.abs(a.t - sec) ? s : a)).w;
    const growth = (from: number, to: number) => at(to) - at(from);
    // concave: growth slows approaching K
    expect(growth(0.2, 1.2)).toBeGreaterThan(growth(1.2, 2.2));
    expect(growth(1.2, 2.2)).toBeGreaterThan(growth(k - 1, k));
    // plateau near W_max
    expect(Math.abs(at(k) - 1000)).toBeLessThan(10);
    // convex: growth accelerates beyond K
    expect(growth(k + 3, k + 4)).toBeGreaterThan(growth(k, k + 1));
    expect(growth(k + 6, k + 7)).toBeGreaterThan(growth(k + 3, k + 4));
    expect(at(2 * k)).toBeGreaterThan(1250);
  });

  it('is Reno-friendly when RTT and W_max are small', () => {
    const cc = new Cubic(MSS);
    const reno = new NewReno(MSS);
    const rtt = 1;
    lossAt(cc, 20, 0);
    reno.cwnd = 20 * MSS;
    reno.onCongestion(0, 20 * MSS);
    reno.onRecoveryExit(0);
    let now = 0;
    now = rounds(cc, 0, rtt, 100);
    rounds(reno, 0, rtt, 100);
    const t = (now - cc.epoch.start!) / 1000;
    const w = cc.cwnd / MSS;
    expect(cubicW(t, cc.epoch.k, 20)).toBeLessThan(16);
    expect(w).toBeGreaterThan(2 * cubicW(t, cc.epoch.k, 20));
    expect(Math.abs(w - cc.epoch.wEst)).toBeLessThan(1);
    // roughly Reno's window: alpha < 1 until W_est reaches cwnd_prior
    expect(w).toBeGreaterThan(0.85 * (reno.cwnd / MSS));
    expect(w).toBeLessThanOrEqual(reno.cwnd / MSS + 1);
  });

  it('slow-starts like Reno below ssthresh', () => {
    const cc = new Cubic(MSS);
    let now = 0;
    const seen = [cc.cwnd];
    for (let i = 0; i < 4; i++) {
      now = roundTrip(cc, now, 50);
      seen.push(cc.cwnd);
    }
    expect(seen).toEqual([10_000, 20_000, 40_000, 80_000, 160_000]);
  });

  it('handles RTO per RFC 9438 §4.8: ssthresh from beta, 1 MSS, K = 0 next epoch', () => {
    const cc = new Cubic(MSS);
    lossAt(cc, 200, 0);
    let now = rounds(cc, 0, 50, 20);
    cc.cwnd = 100 * MSS;
    cc.onRetransmitTimeout(now, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.epoch.start).toBeUndefined();
    cc.onRetransmitTimeout(now + 1000, 1000); // again: ssthresh held
    expect(cc.ssthresh).toBe(70 * MSS);
    now += 2000;
    while (cc.cwnd < cc.ssthresh) now = roundTrip(cc, now, 50);
    now = roundTrip(cc, now, 50);
    // the epoch began at the ACK that reached ssthresh
    expect(cc.epoch.cwndEpoch).toBe(70);
    expect(cc.epoch.k).toBe(0);
    expect(cc.epoch.wMax).toBe(70);
    // convex from the start: W = 0.4 t^3 + 70 (the Reno-friendly estimate dominates early)
    const start = cc.epoch.start!;
    now = rounds(cc, now, 50, 100);
    const t = (now - start) / 1000;
    const w = cc.cwnd / MSS;
    expect(w).toBeGreaterThanOrEqual(Math.min(cubicW(t - 0.1, 0, 70), cc.epoch.wEst) - 1);
    expect(w).toBeLessThanOrEqual(Math.max(cubicW(t + 0.05, 0, 70), cc.epoch.wEst) + 1);
  });

  it('grows monotonically between congestion events and keeps cwnd >= 1 MSS', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 400 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.constantFrom('cong' as const, 'rto' as const, 'ack' as const), { maxLength: 40 }),
        (segs, rtt, ops) => {
          const cc = new Cubic(MSS);
          lossAt(cc, segs, 0);
          let now = 0;
          for (const op of ops) {
            if (op === 'ack') {
              const before = cc.cwnd;
              now = roundTrip(cc, now, rtt);
              expect(cc.cwnd).toBeGreaterThanOrEqual(before);
              expect(cc.cwnd).toBeLessThanOrEqual(Math.max(2 * before, before + 2 * MSS * Math.ceil(before / MSS)));
            } else if (op === 'cong') {
              cc.onCongestion(now, cc.cwnd);
              cc.onRecoveryExit(now);
            } else cc.onRetransmitTimeout(now, cc.cwnd);
            expect(cc.cwnd).toBeGreaterThanOrEqual(MSS);
            expect(Number.isInteger(cc.cwnd)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
