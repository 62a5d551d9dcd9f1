/**
 * Published ports (DNAT) on the virtual clock: a client on the uplink
 * reaches a container through the router's address and the container sees
 * the client's own address; UDP and port ranges; hairpin (a container
 * reaches its sibling through the published address, as Docker's
 * --userland-proxy=false); collisions refused with EADDRINUSE naming the
 * owner; close() stops new flows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { natLab, run, settle, type NatLab } from './helpers.js';

let lab: NatLab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

function server(host: NatLab['a'], port: number, tag: string): { peers: string[] } {
  const log = { peers: [] as string[] };
  host.tcp.createServer((sock: TcpSocket) => {
    log.peers.push(`${sock.remoteAddress}:${sock.remotePort}`);
    sock.on('data', (d: Buffer) => sock.write(`${tag}:${d.toString()}`));
  }).listen(port);
  return log;
}

async function ask(clock: NatLab['clock'], host: NatLab['a'], to: string, port: number, text: string): Promise<{ answer: string; local: string }> {
  const sock = await settle(clock, new Promise<TcpSocket>((resolve, reject) => {
    const s = host.tcp.connect({ host: to, port }, () => resolve(s));
    s.once('error', reject);
  }));
  const answer = await settle(clock, new Promise<string>((resolve) => {
    sock.once('data', (d: Buffer) => resolve(d.toString()));
    sock.write(text);
  }));
  const local = `${sock.localAddress}:${sock.localPort}`;
  sock.end();
  return { answer, local };
}

describe('published ports (DNAT)', () => {
  it('a client on the uplink reaches the container, which sees the client address', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    r.nat.masquerade('eth1');
    r.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '172.30.0.2', toPort: 80, uplink: 'eth1', owner: 'web' });
    const log = server(a, 80, 'web');
    const { answer, local } = await ask(clock, s, '10.201.0.1', 8080, 'hi');
    expect(answer).toBe('web:hi');
    expect(log.peers).toEqual([local]);
    expect(local.startsWith('10.201.0.2:')).toBe(true);
    const sport = local.split(':')[1];
    expect(r.nat.conntrack.format()).toMatch(new RegExp(
      `^tcp {6}6 \\d+ \\w+ src=10\\.201\\.0\\.2 dst=10\\.201\\.0\\.1 sport=${sport} dport=8080 src=172\\.30\\.0\\.2 dst=10\\.201\\.0\\.2 sport=80 dport=${sport} \\[ASSURED\\] mark=0 use=1$`,
    ));
    expect(r.nat.stats.dnat).toBe(1);
    expect(r.nat.portUsage().published).toEqual(['eth1:8080/tcp -> 172.30.0.2:80']);
  });

  it('UDP and a port range map one to one', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    r.nat.publish({ protocol: 'udp', port: 5000, portEnd: 5002, toAddress: '172.30.0.2', toPort: 6000 });
    const srv = a.udp.createSocket();
    const seen: string[] = [];
    srv.on('message', (m: Buffer, rinfo) => {
      seen.push(`${rinfo.address}:${rinfo.port}`);
      srv.send(Buffer.from(`6001:${m.toString()}`), rinfo.port, rinfo.address);
    });
    srv.bind(6001);
    const cli = s.udp.createSocket();
    cli.bind(7777);
    const got = new Promise<{ text: string; from: string }>((resolve) =>
      cli.once('message', (m: Buffer, rinfo) => resolve({ text: m.toString(), from: `${rinfo.address}:${rinfo.port}` })));
    cli.send(Buffer.from('ping'), 5001, '10.201.0.1');
    expect(await settle(clock, got)).toEqual({ text: '6001:ping', from: '10.201.0.1:5001' });
    expect(seen).toEqual(['10.201.0.2:7777']);
  });

  it('hairpin: a container reaches its sibling through the published address; the sibling sees the gateway', async () => {
    lab = natLab();
    const { clock, a, c, r } = lab;
    r.nat.masquerade('eth1');
    r.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '172.30.0.2', toPort: 80 });
    const log = server(a, 80, 'web');
    const { answer, local } = await ask(clock, c, '10.201.0.1', 8080, 'sibling');
    expect(answer).toBe('web:sibling');
    expect(local.startsWith('172.30.0.3:')).toBe(true);
    expect(log.peers).toHaveLength(1);
    expect(log.peers[0]!.startsWith('172.30.0.1:')).toBe(true);
    expect(r.nat.stats.hairpin).toBe(1);
    const j = r.nat.conntrack.toJSON()[0]!;
    expect(j.status).toEqual(expect.arrayContaining(['SRC_NAT', 'DST_NAT']));
    expect(j.original).toMatchObject({ src: '172.30.0.3', dst: '10.201.0.1', dport: 8080 });
    expect(j.reply).toMatchObject({ src: '172.30.0.2', dst: '172.30.0.1', sport: 80 });
  });

  it('a colliding mapping throws EADDRINUSE naming the owner; close() frees the port and stops new flows', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    const web = r.nat.publish({ protocol: 'tcp', port: 8080, toAddress: '172.30.0.2', toPort: 80, owner: 'web' });
    let err: (Error & { code?: string }) | undefined;
    try {
      r.nat.publish({ protocol: 'tcp', port: 8000, portEnd: 8090, toAddress: '172.30.0.3', toPort: 8000, owner: 'api' });
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('EADDRINUSE');
    expect(err?.message).toBe('tcp port 8080 (in 8000-8090) is already published by web (0.0.0.0:8080/tcp -> 172.30.0.2:80); close that mapping or choose another port');
    // Another protocol, or another specific address, does not collide with an uplink-only mapping.
    expect(() => r.nat.publish({ protocol: 'udp', port: 8080, toAddress: '172.30.0.3', toPort: 80 })).not.toThrow();
    expect(() => r.nat.publish({ protocol: 'tcp', port: 70000, toAddress: '172.30.0.3', toPort: 80 })).toThrow(/port must be an integer in 1\.\.65535, got 70000/);
    expect(() => r.nat.publish({ protocol: 'tcp', port: 81, toAddress: '172.30.0.3', toPort: 80, uplink: 'eth9' })).toThrow(/no interface eth9/);
    server(a, 80, 'web');
    web.close();
    expect(r.nat.mappings().map((m) => m.owner)).not.toContain('web');
    const sock = s.tcp.connect({ host: '10.201.0.1', port: 8080 });
    const refused = new Promise<string>((resolve) => sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
    expect(await settle(clock, refused)).toBe('ECONNREFUSED'); // the router itself answers: nothing listens on 8080
    await run(clock, 10);
  });
});
