/**
 * ClockQueue: how the socket API defers its callbacks. Callbacks from the
 * TCP core run on the injected clock (a zero-delay timer), never inside the
 * input path, so application code cannot re-enter a connection, and on a
 * virtual clock the application reacts within the same simulated run.
 * Shared by TcpSocket and TcpServer.
 */
import { Timer, type Clock } from '../time/index.js';

/**
 * Work deferred to a zero-delay timer on the injected clock, run in order.
 * Work queued while a run is in progress runs in the next run.
 *
 * A callback that throws (a user's 'data' handler with a bug) must not take
 * the rest of the run with it — the chunks, 'end' and 'close' queued behind
 * it would be lost. Every item runs; then the first error is rethrown (all
 * of them as an AggregateError) to the clock, which surfaces it the way a
 * throwing Node event handler surfaces: as an uncaught exception on the real
 * clock, from `advance()` on a virtual one.
 */
export class ClockQueue {
  private items: Array<() => void> = [];
  private readonly timer: Timer;

  constructor(clock: Clock) {
    this.timer = new Timer(clock.timers, () => this.run());
  }

  push(fn: () => void): void {
    this.items.push(fn);
    if (!this.timer.armed) this.timer.arm(0);
  }

  /** True if `fn` is the last item queued and has not run yet. */
  lastIs(fn: () => void): boolean {
    const items = this.items;
    return items.length > 0 && items[items.length - 1] === fn;
  }

  private run(): void {
    const batch = this.items;
    this.items = [];
    let errors: unknown[] | undefined;
    for (const fn of batch) {
      try {
        fn();
      } catch (e) {
        (errors ??= []).push(e);
      }
    }
    if (this.items.length > 0 && !this.timer.armed) this.timer.arm(0);
    if (errors !== undefined) {
      if (errors.length === 1) throw errors[0];
      throw new AggregateError(errors, `${errors.length} socket callbacks threw`);
    }
  }
}
