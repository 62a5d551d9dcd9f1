/**
 * Masquerade end to end on the virtual clock: containers behind a wirelab
 * router reach a server on the uplink; the server sees the router's address;
 * ports are kept when free and reallocated when not; the range runs out
 * with a counted refusal; UDP, ping and ICMP errors (quoted header
 * translated) come back; fragments pass; the router's own flows are tracked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { natLab, run, settle, type NatLab } from './helpers.js';

let lab: NatLab | undefined;
afterEach(() => {
  lab?.close();
  lab = undefined;
});

/** A TCP server on `host`:`port` that records each peer and echoes. */
function peerLog(host: NatLab['s'], port: number): { peers: string[] } {
  const log = { peers: [] as string[] };
  host.tcp.createServer((sock: TcpSocket) => {
    log.peers.push(`${sock.remoteAddress}:${sock.remotePort}`);
    sock.on('data', (d: Buffer) => sock.write(d));
  }).listen(port);
  return log;
}

function connect(host: NatLab['a'], to: string, port: number, localPort?: number): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    const s = host.tcp.connect({ host: to, port, ...(localPort !== undefined ? { localPort } : {}) }, () => resolve(s));
    s.once('error', reject);
  });
}

function roundTrip(sock: TcpSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    sock.once('data', (d: Buffer) => resolve(d.toString()));
    sock.write(text);
  });
}

describe('masquerade', () => {
  it('TCP: the server sees the router address and the kept source port; the reply comes back', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    r.nat.masquerade('eth1');
    const log = peerLog(s, 80);
    const sock = await settle(clock, connect(a, '10.201.0.2', 80, 40000));
    expect(await settle(clock, roundTrip(sock, 'hello'))).toBe('hello');
    expect(log.peers).toEqual(['10.201.0.1:40000']);
    const lines = r.nat.conntrack.format().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^tcp {6}6 43\d{4} ESTABLISHED src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=40000 dport=80 src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=80 dport=40000 \[ASSURED\] mark=0 use=1$/,
    );
    expect(r.nat.stats.snat).toBe(1);
    expect(r.nat.portUsage().tcp).toEqual({ inUse: 1, ports: { 40000: 1 } });
    sock.end();
    await run(clock, 500);
    expect(r.nat.conntrack.toJSON()[0]!.state).toBe('TIME_WAIT');
  });

  it('a clashing source port is replaced by a free one; both flows work', async () => {
    lab = natLab();
    const { clock, a, c, r, s } = lab;
    r.nat.masquerade('eth1', { portRange: [20000, 20009] });
    const log = peerLog(s, 80);
    const s1 = await settle(clock, connect(a, '10.201.0.2', 80, 20005));
    const s2 = await settle(clock, connect(c, '10.201.0.2', 80, 20005));
    expect(await settle(clock, roundTrip(s1, 'one'))).toBe('one');
    expect(await settle(clock, roundTrip(s2, 'two'))).toBe('two');
    expect(log.peers[0]).toBe('10.201.0.1:20005');
    const other = Number(log.peers[1]!.split(':')[1]);
    expect(log.peers[1]!.startsWith('10.201.0.1:')).toBe(true);
    expect(other).not.toBe(20005);
    expect(other).toBeGreaterThanOrEqual(20000);
    expect(other).toBeLessThanOrEqual(20009);
    // A source port outside the configured range is moved into it.
    const s3 = await settle(clock, connect(a, '10.201.0.2', 80, 45000));
    await settle(clock, roundTrip(s3, 'three'));
    const p3 = Number(log.peers[2]!.split(':')[1]);
    expect(p3).toBeGreaterThanOrEqual(20000);
    expect(p3).toBeLessThanOrEqual(20009);
    expect(r.nat.portUsage().tcp.inUse).toBe(3);
  });

  it('port exhaustion: a counted refusal and one log line, never a crash', async () => {
    const lines: string[] = [];
    lab = natLab({ router: { nat: { log: (l) => lines.push(l) } } });
    const { clock, a, r, s } = lab;
    r.nat.masquerade('eth1', { portRange: [30000, 30001] });
    peerLog(s, 80);
    await settle(clock, connect(a, '10.201.0.2', 80, 30000));
    await settle(clock, connect(a, '10.201.0.2', 80, 30001));
    const third = a.tcp.connect({ host: '10.201.0.2', port: 80, localPort: 30002 });
    third.on('error', () => undefined);
    await run(clock, 3000);
    expect(third.remoteAddress).toBeUndefined(); // never connected
    expect(r.nat.stats.refused.portExhausted).toBeGreaterThanOrEqual(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/no free tcp port in 30000-30001 on 10\.201\.0\.1 for 172\.30\.0\.2:30002 -> 10\.201\.0\.2:80/);
    third.destroy();
  });

  it('UDP: unreplied, then replied; the server sees the router', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    r.nat.masquerade('eth1');
    const srv = s.udp.createSocket();
    const seen: string[] = [];
    srv.on('message', (m, rinfo) => {
      seen.push(`${rinfo.address}:${rinfo.port}`);
      srv.send(m, rinfo.port, rinfo.address);
    });
    srv.bind(53);
    const cli = a.udp.createSocket();
    cli.bind(5353);
    const got = new Promise<string>((resolve) => cli.once('message', (m: Buffer) => resolve(m.toString())));
    cli.send(Buffer.from('q'), 53, '10.201.0.2');
    expect(await settle(clock, got)).toBe('q');
    expect(seen).toEqual(['10.201.0.1:5353']);
    expect(r.nat.conntrack.format()).toMatch(/^udp {6}17 (29|30) src=172\.30\.0\.2 dst=10\.201\.0\.2 sport=5353 dport=53 src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=53 dport=5353 mark=0 use=1$/);
  });

  it('ping through the NAT: the echo identifier is tracked and the reply returns', async () => {
    lab = natLab();
    const { clock, a, r } = lab;
    r.nat.masquerade('eth1');
    const reply = await settle(clock, a.icmp.ping('10.201.0.2'));
    expect(reply.from).toBe('10.201.0.2');
    expect(r.nat.conntrack.format()).toMatch(/^icmp {5}1 (29|30) src=172\.30\.0\.2 dst=10\.201\.0\.2 type=8 code=0 id=\d+ src=10\.201\.0\.2 dst=10\.201\.0\.1 type=0 code=0 id=\d+ mark=0 use=1$/);
  });

  it('ICMP port unreachable about a NATed UDP flow reaches the inside socket (quoted header translated)', async () => {
    lab = natLab();
    const { clock, a, r } = lab;
    r.nat.masquerade('eth1');
    const cli = a.udp.createSocket();
    cli.bind(6000);
    cli.connect(9, '10.201.0.2');
    await run(clock, 50);
    const err = new Promise<string>((resolve) => cli.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
    cli.send(Buffer.from('x'));
    expect(await settle(clock, err)).toBe('ECONNREFUSED');
    expect(r.nat.stats.icmpErrorsTranslated).toBe(1);
  });

  it('fragments through the NAT: a 4000-byte datagram each way, reassembled before conntrack, fragmented again', async () => {
    lab = natLab();
    const { clock, a, r, s } = lab;
    r.nat.masquerade('eth1');
    const srv = s.udp.createSocket();
    const seen: string[] = [];
    srv.on('message', (m: Buffer, rinfo) => {
      seen.push(`${rinfo.address}:${rinfo.port}:${m.length}`);
      srv.send(m, rinfo.port, rinfo.address);
    });
    srv.bind(7);
    const cli = a.udp.createSocket();
    cli.bind(7007);
    const big = Buffer.alloc(4000, 0xab);
    big.writeUInt32BE(0xdeadbeef, 3000);
    const got = new Promise<Buffer>((resolve) => cli.once('message', (m: Buffer) => resolve(m)));
    cli.send(big, 7, '10.201.0.2');
    const back = await settle(clock, got);
    expect(seen).toEqual(['10.201.0.1:7007:4000']);
    expect(Buffer.compare(back, big)).toBe(0);
    expect(r.ip.stats.reassembled).toBeGreaterThanOrEqual(2);
    expect(r.ip.stats.fragCreates).toBeGreaterThanOrEqual(6);
  });

  it("the router's own flows are tracked too (OUTPUT), with no translation", async () => {
    lab = natLab();
    const { clock, r, s } = lab;
    r.nat.masquerade('eth1');
    const log = peerLog(s, 80);
    const sock = await settle(clock, connect(r, '10.201.0.2', 80, 41000));
    expect(await settle(clock, roundTrip(sock, 'me'))).toBe('me');
    expect(log.peers).toEqual(['10.201.0.1:41000']);
    expect(r.nat.conntrack.format()).toMatch(/ESTABLISHED src=10\.201\.0\.1 dst=10\.201\.0\.2 sport=41000 dport=80 src=10\.201\.0\.2 dst=10\.201\.0\.1 sport=80 dport=41000 \[ASSURED\]/);
    expect(r.nat.stats.snat).toBe(0);
  });

  it('stack.stats() includes the NAT counters once NAT is in use', () => {
    lab = natLab();
    expect(lab.r.stats()).not.toHaveProperty('nat');
    lab.r.nat.masquerade('eth1');
    expect(lab.r.stats()).toHaveProperty('nat.conntrack.entries', 0);
  });
});
