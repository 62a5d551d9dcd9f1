/**
 * The one timer scheduler every timer in the stack uses.
 *
 * A binary min-heap of `Timer` objects ordered by (deadline, arming sequence).
 * Each timer remembers its own index in the heap, so arming, re-arming and
 * cancelling are O(log n) and re-arming allocates nothing: a TCP connection
 * creates its retransmission timer once and re-points it on every ACK.
 *
 * Hand-written rather than taken from a priority-queue package because the
 * packages we know of either cannot remove or re-key an arbitrary entry in
 * O(log n) (no stored index) or allocate a node per insertion.
 *
 * The scheduler never reads a clock itself: it is handed a `now()` function
 * by the clock that owns it (virtual or real) and is driven by that clock
 * through `runDue`.
 */

/** Called with an error thrown by a timer callback, and the timer that threw. */
export type TimerErrorHandler = (error: unknown, timer: Timer) => void;

export interface TimerSchedulerOptions {
  /**
   * Receives errors thrown by timer callbacks. Without it, errors are
   * collected while a run fires its timers and rethrown by `runDue` once the
   * run is over (one error as is, several as an `AggregateError`), so a
   * throwing callback never leaves the heap half-updated or starves the
   * timers after it.
   */
  onError?: TimerErrorHandler;
  /**
   * Called when the earliest timer changes because a timer was armed at the
   * head of the heap or the head was cancelled (not when the head fires).
   * A real clock uses it to re-point its single OS timer.
   */
  onEarliestChange?: () => void;
}

export interface RunDueOptions {
  /** Stop after firing this many timers (the rest stay armed). Default: no bound. */
  maxTimers?: number;
  /**
   * Called with a timer's deadline just before its callback runs; a virtual
   * clock sets its time there so `now()` equals the deadline in the callback.
   */
  beforeFire?: (deadlineMs: number) => void;
}

/** Largest delay accepted, like Node's own timers (about 24.8 days). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * A reusable timer. Create it once with its callback, then `arm`, re-arm and
 * `cancel` it as often as needed; none of those allocate.
 */
export class Timer {
  /** @internal Position in the scheduler's heap, -1 when not armed. */
  heapIndex = -1;
  /** @internal Absolute deadline in the clock's milliseconds. */
  heapDeadline = Number.POSITIVE_INFINITY;
  /** @internal Arming sequence number; breaks deadline ties first-armed-first. */
  heapSeq = 0;

  constructor(
    readonly scheduler: TimerScheduler,
    private readonly callback: () => void,
  ) {}

  /** Fires `delayMs` from now (negative delays count as 0). Re-arming an armed timer moves it. */
  arm(delayMs: number): void {
    this.scheduler.armTimer(this, this.scheduler.now() + checkDelay(delayMs));
  }

  /** Fires at absolute clock time `timeMs` (a time in the past fires on the next run). */
  armAt(timeMs: number): void {
    if (Number.isNaN(timeMs) || !Number.isFinite(timeMs)) {
      throw new RangeError(`Timer.armAt: deadline must be a finite number of milliseconds, got ${timeMs}`);
    }
    this.scheduler.armTimer(this, timeMs);
  }

  /** Disarms the timer; a no-op if it is not armed. */
  cancel(): void {
    this.scheduler.cancelTimer(this);
  }

  get armed(): boolean {
    return this.heapIndex >= 0;
  }

  /** The absolute deadline in milliseconds, or `Infinity` when not armed. */
  get deadline(): number {
    return this.heapIndex >= 0 ? this.heapDeadline : Number.POSITIVE_INFINITY;
  }

  /** @internal Runs the callback; the scheduler catches what it throws. */
  invoke(): void {
    this.callback();
  }
}

function checkDelay(delayMs: number): number {
  if (Number.isNaN(delayMs)) throw new RangeError('Timer.arm: delay is NaN');
  if (delayMs <= 0) return 0;
  if (delayMs > MAX_TIMER_DELAY_MS) {
    throw new RangeError(`Timer.arm: delay ${delayMs} ms is above the maximum of ${MAX_TIMER_DELAY_MS} ms`);
  }
  return delayMs;
}

function before(a: Timer, b: Timer): boolean {
  return a.heapDeadline < b.heapDeadline || (a.heapDeadline === b.heapDeadline && a.heapSeq < b.heapSeq);
}

export class TimerScheduler {
  private readonly heap: Timer[] = [];
  private seq = 0;
  private collected: unknown[] = [];
  /** Receives errors thrown by callbacks; see `TimerSchedulerOptions.onError`. */
  onError: TimerErrorHandler | undefined;
  private readonly onEarliestChange: (() => void) | undefined;

  constructor(
    /** The owning clock's monotonic time in milliseconds. */
    readonly now: () => number,
    options: TimerSchedulerOptions = {},
  ) {
    this.onError = options.onError;
    this.onEarliestChange = options.onEarliestChange;
  }

  /** Number of armed timers. */
  get size(): number {
    return this.heap.length;
  }

  /** Deadline of the earliest armed timer, or `Infinity` when none is armed. */
  nextDeadline(): number {
    const head = this.heap[0];
    return head === undefined ? Number.POSITIVE_INFINITY : head.heapDeadline;
  }

  /** Creates a timer and arms it; keep the `Timer` to cancel or re-arm it. */
  setTimeout(callback: () => void, delayMs: number): Timer {
    const timer = new Timer(this, callback);
    timer.arm(delayMs);
    return timer;
  }

  /**
   * Fires, in (deadline, arming order), every timer whose deadline is at or
   * before `timeMs`, including timers armed by callbacks during the run.
   * Returns the number of timers fired. Errors thrown by callbacks go to
   * `onError`, or are rethrown after the run when there is no handler.
   */
  runDue(timeMs: number, options?: RunDueOptions): number {
    const max = options?.maxTimers ?? Number.POSITIVE_INFINITY;
    const beforeFire = options?.beforeFire;
    const heap = this.heap;
    let fired = 0;
    while (fired < max) {
      const head = heap[0];
      if (head === undefined || head.heapDeadline > timeMs) break;
      this.removeAt(0);
      fired++;
      if (beforeFire !== undefined) beforeFire(head.heapDeadline);
      try {
        head.invoke();
      } catch (error) {
        this.report(error, head);
      }
    }
    this.rethrowCollected();
    return fired;
  }

  /** @internal Used by `Timer.arm`/`armAt`. */
  armTimer(timer: Timer, deadline: number): void {
    if (timer.scheduler !== this) throw new Error('Timer armed on a scheduler it does not belong to');
    timer.heapDeadline = deadline;
    timer.heapSeq = this.seq++;
    let i = timer.heapIndex;
    if (i < 0) {
      i = this.heap.length;
      this.heap.push(timer);
      timer.heapIndex = i;
      this.siftUp(i);
    } else {
      // A later sequence number can only move it down among equal deadlines,
      // a new deadline can move it either way.
      this.siftUp(i);
      if (timer.heapIndex === i) this.siftDown(i);
    }
    if (timer.heapIndex === 0 && this.onEarliestChange !== undefined) this.onEarliestChange();
  }

  /** @internal Used by `Timer.cancel`. */
  cancelTimer(timer: Timer): void {
    if (timer.heapIndex < 0 || timer.scheduler !== this) return;
    const wasEarliest = timer.heapIndex === 0;
    this.removeAt(timer.heapIndex);
    if (wasEarliest && this.onEarliestChange !== undefined) this.onEarliestChange();
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const timer = heap[i] as Timer;
    const last = heap.pop() as Timer;
    timer.heapIndex = -1;
    if (last !== timer) {
      heap[i] = last;
      last.heapIndex = i;
      this.siftUp(i);
      if (last.heapIndex === i) this.siftDown(i);
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const timer = heap[i] as Timer;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Timer;
      if (!before(timer, parent)) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    heap[i] = timer;
    timer.heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const timer = heap[i] as Timer;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = heap[l] as Timer;
      if (r < n) {
        const right = heap[r] as Timer;
        if (before(right, child)) {
          c = r;
          child = right;
        }
      }
      if (!before(child, timer)) break;
      heap[i] = child;
      child.heapIndex = i;
      i = c;
    }
    heap[i] = timer;
    timer.heapIndex = i;
  }

  private report(error: unknown, timer: Timer): void {
    const handler = this.onError;
    if (handler === undefined) {
      this.collected.push(error);
      return;
    }
    try {
      handler(error, timer);
    } catch (handlerError) {
      this.collected.push(handlerError);
    }
  }

  private rethrowCollected(): void {
    const errors = this.collected;
    if (errors.length === 0) return;
    this.collected = [];
    if (errors.length === 1) throw errors[0];
    throw new AggregateError(errors, `${errors.length} timer callbacks threw`);
  }

  /** @internal Heap invariant check for tests: returns a description of the first violation. */
  checkInvariant(): string | undefined {
    const heap = this.heap;
    for (let i = 0; i < heap.length; i++) {
      const t = heap[i] as Timer;
      if (t.heapIndex !== i) return `timer at ${i} stores index ${t.heapIndex}`;
      if (i > 0 && before(t, heap[(i - 1) >> 1] as Timer)) return `timer at ${i} is before its parent`;
    }
    return undefined;
  }
}
