/**
 * Link impairments in the manner of Linux netem, as a decorator around any
 * `Port` (STYLE.md, "Decorators around devices"): `impair(port, clock, opts)`
 * returns a port that delays, jitters, loses, duplicates, reorders and
 * rate-limits what is SENT through it, then hands it to the wrapped port.
 * What the wrapped port receives passes through untouched (`onReceive` on
 * the wrapper is the inner port's); wrap both ends of a cable to impair both
 * directions.
 *
 * Hand-written: netem lives in the kernel, and no library impairs a
 * batch-and-borrow `Port` on an injected clock. Every random draw comes from
 * seeded generators (src/link/random.ts), one stream per impairment, so a
 * run repeats exactly and enabling duplication does not change which frames
 * are lost.
 *
 * The path of one sent frame, in order:
 *
 *   1. duplication: with probability `duplicate` the frame is sent twice;
 *   2. loss: random loss (`loss`) and/or the Gilbert–Elliott two-state model;
 *      like netem, a lost duplicated frame still leaves one copy;
 *   then per copy:
 *   3. bottleneck (`rateBitsPerSec`): a FIFO served at the rate; a frame
 *      finishes serialization at max(now, previous finish) + bits/rate. The
 *      queue (frames not yet fully serialized) is bounded by
 *      `queueLimitFrames` / `queueLimitBytes`; beyond that the frame is tail
 *      dropped ('queueDrops', and `send` returns false). Without a rate the
 *      limits bound the frames held for delay, as netem's `limit` does;
 *   4. propagation: `delayMs` plus jitter (normal or uniform, never below
 *      zero); jitter may reorder frames unless `keepOrder` is set. With
 *      probability `reorder` (and `delayMs > 0`) a frame skips step 4 and
 *      overtakes the frames waiting their delay, like netem's `reorder`.
 *
 * A frame due now with nothing held ahead of it goes straight to the inner
 * port, uncopied, so a wrapper with no impairment is a pass-through. Frames
 * held for later are copied into a slab the wrapper owns (impair-queue.ts);
 * one `Timer`, re-armed to the earliest departure, sends every due frame to
 * the inner port and then calls its `flush()` once.
 *
 * Counters: `impairStats` (sent = frames offered; delivered = handed to the
 * inner port, whose own drops are in its stats). At any moment
 * sent + duplicated − lost − queueDrops − closeDrops − heldFrames = delivered.
 * The wrapper's `stats` are the inner port's.
 */
import { GsoSegmenter, VNET_HDR_GSO_ECN, VNET_HDR_GSO_NONE, vnetGsoType } from './gso.js';
import { BottleneckQueue, HeldFrames } from './impair-queue.js';
import type { Port, PortStats, RxHandler } from './port.js';
import { SeededRandom } from './random.js';
import { type Clock, Timer } from '../time/index.js';

export interface GilbertElliottOptions {
  /** Probability, per frame, of moving from the good state to the bad one. */
  p: number;
  /** Probability, per frame, of moving from the bad state back to the good one (mean burst 1/r frames). */
  r: number;
  /** Loss probability in the good state. Default 0. */
  lossGood?: number;
  /** Loss probability in the bad state. Default 1. */
  lossBad?: number;
}

export interface ImpairmentOptions {
  /** Seeds every random draw. Default 1. */
  seed?: number;
  /** Fixed one-way delay in milliseconds. Default 0. */
  delayMs?: number;
  /** Jitter around the delay, in milliseconds: the standard deviation (normal) or half-width (uniform). Default 0. */
  jitterMs?: number;
  /** Default 'normal'. */
  jitterDistribution?: 'normal' | 'uniform';
  /** Jitter never reorders: a frame never departs before one sent earlier. Default false (netem's behaviour). */
  keepOrder?: boolean;
  /** Independent random loss probability, 0..1. Default 0. */
  loss?: number;
  /** Burst loss; combined with `loss` if both are set. */
  gilbertElliott?: GilbertElliottOptions;
  /** Probability a frame is sent twice, 0..1. Default 0. */
  duplicate?: number;
  /** Probability a frame skips the delay and overtakes those waiting (needs `delayMs > 0`). Default 0. */
  reorder?: number;
  /** Bottleneck rate in bits per second (frame bytes × 8). Default: none (0 also means none). */
  rateBitsPerSec?: number;
  /** Most frames queued (see the header comment). Default: unbounded. */
  queueLimitFrames?: number;
  /** Most frame bytes queued. Default: unbounded. */
  queueLimitBytes?: number;
}

export interface ImpairStats {
  /** Frames offered to `send`. */
  sent: number;
  /** Frames lost to `loss` or Gilbert–Elliott. */
  lost: number;
  /** Extra copies made by `duplicate`. */
  duplicated: number;
  /** Frames that skipped the delay (`reorder`). */
  reordered: number;
  /** Frames tail-dropped by the queue limits. */
  queueDrops: number;
  /** Frames handed to the inner port. */
  delivered: number;
  /** Frames still held when the port was closed. */
  closeDrops: number;
}

/** The options with defaults filled in and checked. */
interface Settings {
  seed: number;
  delayMs: number;
  jitterMs: number;
  uniform: boolean;
  keepOrder: boolean;
  loss: number;
  ge: Required<GilbertElliottOptions> | null;
  duplicate: number;
  reorder: number;
  /** Milliseconds per byte, 0 for no rate. */
  msPerByte: number;
  limitFrames: number;
  limitBytes: number;
}

const DEFAULT_SEED = 1;
const STREAM = { LOSS: 0, GE: 1, DUPLICATE: 2, JITTER: 3, REORDER: 4 } as const;

function probability(value: number | undefined, what: string, fallback = 0): number {
  if (value === undefined) return fallback;
  if (!(value >= 0 && value <= 1)) throw new RangeError(`impair: ${what} must be a probability in [0, 1], got ${value}`);
  return value;
}

function nonNegative(value: number | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value >= 0) || value === Number.POSITIVE_INFINITY) {
    throw new RangeError(`impair: ${what} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

/** True when the settings change anything a frame meets (queue limits alone do nothing without a rate). */
function impairs(s: Settings): boolean {
  return s.delayMs > 0 || s.jitterMs > 0 || s.loss > 0 || s.ge !== null || s.duplicate > 0 || s.reorder > 0 || s.msPerByte > 0;
}

function settingsOf(o: ImpairmentOptions): Settings {
  if (o.seed !== undefined && !Number.isFinite(o.seed)) throw new RangeError(`impair: seed must be finite, got ${o.seed}`);
  if (o.jitterDistribution !== undefined && o.jitterDistribution !== 'normal' && o.jitterDistribution !== 'uniform') {
    throw new RangeError(`impair: jitterDistribution must be 'normal' or 'uniform', got ${String(o.jitterDistribution)}`);
  }
  const ge = o.gilbertElliott;
  const rate = nonNegative(o.rateBitsPerSec, 'rateBitsPerSec', 0);
  const limitFrames = nonNegative(o.queueLimitFrames, 'queueLimitFrames', 0);
  if (o.queueLimitFrames !== undefined && !Number.isInteger(limitFrames)) {
    throw new RangeError(`impair: queueLimitFrames must be an integer, got ${o.queueLimitFrames}`);
  }
  return {
    seed: o.seed ?? DEFAULT_SEED,
    delayMs: nonNegative(o.delayMs, 'delayMs', 0),
    jitterMs: nonNegative(o.jitterMs, 'jitterMs', 0),
    uniform: o.jitterDistribution === 'uniform',
    keepOrder: o.keepOrder ?? false,
    loss: probability(o.loss, 'loss'),
    ge:
      ge === undefined
        ? null
        : {
            p: probability(ge.p, 'gilbertElliott.p'),
            r: probability(ge.r, 'gilbertElliott.r'),
            lossGood: probability(ge.lossGood, 'gilbertElliott.lossGood', 0),
            lossBad: probability(ge.lossBad, 'gilbertElliott.lossBad', 1),
          },
    duplicate: probability(o.duplicate, 'duplicate'),
    reorder: probability(o.reorder, 'reorder'),
    msPerByte: rate > 0 ? 8000 / rate : 0,
    limitFrames: o.queueLimitFrames === undefined ? Number.POSITIVE_INFINITY : limitFrames,
    limitBytes:
      o.queueLimitBytes === undefined
        ? Number.POSITIVE_INFINITY
        : nonNegative(o.queueLimitBytes, 'queueLimitBytes', 0),
  };
}

export class ImpairedPort implements Port {
  readonly impairStats: ImpairStats = {
    sent: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    queueDrops: 0,
    delivered: 0,
    closeDrops: 0,
  };
  private given: ImpairmentOptions;
  private s: Settings;
  private lossRng!: SeededRandom;
  private geRng!: SeededRandom;
  private dupRng!: SeededRandom;
  private jitterRng!: SeededRandom;
  private reorderRng!: SeededRandom;
  /** Gilbert–Elliott state: true while in the bad state. */
  private geBad = false;
  /** When the bottleneck finishes serializing the last frame queued. */
  private busyUntil = Number.NEGATIVE_INFINITY;
  /** Latest departure given to an in-order frame (`keepOrder`). */
  private lastOrdered = Number.NEGATIVE_INFINITY;
  private readonly held = new HeldFrames();
  private readonly bottleneck = new BottleneckQueue();
  private readonly timer: Timer;
  private closed = false;
  /** Whether any impairment is set (a super-frame is then cut into segments first). */
  private impairing = false;
  private segmenter: GsoSegmenter | undefined;

  constructor(
    /** The port frames go out through. */
    readonly inner: Port,
    private readonly clock: Clock,
    opts: ImpairmentOptions = {},
  ) {
    this.s = settingsOf(opts);
    this.given = { ...opts };
    this.impairing = impairs(this.s);
    this.reseed(this.s.seed);
    this.timer = new Timer(clock.timers, this.depart);
  }

  get name(): string {
    return this.inner.name;
  }

  get stats(): PortStats {
    return this.inner.stats;
  }

  get vnetHdr(): boolean {
    return this.inner.vnetHdr;
  }

  get onReceive(): RxHandler | null {
    return this.inner.onReceive;
  }

  set onReceive(handler: RxHandler | null) {
    this.inner.onReceive = handler;
  }

  /** The options in force (as last given). */
  get options(): ImpairmentOptions {
    return { ...this.given };
  }

  /** Frames currently held for later departure. */
  get heldFrames(): number {
    return this.held.frames;
  }

  /**
   * Replaces the impairments, like `tc qdisc change`: options left out take
   * their defaults (spread `options` to change one). Frames already held keep
   * their departure times. The random streams continue unless `seed` changes.
   */
  setOptions(opts: ImpairmentOptions): void {
    const next = settingsOf(opts);
    if (next.seed !== this.s.seed) this.reseed(next.seed);
    if (next.ge === null) this.geBad = false;
    if (next.msPerByte === 0) {
      this.bottleneck.clear();
      this.busyUntil = Number.NEGATIVE_INFINITY;
    }
    if (!next.keepOrder) this.lastOrdered = Number.NEGATIVE_INFINITY;
    this.s = next;
    this.given = { ...opts };
    this.impairing = impairs(next);
  }

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    if (this.closed) return this.inner.send(buf, off, len, vnetOff); // the closed inner port counts it
    // A GSO super-frame meets loss, delay and rate as the segments it stands for (netem on a veth sees
    // segments too: the kernel segments before the qdisc when the device cannot take GSO through it).
    if (vnetOff >= 0 && this.impairing && (vnetGsoType(buf, vnetOff) & ~VNET_HDR_GSO_ECN) !== VNET_HDR_GSO_NONE) {
      return this.sendSegmented(buf, vnetOff, off, len);
    }
    return this.sendOne(buf, off, len, vnetOff);
  }

  private sendSegmented(buf: Uint8Array, vnetOff: number, off: number, len: number): boolean {
    const seg = (this.segmenter ??= new GsoSegmenter());
    const n = seg.segment(buf, vnetOff, off, len);
    if (n <= 0) return this.inner.send(buf, off, len, vnetOff); // let the port count what it cannot take
    let accepted = true;
    for (let i = 0; i < n; i++) accepted = this.sendOne(seg.out, seg.offsets[i]!, seg.lengths[i]!, -1) && accepted;
    return accepted;
  }

  private sendOne(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    const s = this.s;
    const st = this.impairStats;
    st.sent++;
    let copies = 1;
    if (s.duplicate > 0 && this.dupRng.next() < s.duplicate) {
      copies = 2;
      st.duplicated++;
    }
    if (this.lostNow()) {
      copies--;
      st.lost++;
      // A silent loss on the wire: the sender cannot tell, so it is not a failed send.
      if (copies === 0) return true;
    }
    const accepted = this.sendCopy(buf, off, len, vnetOff);
    if (copies === 2) this.sendCopy(buf, off, len, vnetOff);
    return accepted;
  }

  flush(): void {
    this.inner.flush();
  }

  /** Drops the frames still held ('closeDrops') and closes the inner port. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.timer.cancel();
      this.impairStats.closeDrops += this.held.clear();
      this.bottleneck.clear();
    }
    return this.inner.close();
  }

  private reseed(seed: number): void {
    this.lossRng = SeededRandom.derive(seed, STREAM.LOSS);
    this.geRng = SeededRandom.derive(seed, STREAM.GE);
    this.dupRng = SeededRandom.derive(seed, STREAM.DUPLICATE);
    this.jitterRng = SeededRandom.derive(seed, STREAM.JITTER);
    this.reorderRng = SeededRandom.derive(seed, STREAM.REORDER);
    this.geBad = false;
  }

  /** One loss decision: random loss, then Gilbert–Elliott (loss drawn in the current state, then a transition). */
  private lostNow(): boolean {
    const s = this.s;
    let lost = s.loss > 0 && this.lossRng.next() < s.loss;
    const ge = s.ge;
    if (ge !== null) {
      const rng = this.geRng;
      if (rng.next() < (this.geBad ? ge.lossBad : ge.lossGood)) lost = true;
      if (this.geBad ? rng.next() < ge.r : rng.next() < ge.p) this.geBad = !this.geBad;
    }
    return lost;
  }

  /** Bottleneck, then delay: sends now, holds for later, or tail-drops one copy. */
  private sendCopy(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    const s = this.s;
    const now = this.clock.now();
    let t = now;
    if (s.msPerByte > 0) {
      const q = this.bottleneck;
      q.drain(now);
      if (q.frames + 1 > s.limitFrames || q.bytes + len > s.limitBytes) return this.queueDrop();
      this.busyUntil = Math.max(now, this.busyUntil) + len * s.msPerByte;
      t = this.busyUntil;
      q.push(t, len);
    }
    const skip = s.reorder > 0 && s.delayMs > 0 && this.reorderRng.next() < s.reorder;
    if (skip) {
      this.impairStats.reordered++;
    } else {
      let d = s.delayMs;
      if (s.jitterMs > 0) {
        d += s.uniform ? s.jitterMs * (2 * this.jitterRng.next() - 1) : s.jitterMs * this.jitterRng.normal();
        if (d < 0) d = 0;
      }
      t += d;
      if (s.keepOrder) {
        if (t < this.lastOrdered) t = this.lastOrdered;
        this.lastOrdered = t;
      }
    }
    const held = this.held;
    if (t <= now && (held.frames === 0 || skip || !s.keepOrder)) {
      this.impairStats.delivered++;
      return this.inner.send(buf, off, len, vnetOff);
    }
    if (s.msPerByte === 0 && (held.frames + 1 > s.limitFrames || held.bytes + len > s.limitBytes)) {
      return this.queueDrop();
    }
    held.add(t, buf, off, len, vnetOff);
    if (!this.timer.armed || t < this.timer.deadline) this.timer.armAt(t);
    return true;
  }

  private queueDrop(): boolean {
    this.impairStats.queueDrops++;
    return false;
  }

  /** The departure timer: every due frame to the inner port, one flush, re-arm for the next. */
  private readonly depart = (): void => {
    const held = this.held;
    held.release(); // bytes of the previous run's frames: their tick is over
    const now = this.clock.now();
    const inner = this.inner;
    let n = 0;
    for (let slot = held.popDue(now); slot >= 0; slot = held.popDue(now)) {
      n++;
      this.impairStats.delivered++;
      inner.send(held.slab, held.frameOffset(slot), held.frameLength(slot), held.vnetOffset(slot));
    }
    if (n > 0) inner.flush();
    const next = held.nextTime();
    if (next !== Number.POSITIVE_INFINITY && !this.closed) this.timer.armAt(next);
  };
}

/** Wraps `port` so that what is sent through it is impaired as `opts` says. */
export function impair(port: Port, clock: Clock, opts: ImpairmentOptions = {}): ImpairedPort {
  return new ImpairedPort(port, clock, opts);
}
