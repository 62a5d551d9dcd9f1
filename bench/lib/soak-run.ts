/**
 * bench/soak's run, phase by phase, on the lab's VirtualClock:
 *
 *   warm-up   WARMUP_SECONDS (at most `seconds`) of the whole load, hostile included, so
 *             every code path is compiled and every lazy structure exists;
 *             then the drain (what is under way finishes) and a settle as
 *             long as the idle phase, so every table is back at rest;
 *   baseline  t = 0: every table's size (what the idle phase must return
 *             to), the refused/evicted counters, and the heap after two full
 *             collections (heap start);
 *   load      `seconds` of the load (soak-load.ts) and the hostile replay
 *             (soak-hostile.ts), all at once;
 *   idle      `idleSeconds` from the end of the load: the drain, then
 *             nothing at all; then the heap after two full collections
 *             (heap end).
 *
 * A sample every virtual second from the baseline on (soak-sample.ts). The
 * clock moves STEP_MS at a time while anything is in flight and IDLE_STEP_MS
 * once nothing is, with Node's event loop turned between steps (the sockets'
 * stream events run on process.nextTick and setImmediate); every timer of
 * the stacks still fires at its exact deadline inside a step.
 */
import { stackDropCounters } from '../../src/lab/replay-op.js';
import { BRIDGE_DROP_REASONS } from '../../src/switch/counters.js';
import { HostileReplay, hostileCapture, type HostileCapture } from './soak-hostile.js';
import { buildLab, type SoakLab } from './soak-lab.js';
import { SoakLoad, type LoadCounters } from './soak-load.js';
import { collector, Sampler, settledHeapMB } from './soak-sample.js';

export const WARMUP_SECONDS = 5;
const STEP_MS = 1;
const IDLE_STEP_MS = 100;

export interface SoakOptions {
  seconds: number;
  idleSeconds: number;
  seed: number;
  /** Progress lines (stderr in the bench). */
  progress?: (line: string) => void;
}

/** A counter that grew between the baseline and the end, and where. */
export interface Counted {
  where: string;
  reason: string;
  frames: number;
}

export interface SoakRun {
  opts: SoakOptions;
  warmupSeconds: number;
  wallSeconds: number;
  /** Virtual seconds from the start of the warm-up to the end of the idle phase. */
  virtualSeconds: number;
  load: LoadCounters;
  /** Transfers, exchanges and flows still under way when the idle phase ended. */
  unfinished: number;
  /** Virtual seconds the drain took after the load stopped. */
  drainSeconds: number;
  hostile: { capture: Omit<HostileCapture, 'bytes'>; captureBytes: number; loops: number; framesPlayed: number; bytesPlayed: number; counted: Counted[] };
  sampler: Sampler;
  heap: { startMB: number; peakMB: number; endMB: number; gc: boolean };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function counters(lab: SoakLab): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of [lab.router, lab.server, lab.client, lab.outside]) {
    for (const [reason, n] of stackDropCounters(s.stats())) out.set(`${s.name}\0${reason}`, n);
  }
  for (const c of Object.values(lab.bridge.allPortCounters())) {
    for (const r of BRIDGE_DROP_REASONS) out.set(`switch\0${r}`, (out.get(`switch\0${r}`) ?? 0) + c.drops[r]);
  }
  return out;
}

export async function runSoak(opts: SoakOptions): Promise<SoakRun> {
  const say = opts.progress ?? (() => undefined);
  const wall0 = performance.now();
  const gc = collector();
  const lab = await buildLab(opts.seed, (line) => say(line));
  const { clock } = lab;
  const capture = await hostileCapture(opts.seed);
  const load = new SoakLoad(lab, opts.seed);
  const sampler = new Sampler(lab.sources, Math.ceil(opts.seconds + opts.idleSeconds) + 4);
  let sampling = false;
  let nextSampleMs = 0;
  let loadStartMs = 0;

  /** Advances to `endMs` (or until `stop()` is true), `stepMs` at a time, sampling on each virtual second. */
  const runTo = async (endMs: number, stepMs: number, stop?: () => boolean): Promise<void> => {
    while (clock.now() < endMs && stop?.() !== true) {
      let to = Math.min(endMs, clock.now() + stepMs);
      if (sampling && nextSampleMs < to) to = nextSampleMs;
      clock.advanceTo(to);
      await tick();
      if (sampling && clock.now() >= nextSampleMs) {
        sampler.sample(Math.round((clock.now() - loadStartMs) / 1000));
        nextSampleMs += 1000;
      }
    }
  };
  const drainThenIdle = async (endMs: number): Promise<number> => {
    const from = clock.now();
    await runTo(endMs, STEP_MS, () => load.inFlight === 0);
    const drained = clock.now() - from;
    await runTo(endMs, IDLE_STEP_MS);
    return drained / 1000;
  };

  try {
    const warmupSeconds = Math.min(WARMUP_SECONDS, opts.seconds);
    say(`warm-up: ${warmupSeconds} s of load, then ${opts.idleSeconds} s to settle (virtual)`);
    const warm = new HostileReplay(clock, lab.bridge, lab.hostilePortName, capture);
    load.start();
    warm.start();
    await runTo(clock.now() + warmupSeconds * 1000, STEP_MS);
    load.stop();
    warm.stop();
    await drainThenIdle(clock.now() + opts.idleSeconds * 1000);

    const heapStart = settledHeapMB(gc);
    const before = counters(lab);
    sampler.resetCounters();
    loadStartMs = clock.now();
    sampling = true;
    sampler.sample(0);
    nextSampleMs = loadStartMs + 1000;

    say(`load: ${opts.seconds} s (virtual)`);
    const replay = new HostileReplay(clock, lab.bridge, lab.hostilePortName, capture);
    load.start();
    replay.start();
    const loadEndMs = loadStartMs + opts.seconds * 1000;
    for (let s = 60; loadStartMs + s * 1000 < loadEndMs; s += 60) {
      await runTo(loadStartMs + s * 1000, STEP_MS);
      say(`  ${s} s: ${load.counters.transfers.intact} transfers intact, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MB, wall ${((performance.now() - wall0) / 1000).toFixed(0)} s`);
    }
    await runTo(loadEndMs, STEP_MS);
    load.stop();
    replay.stop();

    say(`idle: ${opts.idleSeconds} s (virtual)`);
    const drainSeconds = await drainThenIdle(loadEndMs + opts.idleSeconds * 1000);
    const heapEnd = settledHeapMB(gc);
    const after = counters(lab);
    const counted: Counted[] = [];
    for (const [key, n] of after) {
      const d = n - (before.get(key) ?? 0);
      if (d <= 0) continue;
      const [where, reason] = key.split('\0') as [string, string];
      counted.push({ where, reason, frames: d });
    }
    const { bytes, ...captureInfo } = capture;
    return {
      opts,
      warmupSeconds,
      wallSeconds: (performance.now() - wall0) / 1000,
      virtualSeconds: clock.now() / 1000,
      load: load.counters,
      unfinished: load.inFlight,
      drainSeconds,
      hostile: { capture: captureInfo, captureBytes: bytes.length, loops: replay.loops, framesPlayed: replay.framesPlayed, bytesPlayed: replay.bytesPlayed, counted },
      sampler,
      heap: { startMB: heapStart, peakMB: Math.max(heapStart, sampler.peakHeapMB()), endMB: heapEnd, gc: gc !== undefined },
    };
  } finally {
    load.close();
    await lab.close();
  }
}
