/**
 * Impairments (src/link/impair.ts) on the virtual clock: exact delays and
 * rates, and statistical bounds (±5 standard deviations) for loss,
 * Gilbert–Elliott bursts, duplication, jitter and reordering; exact repeats
 * per seed; a property test over random option combinations; and one
 * real-clock check that a delay is never cut short.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ImpairmentOptions, impair } from '../../src/link/impair.js';
import { HeldFrames } from '../../src/link/impair-queue.js';
import { createPipe } from '../../src/link/pipe.js';
import { newPortStats, type Port, type RxHandler, VNET_HDR_LEN } from '../../src/link/port.js';
import { RealClock, VirtualClock } from '../../src/time/index.js';

/** Frame `id` of `len` bytes: the id (LE, when it fits) then a pattern derived from it. */
function fill(buf: Uint8Array, off: number, id: number, len: number): void {
  for (let i = 0; i < len; i++) buf[off + i] = (id * 7 + i) & 0xff;
  for (let i = 0; i < 4 && i < len; i++) buf[off + i] = (id >>> (8 * i)) & 0xff;
}

function readId(buf: Uint8Array, off: number, len: number): number {
  let id = 0;
  for (let i = 0; i < 4 && i < len; i++) id |= buf[off + i]! << (8 * i);
  return id >>> 0;
}

/** A port that records what is sent to it (id, clock time, length) and checks the bytes. */
class Sink implements Port {
  readonly name = 'sink';
  readonly stats = newPortStats();
  onReceive: RxHandler | null = null;
  ids: number[] = [];
  times: number[] = [];
  lens: number[] = [];
  vnetSeen: number[] = [];
  flushes = 0;
  corrupt = 0;
  lastBuf: Uint8Array | undefined;
  private readonly expected = new Uint8Array(65536);

  constructor(
    private readonly clock: { now(): number },
    readonly vnetHdr = false,
  ) {}

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    const id = readId(buf, off, len);
    this.ids.push(id);
    this.times.push(this.clock.now());
    this.lens.push(len);
    this.lastBuf = buf;
    if (vnetOff >= 0) this.vnetSeen.push(vnetOff === off - VNET_HDR_LEN ? buf[vnetOff]! : -1);
    if (len >= 4) {
      fill(this.expected, 0, id, len);
      for (let i = 0; i < len; i++) {
        if (buf[off + i] !== this.expected[i]) {
          this.corrupt++;
          break;
        }
      }
    }
    this.stats.txFrames++;
    this.stats.txBytes += len;
    return true;
  }

  flush(): void {
    this.flushes++;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function setup(opts: ImpairmentOptions, sinkVnet = false) {
  const clock = new VirtualClock();
  const sink = new Sink(clock, sinkVnet);
  const port = impair(sink, clock, opts);
  return { clock, sink, port };
}

/** Sends frames 0..n-1, frame k at virtual time k × intervalMs, from one reused buffer. */
function offer(
  env: ReturnType<typeof setup>,
  n: number,
  intervalMs: number,
  len = 64,
): { sendTimes: Float64Array } {
  const buf = new Uint8Array(len);
  const sendTimes = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    env.clock.advanceTo(k * intervalMs);
    fill(buf, 0, k, len);
    sendTimes[k] = env.clock.now();
    env.port.send(buf, 0, len, -1);
  }
  env.port.flush();
  return { sendTimes };
}

function within(actual: number, mean: number, sd: number, k = 5): void {
  expect(Math.abs(actual - mean), `${actual} vs ${mean} ± ${k}×${sd.toFixed(3)}`).toBeLessThanOrEqual(k * sd);
}

function missing(ids: number[], n: number): number[] {
  const seen = new Uint8Array(n);
  for (const id of ids) seen[id] = 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (seen[i] === 0) out.push(i);
  return out;
}

function meanSd(xs: ArrayLike<number>): { mean: number; sd: number } {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i]!;
  const mean = sum / xs.length;
  let sq = 0;
  for (let i = 0; i < xs.length; i++) sq += (xs[i]! - mean) ** 2;
  return { mean, sd: Math.sqrt(sq / xs.length) };
}

function latencies(sink: Sink, sendTimes: Float64Array): Float64Array {
  const out = new Float64Array(sink.ids.length);
  for (let i = 0; i < sink.ids.length; i++) out[i] = sink.times[i]! - sendTimes[sink.ids[i]!]!;
  return out;
}

function outOfOrder(ids: number[]): number {
  let n = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) n++;
  return n;
}

describe('impair', () => {
  it('with no impairment is a pass-through: same order, same bytes, nothing copied or held', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const port = impair(a, clock, {});
    expect(port.name).toBe(a.name);
    expect(port.stats).toBe(a.stats);
    const got: Uint8Array[] = [];
    b.onReceive = (batch) => {
      for (let i = 0; i < batch.count; i++) {
        got.push(batch.buf.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!));
      }
    };
    const sent: Uint8Array[] = [];
    for (let k = 0; k < 100; k++) {
      const f = new Uint8Array(60 + k * 13);
      fill(f, 0, k, f.length);
      sent.push(f);
      expect(port.send(f, 0, f.length, -1)).toBe(true);
    }
    port.flush();
    expect(port.heldFrames).toBe(0);
    clock.runUntilIdle();
    expect(got).toEqual(sent);
    expect(port.impairStats).toEqual({
      sent: 100, lost: 0, duplicated: 0, reordered: 0, queueDrops: 0, delivered: 100, closeDrops: 0,
    });
    // Uncopied: the inner port sees the caller's own buffer.
    const env = setup({});
    const f = new Uint8Array(64);
    env.port.send(f, 0, 64, -1);
    expect(env.sink.lastBuf).toBe(f);
  });

  it('onReceive on the wrapper is the inner port’s; received frames are not impaired', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const port = impair(a, clock, { loss: 1, delayMs: 100 });
    let received = 0;
    port.onReceive = (batch) => (received += batch.count);
    expect(a.onReceive).toBe(port.onReceive);
    b.send(new Uint8Array(64), 0, 64, -1);
    clock.advance(0);
    expect(received).toBe(1);
  });

  it('delays by exactly delayMs on the virtual clock, copying held frames (one flush per departure)', () => {
    const env = setup({ delayMs: 10 });
    const buf = new Uint8Array(100);
    fill(buf, 0, 1, 100);
    env.port.send(buf, 0, 100, -1);
    buf.fill(0); // borrowed bytes may change once send returns
    env.clock.advanceTo(3);
    fill(buf, 0, 2, 100);
    env.port.send(buf, 0, 100, -1);
    fill(buf, 0, 3, 100);
    env.port.send(buf, 0, 100, -1);
    expect(env.port.heldFrames).toBe(3);
    env.clock.advanceTo(9.999);
    expect(env.sink.ids).toEqual([]);
    env.clock.runUntilIdle();
    expect(env.sink.ids).toEqual([1, 2, 3]);
    expect(env.sink.times).toEqual([10, 13, 13]);
    expect(env.sink.corrupt).toBe(0);
    expect(env.sink.flushes).toBe(2);
    expect(env.clock.timers.size).toBe(0);
  });

  it('1% random loss over 100,000 frames is binomial, and the same seed loses the same frames', () => {
    const n = 100_000;
    const run = (seed: number) => {
      const env = setup({ loss: 0.01, seed });
      offer(env, n, 0);
      expect(env.port.impairStats.lost).toBe(n - env.sink.ids.length);
      return missing(env.sink.ids, n);
    };
    const lost = run(12345);
    within(lost.length, n * 0.01, Math.sqrt(n * 0.01 * 0.99)); // 1000 ± 5 × 31.5
    expect(run(12345)).toEqual(lost);
    expect(run(54321)).not.toEqual(lost);
  });

  it('Gilbert–Elliott loses p/(p+r)·lossBad on average, in bursts of mean length 1/r', () => {
    const n = 200_000;
    const p = 0.01;
    const r = 0.2;
    const env = setup({ gilbertElliott: { p, r }, seed: 99 });
    offer(env, n, 0);
    const lost = missing(env.sink.ids, n);
    const pi = p / (p + r);
    const lambda = 1 - p - r;
    // Variance of a two-state Markov chain's count: binomial × (1+λ)/(1−λ).
    within(lost.length, n * pi, Math.sqrt((n * pi * (1 - pi) * (1 + lambda)) / (1 - lambda)));
    let bursts = 0;
    for (let i = 0; i < lost.length; i++) if (i === 0 || lost[i] !== lost[i - 1]! + 1) bursts++;
    const meanBurst = lost.length / bursts;
    // Burst lengths are geometric: sd sqrt(1−r)/r per burst.
    within(meanBurst, 1 / r, Math.sqrt(1 - r) / r / Math.sqrt(bursts));
    // Independent loss at the same rate would give bursts of about 1.05.
    expect(meanBurst).toBeGreaterThan(3);

    // lossGood / lossBad scale the average.
    const env2 = setup({ gilbertElliott: { p: 0.05, r: 0.05, lossGood: 0.01, lossBad: 0.5 }, seed: 3 });
    offer(env2, n, 0);
    const expected = 0.5 * 0.01 + 0.5 * 0.5;
    // Generous bound: the chain's correlation inflates the variance (λ = 0.9).
    within(env2.port.impairStats.lost, n * expected, Math.sqrt(n * expected * (1 - expected) * 19 * 2));
  });

  it('duplicates at the configured rate; a duplicated frame is lost at most once', () => {
    const n = 100_000;
    const env = setup({ duplicate: 0.05, seed: 5 });
    offer(env, n, 0);
    const st = env.port.impairStats;
    within(st.duplicated, n * 0.05, Math.sqrt(n * 0.05 * 0.95));
    expect(env.sink.ids.length).toBe(n + st.duplicated);

    const both = setup({ duplicate: 0.5, loss: 0.5, seed: 6 });
    offer(both, 10_000, 0);
    const s2 = both.port.impairStats;
    expect(both.sink.ids.length).toBe(s2.sent + s2.duplicated - s2.lost);
    // Only frames neither duplicated nor saved by the copy vanish: P = 0.5 × 0.5.
    within(missing(both.sink.ids, 10_000).length, 2500, Math.sqrt(10_000 * 0.25 * 0.75));
  });

  it('normal jitter has the configured mean and sd and reorders; keepOrder prevents reordering', () => {
    const n = 20_000;
    const env = setup({ delayMs: 50, jitterMs: 5, seed: 11 });
    const { sendTimes } = offer(env, n, 1);
    env.clock.runUntilIdle();
    expect(env.sink.ids.length).toBe(n);
    expect(env.sink.corrupt).toBe(0);
    const { mean, sd } = meanSd(latencies(env.sink, sendTimes));
    within(mean, 50, 5 / Math.sqrt(n));
    within(sd, 5, 5 / Math.sqrt(2 * n));
    expect(outOfOrder(env.sink.ids)).toBeGreaterThan(100);

    const ordered = setup({ delayMs: 50, jitterMs: 5, seed: 11, keepOrder: true });
    const o = offer(ordered, n, 1);
    ordered.clock.runUntilIdle();
    expect(ordered.sink.ids.length).toBe(n);
    expect(outOfOrder(ordered.sink.ids)).toBe(0);
    for (const l of latencies(ordered.sink, o.sendTimes)) expect(l).toBeGreaterThanOrEqual(0);
  });

  it('uniform jitter stays within delay ± jitter with sd jitter/√3', () => {
    const n = 20_000;
    const env = setup({ delayMs: 20, jitterMs: 6, jitterDistribution: 'uniform', seed: 12 });
    const { sendTimes } = offer(env, n, 0.5);
    env.clock.runUntilIdle();
    const lat = latencies(env.sink, sendTimes);
    const { mean, sd } = meanSd(lat);
    expect(Math.min(...lat)).toBeGreaterThanOrEqual(14);
    expect(Math.max(...lat)).toBeLessThanOrEqual(26);
    within(mean, 20, 6 / Math.sqrt(3) / Math.sqrt(n));
    // sd of the sample sd for a uniform on [−a, a]: a²·√(4/45/n) / (2σ).
    within(sd, 6 / Math.sqrt(3), (36 * Math.sqrt(4 / 45 / n)) / (2 * (6 / Math.sqrt(3))));
  });

  it('reorder sends the configured fraction immediately, overtaking frames waiting their delay', () => {
    const n = 40_000;
    const env = setup({ delayMs: 10, reorder: 0.25, seed: 13 });
    const { sendTimes } = offer(env, n, 1);
    env.clock.runUntilIdle();
    const st = env.port.impairStats;
    within(st.reordered, n * 0.25, Math.sqrt(n * 0.25 * 0.75));
    const lat = latencies(env.sink, sendTimes);
    expect(lat.filter((l) => l === 0).length).toBe(st.reordered);
    expect(lat.filter((l) => l === 10).length).toBe(n - st.reordered);
    expect(outOfOrder(env.sink.ids)).toBeGreaterThan(1000);
  });

  it('a 10 Mbit/s rate holds at 2× offered load for 10 s; the queue limit drops the excess', () => {
    const rate = 10_000_000;
    const len = 1500;
    const txMs = (len * 8 * 1000) / rate; // 1.2 ms
    const env = setup({ rateBitsPerSec: rate, queueLimitFrames: 50 });
    const n = Math.floor(10_000 / (txMs / 2)); // one frame every 0.6 ms for 10 s
    let maxHeld = 0;
    const buf = new Uint8Array(len);
    for (let k = 0; k < n; k++) {
      env.clock.advanceTo(k * (txMs / 2));
      fill(buf, 0, k, len);
      env.port.send(buf, 0, len, -1);
      maxHeld = Math.max(maxHeld, env.port.heldFrames);
    }
    env.clock.advanceTo(10_000);
    const bits = env.sink.times.filter((t) => t <= 10_000).length * len * 8;
    within(bits / 10, rate, rate * 0.01, 1);
    const st = env.port.impairStats;
    expect(maxHeld).toBeLessThanOrEqual(50);
    expect(st.queueDrops).toBeGreaterThan(n / 2 - 100);
    expect(st.sent).toBe(n);
    expect(st.delivered + st.queueDrops + env.port.heldFrames).toBe(n);
    expect(env.sink.corrupt).toBe(0);
    // Departures are spaced exactly one serialization time apart while the queue is busy.
    const gaps = env.sink.times.slice(1, 200).map((t, i) => t - env.sink.times[i]!);
    for (const g of gaps) expect(g).toBeCloseTo(txMs, 9);
  });

  it('a byte limit bounds the queue by bytes; the rate delays each frame by its serialization', () => {
    const env = setup({ rateBitsPerSec: 1_000_000, queueLimitBytes: 15_000, delayMs: 5 });
    const buf = new Uint8Array(1500);
    let accepted = 0;
    for (let k = 0; k < 20; k++) {
      fill(buf, 0, k, 1500);
      if (env.port.send(buf, 0, 1500, -1)) accepted++;
    }
    expect(accepted).toBe(10);
    expect(env.port.impairStats.queueDrops).toBe(10);
    env.clock.runUntilIdle();
    expect(env.sink.ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    env.sink.times.forEach((t, i) => expect(t).toBeCloseTo(5 + 12 * (i + 1), 9));
  });

  it('without a rate, queueLimitFrames bounds the frames held for delay (netem limit)', () => {
    const env = setup({ delayMs: 10, queueLimitFrames: 5 });
    offer(env, 8, 0);
    expect(env.port.heldFrames).toBe(5);
    expect(env.port.impairStats.queueDrops).toBe(3);
  });

  it('setOptions changes impairments at run time; held frames keep their times', () => {
    const env = setup({ delayMs: 100 });
    const buf = new Uint8Array(64);
    fill(buf, 0, 1, 64);
    env.port.send(buf, 0, 64, -1);
    env.port.setOptions({ ...env.port.options, delayMs: 10 });
    expect(env.port.options.delayMs).toBe(10);
    fill(buf, 0, 2, 64);
    env.port.send(buf, 0, 64, -1);
    env.port.setOptions({ loss: 1 });
    fill(buf, 0, 3, 64);
    env.port.send(buf, 0, 64, -1);
    env.clock.runUntilIdle();
    expect(env.sink.ids).toEqual([2, 1]);
    expect(env.sink.times).toEqual([10, 100]);
    expect(env.port.impairStats.lost).toBe(1);
    expect(() => env.port.setOptions({ loss: 2 })).toThrow(RangeError);
    expect(() => impair(env.sink, env.clock, { delayMs: -1 })).toThrow(RangeError);
  });

  it('keeps a held frame’s virtio_net_hdr right before it', () => {
    const env = setup({ delayMs: 1 }, true);
    const buf = new Uint8Array(VNET_HDR_LEN + 64);
    buf[0] = 0x42;
    fill(buf, VNET_HDR_LEN, 7, 64);
    env.port.send(buf, VNET_HDR_LEN, 64, 0);
    env.clock.runUntilIdle();
    expect(env.sink.ids).toEqual([7]);
    expect(env.sink.vnetSeen).toEqual([0x42]);
    expect(env.sink.corrupt).toBe(0);
  });

  it('held frames survive ring wrap-around and growth while departing out of order', () => {
    const env = setup({ delayMs: 30, jitterMs: 15, jitterDistribution: 'uniform', seed: 21 });
    const buf = new Uint8Array(9000);
    const n = 30_000;
    const sendTimes = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      // Bursts of large frames between stretches of small ones make the ring wrap, then grow.
      const len = k % 1000 < 100 ? 9000 - (k % 97) : 64 + (k % 300);
      env.clock.advanceTo(k * 0.05);
      fill(buf, 0, k, len);
      sendTimes[k] = env.clock.now();
      env.port.send(buf, 0, len, -1);
    }
    env.clock.runUntilIdle();
    expect(env.sink.ids.length).toBe(n);
    expect(env.sink.corrupt).toBe(0);
    expect(new Set(env.sink.ids).size).toBe(n);
    for (const l of latencies(env.sink, sendTimes)) expect(l >= 15 && l <= 45).toBe(true);
    expect(outOfOrder(env.sink.ids)).toBeGreaterThan(1000);
  });

  it('close drops what is held and cancels the timer', async () => {
    const env = setup({ delayMs: 10 });
    offer(env, 4, 0);
    await env.port.close();
    await env.port.close();
    expect(env.port.impairStats.closeDrops).toBe(4);
    expect(env.clock.timers.size).toBe(0);
    env.clock.runUntilIdle();
    expect(env.sink.ids).toEqual([]);
  });

  it('property: random option combinations never throw, never deliver more than 2× sent, never early', () => {
    const prob = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true }));
    const ms = fc.oneof(fc.constant(0), fc.double({ min: 0, max: 50, noNaN: true }));
    const options = fc.record(
      {
        seed: fc.integer(),
        delayMs: ms,
        jitterMs: ms,
        jitterDistribution: fc.constantFrom('normal' as const, 'uniform' as const),
        keepOrder: fc.boolean(),
        loss: prob,
        gilbertElliott: fc.record(
          { p: prob, r: prob, lossGood: prob, lossBad: prob },
          { requiredKeys: ['p', 'r'] },
        ),
        duplicate: prob,
        reorder: prob,
        rateBitsPerSec: fc.integer({ min: 0, max: 100_000_000 }),
        queueLimitFrames: fc.integer({ min: 0, max: 64 }),
        queueLimitBytes: fc.integer({ min: 0, max: 200_000 }),
      },
      { requiredKeys: [] },
    );
    const traffic = fc.array(fc.record({ gap: fc.double({ min: 0, max: 3, noNaN: true }), len: fc.nat(3000) }), {
      maxLength: 300,
    });
    fc.assert(
      fc.property(options, traffic, (opts, frames) => {
        const env = setup(opts);
        const sendTimes = new Float64Array(frames.length);
        const buf = new Uint8Array(3000);
        frames.forEach(({ gap, len }, k) => {
          env.clock.advance(gap);
          fill(buf, 0, k, len);
          sendTimes[k] = env.clock.now();
          env.port.send(buf, 0, Math.max(4, len), -1);
          if (k % 7 === 0) env.port.flush();
        });
        env.clock.runUntilIdle();
        const st = env.port.impairStats;
        expect(env.sink.ids.length).toBeLessThanOrEqual(2 * frames.length);
        expect(env.sink.ids.length).toBe(st.delivered);
        expect(st.sent + st.duplicated - st.lost - st.queueDrops).toBe(st.delivered);
        expect(env.sink.corrupt).toBe(0);
        if (!opts.jitterMs && !opts.reorder) {
          const delay = opts.delayMs ?? 0;
          env.sink.ids.forEach((id, i) => expect(env.sink.times[i]!).toBeGreaterThanOrEqual(sendTimes[id]! + delay));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('impair on the real clock', () => {
  it('a 20 ms delay does not deliver before 20 ms', async () => {
    const clock = new RealClock({ unref: true });
    try {
      const [a, b] = createPipe(clock);
      const port = impair(a, clock, { delayMs: 20 });
      const arrived = new Promise<number>((resolve) => {
        b.onReceive = () => resolve(clock.now());
      });
      const start = clock.now();
      port.send(new Uint8Array(64), 0, 64, -1);
      port.flush();
      expect((await arrived) - start).toBeGreaterThanOrEqual(20);
    } finally {
      clock.close();
    }
  });
});

describe('HeldFrames (the store behind held frames)', () => {
  it('fills the ring exactly to its end and wraps to its start without touching the oldest frame', () => {
    const q = new HeldFrames(64, 8);
    const src = new Uint8Array(64);
    const add = (id: number, time: number, len: number) => {
      fill(src, 0, id, len);
      q.add(time, src, 0, len, -1);
    };
    const check = (slot: number, id: number, len: number) => {
      const want = new Uint8Array(len);
      fill(want, 0, id, len);
      expect(q.slab.subarray(q.frameOffset(slot), q.frameOffset(slot) + len)).toEqual(want);
    };
    add(0, 1, 16); // [0, 16)
    add(1, 9, 16); // [16, 32): the oldest once frame 0 is released
    add(2, 9, 16); // [32, 48)
    check(q.popDue(1), 0, 16);
    q.release();
    add(3, 9, 16); // [48, 64): exactly to the end
    add(4, 9, 16); // wraps: [0, 16), exactly up to frame 1
    const slab = q.slab;
    add(5, 9, 8); // no room before frame 1: the ring grows, the old slab is left as it was
    expect(q.slab).not.toBe(slab);
    expect(q.slab.length).toBeGreaterThan(64);
    for (const [id, len] of [[1, 16], [2, 16], [3, 16], [4, 16], [5, 8]] as const) check(q.popDue(9), id, len);
    expect(q.popDue(100)).toBe(-1);
  });

  it('property: hands frames back earliest first, bytes intact, departed bytes untouched until release', () => {
    // Mostly small frames in a small ring, so wrap-around and exact fits happen often.
    const len = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.nat(700));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), dt: fc.double({ min: 0, max: 20, noNaN: true }), len, hdr: fc.boolean() }),
      fc.record({ kind: fc.constant('run' as const), advance: fc.double({ min: 0, max: 10, noNaN: true }) }),
      fc.record({ kind: fc.constant('add-in-run' as const), len }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 512 }), fc.constantFrom(1, 2, 4), fc.array(op, { maxLength: 300 }), (bytes, slots, ops) => {
        const q = new HeldFrames(bytes, slots);
        const model: Array<{ id: number; time: number; len: number; hdr: boolean }> = [];
        const src = new Uint8Array(VNET_HDR_LEN + 700);
        let now = 0;
        let nextId = 0;
        // Frames handed out in the current run: their bytes must stay as they were until release().
        let borrowed: Array<{ buf: Uint8Array; off: number; id: number; len: number }> = [];
        const add = (time: number, len: number, hdr: boolean) => {
          const id = nextId++;
          src[0] = id & 0xff; // header byte 0 tags the frame too
          fill(src, VNET_HDR_LEN, id, len);
          q.add(time, src, VNET_HDR_LEN, len, hdr ? 0 : -1);
          model.push({ id, time, len, hdr });
        };
        const intact = (buf: Uint8Array, off: number, id: number, len: number) => {
          const want = new Uint8Array(len);
          fill(want, 0, id, len);
          expect(buf.subarray(off, off + len)).toEqual(want);
        };
        for (const o of ops) {
          if (o.kind === 'add') add(now + o.dt, o.len, o.hdr);
          else if (o.kind === 'add-in-run') add(now, o.len, false);
          else {
            for (const b of borrowed) intact(b.buf, b.off, b.id, b.len);
            borrowed = [];
            q.release();
            now += o.advance;
            for (let s = q.popDue(now); s >= 0; s = q.popDue(now)) {
              let best = 0;
              for (let i = 1; i < model.length; i++) if (model[i]!.time < model[best]!.time) best = i;
              const m = model.splice(best, 1)[0]!;
              expect(q.frameLength(s)).toBe(m.len);
              intact(q.slab, q.frameOffset(s), m.id, m.len);
              if (m.hdr) {
                expect(q.vnetOffset(s)).toBe(q.frameOffset(s) - VNET_HDR_LEN);
                expect(q.slab[q.vnetOffset(s)]).toBe(m.id & 0xff);
              } else {
                expect(q.vnetOffset(s)).toBe(-1);
              }
              borrowed.push({ buf: q.slab, off: q.frameOffset(s), id: m.id, len: m.len });
            }
            expect(q.nextTime()).toBe(model.length === 0 ? Infinity : Math.min(...model.map((m) => m.time)));
          }
          expect(q.frames).toBe(model.length);
          expect(q.bytes).toBe(model.reduce((a, m) => a + m.len, 0));
        }
        for (const b of borrowed) intact(b.buf, b.off, b.id, b.len);
      }),
      { numRuns: 1000 },
    );
  });
});
