/**
 * RttEstimator against RFC 6298: the SRTT/RTTVAR recurrences on known
 * samples, the [min, max] clamp, G = 1 ms, exponential backoff and reset.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../src/tcp/rtt.js';

describe('RttEstimator (RFC 6298)', () => {
  it('starts with RTO = 1 s and no SRTT', () => {
    const r = new RttEstimator();
    expect(r.srtt).toBeUndefined();
    expect(r.rttvar).toBe(0);
    expect(r.rto).toBe(1000);
  });

  it('follows the RFC 6298 sequence on known samples', () => {
    const r = new RttEstimator();
    r.sample(100); // (2.2) SRTT = R, RTTVAR = R/2
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.rto).toBe(300);
    r.sample(120); // (2.3) RTTVAR = 3/4*50 + 1/4*20; SRTT = 7/8*100 + 1/8*120
    expect(r.rttvar).toBeCloseTo(42.5, 10);
    expect(r.srtt).toBeCloseTo(102.5, 10);
    expect(r.rto).toBeCloseTo(272.5, 10);
    r.sample(80);
    expect(r.rttvar).toBeCloseTo(37.5, 10);
    expect(r.srtt).toBeCloseTo(99.6875, 10);
    expect(r.rto).toBeCloseTo(249.6875, 10);
  });

  it('matches the recurrence for arbitrary sample sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 50 }), (samples) => {
        const r = new RttEstimator({ minRtoMs: 0, maxRtoMs: 1e9 });
        let srtt = NaN;
        let rttvar = NaN;
        samples.forEach((s, i) => {
          r.sample(s);
          if (i === 0) {
            srtt = s;
            rttvar = s / 2;
          } else {
            rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - s);
            srtt = 0.875 * srtt + 0.125 * s;
          }
        });
        expect(r.srtt).toBeCloseTo(srtt, 6);
        expect(r.rttvar).toBeCloseTo(rttvar, 6);
        expect(r.rto).toBeCloseTo(srtt + Math.max(1, 4 * rttvar), 6);
      }),
    );
  });

  it('uses G = 1 ms when RTTVAR vanishes', () => {
    const r = new RttEstimator({ minRtoMs: 0 });
    for (let i = 0; i < 200; i++) r.sample(10);
    expect(r.rttvar).toBeLessThan(0.01);
    expect(r.rto).toBeCloseTo(11, 1);
  });

  it('clamps to minRtoMs (200 default) and maxRtoMs (120 s default)', () => {
    const r = new RttEstimator();
    r.sample(1);
    expect(r.rto).toBe(200);
    const big = new RttEstimator();
    big.sample(100_000);
    expect(big.rto).toBe(120_000);
    const custom = new RttEstimator({ minRtoMs: 1000, maxRtoMs: 5000, initialRtoMs: 3000 });
    expect(custom.rto).toBe(3000);
    custom.sample(10);
    expect(custom.rto).toBe(1000);
    custom.sample(10_000);
    expect(custom.rto).toBe(5000);
  });

  it('backs off by doubling up to the maximum, and resets', () => {
    const r = new RttEstimator();
    r.backoff();
    expect(r.rto).toBe(2000);
    r.sample(100);
    expect(r.rto).toBe(300); // a new sample recomputes RTO
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      r.backoff();
      seen.push(r.rto);
    }
    expect(seen.slice(0, 4)).toEqual([600, 1200, 2400, 4800]);
    expect(seen.at(-1)).toBe(120_000);
    expect(Math.max(...seen)).toBe(120_000);
    expect(r.backoffCount).toBe(12);
    r.resetBackoff();
    expect(r.rto).toBe(300);
    expect(r.backoffCount).toBe(0);
  });

  it('ignores invalid samples', () => {
    const r = new RttEstimator();
    r.sample(-5);
    r.sample(NaN);
    r.sample(Infinity);
    expect(r.srtt).toBeUndefined();
    expect(r.rto).toBe(1000);
  });
});
