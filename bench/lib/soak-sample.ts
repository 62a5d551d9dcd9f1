/**
 * bench/soak's sampler: once a virtual second, the V8 heap in use
 * (process.memoryUsage().heapUsed) and every bounded table of every stack
 * and of the switch (`Stack.tables()`, `Bridge.fdbUsage()`: size, limit,
 * refused, evicted), each checked against its limit as it is read.
 *
 * Its arrays are allocated up front for the whole run (one Float64Array per
 * series), before the start heap is measured, so the sampler's own
 * bookkeeping does not grow the heap it measures.
 *
 * The collector: `global.gc` when node runs with --expose-gc; otherwise
 * V8's flag is set at run time and a fresh context hands over its `gc`
 * (v8.setFlagsFromString + vm.runInNewContext) — the same collector, without
 * re-executing the process.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TableUsage } from '../../src/time/index.js';
import type { TableSource } from './soak-lab.js';

/** A full, synchronous garbage collection, or undefined when none can be had. */
export function collector(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** heapUsed in MB after two full collections (when there is a collector). */
export function settledHeapMB(gc: (() => void) | undefined): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** One table over the run. */
export interface TableTrack {
  /** `server neighbours`, `switch fdb`. */
  key: string;
  where: string;
  table: string;
  unit: TableUsage['unit'];
  like: string;
  limit: number;
  sizes: Float64Array;
  peak: number;
  /** Virtual second of the first sample at the peak. */
  peakAt: number;
  /** Samples whose size was above the limit read with it. */
  overLimit: number;
  /** refused and evicted when the baseline was taken, and now. */
  refused0: number;
  evicted0: number;
  refused: number;
  evicted: number;
}

export class Sampler {
  /** Virtual seconds since the load began (negative: none here, the baseline is 0). */
  readonly t: Float64Array;
  readonly heapMB: Float64Array;
  readonly tracks: TableTrack[] = [];
  n = 0;
  private readonly byKey = new Map<string, TableTrack>();

  constructor(
    private readonly sources: readonly TableSource[],
    private readonly capacity: number,
  ) {
    this.t = new Float64Array(capacity);
    this.heapMB = new Float64Array(capacity);
    for (const s of sources) for (const u of s.tables()) this.track(s.name, u);
  }

  private track(where: string, u: TableUsage): TableTrack {
    const key = `${where} ${u.table}`;
    let tr = this.byKey.get(key);
    if (tr === undefined) {
      tr = {
        key, where, table: u.table, unit: u.unit, like: u.like, limit: u.limit,
        sizes: new Float64Array(this.capacity).fill(Number.NaN),
        peak: 0, peakAt: 0, overLimit: 0, refused0: u.refused, evicted0: u.evicted, refused: u.refused, evicted: u.evicted,
      };
      this.byKey.set(key, tr);
      this.tracks.push(tr);
    }
    return tr;
  }

  /** The baseline: refused and evicted count from here (the warm-up's are left out). */
  resetCounters(): void {
    for (const s of this.sources) {
      for (const u of s.tables()) {
        const tr = this.track(s.name, u);
        tr.refused0 = u.refused;
        tr.evicted0 = u.evicted;
      }
    }
  }

  /** Reads the heap and every table at virtual second `t`. */
  sample(t: number): void {
    if (this.n >= this.capacity) return;
    const i = this.n++;
    this.t[i] = t;
    this.heapMB[i] = process.memoryUsage().heapUsed / 2 ** 20;
    for (const s of this.sources) {
      for (const u of s.tables()) {
        const tr = this.track(s.name, u);
        tr.sizes[i] = u.size;
        tr.limit = u.limit;
        tr.refused = u.refused;
        tr.evicted = u.evicted;
        if (u.size > u.limit) tr.overLimit++;
        if (u.size > tr.peak) {
          tr.peak = u.size;
          tr.peakAt = t;
        }
      }
    }
  }

  /** The size of `tr` at sample `i` (NaN before the table existed). */
  size(tr: TableTrack, i: number): number {
    return tr.sizes[i]!;
  }

  /** The highest heap sample, MB. */
  peakHeapMB(): number {
    let m = 0;
    for (let i = 0; i < this.n; i++) m = Math.max(m, this.heapMB[i]!);
    return m;
  }

  /**
   * The series for the plot and the JSON, at most `points` per series: each
   * point is the largest value in its bucket of samples (so no peak is lost).
   * Table sizes are fractions of the limit; tables with a limit of 0 (a host
   * with no listener has a SYN queue of 0/0) are left out.
   */
  series(points: number): { t: number[]; heapMB: number[]; fractions: Record<string, number[]> } {
    const bucket = Math.max(1, Math.ceil(this.n / points));
    const t: number[] = [];
    const heap: number[] = [];
    const fractions: Record<string, number[]> = {};
    const shown = this.tracks.filter((tr) => tr.limit > 0);
    for (const tr of shown) fractions[tr.key] = [];
    for (let b = 0; b < this.n; b += bucket) {
      const end = Math.min(this.n, b + bucket);
      t.push(this.t[end - 1]!);
      let h = 0;
      for (let i = b; i < end; i++) h = Math.max(h, this.heapMB[i]!);
      heap.push(round(h, 3));
      for (const tr of shown) {
        let f = 0;
        for (let i = b; i < end; i++) {
          const s = tr.sizes[i]!;
          if (!Number.isNaN(s)) f = Math.max(f, s / tr.limit);
        }
        fractions[tr.key]!.push(round(f, 4));
      }
    }
    return { t, heapMB: heap, fractions };
  }
}

export function round(x: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}
