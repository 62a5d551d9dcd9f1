/**
 * A replay port: plays the frames of a pcap or pcapng capture into whoever
 * set its `onReceive` (a `Bridge`, a host's interface, a `forward()` wire),
 * on the injected `Clock`, as if a cable had carried them in.
 *
 * It reaches what a TAP cannot carry: runts (under 60 bytes, even under the
 * 14 of an Ethernet header) and frames over any MTU are delivered exactly
 * as recorded, so the receiver's own rules count and drop them.
 *
 * Pace:
 * - `recorded`: frame i arrives at start + (tsᵢ − ts₀), the capture's own
 *   gaps (timestamps that go backwards, or pcapng Simple Packet Blocks with
 *   none, arrive with the frame before them);
 * - `scaled`: the same gaps × `scale` (2 plays at half speed, 0.5 at double);
 * - `max`: as fast as batches allow: `batchFrames` frames (default 64) per
 *   clock tick, a zero-delay timer between batches so I/O runs in between.
 * Frames due at the same moment go in one batch (at most `batchFrames`).
 *
 * Nothing is copied: `createReplayPort` reads the file once
 * (`readCaptureUntilFault`) into three arrays — each Ethernet frame's offset
 * and length in the file's buffer, and its due time — and every batch is a
 * view of those arrays over the file's own bytes. As with any batch, the
 * receiver may rewrite headers in place; each frame is played once.
 *
 * Never throws on a bad capture: a file whose header cannot be read (or bad
 * options) comes back as an `Error` naming the fault before anything plays;
 * a file cut short or corrupt later plays every complete frame before the
 * fault and names it in `stats.fault`. Only LINKTYPE_ETHERNET (1)
 * interfaces are played; frames of other link types are counted in
 * `skipped`, by link type name. With `direction` 'out' or 'in', frames a
 * pcapng marks with the other direction (epb_flags) are counted in
 * `skippedDirection` and not played.
 *
 * Receive-only: `send()` drops and counts ('receiveOnly'). Frames that fall
 * due while no one has set `onReceive` are dropped and counted
 * ('noReceiver'), as a pipe does. `done` resolves with the counters once
 * every frame has been played (or `close()` stopped it).
 *
 * Hand-written: it is the `Port` contract (port.ts) fed from
 * capture-reader.ts, with the pipe's delivery on a clock timer.
 */
import { readCaptureUntilFault } from './capture-reader.js';
import { EPB_DIRECTION } from './pcapng.js';
import { countDrop, newPortStats, type Port, type PortStats, type RxBatch, type RxHandler } from './port.js';
import { type Clock, Timer } from '../time/index.js';

export const LINKTYPE_ETHERNET = 1;

/** Names of the link types a capture commonly holds (tcpdump's DLT names), for the skipped counters. */
const LINKTYPE_NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'ETHERNET',
  101: 'RAW',
  105: 'IEEE802_11',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

/** `LINUX_SLL (113)`, or `linktype 147` for one without a name here. */
export function linkTypeName(t: number): string {
  const name = LINKTYPE_NAMES[t];
  return name === undefined ? `linktype ${t}` : `${name} (${t})`;
}

export type ReplayPace = 'recorded' | 'scaled' | 'max';
export const REPLAY_PACES: readonly ReplayPace[] = ['recorded', 'scaled', 'max'];

/**
 * Which frames of a pcapng with directions (epb_flags: `wirelab capture`
 * writes them as the node sees them) to play: 'out' only those the capturing
 * interface sent, 'in' only those it received. Frames without a direction
 * are always played.
 */
export type ReplayDirection = 'all' | 'out' | 'in';
export const REPLAY_DIRECTIONS: readonly ReplayDirection[] = ['all', 'out', 'in'];

export interface ReplayOptions {
  clock: Clock;
  /** The port's name. Default 'replay'. */
  name?: string;
  /** Default 'recorded'. */
  pace?: ReplayPace;
  /** Gap multiplier for 'scaled' (> 0; 1 is 'recorded'). Required with 'scaled', refused otherwise. */
  scale?: number;
  /** Most frames in one batch. Default 64. */
  batchFrames?: number;
  /** Default 'all'. */
  direction?: ReplayDirection;
}

export interface ReplayStats {
  /** Ethernet frames in the capture (up to a fault) of the direction asked for: what a complete replay plays. */
  frames: number;
  /** Frames handed to the receiver, and their bytes. */
  framesPlayed: number;
  bytesPlayed: number;
  /** Frames of other link types, not played. */
  skipped: number;
  /** `skipped` by link type, e.g. `{ 'LINUX_SLL (113)': 3 }`. */
  skippedLinkTypes: Record<string, number>;
  /** Ethernet frames not played because their epb_flags direction is not the one asked for. */
  skippedDirection: number;
  /** Frames that fell due while no one had set `onReceive` (not played). */
  noReceiver: number;
  /** Where and why the file stopped being readable (`pcap: truncated: record at offset …`); undefined for a whole file. */
  fault: string | undefined;
  /** True when `close()` stopped the replay before its last frame. */
  stoppedEarly: boolean;
  /** Clock milliseconds from `start()` to the last frame due (0 before a start). */
  durationMs: number;
}

const DEFAULT_BATCH = 64;

/** One batch: views of the replay's arrays over the file's bytes. */
interface ReplayBatch extends RxBatch {
  offsets: Uint32Array;
  lengths: Uint32Array;
  count: number;
}

export class ReplayPort implements Port {
  readonly name: string;
  /** rx = frames played into the receiver; drops: 'receiveOnly', 'noReceiver'. */
  readonly stats: PortStats = newPortStats();
  readonly vnetHdr = false;
  onReceive: RxHandler | null = null;

  /** Resolves when every frame has been played, or `close()` stopped the replay. */
  readonly done: Promise<ReplayStats>;

  private readonly timer: Timer;
  private readonly batchFrames: number;
  readonly pace: ReplayPace;
  /** The gap multiplier (1 unless pace is 'scaled'). */
  readonly scale: number;
  private readonly counts: ReplayStats;
  /** Frame i is `bytes[offsets[i], offsets[i] + lengths[i])`, due `dueMs[i]` after the start. */
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  private readonly dueMs: Float64Array;
  private next = 0;
  private startMs = 0;
  private started = false;
  private closed = false;
  private settle!: (s: ReplayStats) => void;

  /** Use `createReplayPort`: it reads and checks the file. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly clock: Clock,
    plan: { name: string; pace: ReplayPace; scale: number; batchFrames: number; offsets: Uint32Array; lengths: Uint32Array; dueMs: Float64Array; counts: ReplayStats },
  ) {
    this.name = plan.name;
    this.pace = plan.pace;
    this.scale = plan.scale;
    this.batchFrames = plan.batchFrames;
    this.offsets = plan.offsets;
    this.lengths = plan.lengths;
    this.dueMs = plan.dueMs;
    this.counts = plan.counts;
    this.timer = new Timer(clock.timers, this.tick);
    this.done = new Promise<ReplayStats>((resolve) => (this.settle = resolve));
  }

  /** The counters so far (a copy). */
  get replayStats(): ReplayStats {
    return { ...this.counts, skippedLinkTypes: { ...this.counts.skippedLinkTypes } };
  }

  /** Frames not yet played. */
  get remaining(): number {
    return this.offsets.length - this.next;
  }

  /** Begins playing now (the first frame is due at once). Idempotent; returns `done`. */
  start(): Promise<ReplayStats> {
    if (this.started || this.closed) return this.done;
    this.started = true;
    this.startMs = this.clock.now();
    const n = this.dueMs.length;
    this.counts.durationMs = this.pace === 'max' || n === 0 ? 0 : this.dueMs[n - 1]!;
    if (n === 0) this.finish();
    else this.timer.arm(0);
    return this.done;
  }

  /** Receive-only: drops and counts the frame ('receiveOnly'). */
  send(_buf: Uint8Array, _off: number, _len: number, _vnetOff: number): boolean {
    countDrop(this.stats, 'receiveOnly');
    return false;
  }

  flush(): void {}

  /** Stops playing (what is left is not played; `done` resolves with `stoppedEarly`). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.timer.cancel();
      this.onReceive = null;
      if (this.next < this.offsets.length) this.counts.stoppedEarly = true;
      this.settle(this.replayStats);
    }
    return Promise.resolve();
  }

  /** The timer: plays one batch of what is due, then re-arms for the next. */
  private readonly tick = (): void => {
    if (this.closed) return;
    const total = this.offsets.length;
    const start = this.next;
    let end = Math.min(start + this.batchFrames, total);
    if (this.pace !== 'max') {
      // Absolute times, computed as the timer's deadline is (startMs + due), so a frame due now is never left out by rounding.
      const now = this.clock.now();
      let i = start;
      while (i < end && this.startMs + this.dueMs[i]! <= now) i++;
      end = Math.max(i, start + 1); // the timer fired for frame `start`: it is due
    }
    this.next = end;
    // Schedule before delivering: a receiver that throws leaves the replay going (the error reaches the clock).
    if (end < total) {
      if (this.pace === 'max') this.timer.arm(0);
      else this.timer.armAt(this.startMs + this.dueMs[end]!);
    }
    try {
      this.deliver(start, end);
    } finally {
      if (end >= total) this.finish();
    }
  };

  private deliver(start: number, end: number): void {
    const count = end - start;
    const handler = this.onReceive;
    if (handler === null) {
      this.counts.noReceiver += count;
      countDrop(this.stats, 'noReceiver', count);
      return;
    }
    let bytes = 0;
    for (let i = start; i < end; i++) bytes += this.lengths[i]!;
    this.counts.framesPlayed += count;
    this.counts.bytesPlayed += bytes;
    this.stats.rxFrames += count;
    this.stats.rxBytes += bytes;
    const batch: ReplayBatch = {
      buf: this.bytes,
      offsets: this.offsets.subarray(start, end),
      lengths: this.lengths.subarray(start, end),
      count,
      vnetHdr: false,
    };
    handler(batch, this);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer.cancel();
    this.settle(this.replayStats);
  }
}

/**
 * Reads a capture for replay. Returns the port (call `start()` once its
 * receiver is set), or an Error naming what is wrong with the file or the
 * options — before anything plays. Never throws.
 */
export function createReplayPort(bytes: Uint8Array, opts: ReplayOptions): ReplayPort | Error {
  const pace = opts.pace ?? 'recorded';
  if (!REPLAY_PACES.includes(pace)) return new Error(`pace ${String(pace)} is not one of ${REPLAY_PACES.join(', ')}`);
  let scale = 1;
  if (pace === 'scaled') {
    if (opts.scale === undefined || !(Number.isFinite(opts.scale) && opts.scale > 0)) {
      return new Error(`pace scaled needs a scale above 0 (gaps × scale), got ${String(opts.scale)}`);
    }
    scale = opts.scale;
  } else if (opts.scale !== undefined && opts.scale !== 1) {
    return new Error(`a scale (${opts.scale}) goes with pace scaled, not ${pace}`);
  }
  const direction = opts.direction ?? 'all';
  if (!REPLAY_DIRECTIONS.includes(direction)) return new Error(`direction ${String(direction)} is not one of ${REPLAY_DIRECTIONS.join(', ')}`);
  const unwanted = direction === 'out' ? EPB_DIRECTION.INBOUND : direction === 'in' ? EPB_DIRECTION.OUTBOUND : -1;
  const batchFrames = opts.batchFrames ?? DEFAULT_BATCH;
  if (!(Number.isInteger(batchFrames) && batchFrames > 0)) return new Error(`batchFrames must be a positive integer, got ${batchFrames}`);

  const r = readCaptureUntilFault(bytes);
  if (!r.ok) return new Error(`not a capture wirelab can replay: ${r.layer}: ${r.code}: ${r.message}`);
  const { interfaces, records, stopped } = r.value;
  const counts: ReplayStats = {
    frames: 0,
    framesPlayed: 0,
    bytesPlayed: 0,
    skipped: 0,
    skippedLinkTypes: {},
    skippedDirection: 0,
    noReceiver: 0,
    fault: stopped === undefined ? undefined : `${stopped.layer}: ${stopped.code}: ${stopped.message}`,
    stoppedEarly: false,
    durationMs: 0,
  };
  let n = 0;
  const played = (rec: (typeof records)[number]): boolean =>
    interfaces[rec.interfaceId]?.linkType === LINKTYPE_ETHERNET && (rec.flags === undefined || (rec.flags & 3) !== unwanted);
  for (const rec of records) {
    const lt = interfaces[rec.interfaceId]?.linkType;
    if (lt === LINKTYPE_ETHERNET) {
      if (played(rec)) n++;
      else counts.skippedDirection++;
    } else {
      const key = lt === undefined ? 'no interface' : linkTypeName(lt);
      counts.skipped++;
      counts.skippedLinkTypes[key] = (counts.skippedLinkTypes[key] ?? 0) + 1;
    }
  }
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const dueMs = new Float64Array(n);
  let i = 0;
  let first = 0n;
  let prev = 0;
  for (const rec of records) {
    if (!played(rec)) continue;
    offsets[i] = rec.data.byteOffset - bytes.byteOffset;
    lengths[i] = rec.data.length;
    if (i === 0) first = rec.timestampNs;
    const due = pace === 'max' ? 0 : (Number(rec.timestampNs - first) / 1e6) * scale;
    prev = Math.max(prev, due); // never earlier than the frame before
    dueMs[i] = prev;
    i++;
  }
  counts.frames = n;
  return new ReplayPort(bytes, opts.clock, { name: opts.name ?? 'replay', pace, scale, batchFrames, offsets, lengths, dueMs, counts });
}
