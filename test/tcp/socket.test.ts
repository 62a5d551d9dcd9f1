/**
 * The Node-shaped TCP API (TcpSocket, TcpServer, TcpApi): first against a
 * fake TcpConnection/TcpLayer the test drives byte by byte (exact
 * backpressure, event order, Node's error shapes, destroy semantics), then
 * over the real TCP core between two stacks on an in-memory pipe, including
 * Node's own http server and client running over it.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { createPipe } from '../../src/link/pipe.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import { RealClock, VirtualClock, type Clock } from '../../src/time/index.js';
import { formatIPv4, parseIPv4, type IPv4Address } from '../../src/wire/address.js';
import { TcpApi } from '../../src/tcp/api.js';
import type { TcpServer } from '../../src/tcp/server.js';
import type {
  SocketConnection,
  SocketConnectionHandler,
  SocketLayer,
  SocketListener,
  TcpError,
  TcpSocket,
} from '../../src/tcp/socket.js';

// ---------------------------------------------------------------------------
// A fake core the tests control
// ---------------------------------------------------------------------------

class FakeConn implements SocketConnection {
  state = 'SYN-SENT';
  handler: SocketConnectionHandler | null = null;
  readonly sent: Buffer[] = [];
  readonly calls: string[] = [];
  consumedTotal = 0;

  constructor(
    readonly localAddress: IPv4Address,
    readonly localPort: number,
    readonly remoteAddress: IPv4Address,
    readonly remotePort: number,
    public sendSpace: number,
  ) {}

  write(chunk: Uint8Array): number {
    const n = Math.min(this.sendSpace, chunk.byteLength);
    if (n > 0) this.sent.push(Buffer.from(chunk.subarray(0, n)));
    this.sendSpace -= n;
    return n;
  }
  shutdown(): void {
    this.calls.push('shutdown');
  }
  abort(): void {
    this.calls.push('abort');
    this.state = 'CLOSED';
  }
  close(): void {
    this.calls.push('close');
  }
  consumed(bytes: number): void {
    this.consumedTotal += bytes;
  }
  setNoDelay(on: boolean): void {
    this.calls.push(`nodelay ${on}`);
  }
  setKeepAlive(on: boolean, delay?: number): void {
    this.calls.push(`keepalive ${on} ${delay}`);
  }

  // ---- what the peer / the core does ----
  get sentBytes(): Buffer {
    return Buffer.concat(this.sent);
  }
  establish(): void {
    this.state = 'ESTAB';
    this.handler?.established?.();
  }
  /** The peer acknowledged n bytes: send buffer space frees up. */
  ack(n: number): void {
    this.sendSpace += n;
    this.handler?.writable();
  }
  deliver(bytes: Uint8Array | string): void {
    this.handler?.data(typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes));
  }
  fin(): void {
    this.handler?.peerFin();
  }
  fail(code: string): void {
    this.handler?.closed(Object.assign(new Error(code.toLowerCase()), { code }));
  }
  closedCleanly(): void {
    this.handler?.closed();
  }
}

class FakeLayer implements SocketLayer {
  readonly conns: FakeConn[] = [];
  readonly listeners = new Map<number, (c: SocketConnection) => void>();
  nextPort = 49152;
  connectError: string | undefined;

  constructor(
    readonly clock: VirtualClock,
    readonly address = parseIPv4('10.0.0.1'),
    readonly sendBuffer = 10_000,
  ) {}

  connect(
    opts: { remoteAddress: IPv4Address; remotePort: number; localAddress?: IPv4Address; localPort?: number },
    handler: SocketConnectionHandler,
  ): SocketConnection {
    if (this.connectError !== undefined) throw Object.assign(new Error('nope'), { code: this.connectError });
    const c = new FakeConn(opts.localAddress ?? this.address, opts.localPort ?? this.nextPort++, opts.remoteAddress, opts.remotePort, this.sendBuffer);
    c.handler = handler;
    this.conns.push(c);
    return c;
  }

  listen(opts: { port: number; address?: IPv4Address }, onConnection: (c: SocketConnection) => void): SocketListener & { port: number } {
    const port = opts.port === 0 ? this.nextPort++ : opts.port;
    if (this.listeners.has(port)) throw Object.assign(new Error('address in use'), { code: 'EADDRINUSE' });
    this.listeners.set(port, onConnection);
    return { port, close: () => this.listeners.delete(port) };
  }

  /** A peer at `from` connects to a listening port; returns the accepted connection. */
  incoming(port: number, from = '10.0.0.9', fromPort = 40000): FakeConn {
    const cb = this.listeners.get(port);
    if (cb === undefined) throw new Error(`nothing listens on ${port}`);
    const c = new FakeConn(this.address, port, parseIPv4(from), fromPort, this.sendBuffer);
    c.state = 'ESTAB';
    this.conns.push(c);
    cb(c);
    return c;
  }
}

/** Lets the clock queue and Node's nextTick/setImmediate work settle. */
async function settle(clock: VirtualClock, ms = 0): Promise<void> {
  for (let i = 0; i < 6; i++) {
    clock.advance(i === 0 ? ms : 0);
    await new Promise((r) => setImmediate(r));
  }
}

function fake(sendBuffer = 10_000): { clock: VirtualClock; layer: FakeLayer; api: TcpApi } {
  const clock = new VirtualClock();
  const layer = new FakeLayer(clock, parseIPv4('10.0.0.1'), sendBuffer);
  return { clock, layer, api: new TcpApi(layer) };
}

/** Records the socket's lifecycle events in order. */
function record(s: TcpSocket): string[] {
  const events: string[] = [];
  for (const name of ['connect', 'ready', 'end', 'finish', 'timeout', 'drain'] as const) s.on(name, () => events.push(name));
  s.on('error', (e: TcpError) => events.push(`error ${e.code}`));
  s.on('close', (hadError: boolean) => events.push(`close ${hadError}`));
  return events;
}

async function connected(sendBuffer?: number): Promise<{ clock: VirtualClock; layer: FakeLayer; api: TcpApi; s: TcpSocket; c: FakeConn }> {
  const f = fake(sendBuffer);
  const s = f.api.connect({ host: '10.0.0.2', port: 80 });
  const c = f.layer.conns[0]!;
  c.establish();
  await settle(f.clock);
  return { ...f, s, c };
}

// ---------------------------------------------------------------------------
// Against the fake
// ---------------------------------------------------------------------------

describe('TcpSocket over a fake connection', () => {
  it('connects: opening → connect, ready → open, with addresses and options applied on connect', async () => {
    const { clock, layer, api } = fake();
    const s = api.connect({ host: '10.0.0.2', port: 80, noDelay: true });
    const events = record(s);
    let cbCalled = false;
    s.once('connect', () => (cbCalled = true));
    s.setKeepAlive(true, 5500);
    expect(s.connecting).toBe(true);
    expect(s.pending).toBe(true);
    expect(s.readyState).toBe('opening');
    expect(s.remoteAddress).toBeUndefined();
    const c = layer.conns[0]!;
    expect([formatIPv4(c.remoteAddress), c.remotePort]).toEqual(['10.0.0.2', 80]);
    // bytes written while connecting wait for the handshake
    s.write('early');
    await settle(clock, 100);
    expect(events).toEqual([]);
    expect(c.sent).toEqual([]);
    c.establish();
    await settle(clock);
    expect(events).toEqual(['connect', 'ready']);
    expect(cbCalled).toBe(true);
    expect(s.connecting).toBe(false);
    expect(s.pending).toBe(false);
    expect(s.readyState).toBe('open');
    expect(c.calls).toEqual(['nodelay true', 'keepalive true 5000']);
    expect(c.sentBytes.toString()).toBe('early');
    expect(s.remoteAddress).toBe('10.0.0.2');
    expect(s.remotePort).toBe(80);
    expect(s.remoteFamily).toBe('IPv4');
    expect(s.localAddress).toBe('10.0.0.1');
    expect(s.localPort).toBe(49152);
    expect(s.address()).toEqual({ address: '10.0.0.1', family: 'IPv4', port: 49152 });
    s.destroy();
    await settle(clock);
  });

  it('write() returns false exactly when the send buffer and the highWaterMark are full; drain follows the ACKs', async () => {
    const { clock, s, c } = await connected(10_000);
    const events = record(s);
    const data = Buffer.alloc(6 * 4096);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const results: boolean[] = [];
    for (let i = 0; i < 6; i++) results.push(s.write(data.subarray(i * 4096, (i + 1) * 4096)));
    // 10,000 bytes fit the send buffer; the 3rd chunk is held partly accepted,
    // the 4th–6th wait in the stream: 3 × 4096 = 12288, +4096 reaches 16384.
    expect(results).toEqual([true, true, true, true, true, false]);
    expect(c.sentBytes.length).toBe(10_000);
    expect(s.bytesWritten).toBe(6 * 4096);
    expect(s.writableLength).toBe(6 * 4096 - 2 * 4096);
    c.ack(3000); // the rest of chunk 3 (2288) fits, then 712 of chunk 4
    await settle(clock);
    expect(c.sentBytes.length).toBe(13_000);
    expect(events).toEqual([]);
    c.ack(100_000);
    await settle(clock);
    expect(events).toEqual(['drain']);
    expect(c.sentBytes.equals(data)).toBe(true);
    expect(s.write(Buffer.alloc(10))).toBe(true);
    s.destroy();
    await settle(clock);
  });

  it('a paused reader stops consumed() at the highWaterMark; reading reopens it; a flowing one reports at once', async () => {
    const { clock, s, c } = await connected();
    const chunk = Buffer.alloc(4096, 1);
    for (let i = 0; i < 6; i++) c.deliver(chunk);
    await settle(clock);
    // Pushes count as read until one reaches the 16 KiB highWaterMark (the
    // 4th): reading stops and the rest is held, unreported.
    expect(c.consumedTotal).toBe(4 * 4096);
    expect(s.bytesRead).toBe(4 * 4096);
    expect(s.readableLength).toBe(4 * 4096);
    c.deliver(chunk);
    await settle(clock, 1000);
    expect(c.consumedTotal).toBe(4 * 4096);
    let total = 0;
    for (let b = s.read() as Buffer | null; b !== null; b = s.read() as Buffer | null) total += b.length;
    expect(total).toBe(7 * 4096);
    expect(c.consumedTotal).toBe(7 * 4096);
    expect(s.bytesRead).toBe(7 * 4096);
    // flowing
    let received = 0;
    s.on('data', (b: Buffer) => (received += b.length));
    await settle(clock);
    for (let i = 0; i < 20; i++) c.deliver(chunk);
    await settle(clock);
    expect(received).toBe(20 * 4096);
    expect(c.consumedTotal).toBe(27 * 4096);
    s.pause();
    for (let i = 0; i < 6; i++) c.deliver(chunk);
    await settle(clock);
    expect(c.consumedTotal).toBe(31 * 4096);
    s.resume();
    await settle(clock);
    expect(c.consumedTotal).toBe(33 * 4096);
    expect(received).toBe(26 * 4096);
    s.destroy();
    await settle(clock);
  });

  it('half-close from our side: finish, the peer still sends, then its FIN ends and closes (FIN, no RST)', async () => {
    const { clock, s, c } = await connected();
    const events = record(s);
    const chunks: string[] = [];
    s.on('data', (b: Buffer) => chunks.push(b.toString()));
    s.end('bye');
    await settle(clock);
    expect(events).toEqual(['finish']);
    expect(c.sentBytes.toString()).toBe('bye');
    expect(c.calls).toEqual(['shutdown']);
    expect(s.readyState).toBe('readOnly');
    c.deliver('still talking');
    c.fin();
    await settle(clock);
    expect(chunks).toEqual(['still talking']);
    expect(events).toEqual(['finish', 'end', 'close false']);
    expect(c.calls).toEqual(['shutdown', 'close']);
    expect(c.handler).toBeNull();
    expect(s.readyState).toBe('closed');
  });

  it('peer half-closes with allowHalfOpen: end, we keep writing, then end → finish → close', async () => {
    const { clock, api, layer } = fake();
    const s = api.connect({ host: '10.0.0.2', port: 80, allowHalfOpen: true });
    const c = layer.conns[0]!;
    c.establish();
    await settle(clock);
    const events = record(s);
    s.resume();
    c.fin();
    await settle(clock);
    expect(events).toEqual(['end']);
    expect(s.readyState).toBe('writeOnly');
    expect(s.write('answer')).toBe(true);
    await settle(clock);
    expect(c.sentBytes.toString()).toBe('answer');
    expect(c.calls).toEqual([]);
    s.end();
    await settle(clock);
    expect(events).toEqual(['end', 'finish', 'close false']);
    expect(c.calls).toEqual(['shutdown', 'close']);
  });

  it('peer half-closes without allowHalfOpen (Node default): we end automatically; a later write is EPIPE', async () => {
    const { clock, s, c } = await connected();
    const events = record(s);
    s.resume();
    c.fin();
    await settle(clock);
    expect(events).toEqual(['end', 'finish', 'close false']);
    expect(c.calls).toEqual(['shutdown', 'close']);
    let writeErr: TcpError | undefined;
    s.write('late', (e) => (writeErr = e as TcpError));
    await settle(clock);
    expect(writeErr?.code).toBe('EPIPE');
    expect(writeErr?.message).toBe('This socket has been ended by the other party');
  });

  it('connection refused: error with Node’s shape, then close(true); no connect', async () => {
    const { clock, api, layer } = fake();
    const s = api.connect(8080, '10.0.0.2');
    const events = record(s);
    let err: TcpError | undefined;
    s.on('error', (e: TcpError) => (err = e));
    layer.conns[0]!.fail('ECONNREFUSED');
    await settle(clock);
    expect(events).toEqual(['error ECONNREFUSED', 'close true']);
    expect(err).toMatchObject({
      message: 'connect ECONNREFUSED 10.0.0.2:8080',
      code: 'ECONNREFUSED',
      errno: -111,
      syscall: 'connect',
      address: '10.0.0.2',
      port: 8080,
    });
    expect(s.destroyed).toBe(true);
    expect(s.connecting).toBe(false);
  });

  it('connect timeout (ETIMEDOUT), reset while established (read ECONNRESET), unknown host, bad port, local port in use', async () => {
    const { clock, api, layer } = fake();
    const t = api.connect({ host: '10.0.0.3', port: 22 });
    const tErr: TcpError[] = [];
    t.on('error', (e: TcpError) => tErr.push(e));
    layer.conns[0]!.fail('ETIMEDOUT');

    const r = api.connect({ host: '10.0.0.2', port: 80 });
    const rEvents = record(r);
    let rErr: TcpError | undefined;
    r.on('error', (e: TcpError) => (rErr = e));
    layer.conns[1]!.establish();
    await settle(clock);
    r.resume();
    layer.conns[1]!.deliver('partial');
    layer.conns[1]!.fail('ECONNRESET');
    await settle(clock);
    expect(tErr.map((e) => e.message)).toEqual(['connect ETIMEDOUT 10.0.0.3:22']);
    expect(tErr[0]!.errno).toBe(-110);
    expect(rEvents).toEqual(['connect', 'ready', 'error ECONNRESET', 'close true']);
    expect(rErr).toMatchObject({ message: 'read ECONNRESET', code: 'ECONNRESET', errno: -104, syscall: 'read' });
    expect(r.bytesRead).toBe(7);

    const n = api.connect({ host: 'nowhere.example', port: 80 });
    let nErr: TcpError | undefined;
    n.on('error', (e: TcpError) => (nErr = e));
    await settle(clock);
    expect(nErr).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nowhere.example', message: 'getaddrinfo ENOTFOUND nowhere.example' });

    expect(() => api.connect({ host: '10.0.0.2', port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));

    layer.connectError = 'EADDRINUSE';
    const b = api.connect({ host: '10.0.0.2', port: 80, localPort: 5000 });
    let bErr: TcpError | undefined;
    b.on('error', (e: TcpError) => (bErr = e));
    await settle(clock);
    expect(bErr).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', message: 'bind EADDRINUSE 0.0.0.0:5000' });
  });

  it('destroy(): FIN (close) when nothing is unread, RST (abort) with unread data, while connecting, or on resetAndDestroy', async () => {
    const clean = await connected();
    const events = record(clean.s);
    clean.s.destroy();
    expect(clean.c.calls).toEqual(['close']);
    expect(clean.c.handler).toBeNull();
    expect(clean.s.destroyed).toBe(true);
    await settle(clean.clock);
    expect(events).toEqual(['close false']);

    const unread = await connected();
    for (let i = 0; i < 5; i++) unread.c.deliver(Buffer.alloc(4096));
    await settle(unread.clock);
    unread.s.destroy();
    expect(unread.c.calls).toEqual(['abort']);

    const { clock, api, layer } = fake();
    const early = api.connect({ host: '10.0.0.2', port: 80 });
    early.destroy();
    expect(layer.conns[0]!.calls).toEqual(['abort']);
    const reset = await connected();
    reset.s.resetAndDestroy();
    expect(reset.c.calls).toEqual(['abort']);

    const withError = await connected();
    const ev = record(withError.s);
    withError.s.destroy(Object.assign(new Error('app gave up'), { code: 'EAPP' }));
    await settle(withError.clock);
    expect(ev).toEqual(['error EAPP', 'close true']);
    expect(withError.c.calls).toEqual(['close']);
    await settle(clock);
  });

  it('a clean close from the core (no error) ends the readable side; buffered data stays readable', async () => {
    const { clock, s, c } = await connected();
    const events = record(s);
    s.end();
    c.deliver('last words');
    c.fin();
    c.closedCleanly();
    await settle(clock);
    expect(events).toEqual(['finish']);
    expect(s.read()?.toString()).toBe('last words');
    await settle(clock);
    expect(events).toEqual(['finish', 'end', 'close false']);
    expect(c.calls).toEqual(['shutdown']); // the connection was already gone: no close/abort
  });

  it('setTimeout: idle timeout on the clock, reset by traffic; the socket stays open; 0 disables', async () => {
    const { clock, s, c } = await connected();
    const events = record(s);
    s.resume();
    let cb = 0;
    s.setTimeout(1000, () => cb++);
    expect(s.timeout).toBe(1000);
    await settle(clock, 500);
    c.deliver('x');
    await settle(clock, 900);
    expect(events).toEqual([]);
    await settle(clock, 100);
    expect(events).toEqual(['timeout']);
    expect(cb).toBe(1);
    expect(s.destroyed).toBe(false);
    await settle(clock, 5000);
    expect(events).toEqual(['timeout']); // one-shot until there is traffic again
    s.write('y');
    await settle(clock, 1000);
    expect(events).toEqual(['timeout', 'timeout']);
    s.setTimeout(0);
    s.write('z');
    await settle(clock, 5000);
    expect(events).toEqual(['timeout', 'timeout']);
    s.destroy();
    await settle(clock);
  });
});

describe('TcpServer over a fake layer', () => {
  it('listen → listening (async) with address(); connection; getConnections; close waits for the connections', async () => {
    const { clock, layer, api } = fake();
    const seen: TcpSocket[] = [];
    const server = api.createServer((s) => seen.push(s));
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.on('close', () => events.push('close'));
    let cbCalled = false;
    server.listen(8080, () => (cbCalled = true));
    expect(server.listening).toBe(true);
    expect(events).toEqual([]);
    await settle(clock);
    expect(events).toEqual(['listening']);
    expect(cbCalled).toBe(true);
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 8080 });

    const c = layer.incoming(8080, '10.0.0.9', 40001);
    c.deliver('hello');
    await settle(clock);
    expect(seen).toHaveLength(1);
    const s = seen[0]!;
    expect(s.remoteAddress).toBe('10.0.0.9');
    expect(s.remotePort).toBe(40001);
    expect(s.localPort).toBe(8080);
    expect(s.connecting).toBe(false);
    expect(s.read()?.toString()).toBe('hello');
    const count = await new Promise<number>((resolve) => {
      server.getConnections((_e, n) => resolve(n));
      void settle(clock);
    });
    expect(count).toBe(1);

    let closeCb: Error | undefined | 'pending' = 'pending';
    server.close((e) => (closeCb = e));
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    expect(layer.listeners.has(8080)).toBe(false);
    await settle(clock);
    expect(closeCb).toBe('pending'); // a connection is still open
    s.resume();
    s.end();
    c.fin();
    await settle(clock);
    expect(events).toEqual(['listening', 'close']);
    expect(closeCb).toBeUndefined();
  });

  it('EADDRINUSE as an async error event with Node’s message; listen twice throws; close when not running', async () => {
    const { clock, api } = fake();
    const a = api.createServer().listen({ port: 8081, host: '10.0.0.1' });
    const b = api.createServer();
    let err: TcpError | undefined;
    b.on('error', (e) => (err = e));
    b.listen(8081, '10.0.0.1');
    expect(err).toBeUndefined();
    await settle(clock);
    expect(err).toMatchObject({
      code: 'EADDRINUSE',
      errno: -98,
      syscall: 'listen',
      address: '10.0.0.1',
      port: 8081,
      message: 'listen EADDRINUSE: address already in use 10.0.0.1:8081',
    });
    expect(b.listening).toBe(false);
    expect(() => a.listen(9000)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
    let notRunning: Error | undefined;
    b.close((e) => (notRunning = e));
    await settle(clock);
    expect(notRunning).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
    a.close();
    await settle(clock);
  });

  it('listen(0) takes an ephemeral port; maxConnections drops the extra connection; pauseOnConnect holds the window', async () => {
    const { clock, api, layer } = fake();
    const server: TcpServer = api.createServer({ pauseOnConnect: true });
    server.maxConnections = 1;
    const drops: unknown[] = [];
    server.on('drop', (d) => drops.push(d));
    const sockets: TcpSocket[] = [];
    server.on('connection', (s) => sockets.push(s));
    server.listen();
    const port = server.address()!.port;
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(60999);
    const first = layer.incoming(port, '10.0.0.7', 1111);
    const second = layer.incoming(port, '10.0.0.8', 2222);
    first.deliver('abc');
    await settle(clock);
    expect(sockets).toHaveLength(1);
    expect(second.calls).toEqual(['close']);
    expect(drops).toEqual([{ localAddress: '10.0.0.1', localPort: port, remoteAddress: '10.0.0.8', remotePort: 2222, remoteFamily: 'IPv4' }]);
    expect(first.consumedTotal).toBe(0); // paused on connect: nothing read
    sockets[0]!.resume();
    await settle(clock);
    expect(first.consumedTotal).toBe(3);
    sockets[0]!.destroy();
    server.close();
    await settle(clock);
  });
});

// ---------------------------------------------------------------------------
// Over the real TCP core: two stacks on an in-memory pipe
// ---------------------------------------------------------------------------

function twoHosts(clock: Clock): { a: Stack; b: Stack } {
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a' });
  const b = createStack({ clock, name: 'b' });
  a.addInterface(pa, { addresses: ['10.0.0.1/24'] });
  b.addInterface(pb, { addresses: ['10.0.0.2/24'] });
  return { a, b };
}

/** Runs the virtual clock for `ms` in small steps, letting Node's stream ticks run between them. */
async function runFor(clock: VirtualClock, ms: number, step = 5): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await new Promise((r) => setImmediate(r));
  }
}

/** Runs the virtual clock until `done()` (at most `maxMs`). */
async function runUntil(clock: VirtualClock, done: () => boolean, maxMs = 10_000): Promise<void> {
  for (let t = 0; t < maxMs && !done(); t += 5) {
    clock.advance(5);
    await new Promise((r) => setImmediate(r));
  }
  expect(done()).toBe(true);
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const infoOf = (s: TcpSocket) => (s.connection as TcpConnection).info();

describe('TcpSocket over the real TCP core (virtual clock)', () => {
  it('connects and half-closes both ways: the server answers after the client ended', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const serverEvents: string[] = [];
    const server = b.tcp.createServer({ allowHalfOpen: true }, (s) => {
      const parts: Buffer[] = [];
      serverEvents.push(`connection ${s.remoteAddress} ${s.localAddress}:${s.localPort}`);
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        serverEvents.push('end');
        expect(s.readyState).toBe('writeOnly');
        s.end(Buffer.concat(parts).toString().toUpperCase()); // writes back after the peer's FIN
      });
      s.on('finish', () => serverEvents.push('finish'));
      s.on('close', (e: boolean) => serverEvents.push(`close ${e}`));
    });
    server.listen(7001, '10.0.0.2');
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7001 });
    const events = record(c);
    let reply = '';
    c.on('data', (d: Buffer) => (reply += d.toString()));
    c.on('connect', () => c.end('hello, half-open world'));
    await runUntil(clock, () => events.includes('close false') && serverEvents.includes('close false'));
    expect(events).toEqual(['connect', 'ready', 'finish', 'end', 'close false']);
    expect(reply).toBe('HELLO, HALF-OPEN WORLD');
    expect(serverEvents).toEqual(['connection 10.0.0.1 10.0.0.2:7001', 'end', 'finish', 'close false']);
    expect(c.bytesWritten).toBe(22);
    expect(c.bytesRead).toBe(22);
    server.close();
  });

  it('a reader that stops reading closes the window: zero window, persist probes, write() false; resuming delivers every byte', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    let srv: TcpSocket | undefined;
    b.tcp.createServer((s) => (srv = s)).listen(7002); // nobody reads
    const c = a.tcp.connect({ host: '10.0.0.2', port: 7002 });
    const data = pattern(2 * 1024 * 1024, 7);
    let offset = 0;
    let falses = 0;
    let drains = 0;
    const pump = (): void => {
      while (offset < data.length) {
        const chunk = data.subarray(offset, offset + 16384);
        offset += chunk.length;
        if (!c.write(chunk)) {
          falses++;
          c.once('drain', () => {
            drains++;
            pump();
          });
          return;
        }
      }
      c.end();
    };
    c.on('connect', pump);
    await runFor(clock, 3000);
    expect(srv).toBeDefined();
    const sender = infoOf(c);
    const receiver = infoOf(srv!);
    expect(sender.sndWnd).toBe(0);
    expect(receiver.rcvWnd).toBe(0);
    expect(a.tcpLayer.stats.zeroWindowProbes).toBeGreaterThan(0);
    expect(falses).toBe(drains + 1); // blocked: the last write() returned false, no 'drain' since
    // Only what the stream took (up to its 16 KiB highWaterMark) was
    // consumed; the rest of the receive buffer sits unread, the window shut.
    expect(srv!.readableLength).toBeGreaterThanOrEqual(16 * 1024);
    // (A run of segments that arrived together is pushed as one chunk of up to 64 KiB, as a libuv read.)
    expect(srv!.readableLength).toBeLessThan(16 * 1024 + 64 * 1024);
    expect(receiver.bytesReceived - receiver.receiveQueue).toBe(srv!.readableLength);
    expect(receiver.receiveQueue).toBeGreaterThanOrEqual(256 * 1024 - 16 * 1024);
    // The sender's buffer holds what the window refuses; the stream holds the next chunk.
    expect(sender.sendQueue).toBeGreaterThan(128 * 1024);
    expect(c.writableLength).toBe(16384);
    expect(offset).toBeLessThan(data.length);

    const parts: Buffer[] = [];
    let ended = false;
    srv!.on('data', (d: Buffer) => parts.push(d));
    srv!.on('end', () => (ended = true));
    await runUntil(clock, () => ended, 60_000);
    const got = Buffer.concat(parts);
    expect(got.length).toBe(data.length);
    expect(sha256(got)).toBe(sha256(data));
    expect(drains).toBe(falses);
    expect(srv!.bytesRead).toBe(data.length);
  });

  it('Node’s error codes from the real core: ECONNREFUSED (RST from a closed port), EADDRINUSE, ECONNRESET after destroy with unread data', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const refused = a.tcp.connect(7999, '10.0.0.2');
    const refusedEvents = record(refused);
    let refusedErr: TcpError | undefined;
    refused.on('error', (e: TcpError) => (refusedErr = e));
    await runUntil(clock, () => refusedEvents.includes('close true'));
    expect(refusedEvents).toEqual(['error ECONNREFUSED', 'close true']);
    expect(refusedErr).toMatchObject({ message: 'connect ECONNREFUSED 10.0.0.2:7999', errno: -111, syscall: 'connect', address: '10.0.0.2', port: 7999 });

    const server = b.tcp.createServer().listen(7003);
    const second = b.tcp.createServer();
    let inUse: TcpError | undefined;
    second.on('error', (e) => (inUse = e));
    second.listen(7003);
    const notLocal = b.tcp.createServer();
    let notAvail: TcpError | undefined;
    notLocal.on('error', (e) => (notAvail = e));
    notLocal.listen(7003, '10.0.0.99');
    await runFor(clock, 10);
    expect(inUse?.message).toBe('listen EADDRINUSE: address already in use 0.0.0.0:7003');
    expect(notAvail?.message).toBe('listen EADDRNOTAVAIL: address not available 10.0.0.99:7003');

    // The server destroys a socket with unread data: RST, the client reads ECONNRESET.
    server.on('connection', (s) => {
      s.pause();
      s.once('readable', () => setImmediate(() => s.destroy()));
    });
    const victim = a.tcp.connect(7003, '10.0.0.2');
    const victimEvents = record(victim);
    victim.on('connect', () => victim.write(pattern(100_000)));
    await runUntil(clock, () => victimEvents.includes('close true'));
    expect(victimEvents).toEqual(['connect', 'ready', 'error ECONNRESET', 'close true']);

    // Destroying with nothing unread is an orderly close: the peer sees 'end'.
    server.removeAllListeners('connection');
    server.on('connection', (s) => s.on('data', () => s.destroy()));
    const polite = a.tcp.connect(7003, '10.0.0.2');
    const politeEvents = record(polite);
    polite.resume();
    polite.on('connect', () => polite.write('one small message'));
    await runUntil(clock, () => politeEvents.includes('close false'));
    expect(politeEvents).toEqual(['connect', 'ready', 'end', 'finish', 'close false']);
    server.close();
  });

  it('listen(0) takes an ephemeral port from the layer’s range; server.close waits for the last connection', async () => {
    const clock = new VirtualClock();
    const { a, b } = twoHosts(clock);
    const server = b.tcp.createServer((s) => s.pipe(s));
    const events: string[] = [];
    server.on('close', () => events.push('close'));
    server.listen(0);
    const { port } = server.address()!;
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(60999);
    const c = a.tcp.connect(port, '10.0.0.2');
    let echoed = '';
    c.on('data', (d: Buffer) => (echoed += d.toString()));
    c.write('ping');
    await runUntil(clock, () => echoed === 'ping');
    server.close(() => events.push('closed cb'));
    await runFor(clock, 100);
    expect(events).toEqual([]);
    expect(b.tcpLayer.listening()).toEqual([]);
    c.end();
    await runUntil(clock, () => events.length === 2);
    expect(events).toEqual(['close', 'closed cb']);
  });
});

describe('Node’s http over wirelab TCP (real clock)', () => {
  /** Two hosts, an unmodified Node http server on b (port `port`), and cleanup. */
  function httpPair(port: number, handler: http.RequestListener) {
    const clock = new RealClock();
    const { a, b } = twoHosts(clock);
    const httpServer = http.createServer(handler);
    const server = b.tcp.createServer((s) => httpServer.emit('connection', s));
    server.listen(port);
    const close = (): void => {
      httpServer.close();
      server.close();
      a.close();
      b.close();
      clock.close();
    };
    return { a, b, server, httpServer, close };
  }

  it('http.get of a 1 MiB body through agent: api.agent(), checked with SHA-256', async () => {
    const body = pattern(1024 * 1024, 3);
    const { a, close } = httpPair(8101, (req, res) => {
      expect(req.url).toBe('/big');
      res.setHeader('content-type', 'application/octet-stream');
      res.end(body);
    });
    const agent = a.tcp.agent();
    try {
      const { status, got, remote } = await new Promise<{ status: number | undefined; got: Buffer; remote: string | undefined }>((resolve, reject) => {
        http
          .get({ host: '10.0.0.2', port: 8101, path: '/big', agent }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve({ status: res.statusCode, got: Buffer.concat(parts), remote: res.socket?.remoteAddress }));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      expect(status).toBe(200);
      expect(remote).toBe('10.0.0.2');
      expect(got.length).toBe(body.length);
      expect(sha256(got)).toBe(sha256(body));
    } finally {
      agent.destroy();
      close();
    }
  }, 20_000);

  it('POST echo twice over one keep-alive connection (http.request, agent keepAlive)', async () => {
    const { a, close } = httpPair(8102, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const got = Buffer.concat(parts);
        res.setHeader('x-sha256', sha256(got));
        res.end(got);
      });
    });
    const agent = a.tcp.agent({ keepAlive: true });
    const post = (payload: Buffer) =>
      new Promise<{ echoed: Buffer; header: string | string[] | undefined; reused: boolean; port: number | undefined }>((resolve, reject) => {
        const req = http.request(
          { host: '10.0.0.2', port: 8102, method: 'POST', path: '/echo', agent, headers: { 'content-length': payload.length } },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () =>
              resolve({ echoed: Buffer.concat(parts), header: res.headers['x-sha256'], reused: req.reusedSocket, port: req.socket?.localPort }),
            );
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    try {
      const first = pattern(300_000, 11);
      const r1 = await post(first);
      expect(sha256(r1.echoed)).toBe(sha256(first));
      expect(r1.header).toBe(sha256(first));
      expect(r1.reused).toBe(false);
      const second = pattern(5000, 12);
      const r2 = await post(second);
      expect(r2.echoed.equals(second)).toBe(true);
      expect(r2.reused).toBe(true);
      expect(r2.port).toBe(r1.port);
      expect(a.tcpLayer.stats.activeOpens).toBe(1);
    } finally {
      agent.destroy();
      close();
    }
  }, 20_000);
});
