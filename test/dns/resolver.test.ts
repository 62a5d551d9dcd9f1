/**
 * `stack.dns` — the resolver of wirelab hosts — on the virtual clock, against
 * the gateway's DnsServer and fake servers on the gateway's other ports:
 * Node's lookup shapes, search domains, the cache, timeouts and retries,
 * failover, refusal, the TCP retry on truncation, and Node's errors.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { a, dnsLab, FakeUpstream, settle, type DnsLab } from './harness.js';
import type { SocketError } from '../../src/ip/socket-errors.js';

async function lab(): Promise<DnsLab> {
  const l = await dnsLab({ domain: 'lab' });
  l.server.addHost('web', '10.0.0.10', { aliases: ['svc'], network: 'front' });
  l.server.addHost('web2', '10.0.0.11', { aliases: ['svc'], network: 'front' });
  l.client.dns.setServers(['10.0.0.1']);
  return l;
}

async function rejection(l: DnsLab, p: Promise<unknown>): Promise<SocketError> {
  try {
    await settle(l.clock, p);
  } catch (e) {
    return e as SocketError;
  }
  throw new Error('expected a rejection');
}

describe('stack.dns.lookup', () => {
  it("answers as Node's dns.promises.lookup does: { address, family: 4 }, or all of them with all: true", async () => {
    const l = await lab();
    expect(await settle(l.clock, l.client.dns.lookup('web'))).toEqual({ address: '10.0.0.10', family: 4 });
    const all = await settle(l.clock, l.client.dns.lookup('svc', { all: true }));
    expect(all.map((x) => x.address).sort()).toEqual(['10.0.0.10', '10.0.0.11']);
    expect(all.every((x) => x.family === 4)).toBe(true);
    // Literals and localhost never touch the network.
    const before = l.server.stats.queries.udp;
    expect(await l.client.dns.lookup('10.1.2.3')).toEqual({ address: '10.1.2.3', family: 4 });
    expect(await l.client.dns.lookup('localhost', { all: true })).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(l.server.stats.queries.udp).toBe(before);
  });

  it('rejects a name that does not exist with getaddrinfo ENOTFOUND, and resolve4 with queryA ENOTFOUND / ENODATA', async () => {
    const l = await lab();
    const e = await rejection(l, l.client.dns.lookup('nope.lab'));
    expect(e).toMatchObject({ code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: 'nope.lab', message: 'getaddrinfo ENOTFOUND nope.lab' });
    expect(await rejection(l, l.client.dns.resolve4('nope.lab'))).toMatchObject({ code: 'ENOTFOUND', syscall: 'queryA', hostname: 'nope.lab' });
    l.upstream.records.set('v6only.example.test', { answers: [] , authorities: [] });
    expect(await rejection(l, l.client.dns.resolve4('v6only.example.test'))).toMatchObject({ code: 'ENODATA', hostname: 'v6only.example.test' });
    expect(await rejection(l, l.client.dns.lookup('web', { family: 6 }))).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('tries the search domains first for a name with fewer dots than ndots, as res_search does', async () => {
    const l = await lab();
    l.upstream.records.set('www.example.test', { answers: [a('www.example.test', '10.203.0.77')] });
    l.client.dns.configure({ search: ['example.test'] });
    expect(await settle(l.clock, l.client.dns.lookup('www'))).toEqual({ address: '10.203.0.77', family: 4 });
    expect(l.upstream.count('www.example.test')).toBe(1);
    expect(l.upstream.count('www')).toBe(0);
    // With a dot, the name itself comes first.
    l.upstream.records.set('a.b', { answers: [a('a.b', '10.203.0.78')] });
    expect(await settle(l.clock, l.client.dns.lookup('a.b'))).toEqual({ address: '10.203.0.78', family: 4 });
    expect(l.upstream.count('a.b.example.test')).toBe(0);
  });

  it('caches answers by their TTL: the second lookup sends nothing; after expiry it asks again', async () => {
    const l = await lab();
    await settle(l.clock, l.client.dns.lookup('web'));
    const asked = l.server.stats.queries.udp;
    l.clock.advance(300_000);
    expect(await settle(l.clock, l.client.dns.resolve4('web', { ttl: true }))).toEqual([{ address: '10.0.0.10', ttl: 300 }]);
    expect(l.server.stats.queries.udp).toBe(asked);
    expect(l.client.dns.stats.cacheHits).toBe(1);
    l.clock.advance(301_000);
    await settle(l.clock, l.client.dns.lookup('web'));
    expect(l.server.stats.queries.udp).toBe(asked + 1);
    expect(l.client.dns.cache.format()).toMatch(/^web\s+A\s+NOERROR\s+600\s+0\s+10\.0\.0\.10$/m);
  });

  it('retries after a timeout (a lost query), and gives up with EAI_AGAIN after tries × servers timeouts', async () => {
    const l = await lab();
    const flaky = new FakeUpstream(l.gateway, 5300);
    flaky.records.set('flaky.example.test', { answers: [a('flaky.example.test', '10.203.0.9')], dropUdp: 1 });
    l.client.dns.setServers(['10.0.0.1:5300']);
    l.client.dns.configure({ timeout: 1000, tries: 3 });
    const t0 = l.clock.now();
    expect(await settle(l.clock, l.client.dns.lookup('flaky.example.test'))).toEqual({ address: '10.203.0.9', family: 4 });
    expect(l.clock.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(flaky.count('flaky.example.test', 'udp')).toBe(2);
    expect(l.client.dns.stats.timeouts).toBe(1);

    flaky.silent = true;
    const t1 = l.clock.now();
    const e = await rejection(l, l.client.dns.lookup('dead.example.test'));
    expect(e).toMatchObject({ code: 'EAI_AGAIN', errno: -3001, syscall: 'getaddrinfo', hostname: 'dead.example.test', message: 'getaddrinfo EAI_AGAIN dead.example.test' });
    expect(flaky.count('dead.example.test')).toBe(3);
    expect(l.clock.now() - t1).toBeGreaterThanOrEqual(3000);
    expect(l.clock.now() - t1).toBeLessThan(3200);
    expect(await rejection(l, l.client.dns.resolve4('dead.example.test'))).toMatchObject({ code: 'ETIMEOUT', syscall: 'queryA' });
  });

  it('fails over to the next server; a closed port (ICMP port unreachable) fails fast, not after the timeout', async () => {
    const l = await lab();
    l.client.dns.setServers(['10.0.0.1:5399', '10.0.0.1']);
    l.client.dns.configure({ timeout: 5000 });
    const t0 = l.clock.now();
    expect(await settle(l.clock, l.client.dns.lookup('web'))).toEqual({ address: '10.0.0.10', family: 4 });
    expect(l.clock.now() - t0).toBeLessThan(1000);
    expect(l.client.dns.stats.errors).toBe(1);
    l.client.dns.setServers(['10.0.0.1:5399']);
    const e = await rejection(l, l.client.dns.resolve4('web'));
    expect(e.code).toBe('ECONNREFUSED');
  });

  it('retries over TCP when the answer comes back truncated', async () => {
    const l = await lab();
    const big = new FakeUpstream(l.gateway, 5300);
    big.records.set('many.example.test', { answers: ['10.203.1.1', '10.203.1.2', '10.203.1.3'].map((x) => a('many.example.test', x)), tcOverUdp: true });
    l.client.dns.setServers(['10.0.0.1:5300']);
    const all = await settle(l.clock, l.client.dns.lookup('many.example.test', { all: true }));
    expect(all.map((x) => x.address)).toEqual(['10.203.1.1', '10.203.1.2', '10.203.1.3']);
    expect(big.count('many.example.test', 'udp')).toBe(1);
    expect(big.count('many.example.test', 'tcp')).toBe(1);
    expect(l.client.dns.stats).toMatchObject({ truncated: 1, tcpQueries: 1, udpQueries: 1 });
  });

  it('setServers and getServers as Node: port 53 left out, bad entries refused with ERR_INVALID_IP_ADDRESS', async () => {
    const l = await lab();
    l.client.dns.setServers(['10.0.0.1', '10.0.0.1:5300']);
    expect(l.client.dns.getServers()).toEqual(['10.0.0.1', '10.0.0.1:5300']);
    expect(() => l.client.dns.setServers(['web'])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
    expect(() => l.client.dns.setServers(['10.0.0.1:70000'])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
    expect(l.client.dns.getServers()).toEqual(['10.0.0.1', '10.0.0.1:5300']);
  });

  it('with no server set, rejects with EAI_AGAIN naming the fix', async () => {
    const l = await dnsLab();
    const e = await rejection(l, l.client.dns.lookup('web'));
    expect(e.code).toBe('EAI_AGAIN');
    expect(l.client.dns.getServers()).toEqual([]);
  });

  it('stack.tcp.connect and http.get with the stack\'s agent take names once servers are set', async () => {
    const l = await lab();
    l.server.addHost('gw', '10.0.0.1', { network: 'front' });
    const site = http.createServer((_req, res) => res.end('hello by name\n'));
    l.gateway.tcp.createServer((sock) => site.emit('connection', sock)).listen(8080);
    const body = await settle(
      l.clock,
      new Promise<string>((resolve, reject) => {
        http
          .get({ host: 'gw', port: 8080, path: '/', agent: l.client.tcp.agent() }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(text));
          })
          .on('error', reject);
      }),
    );
    expect(body).toBe('hello by name\n');
    const sock = l.client.tcp.connect({ host: 'nope.lab', port: 80 });
    const err = await settle(l.clock, new Promise<SocketError>((r) => sock.once('error', r)));
    expect(err).toMatchObject({ code: 'ENOTFOUND', hostname: 'nope.lab' });
    // A host with no DNS servers keeps today's behaviour: names are ENOTFOUND at once, nothing is sent.
    const before = l.server.stats.queries.udp;
    const lone = l.gateway.tcp.connect({ host: 'web', port: 80 });
    expect(await settle(l.clock, new Promise<SocketError>((r) => lone.once('error', r)))).toMatchObject({ code: 'ENOTFOUND' });
    expect(l.server.stats.queries.udp).toBe(before);
  });
});
