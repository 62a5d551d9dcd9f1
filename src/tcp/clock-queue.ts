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

  private run(): void {
    const batch = this.items;
    this.items = [];
    try {
      for (const fn of batch) fn();
    } finally {
      if (this.items.length > 0 && !this.timer.armed) this.timer.arm(0);
    }
  }
}
