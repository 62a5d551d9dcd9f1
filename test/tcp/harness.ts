/**
 * Test harness for the TCP core: two stacks on a virtual clock joined by an
 * in-memory pipe (optionally impaired in each direction), handlers that
 * record what a connection reports, and a loop that runs virtual time until
 * a condition holds.
 */
import { createHash } from 'node:crypto';
import { impair, type ImpairmentOptions } from '../../src/link/impair.js';
import { createPipe, type PipePort } from '../../src/link/pipe.js';
import type { Port } from '../../src/link/port.js';
import { createStack, type Stack } from '../../src/stack.js';
import type { TcpConnection } from '../../src/tcp/connection.js';
import type { TcpConnectionHandler, TcpErrorWithCode, TcpOptions } from '../../src/tcp/state.js';
import { VirtualClock } from '../../src/time/index.js';
import { parseIPv4 } from '../../src/wire/address.js';

export const A = parseIPv4('10.0.0.1');
export const B = parseIPv4('10.0.0.2');

export interface Pair {
  clock: VirtualClock;
  a: Stack;
  b: Stack;
  pa: PipePort;
  pb: PipePort;
}

export function twoStacks(
  opts: { tcpA?: TcpOptions; tcpB?: TcpOptions; impairAtoB?: ImpairmentOptions; impairBtoA?: ImpairmentOptions; mtu?: number } = {},
): Pair {
  const clock = new VirtualClock();
  const [pa, pb] = createPipe(clock);
  const a = createStack({ clock, name: 'a', seed: 1, ...(opts.tcpA ? { tcp: opts.tcpA } : {}) });
  const b = createStack({ clock, name: 'b', seed: 2, ...(opts.tcpB ? { tcp: opts.tcpB } : {}) });
  const portA: Port = opts.impairAtoB ? impair(pa, clock, opts.impairAtoB) : pa;
  const portB: Port = opts.impairBtoA ? impair(pb, clock, opts.impairBtoA) : pb;
  a.addInterface(portA, { addresses: ['10.0.0.1/24'], mtu: opts.mtu ?? 1500, announce: false });
  b.addInterface(portB, { addresses: ['10.0.0.2/24'], mtu: opts.mtu ?? 1500, announce: false });
  // Skip ARP so packet counts are exact.
  a.neighbours.addPermanent(B, b.interfaces[0]!.mac, 'eth0');
  b.neighbours.addPermanent(A, a.interfaces[0]!.mac, 'eth0');
  return { clock, a, b, pa, pb };
}

/** Records everything a connection reports; consumes data at once unless paused. */
export class Recorder implements TcpConnectionHandler {
  conn: TcpConnection | null = null;
  chunks: Uint8Array[] = [];
  bytes = 0;
  isEstablished = false;
  fin = false;
  closedWith: TcpErrorWithCode | undefined | null = null;
  writableCalls = 0;
  paused = false;
  private unconsumed = 0;
  private hash = createHash('sha256');
  keepChunks = true;
  onData: ((chunk: Uint8Array) => void) | null = null;
  onWritable: (() => void) | null = null;
  onFin: (() => void) | null = null;

  established(): void {
    this.isEstablished = true;
  }
  data(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    if (this.keepChunks) this.chunks.push(chunk);
    if (this.paused) this.unconsumed += chunk.length;
    else this.conn?.consumed(chunk.length);
    this.onData?.(chunk);
  }
  peerFin(): void {
    this.fin = true;
    this.onFin?.();
  }
  writable(): void {
    this.writableCalls++;
    this.onWritable?.();
  }
  closed(err?: TcpErrorWithCode): void {
    this.closedWith = err;
  }
  get done(): boolean {
    return this.closedWith !== null;
  }
  resume(): void {
    this.paused = false;
    const n = this.unconsumed;
    this.unconsumed = 0;
    this.conn?.consumed(n);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/** Runs virtual time in `stepMs` steps until `cond()` or `maxMs` passed; returns the virtual time spent. */
export function runUntil(clock: VirtualClock, cond: () => boolean, maxMs = 60_000, stepMs = 5): number {
  const start = clock.now();
  while (!cond()) {
    if (clock.now() - start >= maxMs) throw new Error(`condition not met within ${maxMs} virtual ms`);
    clock.advance(stepMs);
  }
  return clock.now() - start;
}

/** Connects a → b:port with recorders on both ends; runs until established. */
export function connectPair(p: Pair, port = 80): { client: Recorder; server: Recorder; cc: TcpConnection; sc: () => TcpConnection } {
  const server = new Recorder();
  const client = new Recorder();
  p.b.tcpLayer.listen({ port }, (c) => {
    server.conn = c;
    c.handler = server;
  });
  const cc = p.a.tcpLayer.connect({ remoteAddress: B, remotePort: port }, client);
  client.conn = cc;
  runUntil(p.clock, () => client.isEstablished && server.conn !== null, 10_000, 1);
  return { client, server, cc, sc: () => server.conn! };
}

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Feeds `data` into `conn` as the send buffer allows; call again on `writable`. */
export function pump(conn: TcpConnection, data: Uint8Array, state: { off: number }, thenShutdown = false): void {
  while (state.off < data.length) {
    const n = conn.write(data.subarray(state.off, Math.min(data.length, state.off + 65536)));
    if (n === 0) return;
    state.off += n;
  }
  if (thenShutdown) conn.shutdown();
}
