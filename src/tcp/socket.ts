/**
 * TcpSocket: a `net.Socket` for wirelab's own TCP.
 *
 * Hand-written because Node's `net.Socket` is bound to a kernel handle
 * (libuv's uv_tcp_t) and cannot sit on a user-space TCP; this is the same
 * `stream.Duplex` contract built on a `TcpConnection`, so `http`, `tls` and
 * anything else that takes a Node socket runs on wirelab unchanged
 * (`httpServer.emit('connection', socket)`, an `http.Agent` whose
 * `createConnection` returns one).
 *
 * How the Node/libuv/kernel layering maps onto this file:
 * - write: `_write` hands the chunk to `conn.write` (the kernel send buffer
 *   copies what fits); the rest waits for the connection's `writable` and
 *   the write callback is held until all of it is accepted, so the stream's
 *   own buffer fills to its highWaterMark, `write()` returns false and
 *   'drain' follows — the backpressure of a full kernel send buffer.
 * - read: while the stream is reading (libuv's readStart) received bytes are
 *   pushed into it and reported with `conn.consumed()`, which reopens the
 *   window. A push that reaches the readable highWaterMark stops reading
 *   (readStop): later bytes are held unreported — the kernel receive queue —
 *   until the stream pulls again with `_read`. A consumer that stops reading
 *   therefore lets the receive buffer fill and the advertised window close.
 * - `end()` → `_final` → `conn.shutdown()` (FIN after queued data);
 *   peer FIN → `push(null)` ('end'); with allowHalfOpen false (the default,
 *   as Node's) the stream ends its side by itself after 'end'.
 * - `destroy()` is close(2): FIN after queued data when nothing received is
 *   left unread, RST when unread data remains (as Linux), or when
 *   `resetAndDestroy()` asked for it, or while connecting.
 * - Errors carry Node's shape: `connect ECONNREFUSED 10.0.0.2:80`,
 *   `read ECONNRESET`, with `code`, `errno`, `syscall`, `address`, `port`.
 *
 * Callbacks from the connection are queued and run on the injected clock
 * (a zero-delay timer), never inside the TCP input path: application code
 * reacting to data cannot re-enter the connection, and on a virtual clock
 * the application reacts within the same simulated run. Stream events that
 * Node itself schedules with process.nextTick ('end', 'finish', 'drain',
 * 'error') keep doing so, and 'close' follows 'error' the same way.
 *
 * Differences from Node: hosts are IPv4 literals or 'localhost' unless a
 * `lookup` function is given (Node's connect option; `stack.tcp` passes the
 * host's `stack.dns.lookup`), other names fail with ENOTFOUND; no IPv6, no
 * file-descriptor or pipe (path) sockets; ref/unref are no-ops.
 */
import { Duplex } from 'node:stream';
import { Timer, type Clock } from '../time/index.js';
import { formatIPv4, type IPv4Address } from '../wire/address.js';
import { ClockQueue } from './clock-queue.js';
import { nodeError, notFound, resolveHost, systemError, validatePort, type SocketError } from '../ip/socket-errors.js';

/** Most bytes joined into one pushed chunk: a libuv read's 64 KiB, what a Node socket's 'data' gives at most. */
const MAX_JOINED = 64 * 1024;

// ---- the TCP core, as this file uses it (src/tcp/connection.ts and tcp.ts implement it) ----

/** The callbacks a connection makes to its owner (TcpConnectionHandler). */
export interface SocketConnectionHandler {
  established?(): void;
  data(chunk: Uint8Array): void;
  peerFin(): void;
  writable(): void;
  closed(err?: Error & { code: string }): void;
}

/** The part of `TcpConnection` a socket drives. */
export interface SocketConnection {
  readonly localAddress: IPv4Address;
  readonly localPort: number;
  readonly remoteAddress: IPv4Address;
  readonly remotePort: number;
  readonly state: string;
  handler: SocketConnectionHandler | null;
  write(chunk: Uint8Array): number;
  /** Hold output across several writes (one `_writev` batch); optional for fakes. */
  cork?(): void;
  uncork?(): void;
  shutdown(): void;
  abort(): void;
  close(): void;
  consumed(bytes: number): void;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, initialDelayMs?: number): void;
}

/** Something that can be closed to stop accepting (TcpListener). */
export interface SocketListener {
  close(): void;
}

/** The part of `TcpLayer` the socket API drives. */
export interface SocketLayer {
  readonly clock: Clock;
  /** Where ephemeral ports come from (ip_local_port_range); default [32768, 60999]. */
  readonly opts?: { readonly ephemeralPortRange?: readonly [number, number] };
  connect(
    opts: { remoteAddress: IPv4Address; remotePort: number; localAddress?: IPv4Address; localPort?: number },
    handler: SocketConnectionHandler,
  ): SocketConnection;
  listen(
    opts: { port: number; address?: IPv4Address; backlog?: number },
    onConnection: (c: SocketConnection) => void,
  ): SocketListener;
}

// ---- errors shaped like Node's (src/ip/socket-errors.ts) ----

export { nodeError, notFound, resolveHost, validatePort };
/** Node's system error for a TCP operation (see systemError). */
export const netError = systemError;

export type TcpError = SocketError;

/** Wraps a code coming from the TCP core into Node's error for the operation that saw it. */
function connectionError(err: Error & { code: string }, connecting: boolean, remote: string | undefined, port: number | undefined): TcpError {
  const e = connecting
    ? netError(err.code, 'connect', remote, port)
    : netError(err.code, err.code === 'EPIPE' ? 'write' : 'read');
  if (err.message && !err.message.startsWith(e.message)) e.cause = err;
  return e;
}

// ---- the socket ----

export interface TcpSocketOptions {
  /** Keep the writable side open after the peer's FIN (Node's default: false). */
  allowHalfOpen?: boolean;
  /** Both highWaterMarks at once (bytes). Node's default is 16 KiB. */
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

/** Node's `lookup` connect option: resolves `host` when it is not an address. */
export type TcpLookupFunction = (
  hostname: string,
  options: { family: 4 },
  callback: (err: Error | null, address: string, family: number) => void,
) => void;

export interface TcpConnectOptions {
  port: number | string;
  host?: string;
  /** Resolves a host name (as Node's `lookup` option); without it names fail with ENOTFOUND. */
  lookup?: TcpLookupFunction;
  localAddress?: string;
  localPort?: number;
  /** Idle timeout in ms, as `socket.setTimeout(timeout)`. */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface SocketAddress {
  address: string;
  family: 'IPv4';
  port: number;
}

type WriteCallback = (error?: Error | null) => void;

export class TcpSocket extends Duplex {
  /** True from `connect()` until the handshake completes or fails. */
  connecting = false;
  /** The idle timeout set with `setTimeout`, as Node's `socket.timeout`. */
  timeout: number | undefined;
  /** @internal The connection, null before connect and after close. */
  private conn: SocketConnection | null = null;
  private readonly layer: SocketLayer | undefined;
  private readonly queue: ClockQueue;
  private readonly idleTimer: Timer;

  // write side
  private bytesDispatched = 0;
  /** A write (one chunk) or writev (a batch) the connection has not taken all of yet. */
  private pendingWrite: { chunks: Uint8Array[]; next: number; cb: WriteCallback } | null = null;
  private waitingForConnect: Array<() => void> = [];
  // read side
  private bytesReceived = 0;
  /** Bytes the connection delivered that wait in the clock queue. */
  private queuedBytes = 0;
  /**
   * Received bytes not yet moved into the stream because it stopped reading:
   * the kernel receive queue of a socket Node is not reading from. They are
   * not `consumed()`, so the window closes as they pile up.
   */
  private held: Buffer[] = [];
  /** Chunks delivered and not yet run through `onData`, oldest first, one per queued `runData`. */
  private dataChunks: Uint8Array[] = [];
  /** Bytes each queued run holds: its first chunk and the contiguous ones joined to it. */
  private dataLengths: number[] = [];
  private dataHead = 0;
  private heldBytes = 0;
  /** The peer's FIN arrived behind held bytes. */
  private eofHeld = false;
  /** The stream wants more (libuv is "reading"): arriving bytes go straight in. */
  private reading = true;
  private peerEnded = false;

  private resetOnDestroy = false;
  private noDelay: boolean | undefined;
  private keepAlive: { on: boolean; delayMs: number | undefined } | undefined;
  private local: SocketAddress | undefined;
  private remote: SocketAddress | undefined;

  /**
   * @internal Use `TcpApi.connect` / `createConnection`, or get one from a
   * `TcpServer`'s 'connection' event.
   */
  constructor(env: { clock: Clock; layer?: SocketLayer }, opts: TcpSocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      emitClose: false, // 'close' (hadError) is emitted once the connection is let go, as Node does
      autoDestroy: true,
      decodeStrings: true,
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
      ...(opts.readableHighWaterMark !== undefined ? { readableHighWaterMark: opts.readableHighWaterMark } : {}),
      ...(opts.writableHighWaterMark !== undefined ? { writableHighWaterMark: opts.writableHighWaterMark } : {}),
    });
    this.layer = env.layer;
    this.queue = new ClockQueue(env.clock);
    this.idleTimer = new Timer(env.clock.timers, () => this.onIdle());
    if (opts.noDelay !== undefined) this.noDelay = opts.noDelay;
    if (opts.keepAlive === true) this.keepAlive = { on: true, delayMs: delayOrDefault(opts.keepAliveInitialDelay) };
  }

  // ---- connecting ----

  /** Connects to `port` on `host` (default 'localhost'); 'connect' follows, or 'error'. */
  connect(options: TcpConnectOptions, connectListener?: () => void): this;
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(port: number | string, connectListener?: () => void): this;
  connect(
    a: TcpConnectOptions | number | string,
    b?: string | (() => void),
    c?: () => void,
  ): this {
    const options: TcpConnectOptions = typeof a === 'object' && a !== null ? a : { port: a, ...(typeof b === 'string' ? { host: b } : {}) };
    const cb = typeof b === 'function' ? b : typeof c === 'function' ? c : undefined;
    if (this.layer === undefined) throw nodeError('ERR_SOCKET_CLOSED', 'Socket is closed');
    if (this.connecting || this.conn !== null) {
      throw nodeError('ERR_SOCKET_CONNECTION_ATTEMPT', 'Socket is already connected or connecting');
    }
    if (this.destroyed) throw nodeError('ERR_SOCKET_CLOSED', 'Socket is closed');
    const remotePort = validatePort(options.port);
    let localAddress: IPv4Address | undefined;
    if (options.localAddress !== undefined) {
      localAddress = resolveHost(options.localAddress);
      if (localAddress === undefined || options.localAddress === 'localhost') {
        throw nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${options.localAddress}`, TypeError);
      }
    }
    const localPort = options.localPort === undefined ? undefined : validatePort(options.localPort, 'localPort');
    if (options.timeout !== undefined) this.setTimeout(options.timeout);
    if (options.noDelay !== undefined) this.noDelay = options.noDelay;
    if (options.keepAlive === true) this.keepAlive = { on: true, delayMs: delayOrDefault(options.keepAliveInitialDelay) };
    if (cb !== undefined) this.once('connect', cb);

    this.connecting = true;
    const host = options.host === undefined || options.host === '' ? 'localhost' : options.host;
    const remoteAddress = resolveHost(host);
    if (remoteAddress === undefined) {
      if (options.lookup === undefined) {
        this.queue.push(() => this.destroy(notFound(host)));
        return this;
      }
      // Writes made meanwhile wait in waitingForConnect, as while the handshake runs.
      options.lookup(host, { family: 4 }, (err, address) => {
        if (this.destroyed) return;
        const resolved = err === null ? resolveHost(address) : undefined;
        if (resolved === undefined) return void this.destroy(err ?? notFound(host));
        this.emit('lookup', null, address, 4, host);
        this.open(resolved, remotePort, localAddress, localPort);
      });
      return this;
    }
    this.open(remoteAddress, remotePort, localAddress, localPort);
    return this;
  }

  /** Starts the handshake to an address (connect's second half, after any lookup). */
  private open(remoteAddress: IPv4Address, remotePort: number, localAddress: IPv4Address | undefined, localPort: number | undefined): void {
    const remoteText = formatIPv4(remoteAddress);
    this.remote = { address: remoteText, family: 'IPv4', port: remotePort };
    const layer = this.layer;
    if (layer === undefined) return void this.destroy(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
    try {
      this.conn = layer.connect(
        {
          remoteAddress,
          remotePort,
          ...(localAddress !== undefined ? { localAddress } : {}),
          ...(localPort !== undefined ? { localPort } : {}),
        },
        this.makeHandler(),
      );
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code !== 'string') throw e;
      const err =
        code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL'
          ? netError(code, 'bind', localAddress === undefined ? '0.0.0.0' : formatIPv4(localAddress), localPort ?? 0)
          : netError(code, 'connect', remoteText, remotePort);
      this.queue.push(() => this.destroy(err));
      return;
    }
    this.local = { address: formatIPv4(this.conn.localAddress), family: 'IPv4', port: this.conn.localPort };
  }

  /**
   * @internal Wraps a connection a listener accepted. `paused` is Node's
   * pauseOnConnect: nothing is read until the socket is resumed.
   */
  attach(conn: SocketConnection, paused = false): void {
    this.conn = conn;
    conn.handler = this.makeHandler();
    this.cacheAddresses(conn);
    this.applyOptions(conn);
    if (conn.state === 'SYN-RECV' || conn.state === 'SYN-SENT') this.connecting = true;
    if (paused) {
      this.reading = false;
      this.pause();
    }
  }

  private makeHandler(): SocketConnectionHandler {
    return {
      established: () => this.queue.push(() => this.onEstablished()),
      data: (chunk) => this.queueData(chunk),
      peerFin: () => this.queue.push(() => this.onPeerFin()),
      writable: () => this.queue.push(() => this.onWritable()),
      closed: (err) => this.queue.push(() => this.onClosed(err)),
    };
  }

  private cacheAddresses(conn: SocketConnection): void {
    this.local = { address: formatIPv4(conn.localAddress), family: 'IPv4', port: conn.localPort };
    this.remote = { address: formatIPv4(conn.remoteAddress), family: 'IPv4', port: conn.remotePort };
  }

  private applyOptions(conn: SocketConnection): void {
    if (this.noDelay !== undefined) conn.setNoDelay(this.noDelay);
    if (this.keepAlive !== undefined) conn.setKeepAlive(this.keepAlive.on, this.keepAlive.delayMs);
  }

  private onEstablished(): void {
    if (this.destroyed || this.conn === null || !this.connecting) return;
    this.connecting = false;
    this.cacheAddresses(this.conn);
    this.applyOptions(this.conn);
    this.touch();
    this.emit('connect');
    this.emit('ready');
    const waiting = this.waitingForConnect;
    this.waitingForConnect = [];
    for (const fn of waiting) fn();
  }

  // ---- write side ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCallback): void {
    if (this.connecting) {
      this.waitingForConnect.push(() => this._write(chunk, _encoding, cb));
      return;
    }
    if (this.conn === null) {
      cb(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    this.bytesDispatched += chunk.byteLength;
    this.touch();
    this.pendingWrite = { chunks: [chunk], next: 0, cb };
    this.onWritable();
  }

  /**
   * A corked batch (`cork()`/`uncork()`, which Node's http does around a
   * response's headers and body): every chunk goes into the send buffer
   * before the connection sends anything, so the batch leaves as full
   * segments — as `net.Socket`'s writev does — instead of a small first
   * segment that Nagle makes the rest wait behind (the peer's delayed ACK:
   * 40 ms per response).
   */
  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: WriteCallback): void {
    if (this.connecting) {
      this.waitingForConnect.push(() => this._writev(chunks, cb));
      return;
    }
    if (this.conn === null) {
      cb(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    const list: Uint8Array[] = new Array<Uint8Array>(chunks.length);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!.chunk;
      list[i] = c;
      this.bytesDispatched += c.byteLength;
    }
    this.touch();
    this.pendingWrite = { chunks: list, next: 0, cb };
    this.onWritable();
  }

  /** Feeds the held chunks to the connection in one corked run; completes the write once all are accepted. */
  private onWritable(): void {
    const pending = this.pendingWrite;
    const conn = this.conn;
    if (pending === null || conn === null || this.destroyed) return;
    const { chunks } = pending;
    let failure: unknown;
    conn.cork?.();
    try {
      while (pending.next < chunks.length) {
        const chunk = chunks[pending.next]!;
        const accepted = conn.write(chunk);
        if (accepted >= chunk.byteLength) {
          pending.next++;
          continue;
        }
        if (accepted > 0) chunks[pending.next] = chunk.subarray(accepted);
        break;
      }
    } catch (e) {
      failure = e;
    } finally {
      conn.uncork?.();
    }
    if (failure !== undefined) {
      this.pendingWrite = null;
      const code = (failure as { code?: unknown }).code;
      pending.cb(typeof code === 'string' ? netError(code, 'write') : (failure as Error));
      return;
    }
    if (pending.next === chunks.length) {
      this.pendingWrite = null;
      pending.cb();
    }
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this.waitingForConnect.push(() => this._final(cb));
      return;
    }
    if (this.conn !== null) this.conn.shutdown();
    cb();
  }

  /** Node's writeAfterFIN: writing after the peer ended a non-half-open socket is EPIPE. */
  override write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (this.peerEnded && !this.allowHalfOpen && this.writableEnded) {
      const callback = typeof encoding === 'function' ? encoding : cb;
      const err = nodeError('EPIPE', 'This socket has been ended by the other party');
      if (callback !== undefined) process.nextTick(callback, err);
      this.destroy(err);
      return false;
    }
    if (typeof encoding === 'function') return super.write(chunk, encoding);
    return super.write(chunk, encoding as BufferEncoding, cb);
  }

  // ---- read side ----

  override _read(): void {
    this.reading = true;
    while (this.reading && this.held.length > 0) {
      const chunk = this.held.shift()!;
      this.heldBytes -= chunk.byteLength;
      this.pushChunk(chunk);
    }
    if (this.held.length === 0 && this.eofHeld) {
      this.eofHeld = false;
      this.push(null);
    }
  }

  /**
   * A chunk from the connection. Consecutive in-order segments of one batch
   * were copied side by side into the receiver's slab, so a chunk that
   * continues the one still waiting in the queue joins it: the application
   * gets one push per run of segments instead of one per segment (the
   * socket-level half of GRO), and no closure is built per segment.
   */
  private queueData(chunk: Uint8Array): void {
    this.queuedBytes += chunk.byteLength;
    const chunks = this.dataChunks;
    const last = chunks.length - 1;
    if (last >= this.dataHead && this.queue.lastIs(this.runData)) {
      const first = chunks[last]!;
      const len = this.dataLengths[last]!;
      // Joined by length only: the view is built once, when the run is pushed.
      if (first.buffer === chunk.buffer && first.byteOffset + len === chunk.byteOffset && len + chunk.byteLength <= MAX_JOINED) {
        this.dataLengths[last] = len + chunk.byteLength;
        return;
      }
    }
    chunks.push(chunk);
    this.dataLengths.push(chunk.byteLength);
    this.queue.push(this.runData);
  }

  private readonly runData = (): void => {
    const i = this.dataHead++;
    const first = this.dataChunks[i]!;
    const len = this.dataLengths[i]!;
    if (this.dataHead === this.dataChunks.length) {
      this.dataChunks.length = 0;
      this.dataLengths.length = 0;
      this.dataHead = 0;
    }
    this.onData(len === first.byteLength ? first : new Uint8Array(first.buffer, first.byteOffset, len));
  };

  private onData(chunk: Uint8Array): void {
    this.queuedBytes -= chunk.byteLength;
    if (this.destroyed || this.peerEnded) return;
    this.touch();
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.reading && this.held.length === 0) {
      this.pushChunk(buf);
    } else {
      this.held.push(buf);
      this.heldBytes += buf.byteLength;
    }
  }

  /**
   * Moves bytes into the stream: they now count as read, so the window
   * reopens by that much. A push that reaches the highWaterMark stops
   * reading (libuv's readStop) until the stream pulls again with `_read`.
   */
  private pushChunk(buf: Buffer): void {
    this.bytesReceived += buf.byteLength;
    // The window reopens before the push: a flowing push runs the user's 'data' handlers, and one
    // that throws must not leave these bytes counted as unread (the window would never reopen).
    this.conn?.consumed(buf.byteLength);
    if (!this.push(buf)) this.reading = false;
  }

  private onPeerFin(): void {
    if (this.destroyed || this.peerEnded) return;
    this.peerEnded = true;
    if (this.held.length > 0) this.eofHeld = true;
    else this.push(null);
  }

  // ---- closing ----

  private onClosed(err?: Error & { code: string }): void {
    const conn = this.conn;
    if (conn === null || this.destroyed) return;
    conn.handler = null;
    this.conn = null;
    if (err !== undefined) {
      const wasConnecting = this.connecting;
      this.connecting = false;
      this.destroy(connectionError(err, wasConnecting, this.remote?.address, this.remote?.port));
      return;
    }
    this.connecting = false;
    this.onPeerFin();
    // Writes the connection can no longer carry: nothing will complete them.
    if (this.pendingWrite !== null || this.writableLength > 0) this.destroy();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.idleTimer.cancel();
    const conn = this.conn;
    this.conn = null;
    this.pendingWrite = null;
    this.waitingForConnect = [];
    if (conn !== null) {
      conn.handler = null;
      // close(2) resets a connection whose receive queue still holds data.
      const unread = this.heldBytes + this.queuedBytes;
      if (this.resetOnDestroy || this.connecting || unread > 0) conn.abort();
      else conn.close();
    }
    this.connecting = false;
    cb(err);
    // After the 'error' that cb scheduled, as Node's handle-close callback.
    const hadError = err !== null && err !== undefined;
    process.nextTick(() => this.emit('close', hadError));
  }

  /** Ends the writable side, then destroys once it finished (used by Node's http server). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Closes with an RST (SO_LINGER 0), as Node's `resetAndDestroy`. */
  resetAndDestroy(): this {
    this.resetOnDestroy = true;
    this.destroy();
    return this;
  }

  // ---- options and information ----

  setNoDelay(noDelay = true): this {
    const on = Boolean(noDelay);
    if (this.noDelay === on && this.conn !== null) return this;
    this.noDelay = on;
    if (this.conn !== null && !this.connecting) this.conn.setNoDelay(on);
    return this;
  }

  /** `initialDelay` in ms, rounded down to whole seconds as Node does; 0 keeps the stack's default. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = { on: Boolean(enable), delayMs: delayOrDefault(initialDelay) };
    if (this.conn !== null && !this.connecting) this.conn.setKeepAlive(this.keepAlive.on, this.keepAlive.delayMs);
    return this;
  }

  /** Idle timeout: 'timeout' after `ms` without reads or writes (the socket stays open); 0 disables. */
  setTimeout(ms: number, callback?: () => void): this {
    if (this.destroyed) return this;
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw nodeError('ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. It must be a non-negative finite number. Received ${String(ms)}`, RangeError);
    }
    this.timeout = ms;
    if (ms === 0) {
      this.idleTimer.cancel();
      if (callback !== undefined) this.removeListener('timeout', callback);
    } else {
      this.idleTimer.arm(ms);
      if (callback !== undefined) this.once('timeout', callback);
    }
    return this;
  }

  private touch(): void {
    if (this.timeout !== undefined && this.timeout > 0 && !this.destroyed) this.idleTimer.arm(this.timeout);
  }

  private onIdle(): void {
    if (!this.destroyed) this.emit('timeout');
  }

  /** The local end, `{}` before connect and once closed (as Node's getsockname). */
  address(): SocketAddress | Record<string, never> {
    return this.local !== undefined && this.conn !== null ? { ...this.local } : {};
  }

  get localAddress(): string | undefined {
    return this.conn !== null ? this.local?.address : undefined;
  }
  get localPort(): number | undefined {
    return this.conn !== null ? this.local?.port : undefined;
  }
  get localFamily(): 'IPv4' | undefined {
    return this.localAddress === undefined ? undefined : 'IPv4';
  }
  /** The peer, once connected; kept after close, as Node caches getpeername. */
  get remoteAddress(): string | undefined {
    return this.connecting ? undefined : this.remote?.address;
  }
  get remotePort(): number | undefined {
    return this.connecting ? undefined : this.remote?.port;
  }
  get remoteFamily(): 'IPv4' | undefined {
    return this.remoteAddress === undefined ? undefined : 'IPv4';
  }

  /** Bytes received from the connection. */
  get bytesRead(): number {
    return this.bytesReceived;
  }

  /** Bytes handed to the connection plus those still waiting in the stream, as Node counts. */
  get bytesWritten(): number {
    let n = this.bytesDispatched;
    const waiting = (this as unknown as { writableBuffer?: ReadonlyArray<{ chunk: Uint8Array | string }> }).writableBuffer ?? [];
    for (const entry of waiting) {
      n += typeof entry.chunk === 'string' ? Buffer.byteLength(entry.chunk) : entry.chunk.byteLength;
    }
    return n;
  }

  /** True before a connection exists and while connecting. */
  get pending(): boolean {
    return this.conn === null || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The TCP state of the connection (`ss` names), 'CLOSED' once it is let go. */
  get tcpState(): string {
    return this.conn?.state ?? 'CLOSED';
  }

  /** @internal The connection, for tools and tests (TcpInfo lives there). */
  get connection(): SocketConnection | null {
    return this.conn;
  }

  /** wirelab sockets never hold the process open; these only return the socket. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

function delayOrDefault(ms: number | undefined): number | undefined {
  if (ms === undefined || !(ms > 0)) return undefined;
  return Math.floor(ms / 1000) * 1000 || undefined;
}
