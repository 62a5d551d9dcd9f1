/**
 * Time for the whole stack: the `Clock` interface, the virtual and real
 * clocks, and the shared timer scheduler. Hand-written; see clock.ts and
 * scheduler.ts for why no library fits.
 */
export {
  type Clock,
  VirtualClock,
  RealClock,
  ClockBoundError,
  wallClockNs,
  DEFAULT_VIRTUAL_EPOCH_NS,
  type VirtualClockOptions,
  type VirtualRunOptions,
  type RunUntilIdleOptions,
  type RealClockOptions,
} from './clock.js';
export {
  Timer,
  TimerScheduler,
  MAX_TIMER_DELAY_MS,
  type TimerErrorHandler,
  type TimerSchedulerOptions,
  type RunDueOptions,
} from './scheduler.js';
export type { TableUsage } from './table-usage.js';
