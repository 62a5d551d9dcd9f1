/**
 * The forwarding database on the virtual clock: aging (default 300 s and
 * configured), lazy expiry on lookup, the sweep timer (armed only while
 * learned entries exist), static entries, the table-size bound, moves, and
 * MACs that share their low 24 bits (the chained case of the split key).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/switch/bridge.js';
import { Fdb, LEARN } from '../../src/switch/fdb.js';
import { VirtualClock } from '../../src/time/index.js';
import { BROADCAST, FakePort, frame, mac } from './helpers.js';

describe('Fdb', () => {
  it('learns, refreshes, moves; a static entry neither moves nor ages', () => {
    const clock = new VirtualClock();
    const fdb = new Fdb<string>(clock);
    expect(fdb.learn(10, mac(1), 'a', 0)).toBe(LEARN.LEARNED);
    expect(fdb.learn(10, mac(1), 'a', 5)).toBe(LEARN.REFRESHED);
    expect(fdb.learn(10, mac(1), 'b', 6)).toBe(LEARN.MOVED);
    expect(fdb.lookup(10, mac(1), 6)?.port).toBe('b');
    // Same MAC, another VLAN: a separate entry.
    expect(fdb.lookup(20, mac(1), 6)).toBeUndefined();
    fdb.addStatic(10, mac(2), 's', 0);
    expect(fdb.learn(10, mac(2), 'b', 7)).toBe(LEARN.STATIC_CONFLICT);
    expect(fdb.lookup(10, mac(2), 10 ** 9)?.port).toBe('s');
    expect(fdb.stats).toMatchObject({ entries: 1, staticEntries: 1, learned: 1, moves: 1, staticConflicts: 1 });
  });

  it('expires lazily on lookup, exactly agingMs after the last refresh, without any timer firing', () => {
    const clock = new VirtualClock();
    const fdb = new Fdb<string>(clock);
    fdb.learn(1, mac(1), 'a', 0);
    fdb.learn(1, mac(1), 'a', 1000);
    expect(fdb.lookup(1, mac(1), 300_999)?.port).toBe('a');
    expect(fdb.lookup(1, mac(1), 301_000)).toBeUndefined();
    expect(fdb.stats).toMatchObject({ entries: 0, expired: 1 });
    expect(clock.now()).toBe(0);
  });

  it('an expired entry seen on another port is learned afresh, not counted as a move', () => {
    const fdb = new Fdb<string>(new VirtualClock());
    fdb.learn(1, mac(1), 'a', 0);
    expect(fdb.learn(1, mac(1), 'b', 300_000)).toBe(LEARN.LEARNED);
    expect(fdb.stats.moves).toBe(0);
  });

  it('sweeps on one timer while learned entries exist, then leaves the clock idle', () => {
    const clock = new VirtualClock();
    const fdb = new Fdb<string>(clock, { agingMs: 10_000 });
    fdb.addStatic(1, mac(9), 's', 0);
    expect(clock.timers.size).toBe(0);
    fdb.learn(1, mac(1), 'a', 0);
    clock.advance(4000);
    fdb.learn(1, mac(2), 'a', clock.now());
    expect(clock.timers.size).toBe(1);
    clock.advance(6000);
    expect(fdb.entries(clock.now()).map((e) => e.mac)).toEqual([mac(2), mac(9)]);
    expect(clock.timers.size).toBe(1);
    const fired = clock.runUntilIdle();
    expect(fired).toBeGreaterThan(0);
    expect(clock.now()).toBe(14_000);
    expect(fdb.stats).toMatchObject({ entries: 0, staticEntries: 1, expired: 2 });
  });

  it('refuses to learn past maxEntries (static entries not counted), reclaiming expired entries first', () => {
    const clock = new VirtualClock();
    const fdb = new Fdb<string>(clock, { maxEntries: 3, agingMs: 5000 });
    fdb.addStatic(1, mac(100), 's', 0);
    for (let i = 0; i < 3; i++) expect(fdb.learn(1, mac(i), 'a', 0)).toBe(LEARN.LEARNED);
    expect(fdb.learn(1, mac(3), 'a', 1)).toBe(LEARN.REFUSED);
    expect(fdb.learn(2, mac(3), 'a', 1)).toBe(LEARN.REFUSED);
    expect(fdb.learn(1, mac(0), 'b', 2)).toBe(LEARN.MOVED);
    expect(fdb.stats).toMatchObject({ entries: 3, staticEntries: 1, refused: 2 });
    // Once they have aged, learning reclaims them even before the sweep timer fires.
    expect(fdb.learn(1, mac(3), 'a', 6000)).toBe(LEARN.LEARNED);
    expect(fdb.stats).toMatchObject({ entries: 1, refused: 2, expired: 3 });
  });

  it('keeps MACs that share their low 24 bits apart (chained entries), through every operation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ hi: fc.integer({ min: 0, max: 3 }), op: fc.constantFrom('learn', 'static', 'delete'), port: fc.constantFrom('a', 'b') }), {
          maxLength: 40,
        }),
        (ops) => {
          const fdb = new Fdb<string>(new VirtualClock());
          const model = new Map<number, { port: string; isStatic: boolean }>();
          for (const { hi, op, port } of ops) {
            const m = hi * 0x1000000 * 2 + 0x123456; // even first octet: unicast
            if (op === 'learn') {
              fdb.learn(7, m, port, 0);
              const cur = model.get(m);
              if (cur === undefined) model.set(m, { port, isStatic: false });
              else if (!cur.isStatic) cur.port = port;
            } else if (op === 'static') {
              fdb.addStatic(7, m, port, 0);
              model.set(m, { port, isStatic: true });
            } else {
              expect(fdb.delete(7, m)).toBe(model.delete(m));
            }
          }
          for (let hi = 0; hi < 4; hi++) {
            const m = hi * 0x1000000 * 2 + 0x123456;
            expect(fdb.lookup(7, m, 1)?.port).toBe(model.get(m)?.port);
          }
          expect(fdb.entries(1).map((e) => [e.mac, e.port, e.isStatic])).toEqual(
            [...model].sort((x, y) => x[0] - y[0]).map(([m, e]) => [m, e.port, e.isStatic]),
          );
          const statics = [...model.values()].filter((e) => e.isStatic).length;
          expect(fdb.stats.staticEntries).toBe(statics);
          expect(fdb.stats.entries).toBe(model.size - statics);
          fdb.flushPort('a', true);
          expect(fdb.entries(1).every((e) => e.port === 'b')).toBe(true);
        },
      ),
    );
  });

  it('rejects a nonsensical aging time or table size', () => {
    const clock = new VirtualClock();
    expect(() => new Fdb(clock, { agingMs: 0 })).toThrow(/agingMs/);
    expect(() => new Fdb(clock, { maxEntries: -1 })).toThrow(/maxFdbEntries/);
    // Infinity: never age, never arm a timer.
    const forever = new Fdb<string>(clock, { agingMs: Number.POSITIVE_INFINITY });
    forever.learn(1, mac(1), 'a', 0);
    expect(clock.timers.size).toBe(0);
    expect(forever.lookup(1, mac(1), 1e15)?.port).toBe('a');
  });
});

describe('aging through the bridge', () => {
  function setup(agingMs?: number) {
    const clock = new VirtualClock();
    const bridge = new Bridge(agingMs === undefined ? { clock } : { clock, agingMs });
    const ports = ['p1', 'p2', 'p3'].map((n) => new FakePort(n));
    for (const p of ports) bridge.addPort(p);
    return { clock, bridge, ports };
  }

  it('forgets a station 300 s after it was last heard (default), and floods to it again', () => {
    const { clock, bridge, ports } = setup();
    ports[1]!.inject([frame({ dst: BROADCAST, src: mac(2) })]);
    clock.advance(299_999);
    ports[0]!.inject([frame({ dst: mac(2), src: mac(1) })]);
    expect(ports.map((p) => p.take().length)).toEqual([1, 1, 1]);
    expect(bridge.fdbEntries().map((e) => e.mac)).toEqual([mac(1), mac(2)]);
    clock.advance(1);
    expect(bridge.fdbEntries().map((e) => e.mac)).toEqual([mac(1)]);
    ports[0]!.inject([frame({ dst: mac(2), src: mac(1) })]);
    expect(ports.map((p) => p.take().length)).toEqual([0, 1, 1]);
    expect(bridge.portCounters('p1').floods).toBe(1);
    // Everyone ages out; the sweep timer then stops and the clock is idle.
    clock.runUntilIdle();
    expect(bridge.fdbEntries()).toEqual([]);
    expect(clock.timers.size).toBe(0);
    expect(bridge.fdbStats.expired).toBe(2);
  });

  it('ages with a configured time, and keeps a station that keeps talking', () => {
    const { clock, bridge, ports } = setup(10_000);
    ports[1]!.inject([frame({ dst: BROADCAST, src: mac(2) })]);
    ports[2]!.inject([frame({ dst: BROADCAST, src: mac(3) })]);
    for (let t = 0; t < 5; t++) {
      clock.advance(9000);
      ports[2]!.inject([frame({ dst: BROADCAST, src: mac(3) })]);
    }
    expect(bridge.fdbEntries().map((e) => [e.mac, e.ageMs])).toEqual([[mac(3), 0]]);
  });

  it('static entries survive any amount of time and never move', () => {
    const { clock, bridge, ports } = setup();
    bridge.addStaticEntry(mac(7), 1, 'p3');
    clock.advance(10 * 3600_000);
    ports[1]!.inject([frame({ dst: BROADCAST, src: mac(7) })]);
    expect(bridge.fdbStats.staticConflicts).toBe(1);
    for (const p of ports) p.take();
    ports[0]!.inject([frame({ dst: mac(7), src: mac(1) })]);
    expect(ports.map((p) => p.take().length)).toEqual([0, 0, 1]);
  });

  it('counts refusals when the table is full and still delivers by flooding', () => {
    const clock = new VirtualClock();
    const bridge = new Bridge({ clock, maxFdbEntries: 2 });
    const ports = ['p1', 'p2', 'p3'].map((n) => new FakePort(n));
    for (const p of ports) bridge.addPort(p);
    ports[0]!.inject([1, 2, 3, 4].map((i) => frame({ dst: BROADCAST, src: mac(i) })));
    expect(bridge.fdbStats).toMatchObject({ entries: 2, refused: 2 });
    for (const p of ports) p.take();
    ports[1]!.inject([frame({ dst: mac(4), src: mac(1) })]);
    expect(ports.map((p) => p.take().length)).toEqual([1, 0, 1]);
  });
});
