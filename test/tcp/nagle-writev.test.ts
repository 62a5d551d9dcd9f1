/**
 * Request/response without the Nagle × delayed-ACK stall (40 ms a response):
 * a corked batch (Node's http corks a response's headers and body) leaves as
 * full segments through `_writev`, and accepted sockets have TCP_NODELAY on
 * by default, as `http.createServer` sets it. Virtual clock, two wirelab
 * hosts; the client keeps Nagle and delays its ACKs (40 ms), as Linux.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { VirtualClock } from '../../src/time/index.js';

function twoHosts(clock: VirtualClock): { a: Stack; b: Stack } {
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'client' });
  const b = createStack({ clock, name: 'server' });
  a.addInterface(pa, { addresses: ['10.0.0.1/24'] });
  b.addInterface(pb, { addresses: ['10.0.0.2/24'] });
  return { a, b };
}

async function runUntil(clock: VirtualClock, done: () => boolean, maxMs = 20_000): Promise<void> {
  for (let t = 0; t < maxMs && !done(); t += 1) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
  expect(done()).toBe(true);
}

const REQUESTS = 20;
const BODY = Buffer.alloc(300, 0x61);

/**
 * Sends REQUESTS keep-alive GETs one after another on one client socket
 * (Nagle on, as a plain client) and returns the virtual milliseconds they took.
 */
async function keepAliveRun(clock: VirtualClock, client: Stack, port: number): Promise<number> {
  const sock: TcpSocket = client.tcp.connect({ host: '10.0.0.2', port });
  let responses = 0;
  let pending = '';
  sock.on('data', (d: Buffer) => {
    pending += d.toString('latin1');
    // Each response ends with its 300-byte body of 'a's.
    let i: number;
    while ((i = pending.indexOf('a'.repeat(BODY.length))) >= 0) {
      pending = pending.slice(i + BODY.length);
      responses++;
      if (responses < REQUESTS) sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    }
  });
  await runUntil(clock, () => !sock.connecting);
  // Let the handshake's quick ACKs pass: from here on the client delays ACKs.
  await runUntil(clock, () => true);
  const start = clock.now();
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await runUntil(clock, () => responses === REQUESTS);
  const took = clock.now() - start;
  sock.destroy();
  return took;
}

describe('no Nagle × delayed-ACK stall on request/response', () => {
  it('a corked response (headers, then body) leaves in one go even with Nagle on: writev', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const httpServer = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(BODY); // a Buffer body: headers and body are two writes, corked together by http
    });
    // noDelay: false keeps Nagle on the server: only the writev batching can avoid the stall.
    b.tcp.createServer({ noDelay: false }, (s) => httpServer.emit('connection', s)).listen(8080);
    const took = await keepAliveRun(clock, a, 8080);
    // A stall costs the client's 40 ms delayed ACK per response (≥ 800 ms for 20).
    expect(took).toBeLessThan(REQUESTS * 5);
    httpServer.close();
    a.close();
    b.close();
  });

  it('accepted sockets have TCP_NODELAY by default, so separate small writes do not wait for an ACK', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const httpServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': BODY.length });
      res.flushHeaders(); // headers leave on their own …
      setImmediate(() => res.end(BODY)); // … and the body in a later write
    });
    b.tcp.createServer((s) => httpServer.emit('connection', s)).listen(8081);
    const took = await keepAliveRun(clock, a, 8081);
    expect(took).toBeLessThan(REQUESTS * 5);
    httpServer.close();
    a.close();
    b.close();
  });

  it('with Nagle on and separate writes the stall is real (the control case)', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const httpServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': BODY.length });
      res.flushHeaders();
      setImmediate(() => res.end(BODY));
    });
    b.tcp.createServer({ noDelay: false }, (s) => httpServer.emit('connection', s)).listen(8082);
    const took = await keepAliveRun(clock, a, 8082);
    // Some responses stall a whole delayed ACK (40 ms), some less: far above the mended runs either way.
    expect(took).toBeGreaterThanOrEqual(REQUESTS * 10);
    httpServer.close();
    a.close();
    b.close();
  });

  it('stack.http.createServer: an http.Server on wirelab TCP with Node’s socket defaults', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const server = b.http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': BODY.length });
      res.flushHeaders();
      setImmediate(() => res.end(BODY));
    });
    let listening = false;
    server.listen(8083, () => (listening = true));
    await runUntil(clock, () => listening);
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 8083 });
    const took = await keepAliveRun(clock, a, 8083);
    expect(took).toBeLessThan(REQUESTS * 5);
    let closed = false;
    server.close(() => (closed = true));
    await runUntil(clock, () => closed);
    expect(server.address()).toBeNull();
    a.close();
    b.close();
  });
});
