/**
 * The bridge's forwarding behaviour on untagged access ports, on the virtual
 * clock with fake ports that record exactly what the bridge sends: learning,
 * flooding to exactly the right ports, no echo, drops by reason, batching
 * (one flush per port per batch, one clock read per batch), port up/down,
 * counters and the text views; then the same through in-memory pipes.
 */
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { createPipe } from '../../src/link/pipe.js';
import type { RxBatch } from '../../src/link/port.js';
import { VirtualClock } from '../../src/time/index.js';
import { BROADCAST, FakePort, frame, mac } from './helpers.js';

function setup(n = 3, opts: { agingMs?: number; maxFdbEntries?: number } = {}) {
  const clock = new VirtualClock();
  const bridge = new Bridge({ clock, ...opts });
  const ports = Array.from({ length: n }, (_, i) => new FakePort(`p${i + 1}`));
  for (const p of ports) bridge.addPort(p);
  return { clock, bridge, ports };
}

/** Names of the ports that sent anything since the last call, clearing their records. */
function receivers(ports: FakePort[]): string[] {
  return ports.filter((p) => p.take().length > 0).map((p) => p.name);
}

describe('learning and forwarding', () => {
  it('floods unknown unicast to every other port, then forwards known unicast to its port only, unchanged', () => {
    const { bridge, ports } = setup(4);
    const [p1, p2] = ports as [FakePort, FakePort];
    p1.inject([frame({ dst: mac(2), src: mac(1) })]);
    expect(receivers(ports)).toEqual(['p2', 'p3', 'p4']);
    p2.inject([frame({ dst: mac(1), src: mac(2) })]);
    const sent = p1.take();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.zeroCopy).toBe(true);
    expect(sent[0]!.vnet).toBeNull();
    expect(sent[0]!.frame).toEqual(frame({ dst: mac(1), src: mac(2) }));
    expect(receivers(ports)).toEqual([]);
    p1.inject([frame({ dst: mac(2), src: mac(1) })]);
    expect(receivers(ports)).toEqual(['p2']);
    expect(bridge.portCounters('p1').floods).toBe(1);
    expect(bridge.portCounters('p2').floods).toBe(0);
  });

  it('floods broadcast and multicast to every other port of the VLAN, never back out of the ingress', () => {
    const { bridge, ports } = setup(4);
    ports[2]!.inject([frame({ dst: BROADCAST, src: mac(3) }), frame({ dst: 0x01_00_5e_00_00_fb, src: mac(3) })]);
    expect(ports.map((p) => p.take().length)).toEqual([2, 2, 0, 2]);
    expect(bridge.portCounters('p3').floods).toBe(2);
    // A learned broadcast sender is still flooded to (broadcast is never looked up).
    ports[0]!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    expect(ports.map((p) => p.take().length)).toEqual([0, 1, 1, 1]);
  });

  it("drops a frame whose destination is learned on its own ingress port ('sameSegment')", () => {
    const { bridge, ports } = setup(3);
    ports[0]!.inject([frame({ dst: BROADCAST, src: mac(1) }), frame({ dst: BROADCAST, src: mac(2) })]);
    receivers(ports);
    ports[0]!.inject([frame({ dst: mac(2), src: mac(1) })]);
    expect(receivers(ports)).toEqual([]);
    expect(bridge.portCounters('p1').drops.sameSegment).toBe(1);
  });

  it("drops frames from a multicast or broadcast source without learning them ('multicastSource')", () => {
    const { bridge, ports } = setup(2);
    ports[0]!.inject([frame({ dst: mac(2), src: BROADCAST }), frame({ dst: mac(2), src: 0x01_00_5e_00_00_01 })]);
    expect(receivers(ports)).toEqual([]);
    expect(bridge.portCounters('p1').drops.multicastSource).toBe(2);
    expect(bridge.fdbEntries()).toEqual([]);
  });

  it("drops runts: shorter than 14 bytes, or an 802.1Q tag cut short ('runt')", () => {
    const { clock, ports } = setup(2);
    const bridge = new Bridge({ clock, name: 'br1' });
    const a = new FakePort('a');
    const t = new FakePort('t');
    bridge.addPort(a);
    bridge.addPort(t, { mode: 'trunk', allowed: [5], native: 1 });
    const full = frame({ dst: BROADCAST, src: mac(1) });
    a.inject([new Uint8Array(0), full.subarray(0, 13)]);
    t.inject([frame({ dst: BROADCAST, src: mac(1), tags: [{ vid: 5 }] }).subarray(0, 17)]);
    expect(bridge.portCounters('a').drops.runt).toBe(2);
    expect(bridge.portCounters('t').drops.runt).toBe(1);
    // 14 bytes untagged is a frame.
    a.inject([full.subarray(0, 14)]);
    expect(t.take()).toHaveLength(1);
    expect(ports.every((p) => p.sent.length === 0)).toBe(true);
  });

  it('does not forward link-local control frames (LLDP, LACP, pause) but floods STP BPDUs (STP is off)', () => {
    const { bridge, ports } = setup(2);
    ports[0]!.inject([
      frame({ dst: 0x01_80_c2_00_00_0e, src: mac(1), etherType: 0x88cc }),
      frame({ dst: 0x01_80_c2_00_00_02, src: mac(1), etherType: 0x8809 }),
      frame({ dst: 0x01_80_c2_00_00_01, src: mac(1), etherType: 0x8808 }),
      frame({ dst: 0x01_80_c2_00_00_00, src: mac(1), etherType: 38 }),
    ]);
    expect(ports[1]!.take().map((s) => s.frame[5])).toEqual([0]);
    expect(bridge.portCounters('p1').drops.linkLocal).toBe(3);
  });

  it('counts MAC moves between ports and follows the station', () => {
    const { bridge, ports } = setup(3);
    ports[0]!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    ports[1]!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    expect(bridge.fdbStats.moves).toBe(1);
    expect(bridge.fdbEntries().map((e) => e.port)).toEqual(['p2']);
    receivers(ports);
    ports[2]!.inject([frame({ dst: mac(1), src: mac(3) })]);
    expect(receivers(ports)).toEqual(['p2']);
  });
});

describe('batches', () => {
  it('flushes each port that got frames exactly once per batch, and no other port', () => {
    const { ports } = setup(4);
    const [p1, p2, p3, p4] = ports as [FakePort, FakePort, FakePort, FakePort];
    p2.inject([frame({ dst: BROADCAST, src: mac(2) })]);
    p3.inject([frame({ dst: BROADCAST, src: mac(3) })]);
    for (const p of ports) p.flushes = 0;
    receivers(ports);
    p1.inject([
      frame({ dst: mac(2), src: mac(1) }),
      frame({ dst: mac(3), src: mac(1) }),
      frame({ dst: mac(2), src: mac(1) }),
      frame({ dst: mac(3), src: mac(1) }),
    ]);
    expect(ports.map((p) => p.flushes)).toEqual([0, 1, 1, 0]);
    expect([p2.take().length, p3.take().length, p4.take().length]).toEqual([2, 2, 0]);
  });

  it('reads "now" from the clock once per batch', () => {
    const inner = new VirtualClock();
    let reads = 0;
    const clock = { now: () => (reads++, inner.now()), wallTimeNs: () => inner.wallTimeNs(), timers: inner.timers };
    const bridge = new Bridge({ clock });
    const a = new FakePort('a');
    const b = new FakePort('b');
    bridge.addPort(a);
    bridge.addPort(b);
    const frames = Array.from({ length: 50 }, (_, i) => frame({ dst: i % 2 === 0 ? BROADCAST : mac(9), src: mac(1) }));
    reads = 0;
    a.inject(frames);
    expect(reads).toBe(1);
    expect(b.take()).toHaveLength(50);
  });

  it('sets each port\'s onReceive once, detaches it on removePort, and refuses a duplicate name or a port already in use', () => {
    const { bridge, ports } = setup(2);
    const handler = ports[0]!.onReceive;
    expect(handler).not.toBeNull();
    ports[0]!.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    expect(ports[0]!.onReceive).toBe(handler);
    expect(() => bridge.addPort(new FakePort('p1'))).toThrow(/already has a port named p1/);
    const busy = new FakePort('busy');
    busy.onReceive = () => undefined;
    expect(() => bridge.addPort(busy)).toThrow(/already has a receiver/);
    expect(bridge.removePort('p1')).toBe(true);
    expect(ports[0]!.onReceive).toBeNull();
    expect(bridge.fdbEntries()).toEqual([]);
    expect(bridge.removePort('p1')).toBe(false);
    expect(bridge.ports().map((p) => p.name)).toEqual(['p2']);
  });
});

describe('port up/down', () => {
  it('a down port neither receives nor sends, and its learned entries are flushed; up again it works', () => {
    const { bridge, ports } = setup(3);
    const [p1, p2, p3] = ports as [FakePort, FakePort, FakePort];
    p2.inject([frame({ dst: BROADCAST, src: mac(2) })]);
    bridge.addStaticEntry(mac(22), 1, 'p2');
    receivers(ports);
    bridge.setPortUp('p2', false);
    expect(bridge.fdbEntries().map((e) => [e.mac, e.static])).toEqual([[mac(22), true]]);
    p1.inject([frame({ dst: BROADCAST, src: mac(1) }), frame({ dst: mac(2), src: mac(1) }), frame({ dst: mac(22), src: mac(1) })]);
    expect(receivers(ports)).toEqual(['p3']);
    expect(p3.sent).toHaveLength(0);
    expect(bridge.portCounters('p1').drops.egressDown).toBe(1);
    p2.inject([frame({ dst: BROADCAST, src: mac(2) }), frame({ dst: BROADCAST, src: mac(2) })]);
    expect(bridge.portCounters('p2').drops.portDown).toBe(2);
    expect(bridge.portCounters('p2').rxFrames).toBe(1);
    expect(receivers(ports)).toEqual([]);
    expect(bridge.formatPortCounters()).toContain('2: p2: <DOWN> master br0 access vlan 1');

    bridge.setPortUp('p2', true);
    p1.inject([frame({ dst: mac(22), src: mac(1) })]);
    expect(receivers(ports)).toEqual(['p2']);
    p2.inject([frame({ dst: mac(1), src: mac(2) })]);
    expect(receivers(ports)).toEqual(['p1']);
    expect(() => bridge.setPortUp('nope', true)).toThrow(/no port named nope/);
  });
});

describe('counters and views', () => {
  it('counts rx/tx frames and bytes, floods and drops per port, and prints them like ip -s link', () => {
    const { bridge, ports } = setup(3);
    const f = frame({ dst: BROADCAST, src: mac(1), payload: 86 }); // 100 bytes
    ports[0]!.inject([f, f, frame({ dst: mac(5), src: BROADCAST })]);
    ports[2]!.refuse = true;
    ports[1]!.inject([frame({ dst: mac(1), src: mac(2), payload: 36 })]); // 50 bytes, known
    ports[1]!.inject([frame({ dst: mac(9), src: mac(2), payload: 36 })]); // flooded, p3 refuses
    const c1 = bridge.portCounters('p1');
    expect(c1).toMatchObject({ rxFrames: 3, rxBytes: 260, txFrames: 2, txBytes: 100, floods: 2 });
    expect(c1.drops.multicastSource).toBe(1);
    expect(bridge.portCounters('p2')).toMatchObject({ rxFrames: 2, rxBytes: 100, txFrames: 2, txBytes: 200, floods: 1 });
    const c3 = bridge.portCounters('p3');
    expect(c3).toMatchObject({ txFrames: 2, txBytes: 200 });
    expect(c3.drops.txFailed).toBe(1);
    // Snapshots do not move with the bridge.
    ports[0]!.inject([f]);
    expect(c1.rxFrames).toBe(3);
    expect(JSON.parse(JSON.stringify(bridge.allPortCounters())).p1.rxFrames).toBe(4);

    const text = bridge.formatPortCounters();
    expect(text).toBe(
      [
        '1: p1: <UP> master br0 access vlan 1',
        '    RX:  bytes packets  floods dropped',
        '           360       4       3       1',
        '    TX:  bytes packets dropped',
        '           100       2       0',
        '    drops: multicastSource 1',
        '2: p2: <UP> master br0 access vlan 1',
        '    RX:  bytes packets  floods dropped',
        '           100       2       1       0',
        '    TX:  bytes packets dropped',
        '           300       3       0',
        '3: p3: <UP> master br0 access vlan 1',
        '    RX:  bytes packets  floods dropped',
        '             0       0       0       0',
        '    TX:  bytes packets dropped',
        '           200       2       2',
        '    drops: txFailed 2',
        '',
      ].join('\n'),
    );
  });

  it('dumps the FDB as entries and like `bridge fdb show`', () => {
    const { clock, ports } = setup(0);
    const bridge = new Bridge({ clock, name: 'lab0' });
    const a = new FakePort('a');
    const t = new FakePort('t');
    bridge.addPort(a, { mode: 'access', pvid: 10 });
    bridge.addPort(t, { mode: 'trunk', allowed: [10, 20] });
    a.inject([frame({ dst: BROADCAST, src: mac(1) })]);
    clock.advance(1500);
    t.inject([frame({ dst: BROADCAST, src: mac(2), tags: [{ vid: 20 }] })]);
    bridge.addStaticEntry(0x02_aa_00_00_00_01, 10, 't');
    clock.advance(500);
    expect(bridge.fdbEntries()).toEqual([
      { mac: mac(1), vid: 10, port: 'a', static: false, ageMs: 2000 },
      { mac: 0x02_aa_00_00_00_01, vid: 10, port: 't', static: true, ageMs: 500 },
      { mac: mac(2), vid: 20, port: 't', static: false, ageMs: 500 },
    ]);
    expect(bridge.formatFdb()).toBe(
      '02:00:00:00:00:01 dev a vlan 10 master lab0\n' +
        '02:aa:00:00:00:01 dev t vlan 10 master lab0 permanent\n' +
        '02:00:00:00:00:02 dev t vlan 20 master lab0\n',
    );
    expect(ports).toEqual([]);
    expect(() => bridge.addStaticEntry(0x01_00_5e_00_00_01, 10, 't')).toThrow(/group address/);
    expect(() => bridge.addStaticEntry(mac(3), 30, 't')).toThrow(/not a member of VLAN 30/);
    expect(bridge.deleteFdbEntry(0x02_aa_00_00_00_01, 10)).toBe(true);
    expect(bridge.fdbEntries()).toHaveLength(2);
  });
});

describe('through pipes on the virtual clock', () => {
  it('three hosts on pipes: learning, unicast and broadcast, delivered by the clock', () => {
    const clock = new VirtualClock();
    const bridge = new Bridge({ clock });
    const hosts = [0, 1, 2].map((i) => {
      const [switchEnd, hostEnd] = createPipe(clock, { names: [`sw${i}`, `h${i}`] });
      bridge.addPort(switchEnd);
      const got: Uint8Array[] = [];
      hostEnd.onReceive = (b: RxBatch) => {
        for (let k = 0; k < b.count; k++) got.push(b.buf.slice(b.offsets[k]!, b.offsets[k]! + b.lengths[k]!));
      };
      return { end: hostEnd, got };
    });
    const send = (i: number, f: Uint8Array) => {
      hosts[i]!.end.send(f, 0, f.length, -1);
      hosts[i]!.end.flush();
      clock.advance(1);
    };
    send(0, frame({ dst: BROADCAST, src: mac(1) }));
    expect(hosts.map((h) => h.got.length)).toEqual([0, 1, 1]);
    send(1, frame({ dst: mac(1), src: mac(2) }));
    expect(hosts.map((h) => h.got.length)).toEqual([1, 1, 1]);
    expect(hosts[0]!.got[0]).toEqual(frame({ dst: mac(1), src: mac(2) }));
    send(0, frame({ dst: mac(2), src: mac(1) }));
    expect(hosts.map((h) => h.got.length)).toEqual([1, 2, 1]);
    expect(bridge.portCounters('sw0')).toMatchObject({ rxFrames: 2, txFrames: 1, floods: 1 });
  });
});
