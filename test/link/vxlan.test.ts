/**
 * The VXLAN port (src/link/vxlan.ts) on the virtual clock: two bridges joined
 * over a wirelab UDP underlay (encapsulation both ways, a ping and a
 * fragmented ping across); then, on a recording underlay, the header bytes,
 * head-end replication, learning and aging, VNI and flag checks, malformed
 * datagrams as counters, the MTU with ICMP frag-needed, and GSO frames cut
 * before encapsulation.
 */
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { writeVnetHdr, VNET_HDR_GSO_TCPV4, VNET_HDR_F_NEEDS_CSUM } from '../../src/link/gso.js';
import type { RxBatch } from '../../src/link/port.js';
import { VxlanPort } from '../../src/link/vxlan.js';
import { dgramUnderlay, type VxlanUnderlay } from '../../src/link/vxlan-underlay.js';
import { createStack, type Stack } from '../../src/stack.js';
import { Bridge } from '../../src/switch/bridge.js';
import { VirtualClock } from '../../src/time/index.js';
import { decodeIcmp } from '../../src/wire/icmp.js';
import { vxlanVni } from '../../src/wire/vxlan.js';

async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 10_000): Promise<T> {
  let done = false;
  const guarded = p.finally(() => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) {
    clock.advance(10);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
  return guarded;
}

/** One "machine": an underlay host, a bridge with a VXLAN port, an overlay host on the bridge. */
function machine(clock: VirtualClock, underlayHost: Stack, me: string, peer: string, overlayIp: string): { vx: VxlanPort; host: Stack } {
  const sock = underlayHost.udp.createSocket();
  sock.bind(4789, me);
  const vx = new VxlanPort({ clock, underlay: dgramUnderlay(sock, { reuseBuffer: true }), vni: 42, remotes: [peer] });
  const br = new Bridge({ clock });
  br.addPort(vx);
  const [h, s] = createPipe(clock);
  br.addPort(s);
  const host = createStack({ clock, name: overlayIp });
  host.addInterface(h, { addresses: [`${overlayIp}/24`], mtu: vx.mtu });
  return { vx, host };
}

describe('VxlanPort over a wirelab underlay', () => {
  it('carries a ping and a fragmented ping between two bridges, learning each side', async () => {
    const clock = new VirtualClock();
    const [ua, ub] = createPipe(clock);
    const u1 = createStack({ clock, name: 'u1' });
    const u2 = createStack({ clock, name: 'u2' });
    u1.addInterface(ua, { addresses: ['10.0.0.1/24'] });
    u2.addInterface(ub, { addresses: ['10.0.0.2/24'] });
    const m1 = machine(clock, u1, '10.0.0.1', '10.0.0.2', '192.168.7.1');
    const m2 = machine(clock, u2, '10.0.0.2', '10.0.0.1', '192.168.7.2');
    const r = await settle(clock, m1.host.icmp.ping('192.168.7.2'));
    expect(r.from).toBe('192.168.7.2');
    const big = await settle(clock, m1.host.icmp.ping('192.168.7.2', { size: 3000 }));
    expect(big.from).toBe('192.168.7.2');
    expect(m1.vx.mtu).toBe(1450);
    expect(m1.vx.learned().map((e) => e.dst)).toEqual(['10.0.0.2']);
    expect(m2.vx.learned().map((e) => e.dst)).toEqual(['10.0.0.1']);
    const [remote] = m1.vx.remotes();
    expect(remote!.txFrames).toBeGreaterThanOrEqual(4);
    expect(remote!.rxFrames).toBeGreaterThanOrEqual(4);
    expect(m1.vx.stats.drops).toEqual({});
    await m1.vx.close();
    await m2.vx.close();
  });
});

interface Sent {
  bytes: Uint8Array;
  address: string;
  port: number;
}

/** An underlay that records what is sent and lets the test deliver datagrams. */
function recorder(): VxlanUnderlay & { sent: Sent[]; deliver(bytes: Uint8Array, from: string): void } {
  const u = {
    sent: [] as Sent[],
    onMessage: null as VxlanUnderlay['onMessage'],
    stats: { sendErrors: 0, socketErrors: 0 },
    buffer: (len: number) => new Uint8Array(len),
    send(buf: Uint8Array, len: number, address: string, port: number) {
      u.sent.push({ bytes: buf.slice(0, len), address, port });
    },
    deliver(bytes: Uint8Array, from: string) {
      u.onMessage?.(bytes, from, 40000);
    },
    close: () => Promise.resolve(),
  };
  return u;
}

function mac(n: number): number[] {
  return [0x02, 0, 0, 0, 0, n];
}

function eth(dst: number[], src: number[], payload = 46, type = 0x0800): Uint8Array {
  const f = new Uint8Array(14 + payload);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

function vxlan(vni: number, frame: Uint8Array, flags = 0x08): Uint8Array {
  const d = new Uint8Array(8 + frame.length);
  d[0] = flags;
  d[4] = vni >> 16;
  d[5] = (vni >> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(frame, 8);
  return d;
}

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function port(clock: VirtualClock, more: Partial<ConstructorParameters<typeof VxlanPort>[0]> = {}) {
  const u = recorder();
  const vx = new VxlanPort({ clock, underlay: u, vni: 0x123456, remotes: ['10.1.0.2', '10.1.0.3'], ...more });
  const got: Uint8Array[][] = [];
  vx.onReceive = (b: RxBatch) => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < b.count; i++) frames.push(b.buf.slice(b.offsets[i]!, b.offsets[i]! + b.lengths[i]!));
    got.push(frames);
  };
  return { u, vx, got };
}

describe('VxlanPort', () => {
  it('writes the 8-byte header (I flag, VNI) and replicates broadcast and unknown unicast to every remote', () => {
    const clock = new VirtualClock();
    const { u, vx } = port(clock);
    const f = eth(BCAST, mac(1));
    expect(vx.send(f, 0, f.length, -1)).toBe(true);
    expect(u.sent.map((s) => `${s.address}:${s.port}`)).toEqual(['10.1.0.2:4789', '10.1.0.3:4789']);
    const d = u.sent[0]!.bytes;
    expect([...d.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    expect(vxlanVni(d, 0)).toBe(0x123456);
    expect(d.subarray(8)).toEqual(f);
    const unknown = eth(mac(9), mac(1));
    vx.send(unknown, 0, unknown.length, -1);
    expect(u.sent.length).toBe(4);
    expect(vx.remotes().map((r) => r.txFrames)).toEqual([2, 2]);
    expect(vx.stats).toMatchObject({ txFrames: 2, txBytes: 120 });
  });

  it('learns inner source MACs per VTEP, sends known unicast to one VTEP, and ages them out', () => {
    const clock = new VirtualClock();
    const { u, vx, got } = port(clock, { agingMs: 1000 });
    u.deliver(vxlan(0x123456, eth(BCAST, mac(7))), '10.1.0.3');
    expect(got).toEqual([]); // delivered on the clock, never inside the socket callback
    clock.advance(0);
    expect(got.length).toBe(1);
    expect(vx.learned()).toEqual([{ mac: '02:00:00:00:00:07', dst: '10.1.0.3', ageMs: 0 }]);
    const f = eth(mac(7), mac(1));
    vx.send(f, 0, f.length, -1);
    expect(u.sent.map((s) => s.address)).toEqual(['10.1.0.3']);
    // It moves when heard from the other VTEP.
    u.deliver(vxlan(0x123456, eth(mac(1), mac(7))), '10.1.0.2');
    expect(vx.learned()[0]!.dst).toBe('10.1.0.2');
    expect(vx.learnStats).toMatchObject({ learned: 1, moved: 1 });
    clock.advance(1001);
    vx.send(f, 0, f.length, -1);
    expect(u.sent.slice(1).map((s) => s.address)).toEqual(['10.1.0.2', '10.1.0.3']); // flooded again
    expect(vx.learnStats.expired).toBe(1);
    expect(vx.remotes().map((r) => r.rxFrames)).toEqual([1, 1]);
  });

  it('counts, never throws on, malformed datagrams: short, I flag unset, wrong VNI, runt, unknown source', () => {
    const clock = new VirtualClock();
    const { u, vx, got } = port(clock);
    const good = eth(BCAST, mac(3));
    expect(() => {
      u.deliver(new Uint8Array(0), '10.1.0.2');
      u.deliver(new Uint8Array(7), '10.1.0.2');
      u.deliver(vxlan(0x123456, good, 0x00), '10.1.0.2');
      u.deliver(vxlan(0x123456, good, 0x80), '10.1.0.2');
      u.deliver(vxlan(0x123457, good), '10.1.0.2');
      u.deliver(vxlan(0x123456, new Uint8Array(13)), '10.1.0.2');
      u.deliver(vxlan(0x123456, good), '10.9.9.9');
      u.deliver(vxlan(0x123456, good, 0x0c), '10.1.0.2'); // reserved bits are ignored
    }).not.toThrow();
    clock.advance(0);
    expect(vx.stats.drops).toEqual({ vxlanShort: 2, vxlanNoVni: 2, vxlanWrongVni: 1, runt: 1, unknownRemote: 1 });
    expect(got.flat().length).toBe(1);
    expect(vx.stats.rxFrames).toBe(1);
    expect(vx.learned().length).toBe(1);
  });

  it('drops frames over the overlay MTU, answering DF IPv4 with ICMP frag-needed carrying the MTU', () => {
    const clock = new VirtualClock();
    const { u, vx, got } = port(clock, { underlayMtu: 1500 });
    expect(vx.mtu).toBe(1450);
    const ok = eth(mac(2), mac(1), 1450);
    expect(vx.send(ok, 0, ok.length, -1)).toBe(true);
    const big = eth(mac(2), mac(1), 1451);
    big.set([0x45, 0, 1451 >> 8, 1451 & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2], 14);
    expect(vx.send(big, 0, big.length, -1)).toBe(false);
    expect(vx.stats.drops.oversize).toBe(1);
    expect(u.sent.length).toBe(2); // only the fitting frame, to both remotes
    clock.advance(0);
    const answer = got.flat()[0]!;
    expect([...answer.subarray(0, 12)]).toEqual([...mac(1), ...mac(2)]);
    expect([...answer.subarray(26, 34)]).toEqual([10, 7, 0, 2, 10, 7, 0, 1]);
    const icmp = decodeIcmp(answer.subarray(34));
    expect(icmp.ok && icmp.value).toMatchObject({ type: 3, code: 4, nextHopMtu: 1450 });
    // DF clear: dropped, no answer.
    big[20] = 0;
    vx.send(big, 0, big.length, -1);
    clock.advance(0);
    expect(vx.stats.drops.oversize).toBe(2);
    expect(vx.pmtuAnswers).toBe(1);
  });

  it('cuts a GSO super-frame into MTU-sized frames before encapsulating', () => {
    const clock = new VirtualClock();
    const { u, vx } = port(clock, { remotes: ['10.1.0.2'] });
    const payload = 4000;
    const ipLen = 20 + 20 + payload;
    const buf = new Uint8Array(10 + 14 + ipLen);
    writeVnetHdr({ flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1398, csumStart: 34, csumOffset: 16 }, buf, 0);
    const f = buf.subarray(10);
    f.set([...mac(2), ...mac(1), 0x08, 0x00]);
    f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2], 14);
    f.set([0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff], 34);
    expect(vx.send(buf, 10, f.length, 0)).toBe(true);
    expect(u.sent.map((s) => s.bytes.length - 8)).toEqual([14 + 40 + 1398, 14 + 40 + 1398, 14 + 40 + 1204]);
    expect(vx.stats.drops).toEqual({});
  });
});
