/**
 * Clocks: the only source of time in wirelab.
 *
 * Every layer takes a `Clock` and reads `now()` / arms timers on
 * `clock.timers`; nothing calls `Date.now()` or a bare `setTimeout`. Two
 * implementations:
 *
 * - `VirtualClock`: time moves only when the test or simulation says so
 *   (`advance`, `runFor`, `runUntilIdle`), so a 60-second transfer under loss
 *   runs in milliseconds and gives the same result every run.
 * - `RealClock`: `performance.now()`, with one Node timer pointed at the
 *   earliest deadline of the whole scheduler.
 *
 * Hand-written: fake-timer libraries patch the globals (which the stack never
 * uses) and a real-time scheduler per Node timer would cost one OS timer per
 * TCP connection.
 */

import { performance } from 'node:perf_hooks';
import { TimerScheduler, type TimerErrorHandler } from './scheduler.js';

export interface Clock {
  /** Monotonic milliseconds (may be fractional). */
  now(): number;
  /** Wall-clock nanoseconds since the Unix epoch, for capture timestamps. */
  wallTimeNs(): bigint;
  /** The scheduler every timer of the stack is armed on. */
  readonly timers: TimerScheduler;
}

const NS_PER_MS = 1_000_000;

/**
 * Wall-clock nanoseconds since the Unix epoch: `Date.now()` read once,
 * advanced by `process.hrtime` so successive readings are monotonic and
 * nanosecond-grained.
 */
export const wallClockNs: () => bigint = (() => {
  const anchorWallNs = BigInt(Date.now()) * 1_000_000n;
  const anchorHr = process.hrtime.bigint();
  return () => anchorWallNs + (process.hrtime.bigint() - anchorHr);
})();

/** Raised when a virtual-clock run hits its bound (see `VirtualRunOptions`). */
export class ClockBoundError extends Error {
  constructor(
    readonly bound: 'maxTimers' | 'limitMs',
    message: string,
  ) {
    super(message);
    this.name = 'ClockBoundError';
  }
}

export interface VirtualRunOptions {
  /**
   * Most timers one call may fire before it stops with a `ClockBoundError`
   * (so a timer that re-arms itself with a zero delay cannot spin forever).
   * Default 10,000,000.
   */
  maxTimers?: number;
}

export interface RunUntilIdleOptions extends VirtualRunOptions {
  /** Most virtual milliseconds to move forward before stopping with a `ClockBoundError`. Default: unbounded. */
  limitMs?: number;
}

export interface VirtualClockOptions {
  /** Initial value of `now()`, in milliseconds. Default 0. */
  startMs?: number;
  /** Wall time (ns since the Unix epoch) at `now() === 0`. Default 2024-01-01T00:00:00Z. */
  epochNs?: bigint;
  onError?: TimerErrorHandler;
}

export const DEFAULT_VIRTUAL_EPOCH_NS = 1_704_067_200_000_000_000n;
const DEFAULT_MAX_TIMERS = 10_000_000;

/** A clock whose time moves only when told to. */
export class VirtualClock implements Clock {
  readonly timers: TimerScheduler;
  private time: number;
  private readonly epochNs: bigint;
  private readonly setTime = (deadline: number): void => {
    if (deadline > this.time) this.time = deadline;
  };

  constructor(options: VirtualClockOptions = {}) {
    this.time = options.startMs ?? 0;
    this.epochNs = options.epochNs ?? DEFAULT_VIRTUAL_EPOCH_NS;
    const schedulerOptions = options.onError === undefined ? {} : { onError: options.onError };
    this.timers = new TimerScheduler(() => this.time, schedulerOptions);
  }

  now(): number {
    return this.time;
  }

  wallTimeNs(): bigint {
    return this.epochNs + BigInt(Math.round(this.time * NS_PER_MS));
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way
   * in deadline order (ties in arming order), with `now()` equal to each
   * timer's deadline while it runs. Returns the number of timers fired.
   */
  advance(ms: number, options?: VirtualRunOptions): number {
    if (!(ms >= 0)) throw new RangeError(`VirtualClock.advance: ms must be >= 0, got ${ms}`);
    return this.advanceTo(this.time + ms, options);
  }

  /** Same as `advance`: runs the stack for `ms` virtual milliseconds. */
  runFor(ms: number, options?: VirtualRunOptions): number {
    return this.advance(ms, options);
  }

  /** Moves time forward to the absolute time `timeMs` (no-op if already past it). */
  advanceTo(timeMs: number, options?: VirtualRunOptions): number {
    const max = options?.maxTimers ?? DEFAULT_MAX_TIMERS;
    const fired = this.run(timeMs, max);
    if (fired >= max && this.timers.nextDeadline() <= timeMs) {
      throw new ClockBoundError(
        'maxTimers',
        `VirtualClock: stopped at ${this.time} ms after firing ${fired} timers (maxTimers = ${max}) ` +
          `before reaching ${timeMs} ms; a timer is probably re-arming itself with no delay`,
      );
    }
    if (timeMs > this.time) this.time = timeMs;
    return fired;
  }

  /**
   * Jumps from deadline to deadline until no timer is armed. Throws a
   * `ClockBoundError` naming the bound if `maxTimers` timers fired or
   * `limitMs` virtual milliseconds passed with timers still armed.
   * Returns the number of timers fired.
   */
  runUntilIdle(options?: RunUntilIdleOptions): number {
    const max = options?.maxTimers ?? DEFAULT_MAX_TIMERS;
    const limitMs = options?.limitMs ?? Number.POSITIVE_INFINITY;
    const start = this.time;
    const end = start + limitMs;
    const fired = this.run(end, max);
    if (this.timers.size === 0) return fired;
    if (fired >= max && this.timers.nextDeadline() <= end) {
      throw new ClockBoundError(
        'maxTimers',
        `VirtualClock.runUntilIdle: still ${this.timers.size} timers armed after firing ${fired} ` +
          `(maxTimers = ${max}); now ${this.time} ms, next deadline ${this.timers.nextDeadline()} ms`,
      );
    }
    this.time = end;
    throw new ClockBoundError(
      'limitMs',
      `VirtualClock.runUntilIdle: still ${this.timers.size} timers armed after ${limitMs} ms ` +
        `(limitMs = ${limitMs}); now ${this.time} ms, next deadline ${this.timers.nextDeadline()} ms`,
    );
  }

  private run(timeMs: number, max: number): number {
    try {
      return this.timers.runDue(timeMs, { maxTimers: max, beforeFire: this.setTime });
    } catch (error) {
      // Timers still fired up to timeMs; errors are rethrown once the run is over.
      if (Number.isFinite(timeMs) && timeMs > this.time && this.timers.nextDeadline() > timeMs) this.time = timeMs;
      throw error;
    }
  }
}

export interface RealClockOptions {
  /** Do not keep the process alive just for wirelab timers. Default false. */
  unref?: boolean;
  /** Most timers fired in one Node timer callback before yielding to I/O. Default 10,000. */
  maxTimersPerTick?: number;
  onError?: TimerErrorHandler;
}

/** The real clock: `performance.now()` and a single Node timer for the earliest deadline. */
export class RealClock implements Clock {
  readonly timers: TimerScheduler;
  private handle: NodeJS.Timeout | undefined;
  /** Set when a timer is already due: Node's setTimeout(0) waits at least 1 ms. */
  private immediate: NodeJS.Immediate | undefined;
  private handleDeadline = Number.POSITIVE_INFINITY;
  private inTick = false;
  private closed = false;
  private unrefed: boolean;
  private readonly maxPerTick: number;

  constructor(options: RealClockOptions = {}) {
    this.unrefed = options.unref ?? false;
    this.maxPerTick = options.maxTimersPerTick ?? 10_000;
    this.timers = new TimerScheduler(() => performance.now(), {
      onEarliestChange: () => {
        if (!this.inTick) this.repoint();
      },
      ...(options.onError === undefined ? {} : { onError: options.onError }),
    });
  }

  now(): number {
    return performance.now();
  }

  wallTimeNs(): bigint {
    return wallClockNs();
  }

  /** Lets the process exit while timers are armed. */
  unref(): this {
    this.unrefed = true;
    this.handle?.unref();
    this.immediate?.unref();
    return this;
  }

  /** Keeps the process alive while timers are armed (the default). */
  ref(): this {
    this.unrefed = false;
    this.handle?.ref();
    this.immediate?.ref();
    return this;
  }

  /** Stops firing timers (they stay armed but never run). */
  close(): void {
    this.closed = true;
    this.clearHandle();
  }

  private readonly onImmediate = (): void => {
    this.immediate = undefined;
    this.onTimeout();
  };

  private readonly onTimeout = (): void => {
    this.clearHandle();
    if (this.closed) return;
    this.inTick = true;
    try {
      this.timers.runDue(performance.now(), { maxTimers: this.maxPerTick });
    } finally {
      this.inTick = false;
      this.repoint();
    }
  };

  private repoint(): void {
    if (this.closed) return;
    const deadline = this.timers.nextDeadline();
    if (deadline === Number.POSITIVE_INFINITY) {
      this.clearHandle();
      return;
    }
    if (this.immediate !== undefined) return; // everything due runs then
    if (this.handle !== undefined && this.handleDeadline <= deadline) return;
    this.clearHandle();
    if (deadline <= performance.now()) {
      // Due already (a zero-delay timer: a pipe hop, a deferred callback):
      // run it after pending I/O instead of waiting for setTimeout's 1 ms.
      this.immediate = setImmediate(this.onImmediate);
      if (this.unrefed) this.immediate.unref();
      return;
    }
    // Node timers have millisecond granularity; rounding up means the
    // callback never runs before the deadline it was set for.
    const delay = Math.min(Math.max(0, Math.ceil(deadline - performance.now())), 2 ** 31 - 1);
    this.handle = setTimeout(this.onTimeout, delay);
    if (this.unrefed) this.handle.unref();
    this.handleDeadline = deadline;
  }

  private clearHandle(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.handle = undefined;
    this.handleDeadline = Number.POSITIVE_INFINITY;
  }
}
