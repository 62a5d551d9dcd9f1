/**
 * VirtualClock (advance, runFor, runUntilIdle and their bounds) and RealClock
 * (one Node timer for the earliest deadline). Real-time tests assert only
 * that a timer fired and not before its deadline, never how fast.
 */
import { describe, expect, it } from 'vitest';
import { ClockBoundError, DEFAULT_VIRTUAL_EPOCH_NS, RealClock, Timer, VirtualClock } from '../../src/time/index.js';

describe('VirtualClock', () => {
  it('starts at 0 (or startMs) and moves only when advanced', () => {
    expect(new VirtualClock().now()).toBe(0);
    const c = new VirtualClock({ startMs: 1000 });
    expect(c.now()).toBe(1000);
    expect(c.advance(250.5)).toBe(0);
    expect(c.now()).toBe(1250.5);
    c.advanceTo(1000); // already past: no-op
    expect(c.now()).toBe(1250.5);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  it('wall time is the epoch plus now()', () => {
    const c = new VirtualClock();
    expect(c.wallTimeNs()).toBe(DEFAULT_VIRTUAL_EPOCH_NS);
    c.advance(1.5);
    expect(c.wallTimeNs()).toBe(DEFAULT_VIRTUAL_EPOCH_NS + 1_500_000n);
    const d = new VirtualClock({ epochNs: 5n, startMs: 2 });
    expect(d.wallTimeNs()).toBe(2_000_005n);
  });

  it('advance fires every due timer in deadline order with now() at each deadline', () => {
    const c = new VirtualClock();
    const seen: Array<[string, number]> = [];
    for (const [name, ms] of [['c', 30], ['a', 10], ['b', 20], ['late', 100], ['b2', 20]] as const) {
      c.timers.setTimeout(() => seen.push([name, c.now()]), ms);
    }
    expect(c.advance(50)).toBe(4);
    expect(seen).toEqual([['a', 10], ['b', 20], ['b2', 20], ['c', 30]]);
    expect(c.now()).toBe(50);
    c.runFor(50);
    expect(seen.at(-1)).toEqual(['late', 100]);
    expect(c.now()).toBe(100);
  });

  it('fires timers armed by callbacks while advancing, when they fall due', () => {
    const c = new VirtualClock();
    const seen: string[] = [];
    c.timers.setTimeout(() => {
      seen.push(`first@${c.now()}`);
      c.timers.setTimeout(() => seen.push(`zero@${c.now()}`), 0);
      c.timers.setTimeout(() => seen.push(`five@${c.now()}`), 5);
      c.timers.setTimeout(() => seen.push(`later@${c.now()}`), 50);
    }, 10);
    c.advance(20);
    expect(seen).toEqual(['first@10', 'zero@10', 'five@15']);
    c.advance(40);
    expect(seen.at(-1)).toBe('later@60');
  });

  it('a periodic timer fires once per period', () => {
    const c = new VirtualClock();
    const times: number[] = [];
    const t: Timer = new Timer(c.timers, () => {
      times.push(c.now());
      t.arm(100);
    });
    t.arm(100);
    c.advance(1000);
    expect(times).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it('runUntilIdle jumps from deadline to deadline until nothing is armed', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    let chain = 0;
    const t: Timer = new Timer(c.timers, () => {
      seen.push(c.now());
      if (++chain < 4) t.arm(1000 * chain);
    });
    t.arm(5);
    c.timers.setTimeout(() => seen.push(c.now()), 60_000);
    expect(c.runUntilIdle()).toBe(5);
    expect(seen).toEqual([5, 1005, 3005, 6005, 60_000]);
    expect(c.now()).toBe(60_000);
    expect(c.runUntilIdle()).toBe(0);
  });

  it('runUntilIdle stops a self-re-arming timer at maxTimers with an error naming the bound', () => {
    const c = new VirtualClock();
    const t: Timer = new Timer(c.timers, () => t.arm(1));
    t.arm(1);
    let err: unknown;
    try {
      c.runUntilIdle({ maxTimers: 1000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClockBoundError);
    expect((err as ClockBoundError).bound).toBe('maxTimers');
    expect((err as Error).message).toMatch(/maxTimers = 1000/);
    expect(c.now()).toBe(1000);
  });

  it('runUntilIdle stops at limitMs with an error naming the bound', () => {
    const c = new VirtualClock({ startMs: 100 });
    let fired = 0;
    const t: Timer = new Timer(c.timers, () => {
      fired++;
      t.arm(10);
    });
    t.arm(10);
    expect(() => c.runUntilIdle({ limitMs: 95 })).toThrow(/limitMs = 95/);
    expect(fired).toBe(9);
    expect(c.now()).toBe(195);
  });

  it('advance is bounded too, so a zero-delay loop cannot hang a test', () => {
    const c = new VirtualClock();
    const t: Timer = new Timer(c.timers, () => t.arm(0));
    t.arm(1);
    expect(() => c.advance(10, { maxTimers: 500 })).toThrow(ClockBoundError);
    expect(c.now()).toBe(1);
  });

  it('a throwing callback does not stop the others; the error surfaces after the run', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    c.timers.setTimeout(() => {
      throw new Error('boom');
    }, 5);
    c.timers.setTimeout(() => seen.push(c.now()), 7);
    expect(() => c.advance(10)).toThrow('boom');
    expect(seen).toEqual([7]);
    expect(c.now()).toBe(10);

    const errors: unknown[] = [];
    const d = new VirtualClock({ onError: (e) => errors.push(e) });
    d.timers.setTimeout(() => {
      throw new Error('reported');
    }, 1);
    d.timers.setTimeout(() => seen.push(d.now()), 2);
    expect(d.advance(5)).toBe(2);
    expect(errors).toHaveLength(1);
    expect(seen).toEqual([7, 2]);
  });
});

describe('RealClock', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('a 20 ms timer fires, and not before its deadline', async () => {
    const clock = new RealClock();
    try {
      const armedAt = clock.now();
      const firedAt = await new Promise<number>((resolve) => {
        clock.timers.setTimeout(() => resolve(clock.now()), 20);
      });
      expect(firedAt - armedAt).toBeGreaterThanOrEqual(20);
    } finally {
      clock.close();
    }
  });

  it('re-points its single timer when an earlier timer is armed', async () => {
    const clock = new RealClock();
    try {
      const order: string[] = [];
      const late = clock.timers.setTimeout(() => order.push('late'), 60_000);
      const deadlines: number[] = [];
      await new Promise<void>((resolve) => {
        const early = clock.timers.setTimeout(() => {
          deadlines.push(early.deadline, clock.now());
          order.push('early');
          resolve();
        }, 15);
        deadlines.push(early.deadline);
      });
      expect(order).toEqual(['early']);
      // Inside the callback the timer is already disarmed: deadline reads Infinity.
      expect(deadlines[1]).toBe(Infinity);
      expect(deadlines[2]!).toBeGreaterThanOrEqual(deadlines[0]!);
      expect(late.armed).toBe(true);
      late.cancel();
    } finally {
      clock.close();
    }
  });

  it('fires many timers in deadline order', async () => {
    const clock = new RealClock();
    try {
      const fired: number[] = [];
      await new Promise<void>((resolve) => {
        for (const ms of [30, 5, 25, 10, 20, 15]) {
          clock.timers.setTimeout(() => {
            fired.push(ms);
            if (fired.length === 6) resolve();
          }, ms);
        }
      });
      expect(fired).toEqual([5, 10, 15, 20, 25, 30]);
    } finally {
      clock.close();
    }
  });

  it('close() stops timers from firing', async () => {
    const clock = new RealClock({ unref: true });
    let fired = false;
    clock.timers.setTimeout(() => {
      fired = true;
    }, 5);
    clock.close();
    await sleep(40);
    expect(fired).toBe(false);
  });

  it('wall time follows the system clock in nanoseconds', () => {
    const clock = new RealClock();
    const a = clock.wallTimeNs();
    const b = clock.wallTimeNs();
    expect(b).toBeGreaterThanOrEqual(a);
    const ms = Number(a / 1_000_000n);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
    clock.close();
  });
});
