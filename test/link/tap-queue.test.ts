/**
 * TapPort's queueing logic against a fake addon: the paths a real TAP almost
 * never takes (EAGAIN, a full queue) and the receive bookkeeping, without
 * root. The fake records every frame "written" and lets each test decide how
 * many frames a write call takes before saying EAGAIN.
 *
 * Hand-written: the subject is our own port; the real device is covered by
 * tap.test.ts.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

import type { NativeBatchCallback } from '../../src/link/native-port.js';

const fake = vi.hoisted(() => ({
  /** Frames a write call may still take before EAGAIN. */
  budget: Number.POSITIVE_INFINITY,
  /** errno to report for frames whose first byte is 0xee. */
  failErrno: 5,
  written: [] as Uint8Array[],
  waitCb: null as (() => void) | null,
  slab: new Uint8Array(0),
  offsets: new Uint32Array(0),
  lengths: new Uint32Array(0),
  onBatch: null as ((count: number, errno: number) => void) | null,
}));

vi.mock('../../src/link/tap-native.js', () => ({
  loadTapBinding: () => ({
    VNET_HDR_LEN: 10,
    MAX_FRAME: 65554,
    Tap: class {
      readonly fd = 99;
      constructor(readonly ifname: string) {}
      startReading(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, _max: number, onBatch: NativeBatchCallback): void {
        Object.assign(fake, { slab, offsets, lengths, onBatch });
      }
      writeBatch(
        sources: ReadonlyArray<Uint8Array | undefined>,
        offs: Uint32Array,
        lens: Uint32Array,
        prefix: Uint8Array,
        start: number,
        count: number,
        errnos: Int32Array,
      ): number {
        let n = 0;
        for (; n < count && fake.budget > 0; n++) {
          fake.budget--;
          const i = start + n;
          const bytes = sources[i]!.slice(offs[i]!, offs[i]! + lens[i]!);
          if (bytes[0] === 0xee) {
            errnos[i] = fake.failErrno;
            continue;
          }
          errnos[i] = 0;
          fake.written.push(prefix[i] === 1 ? Uint8Array.from([...new Uint8Array(10), ...bytes]) : bytes);
        }
        return n;
      }
      waitWritable(cb: () => void): void {
        fake.waitCb = cb;
      }
      ref(): void {}
      unref(): void {}
      close(): void {}
    },
  }),
}));

const { openTap } = await import('../../src/link/tap.js');

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function frame(fill: number, len = 60): Uint8Array {
  return new Uint8Array(len).fill(fill);
}

beforeEach(() => {
  fake.budget = Number.POSITIVE_INFINITY;
  fake.written = [];
  fake.waitCb = null;
});

describe('TapPort send queue', () => {
  it('sends a tick’s frames in one flush, borrowing the caller’s bytes', async () => {
    const port = openTap('fake0');
    const buf = new Uint8Array(200);
    buf.fill(1, 0, 60);
    buf.fill(2, 100, 160);
    port.send(buf, 0, 60, -1);
    port.send(buf, 100, 60, -1);
    expect(fake.written).toHaveLength(0);
    await tick();
    expect(fake.written.map((f) => f[0])).toEqual([1, 2]);
    expect(port.stats).toMatchObject({ txFrames: 2, txBytes: 120, drops: {} });
  });

  it('on EAGAIN keeps copies of the unsent frames, waits, and sends them unchanged', async () => {
    const port = openTap('fake1');
    const slab = new Uint8Array(5 * 60);
    for (let i = 0; i < 5; i++) slab.fill(10 + i, i * 60, i * 60 + 60);
    fake.budget = 2;
    for (let i = 0; i < 5; i++) port.send(slab, i * 60, 60, -1);
    await tick();
    expect(fake.written).toHaveLength(2);
    expect(fake.waitCb).not.toBeNull();

    // Blocked: a frame sent now is copied before the tick ends too.
    const late = frame(77);
    port.send(late, 0, 60, -1);
    await tick();
    slab.fill(0); // the receive slab is reused for the next batch
    late.fill(0);
    fake.budget = Number.POSITIVE_INFINITY;
    fake.waitCb!();
    expect(fake.written.map((f) => f[0])).toEqual([10, 11, 12, 13, 14, 77]);
    expect(fake.written.every((f) => f.every((b) => b === f[0]))).toBe(true);
    expect(port.stats.txFrames).toBe(6);
  });

  it('drops as txQueueFull only while blocked; otherwise a full queue flushes itself', async () => {
    const port = openTap('fake2', { txQueueFrames: 4 });
    for (let i = 0; i < 10; i++) expect(port.send(frame(i), 0, 60, -1)).toBe(true);
    await tick();
    expect(fake.written).toHaveLength(10);

    fake.written = [];
    fake.budget = 0;
    const accepted = Array.from({ length: 6 }, (_, i) => port.send(frame(i), 0, 60, -1));
    expect(accepted).toEqual([true, true, true, true, false, false]);
    expect(port.stats.drops.txQueueFull).toBe(2);
    fake.budget = Number.POSITIVE_INFINITY;
    fake.waitCb!();
    expect(fake.written.map((f) => f[0])).toEqual([0, 1, 2, 3]);
  });

  it('counts a frame the kernel refuses by errno and goes on with the rest', async () => {
    const port = openTap('fake3');
    port.send(frame(1), 0, 60, -1);
    port.send(frame(0xee), 0, 60, -1);
    port.send(frame(3), 0, 60, -1);
    port.flush();
    expect(fake.written.map((f) => f[0])).toEqual([1, 3]);
    expect(port.stats.drops['txError:EIO']).toBe(1);
    expect(port.stats.txFrames).toBe(2);
  });

  it('on a vnet device prefixes plain frames and writes framed ones as they are', async () => {
    const port = openTap('fake4', { vnetHdr: true });
    const framed = new Uint8Array(70);
    framed[0] = 0x01; // NEEDS_CSUM, kept as the caller wrote it
    framed.fill(9, 10);
    port.send(frame(5), 0, 60, -1);
    port.send(framed, 10, 60, 0);
    port.flush();
    expect(fake.written.map((f) => f.length)).toEqual([70, 70]);
    expect(Array.from(fake.written[0]!.subarray(0, 11))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    expect(fake.written[1]![0]).toBe(1);
    expect(port.stats.txBytes).toBe(120);
  });

  it('close sends what it can and counts the rest', async () => {
    const port = openTap('fake5');
    fake.budget = 1;
    port.send(frame(1), 0, 60, -1);
    port.send(frame(2), 0, 60, -1);
    await port.close();
    expect(port.stats.txFrames).toBe(1);
    expect(port.stats.drops.closed).toBe(1);
  });
});

describe('TapPort receive', () => {
  function deliver(frames: Uint8Array[], errno = 0): void {
    let pos = 0;
    frames.forEach((f, i) => {
      fake.slab.set(f, pos);
      fake.offsets[i] = pos;
      fake.lengths[i] = f.length;
      pos += f.length;
    });
    fake.onBatch!(frames.length, errno);
  }

  it('hands the same batch object each time and counts frames and bytes', () => {
    const port = openTap('fake6');
    const seen: unknown[] = [];
    port.onReceive = (b, p) => {
      expect(p).toBe(port);
      seen.push(b);
      expect(b.count).toBe(seen.length);
    };
    deliver([frame(1)]);
    deliver([frame(1), frame(2, 100)]);
    expect(seen[0]).toBe(seen[1]);
    expect(port.stats).toMatchObject({ rxFrames: 3, rxBytes: 220 });
  });

  it('reads nothing before a receiver is set', () => {
    fake.onBatch = null;
    const port = openTap('fake8');
    expect(fake.onBatch).toBeNull();
    port.onReceive = () => {};
    expect(fake.onBatch).not.toBeNull();
  });

  it('counts frames nobody takes, handler exceptions, and a read error', () => {
    const port = openTap('fake7');
    port.onReceive = () => {};
    port.onReceive = null;
    deliver([frame(1), frame(2)]);
    expect(port.stats.drops.noReceiver).toBe(2);
    const boom = new Error('boom');
    port.onReceive = () => {
      throw boom;
    };
    expect(() => deliver([frame(1)])).not.toThrow();
    expect(port.stats.drops.handlerError).toBe(1);
    expect(port.lastError).toBe(boom);
    deliver([], 77); // EBADFD: the device was deleted under us
    expect(port.stats.drops['rxError:EBADFD']).toBe(1);
    expect(port.rxErrno).toBe(77);
  });
});
