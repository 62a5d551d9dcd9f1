/**
 * Proxy-mode port publishing in memory: a real Node client on 127.0.0.1
 * talks to a host listener that splices into a wirelab "container" host
 * behind a wirelab gateway host (two stacks over an in-memory pipe on a
 * RealClock). Loopback only.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { formatPortTable, publishedPorts, publishPort, type PublishedPort } from '../../src/nat/port-proxy.js';
import { listenError } from '../../src/nat/proxy-errors.js';
import { parsePortSpec, expandPortSpec } from '../../src/nat/portspec.js';
import { createStack } from '../../src/stack.js';
import { RealClock } from '../../src/time/index.js';
import { requireRoot } from '../helpers/netns.js';
import type { TcpSocket } from '../../src/tcp/socket.js';

const clock = new RealClock();
const [gwEnd, ctEnd] = createPipe(clock);
const gateway = createStack({ clock, name: 'gw' });
const container = createStack({ clock, name: 'ct' });
gateway.addInterface(gwEnd, { addresses: ['10.231.0.1/24'] });
container.addInterface(ctEnd, { addresses: ['10.231.0.2/24'] });
const CT = '10.231.0.2';

const published: PublishedPort[] = [];
afterEach(async () => {
  for (const p of published.splice(0)) await p.close();
});
afterAll(() => {
  gateway.close();
  container.close();
  clock.close();
});

async function publish(spec: string, opts = {}): Promise<PublishedPort> {
  const p = await publishPort(gateway, spec, CT, opts);
  published.push(p);
  return p;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function containerServer(port: number, onSocket: (s: TcpSocket) => void) {
  const server = container.tcp.createServer({ allowHalfOpen: true }, (s) => {
    // Tests that reset on purpose listen for the error themselves.
    s.on('error', () => undefined);
    onSocket(s);
  });
  server.listen(port, CT);
  return server;
}

function collect(s: net.Socket | TcpSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('TCP proxy', () => {
  it('carries bytes both ways intact, with counters, and a docker-port table', async () => {
    const server = containerServer(80, (s) => {
      collect(s).then((got) => s.end(Buffer.concat([Buffer.from(sha(got)), got])), () => undefined);
    });
    const p = await publish('127.0.0.1::80');
    expect(p.hostPort).toBeGreaterThan(0);
    const payload = randomBytes(3 << 20);
    const client = net.connect(p.hostPort, '127.0.0.1');
    const reply = collect(client);
    client.end(payload);
    const got = await reply;
    expect(got.subarray(0, 64).toString()).toBe(sha(payload));
    expect(sha(got.subarray(64))).toBe(sha(payload));
    const { tcp } = p.stats();
    expect(tcp).toMatchObject({ connections: 1, refused: 0, resets: 0, bytesToContainer: payload.length, bytesToHost: payload.length + 64 });
    const row = publishedPorts().find((r) => r.host === `127.0.0.1:${p.hostPort}`)!;
    expect(row).toMatchObject({ containerPort: '80/tcp', containerAddress: CT, gateway: 'gw' });
    expect(formatPortTable()).toMatch(new RegExp(`80/tcp +-> 127\\.0\\.0\\.1:${p.hostPort} +10\\.231\\.0\\.2`));
    expect(JSON.parse(JSON.stringify(p))[0].stats.bytesToContainer).toBe(payload.length);
    server.close();
  });

  it('half-close: the client ends first, the container answers after the FIN', async () => {
    const server = containerServer(81, (s) => {
      collect(s).then((got) => {
        // Our FIN has arrived; we can still write.
        s.write('got ');
        setTimeout(() => s.end(got.toString().toUpperCase()), 50);
      }, () => undefined);
    });
    const p = await publish('127.0.0.1::81');
    const client = net.connect({ port: p.hostPort, host: '127.0.0.1', allowHalfOpen: true });
    const reply = collect(client);
    client.end('hello');
    expect((await reply).toString()).toBe('got HELLO');
    server.close();
  });

  it('half-close: the container ends first, the client keeps sending', async () => {
    let received: Promise<Buffer> | undefined;
    const server = containerServer(82, (s) => {
      received = collect(s);
      s.end('bye');
    });
    const p = await publish('127.0.0.1::82');
    const client = net.connect({ port: p.hostPort, host: '127.0.0.1', allowHalfOpen: true });
    const reply = await collect(client);
    expect(reply.toString()).toBe('bye');
    client.end('still talking');
    await new Promise((r) => client.once('close', r));
    expect((await received!).toString()).toBe('still talking');
    server.close();
  });

  it('a port the container refuses resets the client (counted as refused)', async () => {
    const p = await publish('127.0.0.1::83');
    const client = net.connect(p.hostPort, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      client.on('error', resolve);
      client.on('close', () => reject(new Error('closed without an error')));
    });
    expect(err.code).toBe('ECONNRESET');
    expect(p.stats().tcp).toMatchObject({ connections: 1, refused: 1, active: 0 });
  });

  it('a reset from the container resets the client, and a client reset reaches the container', async () => {
    let serverSide: TcpSocket | undefined;
    const arrived = new Promise<void>((r) => {
      const server = containerServer(84, (s) => {
        serverSide = s;
        s.once('data', () => r());
        s.on('error', () => undefined);
      });
      published.push({ close: async () => server.close() } as unknown as PublishedPort);
    });
    const p = await publish('127.0.0.1::84');
    const client = net.connect(p.hostPort, '127.0.0.1');
    client.write('x');
    await arrived;
    const clientErr = new Promise<NodeJS.ErrnoException>((r) => client.on('error', r));
    serverSide!.resetAndDestroy();
    expect((await clientErr).code).toBe('ECONNRESET');

    const client2 = net.connect(p.hostPort, '127.0.0.1');
    client2.write('y');
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (serverSide !== undefined && !serverSide.destroyed) {
          clearInterval(t);
          r();
        }
      }, 5);
    });
    await sleep(20);
    const serverErr = new Promise<NodeJS.ErrnoException>((r) => serverSide!.on('error', r));
    client2.resetAndDestroy();
    expect((await serverErr).code).toBe('ECONNRESET');
    expect(p.stats().tcp.resets).toBeGreaterThanOrEqual(2);
  });

  it('backpressure: a container that does not read stops the client, nothing piles up in the proxy', async () => {
    let serverSide: TcpSocket | undefined;
    const server = containerServer(85, (s) => {
      serverSide = s;
      s.pause();
    });
    const p = await publish('127.0.0.1::85');
    const total = 64 << 20;
    const chunk = randomBytes(1 << 20);
    const client = net.connect(p.hostPort, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    let written = 0;
    // Write until the client's own buffer fills (write() returns false) and stays full.
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!client.write(chunk)) return;
      }
    };
    client.on('drain', pump);
    pump();
    await sleep(800);
    const plateau = p.stats().tcp.bytesToContainer;
    await sleep(400);
    // Stalled: the proxy read no more, well short of what the client wants to send.
    expect(p.stats().tcp.bytesToContainer).toBe(plateau);
    expect(plateau).toBeLessThan(16 << 20);
    expect(written).toBeLessThan(total);
    // Reading again lets everything through, intact.
    const h = createHash('sha256');
    let n = 0;
    const done = new Promise<void>((r) => {
      serverSide!.on('data', (d: Buffer) => {
        n += d.length;
        h.update(d);
        if (n === total) r();
      });
    });
    serverSide!.resume();
    await done;
    expect(n).toBe(total);
    client.destroy();
    server.close();
  }, 30_000);
});

describe('publishing errors', () => {
  it('a collision with a mapping of this process is EADDRINUSE naming the owner', async () => {
    const port = await freePort();
    await publish(`127.0.0.1:${port}:80`, { owner: 'web' });
    await expect(publishPort(gateway, `${port}:90`, CT)).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: `cannot publish 127.0.0.1:${port}:90/tcp: host port 127.0.0.1:${port}/tcp is already published by web ("127.0.0.1:${port}:80/tcp" → ${CT}:80 via gateway gw)`,
    });
    await expect(publishPort(gateway, `0.0.0.0:${port}:90`, CT)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // Another protocol on the same number is another port.
    await publish(`${port}:90/udp`);
  });

  it('a port held by another program is EADDRINUSE with a sentence', async () => {
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as net.AddressInfo).port;
    try {
      await expect(publishPort(gateway, `${port}:80`, CT)).rejects.toMatchObject({
        code: 'EADDRINUSE',
        message: `cannot publish 127.0.0.1:${port}:80/tcp: host port 127.0.0.1:${port}/tcp is already in use by another program`,
      });
    } finally {
      other.close();
    }
  });

  it('a failing port of a range closes the ports already opened', async () => {
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as net.AddressInfo).port;
    try {
      await expect(publishPort(gateway, `${port - 1}-${port}:80-81`, CT)).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(publishedPorts().some((r) => r.host === `127.0.0.1:${port - 1}`)).toBe(false);
    } finally {
      other.close();
    }
  });

  it('a privileged port without the right to bind it says so (EACCES)', () => {
    const m = expandPortSpec(parsePortSpec('80:80'))[0]!;
    const e = listenError(Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), { code: 'EACCES' }), m);
    expect(e.code).toBe('EACCES');
    expect(e.message).toBe(
      'cannot publish 127.0.0.1:80:80/tcp: host port 80 is below 1024 and this process may not bind it ' +
        '(run as root, grant CAP_NET_BIND_SERVICE, lower net.ipv4.ip_unprivileged_port_start, or publish a port ≥ 1024)',
    );
  });

  // Only root can start the unprivileged child; under CI=true a missing root fails, never skips.
  const asRoot = requireRoot();
  it.skipIf(asRoot.skip)('a privileged port, really bound by an unprivileged process, is EACCES with that sentence', async () => {
    asRoot.assert();
    const script = [
      "import { createStack, RealClock, publishPort } from './src/index.ts';",
      "const clock = new RealClock(); const gw = createStack({ clock, name: 'gw' });",
      "try { await publishPort(gw, '80:80', '10.0.0.2'); console.log('bound?!'); }",
      "catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }",
      'gw.close(); clock.close();',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(dirname(fileURLToPath(import.meta.url)), '..', '..'),
      uid: 65534,
      gid: 65534,
      env: { ...process.env, HOME: '/tmp' },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout.trim())).toEqual({
      code: 'EACCES',
      message:
        'cannot publish 127.0.0.1:80:80/tcp: host port 80 is below 1024 and this process may not bind it ' +
        '(run as root, grant CAP_NET_BIND_SERVICE, lower net.ipv4.ip_unprivileged_port_start, or publish a port ≥ 1024)',
    });
  });

  it('a bad spec or container address is a clear error', async () => {
    await expect(publishPort(gateway, '8080:80/sctp', CT)).rejects.toThrow('"8080:80/sctp": protocol must be tcp or udp');
    await expect(publishPort(gateway, '127.0.0.1::80', 'web')).rejects.toThrow(/invalid IPv4 address "web"/);
  });
});

describe('UDP proxy', () => {
  function udpEcho(port: number) {
    const s = container.udp.createSocket('udp4');
    s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    s.bind(port, CT);
    return s;
  }

  async function ask(client: dgram.Socket, port: number, text: string): Promise<string> {
    const reply = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
    client.send(text, port, '127.0.0.1');
    return reply;
  }

  function udpClient(): Promise<dgram.Socket> {
    const c = dgram.createSocket('udp4');
    return new Promise((r) => c.bind(0, '127.0.0.1', () => r(c)));
  }

  it('echoes through one flow per client, with counters', async () => {
    const echo = udpEcho(53);
    const p = await publish('127.0.0.1::53/udp');
    const a = await udpClient();
    const b = await udpClient();
    expect(await ask(a, p.hostPort, 'one')).toBe('echo:one');
    expect(await ask(b, p.hostPort, 'two')).toBe('echo:two');
    expect(await ask(a, p.hostPort, 'three')).toBe('echo:three');
    expect(p.stats().udp).toMatchObject({ flows: 2, active: 2, datagramsToContainer: 3, datagramsToHost: 3, bytesToContainer: 11, bytesToHost: 26 });
    expect(p.udpFlows().every((f) => f.replied)).toBe(true);
    a.close();
    b.close();
    echo.close();
  });

  it('flows expire: unanswered ones after the short timeout, answered ones after the long one', async () => {
    const echo = udpEcho(54);
    const answered = await publish('127.0.0.1::54/udp', { unrepliedTimeoutMs: 150, repliedTimeoutMs: 600 });
    const silent = await publish('127.0.0.1::55/udp', { unrepliedTimeoutMs: 150, repliedTimeoutMs: 600 });
    const a = await udpClient();
    expect(await ask(a, answered.hostPort, 'hi')).toBe('echo:hi');
    a.send('anyone?', silent.hostPort, '127.0.0.1');
    await sleep(50);
    expect(silent.stats().udp.active).toBe(1);
    await sleep(300);
    expect(silent.stats().udp).toMatchObject({ active: 0, expired: 1 });
    expect(answered.stats().udp).toMatchObject({ active: 1, expired: 0 });
    await sleep(600);
    expect(answered.stats().udp).toMatchObject({ active: 0, expired: 1 });
    a.close();
    echo.close();
  });

  it('the flow table is bounded: a flow past maxFlows is refused and counted', async () => {
    const echo = udpEcho(56);
    const p = await publish('127.0.0.1::56/udp', { maxFlows: 2 });
    const clients = [await udpClient(), await udpClient(), await udpClient()];
    expect(await ask(clients[0]!, p.hostPort, 'a')).toBe('echo:a');
    expect(await ask(clients[1]!, p.hostPort, 'b')).toBe('echo:b');
    clients[2]!.send('c', p.hostPort, '127.0.0.1');
    await sleep(100);
    expect(p.stats().udp).toMatchObject({ flows: 2, refused: 1 });
    for (const c of clients) c.close();
    echo.close();
  });
});
