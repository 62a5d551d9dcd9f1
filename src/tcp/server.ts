/**
 * TcpServer: a `net.Server` for wirelab's own TCP.
 *
 * Hand-written for the same reason as TcpSocket: Node's `net.Server` owns a
 * kernel listening handle. This one owns a `TcpListener` of the TcpLayer and
 * hands every accepted connection out as a `TcpSocket` in a 'connection'
 * event, with Node's argument forms, events and errors
 * (`listen EADDRINUSE: address already in use 0.0.0.0:80`).
 *
 * Differences from Node: 'listening', 'connection', 'close' and 'error' are
 * emitted through the injected clock (a zero-delay timer) rather than
 * process.nextTick, so a virtual-clock run is deterministic; the port is
 * taken when `listen` returns. Hosts are IPv4 literals, '0.0.0.0' or
 * 'localhost'; no IPv6, no pipes or handles; ref/unref are no-ops.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../time/index.js';
import { formatIPv4, type IPv4Address } from '../wire/address.js';
import {
  TcpSocket,
  netError,
  nodeError,
  notFound,
  resolveHost,
  validatePort,
  type SocketAddress,
  type SocketConnection,
  type SocketLayer,
  type SocketListener,
  type TcpError,
} from './socket.js';
import { ClockQueue } from './clock-queue.js';

export interface TcpServerOptions {
  /** Accepted sockets keep their writable side open after the peer's FIN. Default false. */
  allowHalfOpen?: boolean;
  /** Accepted sockets do not read until resumed. Default false. */
  pauseOnConnect?: boolean;
  /**
   * TCP_NODELAY on accepted sockets. Default true — what Node's
   * `http.createServer` sets (its `noDelay` option), because wirelab servers
   * mostly hand their sockets to `http` with `emit('connection')`, which
   * never sets it itself; Nagle against the client's delayed ACK would hold
   * every response's last segment 40 ms. Set false for Linux's Nagle default
   * (`net.createServer`'s).
   */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
}

export interface TcpServerEvents {
  listening: [];
  connection: [socket: TcpSocket];
  close: [];
  error: [err: TcpError];
  drop: [data: { localAddress: string; localPort: number; remoteAddress: string; remotePort: number; remoteFamily: 'IPv4' }];
}

/** Where the next listen(0) starts looking (deterministic, so virtual-clock runs repeat). */
let ephemeralCursor = 0;

export class TcpServer extends EventEmitter<TcpServerEvents> {
  /** Refuse connections (close them at once, 'drop') while this many are open. */
  maxConnections: number | undefined;

  private listener: SocketListener | null = null;
  private bound: SocketAddress | null = null;
  private readonly sockets = new Set<TcpSocket>();
  private readonly queue: ClockQueue;
  private readonly clock: Clock;

  /** @internal Use `TcpApi.createServer`. */
  constructor(
    private readonly layer: SocketLayer,
    private readonly options: TcpServerOptions = {},
    connectionListener?: (socket: TcpSocket) => void,
  ) {
    super();
    this.clock = layer.clock;
    this.queue = new ClockQueue(this.clock);
    if (connectionListener !== undefined) this.on('connection', connectionListener);
  }

  /**
   * listen(port?, host?, backlog?, cb?) or listen({ port, host, backlog }, cb?).
   * Port 0 or none: an ephemeral port (see `address()`).
   */
  listen(port?: number | string, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port: number | string, host?: string, listeningListener?: () => void): this;
  listen(port: number | string, backlog?: number, listeningListener?: () => void): this;
  listen(port: number | string, listeningListener?: () => void): this;
  listen(options: ListenOptions, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    let options: ListenOptions = {};
    const first = args[0];
    let rest = args;
    if (first !== null && typeof first === 'object') {
      options = first as ListenOptions;
      rest = args.slice(1);
    } else if (typeof first === 'number' || typeof first === 'string') {
      options.port = first;
      rest = args.slice(1);
      if (typeof rest[0] === 'string') {
        options.host = rest[0];
        rest = rest.slice(1);
      }
      if (typeof rest[0] === 'number') {
        options.backlog = rest[0];
        rest = rest.slice(1);
      }
    }
    const cb = rest.find((a): a is () => void => typeof a === 'function');
    if (this.listener !== null) {
      throw nodeError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    const port = options.port === undefined || options.port === null ? 0 : validatePort(options.port, 'options.port');
    if (cb !== undefined) this.once('listening', cb);

    const hostText = options.host === undefined || options.host === '' || options.host === '::' ? '0.0.0.0' : options.host;
    const address: IPv4Address | undefined = resolveHost(hostText);
    if (address === undefined) {
      this.queue.push(() => this.emit('error', notFound(hostText)));
      return this;
    }
    try {
      this.listener = this.bind(port, address, options.backlog);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code !== 'string') throw e;
      const err = netError(code, 'listen', formatIPv4(address), port, true);
      this.queue.push(() => this.emit('error', err));
      return this;
    }
    this.bound = { address: formatIPv4(address), family: 'IPv4', port: listenerPort(this.listener) ?? port };
    this.queue.push(() => {
      if (this.listener !== null) this.emit('listening');
    });
    return this;
  }

  /** Takes the port, or for port 0 a free one from the ephemeral range (Linux's autobind on listen). */
  private bind(port: number, address: IPv4Address, backlog: number | undefined): SocketListener {
    const opts = { ...(address !== 0 ? { address } : {}), ...(backlog !== undefined ? { backlog } : {}) };
    const onConnection = (conn: SocketConnection): void => this.accept(conn);
    if (port !== 0) return this.layer.listen({ port, ...opts }, onConnection);
    const [lo, hi] = this.layer.opts?.ephemeralPortRange ?? [32768, 60999];
    const span = hi - lo + 1;
    const start = (ephemeralCursor = (ephemeralCursor + 7919) % span);
    for (let i = 0; i < span; i++) {
      try {
        return this.layer.listen({ port: lo + ((start + i) % span), ...opts }, onConnection);
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'EADDRINUSE') throw e;
      }
    }
    throw Object.assign(new Error('no free port to listen on'), { code: 'EADDRINUSE' });
  }

  private accept(conn: SocketConnection): void {
    if (this.listener === null) {
      conn.abort();
      return;
    }
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      conn.close();
      const data = {
        localAddress: formatIPv4(conn.localAddress),
        localPort: conn.localPort,
        remoteAddress: formatIPv4(conn.remoteAddress),
        remotePort: conn.remotePort,
        remoteFamily: 'IPv4' as const,
      };
      this.queue.push(() => this.emit('drop', data));
      return;
    }
    const o = this.options;
    const socket = new TcpSocket(
      { clock: this.clock },
      {
        allowHalfOpen: o.allowHalfOpen ?? false,
        ...(o.highWaterMark !== undefined ? { highWaterMark: o.highWaterMark } : {}),
        noDelay: o.noDelay ?? true,
        ...(o.keepAlive !== undefined ? { keepAlive: o.keepAlive } : {}),
        ...(o.keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay: o.keepAliveInitialDelay } : {}),
      },
    );
    socket.attach(conn, o.pauseOnConnect === true);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.emitCloseIfDrained();
    });
    this.queue.push(() => {
      if (!socket.destroyed) this.emit('connection', socket);
    });
  }

  /**
   * Stops accepting; 'close' follows once every accepted connection has
   * closed. Called when not listening, the callback gets
   * ERR_SERVER_NOT_RUNNING (after 'close'), as in Node.
   */
  close(callback?: (err?: Error) => void): this {
    if (typeof callback === 'function') {
      if (this.listener === null) {
        this.once('close', () => callback(nodeError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      } else {
        this.once('close', () => callback());
      }
    }
    if (this.listener !== null) {
      this.listener.close();
      this.listener = null;
      this.bound = null;
    }
    this.emitCloseIfDrained();
    return this;
  }

  private emitCloseIfDrained(): void {
    if (this.listener !== null || this.sockets.size > 0) return;
    this.queue.push(() => this.emit('close'));
  }

  /** `{ address, family: 'IPv4', port }` while listening, null otherwise. */
  address(): SocketAddress | null {
    return this.bound === null ? null : { ...this.bound };
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  getConnections(callback: (err: Error | null, count: number) => void): this {
    const count = this.sockets.size;
    this.queue.push(() => callback(null, count));
    return this;
  }

  /** The accepted sockets still open (wirelab's addition, for tables and tests). */
  connections(): TcpSocket[] {
    return [...this.sockets];
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** The port a listener got (an ephemeral one when asked for 0), if it says. */
function listenerPort(listener: SocketListener): number | undefined {
  const port = (listener as { port?: unknown; localPort?: unknown }).port ?? (listener as { localPort?: unknown }).localPort;
  return typeof port === 'number' ? port : undefined;
}
