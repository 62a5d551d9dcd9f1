/**
 * Proxy-mode port publishing with real containers: a container's eth0 is a
 * TAP held by a wirelab gateway host (a Stack on the RealClock), and its
 * ports are published on the host's 127.0.0.1 with Docker's `-p` syntax.
 *
 * - `curl http://127.0.0.1:<port>/` on the host reaches `python3 -m
 *   http.server 80` in the container through `-p <port>:80`, and a 256 MiB
 *   download through it is intact (SHA-256 of what curl received, against
 *   the file the container serves);
 * - half-close both ways: the host client ends first and still reads the
 *   container's answer; the container ends first and still reads the
 *   host client's bytes (python programs in the container, kernel TCP);
 * - a container port nobody listens on: curl's connection is reset;
 * - UDP: `nc -u` on the host against a python echo in the container
 *   through `-p <port>:<port>/udp`.
 *
 * Loopback and the container's own addresses only; the host port is a free
 * high port bound on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import type { Container } from '../../src/lab/netns.js';
import { openTap, type TapPort } from '../../src/link/tap.js';
import { publishPort, type PublishedPort } from '../../src/nat/port-proxy.js';
import { createStack, type Stack } from '../../src/stack.js';
import { RealClock } from '../../src/time/index.js';
import { blob, type Blob } from '../helpers/bulk.js';
import { requireRoot } from '../helpers/netns.js';

const cap = requireRoot(['python3', 'curl', 'sha256sum', 'nc']);
const DOWNLOAD_MB = Number(process.env.WL_PORTMAP_MB ?? 256);

const clock = new RealClock();
const lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), 'wl-portmap-'));
const uid = () => randomBytes(3).toString('hex');
const GATEWAY_IP = '10.241.0.1';
const CONTAINER_IP = '10.241.0.2';

let tap: TapPort | undefined;
let gateway: Stack | undefined;
const published: PublishedPort[] = [];

afterAll(async () => {
  for (const p of published) await p.close().catch(() => undefined);
  await lab.close().catch(() => undefined);
  gateway?.close();
  await tap?.close().catch(() => undefined);
  clock.close();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A port the host has free right now, for `proto`. */
async function freePort(proto: 'tcp' | 'udp'): Promise<number> {
  if (proto === 'tcp') {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

async function publish(spec: string): Promise<PublishedPort> {
  const p = await publishPort(gateway!, spec, CONTAINER_IP, { owner: 'web' });
  published.push(p);
  return p;
}

/** Reads until the peer ends, then sends "got " + upper-cased bytes and closes. */
const PY_ANSWER_AFTER_EOF = (port: number) => `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${CONTAINER_IP}', ${port})); s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
data = b''
while True:
    b = c.recv(65536)
    if not b: break
    data += b
c.sendall(b'got ' + data.upper())
c.close()
`;

/** Sends "bye", half-closes, then prints what the peer sends until it ends. */
const PY_END_FIRST = (port: number) => `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${CONTAINER_IP}', ${port})); s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
c.sendall(b'bye')
c.shutdown(socket.SHUT_WR)
data = b''
while True:
    b = c.recv(65536)
    if not b: break
    data += b
print('received', data.decode(), flush=True)
c.close()
`;

const PY_UDP_ECHO = (port: number) => `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${CONTAINER_IP}', ${port}))
print('ready', flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b'echo:' + d, a)
`;

describe.skipIf(cap.skip)('proxy-mode port publishing to a container on a TAP', () => {
  let c: Container;
  let file: Blob;

  beforeAll(async () => {
    cap.assert();
    const tapName = `wlpm${uid()}`;
    tap = openTap(tapName, { vnetHdr: true });
    c = await lab.container({
      link: tapName,
      address: `${CONTAINER_IP}/24`,
      sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
    });
    gateway = createStack({ clock, name: 'gw' });
    gateway.addInterface(tap, { addresses: [`${GATEWAY_IP}/24`] });
    await c.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', GATEWAY_IP], { timeoutMs: 10_000, check: true });
    file = blob(dir, DOWNLOAD_MB);
    // No default route in the container on purpose: http.server's reverse lookup of its
    // address (socket.getfqdn) then fails at once instead of waiting for a DNS timeout.
    const server = c.spawn(['python3', '-u', '-m', 'http.server', '80', '--bind', CONTAINER_IP, '--directory', dir]);
    await server.waitForOutput(/Serving HTTP/, 10_000);
  }, 120_000);

  it('curl http://127.0.0.1:<port>/ reaches python3 -m http.server 80 through -p <port>:80', async () => {
    const port = await freePort('tcp');
    const p = await publish(`${port}:80`);
    expect(p.mappings).toEqual([{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80, protocol: 'tcp' }]);
    const r = await run('curl', ['-sS', '--max-time', '20', `http://127.0.0.1:${port}/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Directory listing');
    expect(r.stdout).toContain(basename(file.path));
    expect(p.stats().tcp.connections).toBe(1);
  });

  it(`a ${DOWNLOAD_MB} MiB download through the published port is intact (SHA-256)`, async () => {
    const port = published[0]!.hostPort;
    const url = `http://127.0.0.1:${port}/${basename(file.path)}`;
    const r = await run('sh', ['-c', `curl -sS --fail --max-time 240 '${url}' | sha256sum`], { timeoutMs: 250_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split(/\s+/)[0]).toBe(file.sha);
    expect(published[0]!.stats().tcp.bytesToHost).toBeGreaterThan(file.bytes);
  }, 260_000);

  it('half-close: the host client ends first and still reads the answer', async () => {
    const srv = c.spawn(['python3', '-c', PY_ANSWER_AFTER_EOF(7001)]);
    await srv.waitForOutput(/ready/, 10_000);
    const p = await publish(`127.0.0.1:${await freePort('tcp')}:7001`);
    const client = net.connect({ host: '127.0.0.1', port: p.hostPort, allowHalfOpen: true });
    const parts: Buffer[] = [];
    client.on('data', (d: Buffer) => parts.push(d));
    const ended = new Promise<void>((resolve, reject) => {
      client.on('end', resolve);
      client.on('error', reject);
    });
    client.end('half closed');
    await ended;
    expect(Buffer.concat(parts).toString()).toBe('got HALF CLOSED');
    client.destroy();
  });

  it('half-close: the container ends first and still reads what the host client sends', async () => {
    const srv = c.spawn(['python3', '-c', PY_END_FIRST(7002)]);
    await srv.waitForOutput(/ready/, 10_000);
    const p = await publish(`127.0.0.1:${await freePort('tcp')}:7002`);
    const client = net.connect({ host: '127.0.0.1', port: p.hostPort, allowHalfOpen: true });
    const parts: Buffer[] = [];
    client.on('data', (d: Buffer) => parts.push(d));
    await new Promise<void>((resolve, reject) => {
      client.on('end', resolve);
      client.on('error', reject);
    });
    expect(Buffer.concat(parts).toString()).toBe('bye');
    client.end('after your FIN');
    await srv.waitForOutput(/received after your FIN/, 10_000);
  });

  it('a container port nobody listens on resets the client', async () => {
    const port = await freePort('tcp');
    const p = await publish(`${port}:81`);
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/`]);
    // 56: "Recv failure: Connection reset by peer".
    expect(r.code).toBe(56);
    expect(r.stderr).toMatch(/reset by peer/i);
    expect(p.stats().tcp).toMatchObject({ connections: 1, refused: 1 });
  });

  it('UDP: nc -u on the host gets the echo of a python server in the container through -p <port>:<port>/udp', async () => {
    const port = await freePort('udp');
    const echo = c.spawn(['python3', '-c', PY_UDP_ECHO(port)]);
    await echo.waitForOutput(/ready/, 10_000);
    const p = await publish(`${port}:${port}/udp`);
    const r = await run('nc', ['-u', '-w', '2', '127.0.0.1', String(port)], { input: 'hello over udp\n', timeoutMs: 15_000 });
    expect(r.stdout).toBe('echo:hello over udp\n');
    expect(p.stats().udp).toMatchObject({ flows: 1, datagramsToContainer: 1, datagramsToHost: 1 });
    expect(p.udpFlows()).toEqual([expect.objectContaining({ replied: true })]);
  });
});
