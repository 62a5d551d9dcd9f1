/**
 * The in-memory pipe (src/link/pipe.ts) on the virtual clock: order, copies
 * of borrowed bytes, batches, delivery on a timer (never re-entrant), link
 * down, missing receivers, slab growth and double buffering; and the seeded
 * generator (src/link/random.ts) it shares the folder with.
 */
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { VNET_HDR_LEN, type RxBatch } from '../../src/link/port.js';
import { SeededRandom } from '../../src/link/random.js';
import { VirtualClock } from '../../src/time/index.js';

function frame(id: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (id + i) & 0xff;
  f[0] = id & 0xff;
  f[1] = (id >>> 8) & 0xff;
  return f;
}

function frames(batch: RxBatch): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < batch.count; i++) {
    out.push(batch.buf.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!));
  }
  return out;
}

describe('createPipe', () => {
  it('delivers in order, as one batch per tick, on a timer rather than inside send', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock, { names: ['left', 'right'] });
    expect([a.name, b.name]).toEqual(['left', 'right']);
    expect(a.peer).toBe(b);
    expect(b.peer).toBe(a);
    const batches: Uint8Array[][] = [];
    b.onReceive = (batch, port) => {
      expect(port).toBe(b);
      expect(batch.vnetHdr).toBe(false);
      batches.push(frames(batch));
    };
    const sent = [frame(1), frame(2, 100), frame(3, 1500)];
    for (const f of sent) expect(a.send(f, 0, f.length, -1)).toBe(true);
    a.flush();
    expect(batches).toEqual([]); // nothing synchronous
    clock.advance(0);
    expect(batches).toEqual([sent]);
    a.send(sent[0]!, 0, 64, -1);
    clock.advance(0);
    expect(batches.length).toBe(2);
    expect(batches[1]).toEqual([sent[0]]);
    expect(a.stats).toMatchObject({ txFrames: 4, txBytes: 64 + 100 + 1500 + 64, rxFrames: 0 });
    expect(b.stats).toMatchObject({ rxFrames: 4, rxBytes: 64 + 100 + 1500 + 64, txFrames: 0, drops: {} });
  });

  it('copies: changing the sent buffer after send does not change what arrives; offsets are honoured', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const got: Uint8Array[] = [];
    b.onReceive = (batch) => got.push(...frames(batch));
    const big = new Uint8Array(200);
    big.set(frame(7, 80), 50);
    a.send(big, 50, 80, -1);
    big.fill(0xee);
    clock.advance(0);
    expect(got).toEqual([frame(7, 80)]);
  });

  it('is not re-entrant: a handler that answers is called again only after it returns', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    let depth = 0;
    let maxDepth = 0;
    const log: string[] = [];
    const bounce = (port: typeof a, tag: string) => (batch: RxBatch) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      const n = batch.buf[batch.offsets[0]!]!;
      log.push(`${tag}${n}`);
      if (n < 10) {
        const reply = frame(n + 1);
        port.send(reply, 0, reply.length, -1);
        port.flush();
        log.push(`${tag}${n} returns`);
      }
      depth--;
    };
    a.onReceive = bounce(a, 'a');
    b.onReceive = bounce(b, 'b');
    a.send(frame(0), 0, 64, -1);
    clock.runUntilIdle();
    expect(maxDepth).toBe(1);
    expect(log.slice(0, 4)).toEqual(['b0', 'b0 returns', 'a1', 'a1 returns']);
    expect(log.at(-1)).toBe('b10'); // even numbers land at b
    expect(clock.now()).toBe(0); // all at delay 0
  });

  it('keeps a delivered batch intact while its handler sends through the same end (double buffering)', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const seen: Uint8Array[][] = [];
    let round = 0;
    b.onReceive = (batch) => {
      const before = frames(batch);
      if (round++ < 3) {
        // Refill the end that is delivering to us, with more than its slab holds.
        for (let i = 0; i < 40; i++) a.send(frame(100 + i, 1500), 0, 1500, -1);
      }
      expect(frames(batch)).toEqual(before);
      seen.push(before);
    };
    a.send(frame(1), 0, 64, -1);
    clock.runUntilIdle();
    expect(seen.length).toBe(4);
    expect(seen[0]).toEqual([frame(1)]);
    for (const batch of seen.slice(1)) {
      expect(batch.length).toBe(40);
      expect(batch[39]).toEqual(frame(139, 1500));
    }
  });

  it('grows its slabs for many or large frames in one tick', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    let total = 0;
    let count = 0;
    b.onReceive = (batch) => {
      count += batch.count;
      for (let i = 0; i < batch.count; i++) {
        const f = batch.buf.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!);
        expect(f[0]! | (f[1]! << 8)).toBe(count - batch.count + i);
        total += f.length;
      }
    };
    for (let i = 0; i < 1000; i++) a.send(frame(i, 60 + (i % 9000)), 0, 60 + (i % 9000), -1);
    clock.advance(0);
    expect(count).toBe(1000);
    expect(total).toBe(b.stats.rxBytes);
  });

  it('a down end drops what it sends and what reaches it, counted as linkDown', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const got: number[] = [];
    a.onReceive = (batch) => got.push(-batch.count);
    b.onReceive = (batch) => got.push(batch.count);
    b.setUp(false);
    expect(b.up).toBe(false);
    expect(a.send(frame(1), 0, 64, -1)).toBe(true); // a's side is up: it goes on the wire
    expect(b.send(frame(2), 0, 64, -1)).toBe(false);
    clock.advance(0);
    expect(got).toEqual([]);
    expect(b.stats.drops).toEqual({ linkDown: 2 });
    expect(a.stats.drops).toEqual({});
    expect(a.stats.txFrames).toBe(1);
    // Frames already in flight when the end goes down are dropped on arrival.
    b.setUp(true);
    a.send(frame(3), 0, 64, -1);
    b.setUp(false);
    clock.advance(0);
    expect(b.stats.drops).toEqual({ linkDown: 3 });
    b.setUp(true);
    a.send(frame(4), 0, 64, -1);
    b.send(frame(5), 0, 64, -1);
    clock.advance(0);
    expect(got).toEqual([1, -1]);
  });

  it('counts noReceiver at an end nobody listens on, and closed after close()', async () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    a.send(frame(1), 0, 64, -1);
    a.send(frame(2), 0, 64, -1);
    clock.advance(0);
    expect(b.stats.drops).toEqual({ noReceiver: 2 });
    expect(b.stats.rxFrames).toBe(0);
    a.send(frame(3), 0, 64, -1);
    await b.close();
    await b.close();
    clock.advance(0);
    expect(b.stats.drops).toEqual({ noReceiver: 2, closed: 1 });
    expect(b.send(frame(4), 0, 64, -1)).toBe(false);
    expect(b.stats.drops.closed).toBe(2);
    expect(clock.timers.size).toBe(0);
  });

  it('rejects out-of-range arguments with a counter, never a throw', () => {
    const clock = new VirtualClock();
    const [a] = createPipe(clock);
    expect(a.send(new Uint8Array(10), 5, 10, -1)).toBe(false);
    expect(a.send(new Uint8Array(10), -1, 2, -1)).toBe(false);
    expect(a.stats.drops).toEqual({ badFrame: 2 });
  });

  it('leaves a do-nothing virtio_net_hdr behind and delivers the plain frame', () => {
    const clock = new VirtualClock();
    const [a, b] = createPipe(clock);
    const got: Uint8Array[] = [];
    b.onReceive = (batch) => got.push(...frames(batch));
    const buf = new Uint8Array(VNET_HDR_LEN + 64);
    buf.set(frame(9), VNET_HDR_LEN); // zero header: no GSO, no NEEDS_CSUM
    expect(a.send(buf, VNET_HDR_LEN, 64, 0)).toBe(true);
    clock.advance(0);
    expect(got).toEqual([frame(9)]);
  });
});

describe('SeededRandom', () => {
  it('is deterministic per seed and different across seeds', () => {
    const draw = (seed: number) => {
      const r = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => r.next());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(SeededRandom.derive(1, 0).next()).not.toBe(SeededRandom.derive(1, 1).next());
  });

  it('next is uniform in [0,1), nextInt in range, normal has mean 0 and sd 1', () => {
    const r = new SeededRandom(7);
    const n = 100_000;
    let sum = 0;
    let sum2 = 0;
    const buckets = new Array<number>(10).fill(0);
    let inRange = true;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) inRange = false;
      sum += x;
      const k = r.nextInt(10);
      buckets[k] = buckets[k]! + 1;
    }
    expect(inRange).toBe(true);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(5 * Math.sqrt(n * 0.1 * 0.9));
    sum = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sum2 += z * z;
    }
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(sum2 / n - mean * mean) - 1)).toBeLessThan(5 / Math.sqrt(2 * n));
    expect(() => r.nextInt(0)).toThrow(RangeError);
  });
});
