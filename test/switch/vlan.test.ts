/**
 * VLANs on the bridge with exact bytes: access/trunk in all four directions,
 * PCP and DEI preserved, priority-tagged frames, native VLAN, the allowed
 * list, every ingress drop reason, stacked tags, and the virtio_net_hdr
 * carried in front of rewritten frames with csum_start moved by ±4.
 */
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { PortVlan, validateVlanConfig, type PortVlanConfig } from '../../src/switch/vlan.js';
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_GSO_TCPV4, parseVnetHdr, writeVnetHdr } from '../../src/link/gso.js';
import { VirtualClock } from '../../src/time/index.js';
import { BROADCAST, FakePort, frame, hex, mac } from './helpers.js';

function setup(configs: Record<string, PortVlanConfig>) {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock });
  const ports: Record<string, FakePort> = {};
  for (const [name, cfg] of Object.entries(configs)) {
    const p = new FakePort(name);
    bridge.addPort(p, cfg);
    ports[name] = p;
  }
  return { bridge, ports: ports as Record<string, FakePort> & { [k: string]: FakePort } };
}

const STD = {
  a10: { mode: 'access', pvid: 10 },
  b10: { mode: 'access', pvid: 10 },
  c20: { mode: 'access', pvid: 20 },
  t: { mode: 'trunk', allowed: [10, 20] },
  u: { mode: 'trunk', allowed: [10, 20] },
} satisfies Record<string, PortVlanConfig>;

function only(p: FakePort) {
  const s = p.take();
  expect(s).toHaveLength(1);
  return s[0]!;
}

describe('tagging on egress, exact bytes', () => {
  it('access → access: the same bytes, zero copy', () => {
    const { ports } = setup(STD);
    const f = frame({ dst: BROADCAST, src: mac(1) });
    ports.a10!.inject([f]);
    const s = only(ports.b10!);
    expect(s.frame).toEqual(f);
    expect(s.zeroCopy).toBe(true);
    expect(ports.c20!.take()).toEqual([]);
  });

  it('access → trunk: a tag 0x8100, PCP 0, VID 10 is pushed after the MACs', () => {
    const { ports } = setup(STD);
    const f = frame({ dst: BROADCAST, src: mac(1), payload: 4 });
    ports.a10!.inject([f]);
    const s = only(ports.t!);
    expect(hex(s.frame)).toBe('ffffffffffff' + '020000000001' + '8100000a' + '0800' + '00010203');
    expect(s.zeroCopy).toBe(false);
    expect(only(ports.u!).frame).toEqual(s.frame);
  });

  it('trunk → access: the tag is popped; trunk → trunk: the same bytes (PCP and DEI kept), zero copy', () => {
    const { ports } = setup(STD);
    const tagged = frame({ dst: BROADCAST, src: mac(5), tags: [{ vid: 20, pcp: 5, dei: true }], payload: 4 });
    expect(hex(tagged).slice(24, 32)).toBe('8100b014');
    ports.t!.inject([tagged]);
    expect(hex(only(ports.c20!).frame)).toBe('ffffffffffff' + '020000000005' + '0800' + '00010203');
    const s = only(ports.u!);
    expect(s.frame).toEqual(tagged);
    expect(s.zeroCopy).toBe(true);
    expect(ports.a10!.take()).toEqual([]);
    expect(ports.b10!.take()).toEqual([]);
  });

  it('a priority-tagged frame (VID 0) joins the PVID, keeps its PCP when tagged and loses the tag when not', () => {
    const { bridge, ports } = setup(STD);
    const prio = frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 0, pcp: 6 }], payload: 4 });
    ports.a10!.inject([prio]);
    expect(hex(only(ports.t!).frame)).toBe('ffffffffffff020000000001' + '8100c00a' + '0800' + '00010203');
    expect(hex(only(ports.b10!).frame)).toBe('ffffffffffff020000000001' + '0800' + '00010203');
    expect(ports.c20!.take()).toEqual([]);
    expect(bridge.fdbEntries()).toMatchObject([{ mac: mac(1), vid: 10, port: 'a10' }]);
  });

  it('native VLAN: untagged on the trunk joins it, and frames of it leave the trunk untagged', () => {
    const { bridge, ports } = setup({
      a10: { mode: 'access', pvid: 10 },
      c20: { mode: 'access', pvid: 20 },
      n: { mode: 'trunk', allowed: [20], native: 10 },
      t: { mode: 'trunk', allowed: [10, 20] },
    });
    const plain = frame({ dst: BROADCAST, src: mac(7) });
    ports.n!.inject([plain]);
    expect(only(ports.a10!).frame).toEqual(plain);
    expect(hex(only(ports.t!).frame).slice(24, 32)).toBe('8100000a');
    expect(ports.c20!.take()).toEqual([]);
    // VLAN 10 from elsewhere leaves n untagged; VLAN 20 tagged.
    ports.t!.inject([frame({ dst: BROADCAST, src: mac(8), tags: [{ vid: 10, pcp: 3 }] }), frame({ dst: BROADCAST, src: mac(8), tags: [{ vid: 20 }] })]);
    const out = ports.n!.take().map((s) => hex(s.frame).slice(24, 32));
    expect(out).toEqual(['08000001', '81000014']);
    // A frame tagged with the native VID is accepted on the native trunk too.
    ports.n!.inject([frame({ dst: BROADCAST, src: mac(9), tags: [{ vid: 10 }] })]);
    expect(ports.a10!.take()).toHaveLength(2);
    expect(bridge.portCounters('n').drops.vlanNotAllowed).toBe(0);
  });
});

describe('ingress drops by reason', () => {
  it('allowed list, untagged on a trunk, tagged on access, QinQ TPIDs', () => {
    const { bridge, ports } = setup(STD);
    ports.t!.inject([
      frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 30 }] }),
      frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 4095 }] }),
      frame({ dst: BROADCAST, src: mac(1) }),
      frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 0 }] }),
      frame({ dst: BROADCAST, src: mac(1), tags: [{ tpid: 0x88a8, vid: 10 }, { vid: 10 }] }),
      frame({ dst: BROADCAST, src: mac(1), tags: [{ tpid: 0x9100, vid: 10 }] }),
    ]);
    ports.a10!.inject([
      frame({ dst: BROADCAST, src: mac(2), tags: [{ vid: 10 }] }),
      frame({ dst: BROADCAST, src: mac(2), tags: [{ vid: 20 }] }),
      frame({ dst: BROADCAST, src: mac(2), tags: [{ tpid: 0x88a8, vid: 10 }] }),
      frame({ dst: BROADCAST, src: mac(2), tags: [{ tpid: 0x9100, vid: 20 }, { vid: 20 }] }),
    ]);
    for (const p of Object.values(ports)) expect(p.take()).toEqual([]);
    expect(bridge.portCounters('t').drops).toMatchObject({ vlanNotAllowed: 2, untaggedOnTrunk: 2, unsupportedTpid: 2 });
    expect(bridge.portCounters('a10').drops).toMatchObject({ taggedOnAccess: 4 });
    expect(bridge.fdbEntries()).toEqual([]);
  });

  it('a priority tag hiding another tag is dropped; a double tag crosses trunks but never leaves untagged', () => {
    const { bridge, ports } = setup(STD);
    const hidden = frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 0 }, { vid: 20 }] });
    ports.a10!.inject([hidden]);
    ports.t!.inject([hidden]);
    expect(bridge.portCounters('a10').drops.taggedOnAccess).toBe(1);
    expect(bridge.portCounters('t').drops.stackedTag).toBe(1);
    const double = frame({ dst: BROADCAST, src: mac(3), tags: [{ vid: 10 }, { vid: 20 }] });
    ports.t!.inject([double]);
    expect(only(ports.u!).frame).toEqual(double);
    for (const p of Object.values(ports)) expect(p.take()).toEqual([]);
    expect(bridge.portCounters('a10').drops.innerTagExposed).toBe(1);
    expect(bridge.portCounters('b10').drops.innerTagExposed).toBe(1);
  });
});

describe('virtio_net_hdr on rewritten frames', () => {
  const gsoHdr = () => {
    const h = new Uint8Array(10);
    writeVnetHdr({ flags: VNET_HDR_F_NEEDS_CSUM, gsoType: VNET_HDR_GSO_TCPV4, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 }, h, 0);
    return h;
  };

  it('push moves csum_start and hdr_len by +4, pop by -4; unchanged frames keep their header as is', () => {
    const { ports } = setup(STD);
    ports.a10!.inject([frame({ dst: BROADCAST, src: mac(1), payload: 300 })], [gsoHdr()]);
    const pushed = only(ports.t!);
    expect(parseVnetHdr(pushed.vnet!, 0)).toEqual({ flags: 1, gsoType: 1, hdrLen: 70, gsoSize: 1448, csumStart: 38, csumOffset: 16 });
    expect(pushed.frame.length).toBe(318);
    expect(only(ports.u!).vnet).toEqual(pushed.vnet);
    const same = only(ports.b10!);
    expect(same.zeroCopy).toBe(true);
    expect(same.vnet).toEqual(gsoHdr());

    const th = gsoHdr();
    writeVnetHdr({ ...parseVnetHdr(th, 0), csumStart: 38, hdrLen: 70 }, th, 0);
    ports.t!.inject([frame({ dst: BROADCAST, src: mac(2), tags: [{ vid: 10, pcp: 2 }], payload: 300 })], [th]);
    const popped = only(ports.a10!);
    expect(parseVnetHdr(popped.vnet!, 0)).toMatchObject({ csumStart: 34, hdrLen: 66 });
    expect(popped.frame).toEqual(frame({ dst: BROADCAST, src: mac(2), payload: 300 }));
    expect(only(ports.u!).vnet).toEqual(th);
  });

  it('a header without NEEDS_CSUM keeps csum_start; a batch without headers passes vnetOff -1', () => {
    const { ports } = setup(STD);
    const h = new Uint8Array(10); // all zero: no offload
    ports.a10!.inject([frame({ dst: BROADCAST, src: mac(1) })], [h]);
    expect(only(ports.t!).vnet).toEqual(h);
    ports.a10!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    expect(only(ports.t!).vnet).toBeNull();
  });
});

describe('configuration', () => {
  it('validates VLAN ids and normalises the allowed list', () => {
    expect(() => new PortVlan({ mode: 'access', pvid: 0 })).toThrow(/pvid 0/);
    expect(() => new PortVlan({ mode: 'access', pvid: 4095 })).toThrow(/pvid 4095/);
    expect(() => new PortVlan({ mode: 'trunk', allowed: [10, 5000] })).toThrow(/allowed VLAN 5000/);
    expect(() => new PortVlan({ mode: 'trunk', allowed: [10], native: 1.5 })).toThrow(/native VLAN 1.5/);
    expect(validateVlanConfig({ mode: 'trunk', allowed: [20, 10, 20], native: 1 })).toEqual({ mode: 'trunk', allowed: [10, 20], native: 1 });
    expect(new PortVlan({ mode: 'trunk', allowed: [20, 10], native: 1 }).vids).toEqual([1, 10, 20]);
  });

  it('setPortVlan moves a port to another VLAN and forgets what it learned', () => {
    const { bridge, ports } = setup(STD);
    ports.a10!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    bridge.addStaticEntry(mac(11), 10, 'a10');
    for (const p of Object.values(ports)) p.take();
    bridge.setPortVlan('a10', { mode: 'access', pvid: 20 });
    expect(bridge.fdbEntries()).toEqual([]);
    ports.a10!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    expect(only(ports.c20!).frame.length).toBe(60);
    expect(ports.b10!.take()).toEqual([]);
    expect(bridge.ports().find((p) => p.name === 'a10')?.vlan).toEqual({ mode: 'access', pvid: 20 });
  });
});
