/**
 * TSO/GRO through virtio_net_hdr ports (DESIGN.md, "Large frames stay
 * large"), on the virtual clock. Two stacks are joined by a fake cable whose
 * ends say `vnetHdr: true`, as a TAP opened with IFF_VNET_HDR does: each
 * frame travels with its 10-byte header, so the sender's super-frames can be
 * checked field by field, cut with the GsoSegmenter the way the kernel would,
 * and the resulting MSS segments verified with the wire codecs.
 */
import { describe, expect, it } from 'vitest';
import {
  GsoSegmenter,
  parseVnetHdr,
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_GSO_NONE,
  VNET_HDR_GSO_TCPV4,
} from '../../src/link/gso.js';
import { newPortStats, VNET_HDR_LEN, type Port, type RxBatch, type RxHandler } from '../../src/link/port.js';
import { createStack, type Stack } from '../../src/stack.js';
import { VirtualClock } from '../../src/time/index.js';
import { fold32, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { ipv4ChecksumValid, ipv4Dst, ipv4Src, ipv4TotalLength } from '../../src/wire/ipv4.js';
import { computeTcpChecksum, tcpChecksum, tcpHeaderLength, tcpSeq } from '../../src/wire/tcp.js';
import { A, B, connectPair, pattern, pump, runUntil, sha256, type Pair } from './harness.js';
import type { PipePort } from '../../src/link/pipe.js';

/** One end of a cable that carries a virtio_net_hdr with every frame. */
class VnetEnd implements Port {
  readonly stats = newPortStats();
  readonly vnetHdr = true;
  onReceive: RxHandler | null = null;
  peer!: VnetEnd;
  /** Every frame sent, as [10-byte header | frame] (a plain frame gets a zero header, as the TAP gives it). */
  readonly sent: Uint8Array[] = [];
  /** Deliver GSO frames to the peer cut into MSS frames (a kernel in between) instead of whole. */
  segmentOnDelivery = false;
  /** Drops the frame when it returns true (before delivery; it is still recorded in `sent`). */
  drop: ((hdrAndFrame: Uint8Array) => boolean) | null = null;
  private queue: Uint8Array[] = [];
  private scheduled = false;
  private readonly segmenter = new GsoSegmenter();

  constructor(
    readonly name: string,
    private readonly clock: VirtualClock,
  ) {}

  send(buf: Uint8Array, off: number, len: number, vnetOff: number): boolean {
    const f = new Uint8Array(VNET_HDR_LEN + len);
    if (vnetOff >= 0) f.set(buf.subarray(vnetOff, vnetOff + VNET_HDR_LEN), 0);
    f.set(buf.subarray(off, off + len), VNET_HDR_LEN);
    this.sent.push(f);
    this.stats.txFrames++;
    this.stats.txBytes += len;
    if (this.drop?.(f)) return true;
    if (this.segmentOnDelivery && f[1] !== VNET_HDR_GSO_NONE) {
      const n = this.segmenter.segment(f, 0, VNET_HDR_LEN, len);
      expect(n, String(this.segmenter.reason)).toBeGreaterThan(0);
      for (let i = 0; i < n; i++) {
        const o = this.segmenter.offsets[i]!;
        const l = this.segmenter.lengths[i]!;
        const plain = new Uint8Array(VNET_HDR_LEN + l);
        plain.set(this.segmenter.out.subarray(o, o + l), VNET_HDR_LEN);
        this.queue.push(plain);
      }
    } else {
      this.queue.push(f);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.clock.timers.setTimeout(() => this.deliver(), 0);
    }
    return true;
  }

  private deliver(): void {
    this.scheduled = false;
    const frames = this.queue;
    this.queue = [];
    const total = frames.reduce((s, f) => s + f.length, 0);
    const buf = new Uint8Array(total);
    const offsets = new Uint32Array(frames.length);
    const lengths = new Uint32Array(frames.length);
    let at = 0;
    frames.forEach((f, i) => {
      buf.set(f, at);
      offsets[i] = at + VNET_HDR_LEN;
      lengths[i] = f.length - VNET_HDR_LEN;
      at += f.length;
    });
    const batch: RxBatch = { buf, offsets, lengths, count: frames.length, vnetHdr: true };
    const peer = this.peer;
    peer.stats.rxFrames += frames.length;
    peer.onReceive?.(batch, peer);
  }

  flush(): void {}
  async close(): Promise<void> {}
}

function vnetPair(): Pair & { ea: VnetEnd; eb: VnetEnd } {
  const clock = new VirtualClock();
  const ea = new VnetEnd('va', clock);
  const eb = new VnetEnd('vb', clock);
  ea.peer = eb;
  eb.peer = ea;
  const a: Stack = createStack({ clock, name: 'a', seed: 1 });
  const b: Stack = createStack({ clock, name: 'b', seed: 2 });
  a.addInterface(ea, { addresses: ['10.0.0.1/24'], announce: false });
  b.addInterface(eb, { addresses: ['10.0.0.2/24'], announce: false });
  a.neighbours.addPermanent(B, b.interfaces[0]!.mac, 'eth0');
  b.neighbours.addPermanent(A, a.interfaces[0]!.mac, 'eth0');
  return { clock, a, b, pa: ea as unknown as PipePort, pb: eb as unknown as PipePort, ea, eb };
}

function transfer(p: Pair, n: number): { data: Uint8Array; got: string; mss: number } {
  const { client, server, cc } = connectPair(p);
  server.keepChunks = false;
  const data = pattern(n, 7);
  const st = { off: 0 };
  client.onWritable = () => pump(cc, data, st, true);
  pump(cc, data, st, true);
  runUntil(p.clock, () => server.fin, 120_000, 1);
  return { data, got: server.digest(), mss: cc.mss };
}

/** Checks one GSO super-frame ([hdr | frame]) and cuts it as the kernel would; returns the payload bytes it carried. */
function checkSuperFrame(f: Uint8Array, seg: GsoSegmenter, mss: number): number {
  const h = parseVnetHdr(f, 0);
  const frame = f.subarray(VNET_HDR_LEN);
  const ip = 14;
  const l4 = ip + 20;
  const thl = tcpHeaderLength(frame, l4);
  const total = ipv4TotalLength(frame, ip);
  expect(frame.length).toBe(14 + total);
  expect(frame.length).toBeGreaterThan(1514);
  expect(total).toBeLessThanOrEqual(65535);
  expect(h.flags).toBe(VNET_HDR_F_NEEDS_CSUM);
  expect(h.gsoType).toBe(VNET_HDR_GSO_TCPV4);
  expect(h.gsoSize).toBe(mss);
  expect(h.hdrLen).toBe(l4 + thl);
  expect(h.csumStart).toBe(l4);
  expect(h.csumOffset).toBe(16);
  expect(ipv4ChecksumValid(frame, ip, 20)).toBe(true);
  const payload = total - 20 - thl;
  expect(payload % mss).toBe(0); // Nagle keeps the sub-MSS tail out of super-frames
  // Linux's partial checksum: the folded pseudo-header sum with the super-frame's L4 length.
  const src = ipv4Src(frame, ip);
  const dst = ipv4Dst(frame, ip);
  expect(tcpChecksum(frame, l4)).toBe(fold32(pseudoHeaderSum(src, dst, 6, total - 20)));

  const n = seg.segment(f, 0, VNET_HDR_LEN, frame.length);
  expect(n, String(seg.reason)).toBe(Math.ceil(payload / mss));
  const seq0 = tcpSeq(frame, l4);
  let carried = 0;
  for (let i = 0; i < n; i++) {
    const s = seg.out.subarray(seg.offsets[i]!, seg.offsets[i]! + seg.lengths[i]!);
    expect(s.length).toBeLessThanOrEqual(1514);
    const stotal = ipv4TotalLength(s, ip);
    expect(ipv4ChecksumValid(s, ip, 20)).toBe(true);
    const tcp = s.subarray(l4, 14 + stotal);
    expect(computeTcpChecksum(tcp, { src, dst })).toBe(tcpChecksum(tcp));
    expect(tcpSeq(tcp)).toBe((seq0 + carried) >>> 0);
    const len = tcp.length - tcpHeaderLength(tcp);
    expect(len).toBe(Math.min(mss, payload - carried));
    expect(sha256(tcp.subarray(tcpHeaderLength(tcp)))).toBe(
      sha256(frame.subarray(l4 + thl + carried, l4 + thl + carried + len)),
    );
    carried += len;
  }
  return carried;
}

describe('TSO/GRO over vnet_hdr ports', () => {
  it('sends super-frames with correct virtio headers that the segmenter cuts into valid MSS segments; the peer takes them whole', () => {
    const p = vnetPair();
    const { data, got, mss } = transfer(p, 4 << 20);
    expect(got).toBe(sha256(data));
    expect(mss).toBe(1448);
    const seg = new GsoSegmenter();
    let superFrames = 0;
    let plainFrames = 0;
    for (const f of p.ea.sent) {
      if (f[1] === VNET_HDR_GSO_NONE) {
        // Frames without GSO carry a zero header and are MTU-sized with a full checksum.
        expect([...f.subarray(0, VNET_HDR_LEN)]).toEqual(new Array(VNET_HDR_LEN).fill(0));
        expect(f.length - VNET_HDR_LEN).toBeLessThanOrEqual(1514);
        const fr = f.subarray(VNET_HDR_LEN);
        if (fr[12] === 0x08 && fr[13] === 0x00 && fr[23] === 6) {
          const tcp = fr.subarray(34, 14 + ipv4TotalLength(fr, 14));
          expect(computeTcpChecksum(tcp, { src: ipv4Src(fr, 14), dst: ipv4Dst(fr, 14) })).toBe(tcpChecksum(tcp));
        }
        plainFrames++;
        continue;
      }
      checkSuperFrame(f, seg, mss);
      superFrames++;
    }
    expect(superFrames).toBeGreaterThan(20);
    // Most of the bytes went as super-frames: far fewer frames than MSS segments.
    expect(superFrames + plainFrames).toBeLessThan((4 << 20) / mss / 4);
    expect(p.a.ip.stats.outGsoFrames).toBe(superFrames);
    // The receiver took them whole (GRO-like), trusting NEEDS_CSUM.
    expect(p.b.ip.stats.inGsoFrames).toBe(superFrames);
    expect(p.b.tcpLayer.stats.drops['badChecksum'] ?? 0).toBe(0);
  });

  it('interoperates with a receiver that sees the kernel-cut MSS segments, and recovers from a lost super-frame', () => {
    const p = vnetPair();
    p.ea.segmentOnDelivery = true;
    let gsoSeen = 0;
    p.ea.drop = (f) => f[1] === VNET_HDR_GSO_TCPV4 && ++gsoSeen === 10;
    const { data, got } = transfer(p, 3 << 20);
    expect(got).toBe(sha256(data));
    expect(gsoSeen).toBeGreaterThan(10);
    expect(p.b.ip.stats.inGsoFrames).toBe(0);
    expect(p.a.tcpLayer.stats.retransSegs).toBeGreaterThan(0);
  });

  it('a super-frame with a NEEDS_CSUM partial checksum is delivered to TCP, larger than the MTU', () => {
    const p = vnetPair();
    // B → A: the receiving side A sees super-frames from B.
    const { server, client, sc } = connectPair(p);
    void client;
    void server;
    const data = pattern(1 << 20, 3);
    const st = { off: 0 };
    const c = sc();
    const rec = { bytes: 0 };
    client.keepChunks = false;
    client.onData = (chunk) => (rec.bytes += chunk.length);
    server.onWritable = () => pump(c, data, st);
    pump(c, data, st);
    runUntil(p.clock, () => rec.bytes === data.length, 60_000, 1);
    expect(p.a.ip.stats.inGsoFrames).toBeGreaterThan(0);
    expect(p.eb.sent.some((f) => f.length - VNET_HDR_LEN > 1514)).toBe(true);
  });
});
