/**
 * The ARP cache on the virtual clock: every NUD transition at its exact
 * millisecond, solicit counts (broadcast, then unicast in PROBE), the pending
 * queue and its drops, RFC 826's merge rule, gratuitous ARP, PERMANENT
 * entries, the table limit, garbage collection, `ip neigh` output, and a
 * random-operation property: every queued packet comes out exactly once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NeighbourError, NeighbourTable, type NeighbourOptions, type NeighState } from '../../src/ip/neighbour.js';
import { VirtualClock } from '../../src/time/index.js';
import { formatIPv4, formatMac, parseIPv4, parseMac } from '../../src/wire/address.js';

const ip = parseIPv4;
const A = ip('10.0.0.2');
const B = ip('10.0.0.3');
const C = ip('10.0.0.4');
const MAC_A = parseMac('02:00:00:00:00:02');
const MAC_A2 = parseMac('02:00:00:00:00:22');
const MAC_B = parseMac('02:00:00:00:00:03');

function harness(opts?: NeighbourOptions) {
  const clock = new VirtualClock();
  const log: string[] = [];
  const t = () => clock.now();
  const table = new NeighbourTable<string>(
    clock,
    {
      solicit: (a, dev, mac) => log.push(`${t()} solicit ${formatIPv4(a)} ${dev} ${mac === undefined ? 'broadcast' : formatMac(mac)}`),
      resolved: (a, dev, mac, pending) => log.push(`${t()} resolved ${formatIPv4(a)} ${dev} ${formatMac(mac)} [${pending.join(',')}]`),
      failed: (a, dev, pending) => log.push(`${t()} failed ${formatIPv4(a)} ${dev} [${pending.join(',')}]`),
    },
    opts,
  );
  const state = (a: number, dev = 'eth0'): NeighState | undefined => table.entries().find((e) => e.ip === a && e.dev === dev)?.state;
  /** Advances to absolute time `ms` and returns the log lines written meanwhile. */
  const until = (ms: number): string[] => {
    const from = log.length;
    clock.advanceTo(ms);
    return log.slice(from);
  };
  const drain = (): string[] => log.splice(0);
  return { clock, table, log, state, until, drain };
}

/** An entry made REACHABLE at `at` by resolve + reply. */
function reachable(h: ReturnType<typeof harness>, at = 0): void {
  h.until(at);
  h.table.resolve(A, 'eth0', 'p0');
  h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
  h.drain();
}

describe('INCOMPLETE', () => {
  it('solicits by broadcast every retransMs, maxProbes times, then FAILED with the pending packets in order', () => {
    const h = harness();
    expect(h.table.resolve(A, 'eth0', 'p1')).toBe(true);
    expect(h.drain()).toEqual(['0 solicit 10.0.0.2 eth0 broadcast']);
    expect(h.state(A)).toBe('INCOMPLETE');
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 INCOMPLETE');
    h.until(500);
    expect(h.table.resolve(A, 'eth0', 'p2')).toBe(true); // no extra solicit
    expect(h.table.lookup(A, 'eth0')).toBeUndefined();
    expect(h.until(2999)).toEqual(['1000 solicit 10.0.0.2 eth0 broadcast', '2000 solicit 10.0.0.2 eth0 broadcast']);
    expect(h.state(A)).toBe('INCOMPLETE');
    expect(h.until(3000)).toEqual(['3000 failed 10.0.0.2 eth0 [p1,p2]']);
    expect(h.state(A)).toBe('FAILED');
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 FAILED');
    expect(h.table.lookup(A, 'eth0')).toBeUndefined();
    expect(h.table.stats).toMatchObject({ solicits: 3, failed: 1, resolved: 0, queueDrops: 0 });
  });

  it('honours retransMs and maxProbes', () => {
    const h = harness({ retransMs: 250, maxProbes: 5 });
    h.table.resolve(A, 'eth0', 'p1');
    expect(h.until(10_000)).toEqual([
      '250 solicit 10.0.0.2 eth0 broadcast',
      '500 solicit 10.0.0.2 eth0 broadcast',
      '750 solicit 10.0.0.2 eth0 broadcast',
      '1000 solicit 10.0.0.2 eth0 broadcast',
      '1250 failed 10.0.0.2 eth0 [p1]',
    ]);
    expect(h.table.stats.solicits).toBe(5);
  });

  it('queues at most queueLen packets, dropping (and counting) the oldest; the reply hands the rest over in order', () => {
    const h = harness();
    for (const p of ['p1', 'p2', 'p3', 'p4', 'p5']) expect(h.table.resolve(A, 'eth0', p)).toBe(true);
    expect(h.table.stats.queueDrops).toBe(2);
    h.until(400);
    h.drain();
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    expect(h.drain()).toEqual(['400 resolved 10.0.0.2 eth0 02:00:00:00:00:02 [p3,p4,p5]']);
    expect(h.state(A)).toBe('REACHABLE');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
    expect(h.table.stats).toMatchObject({ solicits: 1, resolved: 1, queueDrops: 2 });
    expect(h.until(1000)).toEqual([]); // no more solicits
  });

  it('a queueLen of 0 drops every packet but still resolves', () => {
    const h = harness({ queueLen: 0 });
    expect(h.table.resolve(A, 'eth0', 'p1')).toBe(false);
    expect(h.table.stats.queueDrops).toBe(1);
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    expect(h.drain()).toEqual(['0 solicit 10.0.0.2 eth0 broadcast', '0 resolved 10.0.0.2 eth0 02:00:00:00:00:02 []']);
  });

  it('resolve on a FAILED entry starts over; resolve on a known entry delivers at once', () => {
    const h = harness();
    h.table.resolve(A, 'eth0', 'p1');
    h.until(3000);
    h.drain();
    h.until(5000);
    expect(h.table.resolve(A, 'eth0', 'p2')).toBe(true);
    expect(h.state(A)).toBe('INCOMPLETE');
    expect(h.drain()).toEqual(['5000 solicit 10.0.0.2 eth0 broadcast']);
    expect(h.until(8000)).toEqual([
      '6000 solicit 10.0.0.2 eth0 broadcast',
      '7000 solicit 10.0.0.2 eth0 broadcast',
      '8000 failed 10.0.0.2 eth0 [p2]',
    ]);
    h.drain();
    h.table.resolve(A, 'eth0', 'p3');
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    h.drain();
    expect(h.table.resolve(A, 'eth0', 'p4')).toBe(true);
    expect(h.drain()).toEqual(['8000 resolved 10.0.0.2 eth0 02:00:00:00:00:02 [p4]']);
  });
});

describe('REACHABLE, STALE, DELAY, PROBE', () => {
  it('REACHABLE lasts exactly reachableMs; STALE still answers; its first use → DELAY; delayMs later → PROBE', () => {
    const h = harness();
    reachable(h);
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 REACHABLE');
    h.until(29_999);
    expect(h.state(A)).toBe('REACHABLE');
    h.until(30_000);
    expect(h.state(A)).toBe('STALE');
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 STALE');
    h.until(40_000);
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
    expect(h.state(A)).toBe('DELAY');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
    expect(h.until(44_999)).toEqual([]);
    expect(h.state(A)).toBe('DELAY');
    // PROBE: a unicast solicit now and every retransMs, maxProbes in all, then FAILED.
    expect(h.until(45_000)).toEqual(['45000 solicit 10.0.0.2 eth0 02:00:00:00:00:02']);
    expect(h.state(A)).toBe('PROBE');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A); // still usable while probing
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 PROBE');
    expect(h.until(48_000)).toEqual([
      '46000 solicit 10.0.0.2 eth0 02:00:00:00:00:02',
      '47000 solicit 10.0.0.2 eth0 02:00:00:00:00:02',
      '48000 failed 10.0.0.2 eth0 []',
    ]);
    expect(h.state(A)).toBe('FAILED');
    expect(h.table.lookup(A, 'eth0')).toBeUndefined();
    expect(h.table.stats).toMatchObject({ solicits: 4, failed: 1, resolved: 1 });
  });

  it('an entry used in the last delayMs goes from REACHABLE straight to DELAY (as Linux)', () => {
    const h = harness();
    reachable(h);
    h.until(26_000);
    h.table.lookup(A, 'eth0');
    h.until(30_000);
    expect(h.state(A)).toBe('DELAY');
    h.until(34_999);
    expect(h.state(A)).toBe('DELAY');
    expect(h.until(35_000)).toEqual(['35000 solicit 10.0.0.2 eth0 02:00:00:00:00:02']);
  });

  it('confirm() in REACHABLE only records the time: no timer moves, the expiry re-arms from it', () => {
    const h = harness();
    reachable(h);
    expect(h.clock.timers.nextDeadline()).toBe(30_000);
    h.until(20_000);
    h.table.confirm(A, 'eth0');
    h.table.confirm(A, 'eth0');
    expect(h.clock.timers.nextDeadline()).toBe(30_000);
    h.until(30_000);
    expect(h.state(A)).toBe('REACHABLE');
    expect(h.clock.timers.nextDeadline()).toBe(50_000);
    h.until(49_999);
    expect(h.state(A)).toBe('REACHABLE');
    h.until(50_000);
    expect(h.state(A)).toBe('STALE');
  });

  it('a reply also re-confirms a REACHABLE entry', () => {
    const h = harness();
    reachable(h);
    h.until(10_000);
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    h.until(39_999);
    expect(h.state(A)).toBe('REACHABLE');
    h.until(40_000);
    expect(h.state(A)).toBe('STALE');
  });

  it('confirm() in DELAY → REACHABLE when the delay ends, reachableMs counted from the confirmation', () => {
    const h = harness();
    reachable(h);
    h.until(30_000);
    h.table.lookup(A, 'eth0'); // STALE → DELAY at 30000
    h.until(32_000);
    h.table.confirm(A, 'eth0');
    expect(h.state(A)).toBe('DELAY');
    expect(h.until(35_000)).toEqual([]);
    expect(h.state(A)).toBe('REACHABLE');
    h.until(61_999);
    expect(h.state(A)).toBe('REACHABLE');
    h.until(62_000);
    expect(h.state(A)).toBe('STALE');
  });

  it('a reply in DELAY or PROBE → REACHABLE at once; confirm() in STALE or PROBE → REACHABLE at once', () => {
    const h = harness();
    reachable(h);
    h.until(30_000);
    h.table.lookup(A, 'eth0');
    h.until(31_000);
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    expect(h.state(A)).toBe('REACHABLE');
    h.until(61_000);
    expect(h.state(A)).toBe('STALE');
    h.table.confirm(A, 'eth0');
    expect(h.state(A)).toBe('REACHABLE');
    h.until(91_000);
    h.table.lookup(A, 'eth0');
    h.until(96_500);
    expect(h.state(A)).toBe('PROBE');
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    expect(h.state(A)).toBe('REACHABLE');
    h.until(126_500);
    h.table.lookup(A, 'eth0');
    h.until(131_500);
    expect(h.state(A)).toBe('PROBE');
    h.table.confirm(A, 'eth0');
    expect(h.state(A)).toBe('REACHABLE');
    expect(h.drain()).toEqual(['96000 solicit 10.0.0.2 eth0 02:00:00:00:00:02', '131500 solicit 10.0.0.2 eth0 02:00:00:00:00:02']);
    h.until(161_500);
    expect(h.state(A)).toBe('STALE');
    h.until(191_499);
    expect(h.state(A)).toBe('STALE');
    h.until(191_500); // gcStaleMs after the last confirmation
    expect(h.state(A)).toBeUndefined();
    expect(h.table.stats).toMatchObject({ failed: 0, gcRemoved: 1 });
  });

  it('re-arms one Timer per entry instead of creating timers per transition', () => {
    const h = harness();
    reachable(h);
    h.table.resolve(B, 'eth0', 'q');
    expect(h.clock.timers.size).toBe(2);
    for (let ms = 0; ms < 200_000; ms += 3_000) {
      h.until(ms);
      h.table.lookup(A, 'eth0');
      expect(h.clock.timers.size).toBeLessThanOrEqual(2);
    }
  });
});

describe('input: RFC 826 merge rule', () => {
  it('creates an entry only when the ARP targets us: STALE from a request, REACHABLE from a reply', () => {
    const h = harness();
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: false });
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: false });
    expect(h.table.size).toBe(0);
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: true });
    expect(h.state(A)).toBe('STALE');
    h.table.input(B, MAC_B, 'eth1', { isReply: true, targetIsUs: true });
    expect(h.state(B, 'eth1')).toBe('REACHABLE');
    expect(h.log).toEqual([]);
    expect(h.table.stats.resolved).toBe(0);
    expect(h.table.format()).toBe(
      '10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 STALE\n10.0.0.3 dev eth1 lladdr 02:00:00:00:00:03 REACHABLE',
    );
  });

  it('updates an existing entry from any ARP; a request with the known address leaves the state alone', () => {
    const h = harness();
    reachable(h);
    h.until(1_000);
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: true });
    expect(h.state(A)).toBe('REACHABLE');
    h.table.input(A, MAC_A2, 'eth0', { targetIsUs: true });
    expect(h.state(A)).toBe('STALE');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A2);
    expect(h.state(A)).toBe('DELAY');
    h.table.input(A, MAC_A2, 'eth0', { targetIsUs: false });
    expect(h.state(A)).toBe('DELAY');
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    expect(h.state(A)).toBe('REACHABLE');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
  });

  it('a request resolving an INCOMPLETE entry → STALE, hands the packets over, and that use makes it DELAY', () => {
    const h = harness();
    h.table.resolve(A, 'eth0', 'p1');
    h.table.resolve(A, 'eth0', 'p2');
    h.until(700);
    h.drain();
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: true });
    expect(h.drain()).toEqual(['700 resolved 10.0.0.2 eth0 02:00:00:00:00:02 [p1,p2]']);
    expect(h.state(A)).toBe('DELAY');
    expect(h.until(5_700)).toEqual(['5700 solicit 10.0.0.2 eth0 02:00:00:00:00:02']);
    expect(h.table.stats.resolved).toBe(1);
  });

  it('ARP from a FAILED entry revives it', () => {
    const h = harness();
    h.table.resolve(A, 'eth0', 'p1');
    h.until(3_000);
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: false });
    expect(h.state(A)).toBe('STALE');
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
  });

  it('gratuitous ARP (targetIsUs false) updates a known MAC and makes the entry STALE, and teaches nothing new', () => {
    const h = harness();
    reachable(h);
    h.until(2_000);
    h.table.input(A, MAC_A2, 'eth0', { targetIsUs: false });
    expect(h.state(A)).toBe('STALE');
    expect(h.table.format()).toBe('10.0.0.2 dev eth0 lladdr 02:00:00:00:00:22 STALE');
    h.table.input(C, MAC_B, 'eth0', { targetIsUs: false });
    expect(h.state(C)).toBeUndefined();
    // Entries are per device.
    h.table.input(A, MAC_B, 'eth1', { targetIsUs: false });
    expect(h.state(A, 'eth1')).toBeUndefined();
  });
});

describe('PERMANENT entries', () => {
  it('never change, never expire, never count against maxEntries', () => {
    const h = harness({ maxEntries: 1 });
    h.table.addPermanent('10.0.0.2', '02:00:00:00:00:02', 'eth0');
    h.table.addPermanent(B, MAC_B, 'eth0');
    expect(h.table.format()).toBe(
      '10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 PERMANENT\n10.0.0.3 dev eth0 lladdr 02:00:00:00:00:03 PERMANENT',
    );
    h.table.input(A, MAC_A2, 'eth0', { isReply: true, targetIsUs: true });
    h.table.input(A, MAC_A2, 'eth0', { targetIsUs: false });
    h.table.confirm(A, 'eth0');
    h.until(10_000_000);
    expect(h.table.lookup(A, 'eth0')).toBe(MAC_A);
    expect(h.state(A)).toBe('PERMANENT');
    expect(h.clock.timers.size).toBe(0);
    expect(h.table.resolve(C, 'eth0', 'x')).toBe(true); // the one dynamic slot
    expect(h.table.resolve(ip('10.0.0.5'), 'eth0', 'y')).toBe(false);
  });

  it('replacing an INCOMPLETE entry hands over its packets; a dynamic entry becomes permanent', () => {
    const h = harness({ maxEntries: 1 });
    h.table.resolve(A, 'eth0', 'p1');
    h.drain();
    h.table.addPermanent(A, MAC_A, 'eth0');
    expect(h.drain()).toEqual(['0 resolved 10.0.0.2 eth0 02:00:00:00:00:02 [p1]']);
    expect(h.until(100_000)).toEqual([]);
    expect(h.table.resolve(B, 'eth0', 'q')).toBe(true); // A no longer counts
  });

  it('bad addresses are EINVAL errors', () => {
    const h = harness();
    expect(() => h.table.addPermanent('10.0.0', MAC_A, 'eth0')).toThrow(NeighbourError);
    expect(() => h.table.addPermanent(A, 'zz:00:00:00:00:00', 'eth0')).toThrow(/invalid MAC address "zz:00:00:00:00:00"/);
    expect(() => h.table.addPermanent(A, 2 ** 48, 'eth0')).toThrow(/48-bit/);
    expect(() => h.table.addPermanent(A, MAC_A, '')).toThrow(/invalid device name/);
    try {
      h.table.delete('x', 'eth0');
    } catch (e) {
      expect((e as NeighbourError).code).toBe('EINVAL');
    }
    expect(() => new NeighbourTable(h.clock, { solicit() {}, resolved() {}, failed() {} }, { maxProbes: 0 })).toThrow(
      /invalid neighbour option maxProbes = 0/,
    );
  });
});

describe('table limit and garbage collection', () => {
  it('refuses new entries when full of live ones (tableFull), evicting FAILED first, then the oldest STALE', () => {
    const h = harness({ maxEntries: 3 });
    h.table.resolve(A, 'eth0', 'a');
    h.table.resolve(B, 'eth0', 'b');
    h.table.resolve(C, 'eth0', 'c');
    expect(h.table.resolve(ip('10.0.0.5'), 'eth0', 'd')).toBe(false);
    h.table.input(ip('10.0.0.6'), MAC_B, 'eth0', { targetIsUs: true });
    expect(h.table.stats.tableFull).toBe(2);
    expect(h.table.size).toBe(3);
    // B then A are answered and later go STALE (B first); C fails.
    h.until(500);
    h.table.input(B, MAC_B, 'eth0', { isReply: true, targetIsUs: true });
    h.until(600);
    h.table.input(A, MAC_A, 'eth0', { isReply: true, targetIsUs: true });
    h.until(3_000);
    expect(h.table.entries().map((e) => e.state)).toEqual(['REACHABLE', 'REACHABLE', 'FAILED']);
    h.until(30_600);
    expect(h.table.entries().map((e) => e.state)).toEqual(['STALE', 'STALE', 'FAILED']);
    expect(h.table.resolve(ip('10.0.0.7'), 'eth0', 'e')).toBe(true);
    expect(h.state(C)).toBeUndefined(); // the FAILED one went first
    expect(h.table.resolve(ip('10.0.0.8'), 'eth0', 'f')).toBe(true);
    expect(h.state(B)).toBeUndefined(); // then the oldest STALE
    expect(h.state(A)).toBe('STALE');
    expect(h.table.stats).toMatchObject({ evicted: 2, tableFull: 2 });
  });

  it('collects STALE entries gcStaleMs after their last use or confirmation and FAILED ones gcStaleMs after failing', () => {
    const h = harness();
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: true }); // STALE at 0, never used
    h.table.resolve(B, 'eth0', 'b'); // FAILED at 3000
    h.until(10_000);
    h.table.resolve(C, 'eth0', 'c');
    h.table.input(C, MAC_B, 'eth0', { isReply: true, targetIsUs: true }); // used at 10000 by the queued packet
    h.until(59_999);
    expect(h.table.size).toBe(3);
    h.until(60_000);
    expect(h.state(A)).toBeUndefined();
    h.until(62_999);
    expect(h.state(B)).toBe('FAILED');
    h.until(63_000);
    expect(h.state(B)).toBeUndefined();
    expect(h.state(C)).toBe('STALE'); // STALE since 40000, last used and confirmed at 10000
    h.until(69_999);
    expect(h.state(C)).toBe('STALE');
    h.until(70_000);
    expect(h.table.size).toBe(0);
    expect(h.table.stats.gcRemoved).toBe(3);
    expect(h.clock.timers.size).toBe(0);
  });
});

describe('delete, flushDev, close, entries, output', () => {
  it('delete of a resolving entry fails its packets; flushDev drops them (counted); close cancels every timer', () => {
    const h = harness();
    h.table.resolve(A, 'eth0', 'p1');
    h.table.resolve(A, 'eth0', 'p2');
    h.drain();
    expect(h.table.delete('10.0.0.2', 'eth0')).toBe(true);
    expect(h.drain()).toEqual(['0 failed 10.0.0.2 eth0 [p1,p2]']);
    expect(h.table.delete(A, 'eth0')).toBe(false);
    h.table.resolve(A, 'eth1', 'q1');
    h.table.resolve(B, 'eth1', 'q2');
    h.table.addPermanent(C, MAC_B, 'eth1');
    h.table.resolve(B, 'eth0', 'r1');
    h.table.flushDev('eth1');
    expect(h.table.size).toBe(1);
    expect(h.table.stats.queueDrops).toBe(2);
    h.table.close();
    expect(h.table.size).toBe(0);
    expect(h.clock.timers.size).toBe(0);
    expect(h.table.stats.queueDrops).toBe(3);
  });

  it('entries(), format() and toJSON() read like `ip neigh` / `ip -j neigh`, sorted by device then address', () => {
    const h = harness();
    h.table.resolve(ip('10.0.0.9'), 'eth0', 'x');
    h.until(1_500);
    h.table.input(B, MAC_B, 'eth1', { isReply: true, targetIsUs: true });
    h.table.input(A, MAC_A, 'eth0', { targetIsUs: true });
    h.table.addPermanent(ip('10.0.0.1'), '02:00:00:00:00:01', 'eth0');
    h.until(3_000);
    h.table.resolve(C, 'eth0', 'y');
    expect(h.table.format()).toBe(
      [
        '10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 PERMANENT',
        '10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 STALE',
        '10.0.0.4 dev eth0 INCOMPLETE',
        '10.0.0.9 dev eth0 FAILED',
        '10.0.0.3 dev eth1 lladdr 02:00:00:00:00:03 REACHABLE',
      ].join('\n'),
    );
    expect(h.table.entries()).toEqual([
      { ip: ip('10.0.0.1'), dev: 'eth0', mac: parseMac('02:00:00:00:00:01'), state: 'PERMANENT', ageMs: 1_500 },
      { ip: A, dev: 'eth0', mac: MAC_A, state: 'STALE', ageMs: 1_500 },
      { ip: C, dev: 'eth0', state: 'INCOMPLETE', ageMs: 0 },
      { ip: ip('10.0.0.9'), dev: 'eth0', state: 'FAILED', ageMs: 0 },
      { ip: B, dev: 'eth1', mac: MAC_B, state: 'REACHABLE', ageMs: 1_500 },
    ]);
    expect(JSON.stringify(h.table.toJSON().slice(1, 4))).toBe(
      '[{"dst":"10.0.0.2","dev":"eth0","lladdr":"02:00:00:00:00:02","state":["STALE"]},' +
        '{"dst":"10.0.0.4","dev":"eth0","state":["INCOMPLETE"]},{"dst":"10.0.0.9","dev":"eth0","state":["FAILED"]}]',
    );
    expect(harness().table.format()).toBe('');
  });
});

describe('random operations', () => {
  it('every queued packet comes out exactly once (resolved, failed or counted as dropped), and limits hold', () => {
    const ips = [A, B, C, ip('10.0.0.5')];
    const op = fc.oneof(
      fc.record({ k: fc.constant('resolve' as const), i: fc.nat(3), d: fc.nat(1) }),
      fc.record({ k: fc.constant('input' as const), i: fc.nat(3), d: fc.nat(1), reply: fc.boolean(), us: fc.boolean(), m: fc.nat(1) }),
      fc.record({ k: fc.constant('lookup' as const), i: fc.nat(3), d: fc.nat(1) }),
      fc.record({ k: fc.constant('confirm' as const), i: fc.nat(3), d: fc.nat(1) }),
      fc.record({ k: fc.constant('delete' as const), i: fc.nat(3), d: fc.nat(1) }),
      fc.record({ k: fc.constant('permanent' as const), i: fc.nat(3), d: fc.nat(1) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), (ops, maxEntries, queueLen) => {
        const clock = new VirtualClock();
        const out: string[] = [];
        const table = new NeighbourTable<string>(
          clock,
          { solicit() {}, resolved: (_a, _d, _m, p) => out.push(...p), failed: (_a, _d, p) => out.push(...p) },
          { maxEntries, queueLen },
        );
        let sent = 0;
        let refused = 0;
        for (const o of ops) {
          const dev = o.k === 'advance' ? '' : `eth${o.d}`;
          const addr = o.k === 'advance' ? 0 : ips[o.i]!;
          switch (o.k) {
            case 'resolve':
              if (!table.resolve(addr, dev, `p${sent++}`)) refused++;
              break;
            case 'input':
              table.input(addr, o.m === 0 ? MAC_A : MAC_B, dev, { isReply: o.reply, targetIsUs: o.us });
              break;
            case 'lookup':
              table.lookup(addr, dev);
              break;
            case 'confirm':
              table.confirm(addr, dev);
              break;
            case 'delete':
              table.delete(addr, dev);
              break;
            case 'permanent':
              table.addPermanent(addr, MAC_A, dev);
              break;
            case 'advance':
              clock.advance(o.ms);
              break;
          }
          const es = table.entries();
          expect(es.filter((e) => e.state !== 'PERMANENT').length).toBeLessThanOrEqual(maxEntries);
          expect(clock.timers.size).toBeLessThanOrEqual(es.length);
          for (const e of es) expect(e.mac !== undefined).toBe(e.state !== 'INCOMPLETE' && e.state !== 'FAILED');
        }
        table.close();
        expect(clock.timers.size).toBe(0);
        expect(new Set(out).size).toBe(out.length);
        expect(out.length + table.stats.queueDrops + refused).toBe(sent);
      }),
      { numRuns: 400 },
    );
  });
});
