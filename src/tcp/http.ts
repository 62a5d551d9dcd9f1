/**
 * HttpApi: Node's own `http` on one wirelab host, the common case made
 * obvious.
 *
 *   const server = host.http.createServer((req, res) => res.end('hi\n'));
 *   server.listen(80);                       // on wirelab TCP, not the kernel
 *   http.get({ host: '10.0.0.2', agent: client.http.agent() }, …);
 *
 * `createServer` returns a real `http.Server` (request handling, keep-alive,
 * timeouts, closeAllConnections — all Node's) whose `listen`, `close` and
 * `address` are those of a wirelab `TcpServer`: every accepted socket is
 * handed over with `emit('connection')`, with the socket options Node's
 * `http.createServer` would set on a kernel socket — TCP_NODELAY on (its
 * `noDelay` default) and half-open allowed. Without no-delay, a response
 * whose last segment is small waits for the client's delayed ACK (40 ms on
 * Linux) behind Nagle.
 *
 * Hand-written: Node offers no seam for a server's listening handle other
 * than overriding these three methods.
 */
import http from 'node:http';
import type { TcpApi, TcpAgent, TcpAgentOptions } from './api.js';
import type { TcpServer } from './server.js';
import type { SocketAddress, TcpSocket } from './socket.js';

export interface WirelabHttpServerOptions extends http.ServerOptions {
  /** TCP_NODELAY on accepted sockets; default true, as Node's http.createServer. */
  noDelay?: boolean;
  /** SO_KEEPALIVE on accepted sockets; default false, as Node's. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** An `http.Server` listening on wirelab TCP. */
export class WirelabHttpServer extends http.Server {
  private tcpServer: TcpServer | null = null;

  /** @internal Use `stack.http.createServer`. */
  constructor(
    private readonly api: TcpApi,
    private readonly socketOptions: { noDelay: boolean; keepAlive: boolean; keepAliveInitialDelay?: number },
    options: http.ServerOptions,
    listener?: RequestListener,
  ) {
    super(options, listener);
  }

  /** As `server.listen(port?, host?, backlog?, cb?)` / `listen({ port, host }, cb?)`, on the wirelab host. */
  override listen(...args: unknown[]): this {
    const tcp = this.api.createServer(
      {
        allowHalfOpen: true,
        noDelay: this.socketOptions.noDelay,
        keepAlive: this.socketOptions.keepAlive,
        ...(this.socketOptions.keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay: this.socketOptions.keepAliveInitialDelay } : {}),
      },
      (socket: TcpSocket) => this.emit('connection', socket),
    );
    this.tcpServer = tcp;
    tcp.on('listening', () => this.emit('listening'));
    tcp.on('error', (err) => this.emit('error', err));
    (tcp.listen as (...a: unknown[]) => TcpServer)(...args);
    return this;
  }

  /**
   * Stops listening and closes idle keep-alive connections, as Node's
   * `server.close()`; requests in flight finish. 'close' follows.
   */
  override close(callback?: (err?: Error) => void): this {
    const tcp = this.tcpServer;
    this.tcpServer = null;
    if (tcp === null) {
      if (callback !== undefined) queueMicrotask(() => callback(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })));
      return this;
    }
    tcp.close();
    if (callback !== undefined) this.once('close', () => callback());
    // No kernel handle: Node's close clears its connection-tracking timer,
    // closes idle connections and emits 'close'.
    super.close();
    return this;
  }

  override address(): SocketAddress | null {
    return this.tcpServer?.address() ?? null;
  }
}

/** The `http` module of one wirelab host. */
export class HttpApi {
  constructor(private readonly tcp: TcpApi) {}

  createServer(listener?: RequestListener): WirelabHttpServer;
  createServer(options: WirelabHttpServerOptions, listener?: RequestListener): WirelabHttpServer;
  createServer(a?: WirelabHttpServerOptions | RequestListener, b?: RequestListener): WirelabHttpServer {
    const options = typeof a === 'function' || a === undefined ? {} : a;
    const listener = typeof a === 'function' ? a : b;
    const { noDelay, keepAlive, keepAliveInitialDelay, ...serverOptions } = options;
    return new WirelabHttpServer(
      this.tcp,
      { noDelay: noDelay ?? true, keepAlive: keepAlive ?? false, ...(keepAliveInitialDelay !== undefined ? { keepAliveInitialDelay } : {}) },
      serverOptions,
      listener,
    );
  }

  /** An `http.Agent` whose connections open on this host (see `TcpApi.agent`). */
  agent(options?: TcpAgentOptions): TcpAgent {
    return this.tcp.agent(options);
  }

  /** `http.request` over this host, with a fresh non-keep-alive agent unless one is given. */
  request(options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest {
    return http.request({ ...options, agent: options.agent ?? this.tcp.agent() }, callback);
  }

  /** `http.get` over this host. */
  get(options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest {
    const req = this.request({ ...options, method: 'GET' }, callback);
    req.end();
    return req;
  }
}
