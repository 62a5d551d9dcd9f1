/**
 * DnsCache alone, on the virtual clock: what it keeps and for how long
 * (smallest answer TTL; RFC 2308's min(SOA TTL, MINIMUM) for negative
 * answers), what it refuses to keep (TC, SERVFAIL, negative without SOA,
 * TTL 0), that its copies are its own (Buffers in, Buffers' views never
 * shared), and that a fast-check stream of operations never outgrows it.
 */
import dnsPacket, { type Answer } from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DnsCache } from '../../src/dns/cache.js';
import { VirtualClock } from '../../src/time/index.js';
import { soa } from './harness.js';

function response(opts: { answers?: Answer[]; authorities?: Answer[]; rcode?: number; tc?: boolean }): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: 1,
    flags: (opts.rcode ?? 0) | (opts.tc === true ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: [{ name: 'x.test', type: 'A', class: 'IN' }],
    answers: opts.answers ?? [],
    authorities: opts.authorities ?? [],
  });
}
const A = (ttl: number, data = '10.1.1.1'): Answer => ({ type: 'A', name: 'x.test', ttl, class: 'IN', data });
const ttls = (b: Uint8Array): number[] => {
  const p = dnsPacket.decode(Buffer.from(b));
  return [...(p.answers ?? []), ...(p.authorities ?? [])].map((r) => (r as { ttl: number }).ttl);
};

describe('DnsCache', () => {
  it('keeps a positive answer for its smallest TTL, one TTL for the RRset (RFC 2181 §5.2), counted down', () => {
    const clock = new VirtualClock();
    const c = new DnsCache(clock);
    expect(c.set('x', response({ answers: [A(300), A(100, '10.1.1.2')] }))).toBe(100);
    clock.advance(40_500);
    expect(ttls(c.get('x')!)).toEqual([60, 60]);
    clock.advance(59_500);
    expect(c.get('x')).toBeUndefined();
    expect(c.stats).toMatchObject({ hits: 1, misses: 1, expired: 1, inserts: 1 });
  });

  it('negative answers live min(SOA TTL, SOA MINIMUM); without SOA, truncated, SERVFAIL or TTL 0 nothing is kept', () => {
    const c = new DnsCache(new VirtualClock());
    expect(c.set('nx', response({ rcode: 3, authorities: [soa('test', 900, 45)] }))).toBe(45);
    expect(c.set('nodata', response({ authorities: [soa('test', 20, 45)] }))).toBe(20);
    expect(c.set('a', response({ rcode: 3 }))).toBe(0);
    expect(c.set('b', response({ answers: [A(300)], tc: true }))).toBe(0);
    expect(c.set('c', response({ rcode: 2, answers: [A(300)] }))).toBe(0);
    expect(c.set('d', response({ answers: [A(0)] }))).toBe(0);
    expect(c.stats.uncacheable).toBe(4);
    expect(c.size).toBe(2);
  });

  it('owns its bytes: changing what went in or what came out changes nothing inside', () => {
    const clock = new VirtualClock();
    const c = new DnsCache(clock);
    const input = response({ answers: [A(300)] });
    c.set('x', input);
    input.fill(0); // a Buffer the socket reuses
    const out = c.get('x')!;
    out[0] = 0xff;
    out[1] = 0xff;
    clock.advance(10_000);
    const again = c.get('x')!;
    expect(dnsPacket.decode(Buffer.from(again)).id).toBe(1);
    expect(ttls(again)).toEqual([290]);
  });

  it('fast-check: any sequence of sets, gets and time never holds more than maxEntries, and never throws', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.tuple(fc.constant('set' as const), fc.nat(20), fc.integer({ min: 0, max: 1000 })), fc.tuple(fc.constant('get' as const), fc.nat(20), fc.nat(5000))), { maxLength: 200 }),
        fc.uint8Array({ maxLength: 80 }),
        (ops, junk) => {
          const clock = new VirtualClock();
          const c = new DnsCache(clock, { maxEntries: 5 });
          c.set('junk', junk);
          for (const [op, k, v] of ops) {
            if (op === 'set') c.set(`k${k}`, response({ answers: [A(v)] }));
            else {
              clock.advance(v);
              c.get(`k${k}`);
            }
            expect(c.size).toBeLessThanOrEqual(5);
          }
          expect(() => c.format()).not.toThrow();
        },
      ),
      { numRuns: 300, seed: 3 },
    );
  });
});
