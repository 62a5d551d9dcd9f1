/**
 * The timer heap: ordering, FIFO ties, re-arming, cancelling, throwing
 * callbacks, and 100k random operations against a naive reference model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Timer, TimerScheduler, VirtualClock } from '../../src/time/index.js';

function manual(): { t: number; s: TimerScheduler } {
  const box = { t: 0, s: undefined as unknown as TimerScheduler };
  box.s = new TimerScheduler(() => box.t);
  return box;
}

describe('TimerScheduler', () => {
  it('fires in deadline order', () => {
    const m = manual();
    const fired: number[] = [];
    for (const d of [50, 10, 30, 20, 40]) m.s.setTimeout(() => fired.push(d), d);
    expect(m.s.size).toBe(5);
    expect(m.s.nextDeadline()).toBe(10);
    expect(m.s.runDue(25)).toBe(2);
    expect(fired).toEqual([10, 20]);
    m.s.runDue(100);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
    expect(m.s.size).toBe(0);
    expect(m.s.nextDeadline()).toBe(Infinity);
  });

  it('fires equal deadlines in arming order, and re-arming moves a timer behind its ties', () => {
    const m = manual();
    const fired: string[] = [];
    const timers = ['a', 'b', 'c', 'd'].map((name) => new Timer(m.s, () => fired.push(name)));
    for (const t of timers) t.arm(10);
    timers[1]!.arm(10); // b re-armed: now last among the 10 ms timers
    m.s.runDue(10);
    expect(fired).toEqual(['a', 'c', 'd', 'b']);
  });

  it('re-arming moves a timer earlier or later', () => {
    const m = manual();
    const fired: string[] = [];
    const a = new Timer(m.s, () => fired.push('a'));
    const b = new Timer(m.s, () => fired.push('b'));
    a.arm(100);
    b.arm(50);
    a.arm(10);
    expect(a.deadline).toBe(10);
    m.s.runDue(20);
    expect(fired).toEqual(['a']);
    b.armAt(200);
    m.s.runDue(150);
    expect(fired).toEqual(['a']);
    m.s.runDue(200);
    expect(fired).toEqual(['a', 'b']);
  });

  it('cancel disarms; cancelling twice or an unarmed timer is a no-op', () => {
    const m = manual();
    const fired: string[] = [];
    const a = new Timer(m.s, () => fired.push('a'));
    a.cancel();
    a.arm(5);
    expect(a.armed).toBe(true);
    a.cancel();
    a.cancel();
    expect(a.armed).toBe(false);
    expect(a.deadline).toBe(Infinity);
    m.s.runDue(10);
    expect(fired).toEqual([]);
  });

  it('a callback can cancel or re-arm another timer due at the same time', () => {
    const m = manual();
    const fired: string[] = [];
    const b = new Timer(m.s, () => fired.push('b'));
    const c = new Timer(m.s, () => fired.push('c'));
    m.s.setTimeout(() => {
      fired.push('a');
      m.t = 10; // a bare scheduler's time is whatever its owner says
      b.cancel();
      c.arm(5);
    }, 10);
    b.arm(10);
    c.arm(10);
    m.s.runDue(12);
    expect(fired).toEqual(['a']);
    m.s.runDue(15);
    expect(fired).toEqual(['a', 'c']);
  });

  it('timers armed by callbacks during a run fire in the same run when due', () => {
    const m = manual();
    const fired: number[] = [];
    let n = 0;
    const t: Timer = new Timer(m.s, () => {
      fired.push(++n);
      if (n < 5) t.arm(0);
    });
    t.arm(1);
    expect(m.s.runDue(1)).toBe(5);
    expect(fired).toEqual([1, 2, 3, 4, 5]);
  });

  it('runDue honours maxTimers', () => {
    const m = manual();
    for (let i = 0; i < 10; i++) m.s.setTimeout(() => {}, i);
    expect(m.s.runDue(100, { maxTimers: 3 })).toBe(3);
    expect(m.s.size).toBe(7);
  });

  it('rejects NaN and out-of-range delays, clamps negative ones', () => {
    const m = manual();
    const t = new Timer(m.s, () => {});
    expect(() => t.arm(Number.NaN)).toThrow(RangeError);
    expect(() => t.arm(2 ** 40)).toThrow(RangeError);
    expect(() => t.armAt(Infinity)).toThrow(RangeError);
    m.t = 7;
    t.arm(-5);
    expect(t.deadline).toBe(7);
  });

  it('a throwing callback goes to onError and the other timers still fire', () => {
    const errors: unknown[] = [];
    let now = 0;
    const s = new TimerScheduler(() => now, { onError: (e, timer) => errors.push([e, timer]) });
    const fired: number[] = [];
    const timers: Timer[] = [];
    for (let i = 0; i < 20; i++) {
      timers.push(
        s.setTimeout(() => {
          fired.push(i);
          if (i % 3 === 0) throw new Error(`boom ${i}`);
        }, i),
      );
    }
    now = 100;
    expect(s.runDue(100)).toBe(20);
    expect(fired).toEqual([...Array(20).keys()]);
    expect(errors).toHaveLength(7);
    expect((errors[1] as [Error, Timer])[0].message).toBe('boom 3');
    expect((errors[1] as [Error, Timer])[1]).toBe(timers[3]);
    expect(s.checkInvariant()).toBeUndefined();
  });

  it('without onError, errors are rethrown after the run, all timers having fired', () => {
    const m = manual();
    const fired: number[] = [];
    m.s.setTimeout(() => {
      throw new Error('first');
    }, 1);
    m.s.setTimeout(() => fired.push(2), 2);
    expect(() => m.s.runDue(5)).toThrow('first');
    expect(fired).toEqual([2]);
    m.s.setTimeout(() => {
      throw new Error('x');
    }, 6);
    m.s.setTimeout(() => {
      throw new Error('y');
    }, 7);
    let caught: unknown;
    try {
      m.s.runDue(10);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AggregateError);
    expect((caught as AggregateError).errors.map((e: Error) => e.message)).toEqual(['x', 'y']);
    expect(m.s.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Reference model: a plain array scanned linearly.

interface ModelTimer {
  armed: boolean;
  deadline: number;
  seq: number;
}

class Model {
  now = 0;
  seq = 0;
  timers: ModelTimer[];
  constructor(n: number) {
    this.timers = Array.from({ length: n }, () => ({ armed: false, deadline: 0, seq: 0 }));
  }
  arm(i: number, deadline: number): void {
    const t = this.timers[i]!;
    t.armed = true;
    t.deadline = deadline;
    t.seq = this.seq++;
  }
  cancel(i: number): void {
    this.timers[i]!.armed = false;
  }
  /** Fires due timers; `onFire(i)` may arm/cancel timers like the real callbacks do. */
  advance(to: number, onFire: (i: number) => void): void {
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.timers.length; i++) {
        const t = this.timers[i]!;
        if (!t.armed || t.deadline > to) continue;
        const b = this.timers[best];
        if (b === undefined || t.deadline < b.deadline || (t.deadline === b.deadline && t.seq < b.seq)) best = i;
      }
      if (best < 0) break;
      const t = this.timers[best]!;
      t.armed = false;
      this.now = Math.max(this.now, t.deadline);
      onFire(best);
    }
    this.now = Math.max(this.now, to);
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op = { kind: 'arm'; i: number; delay: number } | { kind: 'armAt'; i: number; at: number } | { kind: 'cancel'; i: number } | { kind: 'advance'; ms: number };

/**
 * Runs `ops` on a VirtualClock and on the model; callbacks of some timers
 * re-arm themselves or cancel/arm a neighbour, identically in both.
 * Returns the two firing logs.
 */
function compare(n: number, ops: Iterable<Op>, checkEvery = 1): { real: string[]; model: string[] } {
  const clock = new VirtualClock();
  const model = new Model(n);
  const real: string[] = [];
  const modelLog: string[] = [];
  const actions = (i: number, arm: (j: number, delay: number) => void, cancel: (j: number) => void): void => {
    if (i % 5 === 0) arm(i, (i % 7) + 1);
    if (i % 3 === 0) cancel((i + 1) % n);
    if (i % 4 === 1) arm((i + 2) % n, i % 3); // may be 0: fires in the same run
  };
  const timers: Timer[] = [];
  for (let i = 0; i < n; i++) {
    timers.push(
      new Timer(clock.timers, () => {
        real.push(`${i}@${clock.now()}`);
        actions(
          i,
          (j, d) => timers[j]!.arm(d),
          (j) => timers[j]!.cancel(),
        );
      }),
    );
  }
  const onModelFire = (i: number): void => {
    modelLog.push(`${i}@${model.now}`);
    actions(
      i,
      (j, d) => model.arm(j, model.now + d),
      (j) => model.cancel(j),
    );
  };
  let k = 0;
  for (const op of ops) {
    switch (op.kind) {
      case 'arm':
        timers[op.i]!.arm(op.delay);
        model.arm(op.i, model.now + op.delay);
        break;
      case 'armAt':
        timers[op.i]!.armAt(op.at);
        model.arm(op.i, op.at);
        break;
      case 'cancel':
        timers[op.i]!.cancel();
        model.cancel(op.i);
        break;
      case 'advance':
        clock.advance(op.ms);
        model.advance(model.now + op.ms, onModelFire);
        break;
    }
    if (++k % checkEvery === 0) {
      expect(clock.timers.checkInvariant()).toBeUndefined();
      for (let i = 0; i < n; i++) {
        const m = model.timers[i]!;
        if (timers[i]!.armed !== m.armed || (m.armed && timers[i]!.deadline !== m.deadline)) {
          throw new Error(`after op ${k} (${JSON.stringify(op)}): timer ${i} differs from the model`);
        }
      }
      expect(clock.now()).toBe(model.now);
    }
  }
  return { real, model: modelLog };
}

describe('TimerScheduler against a reference model', () => {
  it('100,000 seeded random operations give the same firings as the model', () => {
    const rand = mulberry32(0x5eed);
    const n = 64;
    function* ops(): Generator<Op> {
      for (let k = 0; k < 100_000; k++) {
        const r = rand();
        const i = Math.floor(rand() * n);
        if (r < 0.45) yield { kind: 'arm', i, delay: Math.floor(rand() * 50) };
        else if (r < 0.55) yield { kind: 'arm', i, delay: rand() * 20 };
        else if (r < 0.6) yield { kind: 'armAt', i, at: Math.floor(rand() * 1000) };
        else if (r < 0.8) yield { kind: 'cancel', i };
        else yield { kind: 'advance', ms: Math.floor(rand() * 15) };
      }
      yield { kind: 'advance', ms: 100_000 };
    }
    const { real, model } = compare(n, ops(), 997);
    expect(real.length).toBeGreaterThan(10_000);
    expect(real).toEqual(model);
  });

  it('property: any operation sequence matches the model', () => {
    const n = 8;
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('arm' as const), i: fc.nat(n - 1), delay: fc.oneof(fc.nat(20), fc.double({ min: 0, max: 20, noNaN: true })) }),
      fc.record({ kind: fc.constant('armAt' as const), i: fc.nat(n - 1), at: fc.nat(100) }),
      fc.record({ kind: fc.constant('cancel' as const), i: fc.nat(n - 1) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(25) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { real, model } = compare(n, [...ops, { kind: 'advance', ms: 1000 }]);
        expect(real).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });
});
