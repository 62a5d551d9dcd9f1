/**
 * The replay port (src/link/replay.ts) on the virtual clock: recorded and
 * scaled pace keep the capture's gaps, max pace plays everything at once in
 * batches, runts and over-MTU frames reach a Stack and are counted there by
 * name, a truncated file plays its good frames and names the fault, other
 * link types are skipped and counted, and a replay into a Bridge port is
 * learned and forwarded like any frame.
 */
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import type { RxBatch } from '../../src/link/port.js';
import { createReplayPort, ReplayPort, type ReplayOptions } from '../../src/link/replay.js';
import { createStack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { VirtualClock } from '../../src/time/index.js';

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

/** An Ethernet frame of `len` bytes (a runt when < 14: just bytes) from 02:00:00:00:00:<src>, tagged with `id` at the end. */
function frame(len: number, id: number, opts: { dst?: number[]; src?: number; type?: number } = {}): Uint8Array {
  const f = new Uint8Array(len);
  const dst = opts.dst ?? [0x02, 0, 0, 0, 0, 0xee];
  const head = [...dst, 0x02, 0, 0, 0, 0, opts.src ?? 1, (opts.type ?? 0x88b5) >> 8, (opts.type ?? 0x88b5) & 0xff];
  for (let i = 0; i < Math.min(len, head.length); i++) f[i] = head[i]!;
  if (len > 0) f[len - 1] = id & 0xff;
  return f;
}

/** A classic little-endian microsecond pcap. */
function pcap(recs: Array<{ us: number; frame: Uint8Array }>, linkType = 1): Uint8Array {
  const size = 24 + recs.reduce((n, r) => n + 16 + r.frame.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, linkType, true);
  let off = 24;
  for (const r of recs) {
    v.setUint32(off, 1_700_000_000 + Math.floor(r.us / 1e6), true);
    v.setUint32(off + 4, r.us % 1e6, true);
    v.setUint32(off + 8, r.frame.length, true);
    v.setUint32(off + 12, r.frame.length, true);
    out.set(r.frame, off + 16);
    off += 16 + r.frame.length;
  }
  return out;
}

/** A little-endian pcapng: one interface per link type, then EPBs (microsecond timestamps). */
function pcapng(linkTypes: number[], recs: Array<{ ifc: number; us: number; frame: Uint8Array; flags?: number }>): Uint8Array {
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array): void => {
    const len = 12 + ((body.length + 3) & ~3);
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, type, true);
    v.setUint32(4, len, true);
    b.set(body, 8);
    v.setUint32(len - 4, len, true);
    blocks.push(b);
  };
  const shb = new Uint8Array(16);
  new DataView(shb.buffer).setUint32(0, 0x1a2b3c4d, true);
  new DataView(shb.buffer).setUint16(4, 1, true);
  new DataView(shb.buffer).setBigInt64(8, -1n, true);
  block(0x0a0d0d0a, shb);
  for (const lt of linkTypes) {
    const idb = new Uint8Array(8);
    new DataView(idb.buffer).setUint16(0, lt, true);
    new DataView(idb.buffer).setUint32(4, 65535, true);
    block(1, idb);
  }
  for (const r of recs) {
    const padded = (r.frame.length + 3) & ~3;
    const body = new Uint8Array(20 + padded + (r.flags === undefined ? 0 : 12));
    const v = new DataView(body.buffer);
    const ts = BigInt(1_700_000_000_000_000 + r.us);
    v.setUint32(0, r.ifc, true);
    v.setUint32(4, Number(ts >> 32n), true);
    v.setUint32(8, Number(ts & 0xffffffffn), true);
    v.setUint32(12, r.frame.length, true);
    v.setUint32(16, r.frame.length, true);
    body.set(r.frame, 20);
    if (r.flags !== undefined) {
      v.setUint16(20 + padded, 2, true); // epb_flags
      v.setUint16(22 + padded, 4, true);
      v.setUint32(24 + padded, r.flags, true); // then opt_endofopt, already zero
    }
    block(6, body);
  }
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of blocks) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

function mustOpen(bytes: Uint8Array, opts: ReplayOptions): ReplayPort {
  const r = createReplayPort(bytes, opts);
  if (r instanceof Error) throw r;
  return r;
}

interface Arrival {
  at: number;
  ids: number[];
  lens: number[];
}

/** Records each batch: when it came and the last byte (the id) and length of each frame. */
function listen(port: ReplayPort, clock: VirtualClock): Arrival[] {
  const got: Arrival[] = [];
  port.onReceive = (b: RxBatch) => {
    const ids: number[] = [];
    const lens: number[] = [];
    for (let i = 0; i < b.count; i++) {
      lens.push(b.lengths[i]!);
      ids.push(b.buf[b.offsets[i]! + b.lengths[i]! - 1]!);
    }
    got.push({ at: clock.now(), ids, lens });
  };
  return got;
}

const GAPS_US = [0, 10_000, 10_000, 25_000, 1_000_000];
const timed = pcap(GAPS_US.map((us, i) => ({ us: 5_000_000 + us, frame: frame(64, i + 1) })));

describe('ReplayPort pace', () => {
  it('recorded: each frame arrives at its recorded time after the start; frames due together are one batch', async () => {
    const clock = new VirtualClock({ startMs: 100 });
    const port = mustOpen(timed, { clock });
    const got = listen(port, clock);
    const done = port.start();
    clock.advance(9.9);
    expect(got.map((g) => g.at)).toEqual([100]);
    clock.runUntilIdle();
    expect(got).toEqual([
      { at: 100, ids: [1], lens: [64] },
      { at: 110, ids: [2, 3], lens: [64, 64] },
      { at: 125, ids: [4], lens: [64] },
      { at: 1100, ids: [5], lens: [64] },
    ]);
    const stats = await done;
    expect(stats).toMatchObject({ frames: 5, framesPlayed: 5, bytesPlayed: 320, skipped: 0, noReceiver: 0, fault: undefined, stoppedEarly: false, durationMs: 1000 });
    expect(port.stats.rxFrames).toBe(5);
  });

  it('recorded: frames due at the same fractional millisecond stay one batch (no rounding between deadline and due time)', () => {
    const clock = new VirtualClock({ startMs: 0.1 });
    const file = pcap([0, 100, 100, 300, 300].map((us, i) => ({ us, frame: frame(64, i + 1) })));
    const port = mustOpen(file, { clock });
    const got = listen(port, clock);
    port.start();
    clock.runUntilIdle();
    expect(got.map((g) => g.ids)).toEqual([[1], [2, 3], [4, 5]]);
    expect(got[2]!.at).toBeCloseTo(0.4, 9);
  });

  it('scaled: the gaps times the factor', () => {
    const clock = new VirtualClock();
    const port = mustOpen(timed, { clock, pace: 'scaled', scale: 2 });
    const got = listen(port, clock);
    port.start();
    clock.runUntilIdle();
    expect(got.map((g) => [g.at, g.ids])).toEqual([[0, [1]], [20, [2, 3]], [50, [4]], [2000, [5]]]);
    const fast = mustOpen(timed, { clock, pace: 'scaled', scale: 0.5 });
    const got2 = listen(fast, clock);
    fast.start();
    clock.runUntilIdle();
    expect(got2.map((g) => g.at - 2000)).toEqual([0, 5, 12.5, 500]);
  });

  it('max: everything at the start, in batches of batchFrames, one per tick', async () => {
    const clock = new VirtualClock();
    const recs = Array.from({ length: 200 }, (_, i) => ({ us: i * 1_000_000, frame: frame(60, i) }));
    const port = mustOpen(pcap(recs), { clock, pace: 'max' });
    const got = listen(port, clock);
    port.start();
    expect(got).toEqual([]); // never inside start()
    clock.advance(0);
    expect(got.map((g) => g.ids.length)).toEqual([64, 64, 64, 8]);
    expect(got.every((g) => g.at === 0)).toBe(true);
    expect(got.flatMap((g) => g.ids)).toEqual(recs.map((_, i) => i & 0xff));
    expect((await port.done).framesPlayed).toBe(200);
    const small = mustOpen(pcap(recs.slice(0, 10)), { clock, pace: 'max', batchFrames: 3 });
    const got2 = listen(small, clock);
    small.start();
    clock.advance(0);
    expect(got2.map((g) => g.ids.length)).toEqual([3, 3, 3, 1]);
  });

  it('refuses bad options and an unreadable file with an Error, never a throw', () => {
    const clock = new VirtualClock();
    expect(String(createReplayPort(timed, { clock, pace: 'scaled' }))).toMatch(/pace scaled needs a scale above 0/);
    expect(String(createReplayPort(timed, { clock, pace: 'scaled', scale: -1 }))).toMatch(/got -1/);
    expect(String(createReplayPort(timed, { clock, pace: 'max', scale: 3 }))).toMatch(/goes with pace scaled/);
    expect(String(createReplayPort(timed, { clock, pace: 'fast' as never }))).toMatch(/pace fast is not one of recorded, scaled, max/);
    expect(String(createReplayPort(new Uint8Array([1, 2, 3, 4, 5]), { clock }))).toMatch(/not a capture wirelab can replay: pcap: unsupported: magic number 0x01020304/);
    expect(String(createReplayPort(timed.subarray(0, 10), { clock }))).toMatch(/file header needs 24 bytes/);
  });
});

describe('ReplayPort faults, link types, receive-only', () => {
  it('a truncated capture plays its complete frames and names where it stopped', async () => {
    const clock = new VirtualClock();
    const cut = timed.subarray(0, timed.length - 30); // in the middle of the last record
    const port = mustOpen(cut, { clock, pace: 'max' });
    const got = listen(port, clock);
    port.start();
    clock.runUntilIdle();
    expect(got.flatMap((g) => g.ids)).toEqual([1, 2, 3, 4]);
    const stats = await port.done;
    expect(stats.framesPlayed).toBe(4);
    expect(stats.fault).toMatch(/^pcap: truncated: record at offset \d+ has 64 captured bytes, \d+ left$/);
  });

  it('only Ethernet is played: other link types are skipped and counted by name', async () => {
    const clock = new VirtualClock();
    const file = pcapng([1, 113], [
      { ifc: 0, us: 0, frame: frame(64, 1) },
      { ifc: 1, us: 1, frame: frame(30, 2) },
      { ifc: 0, us: 2, frame: frame(64, 3) },
      { ifc: 1, us: 3, frame: frame(30, 4) },
    ]);
    const port = mustOpen(file, { clock });
    const got = listen(port, clock);
    port.start();
    clock.runUntilIdle();
    expect(got.flatMap((g) => g.ids)).toEqual([1, 3]);
    expect(await port.done).toMatchObject({ frames: 2, framesPlayed: 2, skipped: 2, skippedLinkTypes: { 'LINUX_SLL (113)': 2 } });
    const raw = mustOpen(pcap([{ us: 0, frame: frame(40, 1) }], 101), { clock });
    raw.start();
    expect(await raw.done).toMatchObject({ frames: 0, framesPlayed: 0, skipped: 1, skippedLinkTypes: { 'RAW (101)': 1 } });
    const odd = mustOpen(pcap([{ us: 0, frame: frame(40, 1) }], 147), { clock });
    expect(odd.replayStats.skippedLinkTypes).toEqual({ 'linktype 147': 1 });
  });

  it('direction out|in plays only the frames pcapng marks so (epb_flags); frames without a direction always play', async () => {
    const clock = new VirtualClock();
    const file = pcapng([1], [
      { ifc: 0, us: 0, frame: frame(61, 1), flags: 2 }, // sent by the capturing interface
      { ifc: 0, us: 1, frame: frame(62, 2), flags: 1 }, // received
      { ifc: 0, us: 2, frame: frame(63, 3) }, // no direction
      { ifc: 0, us: 3, frame: frame(64, 4), flags: 0x100 | 2 }, // outbound, other bits set
    ]);
    const ids = async (direction?: 'all' | 'out' | 'in'): Promise<[number[], number]> => {
      const port = mustOpen(file, { clock, pace: 'max', ...(direction !== undefined ? { direction } : {}) });
      const got = listen(port, clock);
      port.start();
      clock.runUntilIdle();
      return [got.flatMap((g) => g.ids), (await port.done).skippedDirection];
    };
    expect(await ids()).toEqual([[1, 2, 3, 4], 0]);
    expect(await ids('out')).toEqual([[1, 3, 4], 1]);
    expect(await ids('in')).toEqual([[2, 3], 2]);
    expect(String(createReplayPort(file, { clock, direction: 'up' as never }))).toMatch(/direction up is not one of all, out, in/);
  });

  it('frames are views into the file: nothing copied', () => {
    const clock = new VirtualClock();
    const port = mustOpen(timed, { clock, pace: 'max' });
    let seen: RxBatch | undefined;
    port.onReceive = (b) => (seen = b);
    port.start();
    clock.advance(0);
    expect(seen!.buf).toBe(timed);
    expect(seen!.offsets[0]).toBe(24 + 16);
  });

  it('send() drops and counts; frames with no receiver are counted; close() stops early', async () => {
    const clock = new VirtualClock();
    const port = mustOpen(timed, { clock });
    expect(port.send(new Uint8Array(64), 0, 64, -1)).toBe(false);
    expect(port.stats.drops.receiveOnly).toBe(1);
    port.start();
    clock.advance(0); // frame 1: nobody listening
    const got = listen(port, clock);
    clock.advance(20); // frames 2 and 3
    await port.close();
    clock.runUntilIdle();
    expect(got.flatMap((g) => g.ids)).toEqual([2, 3]);
    expect(await port.done).toMatchObject({ framesPlayed: 2, noReceiver: 1, stoppedEarly: true });
    expect(port.stats.drops.noReceiver).toBe(1);
  });

  it('a receiver that throws does not stop the replay: the error reaches the clock, the next batch still comes', () => {
    const clock = new VirtualClock();
    const port = mustOpen(timed, { clock });
    const at: number[] = [];
    port.onReceive = () => {
      at.push(clock.now());
      if (at.length === 1) throw new Error('boom');
    };
    port.start();
    expect(() => clock.advance(0)).toThrow('boom');
    clock.runUntilIdle();
    expect(at).toEqual([0, 10, 25, 1000]);
  });
});

describe('ReplayPort into a Stack and a Bridge', () => {
  it('runts and over-MTU frames are delivered as recorded, then dropped by the Stack with their reasons', async () => {
    const clock = new VirtualClock();
    const file = pcap([
      { us: 0, frame: frame(10, 1) }, // shorter than an Ethernet header
      { us: 1, frame: frame(2000, 2, { dst: BROADCAST, type: 0x0800 }) }, // over a 1500 MTU
      { us: 2, frame: frame(30, 3, { dst: BROADCAST, type: 0x0800 }) }, // under 60: a runt a TAP would pad; its IPv4 header is cut
    ]);
    const port = mustOpen(file, { clock, pace: 'max' });
    const host = createStack({ clock, name: 'h' });
    const iface = host.addInterface(port, { addresses: ['10.0.0.2/24'], mtu: 1500 });
    expect(port.stats.drops.receiveOnly).toBe(1); // the gratuitous ARP of addInterface
    port.start();
    clock.runUntilIdle();
    expect((await port.done).framesPlayed).toBe(3);
    expect(iface.stats.rxFrames).toBe(3);
    expect(iface.stats.rxBytes).toBe(2040);
    expect(iface.stats.drops.runt).toBe(1);
    const ip = host.stats().ip as { drops: Record<string, number> };
    expect(ip.drops.oversize).toBe(1);
    expect(ip.drops.truncated).toBe(1);
  });

  it('into a Bridge port: learned, forwarded and counted like any frame; frames toward it are refused (receive-only)', async () => {
    const clock = new VirtualClock();
    const bridge = new Bridge({ clock });
    const file = pcap([
      { us: 0, frame: frame(64, 1, { dst: BROADCAST, src: 0xa }) },
      { us: 1000, frame: frame(64, 2, { dst: [0x02, 0, 0, 0, 0, 0xb], src: 0xa }) },
      { us: 2000, frame: frame(8, 3) }, // a runt: the bridge's own rule
    ]);
    const port = mustOpen(file, { clock, name: 'rp' });
    bridge.addPort(port);
    const [b, bPeer] = createPipe(clock, { names: ['b', 'b-host'] });
    bridge.addPort(b);
    const atB: number[][] = [];
    bPeer.onReceive = (batch) => {
      const ids: number[] = [];
      for (let i = 0; i < batch.count; i++) ids.push(batch.buf[batch.offsets[i]! + batch.lengths[i]! - 1]!);
      atB.push(ids);
    };
    port.start();
    clock.advance(10); // not runUntilIdle: that would run the FDB's aging to the end
    expect(atB.flat()).toEqual([1, 2]); // broadcast flooded, unknown unicast flooded
    expect(bridge.fdbEntries().map((e) => [e.mac, e.port])).toEqual([[0x02000000000a, 'rp']]);
    const c = bridge.portCounters('rp');
    expect(c).toMatchObject({ rxFrames: 3, rxBytes: 136, floods: 2 });
    expect(c.drops.runt).toBe(1);
    // A frame toward the replay's station: forwarded to the replay port, which refuses it.
    const back = frame(64, 9, { dst: [0x02, 0, 0, 0, 0, 0xa], src: 0xb });
    bPeer.send(back, 0, back.length, -1);
    clock.advance(10);
    expect(port.stats.drops.receiveOnly).toBe(1);
    expect(bridge.portCounters('rp').drops.txFailed).toBe(1);
  });

  it('Bridge.receiveAs: a replay into a port whose receiver is already the bridge (a running lab)', () => {
    const clock = new VirtualClock();
    const bridge = new Bridge({ clock });
    const [a, aPeer] = createPipe(clock, { names: ['a', 'a-host'] });
    const [b, bPeer] = createPipe(clock, { names: ['b', 'b-host'] });
    bridge.addPort(a);
    bridge.addPort(b);
    aPeer.onReceive = () => undefined;
    let atB = 0;
    bPeer.onReceive = (batch) => (atB += batch.count);
    const port = mustOpen(pcap([{ us: 0, frame: frame(64, 1, { dst: BROADCAST, src: 0xa }) }, { us: 5, frame: frame(64, 2, { dst: BROADCAST, src: 0xa }) }]), { clock });
    port.onReceive = (batch) => bridge.receiveAs('a', batch);
    port.start();
    clock.advance(10);
    expect(atB).toBe(2);
    expect(bridge.portCounters('a').rxFrames).toBe(2);
    expect(bridge.fdbEntries()[0]?.port).toBe('a');
    bridge.setPortUp('a', false);
    const again = mustOpen(pcap([{ us: 0, frame: frame(64, 1) }]), { clock });
    again.onReceive = (batch) => bridge.receiveAs('a', batch);
    again.start();
    clock.advance(10);
    expect(bridge.portCounters('a').drops.portDown).toBe(1);
  });
});
