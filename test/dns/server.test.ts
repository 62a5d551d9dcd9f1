/**
 * DnsServer on a wirelab gateway, on the virtual clock: lab names (name,
 * alias, name.network, PTR), round robin, NXDOMAIN and NODATA with the SOA,
 * forwarding to a fake upstream on another wirelab host, the cache (hits,
 * TTL countdown and expiry, RFC 2308 negative caching), truncation with the
 * TCP retry both upstream and towards the client, failover and SERVFAIL, and
 * the inspection tables.
 */
import { describe, expect, it } from 'vitest';
import type { Answer } from 'dns-packet';
import { a, ask, dnsLab, soa } from './harness.js';

const addrs = (answers: Answer[] | undefined): string[] => (answers ?? []).filter((x) => x.type === 'A').map((x) => String((x as { data: string }).data));

async function labWithHosts() {
  const lab = await dnsLab({ domain: 'lab' });
  lab.server.addHost('web', '10.0.0.10', { aliases: ['www', 'api'], network: 'front' });
  lab.server.addHost('db', '10.0.0.20', { network: 'front' });
  return lab;
}

describe('lab names', () => {
  it('answers A for the name, each alias, name.network and name.domain, with authority and TTL 600', async () => {
    const lab = await labWithHosts();
    for (const name of ['web', 'www', 'api', 'web.front', 'www.front', 'web.lab']) {
      const r = await ask(lab, name);
      expect(r.rcode, name).toBe('NOERROR');
      expect(r.flag_aa, name).toBe(true);
      expect(addrs(r.answers), name).toEqual(['10.0.0.10']);
      expect(r.answers![0]!.ttl).toBe(600);
    }
    expect(lab.server.stats.answers.local).toBe(6);
    expect(lab.upstream.log).toHaveLength(0);
  });

  it('keeps the asker\'s letter case in the question and answers case-insensitively', async () => {
    const lab = await labWithHosts();
    const r = await ask(lab, 'WeB.FrOnT');
    expect(r.questions![0]!.name).toBe('WeB.FrOnT');
    expect(addrs(r.answers)).toEqual(['10.0.0.10']);
  });

  it('answers PTR with name.network, and forwards an address it does not know', async () => {
    const lab = await labWithHosts();
    const r = await ask(lab, '10.0.0.10.in-addr.arpa', { type: 'PTR' });
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toMatchObject([{ type: 'PTR', data: 'web.front' }]);
    await ask(lab, '99.0.0.10.in-addr.arpa', { type: 'PTR' });
    expect(lab.upstream.count('99.0.0.10.in-addr.arpa')).toBe(1);
  });

  it('gives round-robin A records for an alias shared by several containers: order rotates on every query', async () => {
    const lab = await dnsLab();
    for (const [i, ip] of ['10.0.0.31', '10.0.0.32', '10.0.0.33'].entries()) {
      lab.server.addHost(`svc-${i + 1}`, ip, { aliases: ['svc'], network: 'back' });
    }
    const firsts: string[] = [];
    for (let i = 0; i < 6; i++) {
      const got = addrs((await ask(lab, 'svc')).answers);
      expect([...got].sort()).toEqual(['10.0.0.31', '10.0.0.32', '10.0.0.33']);
      firsts.push(got[0]!);
    }
    expect(firsts).toEqual(['10.0.0.31', '10.0.0.32', '10.0.0.33', '10.0.0.31', '10.0.0.32', '10.0.0.33']);
  });

  it('NXDOMAIN with the SOA in authority for a missing name inside a lab domain; nothing forwarded', async () => {
    const lab = await labWithHosts();
    for (const [name, zone] of [['nope.front', 'front'], ['nope.lab', 'lab'], ['a.b.web.front', 'front']] as const) {
      const r = await ask(lab, name);
      expect(r.rcode, name).toBe('NXDOMAIN');
      expect(r.flag_aa).toBe(true);
      expect(r.answers).toHaveLength(0);
      expect(r.authorities).toMatchObject([{ type: 'SOA', name: zone, data: { minimum: 60 } }]);
    }
    expect(lab.upstream.log).toHaveLength(0);
    expect(lab.server.stats.rcodes.NXDOMAIN).toBe(3);
  });

  it('AAAA (or MX) for an existing lab name is NOERROR with no answer and the SOA', async () => {
    const lab = await labWithHosts();
    for (const type of ['AAAA', 'MX'] as const) {
      const r = await ask(lab, 'web.front', { type });
      expect(r.rcode).toBe('NOERROR');
      expect(r.answers).toHaveLength(0);
      expect(r.authorities).toMatchObject([{ type: 'SOA', name: 'front' }]);
    }
    expect(lab.upstream.log).toHaveLength(0);
  });

  it('records follow containers: removeHost makes name.network NXDOMAIN and the bare name go upstream', async () => {
    const lab = await labWithHosts();
    expect(lab.server.removeHost('db')).toBe(1);
    expect((await ask(lab, 'db.front')).rcode).toBe('NXDOMAIN');
    await ask(lab, 'db');
    expect(lab.upstream.count('db')).toBe(1);
    lab.server.addHost('db', '10.0.0.21', { network: 'front' });
    expect(addrs((await ask(lab, 'db')).answers)).toEqual(['10.0.0.21']);
  });

  it('refuses bad names when adding hosts, naming the problem', async () => {
    const lab = await dnsLab();
    expect(() => lab.server.addHost('we b', '10.0.0.2')).toThrow(/label "we b"/);
    expect(() => lab.server.addHost('x'.repeat(64), '10.0.0.2')).toThrow(/1-63/);
    expect(() => lab.server.addHost('web', '10.0.0.300')).toThrow();
  });
});

describe('forwarding and the cache', () => {
  it('forwards other names to the upstream, caches by TTL (counted down), and asks again after expiry', async () => {
    const lab = await dnsLab();
    lab.upstream.records.set('www.example.test', { answers: [a('www.example.test', '10.203.0.77', 300)] });
    const first = await ask(lab, 'www.example.test');
    expect(addrs(first.answers)).toEqual(['10.203.0.77']);
    expect(first.answers![0]!.ttl).toBe(300);
    expect(first.id).toBe(4242);
    expect(lab.upstream.count('www.example.test')).toBe(1);
    // Asked upstream with EDNS, but this client sent no OPT: none comes back (RFC 6891 §7).
    expect(first.additionals.filter((r) => r.type === 'OPT')).toHaveLength(0);
    expect((await ask(lab, 'www.example.test', { edns: 1232 })).additionals.filter((r) => r.type === 'OPT')).toHaveLength(1);

    lab.clock.advance(100_000);
    const second = await ask(lab, 'www.example.test', { id: 7 });
    expect(second.additionals).toHaveLength(0);
    expect(second.id).toBe(7);
    expect(addrs(second.answers)).toEqual(['10.203.0.77']);
    expect(second.answers![0]!.ttl).toBe(200);
    expect(lab.upstream.count('www.example.test')).toBe(1);
    expect(lab.server.stats.answers).toMatchObject({ cache: 2, forwarded: 1 });

    lab.clock.advance(201_000);
    const third = await ask(lab, 'www.example.test');
    expect(third.answers![0]!.ttl).toBe(300);
    expect(lab.upstream.count('www.example.test')).toBe(2);
    expect(lab.server.cache.stats.expired).toBe(1);
  });

  it('caches NXDOMAIN for min(SOA TTL, SOA minimum), RFC 2308', async () => {
    const lab = await dnsLab();
    lab.upstream.records.set('gone.example.test', { rcode: 'NXDOMAIN', authorities: [soa('example.test', 3600, 30)] });
    expect((await ask(lab, 'gone.example.test')).rcode).toBe('NXDOMAIN');
    lab.clock.advance(20_000);
    const cached = await ask(lab, 'gone.example.test');
    expect(cached.rcode).toBe('NXDOMAIN');
    expect(cached.authorities![0]!.ttl).toBe(10); // min(3600, 30) - 20
    expect(lab.upstream.count('gone.example.test')).toBe(1);
    lab.clock.advance(11_000);
    await ask(lab, 'gone.example.test');
    expect(lab.upstream.count('gone.example.test')).toBe(2);
  });

  it('caches NODATA by the SOA too, and does not cache a negative answer without SOA or a SERVFAIL', async () => {
    const lab = await dnsLab();
    lab.upstream.records.set('v4only.example.test', { answers: [], authorities: [soa('example.test', 15, 300)] });
    lab.upstream.records.set('nosoa.example.test', { rcode: 'NXDOMAIN' });
    for (let i = 0; i < 2; i++) {
      await ask(lab, 'v4only.example.test', { type: 'AAAA' });
      await ask(lab, 'nosoa.example.test');
    }
    expect(lab.upstream.count('v4only.example.test')).toBe(1);
    expect(lab.upstream.count('nosoa.example.test')).toBe(2);
    lab.clock.advance(16_000);
    await ask(lab, 'v4only.example.test', { type: 'AAAA' });
    expect(lab.upstream.count('v4only.example.test')).toBe(2);
    expect(lab.server.cache.stats.uncacheable).toBe(2);
  });

  it('retries over TCP when the upstream truncates, and truncates towards a small client, which retries over TCP', async () => {
    const lab = await dnsLab();
    const many = Array.from({ length: 100 }, (_, i) => a('big.example.test', `10.203.${i >> 8}.${i & 255}`, 120));
    lab.upstream.records.set('big.example.test', { answers: many, tcOverUdp: true });
    const udp = await ask(lab, 'big.example.test');
    expect(lab.upstream.count('big.example.test', 'udp')).toBe(1);
    expect(lab.upstream.count('big.example.test', 'tcp')).toBe(1);
    expect(lab.server.forwarder.stats.truncated).toBe(1);
    // 100 A records do not fit 512 bytes: the client gets TC and the question only.
    expect(udp.flag_tc).toBe(true);
    expect(udp.answers).toHaveLength(0);
    expect(udp.size).toBeLessThanOrEqual(512);
    expect(lab.server.stats.truncated).toBe(1);
    // A client advertising EDNS 4096 gets it all over UDP; over TCP anyone does. Both from the cache.
    expect(addrs((await ask(lab, 'big.example.test', { edns: 4096 })).answers)).toHaveLength(100);
    const tcp = await ask(lab, 'big.example.test', { tcp: true });
    expect(tcp.flag_tc).toBe(false);
    expect(addrs(tcp.answers)).toHaveLength(100);
    expect(lab.server.stats.queries.tcp).toBe(1);
    expect(lab.upstream.count('big.example.test')).toBe(2);
  });

  it('fails over to the next upstream, and answers SERVFAIL when none answers', async () => {
    const lab = await dnsLab({ upstreams: ['10.9.0.99', '10.9.0.53'], timeoutMs: 500, attempts: 2 });
    lab.upstream.records.set('x.example.test', { answers: [a('x.example.test', '10.203.0.5')] });
    const r = await ask(lab, 'x.example.test');
    expect(addrs(r.answers)).toEqual(['10.203.0.5']);
    expect(lab.server.forwarder.stats.timeouts + lab.server.forwarder.stats.errors).toBeGreaterThanOrEqual(1);
    lab.upstream.silent = true;
    const t0 = lab.clock.now();
    const fail = await ask(lab, 'y.example.test');
    expect(fail.rcode).toBe('SERVFAIL');
    expect(lab.upstream.count('y.example.test')).toBe(2); // two rounds over the list
    expect(lab.clock.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(lab.server.forwarder.stats.failed).toBe(1);
  });

  it('coalesces identical questions in flight into one upstream query', async () => {
    const lab = await dnsLab();
    lab.upstream.records.set('burst.example.test', { answers: [a('burst.example.test', '10.203.0.9')] });
    const [r1, r2, r3] = await Promise.all([ask(lab, 'burst.example.test'), ask(lab, 'burst.example.test'), ask(lab, 'burst.example.test')]);
    for (const r of [r1, r2, r3]) expect(addrs(r!.answers)).toEqual(['10.203.0.9']);
    expect(lab.upstream.count('burst.example.test')).toBe(1);
  });

  it('refuses (counted) with no upstream configured, and when too many questions are on their way', async () => {
    const none = await dnsLab({ upstreams: [] });
    expect((await ask(none, 'a.example.test')).rcode).toBe('REFUSED');
    expect(none.server.stats.refused.noUpstream).toBe(1);

    const lab = await dnsLab({ maxPending: 1 });
    lab.upstream.silent = true;
    const results = await Promise.all([ask(lab, 'p1.example.test'), ask(lab, 'p2.example.test')]);
    expect(results.map((r) => r.rcode).sort()).toEqual(['REFUSED', 'SERVFAIL']);
    expect(lab.server.stats.refused.overload).toBe(1);
  });

  it('evicts the least recently used entry when the cache is full', async () => {
    const lab = await dnsLab({ cache: { maxEntries: 2 } });
    for (const n of ['c1', 'c2', 'c3']) lab.upstream.records.set(`${n}.example.test`, { answers: [a(`${n}.example.test`, '10.203.0.1')] });
    await ask(lab, 'c1.example.test');
    await ask(lab, 'c2.example.test');
    await ask(lab, 'c1.example.test'); // c1 used: c2 is now the oldest
    await ask(lab, 'c3.example.test');
    expect(lab.server.cache.stats.evictions).toBe(1);
    await ask(lab, 'c1.example.test');
    await ask(lab, 'c2.example.test');
    expect(lab.upstream.count('c1.example.test')).toBe(1);
    expect(lab.upstream.count('c2.example.test')).toBe(2);
  });
});

describe('inspection', () => {
  it('shows the cache as a table and JSON, and the counters as a table and JSON', async () => {
    const lab = await dnsLab();
    lab.server.addHost('web', '10.0.0.10', { network: 'front' });
    lab.upstream.records.set('www.example.test', { answers: [a('www.example.test', '10.203.0.77', 300)] });
    await ask(lab, 'www.example.test');
    await ask(lab, 'gone.example.test');
    lab.clock.advance(5_000);
    await ask(lab, 'www.example.test');
    await ask(lab, 'web');
    const table = lab.server.cache.format();
    expect(table.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+RCODE\s+TTL\s+HITS\s+DATA$/);
    expect(table).toMatch(/^www\.example\.test\s+A\s+NOERROR\s+295\s+1\s+10\.203\.0\.77$/m);
    expect(table).toMatch(/^gone\.example\.test\s+A\s+NXDOMAIN\s+25\s+0\s+\(negative\)$/m);
    const stats = lab.server.formatStats();
    expect(stats).toMatch(/^queries\s+udp 4  tcp 0$/m);
    expect(stats).toMatch(/^answers\s+local 1  cache 1  forwarded 2$/m);
    expect(stats).toMatch(/^rcodes\s+NOERROR 3  NXDOMAIN 1$/m);
    const json = JSON.parse(JSON.stringify(lab.server)) as { stats: { queries: { udp: number } }; cache: { entries: Array<{ name: string; ttl: number }> }; hosts: unknown[] };
    expect(json.stats.queries.udp).toBe(4);
    expect(json.cache.entries.find((e) => e.name === 'www.example.test')?.ttl).toBe(295);
    expect(json.hosts).toEqual([{ name: 'web', address: '10.0.0.10', aliases: [], network: 'front' }]);
    expect(lab.server.zone.format()).toBe(['NAME         ADDRESSES', 'web          10.0.0.10', 'web.wirelab  10.0.0.10', 'web.front    10.0.0.10'].join('\n'));
  });
});
