/**
 * The routing table: longest-prefix match with metrics, add/remove rules and
 * errors as `ip route` reports them, exact `ip route` / `ip -j route` output,
 * and lookup against a naive linear scan over random tables.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RouteError, RouteTable, type Route } from '../../src/ip/routes.js';
import { parseIPv4, prefixMask } from '../../src/wire/address.js';

const ip = parseIPv4;

function expectError(fn: () => unknown, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RouteError);
  expect((caught as RouteError).code).toBe(code);
  expect((caught as RouteError).message).toMatch(message);
}

function layered(): RouteTable {
  const t = new RouteTable();
  t.add({ dest: 'default', via: '10.0.0.1', dev: 'eth0', proto: 'static', metric: 100 });
  t.add({ dest: 'default', via: '10.9.0.1', dev: 'eth9', proto: 'static', metric: 50 });
  t.add({ dest: '10.0.0.0/8', dev: 'eth1' });
  t.add({ dest: '10.1.0.0/16', dev: 'eth2' });
  t.add({ dest: '10.1.2.0/24', dev: 'eth3', metric: 20 });
  t.add({ dest: '10.1.2.0/24', dev: 'eth4', metric: 10 });
  t.add({ dest: '10.1.2.3/32', dev: 'eth5' });
  return t;
}

describe('RouteTable lookup', () => {
  it('picks the longest prefix, then the lowest metric', () => {
    const t = layered();
    expect(t.lookup(ip('10.1.2.3'))?.dev).toBe('eth5');
    expect(t.lookup(ip('10.1.2.4'))?.dev).toBe('eth4');
    expect(t.lookup(ip('10.1.3.4'))?.dev).toBe('eth2');
    expect(t.lookup(ip('10.2.0.1'))?.dev).toBe('eth1');
    expect(t.lookup(ip('192.168.1.1'))?.dev).toBe('eth9');
    expect(t.lookup(ip('0.0.0.0'))?.dev).toBe('eth9');
    expect(t.lookup(ip('255.255.255.255'))?.dev).toBe('eth9');
    expect(t.size).toBe(7);
  });

  it('returns the stored, frozen route object (no copy per lookup)', () => {
    const t = layered();
    const a = t.lookup(ip('10.1.2.9'));
    expect(a).toBe(t.lookup(ip('10.1.2.200')));
    expect(Object.isFrozen(a)).toBe(true);
    expect(a).toEqual({ prefix: ip('10.1.2.0'), prefixLength: 24, dev: 'eth4', metric: 10, proto: 'boot', scope: 'link' });
  });

  it('finds nothing in an empty table or outside every prefix', () => {
    const t = new RouteTable();
    expect(t.lookup(ip('10.0.0.1'))).toBeUndefined();
    t.add({ dest: '10.0.0.0/24', dev: 'eth0', proto: 'kernel', src: '10.0.0.2' });
    expect(t.lookup(ip('10.0.1.1'))).toBeUndefined();
    expect(t.lookup(ip('10.0.0.255'))?.src).toBe(ip('10.0.0.2'));
  });

  it('accepts numeric destinations and gateways', () => {
    const t = new RouteTable();
    const r = t.add({ dest: { prefix: ip('172.16.0.0'), prefixLength: 12 }, via: ip('172.16.0.1'), dev: 'eth0' });
    expect(r.gateway).toBe(ip('172.16.0.1'));
    expect(r.scope).toBe('global');
    expect(t.lookup(ip('172.31.255.255'))).toBe(r);
    expect(t.lookup(ip('172.32.0.0'))).toBeUndefined();
  });

  it('matches a naive linear scan over random tables (reference model)', () => {
    const routeArb = fc.record({
      addr: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(ip('10.0.0.0'), ip('10.1.0.0'), ip('10.1.2.0'))),
      len: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(0, 8, 16, 24, 32)),
      metric: fc.integer({ min: 0, max: 3 }),
      dev: fc.constantFrom('a', 'b', 'c'),
    });
    fc.assert(
      fc.property(
        fc.array(routeArb, { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (specs, probes, removals) => {
          const t = new RouteTable();
          const model: Route[] = [];
          for (const s of specs) {
            const prefix = (s.addr & prefixMask(s.len)) >>> 0;
            const dup = model.some((r) => r.prefix === prefix && r.prefixLength === s.len && r.metric === s.metric);
            if (dup) {
              expect(() => t.add({ dest: { prefix, prefixLength: s.len }, dev: s.dev, metric: s.metric })).toThrow(/File exists/);
              continue;
            }
            model.push(t.add({ dest: { prefix, prefixLength: s.len }, dev: s.dev, metric: s.metric }));
          }
          for (const k of removals) {
            const victim = model[k % Math.max(1, model.length)];
            if (victim === undefined) break;
            expect(t.remove({ prefix: victim.prefix, prefixLength: victim.prefixLength }, { metric: victim.metric })).toBe(true);
            model.splice(model.indexOf(victim), 1);
          }
          expect(t.size).toBe(model.length);
          const candidates = [...probes, ...model.map((r) => r.prefix), ...model.map((r) => (r.prefix | ~prefixMask(r.prefixLength)) >>> 0)];
          for (const dst of candidates) {
            let best: Route | undefined;
            for (const r of model) {
              if (((dst & prefixMask(r.prefixLength)) >>> 0) !== r.prefix) continue;
              if (best === undefined || r.prefixLength > best.prefixLength || (r.prefixLength === best.prefixLength && r.metric < best.metric)) best = r;
            }
            expect(t.lookup(dst)).toBe(best);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('RouteTable add', () => {
  it('defaults like `ip route add`: proto boot, scope link without a gateway, global with one, metric 0', () => {
    const t = new RouteTable();
    expect(t.add({ dest: '10.0.0.0/24', dev: 'eth0' })).toEqual({
      prefix: ip('10.0.0.0'), prefixLength: 24, dev: 'eth0', metric: 0, proto: 'boot', scope: 'link',
    });
    expect(t.add({ dest: '10.9.0.0/16', via: '10.0.0.1', dev: 'eth0' })).toEqual({
      prefix: ip('10.9.0.0'), prefixLength: 16, gateway: ip('10.0.0.1'), dev: 'eth0', metric: 0, proto: 'boot', scope: 'global',
    });
    expect(t.add({ dest: '10.0.0.7', dev: 'eth0' }).prefixLength).toBe(32);
    expect(t.add({ dest: 'any', via: '10.0.0.1', dev: 'eth0' }).prefixLength).toBe(0);
  });

  it('resolves the device from a connected route when only `via` is given', () => {
    const t = new RouteTable();
    t.add({ dest: '10.0.0.0/24', dev: 'eth0', proto: 'kernel', src: '10.0.0.2' });
    t.add({ dest: '10.0.1.0/24', dev: 'eth1', proto: 'kernel', src: '10.0.1.2' });
    expect(t.add({ dest: 'default', via: '10.0.1.1' }).dev).toBe('eth1');
    // The gateway must be on a connected network, not behind another gateway.
    expectError(() => t.add({ dest: '192.168.0.0/16', via: '8.8.8.8' }), 'ENETUNREACH', /^Nexthop has invalid gateway/);
  });

  it('refuses bad input with EINVAL and a sentence', () => {
    const t = new RouteTable();
    expectError(() => t.add({ dest: '10.0.0.1/24', dev: 'eth0' }), 'EINVAL', /^Invalid prefix for given prefix length: 10\.0\.0\.1\/24 has host bits set \(the network is 10\.0\.0\.0\/24\)$/);
    expectError(() => t.add({ dest: { prefix: ip('10.0.0.1'), prefixLength: 31 }, dev: 'eth0' }), 'EINVAL', /Invalid prefix for given prefix length/);
    expectError(() => t.add({ dest: '10.0.0.0/33', dev: 'eth0' }), 'EINVAL', /invalid prefix length 33 .*expected 0 to 32/);
    expectError(() => t.add({ dest: { prefix: 0, prefixLength: 40 }, dev: 'eth0' }), 'EINVAL', /invalid prefix length 40/);
    expectError(() => t.add({ dest: { prefix: 0, prefixLength: 1.5 }, dev: 'eth0' }), 'EINVAL', /invalid prefix length 1\.5/);
    expectError(() => t.add({ dest: '10.0.0.0/x', dev: 'eth0' }), 'EINVAL', /invalid prefix length "x"/);
    expectError(() => t.add({ dest: '10.0.0/24', dev: 'eth0' }), 'EINVAL', /invalid destination address "10\.0\.0"/);
    expectError(() => t.add({ dest: '10.0.0.0/8/8', dev: 'eth0' }), 'EINVAL', /invalid destination "10\.0\.0\.0\/8\/8"/);
    expectError(() => t.add({ dest: 'default', via: '10.0.0.300', dev: 'eth0' }), 'EINVAL', /invalid gateway address "10\.0\.0\.300"/);
    expectError(() => t.add({ dest: 'default', via: -1, dev: 'eth0' }), 'EINVAL', /invalid gateway address -1/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth0', src: 'me' }), 'EINVAL', /invalid source address "me"/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth0', metric: -1 }), 'EINVAL', /invalid metric -1/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth0', metric: 2 ** 32 }), 'EINVAL', /invalid metric 4294967296/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth0', proto: 'zebra' as never }), 'EINVAL', /invalid protocol "zebra": expected one of kernel, static, boot/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth0', scope: 'site' as never }), 'EINVAL', /invalid scope "site"/);
    expectError(() => t.add({ dest: '10.0.0.0/24', via: '10.0.0.1', dev: 'eth0', scope: 'host' }), 'EINVAL', /host scope can not have a gateway/);
    expectError(() => t.add({ dest: '10.0.0.0/24' }), 'EINVAL', /needs a device or a gateway/);
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: '' }), 'EINVAL', /invalid device name/);
    expect(t.size).toBe(0);
  });

  it('refuses the same prefix and metric twice with EEXIST ("File exists"), whatever the device', () => {
    const t = new RouteTable();
    t.add({ dest: '10.0.0.0/24', dev: 'eth0', metric: 5 });
    expectError(() => t.add({ dest: '10.0.0.0/24', dev: 'eth1', metric: 5 }), 'EEXIST', /^route 10\.0\.0\.0\/24 metric 5 already exists \(File exists\)$/);
    expect(t.add({ dest: '10.0.0.0/24', dev: 'eth1', metric: 6 }).dev).toBe('eth1');
    expect(t.add({ dest: '10.0.0.0/25', dev: 'eth1', metric: 5 }).dev).toBe('eth1');
    expectError(() => t.add({ dest: 'default', via: '1.1.1.1', dev: 'eth0' }) && t.add({ dest: '0.0.0.0/0', via: '1.1.1.2', dev: 'eth0' }), 'EEXIST', /^route default metric 0 already exists/);
  });
});

describe('RouteTable remove', () => {
  it('removes the lowest-metric match, honouring dev, metric and gateway filters', () => {
    const t = layered();
    expect(t.remove('10.1.2.0/24', { dev: 'eth3' })).toBe(true);
    expect(t.lookup(ip('10.1.2.9'))?.dev).toBe('eth4');
    t.add({ dest: '10.1.2.0/24', dev: 'eth3', metric: 20 });
    expect(t.remove('10.1.2.0/24')).toBe(true); // metric 10 goes first
    expect(t.lookup(ip('10.1.2.9'))?.dev).toBe('eth3');
    expect(t.remove('default', { gateway: ip('10.0.0.1') })).toBe(true);
    expect(t.lookup(ip('8.8.8.8'))?.dev).toBe('eth9');
    expect(t.remove('default', { gateway: ip('10.0.0.1') })).toBe(false);
    expect(t.remove('default', { metric: 51 })).toBe(false);
    expect(t.remove({ prefix: 0, prefixLength: 0 }, { metric: 50 })).toBe(true);
    expect(t.lookup(ip('8.8.8.8'))).toBeUndefined();
    expect(t.remove('10.1.2.3')).toBe(true);
    expect(t.lookup(ip('10.1.2.3'))?.dev).toBe('eth3');
    expect(t.remove('172.16.0.0/12')).toBe(false);
    expect(t.size).toBe(3);
    expectError(() => t.remove('10.1.2.3/24'), 'EINVAL', /Invalid prefix for given prefix length/);
    expectError(() => t.remove('10.1.2.0/99'), 'EINVAL', /invalid prefix length/);
  });

  it('removeDev drops every route through the device', () => {
    const t = new RouteTable();
    t.add({ dest: '10.0.0.0/24', dev: 'eth0', proto: 'kernel', src: '10.0.0.2' });
    t.add({ dest: '10.0.0.0/24', dev: 'eth1', metric: 10 });
    t.add({ dest: '10.0.0.5', dev: 'eth0' });
    t.add({ dest: 'default', via: '10.0.0.1', dev: 'eth0' });
    t.removeDev('eth0');
    expect(t.size).toBe(1);
    expect(t.lookup(ip('10.0.0.5'))?.dev).toBe('eth1');
    expect(t.lookup(ip('1.2.3.4'))).toBeUndefined();
    expect(t.format()).toBe('10.0.0.0/24 dev eth1 scope link metric 10');
    t.removeDev('eth1');
    expect(t.lookup(ip('10.0.0.5'))).toBeUndefined();
    expect(t.format()).toBe('');
  });
});

describe('RouteTable format and toJSON', () => {
  function host(): RouteTable {
    const t = new RouteTable();
    // Added out of order on purpose.
    t.add({ dest: '192.168.1.0/24', dev: 'eth1', proto: 'kernel', scope: 'link', src: '192.168.1.2' });
    t.add({ dest: '10.0.0.0/24', dev: 'eth0', proto: 'kernel', scope: 'link', src: '10.0.0.2' });
    t.add({ dest: '10.0.0.0/8', via: '10.0.0.254', dev: 'eth0' });
    t.add({ dest: 'default', via: '10.0.0.1', dev: 'eth0', proto: 'static', metric: 100 });
    t.add({ dest: '10.0.0.0/24', dev: 'eth1', metric: 200 });
    t.add({ dest: '10.0.0.9', via: '10.0.0.1', dev: 'eth0', proto: 'static' });
    t.add({ dest: 'default', via: '192.168.1.1', dev: 'eth1', proto: 'static', metric: 600 });
    t.add({ dest: '127.0.0.1', dev: 'lo', proto: 'kernel', scope: 'host', src: '127.0.0.1' });
    return t;
  }

  it('prints exactly like `ip route`, in the kernel order', () => {
    expect(host().format()).toBe(
      [
        'default via 10.0.0.1 dev eth0 proto static metric 100',
        'default via 192.168.1.1 dev eth1 proto static metric 600',
        '10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.2',
        '10.0.0.0/24 dev eth1 scope link metric 200',
        '10.0.0.0/8 via 10.0.0.254 dev eth0',
        '10.0.0.9 via 10.0.0.1 dev eth0 proto static',
        '127.0.0.1 dev lo proto kernel scope host src 127.0.0.1',
        '192.168.1.0/24 dev eth1 proto kernel scope link src 192.168.1.2',
      ].join('\n'),
    );
    expect(new RouteTable().format()).toBe('');
  });

  it('list() is in the same order', () => {
    expect(host().list().map((r) => `${r.prefix}/${r.prefixLength}/${r.metric}`)).toEqual([
      '0/0/100',
      '0/0/600',
      `${ip('10.0.0.0')}/24/0`,
      `${ip('10.0.0.0')}/24/200`,
      `${ip('10.0.0.0')}/8/0`,
      `${ip('10.0.0.9')}/32/0`,
      `${ip('127.0.0.1')}/32/0`,
      `${ip('192.168.1.0')}/24/0`,
    ]);
  });

  it('toJSON reads like `ip -j route` (same keys, same order, same omissions)', () => {
    const json = JSON.stringify(host());
    expect(json.startsWith(
      '[{"dst":"default","gateway":"10.0.0.1","dev":"eth0","protocol":"static","metric":100,"flags":[]},' +
        '{"dst":"default","gateway":"192.168.1.1","dev":"eth1","protocol":"static","metric":600,"flags":[]},' +
        '{"dst":"10.0.0.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.0.0.2","flags":[]},',
    )).toBe(true);
    expect(host().toJSON()[4]).toEqual({ dst: '10.0.0.0/8', gateway: '10.0.0.254', dev: 'eth0', flags: [] });
    // The shape `ip -j route` printed on a real host: {"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}
    const t = new RouteTable();
    t.add({ dest: 'default', via: '192.0.2.1', dev: 'eth0' });
    t.add({ dest: '192.0.2.0/24', dev: 'eth0', proto: 'kernel', src: '192.0.2.2' });
    expect(JSON.stringify(t)).toBe(
      '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},' +
        '{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]}]',
    );
    expect(t.format()).toBe('default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2');
  });
});
